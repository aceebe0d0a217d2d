"""Vertex AI Pipelines as a deploy target: submits a compiled pipeline (its IR YAML) as a
PipelineJob and awaits it, and/or replaces its recurring schedule, through the
google-cloud-aiplatform SDK.

- SDK settings are for one call only. The API endpoint and transport exist only as the SDK's
  process-wide settings (`aiplatform.init`), so `deploy` holds a lock, starts from fresh settings,
  calls `aiplatform.init` with every value and puts the caller's settings back afterwards; the
  project, location and credentials are also passed to each SDK object. (`aiplatform.init` also
  forgets any Vertex experiment selected in this process when the project changes; this tool
  selects none.)
- Every API call is retried on 429, 5xx (except 501), unreachable endpoint and timeout, with
  exponential backoff, then fails with a BuildError; 401/403 fail at once. A job's state is
  polled by this module (poll_s), not by the SDK's `wait`, whose sleeps grow to minutes and
  whose reads retry for up to two minutes. Only SUCCEEDED is success; FAILED and CANCELLED
  fail at once, any other state (PAUSED too) is waited on until timeout_s, which fails and
  leaves the job running.
- Retried creations cannot duplicate: a job has a fixed ID, so a repeated submit that finds it
  existing adopts it; a schedule is replaced by creating the new one, then deleting every other
  schedule with that display name (stale ones and any a lost answer left behind). If creating
  fails the old schedule is left running.
- `PipelineJob.submit` first tries to get or create the pipeline_root bucket (Cloud Storage,
  Resource Manager); the SDK logs and ignores any failure there.
- Step caching: `enable_caching` None submits each task's option as compiled; False makes the
  SDK set enableCache false on every task of every DAG of the submitted pipelineSpec, for the
  job and for the schedule's jobs alike.
- What Vertex AI would refuse whatever the moment (a cron it does not parse, a display name
  over 128 characters) is refused before any request: found only at the schedule, it would
  fail the deploy after the integration run had been awaited. Answers that cannot change on a
  retry (400, 404, 409 on a first submit) fail at once.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from mlops.core import cron as cron_check
from mlops.core import parameter_check
from mlops.core.errors import BuildError

ATTEMPTS = 4  # tries of each API call before giving up
REQUEST_TIMEOUT_S = 60.0  # per API request, where the SDK lets it be set
SUCCEEDED = "PIPELINE_STATE_SUCCEEDED"
FAILED_STATES = ("PIPELINE_STATE_FAILED", "PIPELINE_STATE_CANCELLED")

_SDK_LOCK = threading.Lock()
T = TypeVar("T")
MAX_DISPLAY_NAME = 128  # Vertex AI's limit on pipeline job and schedule display names
SCHEDULE_SUFFIX = "-schedule"


def say(message: str) -> None:
    print(f"[deploy] vertex: {message}", flush=True)


@dataclass(frozen=True)
class _Target:
    env: str
    project: str
    location: str
    endpoint: str
    backoff_s: float

    def where(self) -> str:
        return (
            f"environment {self.env!r} (Vertex AI project {self.project!r}, "
            f"location {self.location!r}, endpoint {self.endpoint})"
        )


def label_value(text: str) -> str:
    """A Vertex label value: at most 63 of lowercase letters, digits, '_' and '-'."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def job_id(display_name: str) -> str:
    """A fresh PipelineJob ID (^[a-z][-a-z0-9]{0,127}$), unique even within one second."""
    slug = re.sub(r"[^a-z0-9]+", "-", display_name.lower()).strip("-")
    if not slug[:1].isalpha():
        slug = f"p-{slug}".rstrip("-")
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    return f"{slug[:100].rstrip('-')}-{stamp}-{secrets.token_hex(3)}"


def _check_before_any_request(target: _Target, display_name: str, cron: str | None) -> None:
    names = [("pipeline job display name", display_name)]
    if cron:
        names.append(("schedule display name", display_name + SCHEDULE_SUFFIX))
        problem = cron_check.problem(cron)
        if problem:
            raise BuildError(
                f"{target.where()}: Vertex AI would refuse the schedule cron {cron!r}: "
                f"{problem}; use five unix-cron fields, optionally after TZ=<IANA time zone>"
            )
    for what, name in names:
        if len(name) > MAX_DISPLAY_NAME:
            raise BuildError(
                f"{target.where()}: the {what} {name!r} has {len(name)} characters; Vertex AI "
                f"takes at most {MAX_DISPLAY_NAME}"
            )


