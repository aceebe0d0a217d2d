"""What the pages show, read from the lineage store (runs, steps, artifacts, decisions) and
the run folders: one short-lived store connection per question, so a page always shows the
store as it is now, while a run is writing it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.lineage.store import LineageError, LineageStore
from mlops.ui import causes, files

LOG_LIMIT = 1 << 20  # a longer step log shows its last MiB on the page (the file is linked)
RUNS_SHOWN = 200


class NotFound(LookupError):
    """No such run, step or artifact; the message says which."""


@dataclass(frozen=True)
class Project:
    root: Path
    db: Path
    env: str | None
    registries: tuple[str, ...]  # the local model registries of the use cases

    @property
    def roots(self) -> list[Path]:
        found = []
        for registry in self.registries or (None,):
            found += [r for r in files.allowed_roots(self.root, registry) if r not in found]
        return found

    @contextlib.contextmanager
    def store(self) -> Iterator[LineageStore | None]:
        """The store, or None before the first run recorded one (nothing is created)."""
        if not self.db.is_file():
            yield None
            return
        with LineageStore(self.db) as store:
            yield store

    # --- runs ---------------------------------------------------------------------------------

    def runs(self, limit: int = RUNS_SHOWN) -> list[dict[str, Any]]:
        with self.store() as store:
            if store is None:
                return []
            runs = store.runs(limit)
            by_run = causes.causes_by_run(store.decisions())
            counts = dict(
                store.db.execute(
                    "SELECT run_id, count(*) FROM executions GROUP BY run_id"
                ).fetchall()
            )
        for run in runs:
            run["cause"] = causes.cause_of(run["id"], by_run)
            run["steps"] = counts.get(run["id"], 0)
            run["model"] = (run["parameters"] or {}).get("model_name")
            run["source"] = (run["parameters"] or {}).get("source")
        return runs

    def run(self, run_id: str) -> dict[str, Any]:
        with self.store() as store:
            if store is None:
                raise NotFound("no lineage store yet: `make run` records every local run")
            try:
                run = store.run(run_id)
            except LineageError as e:
                raise NotFound(str(e)) from None
            run["cause"] = causes.cause_of(run["id"], causes.causes_by_run(store.decisions()))
            for task in run["tasks"]:
                task["cached_run"] = None
                if task.get("cached_from") is not None:  # the step whose outputs it reused
                    row = store.db.execute(
                        "SELECT run_id, task FROM executions WHERE id = ?", (task["cached_from"],)
                    ).fetchone()
                    task["cached_run"] = dict(row) if row else None
        run["model"] = (run["parameters"] or {}).get("model_name")
        run["source"] = (run["parameters"] or {}).get("source")
        run["report"] = self.report_path(run)
        for task in run["tasks"]:
            task["log"] = self.log_path(run, task)
        return run

    def report_path(self, run: dict[str, Any]) -> Path | None:
        """The run's one-page report (ct_run writes <run_dir>/report.html), if served."""
        if not run.get("pipeline_root"):
            return None
        try:
            return files.checked(Path(run["pipeline_root"]) / "report.html", self.roots)
        except files.NotServed:
            return None

    def log_path(self, run: dict[str, Any], task: dict[str, Any]) -> Path | None:
        """The step's whole log (<run_dir>/logs/<task>.log), if written and served."""
        candidates = [task.get("log_path")]
        if run.get("pipeline_root"):
            candidates.append(Path(run["pipeline_root"]) / "logs" / f"{task['task']}.log")
        for candidate in filter(None, candidates):
            with contextlib.suppress(files.NotServed):
                return files.checked(candidate, self.roots)
        return None

    def state(self, run_id: str) -> dict[str, Any]:
        """What changes while a run goes: its status and each step's. `token` changes
        whenever any of it does, so a page can reload only then."""
        run = self.run(run_id)
        steps = [[t["task"], t["status"], t["ended_at"]] for t in run["tasks"]]
        shape = json.dumps([run["status"], run["ended_at"], steps], default=str)
        return {
            "run": run["id"],
            "status": run["status"],
            "running": run["status"] == "RUNNING",
            "steps": {t: s for t, s, _ in steps},
            "token": hashlib.sha256(shape.encode()).hexdigest()[:16],
        }

    def runs_state(self) -> dict[str, Any]:
        runs = self.runs(limit=50)
        shape = json.dumps([[r["id"], r["status"], r["steps"]] for r in runs])
        return {
            "running": [r["id"] for r in runs if r["status"] == "RUNNING"],
            "token": hashlib.sha256(shape.encode()).hexdigest()[:16],
        }

    # --- steps --------------------------------------------------------------------------------

    def step(self, run_id: str, task: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the run, the step: its last execution of `task`, with its log)."""
        run = self.run(run_id)
        found = [t for t in run["tasks"] if t["task"] == task]
        if not found:
            raise NotFound(f"run {run['id']} has no step {task!r}")
        step = found[-1]
        step["log_text"], step["log_cut"] = self.log_text(step)
        return run, step

    def log_text(self, step: dict[str, Any]) -> tuple[str, bool]:
        """The step's log: its file (its last MiB when longer: True), else the tail the
        store keeps."""
        path = step.get("log")
        if path is None:
            return "\n".join(step["log_tail"]), False
        with path.open("rb") as f:
            f.seek(0, 2)
            length = f.tell()
            f.seek(max(0, length - LOG_LIMIT))
            text = f.read().decode("utf-8", errors="replace")
        return text, length > LOG_LIMIT

    # --- artifacts ----------------------------------------------------------------------------

    def artifact(self, artifact_id: int) -> dict[str, Any]:
        with self.store() as store:
            if store is None:
                raise NotFound("no lineage store yet")
            try:
                artifact = store.artifact_by_id(artifact_id)
            except LineageError as e:
                raise NotFound(str(e)) from None
            artifact["uses"] = store.uses_of(artifact_id)
            artifact["lineage"] = store.lineage(artifact["uri"])
        producers = [u for u in artifact["uses"] if u["kind"] == "OUTPUT"]
        # the execution that made it (a cached one only reused it)
        made = [u for u in producers if u["cached_from"] is None] or producers
        artifact["producer"] = made[0] if made else None
        path = Path(artifact["uri"])
        local = "://" not in artifact["uri"]
        artifact["served"] = local and files.inside(path, self.roots)
        artifact["exists"] = local and path.exists()
        artifact["files"], artifact["file_count"] = (
            files.listing(path, self.roots) if artifact["served"] else ([], 0)
        )
        artifact["html"] = [
            f.relative for f in artifact["files"] if files.is_html(self.file_of(artifact, f))
        ]
        return artifact

    def file_of(self, artifact: dict[str, Any], relative: str | files.Listed) -> Path:
        """A file of the artifact (the artifact itself when it is one file), checked."""
        relative = relative.relative if isinstance(relative, files.Listed) else relative
        base = Path(artifact["uri"])
        if base.is_file():
            if relative != base.name:
                raise files.NotServed(f"{relative}: not a file of artifact {artifact['id']}")
            return files.checked(base, self.roots)
        return files.checked(files.below(base, relative), self.roots, below=base)

    # --- decisions ----------------------------------------------------------------------------

    def decisions(self, limit: int = 300) -> list[dict[str, Any]]:
        with self.store() as store:
            if store is None:
                return []
            decisions = store.decisions(limit=limit)
            known = {r[0] for r in store.db.execute("SELECT id FROM runs")}
        for d in decisions:
            details = d["details"] or {}
            d["run_known"] = d["run_id"] in known
            d["check_run"] = details.get("check_run")
            d["check_known"] = d["check_run"] in known
            d["span"] = details.get("span")
        return decisions


def now() -> float:
    return time.time()
