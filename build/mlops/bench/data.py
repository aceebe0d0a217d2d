"""`make bench BENCH=data` -> bench/results/data.json: each data component's wall time and
peak memory on the full taxi sample (1x) and on a resampled copy (BENCH_SCALE, 100x by
default: 1.5M rows), beside the bare library call on the same data (mlops.bench.data_bare),
all in one run, so that the component's overhead is a ratio and the growth from 1x to the
large copy shows whether time is linear and memory bounded.

The components run as their images do, from their own src/ with the shared runtime, on the
host (so both sides of each ratio run alike), with the default Beam options: DirectRunner,
the workers chosen from the input's size (mlops_runtime.beam), alike on both sides."""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

from mlops.bench.measure import Measured, run_measured

TARGETS = {"overhead_ratio": 1.3, "time_growth_per_scale": 1.1, "memory_growth": 2.0}


def resample(source: Path, target: Path, scale: int, seed: int = 7) -> int:
    """target: scale x the rows of source, drawn with replacement (same columns)."""
    with source.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    rng = random.Random(seed)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for _ in range(scale):
            writer.writerows(rng.choices(rows, k=len(rows)))
    return len(rows) * scale


class Bench:
    def __init__(self, root: Path, work: Path):
        self.root = root
        self.work = work
        base = [str(root / "build"), str(root / "build" / "base"), str(root)]
        self.env_base = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "PYTHONWARNINGS": "ignore"}
        self.path_base = base

    def _env(self, component: str | None) -> dict[str, str]:
        paths = list(self.path_base)
        if component:
            paths.insert(0, str(self.root / "components" / component / "src"))
        return {**self.env_base, "PYTHONPATH": os.pathsep.join(paths)}

    def component(self, name: str, args: list[str], label: str) -> Measured:
        log = self.work / f"{label}.log"
        result = run_measured(
            [sys.executable, "-m", f"{name}.main", *args], env=self._env(name), log=log
        )
        if result.returncode:
            raise RuntimeError(f"{name} failed; see {log}")
        return result

    def bare(self, step: str, args: list[str], label: str) -> Measured:
        log = self.work / f"{label}.log"
        result = run_measured(
            [sys.executable, "-m", "mlops.bench.data_bare", step, *args],
            env=self._env(None),
            log=log,
        )
        if result.returncode:
            raise RuntimeError(f"bare {step} failed; see {log}")
        return result


def _steps(bench: Bench, label: str, csv_path: Path, schema: Path, module: Path) -> dict:
    """The three components and their bare calls on one data set, in pipeline order."""
    d = bench.work / label
    d.mkdir(parents=True, exist_ok=True)
    examples = d / "examples"
    results = {}
    print(f"[bench] {label}: extract_data", flush=True)
    results["extract_data"] = (
        bench.component(
            "extract_data",
            [
                "--source",
                str(csv_path),
                "--splits",
                '{"train": 2, "eval": 1}',
                "--examples",
                str(examples),
                "--metrics",
                str(d / "extract-metrics.json"),
                "--executor-output",
                str(d / "extract-output.json"),
            ],
            f"{label}-extract",
        ),
        bench.bare(
            "extract",
            ["--csv", str(csv_path), "--out", str(d / "bare-examples")],
            f"{label}-extract-bare",
        ),
        "tfx_bsl CSVToRecordBatch (type inference) + RecordBatchToExamples + WriteToTFRecord",
    )
    print(f"[bench] {label}: validate_data", flush=True)
    results["validate_data"] = (
        bench.component(
            "validate_data",
            [
                "--examples",
                str(examples),
                "--schema",
                schema.read_text(),
                "--drift-numeric-jsd",
                "0.1",
                "--drift-categorical-linf",
                "0.1",
                "--skew-numeric-jsd",
                "0.1",
                "--skew-categorical-linf",
                "0.1",
                "--fail-on-anomalies",
                "false",
                "--statistics",
                str(d / "statistics"),
                "--anomalies",
                str(d / "anomalies"),
                "--report",
                str(d / "report.html"),
                "--decision",
                str(d / "decision"),
                "--summary",
                str(d / "summary.json"),
                "--executor-output",
                str(d / "validate-output.json"),
            ],
            f"{label}-validate",
        ),
        bench.bare(
            "statistics",
            ["--examples", str(examples), "--out", str(d / "bare-stats")],
            f"{label}-validate-bare",
        ),
        "tfdv.generate_statistics_from_tfrecord on each split",
    )
    print(f"[bench] {label}: transform_data", flush=True)
    results["transform_data"] = (
        bench.component(
            "transform_data",
            [
                "--examples",
                str(examples),
                "--schema",
                schema.read_text(),
                "--module",
                str(module),
                "--transformed-examples",
                str(d / "transformed"),
                "--transform-graph",
                str(d / "transform_graph"),
                "--metrics",
                str(d / "transform-metrics.json"),
                "--executor-output",
                str(d / "transform-output.json"),
            ],
            f"{label}-transform",
        ),
        bench.bare(
            "transform",
            [
                "--examples",
                str(examples),
                "--schema",
                str(schema),
                "--module",
                str(module),
                "--out",
                str(d / "bare-transform"),
            ],
            f"{label}-transform-bare",
        ),
        "tft_beam AnalyzeAndTransformDataset (train) + TransformDataset (eval) + writes",
    )
    return results


def run(root: Path) -> Path:
    scale = int(os.environ.get("BENCH_SCALE", "100"))
    work = root / "bench" / "work" / time.strftime("data-%Y%m%d-%H%M%S")
    work.mkdir(parents=True)
    bench = Bench(root, work)
    sample = root / "data" / "chicago_taxi" / "data.csv"
    schema = root / "pipelines" / "usecases" / "taxi" / "schema.pbtxt"
    module = root / "pipelines" / "usecases" / "taxi" / "transform.py"
    big = work / f"data-{scale}x.csv"
    print(f"[bench] resampling the sample {scale}x into {big}", flush=True)
    rows = {"1x": sum(1 for _ in sample.open()) - 1, f"{scale}x": resample(sample, big, scale)}
    measured = {"1x": _steps(bench, "1x", sample, schema, module)}
    measured[f"{scale}x"] = _steps(bench, f"{scale}x", big, schema, module)

    components = {}
    for name in measured["1x"]:
        entry = {"bare_call": measured["1x"][name][2]}
        for label, steps in measured.items():
            comp, bare, _ = steps[name]
            entry[label] = {
                "component_s": comp.seconds,
                "component_peak_mb": comp.peak_rss_mb,
                "bare_s": bare.seconds,
                "bare_peak_mb": bare.peak_rss_mb,
                "overhead_ratio": round(comp.seconds / bare.seconds, 3),
            }
        small, large = entry["1x"], entry[f"{scale}x"]
        entry["growth"] = {
            "time": round(large["component_s"] / small["component_s"], 2),
            "peak_memory": round(large["component_peak_mb"] / small["component_peak_mb"], 2),
        }
        entry["targets_met"] = {
            "overhead_at_most_1.3x": all(
                entry[label]["overhead_ratio"] <= TARGETS["overhead_ratio"] for label in measured
            ),
            f"time_growth_at_most_{int(scale * 1.1)}x": entry["growth"]["time"]
            <= scale * TARGETS["time_growth_per_scale"],
            "memory_growth_at_most_2x": entry["growth"]["peak_memory"] <= TARGETS["memory_growth"],
        }
        components[name] = entry
    result = {
        "benchmark": "data",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "rows": rows,
        "beam": "DirectRunner, workers chosen from the input's size (the components' default)",
        "components": components,
    }
    out = root / "bench" / "results" / "data.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return out