@contextlib.contextmanager
def _sdk_settings(target: _Target, credentials: Any, api_endpoint: str | None) -> Iterator[None]:
    from google.cloud import aiplatform
    from google.cloud.aiplatform import initializer

    config = initializer.global_config
    with _SDK_LOCK:
        saved = dict(vars(config))
        try:
            vars(config).update(vars(type(config)()))  # fresh: nothing of the caller's leaks in
            try:
                aiplatform.init(
                    project=target.project,
                    location=target.location,
                    credentials=credentials,
                    api_endpoint=api_endpoint,
                    api_transport="rest" if api_endpoint else "grpc",
                )
            except ValueError as e:  # e.g. a location the SDK does not know
                raise BuildError(f"{target.where()}: the Vertex AI SDK rejects it: {e}") from e
            yield
        finally:
            vars(config).clear()
            vars(config).update(saved)


def _call(target: _Target, what: str, fn: Callable[[int], T]) -> T:
    """fn(attempt) with retries of transient failures; any failure ends as a BuildError."""
    import google.auth.exceptions
    import requests
    from google.api_core import exceptions as api

    network = (requests.ConnectionError, requests.Timeout)  # REST transport; gRPC gives 503
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return fn(attempt)
        except (api.Unauthorized, api.Forbidden) as e:
            raise BuildError(
                f"{target.where()}: the credentials were refused while trying to {what} "
                f"in project {target.project!r} ({e.code} {_reason(e)})"
            ) from e
        except google.auth.exceptions.TransportError as e:
            raise BuildError(
                f"{target.where()}: could not {what}: cannot reach the token endpoint to "
                f"refresh the credentials for project {target.project!r}: {e}"
            ) from e
        except google.auth.exceptions.GoogleAuthError as e:
            # On a 401 the session refreshes the credentials and tries again; this is where
            # that ends when they cannot be refreshed (revoked, anonymous, token endpoint says no).
            raise BuildError(
                f"{target.where()}: the credentials were refused while trying to {what} "
                f"in project {target.project!r} (could not refresh them: {_reason(e)})"
            ) from e
        except (api.TooManyRequests, api.ServerError, *network) as e:
            transient = not isinstance(e, api.MethodNotImplemented)
            if transient and attempt < ATTEMPTS:
                delay = target.backoff_s * 2 ** (attempt - 1)
                say(f"{what}: {_brief(e)}; retrying in {delay:g}s ({attempt}/{ATTEMPTS})")
                time.sleep(delay)
                continue
            if isinstance(e, network):
                raise BuildError(
                    f"{target.where()}: cannot reach the Vertex AI endpoint {target.endpoint} "
                    f"or no answer from it, to {what} (tried {attempt} times): {_brief(e)}"
                ) from e
            raise BuildError(
                f"{target.where()}: could not {what}: Vertex AI answered "
                f"{e.code} {_reason(e)} (tried {attempt} times)"
            ) from e
        except api.GoogleAPICallError as e:
            raise BuildError(
                f"{target.where()}: could not {what}: Vertex AI answered {e.code} {_reason(e)}"
            ) from e
        except ValueError as e:  # the SDK's own checks, before any request
            raise BuildError(f"{target.where()}: could not {what}: {e}") from e
    raise AssertionError("unreachable")


def _reason(e: Any) -> str:
    return f"{type(e).__name__}: {getattr(e, 'message', None) or e}"


def _brief(e: Exception) -> str:
    from google.api_core import exceptions as api

    if isinstance(e, api.GoogleAPICallError):
        return f"{e.code} {type(e).__name__}"
    return f"{type(e).__name__}: {str(e)[:200]}"


def _pipeline_job(
    target: _Target,
    ir_path: Path,
    *,
    display_name: str,
    pipeline_root: str,
    parameters: dict,
    labels: dict[str, str],
    credentials: Any,
    enable_caching: bool | None,
):
    import google.auth.exceptions
    from google.cloud import aiplatform

    try:
        return aiplatform.PipelineJob(
            display_name=display_name,
            template_path=str(ir_path),
            job_id=job_id(display_name),
            pipeline_root=pipeline_root,
            parameter_values=dict(parameters),
            labels=labels,
            enable_caching=enable_caching,
            project=target.project,
            location=target.location,
            credentials=credentials,
        )
    except google.auth.exceptions.GoogleAuthError as e:
        raise BuildError(
            f"{target.where()}: no usable credentials for project {target.project!r}: {e}"
        ) from e
    except (ValueError, KeyError, TypeError, OSError) as e:
        raise BuildError(
            f"{target.where()}: {ir_path} with parameters {sorted(parameters)} is not a "
            f"runnable Vertex AI pipeline: {type(e).__name__}: {e}"
        ) from e


