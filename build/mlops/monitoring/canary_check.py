"""One canary check, run by the monitoring loop (`make monitor`) after the degradation check:
the evidence about the registry's canary gathered, decided on (mlops.monitoring.canary),
applied and recorded.

- settings: `triggers.canary` (load_canary_settings; absent or `enabled: false`: no check),
  with the metric, the label folder and the request log of `triggers.degradation`;
- the canary: serving.json's `canary` (nothing to do without one); its history gives when
  the canary was deployed (its age) and when it got its current share (the start of the
  compared period: each step of a ramp is judged on the evidence gathered at that step);
- the evidence over that period: labelled predictions per version (the label join of
  mlops.monitoring.live_metrics, by the prediction's time) and request outcomes per version
  (mlops.monitoring.outcomes);
- the decision applied through deploy_model's promote, ramp and rollback modes
  (mlops.serving.traffic, as `make promote`, `make ramp` and `make rollback` run them, so
  serving.target vertex moves the endpoint's traffic too), each with `--expect-canary`: a
  canary promoted or replaced since the check looked is left alone;
- every decision (wait included) recorded in the lineage store (decisions, kind "canary")
  with its evidence; a check that cannot be made or applied is recorded "failed"."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops.core.errors import BuildError
from mlops.monitoring.canary import ON_TIMEOUT, CanarySettings, Guards, Situation, decide
from mlops.monitoring.degradation import (
    MONITORING_DIR,
    exclusive,
    labelled_predictions,
    load_degradation_settings,
    read_registry_json,
)
from mlops.monitoring.outcomes import read_outcomes

KIND = "canary"
WHERE = "triggers.canary"
KEYS = {
    "enabled", "min_labelled", "confidence", "min_improvement", "max_age_s", "on_timeout",
    "ramp", "guards",
}  # fmt: skip
GUARD_KEYS = {"min_requests", "max_error_rate_increase", "max_p99_ratio", "p99_tolerance_ms"}


# --- settings --------------------------------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse(section: dict[str, Any]) -> tuple[CanarySettings, list[str]]:
    problems: list[str] = []

    def check(where: str, value: Any, ok: bool, expected: str, default: Any) -> Any:
        if ok:
            return value
        state = "missing" if value is None else f"{value!r}"
        problems.append(f"{where} is {state}; expected {expected}")
        return default

    unknown = sorted(set(section) - KEYS)
    if unknown:
        problems.append(
            f"{WHERE} has no setting {', '.join(unknown)}; the settings are "
            f"{', '.join(sorted(KEYS))}"
        )
    enabled = section.get("enabled", True)
    check(f"{WHERE}.enabled", enabled, isinstance(enabled, bool), "true or false", True)
    v = section.get("min_labelled")
    min_labelled = check(
        f"{WHERE}.min_labelled", v, isinstance(v, int) and not isinstance(v, bool) and v >= 10,
        "an integer of at least 10 (labelled predictions per version)", 10,
    )  # fmt: skip
    v = section.get("confidence")
    confidence = check(
        f"{WHERE}.confidence", v, _number(v) and 0.5 <= v < 1,
        "a number from 0.5 to below 1, e.g. 0.95", 0.95,
    )  # fmt: skip
    v = section.get("min_improvement", 0.0)
    min_improvement = check(
        f"{WHERE}.min_improvement", v, _number(v) and v >= 0,
        "a number of at least 0 (in the metric's units)", 0.0,
    )  # fmt: skip
    v = section.get("max_age_s")
    max_age_s = check(f"{WHERE}.max_age_s", v, _number(v) and v > 0, "seconds above 0", 1.0)
    v = section.get("on_timeout")
    on_timeout = check(
        f"{WHERE}.on_timeout", v, v in ON_TIMEOUT, " or ".join(ON_TIMEOUT), "rollback"
    )
    v = section.get("ramp") or []
    good_ramp = (
        isinstance(v, list)
        and all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 100 for s in v)
        and all(a < b for a, b in zip(v, v[1:], strict=False))
    )
    ramp = check(
        f"{WHERE}.ramp", v, good_ramp,
        "a list of increasing traffic shares from 1 to 100, e.g. [10, 25, 50], or []", [],
    )  # fmt: skip
    g = section.get("guards")
    if not isinstance(g, dict):
        problems.append(f"{WHERE}.guards is {'missing' if g is None else repr(g)}; expected a "
                        f"mapping of {', '.join(sorted(GUARD_KEYS))}")  # fmt: skip
        g = {}
    elif set(g) - GUARD_KEYS:
        problems.append(
            f"{WHERE}.guards has no setting {', '.join(sorted(set(g) - GUARD_KEYS))}; the "
            f"settings are {', '.join(sorted(GUARD_KEYS))}"
        )
    gk = f"{WHERE}.guards"
    v = g.get("min_requests")
    min_requests = check(
        f"{gk}.min_requests", v, isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "a positive integer (answered requests per version)", 1,
    )  # fmt: skip
    v = g.get("max_error_rate_increase")
    error_increase = check(
        f"{gk}.max_error_rate_increase", v, _number(v) and 0 <= v < 1,
        "a share from 0 to below 1, e.g. 0.01", 0.0,
    )  # fmt: skip
    v = g.get("max_p99_ratio")
    p99_ratio = check(f"{gk}.max_p99_ratio", v, _number(v) and v >= 1, "a number of at least 1",
                      1.0)  # fmt: skip
    v = g.get("p99_tolerance_ms", 0.0)
    tolerance = check(f"{gk}.p99_tolerance_ms", v, _number(v) and v >= 0,
                      "milliseconds, at least 0", 0.0)  # fmt: skip
    settings = CanarySettings(
        min_labelled=min_labelled,
        confidence=float(confidence),
        min_improvement=float(min_improvement),
        max_age_s=float(max_age_s),
        on_timeout=on_timeout,
        ramp=tuple(ramp),
        guards=Guards(min_requests, float(error_increase), float(p99_ratio), float(tolerance)),
        enabled=enabled,
    )
    return settings, problems


def load_canary_settings(root: Path, env: str | None = None) -> CanarySettings | None:
    """triggers.canary checked, every problem named (BuildError); None when absent."""
    from mlops.core.settings import load_raw

    path = root / "settings.yaml"
    raw = load_raw(path, env)
    section = (raw.get("triggers") or {}).get("canary")
    if section is None:
        return None
    if not isinstance(section, dict):
        raise BuildError(f"{path} (environment {raw['env']!r}): {WHERE} is {section!r}; "
                         "expected a mapping")  # fmt: skip
    settings, problems = _parse(section)
    if problems:
        raise BuildError(f"{path} (environment {raw['env']!r}): " + "; ".join(problems))
    return settings


# --- the canary's history --------------------------------------------------------------------


def _at(entry: dict[str, Any]) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(entry.get("at")))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def canary_times(history: list[dict], version: str) -> tuple[datetime | None, datetime | None]:
    """(when `version` last became the canary, when it got its current share) from
    serving.json's history; None when the history does not say (a hand-written file)."""
    deployed = step = None
    previous: tuple[str, Any] | None = None
    for entry in history:
        canary = entry.get("canary")
        now = (
            (str(canary.get("version")), canary.get("traffic_percent"))
            if isinstance(canary, dict)
            else None
        )
        if now is not None and now[0] == version:
            if previous is None or previous[0] != version:
                deployed = step = _at(entry)
            elif previous[1] != now[1]:
                step = _at(entry)
        previous = now
    return deployed, step


