"""The verdict and the report from evaluations as TFMA's results are read back (built here by
hand, so that each rule is tested on its own without running TFMA)."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from evaluate_model import blessing, config, report
from evaluate_model.evaluate import Evaluation, Failure, SliceResult

BASELINE = blessing.BaselineInfo(version=4, source="/registry/taxi_big_tipper/4")


def _settings(thresholds=None, change=None) -> config.EvalSettings:
    return config.parse(
        json.dumps(
            {
                "label_key": "big_tipper",
                "metrics": ["ExampleCount", "AUC", "BinaryAccuracy"],
                "slices": [[], ["payment_type"]],
                "thresholds": thresholds or {},
                "change_thresholds": change or {},
            }
        )
    )


def _evaluation(auc=0.8, baseline_auc=None, ok=True, failures=(), **kw) -> Evaluation:
    cand = {"auc": auc, "binary_accuracy": 0.85, "example_count": 500.0}
    base = diff = None
    if baseline_auc is not None:
        base = {"auc": baseline_auc, "binary_accuracy": 0.8, "example_count": 500.0}
        diff = {k: cand[k] - base[k] for k in cand}
    slices = [
        SliceResult({}, cand, base, diff),
        SliceResult({"payment_type": "Cash"}, {"auc": float("nan"), "example_count": 20.0}),
    ]
    return Evaluation(slices, ok, list(failures), **kw)


def test_value_thresholds_pass_without_baseline():
    s = _settings({"AUC": {"lower": 0.75}}, {"AUC": {"direction": "higher", "absolute": -0.01}})
    b = blessing.decide(s, _evaluation(), None)
    assert b.blessed
    assert [c.status for c in b.checks] == ["pass", "ignored"]
    assert "with no baseline" in b.reasons[0] and "1 ignored" in b.reasons[0]
    assert any("change thresholds were ignored" in n for n in b.notes)


def test_value_failure_names_metric_value_and_bound():
    s = _settings({"AUC": {"lower": 0.75}, "BinaryAccuracy": {"upper": 0.8}})
    failures = [
        Failure("Overall", "auc", "value", 0.6, {"lower": 0.75}),
        Failure("Overall", "binary_accuracy", "value", 0.85, {"upper": 0.8}),
    ]
    b = blessing.decide(s, _evaluation(auc=0.6, ok=False, failures=failures), None)
    assert not b.blessed
    assert b.reasons == [
        "AUC on Overall is 0.6, below the lower bound 0.75",
        "BinaryAccuracy on Overall is 0.85, above the upper bound 0.8",
    ]
    assert [(f["metric"], f["kind"], f["value"], f["bound"]) for f in b.failed] == [
        ("AUC", "value", 0.6, {"lower": 0.75}),
        ("BinaryAccuracy", "value", 0.85, {"upper": 0.8}),
    ]


def test_change_failure_names_the_baseline_version():
    s = _settings({"AUC": {"lower": 0.5}}, {"AUC": {"direction": "higher", "absolute": -0.01}})
    failures = [Failure("Overall", "auc", "change", -0.2, {"direction": "higher"})]
    evaluation = _evaluation(auc=0.6, baseline_auc=0.8, ok=False, failures=failures)
    b = blessing.decide(s, evaluation, BASELINE)
    assert not b.blessed
    (reason,) = b.reasons
    assert reason.startswith("AUC on Overall changed by -0.2 against the baseline (version 4:")
    assert "candidate - baseline >= -0.01" in reason
    (failed,) = b.failed
    assert failed["baseline_value"] == 0.8 and failed["candidate_value"] == 0.6
    assert b.to_json()["baseline_version"] == 4


def test_no_thresholds_is_not_blessed_even_if_tfma_said_ok():
    b = blessing.decide(_settings(), _evaluation(ok=True), None)
    assert not b.blessed
    assert "no thresholds configured" in b.reasons[0]


def test_only_change_thresholds_and_no_baseline_is_not_blessed():
    s = _settings(change={"AUC": {"direction": "higher", "relative": 0.0}})
    b = blessing.decide(s, _evaluation(), None)
    assert not b.blessed
    assert "change thresholds need a baseline" in b.reasons[0]
    assert b.checks[0].status == "ignored"


def test_tfma_validation_failing_without_a_named_failure_is_not_blessed():
    s = _settings({"AUC": {"lower": 0.5}})
    b = blessing.decide(s, _evaluation(ok=False, missing_slices=["Overall"]), None)
    assert not b.blessed
    assert any("no data for the threshold slice(s) Overall" in r for r in b.reasons)
    b = blessing.decide(s, _evaluation(ok=False), None)
    assert not b.blessed and b.reasons == ["TFMA validation did not pass"]


def test_a_failure_no_threshold_accounts_for_still_fails():
    s = _settings({"AUC": {"lower": 0.5}})
    stray = Failure("Overall", "recall", "value", 0.0, {"lower": 0.1}, "Metric not found.")
    b = blessing.decide(s, _evaluation(ok=False, failures=[stray]), None)
    assert not b.blessed
    assert "TFMA validation failed on recall" in b.reasons[0]


def test_blessing_files_replace_each_other(tmp_path):
    s = _settings({"AUC": {"lower": 0.75}})
    blessing.write(blessing.decide(s, _evaluation(), None), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BLESSED", "blessing.json"]
    failures = [Failure("Overall", "auc", "value", 0.6, {"lower": 0.75})]
    blessing.write(
        blessing.decide(s, _evaluation(0.6, ok=False, failures=failures), None), tmp_path
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["NOT_BLESSED", "blessing.json"]
    data = json.loads((tmp_path / "blessing.json").read_text())
    assert data["blessed"] is False and data["failed_thresholds"][0]["metric"] == "AUC"
    assert data["metrics"] == {"auc": 0.6, "binary_accuracy": 0.85, "example_count": 500.0}


def test_nan_is_null_in_json():
    s = _settings({"AUC": {"lower": 0.75}})
    b = blessing.decide(s, _evaluation(auc=float("nan"), ok=False), None)
    text = json.dumps(b.to_json(), allow_nan=False)  # raises on NaN
    assert json.loads(text)["thresholds"][0]["candidate"] is None


def test_report_shows_verdict_thresholds_and_slices_side_by_side():
    s = _settings({"AUC": {"lower": 0.5}}, {"AUC": {"direction": "higher", "absolute": -0.01}})
    failures = [Failure("Overall", "auc", "change", -0.2, {"direction": "higher"})]
    evaluation = _evaluation(auc=0.6, baseline_auc=0.8, ok=False, failures=failures)
    b = blessing.decide(s, evaluation, BASELINE)
    html = report.render(s, evaluation, b, "/models/candidate", "/data/Split-eval/*.gz")

    assert '<span class="verdict not-blessed">NOT BLESSED</span>' in html
    assert "AUC on Overall changed by -0.2" in html
    assert "version 4 (/registry/taxi_big_tipper/4)" in html
    # Every threshold, with its outcome.
    assert '<tr class="pass"><td>AUC</td><td>value</td><td>&gt;= 0.5</td>' in html
    assert '<tr class="fail"><td>AUC</td><td>change</td>' in html
    # Per slice: candidate, baseline, change; worse in the configured direction is marked.
    assert '<th colspan="3">auc</th>' in html
    assert '<td class="num">0.6</td><td class="num">0.8</td><td class="num worse">-0.2</td>' in html
    assert "<td>payment_type=Cash</td>" in html and "n/a" in html  # NaN AUC on that slice
    # Nothing fetched: the only URLs are the inline SVG charts' XML namespaces.
    namespaces = re.sub(r'xmlns(:xlink)?="http://www\.w3\.org/[^"]*"', "", html)
    assert "<script" not in html and "http" not in namespaces
    assert "<title>auc per slice</title>" in html


def test_report_without_baseline_says_change_thresholds_are_ignored():
    s = _settings({"AUC": {"lower": 0.5}}, {"AUC": {"direction": "higher", "absolute": -0.01}})
    evaluation = _evaluation()
    html = report.render(s, evaluation, blessing.decide(s, evaluation, None), "/m", "/d")
    assert '<span class="verdict blessed">BLESSED</span>' in html
    assert "none (first model: change thresholds are ignored)" in html
    assert '<tr class="ignored"><td>AUC</td><td>change</td>' in html
    # One column per metric: no baseline columns.
    assert "<tr><th>slice</th><th>example_count</th><th>auc</th><th>binary_accuracy</th>" in html
    assert "colspan" not in html


def test_multiclass_report_names_classes_and_shows_unpredicted_examples():
    from evaluate_model import plan, task
    from evaluate_model.evaluate import ConfusionMatrix

    s = config.parse(json.dumps({"thresholds": {"Recall/macro_average": {"lower": 0.5}}}))
    model_task = task.ModelTask(task.MULTICLASS, ("cat", "dog"))
    p = plan.resolve(s, model_task)
    values = {
        "example_count": 10.0,
        "sparse_categorical_accuracy": 0.7,
        "recall/class_id=0": 0.75,
        "recall/class_id=1": 0.5,
        "recall/macro_average": 0.625,
    }
    # Two examples had no class above the matrix's threshold (metric_options thresholds).
    matrix = ConfusionMatrix((0, 1), (0, 1, -1), ((3.0, 0.0, 1.0), (2.0, 3.0, 1.0)), 0.5)
    evaluation = Evaluation([SliceResult({}, values, confusion_matrix=matrix)], True)
    b = blessing.decide(s, evaluation, None)
    assert b.blessed and b.checks[0].metric_key == "recall/macro_average"
    html = report.render(s, evaluation, b, "/m", "/d", p)

    assert "<tr><th>task</th><td>multiclass</td></tr>" in html
    assert "<p>2 classes: cat, dog</p>" in html
    assert (
        "<tr><th>actual \\ predicted</th><th>cat</th><th>dog</th><th>(no prediction)</th>"
        "<th>total</th></tr>" in html
    )
    assert (
        '<tr><th>dog</th><td class="num">2</td><td class="num diagonal">3</td>'
        '<td class="num">1</td><td class="num">6</td></tr>' in html
    )
    assert '<tr><td>0</td><td>cat</td><td class="num">0.75</td>' in html
    # Per-class values are in their table, not the per-slice one.
    slice_table = html[html.index("Metrics per slice") : html.index("Per class")]
    assert "recall/macro_average" in slice_table and "class_id" not in slice_table
    assert SliceResult({}, values, confusion_matrix=matrix).to_json(model_task.class_name)[
        "confusion_matrix"
    ]["predicted"] == ["cat", "dog", "(no prediction)"]


def _check(s, i, kind, candidate, baseline=None, diff=None, status="pass", note=""):
    t = (s.thresholds if kind == "value" else s.change_thresholds)[i]
    return blessing.ThresholdCheck(
        t.metric, s.key_of(t.metric), kind, t.describe(), "Overall", candidate, baseline, diff,
        status, note,
    )  # fmt: skip


def test_a_blessing_against_a_baseline_records_every_check_exactly():
    s = _settings({"AUC": {"lower": 0.75}}, {"AUC": {"direction": "higher", "absolute": -0.01}})
    b = blessing.decide(s, _evaluation(auc=0.8, baseline_auc=0.7), BASELINE, ("set aside",))
    assert b.blessed
    diff = pytest.approx(0.1)
    assert b.checks == [
        _check(s, 0, "value", 0.8, 0.7, diff),
        _check(s, 0, "change", 0.8, 0.7, diff),
    ]
    assert b.reasons == ["all 2 threshold(s) pass on the overall slice against baseline version 4"]
    assert b.notes == ["set aside"] and b.failed == []
    assert b.to_json() == {
        "blessed": True,
        "reasons": b.reasons,
        "failed_thresholds": [],
        "thresholds": [dataclasses.asdict(c) for c in b.checks],
        "baseline_version": 4,
        "baseline_source": "/registry/taxi_big_tipper/4",
        "notes": ["set aside"],
        "metrics": {"auc": 0.8, "binary_accuracy": 0.85, "example_count": 500.0},
    }


def test_without_a_baseline_every_change_threshold_is_ignored_and_noted():
    s = _settings(
        {"AUC": {"lower": 0.75}},
        {
            "AUC": {"direction": "higher", "absolute": -0.01},
            "BinaryAccuracy": {"direction": "higher", "absolute": -0.02},
        },
    )
    b = blessing.decide(s, _evaluation(), None)
    note = "no baseline: the first model is judged on value thresholds only"
    assert b.checks == [
        _check(s, 0, "value", 0.8),
        _check(s, 0, "change", 0.8, status="ignored", note=note),
        _check(s, 1, "change", 0.85, status="ignored", note=note),
    ]
    assert b.reasons == ["all 1 threshold(s) pass on the overall slice with no baseline; 2 ignored"]
    assert b.notes == [
        "No baseline model (baseline_model absent, or NO_BASELINE: no stable version in the "
        "registry): change thresholds were ignored; the model is judged on value thresholds only."
    ]
    j = b.to_json()
    assert (j["baseline_version"], j["baseline_source"], j["notes"]) == (None, None, b.notes)


def test_value_thresholds_alone_add_no_note():
    b = blessing.decide(_settings({"AUC": {"lower": 0.75}}), _evaluation(), None)
    assert b.blessed and b.notes == []
    assert b.reasons == ["all 1 threshold(s) pass on the overall slice with no baseline"]


def test_a_baseline_without_a_version_is_named_by_its_source():
    s = _settings({"AUC": {"lower": 0.5}}, {"AUC": {"direction": "higher", "absolute": -0.01}})
    source = blessing.BaselineInfo(version=None, source="/models/old")
    assert blessing.decide(s, _evaluation(auc=0.8, baseline_auc=0.8), source).reasons == [
        "all 2 threshold(s) pass on the overall slice against baseline /models/old"
    ]
    failures = [Failure("Overall", "auc", "change", -0.2, {"direction": "higher"})]
    b = blessing.decide(s, _evaluation(0.6, baseline_auc=0.8, ok=False, failures=failures), source)
    assert b.reasons == [
        "AUC on Overall changed by -0.2 against the baseline (/models/old: 0.8 -> 0.6); the "
        f"change threshold requires {s.change_thresholds[0].describe()}"
    ]
    assert b.checks[1] == _check(s, 0, "change", 0.6, 0.8, pytest.approx(-0.2), status="fail")
    assert b.failed == [
        {
            "slice": "Overall",
            "metric": "AUC",
            "metric_key": "auc",
            "kind": "change",
            "value": -0.2,
            "bound": {"direction": "higher"},
            "baseline_value": 0.8,
            "candidate_value": 0.6,
        }
    ]


@pytest.mark.parametrize(
    "auc, bound, message, reason",
    [
        (0.75, {"lower": 0.75}, "", "AUC on Overall is 0.75: fails {rule}"),  # at the bound
        (0.9, {"upper": 0.9}, "", "AUC on Overall is 0.9: fails {rule}"),
        (None, {"upper": 0.9}, "", "AUC on Overall is n/a: fails {rule}"),
        (float("nan"), {"lower": 0.75}, "", "AUC on Overall is n/a: fails {rule}"),
        (float("inf"), {"upper": 0.9}, "", "AUC on Overall is inf, above the upper bound 0.9"),
        (float("-inf"), {"lower": 0.75}, "", "AUC on Overall is -inf, below the lower bound 0.75"),
        (None, {"lower": 0.75}, "Metric not found.", "AUC on Overall: not computed, so "
         "threshold {rule} fails"),
        (0.5, {"lower": 0.75}, "bound missed", "AUC on Overall is 0.5, below the lower bound 0.75"),
    ],
)  # fmt: skip
def test_each_value_failure_reads_as_what_happened(auc, bound, message, reason):
    s = _settings({"AUC": bound})
    cand = {"binary_accuracy": 0.85, "example_count": 500.0}
    if auc is not None:
        cand["auc"] = auc
    evaluation = Evaluation(
        [SliceResult({}, cand)], False, [Failure("Overall", "auc", "value", auc, bound, message)]
    )
    b = blessing.decide(s, evaluation, None)
    assert not b.blessed
    assert b.reasons == [reason.format(rule=s.thresholds[0].describe())]
    assert [c.status for c in b.checks] == ["fail"]
    assert b.failed == [
        {
            "slice": "Overall",
            "metric": "AUC",
            "metric_key": "auc",
            "kind": "value",
            "value": auc,
            "bound": bound,
        }
    ]


def test_stray_failures_and_missing_slices_are_named_exactly():
    s = _settings({"AUC": {"lower": 0.5}})
    stray = [
        Failure("Overall", "recall", "value", 0.0, {"lower": 0.1}, "Metric not found."),
        Failure("hour=3", "precision", "value", 0.25, {"lower": 0.3}),
    ]
    evaluation = _evaluation(ok=False, failures=stray, missing_slices=["hour=3", "hour=4"])
    b = blessing.decide(s, evaluation, None)
    assert b.reasons == [
        'TFMA validation failed on recall (value) on Overall: value 0, bound {"lower": 0.1} '
        "(Metric not found.)",
        'TFMA validation failed on precision (value) on hour=3: value 0.25, bound {"lower": 0.3}',
        "TFMA validation failed: no data for the threshold slice(s) hour=3, hour=4",
    ]
    assert [(f["metric"], f["metric_key"], f["slice"]) for f in b.failed] == [
        ("recall", "recall", "Overall"),
        ("precision", "precision", "hour=3"),
    ]


def test_the_reasons_when_no_threshold_vouches_are_exact():
    assert blessing.decide(_settings(), _evaluation(), None).reasons == [
        "no thresholds configured (eval_config.thresholds and change_thresholds are empty): a "
        "model is blessed only when thresholds vouch for it"
    ]
    s = _settings(change={"AUC": {"direction": "higher", "relative": 0.0}})
    assert blessing.decide(s, _evaluation(), None).reasons == [
        "no value thresholds, and the change thresholds need a baseline (there is none): "
        "nothing vouches for this model"
    ]


def test_the_artifact_is_an_empty_marker_and_the_json_in_a_new_folder(tmp_path):
    b = blessing.decide(_settings({"AUC": {"lower": 0.75}}), _evaluation(), None)
    out = tmp_path / "a" / "blessing"
    blessing.write(b, out)
    assert (out / "BLESSED").read_text() == ""
    assert (out / "blessing.json").read_text() == json.dumps(b.to_json(), indent=2) + "\n"
