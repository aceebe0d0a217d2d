"""`make run`: the continuous-training pipeline, locally, end to end.

Runs the compiled CT pipeline with kfp.local's DockerRunner on the images the build pinned
(mlops.local_runs.runner), with its parameters from settings.yaml
(mlops.core.pipeline_parameters), then makes
sure the prediction service serves the registry (mlops.serving.service), and ends with a summary and
one HTML report (mlops.ct.run_report). Around the pipeline it only supplies what a run needs to
know: the statistics the serving model was trained on (the drift reference, from the lineage
store), and the host folders the containers read (the data) and write (the model registry)."""

from __future__ import annotations

import glob
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.core.errors import BuildError
from mlops.local_runs import step_logs
from mlops.local_runs.cache import settings_policy
from mlops.local_runs.runner import TaskRecord

PIPELINE = "ct_pipeline"
NO_STATISTICS = ".local/no_statistics"  # the drift reference of a first run


class StepCollector:
    """Keeps every task record of the run, for the summary and the report."""

    def __init__(self) -> None:
        self.records: list[TaskRecord] = []

    def task_started(self, record: TaskRecord) -> None:
        self.records.append(record)

    def task_finished(self, record: TaskRecord) -> None:
        pass

    def get(self, task: str) -> TaskRecord | None:
        return next((r for r in reversed(self.records) if r.task == task), None)


@dataclass
class CtRun:
    run_dir: Path
    status: str  # SUCCEEDED | FAILED
    seconds: float
    steps: list[TaskRecord]
    arguments: dict[str, Any]
    previous_statistics: str
    failed_task: str | None = None
    reason: str | None = None
    service: dict[str, Any] = field(default_factory=dict)
    lineage_run: str | None = None
    report: Path | None = None


def _marker_dir(root: Path) -> Path:
    path = root / NO_STATISTICS
    path.mkdir(parents=True, exist_ok=True)
    # validate_data reads a folder holding only this file as "nothing to compare with yet".
    (path / "NO_STATISTICS").write_text("No previous statistics: the first training run.\n")
    return path


def drift_reference(root: Path, registry: str, model_name: str, lineage_db: Path) -> Path:
    """The statistics of the data that trained the serving (stable) model: found through
    the registry (its version's source model) and the lineage store (the run that trained
    that model, and its validation step's statistics). Else the first-run marker."""
    from mlops.lineage import store as lineage

    if registry.startswith("gs://") or not lineage_db.is_file():
        return _marker_dir(root)
    try:
        version = lineage.serving_version(Path(registry), model_name)
        model_uri = lineage.version_source_uri(Path(registry), model_name, version)
    except Exception:  # no serving model yet (or an unreadable registry): a first run
        return _marker_dir(root)
    with lineage.LineageStore(lineage_db) as store:
        try:
            producer = store.lineage(model_uri).get("produced_by")
        except lineage.LineageError:
            return _marker_dir(root)
        if not producer:
            return _marker_dir(root)
        run = store.run(producer["run"]["id"])
    for task in run["tasks"]:
        if task["task"] == "validate-data":
            for artifact in task["outputs"]:
                if artifact["event_name"] == "statistics" and Path(artifact["uri"]).is_dir():
                    return Path(artifact["uri"])
    return _marker_dir(root)


def _mounts(arguments: dict[str, Any], reference: Path) -> list[Path]:
    """Host folders the steps read: the local data and the drift reference."""
    mounts = [reference]
    source = str(arguments.get("source", ""))
    if source and "://" not in source:
        path = Path(source.split("*", 1)[0])
        mounts.append(path if path.is_dir() else path.parent)
    return mounts


def stopping_step(records: list[TaskRecord]) -> TaskRecord | None:
    """The step that stopped the run: data validation if it failed (its verdict explains a
    step beside it that failed on the same data), else the first to end failed."""
    failed = [r for r in records if r.status not in ("SUCCESS", "RUNNING", "CANCELLED")]
    gate = [r for r in failed if r.task == "validate-data"]
    return (gate or sorted(failed, key=lambda r: r.ended_at or float("inf")) or [None])[0]


