"""A local lineage store in SQLite, answering the questions ML Metadata answers on a cluster
(ml-metadata does not install here): which runs ran, with which images and parameters; which
execution produced an artifact and from which inputs; which data trained a model.

    runs        one pipeline run: pipeline, package, times, status, environment, parameters,
                outputs, the failed task and why
    executions  one task of a run: component, image reference and digest, status, times,
                exit code, peak memory, parameters in and out, the log tail and the log file
    artifacts   one per URI: type, name, metadata, a fingerprint of small local contents
    events      execution -> artifact, INPUT or OUTPUT, under the task's input/output name
    decisions   trigger decisions (time, kind, decision, reason, run), for the triggers
    cache_entries  the executions a later task with the same cache key may reuse (its key's
                parts, to explain a miss); an execution that reused one names it (cached_from)

Recording a run is in mlops.lineage.recording, its text in mlops.lineage.render, the
command line's questions in mlops.lineage.questions."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from mlops.core.errors import BuildError

DEFAULT_DB = Path(".local") / "lineage.sqlite"
FINGERPRINT_LIMIT = 1 << 20  # contents larger than this (1 MiB) are not hashed

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    package TEXT,
    pipeline_root TEXT,
    started_at REAL NOT NULL,
    ended_at REAL,
    status TEXT NOT NULL,
    environment TEXT NOT NULL DEFAULT '{}',
    parameters TEXT NOT NULL DEFAULT '{}',
    outputs TEXT,
    failed_task TEXT,
    reason TEXT
);
CREATE TABLE IF NOT EXISTS executions (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    task TEXT NOT NULL,
    component TEXT,
    image_ref TEXT,
    image_id TEXT,
    image_digest TEXT,
    status TEXT NOT NULL,
    exit_code INTEGER,
    error TEXT,
    started_at REAL,
    ended_at REAL,
    peak_memory_bytes INTEGER,
    peak_rss_bytes INTEGER,
    input_parameters TEXT NOT NULL DEFAULT '{}',
    output_parameters TEXT NOT NULL DEFAULT '{}',
    log_tail TEXT NOT NULL DEFAULT '[]',
    cache_key TEXT,
    cached_from INTEGER,
    cache_note TEXT,
    outputs_spec TEXT,
    log_path TEXT
);
CREATE INDEX IF NOT EXISTS executions_run ON executions(run_id);
CREATE TABLE IF NOT EXISTS artifacts (
    id INTEGER PRIMARY KEY,
    uri TEXT NOT NULL UNIQUE,
    type TEXT,
    name TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    fingerprint TEXT,
    created_at REAL
);
CREATE TABLE IF NOT EXISTS events (
    execution_id INTEGER NOT NULL REFERENCES executions(id),
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id),
    kind TEXT NOT NULL CHECK (kind IN ('INPUT', 'OUTPUT')),
    name TEXT NOT NULL,
    PRIMARY KEY (execution_id, artifact_id, kind, name)
);
CREATE INDEX IF NOT EXISTS events_artifact ON events(artifact_id, kind);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT,
    run_id TEXT,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS cache_entries (
    key TEXT NOT NULL,
    execution_id INTEGER NOT NULL REFERENCES executions(id),
    pipeline TEXT NOT NULL,
    task TEXT NOT NULL,
    created_at REAL NOT NULL,
    parts TEXT NOT NULL,
    PRIMARY KEY (key, execution_id)
);
CREATE INDEX IF NOT EXISTS cache_entries_task ON cache_entries(pipeline, task, created_at);
"""
# Columns added after the first stores were written: added to an older store when it opens.
ADDED_COLUMNS = {
    "executions": {
        "cache_key": "TEXT",  # the task's cache key (None: caching was off for it)
        "cached_from": "INTEGER",  # the execution whose outputs it reused
        "cache_note": "TEXT",  # why it hit or missed, as EXPLAIN=1 prints it (JSON list)
        "outputs_spec": "TEXT",  # its outputs as kfp.local returned them, to reuse them (JSON)
        "log_path": "TEXT",  # the file of its whole output (cached: the reused execution's)
    }
}


