"""The new-data trigger: watches `triggers.new_data.prefix` (a local folder, or gs://BUCKET/PREFIX
through google-cloud-storage, which honours STORAGE_EMULATOR_HOST) for spans matching
`pattern`, and runs the drift check (mlops.triggers.drift) on each new span exactly once.

A span is a file matching the pattern directly under the prefix, or, with a pattern ending
in "/", a partition folder, ready once it holds a `_SUCCESS` marker (so a half-written
partition is never a span). Its key is its URI and its version: a local file's size and
mtime (ns), an object's generation, a partition's member list with theirs. A replaced file
is a new span; the same file is never processed twice.

Exactly once, across restarts, duplicate events and concurrent watchers: the `spans` table
(in the lineage store's SQLite, beside the runs and decisions that status joins it with) has
the key as its primary key. A span is claimed by inserting its row (state `claimed`) BEFORE
the check starts; SQLite's write lock makes the insert atomic across processes, so of two
watchers or two events only one inserts and starts a run. It ends `done` or `failed` with the
reason. A crash mid-run leaves it `claimed`: status shows it (and whether its owner process is
gone), and only `python -m mlops watch --retry URI` runs it again.

`python -m mlops watch` polls every triggers.new_data.poll_s; `--once` processes what is there
and exits. `handle_gcs_event` is the same path for a Cloud Storage object-finalize event
(a Cloud Function, or a Pub/Sub push subscription)."""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.core.errors import BuildError
from mlops.core.gcs import split_gs
from mlops.triggers.drift import Decision, record

KIND = "new_data"
SUCCESS_MARKER = "_SUCCESS"  # a partition folder is complete once this object exists
SETTLE_S = 2.0  # a local file modified more recently may still be being written

SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    key TEXT PRIMARY KEY,
    uri TEXT NOT NULL,
    version TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('claimed', 'done', 'failed')),
    source TEXT NOT NULL,
    owner TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    claimed_at REAL NOT NULL,
    finished_at REAL,
    decision TEXT,
    reason TEXT,
    check_run TEXT,
    run_id TEXT,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS spans_uri ON spans(uri);
