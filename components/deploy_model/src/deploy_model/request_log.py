"""Sampled request log for live monitoring: JSON lines {request_id, time, model_version,
instances, predictions, task, predicted} appended to one file per day (UTC) under a folder.
`predictions` are the model's output rows as answered; `task` is the model's task and
`predicted` what it predicted per instance: the class name (binary, multiclass) or the value
(regression). Lines written before tasks have no task/predicted (they are binary). Sampling
is deterministic: of every N requests, rate*N are logged, evenly spread."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


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

    def record(
        self,
        request_id: str,
        model_version: int,
        instances: list[Any],
        predictions: list,
        task: str | None = None,
        predicted: list | None = None,
    ) -> bool:
        """Appends the request when sampled; returns whether it did."""
        if not self.sampled():
            return False
        when = datetime.now(UTC)
        entry = {
            "request_id": request_id,
            "time": when.isoformat(timespec="milliseconds"),
            "model_version": str(model_version),
            "instances": instances,
            "predictions": predictions,
        }
        if task is not None:
            entry.update(task=task, predicted=predicted)
        line = json.dumps(entry)
        with self._lock, self.path_for(when).open("a") as f:
            f.write(line + "\n")
        return True
