"""A project on disk for the UI's tests, written with the real APIs: runs recorded in a
lineage store through LineageStore (the recorder's calls), a compiled package, run folders
with artifacts, logs and reports, a model registry with a stable and a canary version, trigger
decisions, and a request log with labels for the live metrics."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from mlops.core.pipeline_package import write_package
from mlops.lineage.store import LineageStore
from mlops.local_runs.runner import ArtifactRecord, TaskRecord
from mlops.testing.projects import repo_settings

MODEL = "ui_taxi"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()
CHART = '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="120"><rect width="240" height="120" fill="#4a7"/></svg>'  # noqa: E501
# The CT pipeline's root DAG as compiled (dependentTasks), with its importer.
DAG = {
    "extract-data": [],
    "importer": [],
    "resolve-baseline": [],
    "validate-data": ["extract-data", "importer"],
    "transform-data": ["extract-data"],
    "train-model": ["transform-data", "validate-data"],
    "evaluate-model": ["extract-data", "resolve-baseline", "train-model"],
    "deploy-model": ["evaluate-model", "train-model"],
}


def compiled_ir() -> dict:
    tasks, components, executors = {}, {}, {}
    for name, upstream in DAG.items():
        tasks[name] = {"taskInfo": {"name": name}, "componentRef": {"name": f"comp-{name}"}}
        if upstream:
            tasks[name]["dependentTasks"] = upstream
        components[f"comp-{name}"] = {"executorLabel": f"exec-{name}"}
        executors[f"exec-{name}"] = (
            {"importer": {"artifactUri": {"runtimeParameter": "uri"}}}
            if name == "importer"
            else {"container": {"image": f"localhost:5000/mlops/{name}:1"}}
        )
    return {
        "pipelineInfo": {"name": "continuous-training"},
        "root": {"dag": {"tasks": tasks}},
        "components": components,
        "deploymentSpec": {"executors": executors},
    }


@dataclass
class UiProject:
    root: Path
    db: Path
    registry: Path
    runs: dict[str, str] = field(default_factory=dict)  # role -> run id
    artifacts: dict[str, int] = field(default_factory=dict)  # role -> artifact id
    outside: Path | None = None  # a file the UI must never serve
    model: str = MODEL
    dag: dict[str, list[str]] = field(default_factory=lambda: dict(DAG))


def _html(title: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1>{CHART}</body></html>"
    )


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def _task(name, start, seconds, inputs=(), outputs=(), status="SUCCESS", **kw) -> TaskRecord:
    return TaskRecord(
        task=name,
        component=f"comp-{name}",
        image_ref=f"localhost:5000/mlops/{name}:c0ffee@sha256:{'ab' * 32}",
        image_digest=f"localhost:5000/mlops/{name}@sha256:{'ab' * 32}",
        input_parameters=kw.pop("parameters", {"model_name": MODEL}),
        input_artifacts=[ArtifactRecord(n, t, str(u)) for n, t, u in inputs],
        output_artifacts=[ArtifactRecord(n, t, str(u), m) for n, t, u, m in outputs],
        started_at=start,
        ended_at=None if status == "RUNNING" else start + seconds,
        status=status,
        exit_code=None if status == "RUNNING" else (0 if status == "SUCCESS" else 1),
        peak_memory_bytes=kw.pop("memory", 300 * 2**20),
        peak_rss_bytes=200 * 2**20,
        log_tail=kw.pop("log_tail", [f"{name}: done"]),
        cache_key=kw.pop("cache_key", f"key-{name}"),
        **kw,
    )


# The CT run's steps: (start offset s, seconds, inputs as (name, producing step, its output),
# outputs as (name, type)).
STEPS = {
    "extract-data": (0, 12.5, [], [("examples", "system.Dataset")]),
    "resolve-baseline": (0, 0.4, [], [("baseline", "system.Model")]),
    "validate-data": (
        13, 9.0, [("examples", "extract-data", "examples")],
        [("statistics", "system.Artifact"), ("report", "system.HTML"),
         ("anomalies", "system.Artifact")],
    ),
    "transform-data": (
        13, 30.0, [("examples", "extract-data", "examples")],
        [("transform_graph", "system.Artifact"), ("transformed_examples", "system.Dataset")],
    ),
    "train-model": (
        44, 61.0,
        [("transform_graph", "transform-data", "transform_graph"),
         ("transformed_examples", "transform-data", "transformed_examples")],
        [("model", "system.Model"), ("metrics", "system.Metrics")],
    ),
    "evaluate-model": (
        106, 40.0,
        [("model", "train-model", "model"), ("examples", "extract-data", "examples"),
         ("baseline_model", "resolve-baseline", "baseline")],
        [("evaluation", "system.Artifact"), ("report", "system.HTML"),
         ("blessing", "system.Artifact")],
    ),
    "deploy-model": (
        147, 0.5, [("model", "train-model", "model")], [("deployment", "system.Artifact")]
    ),
}  # fmt: skip
# What the steps write into their output folders (a report is one HTML file).
FILES = {
    ("extract-data", "examples"): {"Split-train/data-0.gz": b"rows", "Split-eval/data-0.gz": b"r"},
    ("validate-data", "statistics"): {"Split-train/stats.pb": b"stats"},
    ("validate-data", "anomalies"): {"summary.json": '{"anomalies": []}'},
    ("transform-data", "transform_graph"): {"transform_fn/saved_model.pb": b"graph"},
    ("transform-data", "transformed_examples"): {"Split-train/data-0.gz": b"rows"},
    ("train-model", "model"): {
        "saved_model.pb": b"model",
        "mlops_model.json": '{"task": "binary"}',
    },
    ("train-model", "metrics"): {},
    ("resolve-baseline", "baseline"): {"NO_BASELINE": "no serving model yet\n"},
    ("evaluate-model", "evaluation"): {"slice_metrics.json": "{}"},
    ("evaluate-model", "blessing"): {"BLESSED": ""},
    ("deploy-model", "deployment"): {"deployment.json": '{"version": 1}'},
}
METADATA = {
    ("extract-data", "examples"): {"rows_train": 1600.0, "rows_eval": 800.0},
    ("train-model", "metrics"): {"eval_auc": 0.913016, "epochs_run": 8.0},
    ("evaluate-model", "blessing"): {"blessed": True},
}
REPORTS = {"validate-data": "Data validation", "evaluate-model": "Model evaluation"}
RUNNING_STEPS = {"validate-data", "transform-data"}  # in a run still going


def _ct_run(store, project, stamp, start, *, source, cached=None, drifted=False, running=False):
    """One CT run's folder and lineage, as the recorder writes it. `cached`: an earlier run
    whose extract and transform outputs this one reuses, as the step cache does; `drifted`:
    validation fails and nothing after it starts; `running`: validation and transformation
    are still going."""
    run_dir = project.root / "dist" / "local_runs" / "ct_pipeline" / stamp
    folder = run_dir / f"continuous-training-{stamp}"
    run_id = store.start_run(
        "continuous-training",
        {"model_name": MODEL, "source": source, "epochs": 8, "schema": "feature { }\n" * 40},
        package=project.root / "dist" / "ct_pipeline" / "workflow.tar.gz",
        pipeline_root=run_dir,
        environment={"env": "local"},
        started_at=start,
    )
    reference = _write(project.root / ".local" / "no_statistics" / "NO_STATISTICS", "first\n")
    reused = {"extract-data", "transform-data"} if cached else set()
    stop = {"train-model", "evaluate-model", "deploy-model"} if drifted or running else set()
    uris: dict[tuple[str, str], Path] = {}
    ids: dict[str, int] = {}
    for task, (offset, seconds, inputs, outputs) in STEPS.items():
        if task in stop:
            continue
        for name, _ in outputs:
            uris[(task, name)] = cached[(task, name)] if task in reused else folder / task / name
        status = "SUCCESS"
        if running and task in RUNNING_STEPS:
            status = "RUNNING"
        elif drifted and task == "validate-data":
            status = "FAILURE"
        written = [] if status == "FAILURE" else outputs  # a failed step records no outputs
        for name, _ in [] if task in reused else written:
            files = FILES.get((task, name))
            if files is None:
                _write(uris[(task, name)], _html(REPORTS[task]))
            for relative, content in files.items() if files else ():
                _write(uris[(task, name)] / relative, content)
        record = _task(
            task, start + offset, seconds,
            inputs=[(n, dict(STEPS[p][3])[out], uris[(p, out)]) for n, p, out in inputs]
            + ([("previous_statistics", "system.Artifact", reference.parent)]
               if task == "validate-data" else []),
            outputs=[(n, k, uris[(task, n)], METADATA.get((task, n), {})) for n, k in written],
            status=status,
            parameters={"model_name": MODEL, **({"source": source} if task == "extract-data"
                                                else {})},
            log_tail=["drift in fare: 0.41 > 0.15"] if status == "FAILURE" else [f"{task}: ok"],
            memory=800 * 2**20 if task == "transform-data" else 300 * 2**20,
            **({"cached_from": cached["ids"][task], "cache_note": ["hit: same inputs"]}
               if task in reused else {}),
        )  # fmt: skip
        ids[task] = store.start_execution(run_id, record)
        if status != "RUNNING":
            store.finish_execution(ids[task], record)
    _write(run_dir / "logs" / "train-model.log", "Epoch 1/8\nloss: 0.31\nEpoch 8/8\nloss: 0.12\n")
    if drifted:
        store.finish_run(run_id, "FAILED", "validate-data", "drift in fare", ended_at=start + 22)
    elif not running:
        store.finish_run(run_id, "SUCCEEDED", outputs={"deployed": True}, ended_at=start + 147.5)
        _write(run_dir / "report.html", _html("Continuous training run"))
    return run_id, {**uris, "ids": ids}


def _registry(project: UiProject, models: dict[int, Path]) -> None:
    folder = project.registry / MODEL
    for version, source in models.items():
        _write(folder / str(version) / "saved_model.pb", b"model")
        _write(folder / str(version) / "version.json", json.dumps({
            "version": version, "created_at": f"2026-03-02T09:0{version}:00+00:00",
            "source_uri": str(source), "blessed": True,
            "metrics": {"auc": 0.94 + version / 1000, "binary_accuracy": 0.89,
                        "example_count": 800.0},
        }))  # fmt: skip
    history = [
        {"at": "2026-03-02T09:01:00+00:00", "action": "deploy", "stable": 1, "canary": None},
        {"at": "2026-03-02T09:02:00+00:00", "action": "canary", "stable": 1,
         "canary": {"version": 2, "traffic_percent": 10}},
    ]  # fmt: skip
    serving = {"model_name": MODEL, "stable": 1, "canary": history[-1]["canary"]}
    _write(folder / "serving.json", json.dumps({**serving, "history": history}))


def _live_metrics(root: Path) -> None:
    """60 predictions of version 1 logged by the service, with their labels: right 54 times."""
    log, labels = [], ["request_id,index,label"]
    for i in range(60):
        p = 0.9 if i % 2 else 0.1
        log.append(json.dumps({
            "request_id": f"r{i}", "time": f"2026-03-02T10:{i // 60:02d}:{i % 60:02d}+00:00",
            "model_version": "1", "instances": [{}], "predictions": [[p]], "task": "binary",
            "predicted": ["1" if p > 0.5 else "0"],
        }))  # fmt: skip
        right = i >= 6
        labels.append(f"r{i},0,{int(p > 0.5) if right else int(p <= 0.5)}")
    _write(root / ".local" / "request_logs" / MODEL / "requests-2026-03-02.jsonl", "\n".join(log))
    _write(root / "labels" / "batch.csv", "\n".join(labels) + "\n")


def build_project(root: Path) -> UiProject:
    settings = repo_settings()
    settings["model"]["name"] = MODEL
    settings["triggers"]["degradation"]["labels"] = "labels"
    settings["triggers"]["degradation"]["request_log"] = ".local/request_logs"
    _write(root / "settings.yaml", yaml.safe_dump(settings, sort_keys=False))
    write_package(
        yaml.safe_dump(compiled_ir()).encode(), root / "dist" / "ct_pipeline" / "workflow.tar.gz"
    )
    local = root / ".local"
    project = UiProject(root, local / "lineage.sqlite", local / "model_registry")
    project.outside = _write(root / "secret.txt", "not for the UI\n")
    data = str(root / "data" / "taxi.csv")
    with LineageStore(project.db) as store:
        first, out = _ct_run(store, project, "20260302-090000", T0, source=data)
        check = store.start_run(
            "validate-only", {"model_name": MODEL, "source": str(root / "incoming/a.csv")},
            pipeline_root=root / "dist" / "local_runs" / "validate_pipeline" / "c1",
            environment={}, started_at=T0 + 300,
        )  # fmt: skip
        store.finish_run(check, "SUCCEEDED", ended_at=T0 + 320)
        second, out2 = _ct_run(store, project, "20260302-090600", T0 + 360, source=data, cached=out)
        store.record_decision("new_data", "check", "new span incoming/a.csv", check, {
            "span": "incoming/a.csv"}, at=T0 + 299)  # fmt: skip
        store.record_decision("drift", "retrain", "drift in fare: 0.41 > 0.15", second, {
            "span": "incoming/a.csv", "check_run": check}, at=T0 + 359)  # fmt: skip
        drifted, _ = _ct_run(store, project, "20260302-091500", T0 + 900, source=data,
                             drifted=True)  # fmt: skip
        store.record_decision("degradation", "ok", "binary_accuracy 0.9 at or above 0.75",
                              None, {"model_name": MODEL}, at=T0 + 1000)  # fmt: skip
        going, _ = _ct_run(store, project, "20260302-092000", T0 + 1200, source=data,
                           running=True)  # fmt: skip
        store.record_decision("degradation", "retrain", "binary_accuracy fell below 0.75",
                              going, {"model_name": MODEL}, at=T0 + 1199)  # fmt: skip
        artifacts = {
            "model": store.artifact(str(out[("train-model", "model")]))["id"],
            "model2": store.artifact(str(out2[("train-model", "model")]))["id"],
            "examples": store.artifact(str(out[("extract-data", "examples")]))["id"],
            "evaluation_report": store.artifact(str(out[("evaluate-model", "report")]))["id"],
            "reference": store.artifact(str(root / ".local" / "no_statistics"))["id"],
        }
    project.runs = {
        "first": first, "check": check, "second": second, "drifted": drifted, "running": going
    }  # fmt: skip
    project.artifacts = artifacts
    _registry(project, {1: out[("train-model", "model")], 2: out2[("train-model", "model")]})
    _live_metrics(root)
    # A link out of the run folder: the listing leaves it out and the UI refuses it.
    (out[("extract-data", "examples")] / "escape").symlink_to(project.outside)
    return project


@pytest.fixture(scope="module")
def ui_project(tmp_path_factory) -> UiProject:
    return build_project(tmp_path_factory.mktemp("ui"))


@pytest.fixture(scope="module")
def app(ui_project):
    from mlops.ui.app import create_app

    app = create_app(ui_project.root)
    app.testing = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_ui_project(tmp_path):
    """A fresh project of its own, for a test that changes it."""
    return lambda: build_project(tmp_path / "project")
