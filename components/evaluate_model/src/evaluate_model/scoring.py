"""The eval split scored in batches, in one pass over the data for every model: each batch of
serialized raw examples goes through each model's serving_default (its predictions) and
transform_features (its label, as TFMA gets it through preprocessing_function_names), and
the values of the slicing features are parsed from the same batch. What TFMA's extractors
compute one example at a time, as arrays.

TensorFlow is imported inside the functions (the contract check imports main)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evaluate_model.inputs import InputError

BATCH = 4096  # serialized examples per call of a signature

# tf.train.Example's value lists -> the numpy type of a slice value (as TFMA's slice keys)
_KINDS = {"bytes_list": object, "int64_list": np.int64, "float_list": np.float32}


@dataclass
class Scored:
    """labels[model]: [n] or [n, 1]; predictions[model]: [n, d]; features[column]: (rows,
    values) of every value of that feature (an example may have none or several)."""

    labels: dict[str, np.ndarray] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    features: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    count: int = 0


def _kind_of(serialized: list[bytes], column: str) -> str | None:
    """The value list kind of `column` in the first of these examples that has it."""
    import tensorflow as tf

    for s in serialized:
        feature = tf.train.Example.FromString(s).features.feature.get(column)
        if feature is not None:
            kind = feature.WhichOneof("kind")
            if kind and len(getattr(feature, kind).value):
                return kind
    return None


def _parse_columns(batch, kinds: dict[str, str | None], offset: int, found: dict) -> None:
    import tensorflow as tf

    specs = {}
    dtypes = {"bytes_list": tf.string, "int64_list": tf.int64, "float_list": tf.float32}
    for column, kind in kinds.items():
        if kind is not None:
            specs[column] = tf.io.VarLenFeature(dtypes[kind])
    if not specs:
        return
    parsed = tf.io.parse_example(batch, specs)
    for column, sparse in parsed.items():
        rows = sparse.indices.numpy()[:, 0] + offset
        values = sparse.values.numpy()
        found.setdefault(column, []).append((rows, values))


def _signature_output(outputs: dict) -> np.ndarray:
    values = next(iter(outputs.values())) if len(outputs) == 1 else outputs["outputs"]
    array = values.numpy()
    return array.reshape(len(array), -1)


def score(models: dict, data_location: str, label_key: str, columns: tuple[str, ...]) -> Scored:
    """models: {name: SavedModel path}; every example of the files at data_location (a file
    pattern of gzipped TFRecords), in file order."""
    import tensorflow as tf

    files = sorted(tf.io.gfile.glob(data_location))
    loaded = {}
    for name, path in models.items():
        model = tf.saved_model.load(str(path))
        loaded[name] = (model, model.signatures["serving_default"],
                        model.signatures["transform_features"])  # fmt: skip
    kinds: dict[str, str | None] = {c: None for c in columns}
    found: dict[str, list] = {}
    labels: dict[str, list] = {n: [] for n in models}
    predictions: dict[str, list] = {n: [] for n in models}
    offset = 0
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(BATCH)
    for batch in records.prefetch(2):
        unknown = [c for c, k in kinds.items() if k is None]
        if unknown:
            serialized = list(batch.numpy())
            for c in unknown:
                kinds[c] = _kind_of(serialized, c)
            # Columns first seen in this batch: their earlier batches had none of them.
        _parse_columns(batch, kinds, offset, found)
        for name, (_, predict, transform) in loaded.items():
            transformed = transform(examples=batch)
            if label_key not in transformed:
                raise InputError(
                    f"model {name}: transform_features gives no {label_key!r} (it gives "
                    f"{', '.join(sorted(transformed))})"
                )
            label = transformed[label_key]
            if isinstance(label, tf.SparseTensor):  # a VarLen label of one value per example
                label = tf.sparse.to_dense(label)
            labels[name].append(label.numpy())
            predictions[name].append(_signature_output(predict(examples=batch)))
        offset += int(batch.shape[0])
    result = Scored(count=offset)
    for name in models:
        result.labels[name] = np.concatenate(labels[name]) if labels[name] else np.zeros(0)
        result.predictions[name] = (
            np.concatenate(predictions[name]) if predictions[name] else np.zeros((0, 1))
        )
    for column in columns:
        parts = found.get(column, [])
        rows = np.concatenate([r for r, _ in parts]) if parts else np.zeros(0, np.int64)
        values = np.concatenate([v for _, v in parts]) if parts else np.zeros(0)
        result.features[column] = (rows, values)
    return result
