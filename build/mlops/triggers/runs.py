"""Starts the pipeline run a trigger decided on, where the environment runs pipelines
(settings.yaml `deploy.target`):

- `none`: locally with kfp.local in Docker, as `make run` does (the CT pipeline through
  mlops.ct.ct_run, the validate-only pipeline through mlops.local_runs.runner), recorded in
  the lineage
  store: the run id is the lineage run id, and the run has ended when this returns;
- `kfp`: a run of the version `make deploy` uploaded for the current commit, on the
  environment's Kubeflow Pipelines (mlops.deploy.kfp_deploy's client): the id is KFP's run id
  and the
  run is still going (PENDING or RUNNING) when this returns.

The new-data, drift and degradation triggers all start their runs here."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.core.errors import BuildError

PIPELINES = ("ct_pipeline", "validate_pipeline")


@dataclass
class StartedRun:
    run_id: str | None  # the lineage run id (local) or the KFP run id
    pipeline: str
    target: str  # local | kfp
    status: str  # local: SUCCEEDED | FAILED; kfp: the run's state when created
    reason: str = ""  # why the run was started (the trigger's reason)
    details: dict[str, Any] = field(default_factory=dict)  # run_dir, failed_task, error, ...

    @property
    def outputs(self) -> dict[str, Any]:
        return self.details

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "target": self.target,
            "status": self.status,
            "reason": self.reason,
            "details": self.details,
        }


def start_run(
    root: Path,
    pipeline: str,
    reason: str,
    *,
    data: str | None = None,
    env: str | None = None,
    previous_statistics: str | None = None,
) -> StartedRun:
    """One run of `pipeline` ('ct_pipeline' or 'validate_pipeline') on `data` (None: the
    settings' data.source). `previous_statistics` replaces the drift reference (default: the
    statistics the serving model was trained on). A local run that fails returns FAILED with
    the reason; settings or a missing package raise BuildError before anything runs."""
    from mlops.core.deploy_settings import load_deploy_settings

    if pipeline not in PIPELINES:
        raise BuildError(f"start_run: unknown pipeline {pipeline!r} (known: {PIPELINES})")
    settings = load_deploy_settings(root, env)
    if settings.target == "none":
        if pipeline == "ct_pipeline":
            return _local_ct(root, reason, data, settings.env, previous_statistics)
        return _local_validate(root, reason, data, settings.env, previous_statistics)
    if settings.target == "kfp":
        return _kfp(root, pipeline, reason, data, settings, previous_statistics)
    raise BuildError(
        f"environment {settings.env!r}: deploy.target {settings.target!r} cannot start "
        "trigger runs (use none for kfp.local, or kfp)"
    )


def _package(root: Path, pipeline: str) -> Path:
    from mlops.core.pipeline_package import PACKAGE

    package = root / "dist" / pipeline / PACKAGE
    if not package.is_file():
        raise BuildError(f"{package}: not found; run `make build` first")
    return package


def _local_data(data: str | None) -> str | None:
    import glob

    if data and "://" not in data:
        if not glob.glob(data):  # a path, or a glob (a partition's files)
            raise BuildError(f"data {data}: no such file or folder")
        return str(Path(data).resolve())
    return data


def _local_ct(root, reason, data, env, previous_statistics) -> StartedRun:
    from mlops.ct import ct_run

    _package(root, "ct_pipeline")
    print(f"[trigger] ct_pipeline locally: {reason}", flush=True)
    try:
        result = ct_run.run(
            root, env, data=_local_data(data), previous_statistics=previous_statistics
        )
    except BuildError as e:
        result = getattr(e, "ct_run", None)
        if result is None:  # nothing ran (settings, a missing package or data)
            raise
        return StartedRun(
            result.lineage_run, "ct_pipeline", "local", "FAILED", reason,
            {
                "run_dir": str(result.run_dir),
                "failed_task": result.failed_task,
                "error": result.reason,
                "previous_statistics": result.previous_statistics,
            },
        )  # fmt: skip
    return StartedRun(
        result.lineage_run,
        "ct_pipeline",
        "local",
        result.status,
        reason,
        {
            "run_dir": str(result.run_dir),
            "previous_statistics": result.previous_statistics,
            "seconds": round(result.seconds, 1),
        },
    )


def _lineage_db() -> Path:
    from mlops.lineage.store import DEFAULT_DB

    return DEFAULT_DB


def _local_validate(root, reason, data, env, previous_statistics) -> StartedRun:
    """The validate-only pipeline through kfp.local, as ct_run runs the CT pipeline: the
    drift reference from the lineage store, the data and the reference mounted read-only."""
    from mlops.core import pipeline_parameters
    from mlops.core.model_settings import load_model_settings
    from mlops.ct import ct_run
    from mlops.local_runs.cache import settings_policy
    from mlops.local_runs.runner import run_package

    package = _package(root, "validate_pipeline")
    lineage_db = root / _lineage_db()
    if previous_statistics:
        reference = Path(previous_statistics)
    else:
        model = load_model_settings(root, env)
        reference = ct_run.drift_reference(root, model.serving.registry, model.name, lineage_db)
    arguments = pipeline_parameters.for_pipeline(
        root,
        "validate_pipeline",
        package,
        env,
        data=_local_data(data),
        extra={"previous_statistics_uri": str(reference)},
    )
    # Unique per run: two watchers may start checks in the same second.
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    run_dir = root / "dist" / "local_runs" / "validate_pipeline" / stamp
    print(f"[trigger] validate_pipeline locally on {arguments.get('source')}: {reason}", flush=True)
    details: dict[str, Any] = {"run_dir": str(run_dir), "previous_statistics": str(reference)}
    status = "SUCCEEDED"
    try:
        details["outputs"] = run_package(
            package,
            run_dir,
            arguments,
            lineage_db=lineage_db,
            mounts=ct_run._mounts(arguments, reference),
            cache=settings_policy(root, env),
        )
    except BuildError as e:
        status, details["error"] = "FAILED", str(e).splitlines()[0]
    run_id = ct_run.run_id_of(lineage_db, run_dir)
    if run_id is None:
        raise BuildError(f"{run_dir}: the run was not recorded in {lineage_db}")
    return StartedRun(run_id, "validate_pipeline", "local", status, reason, details)


def _kfp(root, pipeline, reason, data, settings, previous_statistics) -> StartedRun:
    """A run of this commit's deployed version: nothing is uploaded here (that is
    `make deploy`'s job), so a trigger runs exactly what CI built and deployed."""
    from mlops.core import pipeline_parameters
    from mlops.core.git_info import commit_sha
    from mlops.deploy.kfp_deploy import KfpDeployer

    package = _package(root, pipeline)
    commit = commit_sha(root)
    extra = {"previous_statistics_uri": previous_statistics} if previous_statistics else {}
    params = pipeline_parameters.for_pipeline(
        root, pipeline, package, settings.env, data=data, extra=extra
    )
    kfp = KfpDeployer(settings)
    pipeline_id = kfp._call(
        f"looking up pipeline {pipeline!r}", kfp.client.get_pipeline_id, pipeline
    )
    version_id = kfp._find_version(pipeline_id, commit) if pipeline_id else None
    if not version_id:
        raise BuildError(
            f"{kfp.where}: pipeline {pipeline!r} has no version {commit}: "
            f"deploy this commit first (make deploy ENV={settings.env})"
        )
    experiment_id = kfp.experiment()
    job = f"{pipeline}-trigger-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    run = kfp._call(
        f"starting run {job!r}",
        kfp.client.run_pipeline,
        experiment_id=experiment_id,
        job_name=job,
        params=params,
        pipeline_id=pipeline_id,
        version_id=version_id,
    )
    print(f"[trigger] {pipeline} on {kfp.where}: run {run.run_id} ({job}): {reason}", flush=True)
    return StartedRun(
        run.run_id,
        pipeline,
        "kfp",
        (run.state or "PENDING").upper(),
        reason,
        {
            "job": job,
            "host": settings.kfp_host,
            "experiment_id": experiment_id,
            "pipeline_id": pipeline_id,
            "version_id": version_id,
            "commit": commit,
            "parameters": sorted(params),
        },
    )
