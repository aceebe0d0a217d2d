"""For the trigger tests: a project with a `triggers` section, and a stand-in for
mlops.triggers.runs.start_run that records what it was asked to start and writes the lineage a
real local run leaves (a run, a validate-data execution with its statistics and anomalies
outputs, summary.json inside), so the drift trigger reads its verdict the way it reads a real
run's. The real runner is tested in test_trigger_runs.py and test_drift_trigger.py's Docker
test."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from mlops.lineage.store import DEFAULT_DB, LineageStore
from mlops.local_runs.runner import ArtifactRecord, TaskRecord
from mlops.testing.projects import repo_settings
from mlops.triggers.runs import StartedRun


def trigger_project(root: Path, **changes: Any) -> Path:
    """The repository's settings.yaml with triggers.new_data.prefix at ROOT/incoming;
    `changes` maps dotted keys to values (None deletes the key)."""
    root.mkdir(parents=True, exist_ok=True)
    settings = repo_settings()
    settings["triggers"]["new_data"]["prefix"] = "incoming"
    for dotted, value in changes.items():
        section = settings
        *parents, last = dotted.split(".")
        for part in parents:
            section = section.setdefault(part, {})
        if value is None:
            section.pop(last, None)
        else:
            section[last] = value
    (root / "settings.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    (root / "incoming").mkdir(exist_ok=True)
    return root


def write_span(root: Path, name: str, text: str = "a,b\n1,2\n", age_s: float = 60.0) -> Path:
    """A file under incoming/, older than the watcher's settle time."""
    path = root / "incoming" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def summary(drifted: list[str] = (), other: list[dict] = ()) -> dict:
    """A validate_data summary.json as the component writes it."""
    anomalies = [
        {"section": "train", "feature": f, "anomaly": "High approximate Jensen-Shannon divergence"}
        for f in drifted
    ] + list(other)
    return {
        "decision": "stop" if anomalies else "continue",
        "anomalies": anomalies,
        "drifted_features": list(drifted),
        "skewed_features": [],
        "measurements": [
            {
                "feature": f,
                "comparison": "drift",
                "measure": "jensen_shannon_divergence",
                "value": 0.4 if f in drifted else 0.02,
                "threshold": 0.15,
            }
            for f in ("fare", *[d for d in drifted if d != "fare"])
        ],
    }


class FakeStart:
    """start_run's stand-in. `verdicts` maps a span's file name to the summary its check
    finds (default: no drift); a name in `fail_checks` makes the check run fail at
    extract-data. Every call is kept in `calls`; `delay_s` keeps a run going for a while."""

    def __init__(self, root: Path, verdicts: dict | None = None, fail_checks=(), delay_s=0.0):
        self.root = root
        self.verdicts = verdicts or {}
        self.fail_checks = set(fail_checks)
        self.delay_s = delay_s
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def pipelines(self) -> list[str]:
        return [c["pipeline"] for c in self.calls]

    def __call__(self, root, pipeline, reason, *, data=None, env=None, previous_statistics=None):
        with self._lock:
            self.calls.append(
                {
                    "pipeline": pipeline,
                    "reason": reason,
                    "data": data,
                    "env": env,
                    "previous_statistics": previous_statistics,
                }
            )
        time.sleep(self.delay_s)
        name = Path(str(data)).name
        run_dir = self.root / "runs" / uuid.uuid4().hex[:8]
        with LineageStore(self.root / DEFAULT_DB) as store:
            run_id = store.start_run(pipeline, {"source": data}, pipeline_root=run_dir)
            if pipeline == "validate_pipeline" and name in self.fail_checks:
                record = TaskRecord("extract-data", "comp-extract-data", "img", started_at=1.0)
                execution = store.start_execution(run_id, record)
                record.status, record.exit_code = "FAILURE", 1
                record.log_tail = ["ValueError: the file is not a CSV"]
                store.finish_execution(execution, record)
                store.finish_run(run_id, "FAILED", "extract-data", "exit code 1: not a CSV")
                return StartedRun(run_id, pipeline, "local", "FAILED", reason, {})
            if pipeline == "validate_pipeline":
                statistics, anomalies = run_dir / "statistics", run_dir / "anomalies"
                statistics.mkdir(parents=True)
                anomalies.mkdir(parents=True)
                found = self.verdicts.get(name, summary())
                (anomalies / "summary.json").write_text(json.dumps(found))
                record = TaskRecord("validate-data", "comp-validate-data", "img", started_at=1.0)
                execution = store.start_execution(run_id, record)
                record.status = "SUCCESS"
                record.output_artifacts = [
                    ArtifactRecord("statistics", "system.Artifact", str(statistics)),
                    ArtifactRecord("anomalies", "system.Artifact", str(anomalies)),
                ]
                store.finish_execution(execution, record)
            store.finish_run(run_id, "SUCCEEDED")
        return StartedRun(run_id, pipeline, "local", "SUCCEEDED", reason, {})
