"""tf.data input of training: the gzipped TFRecords of one split of the transformed Examples,
parsed with TFT's transformed feature spec into (features, label) batches shaped as the
model's inputs ([batch, 1] each)."""

from __future__ import annotations

from mlops_runtime import examples

from train_model.features import FeatureLayout

SHUFFLE_BUFFER = 10_000


def _files(uri: str, split: str) -> list[str]:
    return [str(f) for f in examples.files(uri, split)]


def dataset(
    uri: str,
    split: str,
    feature_spec: dict,
    layout: FeatureLayout,
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
):
    import tensorflow as tf

    records = tf.data.TFRecordDataset(_files(uri, split), compression_type="GZIP")
    if shuffle:
        records = records.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    spec = {k: feature_spec[k] for k in (*layout.keys, layout.label_key)}

    def to_inputs(serialized):
        parsed = tf.io.parse_example(serialized, spec)
        features = {k: tf.reshape(parsed[k], [-1, 1]) for k in layout.keys}
        label = tf.cast(tf.reshape(parsed[layout.label_key], [-1, 1]), tf.float32)
        return features, label

    return (
        records.batch(batch_size)
        .map(to_inputs, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def label_counts(uri: str, split: str, feature_spec: dict, label_key: str) -> tuple[int, int]:
    """(examples, examples whose label is positive) of a split: one pass over its labels."""
    import tensorflow as tf

    spec = {label_key: feature_spec[label_key]}
    records = tf.data.TFRecordDataset(_files(uri, split), compression_type="GZIP").batch(1024)
    labels = records.map(lambda s: tf.reshape(tf.io.parse_example(s, spec)[label_key], [-1]))
    count, positive = labels.reduce(
        (tf.constant(0, tf.int64), tf.constant(0, tf.int64)),
        lambda acc, y: (
            acc[0] + tf.size(y, out_type=tf.int64),
            acc[1] + tf.reduce_sum(tf.cast(y > 0, tf.int64)),
        ),
    )
    return int(count), int(positive)
