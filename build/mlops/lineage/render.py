"""The lineage store's answers as text for the command line (`make lineage`)."""

from __future__ import annotations

import time
from typing import Any

from mlops.lineage.store import _dumps


def _when(seconds: float | None) -> str:
    return "-" if seconds is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _took(started: float | None, ended: float | None) -> str:
    return "" if started is None or ended is None else f" {ended - started:.1f}s"


def _mb(value: int | None) -> str:
    return "?" if value is None else f"{value / 2**20:.0f}MB"


def _short(parameters: dict[str, Any], width: int = 40) -> str:
    """Parameters on one line: a long value (a schema, a module's source) is cut."""
    shown = {}
    for key, value in sorted((parameters or {}).items()):
        text = value if isinstance(value, str) else _dumps(value)
        shown[key] = text if len(text) <= width else f"{text[:width]}... ({len(text)} chars)"
    return _dumps(shown)


def render_runs(runs: list[dict[str, Any]]) -> str:
    lines = []
    for r in runs:
        failed = f" failed at {r['failed_task']}: {r['reason']}" if r["status"] == "FAILED" else ""
        tasks = f" tasks {','.join(r['tasks'])}" if "tasks" in r else ""
        lines.append(
            f"{r['id']}  {r['pipeline']}  {r['status']}  {_when(r['started_at'])}"
            f"{_took(r['started_at'], r['ended_at'])}  {_short(r['parameters'])}{tasks}{failed}"
        )
    return "\n".join(lines) or "(no runs)"


def _render_artifacts(arrow: str, artifacts: list[dict[str, Any]]) -> list[str]:
    return [f"      {arrow} {a['event_name']}: {a['type']} {a['uri']}" for a in artifacts]


def render_run(run: dict[str, Any]) -> str:
    lines = [
        f"run {run['id']}  {run['pipeline']}  {run['status']}",
        f"  started {_when(run['started_at'])}, ended {_when(run['ended_at'])}",
        f"  package {run['package']}",
        f"  parameters {_dumps(run['parameters'])}",
        f"  environment {_dumps(run['environment'])}",
    ]
    if run["failed_task"] or run["reason"]:
        lines.append(f"  failed task {run['failed_task']}: {run['reason']}")
    if run["outputs"] is not None:
        lines.append(f"  outputs {_dumps(run['outputs'])}")
    for x in run["tasks"]:
        exit_code = "" if x["exit_code"] is None else f" exit {x['exit_code']}"
        lines += [
            f"  task {x['task']} ({x['component']}): {x['status']}{exit_code}"
            f"{_took(x['started_at'], x['ended_at'])}, peak RSS {_mb(x['peak_rss_bytes'])},"
            f" peak memory with page cache {_mb(x['peak_memory_bytes'])}",
            f"      image {x['image_ref']}",
            f"      digest {x['image_digest']} (image id {x['image_id']})",
            f"      parameters {_dumps(x['input_parameters'])} -> {_dumps(x['output_parameters'])}",
            *([f"      cached: reused execution {x['cached_from']}"] if x["cached_from"] else []),
            *([f"      log {x['log_path']}"] if x.get("log_path") else []),
            *(f"      cache: {note}" for note in x["cache_note"] if not x["cached_from"]),
            *_render_artifacts("<-", x["inputs"]),
            *_render_artifacts("->", x["outputs"]),
        ]
    return "\n".join(lines)


def render_lineage(node: dict[str, Any], indent: str = "") -> str:
    artifact = node["artifact"]
    lines = [f"{indent}{artifact['type']} {artifact['uri']}"]
    produced_by = node["produced_by"]
    if produced_by is None:
        lines.append(f"{indent}  (no recorded producer)")
        return "\n".join(lines)
    run = produced_by["run"]
    lines += [
        f"{indent}  produced by {produced_by['task']} ({produced_by['image_digest']})"
        f" in run {run['id']} of {run['pipeline']}",
        f"{indent}  task parameters {_dumps(produced_by['parameters'])}",
        f"{indent}  run parameters {_dumps(run['parameters'])}",
    ]
    for child in produced_by["inputs"]:
        lines.append(f"{indent}  from input {child['name']}:")
        lines.append(render_lineage(child, indent + "    "))
    return "\n".join(lines)


def _fingerprint(artifact: dict[str, Any]) -> str:
    return f" ({artifact['fingerprint']})" if artifact["fingerprint"] else ""


def render_training_data(answer: dict[str, Any]) -> str:
    lines = []
    if "model_name" in answer:
        lines.append(
            f"{answer['model_name']} {answer['slot']} = version {answer['version']},"
            f" copied from {answer['source_uri']}"
        )
    run = answer["run"] or {}
    lines.append(
        f"{answer['type']} {answer['uri']} produced by {answer['produced_by']}"
        f" in run {run.get('id')} ({run.get('pipeline')})"
    )
    for s in answer["sources"]:
        lines += [
            f"  data from {s['task']} (run {s['run_id']}, image {s['image_digest']})",
            f"    parameters {_dumps(s['parameters'])}",
            f"    run parameters {_dumps(s['run_parameters'])}",
            *[f"    -> {a['type']} {a['uri']}{_fingerprint(a)}" for a in s["artifacts"]],
        ]
    return "\n".join(lines)


def render_decisions(decisions: list[dict[str, Any]]) -> str:
    lines = [
        f"{_when(d['at'])}  {d['kind']}  {d['decision']}  run {d['run_id'] or '-'}  {d['reason']}"
        for d in decisions
    ]
    return "\n".join(lines) or "(no decisions)"
