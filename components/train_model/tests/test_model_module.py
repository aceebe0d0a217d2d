"""model_module: the pipeline author's build_model replaces the wide-and-deep model, as source
text or as the path of a file; compiled or not; and a module that cannot give a model of the
task is refused before training, naming model_module."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from train_model.inputs import InputError

# Uses every argument of the contract, so the test sees what it was given.
UNCOMPILED = """
import tf_keras as keras


def build_model(layout, task, num_classes, hyperparameters):
    inputs = {
        name: keras.Input(shape=(1,), name=name, dtype="int64") for name in layout.categorical
    }
    inputs.update({name: keras.Input(shape=(1,), name=name) for name in layout.numeric})
    x = keras.layers.Concatenate()([keras.layers.Flatten()(
        keras.layers.Embedding(n, 2)(inputs[name])) for name, n in layout.categorical.items()
    ] + [inputs[name] for name in layout.numeric])
    x = keras.layers.Dense(hyperparameters["hidden_units"][0], activation="tanh",
                           name="user_hidden")(x)
    out = keras.layers.Dense(num_classes, activation="softmax",
                             name=f"user_{task}_{num_classes}")(x)
    return keras.Model(inputs, out, name="user_model")
"""

# Compiled by the module (its own optimizer and loss); a subclassed model whose call has
# Python control flow over a tensor (it needs AutoGraph, which the component then keeps).
COMPILED = """
import tensorflow as tf
import tf_keras as keras


class Linear(keras.Model):
    def __init__(self, names):
        super().__init__(name="user_linear")
        self.names = list(names)
        self.out = keras.layers.Dense(1, name="user_out")

    def call(self, inputs):
        x = tf.concat([tf.cast(inputs[n], tf.float32) for n in self.names], 1)
        if tf.reduce_max(tf.abs(x)) > 1e6:  # absurd inputs: answer 0
            x = tf.zeros_like(x)
        return self.out(x)


def build_model(layout, task, num_classes, hyperparameters):
    assert task == "regression" and num_classes is None
    model = Linear(layout.numeric)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=keras.losses.Huber())
    return model
"""


def test_a_module_given_as_source_replaces_the_default_model(helpers, flowers_data, tmp_path):
    trained = helpers.tmt.train(
        flowers_data,
        tmp_path,
        label_key="species",
        task="multiclass",
        hidden_units="5",
        learning_rate=0.02,
        epochs=6,
        batch_size=32,
        model_module=UNCOMPILED,
    )
    model = trained.result.model
    assert model.name == "user_model"
    assert model.get_layer("user_hidden").units == 5  # hyperparameters["hidden_units"]
    assert model.get_layer("user_multiclass_3").units == 3  # task, num_classes
    # Uncompiled: the component's Adam and the task's loss and metrics.
    assert model.optimizer.learning_rate.numpy() == pytest.approx(0.02)
    assert "eval_sparse_categorical_accuracy" in trained.result.metrics

    import tensorflow as tf

    saved = tf.saved_model.load(str(trained.model))
    rows = helpers.synthetic.flowers_rows(50, seed=11)
    types = helpers.tmt.feature_types(trained.schema_text)
    serialized = [
        helpers.tmt.to_example({k: v for k, v in r.items() if k != "species"}, types) for r in rows
    ]
    out = saved.signatures["serving_default"](examples=tf.constant(serialized))["outputs"]
    assert out.shape == (50, 3)
    np.testing.assert_allclose(out.numpy().sum(axis=1), 1.0, atol=1e-5)
    sidecar = json.loads((trained.model / "mlops_model.json").read_text())
    names = np.array(sidecar["classes"])[out.numpy().argmax(axis=1)]
    assert np.mean(names == np.array([r["species"] for r in rows])) > 0.7


def test_a_module_file_that_compiles_its_model_keeps_its_optimizer_and_loss(
    helpers, linear_data, tmp_path
):
    module = tmp_path / "my_model.py"
    module.write_text(COMPILED)
    trained = helpers.tmt.train(
        linear_data,
        tmp_path / "out",
        label_key="y",
        task="regression",
        hidden_units="4",
        learning_rate=0.001,
        epochs=3,
        batch_size=32,
        model_module=str(module),
    )
    model = trained.result.model
    assert model.name == "user_linear"
    assert type(model.optimizer).__name__ == "SGD"
    assert type(model.loss).__name__ == "Huber"
    metrics = trained.result.metrics
    # The task's metrics were added; the loss is the module's (Huber: below the MSE).
    assert metrics["eval_loss"] < metrics["eval_root_mean_squared_error"] ** 2
    assert "eval_mean_absolute_error" in metrics

    import tensorflow as tf

    saved = tf.saved_model.load(str(trained.model))
    raw = saved.signatures["serving_raw"](
        x1=tf.constant([0.5, -1.0]), x2=tf.constant([1.0, 0.0]), group=tf.constant(["a", "c"])
    )["outputs"]
    assert raw.shape == (2, 1)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def build(layout):\n    return None\n", "defines no build_model"),
        ("def build_model(layout, task,\n", "model_module: syntax error at line 1"),
        ("import no_such_module_here\n", "fails to import: ModuleNotFoundError"),
        (
            "def build_model(layout, task, num_classes, hyperparameters):\n    return 42\n",
            "build_model returned a builtins.int",
        ),
        (
            "def build_model(layout, task, num_classes, hyperparameters):\n"
            "    raise ValueError('no such layer')\n",
            "build_model raised ValueError: no such layer (line 2",
        ),
        (
            # Two units where the binary task needs one.
            "import tf_keras as keras\n"
            "def build_model(layout, task, num_classes, hyperparameters):\n"
            "    inputs = {k: keras.Input(shape=(1,), name=k) for k in layout.keys}\n"
            "    x = keras.layers.Concatenate()(list(inputs.values()))\n"
            "    return keras.Model(inputs, keras.layers.Dense(2)(x))\n",
            "output for 2 examples is [2, 2]; task binary needs one tensor of shape [batch, 1]",
        ),
    ],
)
def test_refuses_a_module_that_gives_no_model_of_the_task(
    helpers, linear_data, tmp_path, source, expected
):
    # group_xf relabelled 0/1: a valid binary label, so the module is what fails.
    binary = helpers.synthetic.rewrite_labels(
        linear_data.transformed_examples, tmp_path / "binary", "group_xf",
        lambda split, i, label: i % 2,
    )  # fmt: skip
    data = SimpleNamespace(**{**vars(linear_data), "transformed_examples": binary})
    with pytest.raises(InputError, match="model_module") as error:
        helpers.tmt.train(
            data, tmp_path / "out", label_key="group_xf", task="binary", model_module=source
        )
    assert expected in str(error.value)
    assert not (tmp_path / "out" / "model").exists()  # refused before training
