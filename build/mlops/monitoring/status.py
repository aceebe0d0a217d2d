"""`python -m mlops status` (`make status`): what continuous training is doing, in one answer.

- the serving model: the registry's serving.json (stable and canary versions) and, from the
  lineage store, which run and which data trained each;
- the last runs (lineage store);
- the spans the new-data trigger has seen and their state (claimed ones flagged when their
  owner process is gone: a crash, to retry with `python -m mlops watch --retry URI`);
- the last trigger decisions with their reasons and the runs they started, and for the
  canary analysis (kind "canary") the evidence each decision was taken on; the serving
  section names the last decision about the canary serving now."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any


def _serving_state(registry: str, model_name: str) -> dict[str, Any]:
    if registry.startswith("gs://"):
        from mlops.core.gcs import split_gs, storage_client

        bucket, prefix = split_gs(registry)
        blob = storage_client().bucket(bucket).blob(f"{prefix}/{model_name}/serving.json")
        return json.loads(blob.download_as_text())
    return json.loads((Path(registry) / model_name / "serving.json").read_text())


def _training_data(store, registry: str, model_name: str, slot: str) -> dict[str, Any]:
    from mlops.lineage import store as lineage

    try:
        answer = lineage.serving_training_data(store, registry, model_name, slot)
    except lineage.LineageError as e:
        return {"error": str(e)}
    sources = [
        {
            "task": s["task"],
            "run_id": s["run_id"],
            "data": s["run_parameters"].get("source") or s["parameters"].get("source"),
            "examples": [a["uri"] for a in s["artifacts"]],
        }
        for s in answer["sources"]
    ]
    return {
        "version": answer["version"],
        "model_uri": answer["source_uri"],
        "run_id": (answer["run"] or {}).get("id"),
        "sources": sources,
    }


def serving(root: Path, store, env: str | None = None) -> dict[str, Any]:
    from mlops.core.model_settings import load_model_settings

    model = load_model_settings(root, env)
    registry = model.serving.registry
    found: dict[str, Any] = {"model": model.name, "registry": registry}
    try:
        state = _serving_state(registry, model.name)
    except Exception as e:  # no model yet, or an unreadable registry: say so, show the rest
        found["error"] = f"no serving state: {e}"
        return found
    canary = state.get("canary")
    found["stable"] = state.get("stable")
    found["canary"] = canary.get("version") if isinstance(canary, dict) else canary
    found["canary_percent"] = canary.get("traffic_percent") if isinstance(canary, dict) else None
    if not registry.startswith("gs://"):
        for slot in ("stable", "canary"):
            if found[slot] is not None:
                found[f"{slot}_trained_on"] = _training_data(store, registry, model.name, slot)
    if found["canary"] is not None:
        found["canary_decision"] = _last_canary_decision(store, model.name, found["canary"])
    return found


def _last_canary_decision(store, model_name: str, version) -> dict[str, Any] | None:
    """The newest canary-analysis decision about this canary version."""
    for d in store.decisions("canary", limit=50):
        details = d["details"] or {}
        if details.get("model_name") == model_name and details.get("canary") == str(version):
            return {k: d[k] for k in ("at", "decision", "reason")}
    return None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, signed: bool = False) -> str:
    return "-" if value is None else (f"{value:+.4g}" if signed else f"{value:.4g}")


def canary_evidence(details: dict[str, Any]) -> list[str]:
    """A canary decision's evidence in two lines: the metric and its interval, the request
    outcomes."""
    e = details.get("evidence") or {}
    if not e:
        return []
    n, values = e.get("labelled") or {}, e.get("values") or {}
    line = (
        f"{e.get('metric')}: canary {e.get('canary')} {_num(values.get('canary'))} "
        f"({n.get('canary', 0)} labelled), stable {e.get('stable')} "
        f"{_num(values.get('stable'))} ({n.get('stable', 0)} labelled)"
    )
    d = e.get("difference")
    if d:
        line += (
            f"; advantage {_num(d['estimate'], True)}, {d['confidence']:.0%} interval "
            f"{_num(d['low'], True)} to {_num(d['high'], True)} ({d['method']})"
        )
    o = e.get("outcomes") or {}
    c, st = o.get("canary") or {}, o.get("stable") or {}
    age = e.get("age_s")
    ops = (
        f"requests {c.get('requests', 0)} / {st.get('requests', 0)}, errors "
        f"{_pct(c.get('error_rate'))} / {_pct(st.get('error_rate'))}, p99 "
        f"{_num(c.get('p99_ms'))} / {_num(st.get('p99_ms'))} ms (canary / stable); share "
        f"{e.get('percent')}%, since {e.get('since') or '-'}, age "
        f"{'-' if age is None else f'{age:.0f}s'}"
    )
    return [line, ops]


def _owner_alive(owner: str) -> bool | None:
    """Whether a claim's owner process still runs; None when it ran on another host."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def gather(root: Path, env: str | None = None, limit: int = 10) -> dict[str, Any]:
    from mlops.lineage.store import DEFAULT_DB, LineageStore
    from mlops.triggers.watcher import SpanStore

    db = root / DEFAULT_DB
    with LineageStore(db) as store:
        answer: dict[str, Any] = {
            "serving": serving(root, store, env),
            "runs": [
                {k: r[k] for k in ("id", "pipeline", "status", "started_at", "ended_at")}
                | {"failed_task": r["failed_task"], "reason": r["reason"]}
                | {"source": (r["parameters"] or {}).get("source")}
                for r in store.runs(limit)
            ],
            "decisions": store.decisions(limit=limit),
        }
    with SpanStore(db) as spans:
        rows = spans.spans(limit=limit * 5)
    for row in rows:
        if row["state"] == "claimed":
            alive = _owner_alive(row["owner"])
            row["stale"] = alive is False
    answer["spans"] = rows
    answer["span_counts"] = {
        state: sum(1 for r in rows if r["state"] == state)
        for state in ("claimed", "done", "failed")
    }
    return answer


