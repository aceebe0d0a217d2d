"""What started each run, read from the trigger decisions beside the lineage (each trigger
records the run it started: mlops.triggers.drift, mlops.triggers.watcher,
mlops.monitoring.degradation). A run no decision names was started by a person (`make run`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A decision's kind, as the cause of the runs it names.
LABELS = {
    "new_data": "new data",
    "drift": "drift",
    "degradation": "degradation",
    "schedule": "a schedule",
}
PERSON = "a person"


@dataclass(frozen=True)
class Cause:
    label: str  # a person | a schedule | new data | drift | degradation
    reason: str  # the decision's reason ("" for a person)
    decision_id: int | None = None


def causes_by_run(decisions: list[dict[str, Any]]) -> dict[str, Cause]:
    """{run id: its cause}. The run a decision names (`run_id`) is the one it started: the
    new-data trigger names its drift check run, the drift trigger its training run, the
    degradation monitor its retraining run. A drift decision also names the check run it
    read (`details.check_run`): that run was started for new data."""
    found: dict[str, Cause] = {}
    for d in sorted(decisions, key=lambda d: (d["at"], d["id"])):
        label = LABELS.get(d["kind"], d["kind"].replace("_", " "))
        if d.get("run_id"):
            found[d["run_id"]] = Cause(label, d.get("reason") or "", d["id"])
        check = (d.get("details") or {}).get("check_run")
        if d["kind"] == "drift" and check and check not in found:
            why = f"drift check: {d.get('reason') or ''}"
            found[check] = Cause(LABELS["new_data"], why, d["id"])
    return found


def cause_of(run_id: str, causes: dict[str, Cause]) -> Cause:
    return causes.get(run_id) or Cause(PERSON, "no trigger decision names this run: make run")
