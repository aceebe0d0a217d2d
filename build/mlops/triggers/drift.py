"""The drift trigger: for a new span, a validate-only pipeline run (pipelines/validate_pipeline)
on it against the statistics the serving model was trained on; its summary decides.

- drift beyond data.validation.drift's thresholds (`drifted_features` non-empty) and nothing
  else wrong: a training run (ct_pipeline) on the span when triggers.drift.retrain_on_drift;
- no drift, no anomaly: the check is recorded and nothing runs;
- any other anomaly (schema: a missing or unexpected column, a wrong type, an unreadable
  file) or a failed check run: a failed check with the reason, nothing started.

How a retraining run on drifted data gets through the CT pipeline's own data gate (which
stops on ANY anomaly, drift against the serving model's statistics included): the training
run gets, as its drift reference, the statistics this check computed on the span itself
(validate-data's `statistics` output of the check run). So the CT run's gate still checks
the span against the schema (and a span replaced in between would be a new span anyway), and
measures the drift of the span against itself (none: same rows, same split fingerprint)
instead of repeating the drift verdict that started it. Why not a NO_STATISTICS marker: the
reference would say "first run" in the lineage, where this one records which check the
training came from (the CT run's validate step takes the check's statistics as its input).

The check reads its verdict from the local lineage store (the summary.json of the check run's
validate-data `anomalies` output), so the check itself runs locally (deploy.target none); the
training run goes wherever `start` sends it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.core.errors import BuildError

KIND = "drift"


@dataclass
class Decision:
    kind: str  # new_data | drift | degradation
    decision: str  # new_data: check, skipped, duplicate, failed; drift: see check_span
    reason: str
    run_id: str | None = None  # the run this decision started, if any
    span: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    decision_id: int | None = None  # the row in the lineage store's decisions table

    @property
    def failed(self) -> bool:
        return self.decision == "failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "decision": self.decision,
            "reason": self.reason,
            "run_id": self.run_id,
            "span": self.span,
            "details": self.details,
            "decision_id": self.decision_id,
        }


def record(root: Path, decision: Decision, at: float | None = None) -> Decision:
    """Writes the decision beside the lineage of the run it started."""
    from mlops.lineage.store import DEFAULT_DB, LineageStore

    with LineageStore(root / DEFAULT_DB) as store:
        decision.decision_id = store.record_decision(
            decision.kind,
            decision.decision,
            decision.reason,
            decision.run_id,
            {"span": decision.span, **decision.details},
            at=at,
        )
    return decision


def _default_start():
    from mlops.triggers.runs import start_run

    return start_run


def check_outputs(root: Path, run_id: str) -> dict[str, Any]:
    """The check run as the lineage store has it: status, reason, and validate-data's
    summary (from its `anomalies` output) and statistics URI when the step ran."""
    from mlops.lineage.store import DEFAULT_DB, LineageStore

    with LineageStore(root / DEFAULT_DB) as store:
        run = store.run(run_id)
    found: dict[str, Any] = {
        "status": run["status"],
        "failed_task": run["failed_task"],
        "reason": run["reason"],
        "summary": None,
        "statistics": None,
    }
    for task in run["tasks"]:
        if task["task"] != "validate-data" or task["status"] != "SUCCESS":
            continue
        for artifact in task["outputs"]:
            if artifact["event_name"] == "anomalies":
                path = Path(artifact["uri"]) / "summary.json"
                if path.is_file():
                    found["summary"] = json.loads(path.read_text())
            elif artifact["event_name"] == "statistics":
                found["statistics"] = artifact["uri"]
    return found


def classify(summary: dict[str, Any]) -> tuple[list[str], list[dict], list[dict]]:
    """(drifted features, drift measurements over threshold, other anomalies). An anomaly
    of a drifted feature in the section drift is measured on is the drift itself; every
    other anomaly is a problem of the data (schema, types, missing data)."""
    drifted = list(summary.get("drifted_features") or [])
    measurements = [
        m
        for m in summary.get("measurements") or []
        if m.get("comparison") == "drift" and m.get("value", 0) > m.get("threshold", 1)
    ]
    other = [
        a
        for a in summary.get("anomalies") or []
        if not (a.get("feature") in drifted and a.get("section") == "train")
    ]
    return drifted, measurements, other


def _measured(measurements: list[dict]) -> str:
    return ", ".join(
        f"{m['feature']} ({m.get('measure', 'distance')} {m['value']:.3f} > {m['threshold']})"
        for m in measurements
    )


def check_span(
    root: Path,
    span: str,
    *,
    env: str | None = None,
    start: Callable[..., Any] | None = None,
    span_key: str | None = None,
    data: str | None = None,
) -> Decision:
    """Runs the drift check on `span` (a file or folder path, or gs:// URI), decides, starts
    the training run if the decision is to retrain, and records the decision (kind drift):
    retrain | drift_not_retrained | no_drift | failed. Never raises for bad data or bad
    settings: those are failed checks with the reason."""
    from mlops.core.trigger_settings import TriggerSettingsError, load_trigger_settings

    start = start or _default_start()
    data = data or span  # a partition's runs read its files (a glob), not its markers
    details: dict[str, Any] = {"span_key": span_key, "data": data}

    def decide(decision: str, reason: str, run_id: str | None = None) -> Decision:
        print(f"[drift] {span}: {decision}: {reason}", flush=True)
        return record(root, Decision(KIND, decision, reason, run_id, span, details))

    try:
        settings = load_trigger_settings(root, env)
    except TriggerSettingsError as e:
        return decide("failed", f"the drift check cannot run: {e}")
    details["thresholds"] = {
        "numeric_jsd": settings.drift_numeric_jsd,
        "categorical_linf": settings.drift_categorical_linf,
    }
    if settings.target != "none":
        return decide(
            "failed",
            f"environment {settings.env!r} runs pipelines on deploy.target "
            f"{settings.target!r}: the drift check reads its verdict from the local lineage "
            "store, so it runs with kfp.local (deploy.target none)",
        )
    try:
        check = start(
            root, "validate_pipeline", f"drift check of new span {span}", data=data, env=env
        )
    except BuildError as e:
        return decide("failed", f"the drift check could not start: {e}")
    details["check_run"] = check.run_id
    outputs = check_outputs(root, check.run_id)
    summary = outputs["summary"]
    if check.status != "SUCCEEDED" or summary is None:
        where = outputs["failed_task"] or "a step"
        why = outputs["reason"] or check.details.get("error") or check.status
        return decide("failed", f"the drift check run {check.run_id} failed at {where}: {why}")
    drifted, measurements, other = classify(summary)
    details.update(
        drifted_features=drifted,
        measurements=[
            m for m in summary.get("measurements") or [] if m.get("comparison") == "drift"
        ],
        anomalies=summary.get("anomalies") or [],
        check_statistics=outputs["statistics"],
        check_decision=summary.get("decision"),
    )
    if other:
        listed = "; ".join(f"{a['section']}: {a['feature']}: {a['anomaly']}" for a in other)
        return decide("failed", f"the span is not fit ({len(other)} anomalies: {listed})")
    if not drifted:
        return decide("no_drift", "no feature drifted beyond data.validation.drift's thresholds")
    found = f"drift in {', '.join(drifted)}: {_measured(measurements) or 'over threshold'}"
    if not settings.retrain_on_drift:
        return decide("drift_not_retrained", f"{found}; triggers.drift.retrain_on_drift is false")
    try:
        training = start(
            root,
            "ct_pipeline",
            f"drift in {', '.join(drifted)} on new span {span}",
            data=data,
            env=env,
            previous_statistics=outputs["statistics"],
        )
    except BuildError as e:
        return decide("failed", f"{found}; the training run could not start: {e}")
    details["training"] = {
        "run_id": training.run_id,
        "target": training.target,
        "status": training.status,
        **{k: v for k, v in training.details.items() if k in ("error", "failed_task", "job")},
    }
    ended = f" ({training.status})" if training.status else ""
    return decide("retrain", f"{found}: training run {training.run_id}{ended}", training.run_id)
