"""Tests of the train_model component on the host: one model trained on 1,000 taxi rows (the
session fixture taxi_model, after one TFT run on 1,500 rows), then what it exported: the
contract's signatures and sidecar, its quality on eval, and agreement between the serving
paths and the Keras model (no training/serving skew)."""

from __future__ import annotations

import json
import re
from datetime import datetime

import numpy as np
import pytest
from mlops_runtime import examples
from mlops_runtime.charts import human

from pipelines.usecases.taxi import transform as taxi

CONTRACT_SIGNATURES = {"serving_default", "serving_raw", "transform_features"}


def _label(row: dict) -> int:
    """big_tipper as the taxi module computes it (float32 arithmetic, absent fare: 0)."""
    if row["fare"] == "":
        return 0
    fare, tips = np.float32(row["fare"]), np.float32(row["tips"] or 0)
    return int(tips > fare * np.float32(taxi.BIG_TIP_FRACTION))


@pytest.fixture(scope="module")
def saved(taxi_model):
    import tensorflow as tf

    return tf.saved_model.load(str(taxi_model.model))


@pytest.fixture(scope="module")
def sidecar(taxi_model) -> dict:
    return json.loads((taxi_model.model / "mlops_model.json").read_text())


def _serialized(helpers, taxi_model, rows, drop=()) -> list[bytes]:
    types = helpers.tmt.feature_types(taxi_model.schema_text)
    return [
        helpers.tmt.to_example({k: v for k, v in r.items() if k not in drop}, types) for r in rows
    ]


def _serve_examples(saved, serialized) -> np.ndarray:
    import tensorflow as tf

    out = saved.signatures["serving_default"](examples=tf.constant(serialized))["outputs"]
    assert out.shape == (len(serialized), 1) and out.dtype == tf.float32
    return out.numpy()[:, 0]


def test_the_model_is_a_saved_model_with_the_contract_signatures(taxi_model, saved):
    root = taxi_model.model
    assert (root / "saved_model.pb").is_file()
    assert (root / "variables").is_dir()
    # The TFT vocabularies travel inside the model (served without the transform graph).
    assets = {p.name for p in (root / "assets").iterdir()}
    assert set(taxi.CATEGORICAL_STRING_FEATURE_KEYS) <= assets
    assert set(saved.signatures) == CONTRACT_SIGNATURES
    default = saved.signatures["serving_default"]
    assert list(default.structured_input_signature[1]) == ["examples"]
    assert list(default.structured_outputs) == ["outputs"]
    raw = saved.signatures["serving_raw"].structured_input_signature[1]
    assert all(spec.shape.as_list() == [None] for spec in raw.values())


def test_the_sidecar_describes_the_raw_serving_features(taxi_model, sidecar):
    import tensorflow_transform as tft

    raw_spec = tft.TFTransformOutput(str(taxi_model.transform_graph)).raw_feature_spec()
    assert sidecar["label_key"] == taxi.LABEL_KEY
    # Binary without a label vocabulary: classes "0" and "1".
    assert (sidecar["task"], sidecar["classes"]) == ("binary", ["0", "1"])
    assert sidecar["model_name_hint"] == "taxi_big_tipper"
    # Every raw feature but the raw label, found by the component (tips is not hard-coded).
    assert set(sidecar["raw_feature_spec"]) == set(raw_spec) - {taxi.RAW_LABEL_KEY}
    for name, entry in sidecar["raw_feature_spec"].items():
        assert entry == {"dtype": raw_spec[name].dtype.name}, name
    assert sidecar["raw_feature_spec"]["company"] == {"dtype": "string"}
    assert sidecar["raw_feature_spec"]["fare"] == {"dtype": "float32"}
    assert sidecar["hyperparameters"]["hidden_units"] == "32,16"
    assert sidecar["hyperparameters"]["epochs"] == 5
    assert datetime.fromisoformat(sidecar["created_at"]).tzinfo is not None
    # The serving signature's inputs are those same features, with their dtypes.
    import tensorflow as tf

    saved = tf.saved_model.load(str(taxi_model.model))
    raw = saved.signatures["serving_raw"].structured_input_signature[1]
    assert {k: v.dtype.name for k, v in raw.items()} == {
        k: v["dtype"] for k, v in sidecar["raw_feature_spec"].items()
    }


