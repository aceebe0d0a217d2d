"""The canary decision's evidence and reasons on hand-made evidence, value by value: what the
canary check records and prints is what these say (the decisions themselves are in
test_canary_analysis)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from mlops.monitoring import canary, live_metrics
from mlops.monitoring.outcomes import Outcomes

T0 = datetime(2024, 5, 1, tzinfo=UTC)
GUARDS = canary.Guards(20, 0.01, 1.5, 50)
SETTINGS = canary.CanarySettings(50, 0.95, 0.0, 3600, "rollback", (), GUARDS)
SITUATION = canary.Situation("1", "2", 10, age_s=600, since=T0.isoformat())


def binary(version: str, right: int, wrong: int) -> list[live_metrics.Labelled]:
    """`right` predictions of 0.9 labelled 1, `wrong` ones labelled 0."""
    return [
        live_metrics.Labelled(T0 + timedelta(seconds=k), version, 0.9, int(k < right),
                              f"{version}-{k}", 0)  # fmt: skip
        for k in range(right + wrong)
    ]


def outcomes(requests: int, errors: int = 0, latency_ms: float | None = 5.0) -> Outcomes:
    result = Outcomes()
    for k in range(requests):
        result.add(500 if k < errors else 200, latency_ms)
    return result


def run(stable_rows, canary_rows, situation=SITUATION, canary_outcomes=None):
    return canary.decide(SETTINGS, "binary_accuracy", "binary", situation, stable_rows,
                         canary_rows, outcomes(200), canary_outcomes or outcomes(50))  # fmt: skip


def test_the_evidence_holds_every_figure_of_a_judged_period():
    stable, cand = binary("1", 80, 20), binary("2", 95, 5)
    d = run(stable, cand)
    values = {"canary": 0.95, "stable": 0.8}
    interval = canary.difference_interval("binary_accuracy", "binary", cand, stable, 0.95)[1]
    assert d.evidence == {
        "stable": "1",
        "canary": "2",
        "percent": 10,
        "age_s": 600,
        "since": SITUATION.since,
        "metric": "binary_accuracy",
        "direction": canary.METRICS["binary_accuracy"].direction,
        "labelled": {"canary": 100, "stable": 100},
        "values": pytest.approx(values),
        "difference": pytest.approx(interval.describe()),
        "outcomes": {"canary": outcomes(50).describe(), "stable": outcomes(200).describe()},
        "guards": {"verdict": "pass", "reason": d.evidence["guards"]["reason"]},
        "settings": {
            "min_labelled": 50,
            "confidence": 0.95,
            "min_improvement": 0.0,
            "max_age_s": 3600,
            "on_timeout": "rollback",
            "ramp": [],
            "guards": {
                "min_requests": 20,
                "max_error_rate_increase": 0.01,
                "max_p99_ratio": 1.5,
                "p99_tolerance_ms": 50,
            },
        },
    }
    assert d.decision == "promote"
    assert d.reason == (
        "canary 2 is better: binary_accuracy 0.95 for canary 2 (100 labelled) against 0.8 for "
        f"stable 1 (100 labelled): the canary's advantage is +0.15, 95% interval "
        f"{canary._fmt(interval.low, True)} to {canary._fmt(interval.high, True)} (welch) since "
        f"{SITUATION.since}; the guards hold: errors: the canary 0.0% of 50 requests, the stable "
        "0.0% of 200; p99 latency: the canary 5.0 ms, the stable 5.0 ms"
    )
    assert canary._fmt(interval.high, True).startswith("+")


def test_too_few_labelled_waits_and_exactly_enough_is_judged():
    few = run(binary("1", 40, 9), binary("2", 45, 5), situation=replace(SITUATION, since=None))
    assert few.decision == "wait" and few.evidence["values"] is None
    assert few.evidence["difference"] is None
    assert few.reason == (
        "too few labelled predictions: 50 of canary 2, 49 of stable 1; min_labelled is 50"
    )
    enough = run(binary("1", 40, 10), binary("2", 45, 5))
    assert enough.evidence["values"] == pytest.approx({"canary": 0.9, "stable": 0.8})


def test_a_failed_guard_rolls_back_with_its_evidence():
    d = run(binary("1", 80, 20), binary("2", 95, 5), canary_outcomes=outcomes(50, errors=25))
    assert d.decision == "rollback"
    assert d.evidence["guards"]["verdict"] == "fail"
    assert d.evidence["labelled"] == {"canary": 100, "stable": 100}
    assert d.reason.startswith("canary 2 fails an operational guard: errors: the canary 50.0%")


def test_an_undefined_metric_leaves_no_interval_in_the_evidence():
    one_class = [r for r in binary("1", 60, 0)]
    d = canary.decide(SETTINGS, "auc", "binary", SITUATION, one_class, binary("2", 50, 10),
                      outcomes(200), outcomes(50))  # fmt: skip
    assert d.decision == "wait" and d.evidence["difference"] is None
    assert d.evidence["values"]["stable"] is None
    assert d.reason.startswith("auc is undefined for a version: auc ")


@pytest.mark.parametrize(
    "value, signed, text",
    [
        (None, False, "-"),
        (None, True, "-"),
        (0.5, False, "0.5"),
        (0.12345, False, "0.1235"),
        (2.0, False, "2"),
        (10.0, False, "10"),
        (0.0, False, "0"),
        (0.25, True, "+0.25"),
        (-0.25, True, "-0.25"),
        (0.00001, True, "0"),
        (-0.00001, True, "0"),
        (0.0, True, "0"),
    ],
)
def test_figures_are_short_and_signed_when_asked(value, signed, text):
    assert canary._fmt(value, signed) == text


def test_shares_and_latencies_read_as_people_read_them():
    assert (canary._pct(None), canary._pct(0.0123)) == ("-", "1.2%")
    assert (canary._ms(None), canary._ms(12.345)) == ("-", "12.3 ms")
    verdict = canary.judge_guards(GUARDS, 0.95, outcomes(30), outcomes(10))
    assert verdict == canary.GuardVerdict(
        "not judged",
        "the guards need 20 answered requests of each version; the canary has 10, the stable 30",
    )
    no_latency = canary.judge_guards(GUARDS, 0.95, outcomes(30, latency_ms=None),
                                     outcomes(30, latency_ms=None))  # fmt: skip
    assert no_latency.reason.endswith("p99 latency: the canary -, the stable -")
