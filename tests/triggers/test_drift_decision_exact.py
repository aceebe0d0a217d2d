"""The drift decision's details and reasons, value by value (what `make status` and the
lineage store show), with trigger_fakes.FakeStart in place of real runs."""

from __future__ import annotations

from trigger_fakes import FakeStart, summary, trigger_project, write_span

from mlops.core.errors import BuildError
from mlops.core.trigger_settings import load_trigger_settings
from mlops.triggers.drift import check_span


def test_an_undrifted_span_records_every_detail(tmp_path):
    root = trigger_project(tmp_path / "p")
    path = write_span(root, "day1.csv")
    start = FakeStart(root)
    decision = check_span(root, str(path), start=start, span_key="k", env="local")
    settings = load_trigger_settings(root, "local")
    found = summary()
    assert (decision.decision, decision.reason) == (
        "no_drift",
        "no feature drifted beyond data.validation.drift's thresholds",
    )
    assert decision.details == {
        "span_key": "k",
        "data": str(path),
        "thresholds": {
            "numeric_jsd": settings.drift_numeric_jsd,
            "categorical_linf": settings.drift_categorical_linf,
        },
        "check_run": decision.details["check_run"],
        "drifted_features": [],
        "measurements": found["measurements"],
        "anomalies": [],
        "check_statistics": decision.details["check_statistics"],
        "check_decision": "continue",
    }
    assert start.calls == [
        {
            "pipeline": "validate_pipeline",
            "reason": f"drift check of new span {path}",
            "data": str(path),
            "env": "local",
            "previous_statistics": None,
        }
    ]


def test_anomalies_other_than_drift_are_listed_in_the_reason(tmp_path):
    root = trigger_project(tmp_path / "p")
    path = write_span(root, "day1.csv")
    other = [
        {"section": "eval", "feature": "company", "anomaly": "Unexpected data type"},
        {"section": "train", "feature": "tips", "anomaly": "Out-of-range values"},
    ]
    start = FakeStart(root, verdicts={"day1.csv": summary(other=other)})
    decision = check_span(root, str(path), start=start)
    assert decision.reason == (
        "the span is not fit (2 anomalies: eval: company: Unexpected data type; "
        "train: tips: Out-of-range values)"
    )
    assert decision.details["anomalies"] == other
    assert decision.details["check_decision"] == "stop"


def test_a_check_that_cannot_start_is_a_failed_decision(tmp_path):
    root = trigger_project(tmp_path / "p")

    def start(*args, **kwargs):
        raise BuildError("no engine")

    decision = check_span(root, "s.csv", start=start)
    assert (decision.decision, decision.reason) == (
        "failed",
        "the drift check could not start: no engine",
    )


def test_a_check_run_without_a_summary_fails_naming_the_run(tmp_path):
    root = trigger_project(tmp_path / "p")
    path = write_span(root, "garbage.csv")
    decision = check_span(root, str(path), start=FakeStart(root, fail_checks={"garbage.csv"}))
    run = decision.details["check_run"]
    assert decision.reason == (
        f"the drift check run {run} failed at extract-data: exit code 1: not a CSV"
    )


def test_a_non_local_target_names_why_the_check_needs_kfp_local(tmp_path):
    root = trigger_project(tmp_path / "p", **{"environments.local.deploy.target": "kfp"})
    decision = check_span(root, "s.csv", start=FakeStart(root))
    assert decision.reason == (
        "environment 'local' runs pipelines on deploy.target 'kfp': the drift check reads its "
        "verdict from the local lineage store, so it runs with kfp.local (deploy.target none)"
    )