def test_features_are_sorted_from_the_transform_output_not_from_names(taxi_model):
    layout = taxi_model.result.layout
    categorical = taxi.CATEGORICAL_STRING_FEATURE_KEYS + taxi.CATEGORICAL_NUMERICAL_FEATURE_KEYS
    assert set(layout.categorical) == {
        taxi.transformed_name(k) for k in categorical + taxi.BUCKET_FEATURE_KEYS
    }
    assert set(layout.numeric) == {taxi.transformed_name(k) for k in taxi.NUMERICAL_FEATURE_KEYS}
    for key in taxi.BUCKET_FEATURE_KEYS:
        assert layout.categorical[taxi.transformed_name(key)] == taxi.FEATURE_BUCKET_COUNT


def test_eval_auc_is_clearly_above_the_majority_class_baseline(helpers, taxi_model, saved):
    import tf_keras as keras

    rows = taxi_model.eval_rows
    labels = np.array([_label(r) for r in rows])
    # Serving requests carry no tips (and lack features, as the data does).
    scores = _serve_examples(saved, _serialized(helpers, taxi_model, rows, drop={"tips"}))
    auc = keras.metrics.AUC()
    auc.update_state(labels, scores)
    majority_accuracy = max(labels.mean(), 1 - labels.mean())  # always the commoner class
    accuracy = ((scores > 0.5) == labels).mean()
    # A constant score has AUC 0.5; the majority class is right on majority_accuracy.
    assert float(auc.result()) > 0.75
    assert accuracy > majority_accuracy + 0.03, (accuracy, majority_accuracy)
    metrics = taxi_model.result.metrics
    assert metrics["eval_auc"] == pytest.approx(float(auc.result()), abs=0.01)
    assert metrics["eval_positive_rate"] == pytest.approx(labels.mean(), abs=1e-6)


def test_serving_raw_and_serving_default_agree_on_the_same_rows(helpers, taxi_model, saved):
    import tensorflow as tf

    # Fully populated rows (pickup_census_tract is empty in nearly every row: set one).
    rows = [
        {**r, "pickup_census_tract": "17031839100"}
        for r in taxi_model.eval_rows
        if all(v != "" for k, v in r.items() if k != "pickup_census_tract")
    ][:60]
    assert len(rows) >= 30
    spec = saved.signatures["serving_raw"].structured_input_signature[1]
    # Typed as a JSON request would carry them (as to_example types the same cells).
    python_type = {tf.string: str, tf.int64: int, tf.float32: float}
    dense = {
        name: tf.constant([python_type[s.dtype](r[name]) for r in rows], s.dtype)
        for name, s in spec.items()
    }
    by_raw = saved.signatures["serving_raw"](**dense)["outputs"].numpy()[:, 0]
    by_examples = _serve_examples(saved, _serialized(helpers, taxi_model, rows, drop={"tips"}))
    np.testing.assert_allclose(by_raw, by_examples, rtol=1e-6, atol=1e-6)
    assert by_raw.std() > 0.01  # the rows get different scores: the inputs are used


def test_the_signature_predicts_what_the_keras_model_did_on_transformed_examples(
    helpers, taxi_model, saved
):
    """No training/serving skew: the exported path (raw tf.Examples through the TFT layer
    inside the model) scores the eval split as the trained Keras model scores the Examples
    that transform_data's Beam run wrote. Their order may differ: each score is compared
    beside its row's transformed fare and label (the rows sorted, not the scores alone)."""
    import tensorflow as tf
    import tensorflow_transform as tft
    from train_model import data

    spec = tft.TFTransformOutput(str(taxi_model.transform_graph)).transformed_feature_spec()
    ds = data.dataset(
        str(taxi_model.transformed_examples), "eval", spec, taxi_model.result.layout, 64
    )
    trained = []  # (fare_xf, label, score) per row as Keras scored the Beam output
    for x, y in ds:
        scores = taxi_model.result.model(x, training=False).numpy()[:, 0]
        fares = tf.reshape(x["fare_xf"], [-1]).numpy()
        labels = tf.reshape(y, [-1]).numpy().tolist()
        trained += zip(fares.tolist(), labels, scores.tolist(), strict=True)
    serialized = _serialized(helpers, taxi_model, taxi_model.eval_rows)
    served = _serve_examples(saved, serialized)
    features = saved.signatures["transform_features"](examples=tf.constant(serialized))
    served_rows = zip(
        tf.reshape(features["fare_xf"], [-1]).numpy().tolist(),
        [_label(r) for r in taxi_model.eval_rows],
        served.tolist(),
        strict=True,
    )
    trained, served_rows = sorted(trained), sorted(served_rows)
    assert len(trained) == len(served_rows) == len(taxi_model.eval_rows)
    assert [r[1] for r in trained] == [r[1] for r in served_rows]
    np.testing.assert_allclose(
        [r[0] for r in trained], [r[0] for r in served_rows], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        [r[2] for r in trained], [r[2] for r in served_rows], rtol=1e-5, atol=1e-6
    )


