"""`make bench BENCH=scale` -> bench/results/scale.json: the uncached CT pipeline
(`make run CACHE=0 DATA=...`) on 1x, 10x and 100x the taxi sample (rows resampled; 1x is the
sample itself), each step's time and peak memory, and beside evaluate_model its bare limit
measured in the same bench run right after each pipeline run (mlops.bench.eval_bare: the
candidate and the baseline SavedModels of that run scoring its eval split in batches, plus
the same metrics per slice with NumPy).

The targets, as ratios within the bench run, at the largest scale: evaluate at most 3x its
bare limit and at most the training step's time; every step's peak memory at most 2x its 1x
figure. Peak memory is the step container's largest sampled RSS (anonymous memory): the
cgroup's high-water mark also counts the page cache of the files a step reads and writes,
which grows with the data whatever the step holds (it is reported beside, not judged).

BENCH_SCALES=1,3 runs other scales (development); the first one is the reference."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from mlops.bench.measure import machine as machine_info
from mlops.bench.measure import run_measured

SCALES = (1, 10, 100)
TARGETS = {"evaluate_to_bare_limit": 3.0, "evaluate_to_train": 1.0, "memory_growth": 2.0}
EVALUATE, TRAIN = "evaluate-model", "train-model"


# -- pure parts (unit-tested) -------------------------------------------------------------------
def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def step_table(runs: dict[int, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """task -> its seconds, peak RSS and peak memory with page cache at each scale, and its
    peak RSS at each scale over the first scale's."""
    first = min(runs)
    table: dict[str, dict[str, Any]] = {}
    for scale in sorted(runs):
        for s in runs[scale]["steps"]:
            row = table.setdefault(
                s["task"], {"seconds": {}, "peak_rss_mb": {}, "peak_memory_mb": {}}
            )
            row["seconds"][f"{scale}x"] = s["seconds"]
            row["peak_rss_mb"][f"{scale}x"] = s["peak_rss_mb"]
            row["peak_memory_mb"][f"{scale}x"] = s["peak_memory_mb"]
    for row in table.values():
        base = row["peak_rss_mb"].get(f"{first}x")
        row["memory_growth"] = {k: _ratio(v, base) for k, v in row["peak_rss_mb"].items()}
    return table


def report(
    runs: dict[int, dict[str, Any]], bare: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """Per scale: the run's figures and evaluate against its bare limit and train; the targets
    judged at the largest scale against the first (smallest)."""
    table = step_table(runs)
    first, last = min(runs), max(runs)
    per_scale = {}
    for scale in sorted(runs):
        seconds = {s["task"]: s["seconds"] for s in runs[scale]["steps"]}
        limit = bare.get(scale, {}).get("seconds")
        per_scale[f"{scale}x"] = {
            "make_run_s": runs[scale]["make_run_s"],
            "pipeline_s": runs[scale]["phases_s"]["pipeline"],
            "status": runs[scale]["status"],
            "evaluate_s": seconds.get(EVALUATE),
            "evaluate_bare_limit_s": limit,
            "train_s": seconds.get(TRAIN),
            "evaluate_to_bare_limit": _ratio(seconds.get(EVALUATE), limit),
            "evaluate_to_train": _ratio(seconds.get(EVALUATE), seconds.get(TRAIN)),
            "evaluate_share_of_pipeline": _ratio(
                seconds.get(EVALUATE), runs[scale]["phases_s"]["pipeline"]
            ),
        }
    top = per_scale[f"{last}x"]
    growth = {task: row["memory_growth"].get(f"{last}x") for task, row in table.items()}
    worst = max(growth, key=lambda t: growth[t] or 0) if growth else None

    def within(value: float | None, bound: float) -> bool:
        return value is not None and value <= bound

    return {
        "scales": [f"{s}x" for s in sorted(runs)],
        "per_scale": per_scale,
        "steps": table,
        "ratios_at_largest_scale": {
            "scale": f"{last}x",
            "against": f"{first}x",
            "evaluate_to_bare_limit": top["evaluate_to_bare_limit"],
            "evaluate_to_train": top["evaluate_to_train"],
            "memory_growth": growth,
            "largest_memory_growth": {"task": worst, "ratio": growth.get(worst)},
        },
        "targets": {
            **{f"{k}_at_most": v for k, v in TARGETS.items()},
            "met": {
                "evaluate_to_bare_limit": within(
                    top["evaluate_to_bare_limit"], TARGETS["evaluate_to_bare_limit"]
                ),
                "evaluate_to_train": within(top["evaluate_to_train"], TARGETS["evaluate_to_train"]),
                "memory_growth": bool(growth)
                and all(within(g, TARGETS["memory_growth"]) for g in growth.values()),
            },
        },
    }


# -- the measured runs -------------------------------------------------------------------------
def _evaluate_inputs(root: Path, run_id: str) -> dict[str, Any]:
    """The evaluate step's inputs in a lineage run: examples, model, baseline, eval config."""
    from mlops.lineage.store import DEFAULT_DB, LineageStore

    with LineageStore(root / DEFAULT_DB) as store:
        run = store.run(run_id)
    task = next(t for t in run["tasks"] if t["task"] == EVALUATE)
    uris = {i["event_name"]: i["uri"] for i in task["inputs"]}
    return {**uris, "eval_config": task["input_parameters"]["eval_config"]}


def bare_limit(root: Path, work: Path, run_id: str, label: str) -> dict[str, Any]:
    """mlops.bench.eval_bare on the run's evaluate inputs, timed as a process (TensorFlow's
    import and the models' loading included, as the step's own time includes its start)."""
    inputs = _evaluate_inputs(root, run_id)
    baseline = Path(inputs["baseline_model"])
    command = [
        sys.executable,
        "-m",
        "mlops.bench.eval_bare",
        "--examples",
        inputs["examples"],
        "--eval-config",
        inputs["eval_config"],
        "--candidate",
        inputs["model"],
        "--out",
        str(work / f"{label}-bare.json"),
    ]
    if (baseline / "saved_model.pb").is_file():
        command += ["--baseline", str(baseline)]
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "PYTHONWARNINGS": "ignore"}
    log = work / f"{label}-bare.log"
    print(f"[bench] scale: {label} bare limit (log {log})", flush=True)
    measured = run_measured(command, env=env, cwd=root, log=log)
    if measured.returncode:
        raise RuntimeError(f"{label}: the bare limit failed; see {log}")
    metrics = json.loads((work / f"{label}-bare.json").read_text())
    return {
        "seconds": measured.seconds,
        "peak_rss_mb": measured.peak_rss_mb,
        "models": sorted(metrics),
        "slices": len(metrics["candidate"]),
        "overall": {m: r["overall"] for m, r in metrics.items()},
    }


