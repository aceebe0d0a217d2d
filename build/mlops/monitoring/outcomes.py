"""Per-version request outcomes from the prediction service's request log: how many requests
each model version answered, how many of them failed, and their latencies. The canary
analysis' operational guards (mlops.monitoring.canary) compare them before any label arrives.

The service logs every sampled request the traffic split gave to a version
(deploy_model.request_log): `status` 200 with predictions, or the error status it answered
(a 5xx when the model failed, a 4xx when the version refused the input), with `latency_ms`.
Lines written before the service logged outcomes have no status and are not counted."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass
class Outcomes:
    """One version's answered requests over a period."""

    requests: int = 0
    errors: int = 0  # answers other than 200
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, status: int, latency_ms: float | None) -> None:
        self.requests += 1
        self.errors += status != 200
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if latency_ms is not None:
            self.latencies_ms.append(latency_ms)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def p99_ms(self) -> float | None:
        """The 99th percentile latency, nearest rank (the value 99% of requests are within)."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]

    def describe(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "p99_ms": self.p99_ms,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }


def _status(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        return None
    return value


def read_outcomes(
    request_log: Path, versions: set[str], since: datetime | None = None
) -> dict[str, Outcomes]:
    """{version: Outcomes} of the given versions over the requests logged at or after `since`
    (all when None). Day files wholly before `since` are not read; unreadable lines are
    skipped (a torn last line of a killed service)."""
    found = {v: Outcomes() for v in versions}
    if not request_log.is_dir():
        return found
    first_day = f"requests-{since:%Y-%m-%d}.jsonl" if since else ""
    for path in sorted(request_log.glob("requests-*.jsonl")):
        if path.name < first_day:
            continue
        with path.open(errors="replace") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                    version = str(entry["model_version"])
                    status = _status(entry.get("status"))
                    if version not in found or status is None:
                        continue
                    if since is not None and datetime.fromisoformat(entry["time"]) < since:
                        continue
                    latency = entry.get("latency_ms")
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
                ok = isinstance(latency, int | float) and not isinstance(latency, bool)
                found[version].add(status, float(latency) if ok else None)
    return found
