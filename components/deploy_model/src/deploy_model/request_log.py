"""Sampled request log for live monitoring: one JSON line per answered request, appended to
one file per day (UTC) under a folder.

A prediction: {request_id, time, model_version, status: 200, latency_ms, instances,
predictions, task, predicted}. `predictions` are the model's output rows as answered; `task`
is the model's task and `predicted` what it predicted per instance: the class name (binary,
multiclass) or the value (regression). A request a version failed to answer (after the split
chose it): {request_id, time, model_version, status, latency_ms, error}. `latency_ms` is the
service's time from the request's body read to its answer. Lines written before tasks have no
task/predicted (they are binary); lines written before outcomes have no status/latency_ms.
Sampling is deterministic and shared by both kinds: of every N requests, rate*N are logged,
evenly spread."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MAX_ERROR_CHARS = 300  # a failure's message is evidence, not a dump


class RequestLog:
    def __init__(self, folder: str | Path, sample_rate: float = 1.0):
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"log sample rate {sample_rate}: expected 0 to 1")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sample_rate = sample_rate
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def path_for(self, when: datetime) -> Path:
        return self.folder / f"requests-{when:%Y-%m-%d}.jsonl"

    def sampled(self) -> bool:
        n = next(self._counter)
        return int((n + 1) * self.sample_rate) > int(n * self.sample_rate)

    def _append(self, entry: dict[str, Any], when: datetime) -> None:
        line = json.dumps(entry)
        with self._lock, self.path_for(when).open("a") as f:
            f.write(line + "\n")

    def record(
        self,
        request_id: str,
        model_version: int,
        instances: list[Any],
        predictions: list,
        task: str | None = None,
        predicted: list | None = None,
        latency_ms: float | None = None,
    ) -> bool:
        """Appends the answered request when sampled; returns whether it did."""
        if not self.sampled():
            return False
        when = datetime.now(UTC)
        entry: dict[str, Any] = {
            "request_id": request_id,
            "time": when.isoformat(timespec="milliseconds"),
            "model_version": str(model_version),
            "status": 200,
        }
        if latency_ms is not None:
            entry["latency_ms"] = round(latency_ms, 3)
        entry.update(instances=instances, predictions=predictions)
        if task is not None:
            entry.update(task=task, predicted=predicted)
        self._append(entry, when)
        return True

    def record_failure(
        self, request_id: str, model_version: int, status: int, latency_ms: float, error: str
    ) -> bool:
        """Appends a request the version did not answer with predictions (when sampled)."""
        if not self.sampled():
            return False
        when = datetime.now(UTC)
        self._append(
            {
                "request_id": request_id,
                "time": when.isoformat(timespec="milliseconds"),
                "model_version": str(model_version),
                "status": status,
                "latency_ms": round(latency_ms, 3),
                "error": error[:MAX_ERROR_CHARS],
            },
            when,
        )
        return True
