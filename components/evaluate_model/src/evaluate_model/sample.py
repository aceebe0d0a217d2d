"""Per-example predictions for the report's regression charts (predicted against actual, the
residuals): TFMA keeps no per-example values, so a bounded sample of the eval split (its first
examples, in file order) is scored with the candidate's own signatures, the prediction from
serving_default and the label from transform_features, as TFMA gets them.

TensorFlow is imported inside the function (the contract check imports main)."""

from __future__ import annotations

from dataclasses import dataclass

from evaluate_model.inputs import InputError

LIMIT = 1000  # examples: enough for a scatter, seconds to score
BATCH = 256


@dataclass(frozen=True)
class Sample:
    actual: list[float]
    predicted: list[float]

    @property
    def residuals(self) -> list[float]:
        return [p - a for a, p in zip(self.actual, self.predicted, strict=True)]


def from_arrays(scored, model_name: str, limit: int = LIMIT) -> Sample:
    """The first `limit` examples of the batched evaluator's arrays (scoring.Scored), the
    same examples score() reads, without loading the model again."""
    actual = scored.labels[model_name][:limit].reshape(-1)
    predicted = scored.predictions[model_name][:limit].reshape(-1)
    return Sample([float(v) for v in actual], [float(v) for v in predicted])


def score(model_path, data_location: str, label_key: str, limit: int = LIMIT) -> Sample:
    """The first `limit` examples of data_location (a file pattern of gzipped TFRecords)."""
    import tensorflow as tf

    files = sorted(tf.io.gfile.glob(data_location))
    model = tf.saved_model.load(str(model_path))
    predict = model.signatures["serving_default"]
    transform = model.signatures["transform_features"]
    actual: list[float] = []
    predicted: list[float] = []
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").take(limit).batch(BATCH)
    for batch in records:
        labels = transform(examples=batch)
        if label_key not in labels:
            raise InputError(
                f"model: transform_features gives no {label_key!r} (it gives "
                f"{', '.join(sorted(labels))})"
            )
        outputs = predict(examples=batch)
        values = next(iter(outputs.values())) if len(outputs) == 1 else outputs["outputs"]
        actual += [float(v) for v in tf.reshape(labels[label_key], [-1]).numpy()]
        predicted += [float(v) for v in tf.reshape(values, [-1]).numpy()]
    return Sample(actual, predicted)
