"""Chicago taxi preprocessing for TensorFlow Transform: the `preprocessing_fn` that the
transform_data component loads (pass this file's source, or its path, as the `module` input).

Modelled on TFX's chicago taxi example (taxi_utils_native_keras.py and the Keras components
tutorial). The raw features are those of data/chicago_taxi/data.csv as tf.Examples; a cell that
is empty is an absent feature, so most features arrive as SparseTensors (VarLenFeature in the
schema) and are made dense by `_fill_in_missing` (0 for numbers, '' for strings) first.

Transformed features (every output is one value per example, rank 1; names end in `_xf`,
`transformed_name(key)`):

- NUMERICAL_FEATURE_KEYS (fare, trip_miles, trip_seconds): float32 z-scores,
  `tft.scale_to_z_score`, with the mean and variance of the train split.
- BUCKET_FEATURE_KEYS (pickup/dropoff latitude/longitude): int64 bucket ids in
  [0, FEATURE_BUCKET_COUNT), `tft.bucketize` on train's quantiles.
- CATEGORICAL_STRING_FEATURE_KEYS (payment_type, company) and CATEGORICAL_NUMERICAL_FEATURE_KEYS
  (trip_start_hour/day/month, pickup/dropoff census tract and community area, as strings):
  int64 ids, `tft.compute_and_apply_vocabulary(top_k=VOCAB_SIZE, num_oov_buckets=OOV_SIZE)`,
  in [0, vocabulary size + OOV_SIZE). Each vocabulary is named after its raw key, so a trainer
  gets the number of ids as
  `tf_transform_output.num_buckets_for_transformed_feature(transformed_name(key))`, or as
  `tf_transform_output.vocabulary_size_by_name(key) + OOV_SIZE`.

The label, LABEL_KEY = "big_tipper" (no `_xf` suffix, as in TFX's Keras tutorial): int64, 1 when
tips > 0.2 * fare, else 0; 0 as well when the fare is missing or NaN. It needs the raw feature
RAW_LABEL_KEY = "tips", which serving requests do not carry: a serving signature drops
RAW_LABEL_KEY from the raw feature spec, and the transform layer then leaves LABEL_KEY out.

Importing this module has no side effects and does not import TensorFlow (the pipeline code
can read the constants cheaply); TensorFlow and TFT are imported when preprocessing_fn runs.
"""

from __future__ import annotations

NUMERICAL_FEATURE_KEYS = ["fare", "trip_miles", "trip_seconds"]

BUCKET_FEATURE_KEYS = [
    "pickup_latitude",
    "pickup_longitude",
    "dropoff_latitude",
    "dropoff_longitude",
]
FEATURE_BUCKET_COUNT = 10

CATEGORICAL_STRING_FEATURE_KEYS = ["payment_type", "company"]
CATEGORICAL_NUMERICAL_FEATURE_KEYS = [
    "trip_start_hour",
    "trip_start_day",
    "trip_start_month",
    "pickup_census_tract",
    "dropoff_census_tract",
    "pickup_community_area",
    "dropoff_community_area",
]
VOCAB_SIZE = 1000  # the most frequent values kept per vocabulary
OOV_SIZE = 10  # hash buckets for values outside the vocabulary

FARE_KEY = "fare"
RAW_LABEL_KEY = "tips"
LABEL_KEY = "big_tipper"
BIG_TIP_FRACTION = 0.2


def transformed_name(key: str) -> str:
    """The name of a transformed feature: the raw key with `_xf` appended (as TFX)."""
    return key + "_xf"


FEATURE_KEYS = [
    transformed_name(key)
    for key in NUMERICAL_FEATURE_KEYS
    + BUCKET_FEATURE_KEYS
    + CATEGORICAL_STRING_FEATURE_KEYS
    + CATEGORICAL_NUMERICAL_FEATURE_KEYS
]
"""Every transformed feature but the label."""


def _fill_in_missing(x, default_value=None):
    """A dense rank-1 tensor of x's single value per example, default_value where absent.

    x: a SparseTensor (VarLenFeature, a feature some examples lack), a RaggedTensor, or a dense
    [batch, 1] or [batch] tensor (FixedLenFeature). default_value: 0 or '' by dtype if None.
    """
    import tensorflow as tf

    if default_value is None:
        default_value = "" if x.dtype == tf.string else 0
    if isinstance(x, tf.RaggedTensor):
        x = x.to_sparse()
    if isinstance(x, tf.sparse.SparseTensor):
        dense = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]),
            tf.constant(default_value, dtype=x.dtype),
        )
        return tf.squeeze(dense, axis=1)
    if x.shape.rank == 2:
        return tf.squeeze(x, axis=1)
    return x


def preprocessing_fn(inputs):
    """tf.transform's callback: raw feature tensors by key -> transformed tensors by key."""
    import tensorflow as tf
    import tensorflow_transform as tft

    outputs = {}
    for key in NUMERICAL_FEATURE_KEYS:
        value = tf.cast(_fill_in_missing(inputs[key]), tf.float32)
        outputs[transformed_name(key)] = tft.scale_to_z_score(value, name=f"zscore_{key}")

    for key in BUCKET_FEATURE_KEYS:
        outputs[transformed_name(key)] = tft.bucketize(
            _fill_in_missing(inputs[key]), FEATURE_BUCKET_COUNT, name=f"bucketize_{key}"
        )

    for key in CATEGORICAL_STRING_FEATURE_KEYS + CATEGORICAL_NUMERICAL_FEATURE_KEYS:
        value = _fill_in_missing(inputs[key])
        if value.dtype != tf.string:
            value = tf.strings.as_string(value)
        outputs[transformed_name(key)] = tft.compute_and_apply_vocabulary(
            value,
            top_k=VOCAB_SIZE,
            num_oov_buckets=OOV_SIZE,
            vocab_filename=key,
            name=f"vocabulary_{key}",
        )

    # Was this passenger a big tipper? (A schema without tips, for serving data: no label.)
    if RAW_LABEL_KEY in inputs:
        fare = tf.cast(_fill_in_missing(inputs[FARE_KEY], float("nan")), tf.float32)
        tips = tf.cast(_fill_in_missing(inputs[RAW_LABEL_KEY]), tf.float32)
        outputs[LABEL_KEY] = tf.where(
            tf.math.is_nan(fare),
            tf.zeros_like(fare, dtype=tf.int64),
            tf.cast(tf.greater(tips, fare * BIG_TIP_FRACTION), tf.int64),
        )
    return outputs
