"""The Keras model (tf_keras, Keras 2, as TFT and TFMA need): wide and deep in the spirit of
TFX's native-Keras trainer example. Wide: a one-hot of every categorical id; deep: the numeric
features and an embedding of every categorical id through the hidden layers. The task's head
over both (tasks.head) gives P(class 1), the K class probabilities, or the value."""

from __future__ import annotations

from train_model import tasks
from train_model.features import FeatureLayout
from train_model.graph_functions import without_autograph


def embedding_dim(num_ids: int) -> int:
    """Google's rule of thumb (about the fourth root of the ids), capped: small data."""
    return max(2, min(16, round(2 * num_ids**0.25)))


def build(
    layout: FeatureLayout,
    task: str,
    num_classes: int | None,
    hidden_units: tuple[int, ...],
    learning_rate: float,
    label_mean: float = 0.0,
):
    """The compiled default model; label_mean starts a regression head at the mean."""
    import tensorflow as tf
    import tf_keras as keras

    inputs = {
        name: keras.Input(shape=(1,), name=name, dtype=tf.int64) for name in layout.categorical
    }
    inputs.update({name: keras.Input(shape=(1,), name=name) for name in layout.numeric})

    wide, deep = [], []
    for name, num_ids in sorted(layout.categorical.items()):
        wide.append(
            keras.layers.CategoryEncoding(num_ids, output_mode="one_hot", name=f"onehot_{name}")(
                inputs[name]
            )
        )
        embedded = keras.layers.Embedding(num_ids, embedding_dim(num_ids), name=f"embed_{name}")(
            inputs[name]
        )
        deep.append(keras.layers.Flatten(name=f"flat_{name}")(embedded))
    deep.extend(tf.cast(inputs[name], tf.float32) for name in layout.numeric)

    x = _concat(keras, deep, "deep_inputs")
    for i, units in enumerate(hidden_units):
        x = keras.layers.Dense(units, activation="relu", name=f"dense_{i}")(x)
    both = _concat(keras, [x, *wide], "wide_and_deep")
    output = tasks.head(task, num_classes, both, bias=label_mean)

    model = without_autograph(keras.Model(inputs=inputs, outputs=output, name="wide_and_deep"))
    tasks.compile_model(model, task, learning_rate)
    return model


def _concat(keras, tensors, name):
    return tensors[0] if len(tensors) == 1 else keras.layers.Concatenate(name=name)(tensors)