def _run(target: _Target, job, timeout_s: float, poll_s: float) -> tuple[str, str]:
    """Submits the job and polls it to an end; returns (resource name, final state)."""
    from google.api_core import exceptions as api

    name = f"projects/{target.project}/locations/{target.location}/pipelineJobs/{job.job_id}"

    def submit(attempt: int) -> str:
        try:
            job.submit(create_request_timeout=REQUEST_TIMEOUT_S)
        except api.Conflict:  # 409: REST gives Conflict, gRPC its subclass AlreadyExists
            if attempt == 1:
                raise
            return name  # an earlier attempt created it, its answer was lost; polling checks
        return job.resource_name

    name = _call(target, f"submit pipeline job {name}", submit)
    say(f"submitted {name}")
    deadline = time.monotonic() + timeout_s
    while True:
        resource = _call(
            target,
            f"get the state of pipeline job {name}",
            lambda _: job.api_client.get_pipeline_job(
                name=name, retry=None, timeout=REQUEST_TIMEOUT_S
            ),
        )
        state = resource.state.name
        if state == SUCCEEDED:
            say(f"{name}: {state}")
            return name, state
        if state in FAILED_STATES:
            detail = resource.error.message or "no error message"
            raise BuildError(f"{target.where()}: pipeline job {name} ended {state}: {detail}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BuildError(
                f"{target.where()}: pipeline job {name} did not finish within {timeout_s:g}s; "
                f"last state {state} (the job was left running)"
            )
        time.sleep(min(poll_s, remaining))


def _replace_schedule(target: _Target, template_job, schedule_name: str, cron: str, creds) -> str:
    """Creates the schedule, then deletes every other one of that display name."""
    from google.api_core import exceptions as api
    from google.cloud import aiplatform

    created = _call(
        target,
        f"create schedule {schedule_name!r} ({cron})",
        lambda _: template_job.create_schedule(
            cron=cron, display_name=schedule_name, create_request_timeout=REQUEST_TIMEOUT_S
        ),
    )
    new = created.resource_name
    quoted = schedule_name.replace("\\", "\\\\").replace('"', '\\"')
    listed = _call(
        target,
        f"list schedules named {schedule_name!r}",
        lambda _: aiplatform.PipelineJobSchedule.list(
            filter=f'display_name="{quoted}"',
            project=target.project,
            location=target.location,
            credentials=creds,
        ),
    )
    for old in listed:
        if old.display_name != schedule_name or old.resource_name == new:
            continue

        def delete(_: int, old=old) -> None:
            try:
                old.delete()
            except api.NotFound:
                pass  # already gone (e.g. an earlier attempt's answer was lost)

        _call(target, f"delete the replaced schedule {old.resource_name}", delete)
        say(f"deleted the replaced schedule {old.resource_name}")
    say(f"schedule {new} ({cron})")
    return new


def deploy(
    ir_path: Path,
    *,
    env: str,
    project: str,
    location: str,
    pipeline_root: str,
    display_name: str,
    commit: str,
    parameters: dict,
    run: bool,
    timeout_s: float,
    cron: str | None,
    api_endpoint: str | None = None,
    credentials=None,
    poll_s: float = 10.0,
    retry_backoff_s: float = 1.0,
    enable_caching: bool | None = None,
) -> dict:
    """Runs the pipeline at ir_path once on Vertex AI Pipelines (if `run`), awaiting its end,
    and makes `cron` its one recurring schedule (if given). Returns a JSON-able record.

    api_endpoint: e.g. "http://127.0.0.1:8080" for the REST API there; None for Vertex AI's
    regional endpoint over gRPC. credentials: google.auth credentials; None for the
    application default credentials. retry_backoff_s: first retry delay, doubling after.
    enable_caching: None keeps each task's compiled caching option, False turns every task's
    off (True, every task's on, is accepted as the SDK takes it)."""
    ir_path = Path(ir_path)
    endpoint = api_endpoint or f"{location}-aiplatform.googleapis.com (default)"
    target = _Target(env, project, location, endpoint, retry_backoff_s)
    if not ir_path.is_file():
        raise BuildError(f"{target.where()}: pipeline IR {ir_path} not found")
    _check_before_any_request(target, display_name, cron)
    # Checked before any request: Vertex AI would refuse them only once the job is submitted.
    parameters = dict(
        parameter_check.check(parameter_check.spec_of(ir_path.read_text()), parameters)
    )
    record: dict = {
        "target": "vertex",
        "project": project,
        "location": location,
        "job": None,
        "state": None,
        "schedule": None,
    }
    with _sdk_settings(target, credentials, api_endpoint):
        labels = {"commit": label_value(commit)}

        def new_job():
            return _pipeline_job(
                target,
                ir_path,
                display_name=display_name,
                pipeline_root=pipeline_root,
                parameters=parameters,
                labels=labels,
                credentials=credentials,
                enable_caching=enable_caching,
            )

        if run:
            record["job"], record["state"] = _run(target, new_job(), timeout_s, poll_s)
        if cron:
            record["schedule"] = _replace_schedule(
                target, new_job(), display_name + SCHEDULE_SUFFIX, cron, credentials
            )
    return record