# --- one check -------------------------------------------------------------------------------


@dataclass
class CanaryResult:
    decision: str  # promote | ramp | rollback | wait | failed
    reason: str
    stable: str | None = None
    canary: str | None = None
    percent: int | None = None
    to_percent: int | None = None
    timed_out: bool = False
    evidence: dict[str, Any] = field(default_factory=dict)
    applied: dict[str, Any] | None = None  # deploy_model's record of the change


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _analyse(root: Path, env: str | None, settings: CanarySettings, state: dict, at: float):
    degradation = load_degradation_settings(root, env)
    stable = str(state["stable"])
    canary = str(state["canary"]["version"])
    percent = int(state["canary"].get("traffic_percent") or 0)
    deployed_at, step_at = canary_times(state.get("history") or [], canary)
    task, joined = labelled_predictions(degradation, stable)
    rows = [r for r in joined.labelled if step_at is None or r.time >= step_at]
    outcomes = read_outcomes(degradation.model_log, {stable, canary}, step_at)
    situation = Situation(
        stable=stable,
        canary=canary,
        percent=percent,
        age_s=None if deployed_at is None else at - deployed_at.timestamp(),
        since=None if step_at is None else step_at.isoformat(timespec="milliseconds"),
    )
    decision = decide(
        settings,
        degradation.metric,
        task.task,
        situation,
        [r for r in rows if r.model_version == stable],
        [r for r in rows if r.model_version == canary],
        outcomes[stable],
        outcomes[canary],
    )
    evidence = decision.evidence or {}
    evidence["task"] = task.describe()
    evidence["deployed_at"] = (
        None if deployed_at is None else deployed_at.isoformat(timespec="milliseconds")
    )
    return CanaryResult(
        decision.decision,
        decision.reason,
        stable,
        canary,
        percent,
        decision.to_percent,
        decision.timed_out,
        evidence,
    )