def scales() -> list[int]:
    value = os.environ.get("BENCH_SCALES")
    return sorted(int(s) for s in value.split(",")) if value else list(SCALES)


def run(root: Path) -> Path:
    from mlops.bench.data import resample
    from mlops.bench.pipeline import _make_run
    from mlops.ci import engine

    work = root / "bench" / "work" / time.strftime("scale-%Y%m%d-%H%M%S")
    work.mkdir(parents=True)
    client = engine.client()
    machine = machine_info()
    sample = root / "data" / "chicago_taxi" / "data.csv"
    # Unmeasured: the images built, and a served model, so that every measured run evaluates
    # against a baseline (two models) as the targets assume.
    _make_run(root, work, "warm_up", client)
    runs, bare, rows = {}, {}, {}
    for scale in scales():
        label = f"uncached_{scale}x"
        data = sample
        if scale != 1:
            data = work / f"taxi_{scale}x.csv"
            rows[f"{scale}x"] = resample(sample, data, scale)
        runs[scale] = _make_run(root, work, label, client, ("CACHE=0", f"DATA={data}"))
        bare[scale] = bare_limit(root, work, runs[scale]["lineage_run"], label)
        if data != sample:
            data.unlink()
        # kept until the report is written: a failure later leaves the measured runs
        partial = {"runs": {str(s): r for s, r in runs.items()}, "bare": bare}
        (work / "partial.json").write_text(json.dumps(partial, indent=1, default=str))
    result = {
        "benchmark": "scale",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {**machine, "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "command": "make run CACHE=0 DATA=<the sample resampled> per scale, from the "
        "repository root; then mlops.bench.eval_bare on that run's evaluate inputs",
        "resampled_rows": rows,
        **report(runs, bare),
        "bare_limit": {f"{s}x": b for s, b in bare.items()},
        "runs": {f"{s}x": r for s, r in runs.items()},
        "notes": "seconds: the lineage store's task time; peak_rss_mb: the step container's "
        "largest sampled RSS (the memory judged); peak_memory_mb: its cgroup high-water mark "
        "with page cache; the bare limit runs on the host (same CPUs), as one process: "
        "TensorFlow's import, both models' loading, scoring in batches of 4096 and NumPy "
        "metrics for every slice of the use case's evaluation.",
    }
    out = root / "bench" / "results" / "scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    ratios = result["ratios_at_largest_scale"]
    print(
        f"[bench] scale {ratios['scale']}: evaluate {ratios['evaluate_to_bare_limit']}x its bare "
        f"limit, {ratios['evaluate_to_train']}x train; largest memory growth "
        f"{ratios['largest_memory_growth']}; targets met {result['targets']['met']}"
    )
    return out