def test_transform_features_gives_the_label_of_raw_examples(helpers, taxi_model, saved):
    import tensorflow as tf

    rows = taxi_model.eval_rows[:100]
    out = saved.signatures["transform_features"](
        examples=tf.constant(_serialized(helpers, taxi_model, rows))
    )
    assert set(out) == set(taxi.FEATURE_KEYS) | {taxi.LABEL_KEY}
    assert list(out[taxi.LABEL_KEY].numpy()) == [_label(r) for r in rows]


def test_the_model_records_its_history_per_epoch(taxi_model):
    history = json.loads((taxi_model.model / "history.json").read_text())
    assert history == taxi_model.result.history
    assert history["epochs"] == 5
    assert set(history["train"]) == set(history["eval"]) == {"loss", "auc", "binary_accuracy"}
    for split in ("train", "eval"):
        assert all(len(values) == 5 for values in history[split].values()), split
    # eval after the last epoch is the final model on eval: the metrics' fresh pass.
    metrics = taxi_model.result.metrics
    assert history["eval"]["loss"][-1] == pytest.approx(metrics["eval_loss"], rel=1e-3)
    assert history["train"]["loss"][-1] < history["train"]["loss"][0]  # it learned


def test_the_report_charts_each_metric_per_epoch(taxi_model):
    from train_model import report

    page = report.render(taxi_model.result, "taxi_big_tipper")
    charts = re.findall(r"<svg .*?</svg>", page, re.S)
    titles = [re.search(r"<title>(.*?)</title>", c).group(1) for c in charts]
    assert titles == ["loss per epoch", "auc per epoch", "binary accuracy per epoch"]
    for chart in charts:  # a line for train and one for eval
        assert chart.count('class="mark"') == 2
    eval_auc = human(taxi_model.result.metrics["eval_auc"])
    assert f'<td class="num">{eval_auc}</td></tr>' in page  # the final metrics, for people
    assert '<th>examples</th><td class="num">1,000</td><td class="num">500</td>' in page
    text = re.sub(r"<svg .*?</svg>", "", page, flags=re.S)  # coordinates have digits
    assert "<script" not in page and not re.search(r"\d\.\d{5}", text)


def test_writes_hyperparameters_and_tensorboard_logs(taxi_model):
    hp = json.loads((taxi_model.best_hyperparameters / "hyperparameters.json").read_text())
    assert hp == {
        "hidden_units": "32,16",
        "learning_rate": 0.003,
        "epochs": 5,
        "batch_size": 32,
        "source": "inputs",
    }
    for run in ("train", "validation"):
        assert list((taxi_model.tensorboard / run).glob("events.out.tfevents.*")), run
    metrics = taxi_model.result.metrics
    assert metrics["epochs_run"] == 5 and metrics["tuning_trials"] == 0
    assert metrics["train_examples"] == 1000 and metrics["eval_examples"] == 500
    for split in examples.SPLITS:
        for name in ("loss", "auc", "binary_accuracy"):
            assert 0 < metrics[f"{split}_{name}"] < (10 if name == "loss" else 1), name
        # The taxi sample's label is learnable (card payments tip, cash ones are not recorded):
        # a model that trains clears the use case's value thresholds, AUC 0.75 and accuracy 0.7.
        assert metrics[f"{split}_auc"] > 0.75 and metrics[f"{split}_binary_accuracy"] > 0.7, split
