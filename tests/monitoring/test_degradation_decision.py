"""The degradation trigger's verdict and decision on hand-made figures: the boundaries (min
samples, the threshold itself, the cool-down) and the exact reasons, without a registry,
a request log or a run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlops.monitoring import degradation as d

SETTINGS = d.DegradationSettings(
    env="local",
    model_name="taxi",
    registry="/reg",
    data_source="/data/taxi.csv",
    request_log=Path("/log"),
    labels=Path("/labels"),
    metric="binary_accuracy",
    threshold=0.7,
    window=100,
    min_samples=20,
    cooldown_s=None,
)
MAE = replace(SETTINGS, metric="mae", threshold=2.0)


def verdict(settings, value, count=50, deployed=None, name=None):
    metrics = {"count": count, (name or settings.metric): value}
    return d.version_verdict(settings, "3", metrics, deployed or {})


def test_min_samples_is_enough_and_one_fewer_is_not():
    assert verdict(SETTINGS, 0.9, count=19) == (
        "no verdict",
        "version 3 has 19 labelled predictions, fewer than min_samples 20",
    )
    assert verdict(SETTINGS, 0.9, count=20)[0] == "ok"


def test_an_undefined_metric_gives_no_verdict_and_says_why_for_auc():
    assert verdict(SETTINGS, None) == (
        "no verdict",
        "binary_accuracy of version 3 is undefined over the last 50 labelled predictions",
    )
    auc = replace(SETTINGS, metric="auc")
    assert verdict(auc, None) == (
        "no verdict",
        "auc of version 3 is undefined over the last 50 labelled predictions: they hold one "
        "class only",
    )


def test_higher_is_better_degrades_only_below_the_threshold():
    assert verdict(SETTINGS, 0.7) == (
        "ok",
        "binary_accuracy of version 3 is 0.7 over the last 50 labelled predictions, at or above "
        "the threshold 0.7",
    )
    assert verdict(SETTINGS, 0.65, deployed={"binary_accuracy": 0.8}) == (
        "below threshold",
        "binary_accuracy of version 3 is 0.65 over the last 50 labelled predictions, below the "
        "threshold 0.7 by 0.05; it was 0.8 at deployment",
    )
    assert verdict(SETTINGS, 0.75, deployed={"binary_accuracy": 0.8})[1].endswith(
        "at or above the threshold 0.7; it was 0.8 at deployment"
    )


def test_lower_is_better_degrades_only_above_the_threshold():
    assert verdict(MAE, 2.0) == (
        "ok",
        "mae of version 3 is 2 over the last 50 labelled predictions, at or below the "
        "threshold 2",
    )
    assert verdict(MAE, 2.5) == (
        "above threshold",
        "mae of version 3 is 2.5 over the last 50 labelled predictions, above the threshold 2 "
        "by 0.5",
    )
    assert verdict(MAE, 1.5)[0] == "ok"


def _figures(verdict="below threshold", stable="3", canary=None, joined=40):
    return {
        "serving": {"stable": stable, "canary": canary},
        "versions": {"3": {"verdict": verdict, "reason": "binary_accuracy of version 3 is low"}},
        "labels": {"joined": joined, "labels": 45, "files": ["a", "b"], "unmatched": 5},
    }


class Starts:
    def __init__(self, run=None, error=None):
        self.calls, self.run, self.error = [], run, error

    def __call__(self, root, pipeline, reason, *, data=None, env=None):
        self.calls.append((root, pipeline, reason, data, env))
        if self.error:
            raise self.error
        return self.run


def decide(monkeypatch, figures, previous=None, settings=SETTINGS, start=None, at=1000.0):
    seen = []

    def last(store, model_name, version):
        seen.append((store, model_name, version))
        return previous

    monkeypatch.setattr(d, "last_retrain", last)
    start = start or Starts(SimpleNamespace(run_id="r9", status=None, details={}))
    result = d._decide(Path("/repo"), settings, figures, "STORE", start, at)
    return result, seen, start


def test_nothing_serving_and_no_joined_label_give_no_verdict(monkeypatch):
    result, _, start = decide(monkeypatch, _figures(stable=None))
    assert (result.decision, result.reason) == ("no verdict", "no version of taxi is serving")
    result, _, start = decide(monkeypatch, _figures(joined=0))
    assert (result.decision, result.reason) == (
        "no verdict",
        "binary_accuracy of version 3 is low: no label joined a logged prediction (45 labels "
        "in 2 files, 5 unmatched)",
    )
    assert start.calls == []


def test_a_verdict_that_is_not_degraded_is_the_decision(monkeypatch):
    result, seen, start = decide(monkeypatch, _figures(verdict="ok"))
    assert (result.decision, result.reason, result.run_id) == (
        "ok",
        "binary_accuracy of version 3 is low",
        None,
    )
    assert seen == [] and start.calls == []


def test_a_degraded_stable_version_starts_one_retraining_run(monkeypatch):
    run = SimpleNamespace(
        run_id="r9", pipeline="ct_pipeline", target="local", status="FAILED",
        details={"error": "boom"},
    )  # fmt: skip
    figures = _figures(verdict="above threshold")
    result, seen, start = decide(monkeypatch, figures, start=Starts(run))
    assert seen == [("STORE", "taxi", "3")]
    reason = "binary_accuracy of version 3 is low: retraining on /data/taxi.csv"
    assert start.calls == [(Path("/repo"), "ct_pipeline", reason, "/data/taxi.csv", "local")]
    assert (result.decision, result.run_id) == ("retrain", "r9")
    assert result.reason == reason + " (run failed: boom)"
    assert figures["run"] == {
        "run_id": "r9",
        "pipeline": "ct_pipeline",
        "target": "local",
        "status": "FAILED",
        "details": {"error": "boom"},
    }
    plain = SimpleNamespace(run_id="r10", status="SUCCEEDED", details=None)
    result, _, _ = decide(monkeypatch, _figures(), start=Starts(plain))
    assert result.reason == reason + " (run succeeded)"
    pending = SimpleNamespace(run_id="r11", status="", details={})
    assert decide(monkeypatch, _figures(), start=Starts(pending))[0].reason == reason


def test_a_failed_start_is_a_failed_check(monkeypatch):
    start = Starts(error=RuntimeError("no engine"))
    result, _, _ = decide(monkeypatch, _figures(), start=start)
    assert (result.decision, result.run_id) == ("failed", None)
    assert result.reason == (
        "binary_accuracy of version 3 is low; ct_pipeline could not be started: "
        "RuntimeError: no engine"
    )


def test_held_until_another_version_without_a_cool_down(monkeypatch):
    previous = {"at": 0.0, "run_id": "r1", "status": "SUCCEEDED"}
    result, _, start = decide(monkeypatch, _figures(canary="4"), previous, at=10**9)
    assert (result.decision, result.run_id) == ("held", "r1")
    assert result.reason == (
        "binary_accuracy of version 3 is low; retraining run r1 (SUCCEEDED) was started for "
        "this version at 1970-01-01T00:00:00+00:00, no new run until another version is "
        "stable; version 4 is the canary: `make promote` when its live metric holds"
    )
    assert start.calls == []
    result, _, _ = decide(monkeypatch, _figures(), {"at": 0.0, "run_id": "r1", "status": None})
    assert result.reason.endswith("at 1970-01-01T00:00:00+00:00, no new run until another "
                                  "version is stable")  # fmt: skip
    assert "(None)" not in result.reason


def test_the_cool_down_holds_until_it_ends_and_not_after(monkeypatch):
    cooled = replace(SETTINGS, cooldown_s=60.0)
    previous = {"at": 100.0, "run_id": "r1", "status": "FAILED"}
    result, _, start = decide(monkeypatch, _figures(), previous, cooled, at=159.0)
    assert result.decision == "held" and start.calls == []
    assert result.reason.endswith(
        "no new run until the cool-down of 60s ends at 1970-01-01T00:02:40+00:00"
    )
    result, _, start = decide(monkeypatch, _figures(), previous, cooled, at=160.0)
    assert result.decision == "retrain" and len(start.calls) == 1


@pytest.mark.parametrize("value, expected", [(None, "-"), (0.0, "0"), (0.5, "0.5"), (2.0, "2")])
def test_figures_read_without_trailing_zeros(value, expected):
    assert d._fmt(value) == expected