def _apply(root: Path, env: str | None, result: CanaryResult) -> dict[str, Any]:
    """The decision through deploy_model's mode (mlops.serving.traffic); its record."""
    from mlops.core.model_settings import load_model_settings
    from mlops.serving import traffic

    model = load_model_settings(root, env)
    printed = traffic.change(
        root,
        model,
        result.decision,
        percent=result.to_percent if result.decision == "ramp" else None,
        expect_canary=int(result.canary),
    )
    # The record is the JSON object printed last (the Vertex AI module logs lines before).
    lines = printed.splitlines()
    start = max((i for i, line in enumerate(lines) if line == "{"), default=0)
    try:
        record = json.loads("\n".join(lines[start:]))
    except ValueError:
        return {"output": printed[-2000:]}
    keys = ("mode", "stable", "canary", "version", "reason", "vertex")
    return {k: record.get(k) for k in keys}


def check(
    root: Path,
    *,
    env: str | None = None,
    lineage_db: Path | None = None,
    now: float | None = None,
) -> CanaryResult | None:
    """One check of the registry's canary: decided, applied, recorded. None when there is
    nothing to check (no triggers.canary, enabled false, no canary serving). Bad settings, a
    label file that does not parse or a change deploy_model refuses give a "failed" result
    (recorded), not an exception."""
    from mlops.core.model_settings import load_model_settings
    from mlops.lineage.store import DEFAULT_DB, LineageStore

    root = Path(root)
    at = time.time() if now is None else now
    with exclusive(root / MONITORING_DIR, KIND):
        model_name = None
        try:
            settings = load_canary_settings(root, env)
            if settings is None or not settings.enabled:
                return None
            model = load_model_settings(root, env)
            model_name = model.name
            state = read_registry_json(model.serving.registry, f"{model.name}/serving.json")
            canary = (state or {}).get("canary")
            if not isinstance(canary, dict) or canary.get("version") is None:
                return None
            result = _analyse(root, env, settings, state, at)
        except BuildError as e:
            result = CanaryResult("failed", f"the canary check could not be made: {e}")
        intended = result.decision
        if intended in ("promote", "ramp", "rollback"):
            try:
                result.applied = _apply(root, env, result)
            except BuildError as e:
                result.decision = "failed"
                result.reason = f"{intended} could not be applied ({e}); it was decided: " + (
                    result.reason
                )
        with LineageStore(lineage_db or root / DEFAULT_DB) as store:
            store.record_decision(
                KIND,
                result.decision,
                result.reason,
                None,
                {
                    "model_name": model_name,
                    "stable": result.stable,
                    "canary": result.canary,
                    "percent": result.percent,
                    "to_percent": result.to_percent,
                    "timed_out": result.timed_out,
                    "intended": intended,
                    "applied": result.applied,
                    "evidence": result.evidence,
                    "checked_at": _when(at),
                },
                at=at,
            )
    return result