def _when(seconds: float | None) -> str:
    return "-" if seconds is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _trained_on(info: dict[str, Any] | None) -> str:
    if not info:
        return ""
    if "error" in info:
        return f"    trained on: unknown ({info['error']})"
    data = ", ".join(str(s["data"]) for s in info["sources"]) or "?"
    return f"    trained on {data} (run {info['run_id']})"


def render(answer: dict[str, Any]) -> str:
    s = answer["serving"]
    lines = [f"Serving model {s['model']} ({s['registry']})"]
    if "error" in s:
        lines.append(f"  {s['error']}")
    else:
        lines.append(f"  stable version {s['stable']}")
        if trained := _trained_on(s.get("stable_trained_on")):
            lines.append(trained)
        if s["canary"] is not None:
            lines.append(f"  canary version {s['canary']} ({s['canary_percent']}% of traffic)")
            if trained := _trained_on(s.get("canary_trained_on")):
                lines.append(trained)
            last = s.get("canary_decision")
            if last:
                lines.append(
                    f"    canary analysis: {last['decision']} at {_when(last['at'])}: "
                    f"{last['reason']}"
                )
        else:
            lines.append("  no canary")
    lines += ["", "Last runs"]
    for r in answer["runs"]:
        why = f"  failed at {r['failed_task']}: {r['reason']}" if r["status"] == "FAILED" else ""
        lines.append(
            f"  {_when(r['started_at'])}  {r['id']}  {r['pipeline']}  {r['status']}"
            f"  data {r['source'] or '-'}{why}"
        )
    if not answer["runs"]:
        lines.append("  (no runs)")
    counts = answer["span_counts"]
    seen = f"{counts['done']} done, {counts['failed']} failed, {counts['claimed']} claimed"
    lines += ["", f"Spans seen ({seen})"]
    for span in answer["spans"]:
        state = span["state"]
        if state == "claimed":
            gone = " (owner gone: retry with --retry URI)" if span.get("stale") else ""
            state += f" by {span['owner']}{gone}"
        what = f"{span['decision']}: {span['reason']}" if span["decision"] else ""
        lines.append(f"  {_when(span['claimed_at'])}  {span['uri']}  {state}  {what}".rstrip())
        lines.append(
            f"      key {span['key']}, check run {span['check_run'] or '-'}, "
            f"started run {span['run_id'] or '-'}, attempts {span['attempts']}"
        )
    if not answer["spans"]:
        lines.append("  (no spans)")
    lines += ["", "Last decisions"]
    for d in answer["decisions"]:
        span = (d["details"] or {}).get("span")
        lines.append(
            f"  {_when(d['at'])}  {d['kind']}  {d['decision']}  run {d['run_id'] or '-'}"
            f"{'  span ' + span if span else ''}"
        )
        lines.append(f"      {d['reason']}")
        if d["kind"] == "canary":
            lines += [f"      {line}" for line in canary_evidence(d["details"] or {})]
    if not answer["decisions"]:
        lines.append("  (no decisions)")
    return "\n".join(lines)
