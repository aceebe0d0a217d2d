"""`make deploy ENV=...`: after the build, each compiled pipeline goes to the environment's
bucket and to its orchestrator (Kubeflow Pipelines or Vertex AI Pipelines), as settings.yaml
says. Stage by stage, with a record (mlops.deploy.deploy_record) of each."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from mlops.ci.build_state import BuildState
from mlops.ci.compile import pipeline_modules
from mlops.core import parameter_check, pipeline_parameters
from mlops.core.cache_settings import load_cache_settings
from mlops.core.deploy_settings import DeploySettings, load_deploy_settings
from mlops.core.errors import BuildError
from mlops.core.git_info import commit_sha
from mlops.core.parameter_check import RunParameters
from mlops.core.pipeline_package import IR_NAME, PACKAGE, images_of, ir_documents, read_package
from mlops.core.settings import usecases
from mlops.deploy import caching, upload
from mlops.deploy.deploy_record import DeployRecord


def say(message: str) -> None:
    print(f"[deploy] {message}", flush=True)


def preflight(root: Path, env: str | None, approve: bool) -> DeploySettings:
    """Checks settings and approval before anything is built, pushed or uploaded."""
    settings = load_deploy_settings(root, env)
    load_cache_settings(root, settings.env)  # a bad cache section fails here too
    if settings.approval_required and not approve:
        raise BuildError(
            f"environment {settings.env!r} needs a release approval: "
            f"make deploy ENV={settings.env} APPROVE=1"
        )
    return settings


def _check_package(package: Path, state: BuildState, commit: str, settings: DeploySettings):
    """The package must be this commit's build for this environment's registry."""
    if not package.is_file():
        raise BuildError(f"{package}: not found; run `make build ENV={settings.env}` first")
    ir_text = read_package(package)
    wrong = [
        image
        for image in images_of(ir_documents(ir_text)[0])
        if not image.startswith(f"{state.registry}/") or f":{commit}@sha256:" not in image
    ]
    if wrong:
        raise BuildError(
            f"{package}: not built for commit {commit} and registry {state.registry} "
            f"({', '.join(wrong)}); run `make build ENV={settings.env}`"
        )
    return ir_text


def _vertex_name(pipeline: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", pipeline.lower()).strip("-")


@dataclass(frozen=True)
class Checked:
    """A pipeline ready to deploy: its package, checked to be this commit's build, and the
    parameters of each run (one per use case)."""

    pipeline: str
    package: Path
    ir_text: str
    runs: list[tuple[str | None, RunParameters]]


def check_pipeline(
    root: Path, settings: DeploySettings, state: BuildState, module: Path, commit: str
) -> Checked:
    package = root / "dist" / module.stem / PACKAGE
    ir_text = _check_package(package, state, commit, settings)
    runs = _runs_per_usecase(root, module.stem, package, settings.env)
    return Checked(module.stem, package, ir_text, runs)


def deploy_pipeline(
    root: Path,
    settings: DeploySettings,
    checked: Checked,
    commit: str,
    cache_enabled: bool = True,
) -> DeployRecord:
    pipeline = checked.pipeline
    record = DeployRecord(root, settings.env, pipeline, commit, settings.target)
    try:
        # What goes to the bucket and the orchestrator carries the environment's caching.
        submission = caching.prepare(
            checked.package, checked.ir_text, cache_enabled, record.folder
        )
        record.note("caching", submission.describe())
        say(f"{pipeline}: {submission.summary()}")
        snapshot = json.dumps(
            {"commit": commit, "env": settings.env, "settings": settings.resolved},
            indent=2,
            sort_keys=True,
            default=str,
        )
        dest = upload.Destination(settings.bucket, settings.env, deadline_s=2.0**settings.retries)
        uploaded = upload.upload_pipeline(
            dest, pipeline, commit, submission.package, submission.ir_text, snapshot
        )
        record.stage("upload", {k: vars(v) for k, v in uploaded.items()})
        say(f"{pipeline}: {uploaded['package'].uri} ({uploaded['package'].action})")
        if settings.target == "kfp":
            _deploy_kfp(settings, record, pipeline, submission, commit, checked.runs)
        elif settings.target == "vertex":
            for usecase, params in checked.runs:
                _deploy_vertex(settings, record, pipeline, submission, commit, params, usecase)
        record.finish()
    except BuildError as e:
        record.finish(str(e))
        raise BuildError(
            f"{e}\n  what was deployed is recorded in {record.path}; deploying again completes it"
        ) from e
    return record


def _runs_per_usecase(
    root: Path, pipeline: str, package: Path, env: str
) -> list[tuple[str | None, RunParameters]]:
    """[(use case, run parameters)]: one pipeline, compiled once, runs for every use case
    with that use case's settings; a pipeline that takes no use case settings runs once."""
    cases = usecases(root) if pipeline_parameters.takes_settings(package) else []
    if not cases:
        return [(None, pipeline_parameters.for_pipeline(root, pipeline, package, env))]
    return [
        (case, pipeline_parameters.for_pipeline(root, pipeline, package, env, usecase=case))
        for case in cases
    ]


# Run parameters that name data or state the pipeline's steps read or write: on a cluster
# they must be somewhere the cluster reaches (gs://, bq://), not a path of this machine.
LOCATION_PARAMETERS = ("source", "previous_statistics_uri", "registry")


