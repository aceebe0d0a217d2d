"""The canary analysis' decision logic (mlops.monitoring.canary) on hand-made evidence: the
interval of the difference (Welch by hand, the bootstrap's metrics against the monitor's own),
the operational guards, each outcome, the ramp's next share; the request outcomes read from a
log; the history that dates a canary; and the settings, whose every problem is named."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from mlops.core.errors import BuildError
from mlops.monitoring import canary, canary_check, live_metrics
from mlops.monitoring.canary import (
    CanarySettings,
    Guards,
    Situation,
    decide,
    judge_guards,
    next_share,
    welch_interval,
)
from mlops.monitoring.outcomes import Outcomes, read_outcomes
from mlops.testing.projects import repo_settings

T0 = datetime(2024, 5, 1, tzinfo=UTC)
GUARDS = Guards(min_requests=20, max_error_rate_increase=0.01, max_p99_ratio=1.5,
                p99_tolerance_ms=50)  # fmt: skip
SETTINGS = CanarySettings(
    min_labelled=50,
    confidence=0.95,
    min_improvement=0.0,
    max_age_s=3600,
    on_timeout="rollback",
    ramp=(),
    guards=GUARDS,
)
SITUATION = Situation("1", "2", 10, age_s=600, since=T0.isoformat())


def binary(version: str, right: int, wrong: int) -> list[live_metrics.Labelled]:
    """`right` predictions of 0.9 labelled 1, `wrong` ones labelled 0."""
    rows = []
    for k in range(right + wrong):
        label = 1 if k < right else 0
        when = T0 + timedelta(seconds=k)
        rows.append(live_metrics.Labelled(when, version, 0.9, label, f"{version}-{k}", 0))
    return rows


def outcomes(requests: int, errors: int = 0, latency_ms: float = 5.0) -> Outcomes:
    result = Outcomes()
    for k in range(requests):
        result.add(500 if k < errors else 200, latency_ms)
    return result


HEALTHY = {"stable_outcomes": outcomes(200), "canary_outcomes": outcomes(50)}


def run(stable_rows, canary_rows, settings=SETTINGS, situation=SITUATION, **evidence):
    evidence = {**HEALTHY, **evidence}
    return decide(settings, "binary_accuracy", "binary", situation, stable_rows, canary_rows,
                  evidence["stable_outcomes"], evidence["canary_outcomes"])  # fmt: skip


# --- the interval ----------------------------------------------------------------------------


def test_welch_interval_by_hand():
    canary_scores = [1.0] * 90 + [0.0] * 10
    stable_scores = [1.0] * 160 + [0.0] * 40
    interval = welch_interval(canary_scores, stable_scores, 0.95, higher_is_better=True)
    se = math.sqrt((0.9 * 0.1 * 100 / 99) / 100 + (0.8 * 0.2 * 200 / 199) / 200)
    assert interval.estimate == pytest.approx(0.1)
    assert interval.low == pytest.approx(0.1 - 1.959964 * se, abs=1e-6)
    assert interval.high == pytest.approx(0.1 + 1.959964 * se, abs=1e-6)
    assert interval.method == "welch"
    # Lower is better (an error): the canary's advantage is the stable's error minus its own.
    errors = welch_interval([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], 0.9, higher_is_better=False)
    assert errors.estimate == pytest.approx(3.0) and errors.low < 3.0 < errors.high


def _regression(version: str, errors: list[float]) -> list[live_metrics.Labelled]:
    return [
        live_metrics.Labelled(T0 + timedelta(seconds=k), version, 10.0 + e, 10.0, f"r{k}", 0)
        for k, e in enumerate(errors)
    ]


def test_mae_is_compared_on_absolute_errors_and_rmse_by_bootstrap():
    canary_rows = _regression("2", [0.5, -0.5, 1.0, -1.0] * 30)  # MAE 0.75
    stable_rows = _regression("1", [2.0, -2.0, 3.0, -1.0] * 30)  # MAE 2
    values, interval = canary.difference_interval("mae", "regression", canary_rows,
                                                  stable_rows, 0.95)  # fmt: skip
    assert values == {"canary": 0.75, "stable": 2.0}
    assert interval.method == "welch" and interval.estimate == pytest.approx(1.25)
    assert interval.low > 0  # the canary's smaller error is an advantage
    values, interval = canary.difference_interval("rmse", "regression", canary_rows,
                                                  stable_rows, 0.95)  # fmt: skip
    assert interval.method == "bootstrap" and interval.low > 0
    assert interval.estimate == pytest.approx(values["stable"] - values["canary"])
    again = canary.difference_interval("rmse", "regression", canary_rows, stable_rows, 0.95)[1]
    assert again == interval  # a fixed seed: the same evidence, the same answer


def test_the_bootstraps_metrics_are_the_monitors_own_on_the_sample_itself():
    import numpy as np

    predictions = [0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.2, 0.4]
    labels = [0, 0, 1, 1, 1, 0, 0, 1]
    rows = [
        live_metrics.Labelled(T0, "1", p, y, f"r{k}", 0)
        for k, (p, y) in enumerate(zip(predictions, labels, strict=True))
    ]
    identity = np.ones((1, len(rows)), dtype=int)  # each row drawn once: the sample itself
    assert canary._resampled("auc", rows, identity)[0] == pytest.approx(
        live_metrics.auc(predictions, labels)
    )
    names = ["a", "b", "c", "a", "b", "b", "c", "a"]
    truth = ["a", "b", "b", "a", "c", "b", "c", "c"]
    classes = [
        live_metrics.Labelled(T0, "1", 0.5, y, f"r{k}", 0, p)
        for k, (p, y) in enumerate(zip(names, truth, strict=True))
    ]
    assert canary._resampled("macro_f1", classes, identity)[0] == pytest.approx(
        live_metrics.macro_f1(names, truth)
    )
    # Drawing rows twice or not at all is the metric of the sample with those repetitions.
    counts = np.array([[2, 0, 1, 1, 0, 3, 1, 0]])
    repeated = [k for k, c in enumerate(counts[0]) for _ in range(c)]
    assert canary._resampled("auc", rows, counts)[0] == pytest.approx(
        live_metrics.auc([predictions[k] for k in repeated], [labels[k] for k in repeated])
    )
    assert canary._resampled("macro_f1", classes, counts)[0] == pytest.approx(
        live_metrics.macro_f1([names[k] for k in repeated], [truth[k] for k in repeated])
    )
    regression = [live_metrics.Labelled(T0, "1", p, 2 * p, f"r{k}", 0)
                  for k, p in enumerate(predictions)]  # fmt: skip
    assert canary._resampled("rmse", regression, counts)[0] == pytest.approx(
        live_metrics.rmse(
            [predictions[k] for k in repeated], [2 * predictions[k] for k in repeated]
        )
    )


def test_auc_by_bootstrap_and_undefined_when_one_class():
    good = [live_metrics.Labelled(T0, "2", 0.2 + 0.6 * (k % 2), k % 2, f"g{k}", 0)
            for k in range(100)]  # fmt: skip
    poor = [live_metrics.Labelled(T0, "1", 0.3 + 0.004 * k, k % 2, f"p{k}", 0)
            for k in range(100)]  # fmt: skip
    values, interval = canary.difference_interval("auc", "binary", good, poor, 0.95)
    assert values["canary"] == 1.0 and 0.4 < values["stable"] < 0.6
    assert interval.method == "bootstrap" and interval.low > 0.3
    one_class = [live_metrics.Labelled(T0, "2", 0.7, 1, f"o{k}", 0) for k in range(100)]
    assert canary.difference_interval("auc", "binary", one_class, poor, 0.95)[1] is None


# --- the guards ------------------------------------------------------------------------------


def test_guards_judge_errors_and_p99_only_with_enough_requests():
    few = judge_guards(GUARDS, 0.95, outcomes(200), outcomes(10, errors=10))
    assert few.verdict == "not judged" and "the canary has 10, the stable 200" in few.reason
    failing = judge_guards(GUARDS, 0.95, outcomes(200), outcomes(30, errors=30))
    assert failing.verdict == "fail"
    assert "errors: the canary 100.0% of 30 requests, the stable 0.0% of 200" in failing.reason
    # 2 errors in 100 against none: within the noise at 95% (the lower bound is below 1%).
    noisy = judge_guards(GUARDS, 0.95, outcomes(200), outcomes(100, errors=2))
    assert noisy.verdict == "pass"
    slow = judge_guards(GUARDS, 0.95, outcomes(200, latency_ms=10), outcomes(50, latency_ms=90))
    assert slow.verdict == "fail" and "p99 latency: the canary 90.0 ms, the stable 10.0" in (
        slow.reason
    )
    # Twice as slow but within the tolerance: a few milliseconds are not a regression.
    close = judge_guards(GUARDS, 0.95, outcomes(200, latency_ms=4), outcomes(50, latency_ms=8))
    assert close.verdict == "pass"


def test_p99_is_the_nearest_rank_and_error_rate_counts_non_200():
    result = Outcomes()
    for k in range(1, 101):
        result.add(200 if k % 10 else 503, float(k))
    assert result.p99_ms == 99.0 and result.error_rate == 0.1
    assert result.describe()["statuses"] == {"200": 90, "503": 10}
    assert Outcomes().p99_ms is None and Outcomes().error_rate is None


def test_read_outcomes_counts_each_versions_answers_since_a_time(tmp_path):
    lines = [
        {"time": "2024-04-30T23:59:59.000+00:00", "model_version": "2", "status": 500},
        {"time": "2024-05-01T00:00:01.000+00:00", "model_version": "2", "status": 200,
         "latency_ms": 4.0},
        {"time": "2024-05-01T00:00:02.000+00:00", "model_version": "2", "status": 500,
         "latency_ms": 1.0},
        {"time": "2024-05-01T00:00:03.000+00:00", "model_version": "1", "status": 200,
         "latency_ms": 3.0},
        {"time": "2024-05-01T00:00:04.000+00:00", "model_version": "1"},  # before outcomes
        {"time": "2024-05-01T00:00:05.000+00:00", "model_version": "3", "status": 200},
    ]  # fmt: skip
    (tmp_path / "requests-2024-04-30.jsonl").write_text(json.dumps(lines[0]) + "\n")
    text = "".join(json.dumps(x) + "\n" for x in lines[1:]) + '{"torn'
    (tmp_path / "requests-2024-05-01.jsonl").write_text(text)
    found = read_outcomes(tmp_path, {"1", "2"}, since=T0)
    assert (found["2"].requests, found["2"].errors, found["2"].latencies_ms) == (2, 1, [4.0, 1.0])
    assert (found["1"].requests, found["1"].errors) == (1, 0)
    assert read_outcomes(tmp_path, {"2"})["2"].requests == 3  # no start: every day
    assert read_outcomes(tmp_path / "none", {"2"})["2"].requests == 0


# --- the decision ----------------------------------------------------------------------------


def test_a_better_canary_is_promoted():
    decision = run(binary("1", 140, 60), binary("2", 95, 5))
    assert decision.decision == "promote"
    assert decision.reason.startswith(
        "canary 2 is better: binary_accuracy 0.95 for canary 2 (100 labelled) against 0.7 for "
        "stable 1 (200 labelled): the canary's advantage is +0.25, 95% interval +"
    )
    difference = decision.evidence["difference"]
    assert difference["low"] > 0 and difference["method"] == "welch"
    assert decision.evidence["guards"]["verdict"] == "pass"


def test_a_worse_canary_is_rolled_back():
    decision = run(binary("1", 190, 10), binary("2", 70, 30))
    assert decision.decision == "rollback"
    assert decision.reason.startswith("canary 2 is worse: binary_accuracy 0.7 for canary 2")
    assert decision.evidence["difference"]["high"] < 0


def test_an_equal_canary_waits_then_times_out_as_settings_say():
    stable, same = binary("1", 160, 40), binary("2", 80, 20)
    waiting = run(stable, same)
    assert waiting.decision == "wait" and waiting.reason.startswith("no clear difference yet")
    old = Situation("1", "2", 10, age_s=3600, since=None)
    timed_out = run(stable, same, situation=old)
    assert (timed_out.decision, timed_out.timed_out) == ("rollback", True)
    assert timed_out.reason.startswith(
        "canary 2 is undecided after 3600s, max_age_s is 3600, on_timeout is rollback: no clear"
    )
    promoting = CanarySettings(**{**vars(SETTINGS), "on_timeout": "promote"})
    assert run(stable, same, settings=promoting, situation=old).decision == "promote"


def test_too_few_labels_wait_and_the_guards_decide_without_labels():
    decision = run(binary("1", 200, 0), binary("2", 49, 0))
    assert decision.decision == "wait"
    assert decision.reason == (
        f"too few labelled predictions since {T0.isoformat()}: 49 of canary 2, 200 of stable 1; "
        "min_labelled is 50"
    )
    failing = run([], [], canary_outcomes=outcomes(30, errors=30))
    assert failing.decision == "rollback"
    assert failing.reason.startswith("canary 2 fails an operational guard: errors: the canary")


def test_better_by_labels_but_guards_not_judged_waits():
    decision = run(binary("1", 140, 60), binary("2", 95, 5), canary_outcomes=outcomes(5))
    assert decision.decision == "wait"
    assert "but the guards need 20 answered requests of each version" in decision.reason


def test_a_ramp_step_is_gated_by_the_same_analysis():
    ramping = CanarySettings(**{**vars(SETTINGS), "ramp": (10, 25, 50, 100)})
    better = binary("1", 140, 60), binary("2", 95, 5)
    step = run(*better, settings=ramping)
    assert (step.decision, step.to_percent) == ("ramp", 25)
    assert "better at 10% of the traffic" in step.reason and step.reason.endswith("next step 25%")
    last = Situation("1", "2", 50, age_s=600, since=None)
    assert run(*better, settings=ramping, situation=last).decision == "promote"
    assert run(binary("1", 190, 10), binary("2", 70, 30), settings=ramping).decision == "rollback"


@pytest.mark.parametrize(
    "ramp, percent, expected",
    [((), 10, None), ((10, 25, 50), 10, 25), ((10, 25, 50), 5, 10), ((10, 25, 50), 50, None),
     ((25, 100), 25, None), ((25, 50), 30, 50)],
)  # fmt: skip
def test_next_share(ramp, percent, expected):
    assert next_share(ramp, percent) == expected


def test_the_canary_is_dated_by_serving_json_history():
    history = [
        {"at": "2024-05-01T00:00:00.000+00:00", "action": "deploy", "stable": 1, "canary": None},
        {"at": "2024-05-01T01:00:00.000+00:00", "action": "canary", "stable": 1,
         "canary": {"version": 2, "traffic_percent": 10}},
        {"at": "2024-05-01T02:00:00.000+00:00", "action": "ramp", "stable": 1,
         "canary": {"version": 2, "traffic_percent": 25}},
        {"at": "2024-05-01T03:00:00.000+00:00", "action": "rollback", "stable": 1,
         "canary": None},
        {"at": "2024-05-01T04:00:00.000+00:00", "action": "canary", "stable": 1,
         "canary": {"version": 3, "traffic_percent": 10}},
        {"at": "2024-05-01T05:00:00.500+00:00", "action": "ramp", "stable": 1,
         "canary": {"version": 3, "traffic_percent": 50}},
    ]  # fmt: skip
    deployed, step = canary_check.canary_times(history, "3")
    assert deployed == T0 + timedelta(hours=4)
    assert step == T0 + timedelta(hours=5, milliseconds=500)
    assert canary_check.canary_times(history[:3], "2") == (T0 + timedelta(hours=1),
                                                         T0 + timedelta(hours=2))  # fmt: skip
    assert canary_check.canary_times([], "2") == (None, None)


# --- settings --------------------------------------------------------------------------------


def _settings_file(tmp_path, canary_section) -> None:
    settings = repo_settings()
    settings["triggers"]["canary"] = canary_section
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump(settings))


def test_the_repository_settings_load():
    from mlops.core.paths import REPO

    settings = canary_check.load_canary_settings(REPO)
    assert settings.enabled and settings.on_timeout in ("rollback", "promote")
    assert settings.guards.min_requests >= 1


def _section(**change):
    section = json.loads(json.dumps(repo_settings()["triggers"]["canary"]))
    for key, value in change.items():
        where = section
        *path, last = key.split("__")
        for part in path:
            where = where[part]
        if value is None:
            where.pop(last, None)
        else:
            where[last] = value
    return section


@pytest.mark.parametrize(
    "change, message",
    [
        ({"min_labelled": 5}, "triggers.canary.min_labelled is 5; expected an integer of at "),
        ({"min_labelled": None}, "triggers.canary.min_labelled is missing"),
        ({"confidence": 1.0}, "triggers.canary.confidence is 1.0; expected a number from 0.5"),
        ({"min_improvement": -0.1}, "triggers.canary.min_improvement is -0.1"),
        ({"max_age_s": 0}, "triggers.canary.max_age_s is 0; expected seconds above 0"),
        ({"on_timeout": "keep"}, "triggers.canary.on_timeout is 'keep'; expected rollback or "),
        ({"ramp": [50, 25]}, "triggers.canary.ramp is [50, 25]; expected a list of increasing"),
        ({"ramp": [10, 150]}, "triggers.canary.ramp is [10, 150]"),
        ({"enabled": "yes"}, "triggers.canary.enabled is 'yes'; expected true or false"),
        ({"max_age": 5}, "triggers.canary has no setting max_age; the settings are"),
        ({"guards": None}, "triggers.canary.guards is missing; expected a mapping of"),
        ({"guards__min_requests": 0}, "triggers.canary.guards.min_requests is 0"),
        ({"guards__max_error_rate_increase": 1.5},
         "triggers.canary.guards.max_error_rate_increase is 1.5"),
        ({"guards__max_p99_ratio": 0.5}, "triggers.canary.guards.max_p99_ratio is 0.5"),
        ({"guards__p99_tolerance_ms": -1}, "triggers.canary.guards.p99_tolerance_ms is -1"),
        ({"guards__p99": 1}, "triggers.canary.guards has no setting p99"),
    ],
)  # fmt: skip
def test_bad_settings_are_named(tmp_path, change, message):
    _settings_file(tmp_path, _section(**change))
    with pytest.raises(BuildError) as caught:
        canary_check.load_canary_settings(tmp_path)
    assert message in str(caught.value) and "settings.yaml" in str(caught.value)


def test_no_section_or_disabled_means_no_analysis(tmp_path):
    settings = repo_settings()
    del settings["triggers"]["canary"]
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump(settings))
    assert canary_check.load_canary_settings(tmp_path) is None
    _settings_file(tmp_path, _section(enabled=False))
    assert canary_check.load_canary_settings(tmp_path).enabled is False
    assert canary_check.check(tmp_path) is None
