"""Canary analysis: whether the canary version should take all the traffic, take the next
share of a ramp, be rolled back, or wait for more evidence. Decision logic only: the evidence
(labelled predictions and request outcomes per version, the canary's age and share) comes in
as values; mlops.monitoring.canary_check gathers it and applies the decision.

Both versions are compared over the same period (since the canary got its current share):

1. Operational guards, which need no label: with at least `guards.min_requests` answered
   requests of each version, the canary is rolled back when its error rate exceeds the
   stable's by more than `max_error_rate_increase` even at the low end of the `confidence`
   interval of the difference (normal approximation of two proportions), or when its p99
   latency is above `max_p99_ratio` times the stable's and more than `p99_tolerance_ms` above
   it. The split sends requests to versions whatever they hold, so bad input falls on both
   alike and only what the canary adds shows in the difference.
2. Labelled predictions: with at least `min_labelled` of each version, the task's metric
   (triggers.degradation.metric) of each, and an interval of the difference at `confidence`,
   oriented so that a positive difference means the canary is better (stable - canary for
   the lower-is-better mae and rmse). Metrics that are means of per-example scores use
   Welch's normal approximation on those scores: binary_accuracy and accuracy (1 when the
   predicted class is the label, else 0), mae (the absolute error). The others (auc,
   macro_f1, rmse) use a percentile bootstrap: each version's predictions resampled
   `resamples` times, with a fixed seed so the same evidence always gives the same answer.
   Worse (the interval below 0): roll back. Better (the interval above `min_improvement`)
   with the guards judged and holding: the next share of the ramp, or promote after the
   last. Otherwise: wait.
3. A canary still undecided `max_age_s` after it was deployed is rolled back or promoted, as
   `on_timeout` says."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from mlops.monitoring.live_metrics import DECISION_THRESHOLD, Labelled, task_figures
from mlops.monitoring.outcomes import Outcomes
from mlops.monitoring.tasks import METRICS

ON_TIMEOUT = ("rollback", "promote")
DECISIONS = ("promote", "ramp", "rollback", "wait")
RESAMPLES = 1000
SEED = 0
MAX_UNDEFINED_SHARE = 0.05  # bootstrap resamples whose metric is undefined (one-class AUC)


@dataclass(frozen=True)
class Guards:
    min_requests: int
    max_error_rate_increase: float
    max_p99_ratio: float
    p99_tolerance_ms: float


@dataclass(frozen=True)
class CanarySettings:
    min_labelled: int
    confidence: float
    min_improvement: float
    max_age_s: float
    on_timeout: str
    ramp: tuple[int, ...]
    guards: Guards
    enabled: bool = True
    resamples: int = RESAMPLES

    def describe(self) -> dict[str, Any]:
        return {
            "min_labelled": self.min_labelled,
            "confidence": self.confidence,
            "min_improvement": self.min_improvement,
            "max_age_s": self.max_age_s,
            "on_timeout": self.on_timeout,
            "ramp": list(self.ramp),
            "guards": vars(self.guards).copy(),
        }


def next_share(ramp: Sequence[int], percent: int) -> int | None:
    """The canary's next share after `percent`: the first ramp share above it; None when
    there is none (or it is 100): the next step is the promote."""
    for share in ramp:
        if share > percent:
            return None if share >= 100 else share
    return None


# --- the difference of the metric -----------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """The canary's advantage over the stable (positive: the canary is better) and its
    confidence interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    method: str  # welch | bootstrap

    def describe(self) -> dict[str, Any]:
        return vars(self).copy()


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf((1 + confidence) / 2)


def example_scores(metric: str, rows: Sequence[Labelled]) -> list[float] | None:
    """Per-example scores whose mean is the metric, or None when the metric is no mean."""
    if metric == "binary_accuracy":
        return [float(int(r.prediction > DECISION_THRESHOLD) == r.label) for r in rows]
    if metric == "accuracy":
        return [float(r.predicted == r.label) for r in rows]
    if metric == "mae":
        return [abs(r.prediction - r.label) for r in rows]
    return None


