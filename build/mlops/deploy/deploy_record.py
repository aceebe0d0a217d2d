"""dist/deployments/<env>/<pipeline>/<commit>.json: what one deploy did, stage by stage,
written after each stage, so a failure part-way leaves a record of what was and was not
deployed (and a re-run, which skips what exists, completes it)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


class DeployRecord:
    def __init__(self, root: Path, env: str, pipeline: str, commit: str, target: str):
        self.path = root / "dist" / "deployments" / env / pipeline / f"{commit}.json"
        self.data: dict[str, Any] = {
            "env": env,
            "pipeline": pipeline,
            "commit": commit,
            "target": target,
            "status": "in progress",
            "started_at": _now(),
            "stages": {},
        }
        self.save()

    @property
    def folder(self) -> Path:
        """Beside the record: the files this deploy writes (the package it submits)."""
        return self.path.with_name(self.data["commit"])

    def note(self, name: str, value: Any) -> None:
        """A fact about the whole deploy rather than one stage (e.g. its step caching)."""
        self.data[name] = value
        self.save()

    def stage(self, name: str, result: Any) -> None:
        self.data["stages"][name] = result
        self.save()

    def finish(self, error: str | None = None) -> None:
        self.data["status"] = "failed" if error else "deployed"
        if error:
            self.data["error"] = error
        self.data["finished_at"] = _now()
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str) + "\n")
        os.replace(tmp, self.path)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