def check_locations(target: str, pipelines: list[Checked]) -> None:
    """Raises a BuildError naming every run parameter of `LOCATION_PARAMETERS` whose value is
    a path of this machine (no scheme) and the setting it comes from."""
    problems = []
    for checked in pipelines:
        for case, parameters in checked.runs:
            for name in LOCATION_PARAMETERS:
                value = parameters.get(name)
                if isinstance(value, str) and "://" not in value:
                    problems.append(
                        f"{_named(checked.pipeline, case)}: "
                        f"{parameters.origins.get(name, name)} is {value!r}, a path on this "
                        "machine"
                    )
    if problems:
        raise BuildError(
            f"the {target} runs would read paths that only this machine has; set them to a "
            "gs:// or bq:// location for this environment (environments.<env>... in "
            "settings.yaml or the use case's settings.yaml):\n  " + "\n  ".join(problems)
        )


def _named(pipeline: str, usecase: str | None) -> str:
    return f"{pipeline}-{usecase}" if usecase else pipeline


def _deploy_kfp(settings, record, pipeline, submission, commit, runs) -> None:
    from mlops.deploy.kfp_deploy import KfpDeployer

    kfp = KfpDeployer(settings)
    experiment_id = kfp.experiment()
    record.stage("experiment", {"name": settings.kfp_experiment, "id": experiment_id})
    pipeline_id, action = kfp.pipeline(pipeline, f"{pipeline}, deployed by the CI of this repo")
    record.stage("pipeline", {"id": pipeline_id, "action": action})
    version_id, action = kfp.version(pipeline_id, submission.package, commit)
    record.stage("version", {"name": commit, "id": version_id, "action": action})
    say(f"{pipeline}: KFP pipeline {pipeline_id}, version {commit} ({action})")
    spec = parameter_check.spec_of(submission.ir_text)
    for usecase, params in runs:
        stage = f" {usecase}" if usecase else ""
        if settings.run:
            job = f"{_named(pipeline, usecase)}-{commit[:12]}"
            say(f"{pipeline}: run {job!r}, waiting up to {settings.run_timeout_s:.0f} s")
            result = kfp.run(
                experiment_id,
                pipeline_id,
                version_id,
                job,
                params,
                submission.enable_caching,
                spec=spec,
                # Recorded once the server has the run: a refused run leaves no run stage.
                started=lambda run, stage=stage, job=job: record.stage(
                    "run" + stage, {"name": job, **run, "state": "started"}
                ),
            )
            record.stage("run" + stage, {"name": job, **result})
            say(f"{pipeline}: run {job!r} {result['state']} ({result['action']})")
        if settings.cron:
            name = f"{_named(pipeline, usecase)}-schedule"
            result = kfp.schedule(
                experiment_id,
                pipeline_id,
                version_id,
                name,
                params,
                submission.enable_caching,
                spec=spec,
            )
            record.stage("schedule" + stage, result)
            say(f"{pipeline}: recurring run {name!r} {result['cron']!r} ({result['action']})")


def _deploy_vertex(settings, record, pipeline, submission, commit, params, usecase) -> None:
    from mlops.deploy import vertex_deploy

    ir_path = record.folder / IR_NAME  # Vertex AI takes the pipeline YAML itself
    ir_path.parent.mkdir(parents=True, exist_ok=True)
    ir_path.write_text(submission.ir_text)
    endpoint = (settings.resolved.get("deploy") or {}).get("vertex", {}).get("api_endpoint")
    credentials = None  # Application Default Credentials
    if endpoint and re.match(r"^https?://(127\.[0-9.]+|localhost)(:\d+)?/?$", endpoint):
        # A loopback endpoint is a double or an emulator: it takes no Google credentials.
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    result = vertex_deploy.deploy(
        ir_path,
        env=settings.env,
        project=settings.vertex_project,
        location=settings.vertex_location,
        pipeline_root=settings.vertex_pipeline_root,
        display_name=_vertex_name(_named(pipeline, usecase)),
        commit=commit,
        parameters=params,
        run=settings.run,
        timeout_s=settings.run_timeout_s,
        cron=settings.cron,
        api_endpoint=endpoint,
        credentials=credentials,
        poll_s=settings.poll_s,
        enable_caching=submission.enable_caching,
    )
    record.stage("vertex" + (f" {usecase}" if usecase else ""), result)
    say(f"{pipeline}: Vertex AI job {result.get('job')} schedule {result.get('schedule')}")


def deploy(root: Path, env: str | None = None, approve: bool = False) -> list[DeployRecord]:
    settings = preflight(root, env, approve)
    commit = commit_sha(root)
    state = BuildState.load(root, commit, "deploy")
    if state.env != settings.env:
        raise BuildError(
            f"dist/build-state.json is a build for environment {state.env!r}, not "
            f"{settings.env!r}; run `make build ENV={settings.env}` first"
        )
    cache = load_cache_settings(root, settings.env)
    modules = pipeline_modules(root)
    say(
        f"environment {settings.env!r}: {len(modules)} pipelines of commit {commit} "
        f"to {settings.bucket} and {settings.target}, step caching "
        f"{'as each pipeline sets it' if cache.enabled else 'off'}"
    )
    # Every package and every run's parameters are checked before the first request: a bad
    # setting of the last pipeline must not leave the first ones deployed and the rest not.
    pipelines = [check_pipeline(root, settings, state, m, commit) for m in modules]
    if settings.target in ("kfp", "vertex"):
        check_locations(settings.target, pipelines)
    return [deploy_pipeline(root, settings, c, commit, cache.enabled) for c in pipelines]
