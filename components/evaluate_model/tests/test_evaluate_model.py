"""The component on real taxi models (train_model's, trained once per session on 1500 rows):
the first model (resolve_baseline's NO_BASELINE as baseline_model) is judged on value
thresholds; no thresholds is no blessing; a model trained on shuffled labels is refused by the
change threshold against a good baseline, the registry's stable version as resolve_baseline
copies it out. TFMA runs on the 500-row eval split with one DirectRunner worker."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from evaluate_model import main as component
from mlops_runtime.charts import human

from mlops.testing.html_text import table_rows
from mlops.testing.html_text import text as element_text


def _run(tmp_path: Path, taxi, eval_config: dict, model: Path | None = None, *extra: str):
    out = tmp_path / "out"
    component.main(
        [
            "--model", str(model or taxi.model),
            "--examples", str(taxi.raw),
            "--eval-config", json.dumps(eval_config),
            "--beam-args", "--runner=DirectRunner --direct_num_workers=1",
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
    executor = json.loads((out / "executor_output.json").read_text())
    return out, blessing, slices, executor


def test_first_model_is_blessed_on_value_thresholds(tmp_path, taxi, helpers):
    import tensorflow_model_analysis as tfma

    # No stable version in the registry yet: resolve_baseline's NO_BASELINE folder.
    none = helpers.no_baseline(tmp_path / "no_baseline")
    out, blessing, slices, executor = _run(
        tmp_path, taxi, helpers.EVAL_CONFIG, None, "--baseline-model", str(none)
    )

    assert (out / "blessed").read_text() == "true"
    assert (out / "blessing" / "BLESSED").is_file()
    assert not (out / "blessing" / "NOT_BLESSED").exists()
    assert blessing["blessed"] is True and blessing["baseline_version"] is None
    assert blessing["failed_thresholds"] == []
    outcome = {(t["metric"], t["kind"]): t["status"] for t in blessing["thresholds"]}
    assert outcome == {
        ("AUC", "value"): "pass",
        ("BinaryAccuracy", "value"): "pass",
        ("AUC", "change"): "ignored",  # no baseline
    }

    # The overall slice covers the whole eval split; the same AUC train_model measured on it.
    overall = slices["slices"][0]
    assert overall["slice"] == "Overall" and overall["baseline"] is None
    assert overall["candidate"]["example_count"] == len(taxi.eval_rows)
    assert overall["candidate"]["auc"] == pytest.approx(taxi.result.metrics["eval_auc"], abs=0.01)
    assert overall["candidate"]["auc"] >= 0.75
    # One slice per payment type of the eval rows, with their counts.
    payment = {
        s["features"]["payment_type"]: s["candidate"]["example_count"]
        for s in slices["slices"]
        if "payment_type" in s["features"]
    }
    expected: dict[str, int] = {}
    for row in taxi.eval_rows:
        expected[row["payment_type"]] = expected.get(row["payment_type"], 0) + 1
    assert payment == expected
    assert any("trip_start_hour" in s["features"] for s in slices["slices"])

    metrics = executor["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    assert metrics["auc"] == overall["candidate"]["auc"]
    assert not any(k.startswith("baseline_") for k in metrics)
    assert blessing["metrics"] == metrics  # what deploy_model records in version.json
    assert executor["artifacts"]["blessing"]["artifacts"][0]["metadata"] == {"blessed": True}

    # TFMA's own output is there and loads.
    assert tfma.load_validation_result(str(out / "evaluation")).validation_ok
    report = (out / "report.html").read_text()
    assert element_text(report, "span", "verdict") == "BLESSED"
    auc = overall["candidate"]["auc"]
    rows = {tuple(r[:2]): r for r in table_rows(report) if r[:1] == ["AUC"]}
    assert rows[("AUC", "value")] == [
        "AUC", "value", ">= 0.75", "Overall", human(auc), "–", "–", "pass", ""
    ]  # fmt: skip
    assert rows[("AUC", "change")][-2:] == [
        "ignored", "no baseline: the first model is judged on value thresholds only"
    ]  # fmt: skip
    assert ["baseline", "none (first model: change thresholds are ignored)"] in table_rows(report)
    assert "<script" not in report

    # The confusion matrix at the decision threshold, per slice; in the report with the ROC
    # and precision-recall curves and a chart per metric over the slices.
    matrix = overall["confusion_matrix"]
    assert matrix["threshold"] == pytest.approx(0.5)
    assert (matrix["actual"], matrix["predicted"]) == (["0", "1"], ["0", "1"])
    (tn, fp), (fn, tp) = matrix["counts"]
    assert tn + fp + fn + tp == len(taxi.eval_rows)
    assert (tp + tn) / len(taxi.eval_rows) == pytest.approx(
        overall["candidate"]["binary_accuracy"], abs=0.005
    )
    for s in slices["slices"]:
        assert sum(map(sum, s["confusion_matrix"]["counts"])) == s["candidate"]["example_count"]
    charts = helpers.svg_charts(report)
    heatmap = charts["Confusion matrix, overall slice (predicted: probability above 0.5)"]
    assert helpers.marks(heatmap) == 4 and f">{int(tp)}<" in heatmap.replace(",", "")
    roc = charts["ROC curve, overall slice"]
    assert helpers.marks(roc) == 1
    assert f">candidate (AUC {human(overall['candidate']['auc'])})<" in roc
    assert helpers.marks(charts["Precision-recall curve, overall slice"]) == 1
    auc = charts["auc per slice"]
    assert helpers.marks(auc) == len(slices["slices"])  # one bar per slice, no baseline
    assert helpers.marks(auc, "threshold") == 1 and ">lower bound: 0.75<" in auc
    assert "example_count per slice" not in charts
    text = re.sub(r"<svg .*?</svg>", "", report, flags=re.S)
    assert not re.search(r"\d\.\d{5}", text)  # numbers for people


def test_no_thresholds_is_not_blessed(tmp_path, taxi):
    config = {"label_key": "big_tipper", "metrics": ["ExampleCount", "AUC"], "slices": [[]]}
    out, blessing, slices, _ = _run(tmp_path, taxi, config)

    assert (out / "blessed").read_text() == "false"
    assert (out / "blessing" / "NOT_BLESSED").is_file()
    assert blessing["blessed"] is False
    assert any("no thresholds configured" in r for r in blessing["reasons"])
    # The metrics are computed all the same.
    assert slices["slices"][0]["candidate"]["example_count"] == len(taxi.eval_rows)
    report = (out / "report.html").read_text()
    assert element_text(report, "span", "verdict") == "NOT BLESSED"
    assert element_text(report, "ul") == blessing["reasons"][0]


def test_worse_model_is_refused_against_the_stable_baseline(tmp_path, taxi, worse_model, helpers):
    stable = helpers.stable_copy(tmp_path / "baseline", taxi.model, version=1)
    # A value bound the shuffled-label model (AUC about 0.5) meets: only the change fails it.
    config = {
        **helpers.EVAL_CONFIG,
        "thresholds": {"AUC": {"lower": 0.3}},
        "change_thresholds": {"AUC": {"direction": "higher", "absolute": -0.01}},
    }
    out, blessing, slices, executor = _run(
        tmp_path, taxi, config, worse_model,
        "--baseline-model", str(stable),
    )  # fmt: skip

    assert (out / "blessed").read_text() == "false"
    assert (out / "blessing" / "NOT_BLESSED").is_file()
    assert blessing["blessed"] is False and blessing["baseline_version"] == 1
    assert blessing["baseline_source"] == str(stable)
    (failed,) = blessing["failed_thresholds"]
    assert failed["metric"] == "AUC" and failed["kind"] == "change"
    assert failed["slice"] == "Overall"
    assert failed["bound"] == {"direction": "higher", "absolute": -0.01}
    overall = slices["slices"][0]
    assert overall["baseline"]["auc"] > overall["candidate"]["auc"] + 0.1
    assert failed["value"] == pytest.approx(overall["diff"]["auc"])
    assert overall["diff"]["auc"] == pytest.approx(
        overall["candidate"]["auc"] - overall["baseline"]["auc"]
    )
    statuses = {(t["metric"], t["kind"]): t["status"] for t in blessing["thresholds"]}
    assert statuses == {("AUC", "value"): "pass", ("AUC", "change"): "fail"}
    (reason,) = blessing["reasons"]
    assert "AUC on Overall changed by" in reason and "version 1" in reason

    metrics = executor["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    assert metrics["baseline_auc"] == overall["baseline"]["auc"]
    report = (out / "report.html").read_text()
    assert element_text(report, "span", "verdict") == "NOT BLESSED"
    assert element_text(report, "ul") == reason
    assert [r for r in table_rows(report) if r[:2] == ["AUC", "change"]] == [[
        "AUC", "change", "candidate - baseline >= -0.01", "Overall",
        human(overall["candidate"]["auc"]), human(overall["baseline"]["auc"]),
        human(overall["diff"]["auc"], signed=True), "FAIL", "",
    ]]  # fmt: skip
    assert ["baseline", f"version 1 ({stable})"] in table_rows(report)
    # Candidate beside baseline, per slice and in the curves, the change bound drawn.
    charts = helpers.svg_charts(report)
    auc = charts["auc per slice"]
    assert helpers.marks(auc) == 2 * len(slices["slices"])
    bound = human(overall["baseline"]["auc"] - 0.01)
    assert helpers.marks(auc, "threshold") == 2 and f">baseline -0.01: {bound}<" in auc
    assert helpers.marks(charts["ROC curve, overall slice"]) == 2  # candidate and baseline
