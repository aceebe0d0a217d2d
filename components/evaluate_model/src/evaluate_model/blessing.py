"""The verdict: is the candidate blessed (fit to deploy)? Blessed only when TFMA's validation
passed and at least one threshold was checked. Without a baseline (the first model) only the
value thresholds count: change thresholds have nothing to be measured against.

Also every configured threshold with its outcome (pass, fail, or ignored for want of a
baseline), for the report, and the blessing artifact: an empty BLESSED or NOT_BLESSED file
(as TFX's Evaluator writes) and blessing.json."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evaluate_model.config import ChangeThreshold, EvalSettings, ValueThreshold
from evaluate_model.evaluate import OVERALL, Evaluation, Failure

PASS, FAIL, IGNORED = "pass", "fail", "ignored"
BLESSED_FILE, NOT_BLESSED_FILE, JSON_FILE = "BLESSED", "NOT_BLESSED", "blessing.json"


@dataclass(frozen=True)
class BaselineInfo:
    version: int | None
    source: str


@dataclass(frozen=True)
class ThresholdCheck:
    metric: str  # as configured, e.g. "AUC" or "AUC/macro_average"
    metric_key: str  # its output name, e.g. "auc" or "auc/macro_average"
    kind: str  # "value" | "change"
    rule: str  # readable, e.g. ">= 0.75"
    slice: str
    candidate: float | None  # the candidate's value on the slice
    baseline: float | None  # the baseline's value, when there is a baseline
    diff: float | None  # candidate - baseline, when there is a baseline
    status: str  # pass | fail | ignored
    note: str = ""


@dataclass(frozen=True)
class Blessing:
    blessed: bool
    reasons: list[str]
    failed: list[dict[str, Any]]
    checks: list[ThresholdCheck]
    baseline: BaselineInfo | None = None
    notes: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # the candidate's, overall

    def to_json(self) -> dict[str, Any]:
        return json_safe(
            {
                "blessed": self.blessed,
                "reasons": self.reasons,
                "failed_thresholds": self.failed,
                "thresholds": [asdict(c) for c in self.checks],
                "baseline_version": self.baseline.version if self.baseline else None,
                "baseline_source": self.baseline.source if self.baseline else None,
                "notes": self.notes,
                # The candidate's overall metrics: deploy_model records them in version.json.
                "metrics": self.metrics,
            }
        )


def json_safe(value: Any) -> Any:
    """value with NaN and infinities as None: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _fmt(value: float | None) -> str:
    """None and NaN (a metric with nothing to measure) read "n/a"; infinities as themselves."""
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}"


def _failure_for(
    failures: list[Failure], metric_key: str, kind: str, slice_name: str = OVERALL
) -> Failure | None:
    for f in failures:
        if f.metric == metric_key and f.kind == kind and f.slice == slice_name:
            return f
    return None


def _value_reason(t: ValueThreshold, value: float | None, failure: Failure) -> str:
    if failure.message and "not found" in failure.message.lower():
        return f"{t.metric} on {failure.slice}: not computed, so threshold {t.describe()} fails"
    if t.lower is not None and value is not None and value < t.lower:
        return f"{t.metric} on {failure.slice} is {_fmt(value)}, below the lower bound {t.lower:g}"
    if t.upper is not None and value is not None and value > t.upper:
        return f"{t.metric} on {failure.slice} is {_fmt(value)}, above the upper bound {t.upper:g}"
    return f"{t.metric} on {failure.slice} is {_fmt(value)}: fails {t.describe()}"


def _change_reason(
    t: ChangeThreshold, check: ThresholdCheck, failure: Failure, baseline: BaselineInfo
) -> str:
    against = f"version {baseline.version}" if baseline.version is not None else baseline.source
    return (
        f"{t.metric} on {failure.slice} changed by {_fmt(check.diff)} against the baseline "
        f"({against}: {_fmt(check.baseline)} -> {_fmt(check.candidate)}); the change threshold "
        f"requires {t.describe()}"
    )


