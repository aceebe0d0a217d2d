"""The multiclass and regression tasks end to end on small synthetic problems (synthetic_data.py,
through a real TFT run): the head, the metrics, the sidecar's classes, and the exported
SavedModel served on raw tf.Examples of rows neither split holds. (The binary task is the taxi's:
test_train_model.py.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

HELD_OUT = 120  # fresh rows for the served model


@pytest.fixture(scope="module")
def flowers_model(helpers, flowers_data, tmp_path_factory):
    return helpers.tmt.train(
        flowers_data,
        tmp_path_factory.mktemp("flowers_model"),
        label_key="species",
        task="multiclass",
        hidden_units="16",
        learning_rate=0.01,
        epochs=8,
        batch_size=32,
        model_name="flowers",
    )


@pytest.fixture(scope="module")
def linear_model(helpers, linear_data, tmp_path_factory):
    return helpers.tmt.train(
        linear_data,
        tmp_path_factory.mktemp("linear_model"),
        label_key="y",
        task="regression",
        hidden_units="16",
        learning_rate=0.01,
        epochs=10,
        batch_size=32,
    )


def _serve(helpers, trained, rows, drop: str) -> np.ndarray:
    """serving_default of the exported model on raw tf.Examples of rows without `drop`."""
    import tensorflow as tf

    saved = tf.saved_model.load(str(trained.model))
    types = helpers.tmt.feature_types(trained.schema_text)
    serialized = [
        helpers.tmt.to_example({k: v for k, v in r.items() if k != drop}, types) for r in rows
    ]
    out = saved.signatures["serving_default"](examples=tf.constant(serialized))
    assert list(out) == ["outputs"]
    assert out["outputs"].dtype == tf.float32
    return out["outputs"].numpy()


def _report(trained) -> str:
    from train_model import report

    history = json.loads((trained.model / "history.json").read_text())
    assert history == trained.result.history and history["epochs"] > 1
    page = report.render(trained.result)
    assert page.count("<svg ") == len(history["train"])
    return page


def test_multiclass_serves_class_probabilities_that_predict_held_out_rows(helpers, flowers_model):
    sidecar = json.loads((flowers_model.model / "mlops_model.json").read_text())
    assert sidecar["task"] == "multiclass" and sidecar["label_key"] == "species"
    # The class names are the label vocabulary's, in id order (TFT orders by frequency).
    import tensorflow_transform as tft

    vocabulary = tft.TFTransformOutput(str(flowers_model.transform_graph)).vocabulary_by_name(
        "species"
    )
    assert sidecar["classes"] == [v.decode() for v in vocabulary]
    assert sorted(sidecar["classes"]) == sorted(helpers.synthetic.SPECIES)
    assert sidecar["raw_label_keys"] == ["species"]
    assert "species" not in sidecar["raw_feature_spec"]

    rows = helpers.synthetic.flowers_rows(HELD_OUT, seed=7)
    probabilities = _serve(helpers, flowers_model, rows, drop="species")
    assert probabilities.shape == (HELD_OUT, 3)
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    predicted = [sidecar["classes"][k] for k in probabilities.argmax(axis=1)]
    accuracy = np.mean([p == r["species"] for p, r in zip(predicted, rows, strict=True)])
    assert accuracy > 0.8, accuracy  # chance: about 1/3; the centres are 4 sigmas apart


def test_multiclass_metrics_are_the_tasks(flowers_model):
    metrics = flowers_model.result.metrics
    for split, rows in (("train", 240), ("eval", 90)):
        assert metrics[f"{split}_examples"] == rows
        assert 0 < metrics[f"{split}_loss"] < 5
        # Better than always answering train's commonest class.
        assert (
            metrics[f"{split}_sparse_categorical_accuracy"]
            > metrics[f"{split}_majority_class_accuracy"] + 0.3
        )
        assert f"{split}_auc" not in metrics and f"{split}_positive_rate" not in metrics
    page = _report(flowers_model)
    assert "sparse categorical accuracy per epoch</title>" in page
    assert "setosa" in page  # the classes, named
    layer = flowers_model.result.model.get_layer("probabilities")
    assert layer.units == 3 and layer.activation.__name__ == "softmax"


def test_multiclass_serving_raw_agrees_with_serving_default(helpers, flowers_model):
    import tensorflow as tf

    rows = helpers.synthetic.flowers_rows(20, seed=8)
    saved = tf.saved_model.load(str(flowers_model.model))
    raw = saved.signatures["serving_raw"](
        x1=tf.constant([float(r["x1"]) for r in rows]),
        x2=tf.constant([float(r["x2"]) for r in rows]),
        colour=tf.constant([r["colour"] for r in rows]),
    )["outputs"].numpy()
    assert raw.shape == (20, 3)
    np.testing.assert_allclose(raw, _serve(helpers, flowers_model, rows, "species"), atol=1e-6)


def test_regression_beats_predicting_the_mean(helpers, linear_model):
    sidecar = json.loads((linear_model.model / "mlops_model.json").read_text())
    assert (sidecar["task"], sidecar["label_key"], sidecar["classes"]) == (
        "regression",
        "y",
        None,
    )
    rows = helpers.synthetic.linear_rows(HELD_OUT, seed=9)
    predicted = _serve(helpers, linear_model, rows, drop="y")
    assert predicted.shape == (HELD_OUT, 1)
    truth = np.array([float(r["y"]) for r in rows])
    train_mean = np.mean([float(r["y"]) for r in linear_model.train_rows])
    model_mse = np.mean((predicted[:, 0] - truth) ** 2)
    mean_mse = np.mean((train_mean - truth) ** 2)
    assert model_mse < 0.25 * mean_mse, (model_mse, mean_mse)

    metrics = linear_model.result.metrics
    assert metrics["eval_root_mean_squared_error"] < metrics["eval_mean_baseline_rmse"] / 2
    assert metrics["eval_loss"] == pytest.approx(
        metrics["eval_root_mean_squared_error"] ** 2, rel=1e-3
    )  # the loss is the MSE
    assert metrics["train_label_mean"] == pytest.approx(train_mean, abs=1e-3)
    assert 0 < metrics["eval_mean_absolute_error"] < metrics["eval_root_mean_squared_error"] * 1.01
    page = _report(linear_model)
    for name in ("loss", "mean absolute error", "root mean squared error"):
        assert f"<title>{name} per epoch</title>" in page
    layer = linear_model.result.model.get_layer("prediction")
    assert layer.units == 1 and layer.activation.__name__ == "linear"


def test_the_tuning_objective_fits_the_task(helpers, linear_data, tmp_path):
    """A regression search minimises val_loss: the best trial is the lowest."""
    trained = helpers.tmt.train(
        linear_data,
        tmp_path,
        label_key="y",
        task="regression",
        hidden_units="8",
        learning_rate=0.01,
        epochs=1,
        batch_size=64,
        tuning_max_trials=2,
        tuning_epochs_per_trial=2,
    )
    tuning = trained.result.hyperparameters["tuning"]
    assert (tuning["objective"], tuning["direction"]) == ("val_loss", "min")
    scores = [t["score"] for t in tuning["trials"]]
    assert len(scores) == 2 and len(set(scores)) == 2
    assert tuning["best_score"] == min(scores)