class LineageError(BuildError):
    """A lineage question that cannot be answered (unknown run or URI); the message says why."""


def normalize_uri(uri: str) -> str:
    """One spelling per artifact: a cluster step sees gs://B/P mounted as /gcs/B/P."""
    uri = str(uri)
    if uri.startswith("/gcs/"):
        uri = "gs://" + uri[len("/gcs/") :]
    return uri.rstrip("/") or uri


def _files_of(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def fingerprint(uri: str, limit: int = FINGERPRINT_LIMIT) -> str | None:
    """sha256 of a local file's contents, or of a folder's relative paths and contents;
    None for remote URIs and contents over `limit` bytes."""
    path = Path(uri)
    if "://" in uri or not path.exists():
        return None
    files = _files_of(path)
    if sum(f.stat().st_size for f in files) > limit:
        return None
    digest = hashlib.sha256()
    for f in files:
        if path.is_dir():
            digest.update(str(f.relative_to(path)).encode() + b"\0")
        digest.update(f.read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()


def _loads(text: str | None, default=None):
    return default if text is None else json.loads(text)


def _dumps(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


def _run_row(row: sqlite3.Row) -> dict[str, Any]:
    run = dict(row)
    for key, default in (("environment", {}), ("parameters", {}), ("outputs", None)):
        run[key] = _loads(run[key], default)
    return run


def _execution_row(row: sqlite3.Row) -> dict[str, Any]:
    execution = dict(row)
    for key, default in (
        ("input_parameters", {}),
        ("output_parameters", {}),
        ("log_tail", []),
        ("cache_note", []),
        ("outputs_spec", None),
    ):
        execution[key] = _loads(execution[key], default)
    return execution


def _artifact_row(row: sqlite3.Row) -> dict[str, Any]:
    artifact = dict(row)
    artifact["metadata"] = _loads(artifact["metadata"], {})
    return artifact


class LineageStore:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A run's tasks finish on the threads that ran them (mlops.local_runs.dag); the recorder
        # serialises its calls, so the connection may be shared.
        self.db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.executescript(SCHEMA)
        self._add_columns()

    def _add_columns(self) -> None:
        for table, columns in ADDED_COLUMNS.items():
            have = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
            with self.db:
                for name, kind in columns.items():
                    if name not in have:
                        self.db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> LineageStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- writing ----------------------------------------------------------------------------

    def start_run(
        self,
        pipeline: str,
        parameters: dict[str, Any],
        package: Path | str | None = None,
        pipeline_root: Path | str | None = None,
        environment: dict[str, Any] | None = None,
        run_id: str | None = None,
        started_at: float | None = None,
    ) -> str:
        run_id = run_id or new_run_id()
        with self.db:
            self.db.execute(
                "INSERT INTO runs (id, pipeline, package, pipeline_root, started_at, status,"
                " environment, parameters) VALUES (?, ?, ?, ?, ?, 'RUNNING', ?, ?)",
                (
                    run_id,
                    pipeline,
                    None if package is None else str(package),
                    None if pipeline_root is None else str(pipeline_root),
                    time.time() if started_at is None else started_at,
                    _dumps(environment or {}),
                    _dumps(parameters),
                ),
            )
        return run_id

    def finish_run(
        self,
        run_id: str,
        status: str,
        failed_task: str | None = None,
        reason: str | None = None,
        outputs: dict[str, Any] | None = None,
        ended_at: float | None = None,
    ) -> None:
        with self.db:
            self.db.execute(
                "UPDATE runs SET status = ?, ended_at = ?, failed_task = ?, reason = ?,"
                " outputs = ? WHERE id = ?",
                (
                    status,
                    time.time() if ended_at is None else ended_at,
                    failed_task,
                    reason,
                    None if outputs is None else _dumps(outputs),
                    run_id,
                ),
            )

    def _artifact_id(self, artifact, as_output: bool) -> int:
        """Adds the artifact or updates what is known of it. What its producer says (name,
        metadata) wins over what a consumer saw."""
        uri = normalize_uri(artifact.uri)
        metadata = _dumps(artifact.metadata or {})
        self.db.execute(
            "INSERT INTO artifacts (uri, type, name, metadata, fingerprint, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(uri) DO UPDATE SET"
            " type = COALESCE(NULLIF(excluded.type, ''), type),"
            " name = CASE WHEN ? THEN excluded.name ELSE name END,"
            " metadata = CASE WHEN ? OR metadata = '{}' THEN excluded.metadata ELSE metadata END,"
            " fingerprint = COALESCE(excluded.fingerprint, fingerprint)",
            (
                uri,
                artifact.type,
                artifact.name,
                metadata,
                fingerprint(artifact.uri),
                time.time(),
                as_output,
                as_output,
            ),
        )
        return self.db.execute("SELECT id FROM artifacts WHERE uri = ?", (uri,)).fetchone()[0]

    def _link(self, execution_id: int, artifacts, kind: str) -> None:
        for artifact in artifacts:
            artifact_id = self._artifact_id(artifact, as_output=kind == "OUTPUT")
            self.db.execute(
                "INSERT OR IGNORE INTO events (execution_id, artifact_id, kind, name)"
                " VALUES (?, ?, ?, ?)",
                (execution_id, artifact_id, kind, artifact.name),
            )

    def start_execution(self, run_id: str, record) -> int:
        """Records a started task (a local_run.TaskRecord) and its input artifacts."""
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO executions (run_id, task, component, image_ref, status, started_at,"
                " input_parameters, log_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    record.task,
                    record.component,
                    record.image_ref,
                    record.status,
                    record.started_at,
                    _dumps(record.input_parameters),
                    record.log_path,
                ),
            )
            self._link(cursor.lastrowid, record.input_artifacts, "INPUT")
        return cursor.lastrowid

    def finish_execution(self, execution_id: int, record) -> None:
        """Records how the task ended, what it ran on and its output artifacts."""
        with self.db:
            self.db.execute(
                "UPDATE executions SET status = ?, exit_code = ?, error = ?, ended_at = ?,"
                " image_id = ?, image_digest = ?, peak_memory_bytes = ?, peak_rss_bytes = ?,"
                " output_parameters = ?, log_tail = ?, cache_key = ?, cached_from = ?,"
                " cache_note = ?, outputs_spec = ?, log_path = ? WHERE id = ?",
                (
                    record.status,
                    record.exit_code,
                    record.error,
                    record.ended_at,
                    record.image_id,
                    record.image_digest,
                    record.peak_memory_bytes,
                    record.peak_rss_bytes,
                    _dumps(record.output_parameters),
                    _dumps(record.log_tail),
                    record.cache_key,
                    record.cached_from,
                    _dumps(record.cache_note) if record.cache_note else None,
                    None if record.outputs_spec is None else _dumps(record.outputs_spec),
                    record.log_path,
                    execution_id,
                ),
            )
            self._link(execution_id, record.output_artifacts, "OUTPUT")
            if record.status == "SUCCESS" and record.cache_key and record.cached_from is None:
                run = self.db.execute(
                    "SELECT pipeline FROM runs r JOIN executions x ON x.run_id = r.id"
                    " WHERE x.id = ?",
                    (execution_id,),
                ).fetchone()
                self.db.execute(
                    "INSERT OR IGNORE INTO cache_entries (key, execution_id, pipeline, task,"
                    " created_at, parts) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        record.cache_key,
                        execution_id,
                        run[0],
                        record.task,
                        record.ended_at or time.time(),
                        _dumps(record.cache_parts or {}),
                    ),
                )

    # --- the execution cache ------------------------------------------------------------------

    def cache_hits(self, key: str) -> list[dict[str, Any]]:
        """The cacheable executions with this key, newest first, each with its run's id."""
        rows = self.db.execute(
            "SELECT c.created_at AS cached_at, c.parts, x.* FROM cache_entries c"
            " JOIN executions x ON x.id = c.execution_id WHERE c.key = ?"
            " ORDER BY c.created_at DESC, x.id DESC",
            (key,),
        )
        return [{**_execution_row(r), "parts": _loads(r["parts"], {})} for r in rows]

    def cache_entries_of(self, pipeline: str, task: str, limit: int = 50) -> list[dict]:
        """The latest cacheable executions of a pipeline's task (any key), newest first."""
        rows = self.db.execute(
            "SELECT key, execution_id, created_at, parts FROM cache_entries"
            " WHERE pipeline = ? AND task = ? ORDER BY created_at DESC LIMIT ?",
            (pipeline, task, limit),
        )
        return [{**dict(r), "parts": _loads(r["parts"], {})} for r in rows]

    def clear_cache(self, pipeline: str | None = None) -> int:
        """Forgets the cacheable executions (of one pipeline); their lineage stays."""
        with self.db:
            where, args = ("WHERE pipeline = ?", (pipeline,)) if pipeline else ("", ())
            cursor = self.db.execute(f"DELETE FROM cache_entries {where}", args)
        return cursor.rowcount

    def record_decision(
        self,
        kind: str,
        decision: str,
        reason: str = "",
        run_id: str | None = None,
        details: dict[str, Any] | None = None,
        at: float | None = None,
    ) -> int:
        """Adds a decision (e.g. kind 'trigger', decision 'run' or 'skip') with its reason."""
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO decisions (at, kind, decision, reason, run_id, details)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    time.time() if at is None else at,
                    kind,
                    decision,
                    reason,
                    run_id,
                    _dumps(details or {}),
                ),
            )
        return cursor.lastrowid

    # --- reading ----------------------------------------------------------------------------

    def runs(
        self, limit: int | None = None, pipeline: str | None = None, model: str | None = None
    ) -> list[dict[str, Any]]:
        """Runs, newest first; of one pipeline, or of one use case's model (its model_name
        parameter), when given."""
        where, args = [], []
        if pipeline:
            where, args = [*where, "pipeline = ?"], [*args, pipeline]
        if model:
            where, args = [*where, "json_extract(parameters, '$.model_name') = ?"], [*args, model]
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY started_at DESC, rowid DESC"
        if limit:
            sql, args = sql + " LIMIT ?", [*args, limit]
        return [_run_row(r) for r in self.db.execute(sql, args)]

    def run_id(self, prefix: str) -> str:
        """The run whose id is or starts with `prefix` ('latest' for the newest run)."""
        if prefix == "latest":
            row = self.db.execute(
                "SELECT id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1"
            ).fetchone()
            if row is None:
                raise LineageError(f"{self.path}: no runs recorded")
            return row[0]
        rows = self.db.execute(
            "SELECT id FROM runs WHERE substr(id, 1, length(?)) = ?", (prefix, prefix)
        ).fetchall()
        if len(rows) != 1:
            what = "no run" if not rows else f"{len(rows)} runs"
            raise LineageError(f"{self.path}: {what} with id {prefix!r}")
        return rows[0][0]

    def _events_of(self, execution_id: int, kind: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT e.name AS event_name, a.* FROM events e JOIN artifacts a"
            " ON a.id = e.artifact_id WHERE e.execution_id = ? AND e.kind = ?"
            " ORDER BY e.name, a.uri",
            (execution_id, kind),
        )
        return [_artifact_row(r) for r in rows]

    def execution(self, execution_id: int) -> dict[str, Any]:
        row = self.db.execute("SELECT * FROM executions WHERE id = ?", (execution_id,)).fetchone()
        execution = _execution_row(row)
        execution["inputs"] = self._events_of(execution_id, "INPUT")
        execution["outputs"] = self._events_of(execution_id, "OUTPUT")
        return execution

    def run(self, run_id: str) -> dict[str, Any]:
        """The run with its tasks in the order they started, each with its artifacts."""
        run_id = self.run_id(run_id)
        run = _run_row(self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone())
        ids = self.db.execute(
            "SELECT id FROM executions WHERE run_id = ? ORDER BY started_at, id", (run_id,)
        )
        run["tasks"] = [self.execution(i) for (i,) in ids.fetchall()]
        return run

    def runs_using_image(self, image: str) -> list[dict[str, Any]]:
        """Runs with a task on `image`: a digest (sha256:..., matching the pinned reference,
        the registry digest or the local image id) or a prefix of the image reference."""
        if image.startswith("sha256:"):
            where = (
                "image_id = ? OR substr(image_digest, -length(?)) = ?"
                " OR substr(image_ref, -length(?)) = ?"
            )
            args = [image, "@" + image, "@" + image, "@" + image, "@" + image]
        else:
            where = "substr(image_ref, 1, length(?)) = ? OR substr(image_digest, 1, length(?)) = ?"
            args = [image] * 4
        rows = self.db.execute(
            "SELECT r.*, group_concat(x.task, ',') AS tasks FROM runs r JOIN executions x"
            f" ON x.run_id = r.id WHERE {where} GROUP BY r.id"
            " ORDER BY r.started_at DESC, r.rowid DESC",
            args,
        )
        return [{**_run_row(r), "tasks": sorted(r["tasks"].split(","))} for r in rows]

    def artifact(self, uri: str) -> dict[str, Any]:
        row = self.db.execute(
            "SELECT * FROM artifacts WHERE uri = ?", (normalize_uri(uri),)
        ).fetchone()
        if row is None:
            raise LineageError(f"{uri}: no such artifact in the lineage store {self.path}")
        return _artifact_row(row)

    def _producer_id(self, artifact_id: int) -> int | None:
        row = self.db.execute(
            "SELECT e.execution_id FROM events e JOIN executions x ON x.id = e.execution_id"
            " WHERE e.artifact_id = ? AND e.kind = 'OUTPUT'"
            # a cached execution lists the outputs it reused; their producer ran before it
            " ORDER BY x.cached_from IS NOT NULL, x.started_at DESC LIMIT 1",
            (artifact_id,),
        ).fetchone()
        return None if row is None else row[0]

    def _run_summary(self, run_id: str) -> dict[str, Any]:
        row = self.db.execute(
            "SELECT id, pipeline, status, parameters, started_at FROM runs WHERE id = ?",
            (run_id,),
        ).fetchone()
        return {**dict(row), "parameters": _loads(row["parameters"], {})}

    def _lineage_node(self, artifact: dict[str, Any], seen: set[int]) -> dict[str, Any]:
        node: dict[str, Any] = {"artifact": artifact, "produced_by": None}
        producer = self._producer_id(artifact["id"])
        if producer is None or artifact["id"] in seen:
            return node
        seen = seen | {artifact["id"]}  # a path, not the whole walk: diamonds repeat
        x = self.execution(producer)
        node["produced_by"] = {
            "execution_id": x["id"],
            "run": self._run_summary(x["run_id"]),
            "task": x["task"],
            "component": x["component"],
            "image_ref": x["image_ref"],
            "image_digest": x["image_digest"],
            "status": x["status"],
            "parameters": x["input_parameters"],
            "inputs": [
                {"name": a["event_name"], **self._lineage_node(a, seen)} for a in x["inputs"]
            ],
        }
        return node

    def lineage(self, uri: str) -> dict[str, Any]:
        """The artifact, the execution that produced it (task, image, parameters, run and the
        run's parameters) and, recursively, the lineage of that execution's inputs."""
        return self._lineage_node(self.artifact(uri), set())

    def training_data(self, uri: str, step: str | None = None) -> dict[str, Any]:
        """The data a model (or any artifact) came from: the source steps of its lineage (the
        steps with no input artifacts, e.g. extract-data; or the tasks named `step`), each with
        its parameters and the artifacts it produced on the way to `uri` (the examples)."""
        tree = self.lineage(uri)
        sources: dict[int, dict[str, Any]] = {}
        _collect_sources(tree, sources, step)
        if not sources:
            where = f"no task {step!r}" if step else "no recorded producer"
            raise LineageError(f"{uri}: {where} in its lineage")
        produced_by = tree["produced_by"] or {}
        return {
            "uri": tree["artifact"]["uri"],
            "type": tree["artifact"]["type"],
            "run": produced_by.get("run"),
            "produced_by": produced_by.get("task"),
            "sources": sorted(sources.values(), key=lambda s: s["execution_id"]),
        }

    def decisions(self, kind: str | None = None, limit: int | None = None) -> list[dict]:
        """Decisions, newest first."""
        sql, args = "SELECT * FROM decisions", []
        if kind:
            sql, args = sql + " WHERE kind = ?", [kind]
        sql += " ORDER BY at DESC, id DESC"
        if limit:
            sql, args = sql + " LIMIT ?", [*args, limit]
        return [
            {**dict(r), "details": _loads(r["details"], {})} for r in self.db.execute(sql, args)
        ]

    def artifact_by_id(self, artifact_id: int) -> dict[str, Any]:
        row = self.db.execute("SELECT * FROM artifacts WHERE id = ?", (artifact_id,)).fetchone()
        if row is None:
            raise LineageError(f"no artifact {artifact_id} in the lineage store {self.path}")
        return _artifact_row(row)

    def uses_of(self, artifact_id: int) -> list[dict[str, Any]]:
        """Every execution that took the artifact in or put it out (kind INPUT or OUTPUT,
        under its input/output name), with its run and task, oldest first."""
        rows = self.db.execute(
            "SELECT e.kind, e.name, x.id AS execution_id, x.run_id, x.task, x.status,"
            " x.cached_from, x.started_at FROM events e JOIN executions x"
            " ON x.id = e.execution_id WHERE e.artifact_id = ? ORDER BY x.started_at, x.id",
            (artifact_id,),
        )
        return [dict(r) for r in rows]


