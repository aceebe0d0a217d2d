"""Deploys a compiled pipeline to Kubeflow Pipelines with the real kfp.Client: experiment,
pipeline, a version named after the commit, an optional run awaited to its end, and the
recurring run of continuous training. Every stage first looks for what a previous deploy
of the same commit left, so deploying twice creates nothing new and a re-run after a
failure completes what is missing.

Step caching travels in the uploaded package (mlops.deploy.caching): runs and recurring runs
are made from the version, whose spec the server runs. An existing version is used only if
its tasks' caching is the package's."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mlops.core.deploy_settings import DeploySettings, kfp_cron
from mlops.core.errors import BuildError
from mlops.core.parameter_check import check
from mlops.core.pipeline_package import read_package
from mlops.deploy.caching import spec_of, task_caching
from mlops.deploy.kfp_answers import answer_of

T = TypeVar("T")
FINISHED = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED", "CANCELLED", "ERROR"}


def _name_filter(name: str) -> str:
    return json.dumps(
        {"predicates": [{"key": "display_name", "operation": "EQUALS", "string_value": name}]}
    )


class KfpDeployer:
    def __init__(self, settings: DeploySettings, sleep: Callable[[float], None] | None = None):
        self.settings = settings
        self.host = settings.kfp_host
        self._sleep = sleep or time.sleep
        self.client = self._call("connecting", self._connect)

    @property
    def where(self) -> str:
        return f"environment {self.settings.env!r} (Kubeflow Pipelines at {self.host})"

    def _connect(self):
        import kfp
        import requests

        # kfp.Client retries an unanswered health check for ~25 s before failing; a host
        # that refuses connections is reported at once. Only connection failures count here:
        # authentication (IAP, tokens) is kfp.Client's business.
        try:
            requests.get(f"{self.host.rstrip('/')}/apis/v2beta1/healthz", timeout=10)
        except requests.RequestException as e:
            raise BuildError(f"{self.where}: cannot be reached: {e}") from e
        return kfp.Client(host=self.host, namespace=self.settings.kfp_namespace or "kubeflow")

    def _call(
        self,
        what: str,
        fn: Callable[..., T],
        *args: Any,
        passthrough: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> T:
        """fn, sent again with exponential backoff while the answer may pass on another
        attempt (mlops.deploy.kfp_answers); any other failure is a BuildError naming the
        environment, the host, the stage and the server's message. Statuses in
        `passthrough` reach the caller as the ApiException."""
        import urllib3
        from kfp_server_api import ApiException

        attempts = self.settings.retries
        for attempt in range(1, attempts + 1):
            try:
                return fn(*args, **kwargs)
            except ApiException as e:
                if e.status in passthrough:
                    raise
                answer = answer_of(e)
                if answer.status in (401, 403):
                    raise BuildError(
                        f"{self.where}: the credentials were refused ({answer.status}) while {what}"
                    ) from e
                if not answer.transient:
                    raise BuildError(
                        f"{self.where}: {what} was refused ({answer.describe()})"
                    ) from e
                if attempt == attempts:
                    raise BuildError(
                        f"{self.where}: {what} failed after {attempts} attempts "
                        f"({answer.describe()})"
                    ) from e
            except urllib3.exceptions.HTTPError as e:
                raise BuildError(f"{self.where}: cannot be reached while {what}: {e}") from e
            self._sleep(min(0.5 * 2 ** (attempt - 1), 8.0))
        raise AssertionError("unreachable")

    def _conflict_is_done(self, what: str, create: Callable[[], T], find: Callable[[], T | None]):
        """create(); a 409 means another deploy got there first: use what it made."""
        from kfp_server_api import ApiException

        try:
            return self._call(what, create, passthrough=(409,)), "created"
        except ApiException as e:
            found = find()
            if found is None:
                raise BuildError(
                    f"{self.where}: {what} was refused ({answer_of(e).describe()}) and no "
                    "other deploy's result was found"
                ) from e
            return found, "exists"

    def _named(self, what: str, list_fn, field: str, experiment_id: str, name: str) -> list:
        """The items of an experiment with this display name (the server omits empty lists)."""
        page = self._call(
            what, list_fn, experiment_id=experiment_id, filter=_name_filter(name), page_size=100
        )
        return [item for item in getattr(page, field) or [] if item.display_name == name]

    # --- stages -------------------------------------------------------------------------

    def experiment(self) -> str:
        """The experiment's id; kfp.Client creates it unless its lookup finds it, and a 409
        (another deploy created it in between) means it exists."""
        name = self.settings.kfp_experiment
        namespace = self.settings.kfp_namespace

        def find():
            try:
                return self._call(
                    f"looking up experiment {name!r}",
                    self.client.get_experiment,
                    experiment_name=name,
                    namespace=namespace,
                )
            except ValueError:  # kfp.Client's "No experiment is found with name ..."
                return None

        exp, _ = self._conflict_is_done(
            f"creating experiment {name!r}",
            lambda: self.client.create_experiment(name=name, namespace=namespace),
            find,
        )
        return exp.experiment_id

    def pipeline(self, name: str, description: str) -> tuple[str, str]:
        pipeline_id = self._call(f"looking up pipeline {name!r}", self.client.get_pipeline_id, name)
        if pipeline_id:
            return pipeline_id, "exists"
        import kfp_server_api

        def create():
            body = kfp_server_api.V2beta1Pipeline(display_name=name, description=description)
            return self.client._pipelines_api.pipeline_service_create_pipeline(
                body=body
            ).pipeline_id

        return self._conflict_is_done(
            f"creating pipeline {name!r}",
            create,
            lambda: self._call(f"looking up pipeline {name!r}", self.client.get_pipeline_id, name),
        )

    def _find_version(self, pipeline_id: str, commit: str) -> str | None:
        found = self._call(
            f"looking up version {commit}",
            self.client.list_pipeline_versions,
            pipeline_id,
            filter=_name_filter(commit),
        )
        versions = found.pipeline_versions or []
        return versions[0].pipeline_version_id if versions else None

    def version(self, pipeline_id: str, package: Path, commit: str) -> tuple[str, str]:
        if version_id := self._find_version(pipeline_id, commit):
            self._check_caching(pipeline_id, version_id, package, commit)
            return version_id, "exists"
        version_id, action = self._conflict_is_done(
            f"uploading version {commit}",
            lambda: (
                self.client.upload_pipeline_version(
                    str(package),
                    pipeline_version_name=commit,
                    pipeline_id=pipeline_id,
                    description=f"commit {commit}",
                ).pipeline_version_id
            ),
            lambda: self._find_version(pipeline_id, commit),
        )
        if action == "exists":
            self._check_caching(pipeline_id, version_id, package, commit)
        return version_id, action

    def _check_caching(self, pipeline_id: str, version_id: str, package: Path, commit: str):
        """A version's runs cache as its spec says: an existing version (another deploy's
        upload of this commit) must carry the caching this deploy would upload."""
        version = self._call(
            f"reading version {commit}", self.client.get_pipeline_version, pipeline_id, version_id
        )
        found = task_caching(version.pipeline_spec or {})
        wanted = task_caching(spec_of(read_package(package)))
        if found != wanted:
            differ = sorted(t for t in wanted | found if found.get(t) != wanted.get(t))
            raise BuildError(
                f"{self.where}: version {commit} ({version_id}) exists with other step caching "
                f"than settings.yaml `cache` asks for (tasks {', '.join(differ)}); delete that "
                "version or deploy a new commit"
            )

    def run(
        self,
        experiment_id: str,
        pipeline_id: str,
        version_id: str,
        job: str,
        params: dict,
        enable_caching: bool | None = None,
        *,
        spec: dict,
        started: Callable[[dict], None] | None = None,
    ) -> dict:
        """The commit's run: a succeeded one is reused, a running one awaited, else a new one.
        `params` are checked against `spec` (the version's PipelineSpec) first; `started`
        hears of the run (id and action) once it exists, before it is awaited."""
        params = dict(check(spec, params))
        runs = self._named("listing runs", self.client.list_runs, "runs", experiment_id, job)
        reusable = [r for r in runs if (r.state or "").upper() not in FINISHED - {"SUCCEEDED"}]
        if reusable:
            run_id, action = reusable[0].run_id, "exists"
        else:
            run_id = self._call(
                f"starting run {job!r}",
                self.client.run_pipeline,
                experiment_id=experiment_id,
                job_name=job,
                params=params,
                pipeline_id=pipeline_id,
                version_id=version_id,
                # kfp.Client ignores it for a version, whose package carries the setting;
                # passed so that this call says the same.
                enable_caching=enable_caching,
            ).run_id
            action = "created"
        if started is not None:
            started({"run_id": run_id, "action": action})
        state = self._await(run_id, job)
        return {"run_id": run_id, "action": action, "state": state}

    def _await(self, run_id: str, job: str) -> str:
        deadline = time.monotonic() + self.settings.run_timeout_s
        while True:
            run = self._call(f"reading run {job!r}", self.client.get_run, run_id)
            state = (run.state or "").upper()
            if state in FINISHED:
                if state != "SUCCEEDED":
                    raise BuildError(f"{self.where}: run {job!r} ({run_id}) ended {state}")
                return state
            if time.monotonic() > deadline:
                raise BuildError(
                    f"{self.where}: run {job!r} ({run_id}) still {state or 'PENDING'} after "
                    f"{self.settings.run_timeout_s:.0f} s"
                )
            self._sleep(self.settings.poll_s)

    def schedule(
        self,
        experiment_id: str,
        pipeline_id: str,
        version_id: str,
        name: str,
        params: dict,
        enable_caching: bool | None = None,
        *,
        spec: dict,
    ) -> dict:
        """One recurring run per pipeline: kept when it already runs this version with this
        cron, else every recurring run of that name is replaced by a new one. `params` are
        checked against `spec` (the version's PipelineSpec) first."""
        params = dict(check(spec, params))
        cron = kfp_cron(self.settings.cron)
        existing = self._named(
            "listing recurring runs",
            self.client.list_recurring_runs,
            "recurring_runs",
            experiment_id,
            name,
        )
        current = [
            r
            for r in existing
            if r.pipeline_version_reference
            and r.pipeline_version_reference.pipeline_version_id == version_id
            and r.trigger
            and r.trigger.cron_schedule
            and r.trigger.cron_schedule.cron == cron
        ]
        if len(existing) == 1 and current:
            return {
                "recurring_run_id": current[0].recurring_run_id,
                "action": "exists",
                "cron": cron,
            }
        for old in existing:
            self._call(
                f"deleting recurring run {old.recurring_run_id}",
                self.client.delete_recurring_run,
                old.recurring_run_id,
            )
        created = self._call(
            f"creating recurring run {name!r}",
            self.client.create_recurring_run,
            experiment_id=experiment_id,
            job_name=name,
            cron_expression=cron,
            params=params,
            pipeline_id=pipeline_id,
            version_id=version_id,
            max_concurrency=1,
            no_catchup=True,
            enabled=True,
            enable_caching=enable_caching,  # ignored for a version, as in run()
        )
        action = "replaced" if existing else "created"
        return {"recurring_run_id": created.recurring_run_id, "action": action, "cron": cron}
