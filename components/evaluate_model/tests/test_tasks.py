"""The component on a multiclass and a regression model (task_models.py: fixed weights, no
training), with TFMA's values checked against NumPy on the same rows: per-class and
macro-averaged metrics, the confusion matrix with the class names in the report, value and
change thresholds on those keys, and regression's errors and mean prediction against mean
label. TFMA runs on 90 eval rows with one DirectRunner worker."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import task_models as tm
from evaluate_model import main as component
from mlops_runtime.charts import human

BEAM_ARGS = "--runner=DirectRunner --direct_num_workers=1"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tasks")
    eval_rows = tm.rows(90)
    return {
        "rows": eval_rows,
        "examples": tm.write_examples(root / "raw", eval_rows),
        "multiclass": tm.write_multiclass_model(root / "multiclass"),
        "poor_multiclass": tm.write_multiclass_model(root / "poor", tm.POOR_WEIGHTS),
        "regression": tm.write_regression_model(root / "regression"),
        "biased_regression": tm.write_regression_model(root / "biased", b=2.0),
    }


def _run(tmp_path: Path, model: Path, examples: Path, eval_config: dict, *extra: str):
    out = tmp_path / "out"
    component.main(
        [
            "--model", str(model),
            "--examples", str(examples),
            "--eval-config", json.dumps(eval_config),
            "--beam-args", BEAM_ARGS,
            "--evaluation", str(out / "evaluation"),
            "--blessing", str(out / "blessing"),
            "--blessed", str(out / "blessed"),
            "--report", str(out / "report.html"),
            "--metrics", str(out / "metrics"),
            "--executor-output", str(out / "executor_output.json"),
            *extra,
        ]
    )  # fmt: skip
    blessing = json.loads((out / "blessing" / "blessing.json").read_text())
    slices = json.loads((out / "evaluation" / "slice_metrics.json").read_text())
    return out, blessing, slices


def _binarized(probabilities: np.ndarray, labels: np.ndarray, class_id: int):
    """TFMA's class_id binarization: the class against the rest, positive above 0.5."""
    positive = labels == class_id
    predicted = probabilities[:, class_id] > 0.5
    tp = np.sum(predicted & positive)
    return tp / np.sum(predicted), tp / np.sum(positive)  # precision, recall


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Exact ROC AUC: the chance a positive outscores a negative (ties count half)."""
    pos, neg = scores[positive][:, None], scores[~positive][None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def test_multiclass_metrics_match_numpy_and_the_macro_threshold_blesses(tmp_path, data, helpers):
    rows = data["rows"]
    probabilities, labels = tm.softmax_predictions(rows), tm.class_ids(rows)
    per_class = [_binarized(probabilities, labels, i) for i in range(3)]
    macro_recall = float(np.mean([recall for _, recall in per_class]))
    # The registry's stable version, the baseline, is a binary model (the use case changed its
    # task): set aside, with a note, and the candidate judged on its value threshold.
    binary = helpers.write_signature_model(tmp_path / "b")
    stable = helpers.stable_copy(tmp_path / "baseline", binary, version=1)
    config = {
        "slices": [[], ["group"]],
        "thresholds": {"Recall/macro_average": {"lower": round(macro_recall - 0.05, 3)}},
        "change_thresholds": {"AUC/macro_average": {"direction": "higher", "absolute": -0.01}},
    }
    out, blessing, slices = _run(
        tmp_path, data["multiclass"], data["examples"], config,
        "--baseline-model", str(stable),
    )  # fmt: skip

    assert slices["task"] == "multiclass" and slices["classes"] == list(tm.CLASSES)
    overall = slices["slices"][0]
    assert overall["slice"] == "Overall" and overall["baseline"] is None
    values = overall["candidate"]
    assert values["example_count"] == len(rows)
    accuracy = np.mean(probabilities.argmax(axis=1) == labels)
    assert values["sparse_categorical_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    for i, (precision, recall) in enumerate(per_class):
        assert values[f"precision/class_id={i}"] == pytest.approx(precision, abs=1e-6)
        assert values[f"recall/class_id={i}"] == pytest.approx(recall, abs=1e-6)
        exact = _auc(probabilities[:, i], labels == i)
        assert values[f"auc/class_id={i}"] == pytest.approx(exact, abs=0.01)
    assert values["recall/macro_average"] == pytest.approx(macro_recall, abs=1e-6)
    assert values["precision/macro_average"] == pytest.approx(
        np.mean([p for p, _ in per_class]), abs=1e-6
    )
    # Slices by a feature work for any task.
    groups = {s["features"]["group"]: s["candidate"]["example_count"] for s in slices["slices"][1:]}
    assert groups == {"a": 45, "b": 45}

    # The confusion matrix: actual class by the class of highest probability.
    expected = np.zeros((3, 3))
    for actual, predicted in zip(labels, probabilities.argmax(axis=1), strict=True):
        expected[actual, predicted] += 1
    matrix = overall["confusion_matrix"]
    assert matrix["actual"] == list(tm.CLASSES) and matrix["predicted"] == list(tm.CLASSES)
    assert np.array_equal(np.array(matrix["counts"]), expected)
    for s in slices["slices"]:  # each slice's matrix has every class and counts its examples
        counts = np.array(s["confusion_matrix"]["counts"])
        assert counts.shape == (3, 3) and counts.sum() == s["candidate"]["example_count"]

    assert blessing["blessed"] is True, blessing["reasons"]
    assert (out / "blessed").read_text() == "true"
    checks = {(t["metric"], t["kind"]): t for t in blessing["thresholds"]}
    assert checks[("Recall/macro_average", "value")]["status"] == "pass"
    assert checks[("Recall/macro_average", "value")]["metric_key"] == "recall/macro_average"
    assert checks[("AUC/macro_average", "change")]["status"] == "ignored"
    assert any(
        "baseline model (version 1) was set aside" in n and "a binary model" in n
        for n in blessing["notes"]
    )

    report = (out / "report.html").read_text()
    header = "<th>actual \\ predicted</th>" + "".join(f"<th>{c}</th>" for c in tm.CLASSES)
    assert header in report
    setosa = int(expected[0, 0])
    assert f'<tr><th>setosa</th><td class="num diagonal">{setosa}</td>' in report
    assert "<td>1</td><td>versicolor</td>" in report  # the per-class table
    assert "<td></td><td>macro average</td>" in report
    assert "set aside" in report and "<script" not in report
    # The charts: a heatmap with the class names, each class's ROC and precision-recall curve,
    # and the metrics per slice (a bar per slice, the value threshold drawn).
    charts = helpers.svg_charts(report)
    heatmap = charts["Confusion matrix, overall slice (predicted: highest probability)"]
    assert helpers.marks(heatmap) == 9 and all(f">{c}<" in heatmap for c in tm.CLASSES)
    assert f">{setosa}<" in heatmap
    roc, pr = charts["ROC curve, overall slice"], charts["Precision-recall curve, overall slice"]
    assert helpers.marks(roc) == helpers.marks(pr) == 3
    auc = human(values["auc/class_id=0"])
    assert f">setosa (AUC {auc})<" in roc
    recall = charts["recall/macro_average per slice"]
    assert helpers.marks(recall) == 3 and helpers.marks(recall, "threshold") == 1
    assert "per slice" not in " ".join(t for t in charts if "class_id" in t)  # no per-class

    metrics = json.loads((out / "executor_output.json").read_text())
    metadata = metrics["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    assert metadata["recall/macro_average"] == values["recall/macro_average"]


def test_multiclass_value_and_change_thresholds_refuse(tmp_path, data):
    rows = data["rows"]
    poor = tm.softmax_predictions(rows, tm.POOR_WEIGHTS)
    labels = tm.class_ids(rows)
    poor_macro_recall = float(np.mean([_binarized(poor, labels, i)[1] for i in range(3)]))
    config = {
        "metrics": ["ExampleCount", "SparseCategoricalAccuracy", "Recall", "AUC"],
        "thresholds": {
            "Recall/macro_average": {"lower": round(poor_macro_recall + 0.05, 3)},
            "SparseCategoricalAccuracy": {"lower": 0.0},
        },
        "change_thresholds": {"AUC/macro_average": {"direction": "higher", "absolute": -0.01}},
        "metric_options": {"AUC": {"num_thresholds": 1000}},
    }
    # The poor model against the good one as an explicit baseline.
    out, blessing, slices = _run(
        tmp_path, data["poor_multiclass"], data["examples"], config,
        "--baseline-model", str(data["multiclass"]),
    )  # fmt: skip

    assert blessing["blessed"] is False and (out / "blessing" / "NOT_BLESSED").is_file()
    failed = {(f["metric"], f["kind"]): f for f in blessing["failed_thresholds"]}
    assert set(failed) == {("Recall/macro_average", "value"), ("AUC/macro_average", "change")}
    value = failed[("Recall/macro_average", "value")]
    assert value["metric_key"] == "recall/macro_average"
    assert value["value"] == pytest.approx(poor_macro_recall, abs=1e-6)
    overall = slices["slices"][0]
    change = failed[("AUC/macro_average", "change")]
    assert change["metric_key"] == "auc/macro_average"
    assert change["value"] == pytest.approx(overall["diff"]["auc/macro_average"])
    assert overall["diff"]["auc/macro_average"] == pytest.approx(
        overall["candidate"]["auc/macro_average"] - overall["baseline"]["auc/macro_average"]
    )
    assert overall["diff"]["auc/macro_average"] < -0.05
    statuses = {(t["metric"], t["kind"]): t["status"] for t in blessing["thresholds"]}
    assert statuses[("SparseCategoricalAccuracy", "value")] == "pass"
    assert any("Recall/macro_average on Overall is" in r for r in blessing["reasons"])
    report = (out / "report.html").read_text()
    assert '<tr class="fail"><td>AUC/macro_average</td><td>change</td>' in report


def test_regression_metrics_match_numpy_and_the_change_threshold(tmp_path, data, helpers):
    rows = data["rows"]
    predictions, labels = tm.linear_predictions(rows), tm.targets(rows)
    biased = tm.linear_predictions(rows, b=2.0)
    mse = float(np.mean((predictions - labels) ** 2))
    config = {
        "slices": [[], ["group"]],
        "thresholds": {"MeanAbsoluteError": {"upper": 1.0}},
        "change_thresholds": {"MeanSquaredError": {"direction": "lower", "absolute": 0.0}},
    }
    out, blessing, slices = _run(
        tmp_path, data["regression"], data["examples"], config,
        "--baseline-model", str(data["biased_regression"]),
    )  # fmt: skip

    assert slices["task"] == "regression" and slices["classes"] is None
    overall = slices["slices"][0]
    values = overall["candidate"]
    assert values["example_count"] == len(rows)
    assert values["mean_squared_error"] == pytest.approx(mse, rel=1e-4)
    mae = float(np.mean(np.abs(predictions - labels)))
    assert values["mean_absolute_error"] == pytest.approx(mae, rel=1e-4)
    assert values["mean_prediction"] == pytest.approx(float(np.mean(predictions)), abs=1e-4)
    assert values["mean_label"] == pytest.approx(float(np.mean(labels)), abs=1e-4)
    assert values["calibration"] == pytest.approx(np.sum(predictions) / np.sum(labels), rel=1e-4)
    baseline_mse = float(np.mean((biased - labels) ** 2))
    assert overall["baseline"]["mean_squared_error"] == pytest.approx(baseline_mse, rel=1e-4)
    assert overall["diff"]["mean_squared_error"] == pytest.approx(mse - baseline_mse, rel=1e-3)

    # Better than the biased baseline, and within the value bound: blessed.
    assert blessing["blessed"] is True, blessing["reasons"]
    statuses = {(t["metric"], t["kind"]): t["status"] for t in blessing["thresholds"]}
    assert statuses == {
        ("MeanAbsoluteError", "value"): "pass",
        ("MeanSquaredError", "change"): "pass",
    }
    report = (out / "report.html").read_text()
    assert "Mean prediction against mean label" in report
    assert '<th colspan="3">mean_prediction</th>' in report  # beside the baseline's
    bias = values["mean_prediction"] - values["mean_label"]
    assert '<th rowspan="2">prediction - label (candidate)</th>' in report
    assert f'<td class="num">{human(bias, signed=True)}</td></tr>' in report
    # Predicted against actual and the residuals, of every eval example (fewer than the
    # sample's bound), scored with the candidate's signature.
    charts = helpers.svg_charts(report)
    scatter = charts[f"Predicted against actual, {len(rows)} eval examples"]
    assert helpers.marks(scatter) == 1 and helpers.points(scatter) == len(rows)
    residuals = charts[f"Residuals, {len(rows)} eval examples"]
    assert helpers.marks(residuals) == 30 and helpers.marks(residuals, "threshold") == 1
    mse = charts["mean_squared_error per slice"]
    assert helpers.marks(mse) == 3 * 2  # overall and two groups, candidate and baseline
    assert helpers.marks(mse, "threshold") == 1  # the change bound: the baseline's MSE
    assert "ROC curve" not in report


def test_a_binary_metric_threshold_on_a_multiclass_model_is_refused(tmp_path, data, capsys):
    with pytest.raises(SystemExit) as e:
        _run(tmp_path, data["multiclass"], data["examples"], {"thresholds": {"AUC": {"lower": 1}}})
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "eval_config.thresholds.AUC: AUC is a binary metric" in err
    assert "'AUC/class_id=0'" in err
    assert not (tmp_path / "out" / "blessed").exists()