def _is_source(produced_by: dict[str, Any], step: str | None) -> bool:
    if step:
        return step in (produced_by["task"], produced_by["component"])
    return not produced_by["inputs"]


def _collect_sources(node: dict[str, Any], sources: dict[int, dict], step: str | None) -> None:
    produced_by = node["produced_by"]
    if produced_by is None:
        return
    if _is_source(produced_by, step):
        source = sources.setdefault(
            produced_by["execution_id"],
            {
                "execution_id": produced_by["execution_id"],
                "run_id": produced_by["run"]["id"],
                "run_parameters": produced_by["run"]["parameters"],
                "task": produced_by["task"],
                "component": produced_by["component"],
                "image_digest": produced_by["image_digest"],
                "parameters": produced_by["parameters"],
                "artifacts": [],
            },
        )
        if node["artifact"]["uri"] not in [a["uri"] for a in source["artifacts"]]:
            source["artifacts"].append(node["artifact"])
        if step:
            return
    for child in produced_by["inputs"]:
        _collect_sources(child, sources, step)


# --- model registries ----------------------------------------------------------------------


def serving_version(registry_root: Path, model_name: str, slot: str = "stable") -> int:
    """The version serving.json names as `slot` (stable, or canary: {"version": N, ...})."""
    path = Path(registry_root) / model_name / "serving.json"
    try:
        state = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise LineageError(f"{path}: cannot read the serving state ({e})") from e
    value = state.get(slot)
    if isinstance(value, dict):
        value = value.get("version")
    if not isinstance(value, int):
        raise LineageError(f"{path}: no {slot} version ({slot}: {state.get(slot)!r})")
    return value


def version_source_uri(registry_root: Path, model_name: str, version: int) -> str:
    path = Path(registry_root) / model_name / str(version) / "version.json"
    try:
        source = json.loads(path.read_text()).get("source_uri")
    except (OSError, json.JSONDecodeError) as e:
        raise LineageError(f"{path}: cannot read the version record ({e})") from e
    if not source:
        raise LineageError(f"{path}: no source_uri")
    return source


def serving_training_data(
    store: LineageStore, registry_root: Path | str, model_name: str, slot: str = "stable"
) -> dict[str, Any]:
    """Which data trained the model a local registry serves as `slot`: serving.json names the
    version, its version.json the model artifact it was copied from."""
    if "://" in str(registry_root):
        raise LineageError(f"{registry_root}: only local registry folders are supported")
    version = serving_version(Path(registry_root), model_name, slot)
    source_uri = version_source_uri(Path(registry_root), model_name, version)
    return {
        "model_name": model_name,
        "slot": slot,
        "version": version,
        "source_uri": source_uri,
        **store.training_data(source_uri),
    }
