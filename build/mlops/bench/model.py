"""`make bench BENCH=model` -> bench/results/model.json: the model steps on the full taxi sample
(15k rows, split 2:1 by extract_data), each run on the host from its own src/ as its image
runs it (mlops.bench.data.Bench), measured with mlops.bench.measure.run_measured (wall time, peak
memory of the process tree), all in one run:

1. extract_data and transform_data (the inputs; their own figures are in data.json);
2. train_model with settings.yaml's model.train (and model.tuning) values: time, memory, eval
   AUC and binary accuracy from its metrics output, beside the eval split's majority class;
3. evaluate_model with settings.yaml's model.evaluation: no baseline, then with the trained
   model as the stable version of a model registry (deploy_model's own registry code), which
   resolve_baseline copies out as the baseline_model, as in the CT pipeline;
4. the prediction service (`deploy_model.serve`, a subprocess on that registry) driven by the
   load generator from a second process (`deploy_model.loadgen`): requests per second,
   latency percentiles and failures, with 1 and with 32 instances per request; then the same
   SavedModel called in process (`loadgen.call_rate`, another subprocess, the service
   stopped) on the same instances. The ratio service / in-process is the price of HTTP+JSON.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from mlops.bench.data import Bench
from mlops.bench.measure import Measured, tree_rss_mb

LOAD_SECONDS = float(os.environ.get("BENCH_LOAD_S", "10"))
CALL_RATE_SECONDS = float(os.environ.get("BENCH_CALL_RATE_S", "5"))
LOAD_THREADS = 4
BATCH = 32


# -- pure parts (unit-tested) -------------------------------------------------------------------
def _to_value(text: str, dtype: str) -> Any:
    if text == "":
        return None  # absent, as an empty CSV cell is in the Examples
    if dtype == "int64":
        try:
            return int(text)
        except ValueError:
            return int(float(text))
    if dtype == "float32":
        return float(text)
    return text


def instances_from_csv(
    path: Path, raw_feature_spec: dict[str, dict[str, str]], count: int
) -> list[dict[str, Any]]:
    """The first `count` rows of the CSV as prediction instances: the serving features only
    (the label's raw features left out), typed as the model's raw_feature_spec says."""
    out: list[dict[str, Any]] = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            out.append(
                {
                    name: _to_value(row.get(name, ""), spec["dtype"])
                    for name, spec in sorted(raw_feature_spec.items())
                }
            )
            if len(out) == count:
                break
    if len(out) < count:
        raise ValueError(f"{path}: {len(out)} rows, {count} needed")
    return out


def majority_accuracy(positive_rate: float) -> float:
    """The accuracy of always predicting the more frequent class."""
    return max(positive_rate, 1.0 - positive_rate)


def step_figures(m: Measured) -> dict[str, float]:
    return {"seconds": m.seconds, "peak_rss_mb": m.peak_rss_mb}


def quality(train_metrics: dict[str, Any]) -> dict[str, Any]:
    auc = train_metrics["eval_auc"]
    accuracy = train_metrics["eval_binary_accuracy"]
    majority = majority_accuracy(train_metrics["eval_positive_rate"])
    return {
        "eval_auc": round(auc, 4),
        "eval_binary_accuracy": round(accuracy, 4),
        "eval_majority_class_accuracy": round(majority, 4),
        "accuracy_over_majority": round(accuracy - majority, 4),
        "eval_examples": train_metrics.get("eval_examples"),
        "train_examples": train_metrics.get("train_examples"),
        "eval_positive_rate": round(train_metrics["eval_positive_rate"], 4),
    }


def service_figures(load: dict[str, Any], in_process: dict[str, Any]) -> dict[str, Any]:
    """One request size: the service under load beside the in-process call rate."""
    per_request = in_process["instances_per_call"]
    rps = load["requests_per_s"]
    rate = in_process["calls_per_s"]
    return {
        "instances_per_request": per_request,
        "threads": load["threads"],
        "duration_s": load["duration_s"],
        "requests": load["requests"],
        "failed": load["failed"],
        "status_counts": load["status_counts"],
        "requests_per_s": rps,
        "instances_per_s": round(rps * per_request, 1),
        "latency_ms": {k: load["latency_ms"][k] for k in ("p50", "p90", "p99", "max")},
        "in_process_calls_per_s": rate,
        "in_process_latency_ms": in_process["latency_ms"],
        "service_to_in_process_ratio": round(rps / rate, 3) if rate else None,
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    train, q = result["train_model"], result["train_model"]["quality"]
    lines = [
        f"train_model: {train['seconds']} s, peak {train['peak_rss_mb']} MB; eval AUC "
        f"{q['eval_auc']}, accuracy {q['eval_binary_accuracy']} (majority class "
        f"{q['eval_majority_class_accuracy']})",
    ]
    for label, e in result["evaluate_model"].items():
        if not isinstance(e, dict):
            continue
        lines.append(
            f"evaluate_model ({label}): {e['seconds']} s, peak {e['peak_rss_mb']} MB, "
            f"blessed {e['blessed']}"
        )
    for label, s in result["service"]["load"].items():
        lines.append(
            f"service ({label}): {s['requests_per_s']} req/s, p50 {s['latency_ms']['p50']} ms, "
            f"p99 {s['latency_ms']['p99']} ms, {s['failed']} failed; in process "
            f"{s['in_process_calls_per_s']} calls/s; ratio {s['service_to_in_process_ratio']}"
        )
    return lines


# -- the measured run ------------------------------------------------------------------------
def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


class _Service:
    """deploy_model.serve as a subprocess on a free port; its tree's peak RSS is sampled."""

    def __init__(self, bench: Bench, registry: Path, model_name: str, log: Path):
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "deploy_model.serve",
                "--registry", str(registry), "--model-name", model_name,
                "--host", "127.0.0.1", "--port", "0",
            ],
            env=bench._env("deploy_model"),
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )  # fmt: skip
        self.peak_rss_mb = 0.0
        self._done = threading.Event()
        line = self.proc.stdout.readline()  # "serving URL (...)"
        if not line.startswith("serving "):
            self.stop()
            raise RuntimeError(f"the service did not start: {line!r}; see {log}")
        self.url = line.split()[1]
        threading.Thread(target=self._sample, daemon=True).start()
        self._wait_available()

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak_rss_mb = max(self.peak_rss_mb, tree_rss_mb(self.proc.pid))
            self._done.wait(0.2)

    def _wait_available(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    status = json.loads(r.read())
                if any(v["state"] == "AVAILABLE" for v in status["model_version_status"]):
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.url}: no version AVAILABLE after {timeout_s} s")

    def stop(self) -> None:
        self._done.set()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _json_subprocess(bench: Bench, args: list[str], log: Path) -> dict[str, Any]:
    """Runs `python ARGS` with deploy_model on the path; its stdout is one JSON document."""
    with log.open("w") as err:
        done = subprocess.run(
            [sys.executable, *args],
            env=bench._env("deploy_model"),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    if done.returncode:
        raise RuntimeError(f"{' '.join(args[:3])} failed; see {log}")
    return json.loads(done.stdout)


def _load(bench: Bench, url: str, body: Path, label: str) -> dict[str, Any]:
    return _json_subprocess(
        bench,
        [
            "-m", "deploy_model.loadgen", "--url", f"{url}:predict", "--body", f"@{body}",
            "--duration", str(LOAD_SECONDS), "--threads", str(LOAD_THREADS),
        ],
        bench.work / f"loadgen-{label}.log",
    )  # fmt: skip


def _call_rate(bench: Bench, model: Path, instances: Path, label: str) -> dict[str, Any]:
    code = (
        "import json, sys\n"
        "from deploy_model.loadgen import call_rate\n"
        "instances = json.load(open(sys.argv[2]))['instances']\n"
        "print(json.dumps(call_rate(sys.argv[1], instances, float(sys.argv[3]))))\n"
    )
    return _json_subprocess(
        bench,
        ["-c", code, str(model), str(instances), str(CALL_RATE_SECONDS)],
        bench.work / f"call-rate-{label}.log",
    )


def _registry_with(root: Path, registry: Path, model_name: str, model: Path, metrics: dict):
    """The trained model as stable version 1, through deploy_model's own registry code."""
    sys.path.insert(0, str(root / "components" / "deploy_model" / "src"))
    from deploy_model.registry import Registry

    reg = Registry(str(registry), model_name)
    version = reg.push(model, metrics=metrics, blessed=True, labels={"source": "bench_model"})
    reg.deploy(version, 0)
    return version


def _evaluate(
    bench: Bench, d: Path, model: Path, examples: Path, eval_config: str, label: str, extra
) -> tuple[Measured, dict[str, Any]]:
    out = d / f"evaluate-{label}"
    m = bench.component(
        "evaluate_model",
        [
            "--model", str(model), "--examples", str(examples), "--eval-config", eval_config,
            *extra,
            "--evaluation", str(out / "evaluation"), "--blessing", str(out / "blessing"),
            "--blessed", str(out / "blessed"), "--report", str(out / "report.html"),
            "--metrics", str(out / "metrics.json"),
            "--executor-output", str(out / "executor-output.json"),
        ],
        f"evaluate-{label}",
    )  # fmt: skip
    blessing = _read_json(out / "blessing" / "blessing.json")
    metrics = _read_json(out / "metrics.json")
    return m, {
        **step_figures(m),
        "blessed": blessing["blessed"],
        "baseline_version": blessing.get("baseline_version"),
        "auc": metrics.get("auc"),
        "baseline_auc": metrics.get("baseline_auc"),
    }


def run(root: Path) -> Path:
    from mlops.core.model_settings import load_model_settings
    from mlops.core.settings import load_raw

    settings = load_model_settings(root, usecase="taxi")
    work = root / "bench" / "work" / time.strftime("model-%Y%m%d-%H%M%S")
    work.mkdir(parents=True)
    bench = Bench(root, work)
    raw = load_raw(root / "settings.yaml", usecase="taxi")  # the taxi sample is what it measures
    sample = root / raw["data"]["source"]
    schema = root / raw["data"]["schema"]
    module = root / raw["model"]["transform_module"]
    load_before = os.getloadavg()
    d = work
    examples, transformed, graph = d / "examples", d / "transformed", d / "transform_graph"

    print("[bench] model: extract_data", flush=True)
    extract = bench.component(
        "extract_data",
        [
            "--source", str(sample), "--splits", json.dumps({"train": 2, "eval": 1}),
            "--examples", str(examples), "--metrics", str(d / "extract-metrics.json"),
            "--executor-output", str(d / "extract-output.json"),
        ],
        "extract",
    )  # fmt: skip
    print("[bench] model: transform_data", flush=True)
    transform = bench.component(
        "transform_data",
        [
            "--examples", str(examples), "--schema", schema.read_text(), "--module", str(module),
            "--transformed-examples", str(transformed), "--transform-graph", str(graph),
            "--metrics", str(d / "transform-metrics.json"),
            "--executor-output", str(d / "transform-output.json"),
        ],
        "transform",
    )  # fmt: skip

    print("[bench] model: train_model (settings.yaml model.train)", flush=True)
    t, tuning = settings.train, settings.tuning
    model = d / "model"
    train = bench.component(
        "train_model",
        [
            "--transformed-examples", str(transformed), "--transform-graph", str(graph),
            "--label-key", settings.label_key, "--task", settings.task,
            "--hidden-units", str(t["hidden_units"]), "--learning-rate", str(t["learning_rate"]),
            "--epochs", str(t["epochs"]), "--batch-size", str(t["batch_size"]),
            "--tuning-max-trials", str(tuning["max_trials"]),
            "--tuning-epochs-per-trial", str(tuning["epochs_per_trial"]),
            "--model-name", settings.name,
            "--model", str(model), "--best-hyperparameters", str(d / "best_hp"),
            "--metrics", str(d / "train-metrics.json"), "--tensorboard", str(d / "tensorboard"),
            "--report", str(d / "train-report.html"),
            "--executor-output", str(d / "train-output.json"),
        ],
        "train",
    )  # fmt: skip
    train_metrics = _read_json(d / "train-metrics.json")

    eval_config = settings.eval_config_json()
    print("[bench] model: evaluate_model, no baseline", flush=True)
    _, eval_alone = _evaluate(bench, d, model, examples, eval_config, "no-baseline", [])
    registry = d / "registry"
    registry.mkdir()
    version = _registry_with(root, registry, settings.name, model, {"auc": eval_alone["auc"]})
    print(f"[bench] model: evaluate_model, baseline = registry version {version}", flush=True)
    baseline = d / "baseline"
    bench.component(
        "resolve_baseline",
        [
            "--registry", str(registry), "--model-name", settings.name,
            "--baseline", str(baseline), "--version", str(d / "baseline-version"),
        ],
        "resolve-baseline",
    )  # fmt: skip
    _, eval_baseline = _evaluate(
        bench, d, model, examples, eval_config, "baseline", ["--baseline-model", str(baseline)]
    )

    raw_spec = _read_json(model / "mlops_model.json")["raw_feature_spec"]
    bodies = {}
    for label, count in (("1_instance", 1), (f"{BATCH}_instances", BATCH)):
        bodies[label] = d / f"body-{label}.json"
        instances = instances_from_csv(sample, raw_spec, count)
        bodies[label].write_text(json.dumps({"instances": instances}))
    print(f"[bench] model: the service under load ({LOAD_SECONDS:g} s per size)", flush=True)
    started = time.monotonic()
    service = _Service(bench, registry, settings.name, work / "serve.log")
    start_s = round(time.monotonic() - started, 2)
    loads: dict[str, dict] = {}
    try:
        for label, body in bodies.items():
            loads[label] = _load(bench, service.url, body, label)
    finally:
        service.stop()
    print("[bench] model: the SavedModel called in process", flush=True)
    rates = {label: _call_rate(bench, model, body, label) for label, body in bodies.items()}

    result = {
        "benchmark": "model",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in load_before],
        },
        "data": {
            "source": str(sample.relative_to(root)),
            "rows": _read_json(d / "extract-metrics.json"),
            "split": "extract_data's hash split 2:1",
        },
        "inputs": {
            "extract_data": step_figures(extract),
            "transform_data": step_figures(transform),
        },
        "train_model": {
            **step_figures(train),
            "settings": {**t, "tuning_max_trials": tuning["max_trials"]},
            "quality": quality(train_metrics),
            "training_seconds": train_metrics.get("training_seconds"),
            "epochs_run": train_metrics.get("epochs_run"),
        },
        "evaluate_model": {
            "no_baseline": eval_alone,
            "with_baseline": eval_baseline,
            "baseline_to_alone_time_ratio": round(
                eval_baseline["seconds"] / eval_alone["seconds"], 3
            ),
        },
        "service": {
            "start_to_available_s": start_s,
            "peak_rss_mb": round(service.peak_rss_mb, 1),
            "load": {label: service_figures(loads[label], rates[label]) for label in bodies},
            "how": f"deploy_model.serve subprocess; deploy_model.loadgen in a second process, "
            f"{LOAD_THREADS} threads, keep-alive, {LOAD_SECONDS:g} s per size; in process: "
            f"loadgen.call_rate (serving_default, one thread, inputs converted once) "
            f"{CALL_RATE_SECONDS:g} s, the service stopped",
        },
        "notes": "All steps run on the host from their src/ (as their images run them), the "
        "Beam steps with their default options; times are wall times of each process, peak "
        "memory the largest RSS sum of its process tree (mlops.bench.measure).",
    }
    out = root / "bench" / "results" / "model.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    print("\n".join(summary_lines(result)))
    return out