def run(
    root: Path,
    env: str | None = None,
    data: str | None = None,
    sources: bool = False,
    serve: bool = True,
    service_image: str | None = None,
    previous_statistics: str | None = None,
    cache: bool = True,
    explain: bool = False,
    from_step: str | None = None,
    verbose: bool = False,
) -> CtRun:
    """One CT run; raises BuildError (after writing the report) when a step fails.
    `previous_statistics` replaces the drift reference (the drift trigger passes the statistics
    its own check computed on the span, see mlops.triggers.drift). Steps reuse earlier
    executions as settings.yaml's `cache` says, unless `cache` is False (CACHE=0); `explain`
    prints each step's cache decision; `from_step` runs that step and what follows it again,
    reusing the latest successful run of the use case for the steps before it. Each step's
    output goes to <run_dir>/logs/<task>.log, and to the console too when `verbose`."""
    from mlops.core import pipeline_parameters
    from mlops.core.model_settings import load_model_settings
    from mlops.core.pipeline_package import PACKAGE
    from mlops.ct import run_report
    from mlops.lineage.store import DEFAULT_DB
    from mlops.local_runs.runner import run_package
    from mlops.serving import service as serving

    package = root / "dist" / PIPELINE / PACKAGE
    if not package.is_file():
        raise BuildError(f"{package}: not found; run `make build` first")
    if data and "://" not in data and not glob.glob(data):  # a path or a glob
        raise BuildError(f"DATA={data}: no such file or folder")
    model = load_model_settings(root, env)
    policy = settings_policy(root, env, enabled=cache, explain=explain)
    lineage_db = root / DEFAULT_DB
    registry = model.serving.registry
    if not registry.startswith("gs://"):
        Path(registry).mkdir(parents=True, exist_ok=True)
        Path(registry).chmod(0o1777)  # the deploy step writes it as uid 1000
    if previous_statistics:
        reference = Path(previous_statistics)
    else:
        reference = drift_reference(root, registry, model.name, lineage_db)
    arguments = pipeline_parameters.for_pipeline(
        root,
        PIPELINE,
        package,
        env,
        data=str(Path(data).resolve()) if data and "://" not in data else data,
        extra={"previous_statistics_uri": str(reference)},
    )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = root / "dist" / "local_runs" / PIPELINE / stamp
    collector = StepCollector()
    overlays = None
    if sources:
        overlays = {c.name: c.path / "src" for c in _components(root)}
        print(f"[run] mounting the components' src/ over their images: {sorted(overlays)}")
    print(f"[run] {PIPELINE}: data {arguments.get('source')}; drift reference {reference}")
    started = time.monotonic()
    result = CtRun(run_dir, "RUNNING", 0.0, collector.records, arguments, str(reference))
    error: BuildError | None = None
    try:
        run_package(
            package,
            run_dir,
            arguments,
            lineage_db=lineage_db,
            observers=[collector],
            mounts=_mounts(arguments, reference),
            writable=[] if registry.startswith("gs://") else [Path(registry)],
            sources=overlays,
            cache=policy,
            from_step=from_step,
            # FROM= reuses a run of this use case: the one that trained this model
            match_parameters={"model_name": arguments.get("model_name")},
            verbose=verbose,
        )
        result.status = "SUCCEEDED"
    except BuildError as e:
        failed = stopping_step(collector.records)
        result.status = "FAILED"
        result.failed_task = failed.task if failed else None
        result.reason = _reason(failed, run_dir, e)
        error = e
    result.seconds = time.monotonic() - started
    result.lineage_run = run_id_of(lineage_db, run_dir)
    if result.status == "SUCCEEDED" and serve:
        result.service = _serve(root, model, serving, service_image)
    result.report = run_report.write(result, run_dir / "report.html")
    print(run_report.summary_text(result), flush=True)
    if error is not None:
        failure = BuildError(
            f"the run stopped at {result.failed_task or 'a step'}: {result.reason}\n"
            f"  report: {result.report}; the serving model is unchanged"
        )
        failure.ct_run = result  # the run that failed, for callers that record it (triggers)
        raise failure from error
    return result


def _components(root: Path):
    from mlops.ci.components import discover

    return discover(root)


def run_id_of(lineage_db: Path, run_dir: Path) -> str | None:
    """The lineage run recorded with this pipeline root: the newest run would be another
    process's when two runs overlap (a watcher beside `make run`)."""
    from mlops.lineage.store import LineageStore

    if not lineage_db.is_file():
        return None
    with LineageStore(lineage_db) as store:
        row = store.db.execute(
            "SELECT id FROM runs WHERE pipeline_root = ? ORDER BY started_at DESC LIMIT 1",
            (str(run_dir),),
        ).fetchone()
    return row[0] if row else None


def _reason(failed: TaskRecord | None, run_dir: Path, error: Exception) -> str:
    """Why the run stopped: how the failed step was killed, else validation's own verdict
    when it stopped the run, else the error the failed step's log names."""
    if failed is None:
        return str(error).splitlines()[0]
    killed = step_logs.kill_reason(failed.exit_code, failed.oom_killed, failed.memory_limit_bytes)
    if killed:
        return killed
    if failed.task == "validate-data":
        for summary in sorted(run_dir.glob("*/validate-data/anomalies/summary.json")):
            found = json.loads(summary.read_text())
            anomalies = found.get("anomalies") or []
            listed = "; ".join(
                f"{a.get('section')}: {a.get('feature')}: {a.get('anomaly')}" for a in anomalies
            )
            drifted = found.get("drifted_features") or []
            text = f"the data is not fit: {len(anomalies)} anomalies ({listed})"
            if drifted:
                text += f"; drift in {', '.join(drifted)}"
            return text
    if failed.status == "ERROR" and failed.error:
        return failed.error
    return step_logs.failure_reason(failed) or f"{failed.status}, exit code {failed.exit_code}"


def _serve(root: Path, model, serving_module, image: str | None) -> dict[str, Any]:
    """The service runs and shows the registry's stable (and canary) version."""
    import contextlib

    from mlops.lineage import store as lineage

    settings = model.serving
    if settings.target != "local":
        return {"target": settings.target}
    service = serving_module.ensure(
        root,
        settings.registry,
        model.name,
        settings.host,
        settings.port,
        root / ".local" / "request_logs" / model.name,
        image=image,
    )
    expected = None
    with contextlib.suppress(Exception):
        expected = str(lineage.serving_version(Path(settings.registry), model.name))
    answer = serving_module.wait_for_version(service.url, expected, container=service.container)
    print(f"[run] prediction service {service.action}: {service.url}", flush=True)
    return {
        "url": service.url,
        "container": service.container,
        "action": service.action,
        "status": answer,
    }