def decide(
    settings: EvalSettings,
    evaluation: Evaluation,
    baseline: BaselineInfo | None,
    extra_notes: tuple[str, ...] = (),
) -> Blessing:
    """extra_notes: said before the verdict's own (e.g. why a baseline was set aside)."""
    overall = evaluation.overall()
    checks: list[ThresholdCheck] = []
    reasons: list[str] = []
    failed: list[dict[str, Any]] = []
    notes: list[str] = list(extra_notes)
    used: set[int] = set()  # TFMA failures accounted for by a configured threshold

    def record(f: Failure, metric: str, extra: dict[str, Any]) -> None:
        used.add(id(f))
        failed.append(
            {
                "slice": f.slice,
                "metric": metric,
                "metric_key": f.metric,
                "kind": f.kind,
                "value": f.value,
                "bound": f.bound,
                **extra,
            }
        )

    for t in settings.thresholds:
        key = settings.key_of(t.metric)
        value = overall.candidate.get(key)
        failure = _failure_for(evaluation.failures, key, "value")
        status = FAIL if failure else PASS
        if failure:
            reasons.append(_value_reason(t, value, failure))
            record(failure, t.metric, {})
        checks.append(
            ThresholdCheck(
                t.metric,
                key,
                "value",
                t.describe(),
                OVERALL,
                value,
                (overall.baseline or {}).get(key),  # for comparison in the report only
                (overall.diff or {}).get(key),
                status,
            )
        )

    for t in settings.change_thresholds:
        key = settings.key_of(t.metric)
        if baseline is None:
            checks.append(
                ThresholdCheck(
                    t.metric,
                    key,
                    "change",
                    t.describe(),
                    OVERALL,
                    overall.candidate.get(key),
                    None,
                    None,
                    IGNORED,
                    "no baseline: the first model is judged on value thresholds only",
                )  # fmt: skip
            )
            continue
        check = ThresholdCheck(
            t.metric,
            key,
            "change",
            t.describe(),
            OVERALL,
            overall.candidate.get(key),
            (overall.baseline or {}).get(key),
            (overall.diff or {}).get(key),
            PASS,
        )
        failure = _failure_for(evaluation.failures, key, "change")
        if failure:
            check = ThresholdCheck(**{**asdict(check), "status": FAIL})
            reasons.append(_change_reason(t, check, failure, baseline))
            record(
                failure,
                t.metric,
                {"baseline_value": check.baseline, "candidate_value": check.candidate},
            )
        checks.append(check)

    # Whatever else TFMA failed on (it should be nothing) still fails the model, named.
    for f in evaluation.failures:
        if id(f) not in used:
            reasons.append(
                f"TFMA validation failed on {f.metric} ({f.kind}) on {f.slice}: value "
                f"{_fmt(f.value)}, bound {json.dumps(f.bound)}"
                + (f" ({f.message})" if f.message else "")
            )
            record(f, f.metric, {})
    if evaluation.missing_slices:
        reasons.append(
            "TFMA validation failed: no data for the threshold slice(s) "
            + ", ".join(evaluation.missing_slices)
        )

    active = [c for c in checks if c.status != IGNORED]
    if not active:
        if settings.change_thresholds and baseline is None:
            reasons.append(
                "no value thresholds, and the change thresholds need a baseline (there is "
                "none): nothing vouches for this model"
            )
        else:
            reasons.append(
                "no thresholds configured (eval_config.thresholds and change_thresholds are "
                "empty): a model is blessed only when thresholds vouch for it"
            )
    if baseline is None and settings.change_thresholds:
        notes.append(
            "No baseline model (baseline_model absent, or NO_BASELINE: no stable version in "
            "the registry): change thresholds were ignored; the model is judged on value "
            "thresholds only."
        )

    blessed = bool(active) and evaluation.validation_ok and not failed and not reasons
    if blessed:
        against = (
            f"against baseline version {baseline.version}"
            if baseline and baseline.version is not None
            else (f"against baseline {baseline.source}" if baseline else "with no baseline")
        )
        reasons.append(
            f"all {len(active)} threshold(s) pass on the overall slice {against}"
            + (f"; {len(checks) - len(active)} ignored" if len(active) < len(checks) else "")
        )
    elif not reasons:
        # TFMA said no without a failure we could name.
        reasons.append("TFMA validation did not pass")
    return Blessing(blessed, reasons, failed, checks, baseline, notes, dict(overall.candidate))


def write(blessing: Blessing, folder: str | Path) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name in (BLESSED_FILE, NOT_BLESSED_FILE):
        (out / name).unlink(missing_ok=True)
    (out / (BLESSED_FILE if blessing.blessed else NOT_BLESSED_FILE)).write_text("")
    (out / JSON_FILE).write_text(json.dumps(blessing.to_json(), indent=2) + "\n")
