"""A small load generator for the prediction service: threads, each with one keep-alive
connection, POST the same body for a while and count answers, versions and latencies.

    python -m deploy_model.loadgen --url http://127.0.0.1:8501/v1/models/NAME:predict \\
        --body '{"instances": [...]}' --duration 5 --threads 4      # prints the JSON result

`run_load(...)` returns the same dict (for benchmarks): requests, ok, failed, status counts,
versions (X-Model-Version of each answer), a timeline of versions per 0.5 s, requests per
second and latency percentiles in milliseconds. `call_rate(...)` is the in-process baseline:
the same model's signature called directly."""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

TIMELINE_S = 0.5


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def run_load(
    url: str,
    body: bytes | str | dict,
    duration_s: float = 5.0,
    threads: int = 4,
    max_requests: int | None = None,
    timeout_s: float = 30.0,
) -> dict[str, Any]:
    """POSTs body to url from `threads` threads for duration_s (or max_requests in all)."""
    if isinstance(body, dict):
        body = json.dumps(body)
    data = body.encode() if isinstance(body, str) else body
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": "application/json"}
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter = Counter()
    versions: Counter = Counter()
    timeline: dict[int, Counter] = {}
    errors: list[str] = []
    sent = [0]
    start = time.monotonic()
    deadline = start + duration_s

    def take() -> bool:
        with lock:
            if max_requests is not None and sent[0] >= max_requests:
                return False
            sent[0] += 1
            return True

    def worker() -> None:
        conn = None
        while time.monotonic() < deadline and take():
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
                conn.request("POST", path, body=data, headers=headers)
                resp = conn.getresponse()
                payload = resp.read()
                status, version = resp.status, resp.getheader("X-Model-Version")
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                status, version, payload = 0, None, f"{type(e).__name__}: {e}".encode()
                if conn is not None:
                    conn.close()
                conn = None
            elapsed = time.monotonic() - t0
            with lock:
                statuses[status] += 1
                if status == 200:
                    latencies.append(elapsed)
                    versions[version] += 1
                    timeline.setdefault(int((t0 - start) / TIMELINE_S), Counter())[version] += 1
                elif len(errors) < 10:
                    errors.append(f"{status}: {payload[:300].decode(errors='replace')}")
        if conn is not None:
            conn.close()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.monotonic() - start
    ms = sorted(x * 1000 for x in latencies)
    total = sum(statuses.values())
    return {
        "url": url,
        "threads": threads,
        "duration_s": round(wall, 3),
        "requests": total,
        "ok": statuses.get(200, 0),
        "failed": total - statuses.get(200, 0),
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "versions": dict(sorted(versions.items())),
        "timeline": [
            {"t": round(k * TIMELINE_S, 1), "versions": dict(sorted(c.items()))}
            for k, c in sorted(timeline.items())
        ],
        "errors": errors,
        "requests_per_s": round(statuses.get(200, 0) / wall, 1) if wall else 0.0,
        "latency_ms": {
            "p50": round(_percentile(ms, 50), 2),
            "p90": round(_percentile(ms, 90), 2),
            "p99": round(_percentile(ms, 99), 2),
            "max": round(ms[-1], 2) if ms else 0.0,
            "mean": round(sum(ms) / len(ms), 2) if ms else 0.0,
        },
    }


def call_rate(
    model_dir: str | Path,
    instances: list[dict],
    duration_s: float = 3.0,
    signature: str = "serving_default",
) -> dict[str, Any]:
    """The baseline for run_load: the SavedModel's signature called in this process, one
    thread, on inputs converted once (no HTTP, no JSON): calls per second and latencies."""
    from deploy_model.instances import PredictRequest, check_instances, to_inputs
    from deploy_model.models import load_model

    model = load_model(Path(model_dir), 0)
    checked = check_instances(PredictRequest(signature, instances), model.raw_feature_spec)
    fn = model.signatures[signature]
    inputs = to_inputs(signature, checked, model.raw_feature_spec)
    times: list[float] = []
    start = time.monotonic()
    while time.monotonic() - start < duration_s:
        t0 = time.monotonic()
        fn(**inputs)["outputs"].numpy()
        times.append(time.monotonic() - t0)
    wall = time.monotonic() - start
    ms = sorted(x * 1000 for x in times)
    return {
        "model": str(model_dir),
        "signature": signature,
        "instances_per_call": len(instances),
        "calls": len(times),
        "calls_per_s": round(len(times) / wall, 1),
        "latency_ms": {"p50": round(_percentile(ms, 50), 3), "p99": round(_percentile(ms, 99), 3)},
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True, help="The :predict URL.")
    p.add_argument("--body", required=True, help="The JSON body, or @FILE.")
    p.add_argument("--duration", type=float, default=5.0, help="Seconds.")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--max-requests", type=int, default=None)
    args = p.parse_args(argv)
    body = Path(args.body[1:]).read_text() if args.body.startswith("@") else args.body
    print("started", file=sys.stderr, flush=True)
    result = run_load(args.url, body, args.duration, args.threads, args.max_requests)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
