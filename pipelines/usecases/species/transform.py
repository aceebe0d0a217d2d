"""The TensorFlow Transform preprocessing_fn of use case species, as `make usecase` wrote it
from data/samples/species.csv. Edit it: it is this use case's feature engineering, versioned
with it.

- numeric features: missing values imputed with the train split's mean, then z-scores;
- string features: missing values as "", then ids through a vocabulary of the train split
  (top 1000 values, 1 out-of-vocabulary bucket);
- the label `species` for a multiclass task: class ids through a vocabulary named like the
  label (class names kept).
Transformed features are named after their raw column with `_xf` appended; the label keeps
its name. The label is absent at serving: then it is left out.
"""

LABEL_KEY = "species"
RAW_LABEL_KEY = "species"
TASK = "multiclass"
NUMERIC_FEATURES = ['size', 'weight', 'age']
STRING_FEATURES = ['colour']
VOCAB_SIZE = 1000
OOV_BUCKETS = 1


def transformed_name(key: str) -> str:
    return key + "_xf"


def _dense(x, default):
    """A rank-1 dense tensor of x's one value per example, and where it was present."""
    import tensorflow as tf

    if isinstance(x, tf.sparse.SparseTensor):
        # One value per example at most: the batch's rows by one column.
        shape = tf.stack([x.dense_shape[0], tf.constant(1, tf.int64)])
        dense = tf.sparse.to_dense(tf.SparseTensor(x.indices, x.values, shape), default)
        present = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, tf.ones_like(x.values, tf.bool), shape), False
        )
        return tf.squeeze(dense, axis=1), tf.squeeze(present, axis=1)
    dense = tf.reshape(x, [-1])
    return dense, tf.ones_like(dense, tf.bool)


def _numeric(x):
    import tensorflow as tf
    import tensorflow_transform as tft

    value, present = _dense(x, tf.zeros([], x.dtype))
    value = tf.cast(value, tf.float32)
    mean = tft.mean(tf.boolean_mask(value, present))
    return tft.scale_to_z_score(tf.where(present, value, mean))


def _label(x):
    import tensorflow as tf
    import tensorflow_transform as tft

    value, _ = _dense(x, '')
    text = tf.strings.strip(value)
    return tft.compute_and_apply_vocabulary(
        text, num_oov_buckets=0, default_value=-1, vocab_filename=LABEL_KEY
    )


def preprocessing_fn(inputs):
    import tensorflow as tf
    import tensorflow_transform as tft

    outputs = {}
    for key in NUMERIC_FEATURES:
        outputs[transformed_name(key)] = _numeric(inputs[key])
    for key in STRING_FEATURES:
        value, _ = _dense(inputs[key], "")
        outputs[transformed_name(key)] = tft.compute_and_apply_vocabulary(
            tf.strings.strip(value),
            top_k=VOCAB_SIZE,
            num_oov_buckets=OOV_BUCKETS,
            vocab_filename=key,
        )
    if RAW_LABEL_KEY in inputs:
        outputs[LABEL_KEY] = _label(inputs[RAW_LABEL_KEY])
    return outputs
