"""tf.data input of training: the gzipped TFRecords of one split of the transformed Examples,
parsed with TFT's transformed feature spec into (features, label) batches shaped as the
model's inputs ([batch, 1] each); and the label values of a split, for the label checks."""

from __future__ import annotations

from collections.abc import Iterator

from mlops_runtime import examples

from train_model.features import FeatureLayout, model_inputs

SHUFFLE_BUFFER = 10_000


def _files(uri: str, split: str) -> list[str]:
    return [str(f) for f in examples.files(uri, split)]


def dataset(
    uri: str,
    split: str,
    feature_spec: dict,
    layout: FeatureLayout,
    batch_size: int,
    label_dtype: str = "float32",
    shuffle: bool = False,
    seed: int | None = None,
):
    """(features, label) batches; the label [batch, 1] in label_dtype (tasks.label_dtype)."""
    import tensorflow as tf

    records = tf.data.TFRecordDataset(_files(uri, split), compression_type="GZIP")
    if shuffle:
        records = records.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    spec = {k: feature_spec[k] for k in (*layout.keys, layout.label_key)}

    def to_inputs(serialized):
        parsed = tf.io.parse_example(serialized, spec)
        label = tf.cast(tf.reshape(parsed[layout.label_key], [-1, 1]), label_dtype)
        return model_inputs(layout, parsed), label

    return (
        records.batch(batch_size)
        .map(to_inputs, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def label_values(uri: str, split: str, feature_spec: dict, label_key: str) -> Iterator:
    """The label of every example of a split, as numpy arrays of up to 4,096 values (one pass;
    the caller keeps counts, not the values)."""
    import tensorflow as tf

    spec = {label_key: feature_spec[label_key]}
    records = tf.data.TFRecordDataset(_files(uri, split), compression_type="GZIP").batch(4096)
    labels = records.map(lambda s: tf.reshape(tf.io.parse_example(s, spec)[label_key], [-1]))
    yield from labels.as_numpy_iterator()