"""


@dataclass(frozen=True)
class Span:
    uri: str  # an absolute local path or gs://BUCKET/NAME (a partition: no trailing slash)
    version: str  # size+mtime_ns | generation | a digest of a partition's members
    partition: bool = False

    @property
    def key(self) -> str:
        return f"{self.uri}#{self.version}"

    @property
    def data(self) -> str:
        """What the runs read: a partition's files but its markers (extract_data reads every
        file of a folder, and an empty _SUCCESS is not a CSV)."""
        return f"{self.uri}/[!_]*" if self.partition else self.uri


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- the spans table --------------------------------------------------------------------------


class SpanStore:
    def __init__(self, db: Path):
        db.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level None: transactions are explicit (BEGIN IMMEDIATE), so a claim is
        # one atomic statement under the database's write lock.
        self.db = sqlite3.connect(db, timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> SpanStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def claim(self, span: Span, source: str, owner: str | None = None) -> bool:
        """True for the one caller that inserted the span's row; False if it was seen."""
        cursor = self.db.execute(
            "INSERT INTO spans (key, uri, version, state, source, owner, claimed_at)"
            " VALUES (?, ?, ?, 'claimed', ?, ?, ?) ON CONFLICT(key) DO NOTHING",
            (span.key, span.uri, span.version, source, owner or owner_id(), time.time()),
        )
        return cursor.rowcount == 1

    def reclaim(self, key: str, owner: str | None = None) -> bool:
        """An explicit retry: a claimed (crashed) or failed span is claimed again."""
        cursor = self.db.execute(
            "UPDATE spans SET state = 'claimed', owner = ?, claimed_at = ?, finished_at = NULL,"
            " attempts = attempts + 1 WHERE key = ? AND state IN ('claimed', 'failed')",
            (owner or owner_id(), time.time(), key),
        )
        return cursor.rowcount == 1

    def finish(self, key: str, state: str, decision: Decision, check_run: str | None) -> None:
        self.db.execute(
            "UPDATE spans SET state = ?, finished_at = ?, decision = ?, reason = ?,"
            " check_run = ?, run_id = ?, details = ? WHERE key = ?",
            (
                state,
                time.time(),
                decision.decision,
                decision.reason,
                check_run,
                decision.run_id,
                json.dumps(decision.details, default=str, sort_keys=True),
                key,
            ),
        )

    def spans(self, uri: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM spans", []
        if uri:
            sql, args = sql + " WHERE uri = ? OR key = ?", [uri, uri]
        sql += " ORDER BY claimed_at DESC, rowid DESC"
        if limit:
            sql, args = sql + " LIMIT ?", [*args, limit]
        return [
            {**dict(r), "details": json.loads(r["details"] or "{}")}
            for r in self.db.execute(sql, args)
        ]


def span_store(root: Path) -> SpanStore:
    from mlops.lineage.store import DEFAULT_DB

    return SpanStore(root / DEFAULT_DB)


# --- listing spans -----------------------------------------------------------------------


def _digest(members: list[tuple[str, str]]) -> str:
    text = "\n".join(f"{name} {version}" for name, version in sorted(members))
    return f"members={len(members)},sha256={hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _file_version(stat: os.stat_result) -> str:
    return f"size={stat.st_size},mtime_ns={stat.st_mtime_ns}"


def _local_spans(prefix: Path, pattern: str, settle_s: float) -> list[Span]:
    if not prefix.is_dir():
        return []
    now = time.time()
    spans = []
    for path in sorted(prefix.iterdir()):
        if pattern.endswith("/"):
            if not path.is_dir() or not fnmatch.fnmatch(path.name, pattern.rstrip("/")):
                continue
            if not (path / SUCCESS_MARKER).is_file():
                continue
            members = [
                (str(p.relative_to(path)), _file_version(p.stat()))
                for p in path.rglob("*")
                if p.is_file()
            ]
            spans.append(Span(str(path), _digest(members), partition=True))
        elif path.is_file() and fnmatch.fnmatch(path.name, pattern):
            stat = path.stat()
            if now - stat.st_mtime < settle_s:
                continue  # still being written, perhaps: the next poll sees it settled
            spans.append(Span(str(path), _file_version(stat)))
    return spans


def _gcs_spans(prefix_uri: str, pattern: str) -> list[Span]:
    from mlops.core.gcs import storage_client

    bucket, prefix = split_gs(prefix_uri)
    start = f"{prefix}/" if prefix else ""
    files: list[Span] = []
    partitions: dict[str, list[tuple[str, str]]] = {}
    for blob in storage_client().list_blobs(bucket, prefix=start):
        relative = blob.name[len(start) :]
        if not relative or relative.endswith("/"):
            continue  # folder placeholder objects
        head, _, rest = relative.partition("/")
        if pattern.endswith("/"):
            if rest and fnmatch.fnmatch(head, pattern.rstrip("/")):
                partitions.setdefault(head, []).append((rest, f"generation={blob.generation}"))
        elif not rest and fnmatch.fnmatch(relative, pattern):
            files.append(Span(f"gs://{bucket}/{blob.name}", f"generation={blob.generation}"))
    for head, members in sorted(partitions.items()):
        if any(name == SUCCESS_MARKER for name, _ in members):
            files.append(Span(f"gs://{bucket}/{start}{head}", _digest(members), partition=True))
    return files


def list_spans(prefix: str, pattern: str, settle_s: float = SETTLE_S) -> list[Span]:
    if prefix.startswith("gs://"):
        return _gcs_spans(prefix, pattern)
    return _local_spans(Path(prefix), pattern, settle_s)


# --- processing a span ---------------------------------------------------------------------


class Watcher:
    """Processes new spans through one claim; `start` is the run starter (trigger_runs)."""

    def __init__(
        self,
        root: Path,
        env: str | None = None,
        *,
        start: Callable[..., Any] | None = None,
        settle_s: float = SETTLE_S,
        check: Callable[..., Decision] | None = None,
    ):
        from mlops.triggers.drift import check_span

        self.root = Path(root)
        self.env = env
        self.start = start
        self.settle_s = settle_s
        self.check = check or check_span
        self.owner = owner_id()
        self._last_problem: str | None = None

    def settings(self):
        from mlops.core.trigger_settings import load_trigger_settings

        return load_trigger_settings(self.root, self.env)

    def process(self, span: Span, source: str = "poll", retry: bool = False) -> Decision | None:
        """The drift check on a span this watcher claims; None when another claim has it."""
        claimed_at = time.time()
        with span_store(self.root) as store:
            won = (
                store.reclaim(span.key, self.owner)
                if retry
                else store.claim(span, source, self.owner)
            )
        if not won:
            return None
        print(f"[watch] new span {span.uri} ({span.version}): drift check", flush=True)
        try:
            drift = self.check(
                self.root,
                span.uri,
                env=self.env,
                start=self.start,
                span_key=span.key,
                data=span.data,
            )
        except Exception as e:  # a bug or an outage must not stop the watcher, nor hide it
            drift = Decision(
                "drift", "failed", f"the drift check raised {type(e).__name__}: {e}", None,
                span.uri, {"span_key": span.key},
            )  # fmt: skip
            record(self.root, drift)
        check_run = drift.details.get("check_run")
        state = "failed" if drift.failed else "done"
        decision = Decision(
            KIND,
            "check",
            f"new span ({span.version}, {source}): drift check run {check_run or '-'} "
            f"-> {drift.decision}: {drift.reason}",
            check_run,
            span.uri,
            {"span_key": span.key, "source": source, "drift_decision": drift.decision_id},
        )
        record(self.root, decision, at=claimed_at)
        with span_store(self.root) as store:
            store.finish(span.key, state, drift, check_run)
        return drift

    def poll_once(self) -> list[Decision]:
        """Lists the prefix and processes each span not seen before. Bad settings are a
        failed decision naming the setting (once per distinct problem), nothing claimed:
        spans wait, unclaimed, until the settings are fixed."""
        from mlops.core.trigger_settings import TriggerSettingsError

        try:
            settings = self.settings()
            spans = list_spans(settings.prefix, settings.pattern, self.settle_s)
        except (TriggerSettingsError, BuildError) as e:
            return self._problem(f"the watcher cannot list new data: {e}")
        except Exception as e:  # e.g. Cloud Storage unreachable: the next poll tries again
            return self._problem(f"listing the new data failed: {type(e).__name__}: {e}")
        self._last_problem = None
        with span_store(self.root) as store:
            seen = {row["key"] for row in store.spans()}
        return [d for s in spans if s.key not in seen and (d := self.process(s)) is not None]

    def _problem(self, reason: str) -> list[Decision]:
        print(f"[watch] {reason}", flush=True)
        if reason == self._last_problem:
            return []
        self._last_problem = reason
        return [record(self.root, Decision(KIND, "failed", reason))]

    def run(self, once: bool = False, max_polls: int | None = None, sleep=time.sleep) -> int:
        """Polls until interrupted (or `max_polls`); returns the number of spans processed."""
        processed = polls = 0
        while True:
            processed += len([d for d in self.poll_once() if d.kind != KIND])
            polls += 1
            if once or (max_polls is not None and polls >= max_polls):
                return processed
            try:
                poll_s = self.settings().poll_s
            except BuildError:
                poll_s = 10.0  # the problem is recorded; keep watching for the fix
            sleep(poll_s)

    def retry(self, uri_or_key: str) -> Decision:
        """Runs a claimed (crashed) or failed span again, explicitly."""
        with span_store(self.root) as store:
            rows = [r for r in store.spans(uri_or_key) if r["state"] in ("claimed", "failed")]
        if not rows:
            raise BuildError(f"{uri_or_key}: no claimed or failed span with this URI or key")
        row = rows[0]
        span = Span(row["uri"], row["version"], partition=False)
        settings = self.settings()
        current = {s.uri: s for s in list_spans(settings.prefix, settings.pattern, 0.0)}
        now = current.get(span.uri)
        if now is None or now.key != span.key:
            raise BuildError(
                f"{row['key']}: the data changed or is gone since it was claimed; a changed "
                "file is a new span, which the watcher picks up by itself"
            )
        decision = self.process(now, source="retry", retry=True)
        if decision is None:
            raise BuildError(f"{row['key']}: another watcher claimed it first")
        return decision


# --- Cloud Storage events ---------------------------------------------------------------------


def _event_object(event: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The object's metadata and the event type, from a Pub/Sub push envelope (a Cloud
    Storage notification: base64 JSON data, eventType/bucketId/objectId attributes), a
    CloudEvent (type + data) or the object-finalize data itself (bucket, name, generation)."""
    if isinstance(event.get("message"), dict):
        message = event["message"]
        attributes = message.get("attributes") or {}
        data: dict[str, Any] = {}
        if message.get("data"):
            data = json.loads(base64.b64decode(message["data"]).decode())
        data.setdefault("bucket", attributes.get("bucketId"))
        data.setdefault("name", attributes.get("objectId"))
        data.setdefault("generation", attributes.get("objectGeneration"))
        return data, attributes.get("eventType")
    if isinstance(event.get("data"), dict) and "type" in event:
        return event["data"], event["type"]
    return event, None


FINALIZE_TYPES = {"OBJECT_FINALIZE", "google.cloud.storage.object.v1.finalized"}


def handle_gcs_event(
    event: dict, root: Path, *, env: str | None = None, start=None, check=None
) -> Decision:
    """A Cloud Storage object-finalize event: the object, if it is a span under the prefix,
    goes through the same claim as a polled one. Others are recorded as skipped, a repeat
    of the same generation as a duplicate."""
    from mlops.core.trigger_settings import TriggerSettingsError

    watcher = Watcher(root, env, start=start, check=check)
    try:
        obj, event_type = _event_object(event)
    except (ValueError, TypeError) as e:
        return record(root, Decision(KIND, "failed", f"the event does not parse: {e}"))
    if event_type is not None and event_type not in FINALIZE_TYPES:
        return record(root, Decision(KIND, "skipped", f"event type {event_type}: not a new object"))
    bucket, name, generation = obj.get("bucket"), obj.get("name"), obj.get("generation")
    if not bucket or not name or generation in (None, ""):
        return record(
            root, Decision(KIND, "failed", f"the event has no bucket, name or generation: {obj}")
        )
    uri = f"gs://{bucket}/{name}"
    try:
        settings = watcher.settings()
    except TriggerSettingsError as e:
        return record(root, Decision(KIND, "failed", f"cannot judge {uri}: {e}", span=uri))
    span, why = _span_of_event(settings, bucket, name, str(generation))
    if span is None:
        return record(root, Decision(KIND, "skipped", why, span=uri, details={"event": obj}))
    decision = watcher.process(span, source="event")
    if decision is None:
        with span_store(root) as store:
            [row] = store.spans(span.key)
        return record(
            root,
            Decision(
                KIND,
                "duplicate",
                f"already {row['state']} ({row['source']}, {row['decision'] or 'running'})",
                span=span.uri,
                details={"span_key": span.key, "event": obj},
            ),
        )
    return decision


def _span_of_event(settings, bucket: str, name: str, generation: str) -> tuple[Span | None, str]:
    uri = f"gs://{bucket}/{name}"
    where = f"triggers.new_data.prefix {settings.prefix}"
    if not settings.prefix.startswith("gs://"):
        return None, f"{uri}: {where} is not in Cloud Storage"
    want_bucket, prefix = split_gs(settings.prefix)
    start = f"{prefix}/" if prefix else ""
    if bucket != want_bucket or not name.startswith(start):
        return None, f"{uri} is outside {where}"
    relative = name[len(start) :]
    head, _, rest = relative.partition("/")
    if settings.partitions:
        if not rest or not fnmatch.fnmatch(head, settings.pattern.rstrip("/")):
            return None, f"{uri}: not in a partition matching {settings.pattern!r}"
        if rest != SUCCESS_MARKER:
            return None, f"{uri}: partition {head} is complete only with its {SUCCESS_MARKER}"
        # The partition's members as they are now: the same version a poll computes.
        spans = _gcs_spans(settings.prefix, settings.pattern)
        span = next((s for s in spans if s.uri == f"gs://{bucket}/{start}{head}"), None)
        return span, f"{uri}: partition {head} not found"
    if rest or not fnmatch.fnmatch(relative, settings.pattern):
        return None, f"{uri} does not match triggers.new_data.pattern {settings.pattern!r}"
    return Span(uri, f"generation={generation}"), ""


def watch_usecases(
    root: Path,
    names: list[str],
    once: bool = False,
    max_polls: int | None = None,
    sleep=time.sleep,
    watcher_factory=None,
) -> int:
    """One process watching every named use case's new-data prefix: each round polls each
    use case in turn, with that use case's settings; returns the spans processed."""
    from mlops.core.settings import selected_usecase

    make = watcher_factory or Watcher
    watchers = {name: make(root) for name in names}
    processed = polls = 0
    while True:
        for name, watcher in watchers.items():
            with selected_usecase(name):
                processed += len([d for d in watcher.poll_once() if d.kind != KIND])
        polls += 1
        if once or (max_polls is not None and polls >= max_polls):
            return processed
        with selected_usecase(names[0]):
            try:
                poll_s = watchers[names[0]].settings().poll_s
            except BuildError:
                poll_s = 10.0
        sleep(poll_s)