def _mean_var(values: Sequence[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
    return mean, var


def welch_interval(
    canary: Sequence[float], stable: Sequence[float], confidence: float, higher_is_better: bool
) -> Interval:
    """The difference of the mean scores with Welch's standard error (each version its own
    variance) and the normal quantile of `confidence`."""
    mc, vc = _mean_var(canary)
    ms, vs = _mean_var(stable)
    sign = 1.0 if higher_is_better else -1.0
    estimate = sign * (mc - ms)
    margin = _z(confidence) * math.sqrt(vc / len(canary) + vs / len(stable))
    return Interval(estimate, estimate - margin, estimate + margin, confidence, "welch")


def _resampled(metric: str, rows: Sequence[Labelled], counts) -> Any:
    """The metric of each resample, a resample being how many times it draws each row (one
    row of `counts` per resample); NaN where undefined. Weighting by counts instead of
    gathering the drawn rows keeps a resample O(rows): the rows are sorted once for AUC."""
    import numpy as np

    predictions = np.array([r.prediction for r in rows], dtype=float)
    drawn = counts.sum(axis=1)
    if metric == "rmse":
        labels = np.array([r.label for r in rows], dtype=float)
        return np.sqrt(counts @ ((predictions - labels) ** 2) / drawn)
    if metric == "auc":
        labels = np.array([r.label for r in rows], dtype=float)
        order = np.argsort(predictions, kind="stable")
        scores = predictions[order]
        starts = np.flatnonzero(np.r_[True, scores[1:] != scores[:-1]])  # groups of ties
        positives = np.add.reduceat(counts[:, order] * labels[order], starts, axis=1)
        negatives = np.add.reduceat(counts[:, order] * (1 - labels[order]), starts, axis=1)
        below = np.cumsum(negatives, axis=1) - negatives  # negatives scored lower
        p, n = positives.sum(axis=1), negatives.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = (positives * (below + negatives / 2)).sum(axis=1) / (p * n)  # ties: half
        return np.where(p * n > 0, auc, np.nan)
    if metric == "macro_f1":
        names = sorted({str(r.label) for r in rows} | {str(r.predicted) for r in rows})
        predicted = np.array([str(r.predicted) for r in rows])
        labels = np.array([str(r.label) for r in rows])
        scores = []
        for name in names:
            tp = counts @ ((predicted == name) & (labels == name))
            fp = counts @ ((predicted == name) & (labels != name))
            fn = counts @ ((predicted != name) & (labels == name))
            denominator = 2 * tp + fp + fn  # 0: the class is absent from this resample
            with np.errstate(divide="ignore", invalid="ignore"):
                scores.append(np.where(denominator > 0, 2 * tp / denominator, np.nan))
        with np.errstate(invalid="ignore"):
            return np.nanmean(np.stack(scores), axis=0)
    raise ValueError(f"no bootstrap for the metric {metric!r}")


def _draws(rng, size: int, n: int) -> Any:
    """`size` resamples of n rows with replacement, as counts per row."""
    import numpy as np

    index = rng.integers(0, n, (size, n)) + np.arange(size)[:, None] * n
    return np.bincount(index.ravel(), minlength=size * n).reshape(size, n)


def bootstrap_interval(
    metric: str,
    canary: Sequence[Labelled],
    stable: Sequence[Labelled],
    estimate: float,
    confidence: float,
    higher_is_better: bool,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Interval | None:
    """The percentile interval of the difference over `resamples` resamplings of each
    version's predictions (with replacement, independently); None when the metric is
    undefined in more than MAX_UNDEFINED_SHARE of them."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sign = 1.0 if higher_is_better else -1.0
    chunks = []
    left = resamples
    while left:  # in chunks: resamples x predictions counts stay small
        size = min(left, 100)
        c = _resampled(metric, canary, _draws(rng, size, len(canary)))
        s = _resampled(metric, stable, _draws(rng, size, len(stable)))
        chunks.append(sign * (c - s))
        left -= size
    differences = np.concatenate(chunks)
    defined = differences[~np.isnan(differences)]
    if len(defined) < (1 - MAX_UNDEFINED_SHARE) * resamples:
        return None
    alpha = 1 - confidence
    low, high = np.quantile(defined, [alpha / 2, 1 - alpha / 2])
    return Interval(estimate, float(low), float(high), confidence, "bootstrap")


def difference_interval(
    metric: str,
    task: str,
    canary: Sequence[Labelled],
    stable: Sequence[Labelled],
    confidence: float,
    resamples: int = RESAMPLES,
) -> tuple[dict[str, Any], Interval | None]:
    """({"canary": value, "stable": value}, the interval of the canary's advantage), the
    interval None when the metric is undefined for either version."""
    info = METRICS[metric]
    values = {
        "canary": task_figures(task, list(canary)).get(metric),
        "stable": task_figures(task, list(stable)).get(metric),
    }
    if values["canary"] is None or values["stable"] is None:
        return values, None
    scores_c, scores_s = example_scores(metric, canary), example_scores(metric, stable)
    if scores_c is not None and scores_s is not None:
        return values, welch_interval(scores_c, scores_s, confidence, info.higher_is_better)
    sign = 1.0 if info.higher_is_better else -1.0
    estimate = sign * (values["canary"] - values["stable"])
    interval = bootstrap_interval(
        metric, canary, stable, estimate, confidence, info.higher_is_better, resamples
    )
    return values, interval


# --- the operational guards ------------------------------------------------------------------


@dataclass(frozen=True)
class GuardVerdict:
    verdict: str  # pass | fail | not judged
    reason: str


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def judge_guards(
    guards: Guards, confidence: float, stable: Outcomes, canary: Outcomes
) -> GuardVerdict:
    """The canary's errors and p99 latency against the stable's (module doc, 1)."""
    nc, ns = canary.requests, stable.requests
    if nc < guards.min_requests or ns < guards.min_requests:
        return GuardVerdict(
            "not judged",
            f"the guards need {guards.min_requests} answered requests of each version; the "
            f"canary has {nc}, the stable {ns}",
        )
    rc, rs = canary.error_rate or 0.0, stable.error_rate or 0.0
    margin = _z(confidence) * math.sqrt(rc * (1 - rc) / nc + rs * (1 - rs) / ns)
    low = rc - rs - margin
    errors = f"errors: the canary {_pct(rc)} of {nc} requests, the stable {_pct(rs)} of {ns}"
    if low > guards.max_error_rate_increase:
        return GuardVerdict(
            "fail",
            f"{errors}; the increase is at least {_pct(low)} ({confidence:.0%} interval), "
            f"above max_error_rate_increase {_pct(guards.max_error_rate_increase)}",
        )
    pc, ps = canary.p99_ms, stable.p99_ms
    latency = f"p99 latency: the canary {_ms(pc)}, the stable {_ms(ps)}"
    if (
        pc is not None
        and ps is not None
        and pc > guards.max_p99_ratio * ps
        and pc - ps > guards.p99_tolerance_ms
    ):
        return GuardVerdict(
            "fail",
            f"{latency}: above {guards.max_p99_ratio:g} times the stable's and more than "
            f"{guards.p99_tolerance_ms:g} ms above it; {errors}",
        )
    return GuardVerdict("pass", f"the guards hold: {errors}; {latency}")


# --- the decision ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Situation:
    """Where the canary stands: the versions, its share, its age since it was deployed (None:
    unknown, so it never times out) and the start of the compared period (ISO time)."""

    stable: str
    canary: str
    percent: int
    age_s: float | None
    since: str | None


@dataclass
class Decision:
    decision: str  # promote | ramp | rollback | wait
    reason: str
    to_percent: int | None = None  # ramp: the canary's next share
    timed_out: bool = False
    evidence: dict[str, Any] | None = None


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    text = f"{value:+.4f}" if signed else f"{value:.4f}"
    text = text.rstrip("0").rstrip(".")
    return text if text not in ("+0", "-0", "") else "0"


def _summary(
    metric: str, situation: Situation, values: dict, n: dict, interval: Interval | None
) -> str:
    head = (
        f"{metric} {_fmt(values['canary'])} for canary {situation.canary} ({n['canary']} "
        f"labelled) against {_fmt(values['stable'])} for stable {situation.stable} "
        f"({n['stable']} labelled)"
    )
    if interval is None:
        return head
    return (
        f"{head}: the canary's advantage is {_fmt(interval.estimate, True)}, "
        f"{interval.confidence:.0%} interval {_fmt(interval.low, True)} to "
        f"{_fmt(interval.high, True)} ({interval.method})"
    )


def decide(
    settings: CanarySettings,
    metric: str,
    task: str,
    situation: Situation,
    stable_rows: Sequence[Labelled],
    canary_rows: Sequence[Labelled],
    stable_outcomes: Outcomes,
    canary_outcomes: Outcomes,
) -> Decision:
    """The decision on the canary from the evidence of the period (module doc)."""
    guards = judge_guards(settings.guards, settings.confidence, stable_outcomes, canary_outcomes)
    n = {"canary": len(canary_rows), "stable": len(stable_rows)}
    evidence: dict[str, Any] = {
        "stable": situation.stable,
        "canary": situation.canary,
        "percent": situation.percent,
        "age_s": situation.age_s,
        "since": situation.since,
        "metric": metric,
        "direction": METRICS[metric].direction,
        "labelled": n,
        "values": None,
        "difference": None,
        "outcomes": {"canary": canary_outcomes.describe(), "stable": stable_outcomes.describe()},
        "guards": {"verdict": guards.verdict, "reason": guards.reason},
        "settings": settings.describe(),
    }
    since = f" since {situation.since}" if situation.since else ""
    canary = f"canary {situation.canary}"
    if guards.verdict == "fail":
        return Decision("rollback", f"{canary} fails an operational guard: {guards.reason}",
                        evidence=evidence)  # fmt: skip
    if min(n.values()) < settings.min_labelled:
        waiting = (
            f"too few labelled predictions{since}: {n['canary']} of {canary}, {n['stable']} "
            f"of stable {situation.stable}; min_labelled is {settings.min_labelled}"
        )
    else:
        values, interval = difference_interval(
            metric, task, canary_rows, stable_rows, settings.confidence, settings.resamples
        )
        evidence["values"] = values
        evidence["difference"] = interval.describe() if interval else None
        summary = _summary(metric, situation, values, n, interval) + since
        if interval is None:
            waiting = f"{metric} is undefined for a version: {summary}"
        elif interval.high < 0:
            return Decision("rollback", f"{canary} is worse: {summary}", evidence=evidence)
        elif interval.low > settings.min_improvement:
            if guards.verdict != "pass":
                waiting = f"{canary} is better ({summary}), but {guards.reason}"
            else:
                share = next_share(settings.ramp, situation.percent)
                if share is None:
                    return Decision(
                        "promote", f"{canary} is better: {summary}; {guards.reason}",
                        evidence=evidence,
                    )  # fmt: skip
                return Decision(
                    "ramp",
                    f"{canary} is better at {situation.percent}% of the traffic: {summary}; "
                    f"{guards.reason}; next step {share}%",
                    share,
                    evidence=evidence,
                )
        else:
            waiting = (
                f"no clear difference yet: {summary}; a promote needs the interval above "
                f"min_improvement {_fmt(settings.min_improvement)}, a rollback below 0"
            )
    if situation.age_s is not None and situation.age_s >= settings.max_age_s:
        return Decision(
            settings.on_timeout,
            f"{canary} is undecided after {situation.age_s:.0f}s, max_age_s is "
            f"{settings.max_age_s:g}, on_timeout is {settings.on_timeout}: {waiting}",
            timed_out=True,
            evidence=evidence,
        )
    return Decision("wait", waiting, evidence=evidence)
