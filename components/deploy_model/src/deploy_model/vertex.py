"""Vertex AI as a serving target: each deploy uploads the model as a new version of one Model
Registry entry and deploys it to one online prediction endpoint, as a canary when another model
is serving there; promote, rollback and status manage the endpoint's traffic split. All through
the google-cloud-aiplatform SDK (imported inside the functions).

The endpoint's state is the whole truth; nothing is kept elsewhere. On an endpoint:
- the *canary* is the most recently deployed model, when more than one model is deployed;
- the *stable* model is the one with the most traffic among the others (ties: the newest).
With one model deployed there is no canary. This module keeps at most two models deployed:
- `deploy` with traffic_percent p < 100 on an endpoint that serves a model gives the new version
  p% and the stable model the rest, then undeploys any other (a previous canary is replaced).
  With p = 100 the new version takes all the traffic and the stable one stays deployed at 0%,
  so that `rollback` can still go back to it until `promote`. On an endpoint that serves nothing
  the new version gets 100% whatever p is.
- `set_canary_traffic` (a ramp step): the canary gets p% (1-99), the stable model the rest.
- `promote`: the canary gets 100%, then every other deployed model is undeployed.
- `rollback`: the stable model gets 100%, then every other one (the canary) is undeployed.
  With no canary, the previous stable version (below) is deployed again with 100% and the
  current one undeployed; with no previous stable version either, it fails.
Traffic is moved first (`Endpoint.update`) and models are undeployed after, so a promote or
rollback interrupted between the two is finished by running it again.

Which version is stable is also kept in the Model Registry, as version aliases: `stable` on
the version that became stable (first deploy on an empty endpoint, promote, rollback without
canary) and `previous-stable` on the one it replaced (promote). A rollback without canary
redeploys `previous-stable`, which then becomes `stable` and loses `previous-stable`: one level
back, a second such rollback fails. Every uploaded version is also the model's `default`.

SDK settings are for one call only: the API endpoint and transport exist only as the SDK's
process-wide settings (`aiplatform.init`), so each function holds a lock, starts from fresh
settings and puts the caller's back afterwards. `api_endpoint` None means Vertex AI's regional
endpoint over gRPC with the application default credentials; an `http://` endpoint (a local
double or emulator) is reached over REST with anonymous credentials (a token is never sent in
clear text); an `https://` one over REST with the application default credentials.

Reads (list, get) and traffic updates are retried on 429, 5xx (not 501) and unreachable
endpoint with backoff; uploads, endpoint creations, deploys and undeploys are not, since a
retry after a lost answer would upload or deploy twice: they fail with a VertexDeployError that
names the operation, and running the step again sees the endpoint's state as it is. Every
failure of the SDK or the API ends as a VertexDeployError.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

ATTEMPTS = 4  # tries of each retried API call
BACKOFF_S = 1.0  # first retry delay, doubling after
REQUEST_TIMEOUT_S = 60.0  # per API request, where the SDK lets it be set
MACHINE_TYPE = "n1-standard-2"  # the SDK's default machine type for dedicated resources
STABLE = "stable"  # version alias of the stable version (module doc)
PREVIOUS_STABLE = "previous-stable"

_SDK_LOCK = threading.Lock()
T = TypeVar("T")


class VertexDeployError(Exception):
    """A deploy, promote, rollback or status on Vertex AI could not be carried out."""


@dataclass
class VertexTarget:
    project: str
    location: str
    endpoint: str  # endpoint display name (created on first deploy if absent)
    model_display_name: str  # the Model Registry entry; each deploy adds a version to it
    serving_image: str  # serving container image URI (e.g. a TF Serving prebuilt image)
    api_endpoint: str | None = None  # None: Vertex AI's own; tests point it at the double

    def where(self) -> str:
        api = self.api_endpoint or f"{self.location}-aiplatform.googleapis.com"
        return (
            f"Vertex AI endpoint {self.endpoint!r} (project {self.project!r}, "
            f"location {self.location!r}, API {api})"
        )


def say(message: str) -> None:
    print(f"[deploy_model] vertex: {message}", flush=True)


def label_value(text: str) -> str:
    """A Vertex label value: at most 63 of lowercase letters, digits, '_' and '-'."""
    return re.sub(r"[^a-z0-9_-]", "-", str(text).lower())[:63]


def _labels(labels: dict[str, str]) -> dict[str, str]:
    out = {}
    for key, value in (labels or {}).items():
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", str(key)):
            raise VertexDeployError(
                f"label key {key!r} is not a Vertex AI label key (lowercase letters, digits, "
                "'_' and '-', starting with a letter, at most 63)"
            )
        out[key] = label_value(value)
    return out


# -- checks ------------------------------------------------------------------------------------


def _check_target(target: VertexTarget, *, deploying: bool) -> None:
    fields = ["project", "location", "endpoint"]
    if deploying:
        fields += ["model_display_name", "serving_image"]
    for name in fields:
        value = getattr(target, name)
        if not isinstance(value, str) or not value.strip():
            raise VertexDeployError(f"VertexTarget.{name} is required (got {value!r})")
    if not re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]", target.location):
        raise VertexDeployError(
            f"VertexTarget.location {target.location!r} is not a region like 'us-central1'"
        )
    if target.api_endpoint is not None and not target.api_endpoint.strip():
        raise VertexDeployError("VertexTarget.api_endpoint is empty: use None for Vertex AI's")


# -- SDK plumbing ------------------------------------------------------------------------------


@contextlib.contextmanager
def _sdk(target: VertexTarget, credentials: Any) -> Iterator[Any]:
    """aiplatform, initialised for the target for the duration of the block; yields the
    credentials to pass to each SDK object."""
    from google.cloud import aiplatform
    from google.cloud.aiplatform import initializer

    api = target.api_endpoint
    if credentials is None and api and api.startswith("http://"):
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
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
                    api_endpoint=api,
                    api_transport="rest" if api else "grpc",
                )
            except ValueError as e:  # e.g. a location the SDK does not know
                raise VertexDeployError(
                    f"{target.where()}: the Vertex AI SDK rejects it: {e}"
                ) from e
            yield credentials
        finally:
            vars(config).clear()
            vars(config).update(saved)


def _call(target: VertexTarget, what: str, fn: Callable[[], T], *, retry: bool = False) -> T:
    """fn() with transient failures retried when `retry`; any failure ends as a
    VertexDeployError naming `what`."""
    import google.auth.exceptions
    import requests
    from google.api_core import exceptions as api

    network = (requests.ConnectionError, requests.Timeout)  # REST; gRPC gives 503
    attempts = ATTEMPTS if retry else 1
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except VertexDeployError:
            raise
        except (api.Unauthorized, api.Forbidden) as e:
            raise VertexDeployError(
                f"{target.where()}: the credentials were refused while trying to {what} "
                f"({e.code} {_reason(e)})"
            ) from e
        except google.auth.exceptions.GoogleAuthError as e:
            raise VertexDeployError(
                f"{target.where()}: no usable credentials to {what}: {_reason(e)}"
            ) from e
        except (api.TooManyRequests, api.ServerError, *network) as e:
            transient = not isinstance(e, api.MethodNotImplemented)
            if transient and attempt < attempts:
                delay = BACKOFF_S * 2 ** (attempt - 1)
                say(f"{what}: {_reason(e)[:200]}; retrying in {delay:g}s ({attempt}/{attempts})")
                time.sleep(delay)
                continue
            if isinstance(e, network):
                raise VertexDeployError(
                    f"{target.where()}: cannot reach the Vertex AI API to {what} "
                    f"(tried {attempt} times): {_reason(e)[:300]}"
                ) from e
            raise VertexDeployError(
                f"{target.where()}: could not {what}: Vertex AI answered {e.code} {_reason(e)} "
                f"(tried {attempt} times)"
            ) from e
        except api.GoogleAPICallError as e:
            # Also a long-running operation that ended with an error: its google.rpc status.
            raise VertexDeployError(
                f"{target.where()}: could not {what}: {e.code} {_reason(e)}"
            ) from e
        except ValueError as e:  # the SDK's own checks
            raise VertexDeployError(f"{target.where()}: could not {what}: {e}") from e
    raise AssertionError("unreachable")


def _reason(e: Any) -> str:
    return f"{type(e).__name__}: {getattr(e, 'message', None) or e}"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _find_one(target: VertexTarget, credentials: Any, kind: str, name: str, purpose: str):
    """The Vertex AI resource of `kind` ("model" or "endpoint") whose display name is `name`,
    or None; more than one is refused, since none of them is the one to `purpose`."""
    from google.cloud import aiplatform

    resource = aiplatform.Model if kind == "model" else aiplatform.Endpoint
    found = _call(
        target,
        f"list the {kind}s named {name!r}",
        lambda: resource.list(
            filter=f"display_name={_quoted(name)}",
            project=target.project,
            location=target.location,
            credentials=credentials,
        ),
        retry=True,
    )
    found = [r for r in found if r.display_name == name]
    if len(found) > 1:
        raise VertexDeployError(
            f"{target.where()}: {len(found)} {kind}s are named {name!r} "
            f"({', '.join(r.resource_name for r in found)}): cannot tell which one to "
            f"{purpose}; delete or rename the extra ones"
        )
    return found[0] if found else None


def _find_model(target: VertexTarget, credentials: Any):
    """The Model Registry entry named target.model_display_name, or None."""
    return _find_one(target, credentials, "model", target.model_display_name, "add a version to")


def _find_endpoint(target: VertexTarget, credentials: Any):
    """The endpoint named target.endpoint, or None."""
    return _find_one(target, credentials, "endpoint", target.endpoint, "use")


def _existing_endpoint(target: VertexTarget, credentials: Any):
    endpoint = _find_endpoint(target, credentials)
    if endpoint is None:
        raise VertexDeployError(f"{target.where()}: no endpoint named {target.endpoint!r}")
    return endpoint


def _refresh(target: VertexTarget, endpoint) -> None:
    _call(
        target,
        f"get endpoint {endpoint.resource_name}",
        endpoint._sync_gca_resource,
        retry=True,
    )


# -- the endpoint's state ----------------------------------------------------------------------


def _deployed(endpoint) -> list[dict]:
    """The endpoint's deployed models, oldest first, with their traffic."""
    split = dict(endpoint.gca_resource.traffic_split)
    models = [
        {
            "id": m.id,
            "display_name": m.display_name,
            "model": m.model,
            "version_id": m.model_version_id,
            "traffic_percent": int(split.get(m.id, 0)),
            "create_time": m.create_time.isoformat() if m.create_time else None,
        }
        for m in endpoint.gca_resource.deployed_models
    ]
    return sorted(models, key=lambda m: (m["create_time"] or "", _numeric(m["id"])))


def _numeric(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (0, text)


def _roles(models: list[dict]) -> tuple[dict | None, dict | None]:
    """(stable, canary) among the deployed models, oldest first (module doc)."""
    if not models:
        return None, None
    if len(models) == 1:
        return models[0], None
    canary = models[-1]
    stable = max(reversed(models[:-1]), key=lambda m: m["traffic_percent"])
    return stable, canary


def _state(endpoint) -> dict:
    models = _deployed(endpoint)
    stable, canary = _roles(models)
    return {
        "endpoint": endpoint.resource_name,
        "deployed_models": models,
        "traffic_split": {m["id"]: m["traffic_percent"] for m in models},
        "stable": stable["id"] if stable else None,
        "canary": canary["id"] if canary else None,
    }


def _set_traffic(target: VertexTarget, endpoint, split: dict[str, int], why: str) -> None:
    current = {k: int(v) for k, v in endpoint.gca_resource.traffic_split.items() if v}
    if current == split:
        return
    _call(
        target,
        f"{why}: set the traffic split of {endpoint.resource_name} to {split}",
        lambda: endpoint.update(traffic_split=split, update_request_timeout=REQUEST_TIMEOUT_S),
        retry=True,
    )
    say(f"{endpoint.resource_name}: traffic {split}")


def _set_aliases(
    target: VertexTarget,
    credentials: Any,
    deployed: dict,
    *,
    add: tuple[str, ...] = (),
    remove: tuple[str, ...] = (),
    why: str,
) -> None:
    """Version aliases of a deployed model's version: `add` move to it, `remove` leave it."""
    from google.cloud.aiplatform import models

    registry = models.ModelRegistry(
        deployed["model"],
        project=target.project,
        location=target.location,
        credentials=credentials,
    )
    version = deployed["version_id"]
    if add:
        _call(
            target,
            f"{why}: alias version {version} of {deployed['model']} {', '.join(add)}",
            lambda: registry.add_version_aliases(list(add), version=version),
            retry=True,  # an alias names one version: adding it again changes nothing
        )
    if remove:
        _call(
            target,
            f"{why}: remove alias {', '.join(remove)} from version {version} of "
            f"{deployed['model']}",
            lambda: registry.remove_version_aliases(list(remove), version=version),
            retry=True,
        )


def _undeploy(target: VertexTarget, endpoint, model: dict, why: str) -> None:
    _call(
        target,
        f"{why}: undeploy deployed model {model['id']} ({model['model']} version "
        f"{model['version_id']}) from {endpoint.resource_name}",
        lambda: endpoint.undeploy(deployed_model_id=model["id"]),
    )
    say(f"{endpoint.resource_name}: undeployed {model['id']} (version {model['version_id']})")


# -- the interface -----------------------------------------------------------------------------


def deploy(
    target: VertexTarget,
    artifact_uri: str,
    traffic_percent: int,
    labels: dict[str, str],
    *,
    machine_type: str = MACHINE_TYPE,
    credentials: Any = None,
) -> dict:
    """Uploads the SavedModel folder `artifact_uri` (gs://) as a new version of the model
    target.model_display_name (labelled with `labels`), and deploys it to the endpoint (created
    if absent) with traffic_percent of the traffic, or 100 if nothing is deployed there (module
    doc). Returns the model resource name and version id, the endpoint, the deployed model ids
    and the resulting traffic split."""
    _check_target(target, deploying=True)
    if not isinstance(artifact_uri, str) or not re.fullmatch(r"gs://[^/]+/.*", artifact_uri):
        raise VertexDeployError(
            f"artifact_uri must be a gs:// folder holding the SavedModel (got {artifact_uri!r})"
        )
    if (
        isinstance(traffic_percent, bool)
        or not isinstance(traffic_percent, int)
        or not 1 <= traffic_percent <= 100
    ):
        raise VertexDeployError(
            f"traffic_percent must be a whole number from 1 to 100 (got {traffic_percent!r})"
        )
    model_labels = _labels(labels)
    from google.cloud import aiplatform

    with _sdk(target, credentials) as creds:
        parent = _find_model(target, creds)
        parent_name = parent.resource_name if parent is not None else None
        model = _call(
            target,
            f"upload {artifact_uri} as a new version of model {target.model_display_name!r}"
            + (f" ({parent_name})" if parent_name else ""),
            lambda: aiplatform.Model.upload(
                display_name=target.model_display_name,
                artifact_uri=artifact_uri,
                serving_container_image_uri=target.serving_image,
                parent_model=parent_name,
                is_default_version=True,
                labels=model_labels,
                project=target.project,
                location=target.location,
                credentials=creds,
                sync=True,
                upload_request_timeout=REQUEST_TIMEOUT_S,
            ),
        )
        version = model.version_id
        say(f"uploaded {artifact_uri} as {model.resource_name} version {version}")

        endpoint = _find_endpoint(target, creds)
        if endpoint is None:
            endpoint = _call(
                target,
                f"create endpoint {target.endpoint!r}",
                lambda: aiplatform.Endpoint.create(
                    display_name=target.endpoint,
                    project=target.project,
                    location=target.location,
                    credentials=creds,
                    sync=True,
                    create_request_timeout=REQUEST_TIMEOUT_S,
                ),
            )
            say(f"created endpoint {endpoint.resource_name}")

        before = _deployed(endpoint)
        stable, _ = _roles(before)
        if stable is None:
            split = {"0": 100}
        elif traffic_percent == 100:
            split = {"0": 100}
        else:
            split = {stable["id"]: 100 - traffic_percent, "0": traffic_percent}
        _call(
            target,
            f"deploy {model.resource_name} version {version} to {endpoint.resource_name} "
            f"with {split['0']}% of the traffic",
            lambda: endpoint.deploy(
                model=model,
                deployed_model_display_name=f"{target.model_display_name}-v{version}",
                traffic_split=split,
                machine_type=machine_type,
                min_replica_count=1,
                max_replica_count=1,
                sync=True,
            ),
        )
        _refresh(target, endpoint)  # the SDK does too, on success; this is the checked read
        new = [m for m in _deployed(endpoint) if m["id"] not in {b["id"] for b in before}]
        if len(new) != 1:
            raise VertexDeployError(
                f"{target.where()}: after deploying {model.resource_name} version {version}, "
                f"{len(new)} new deployed models are on {endpoint.resource_name}, not 1"
            )
        deployed_id = new[0]["id"]
        say(f"deployed version {version} as {deployed_id} with {split['0']}% of the traffic")
        for old in before:
            if stable is not None and old["id"] != stable["id"]:
                _undeploy(target, endpoint, old, "replace the previous canary")
        if stable is None:
            _set_aliases(target, creds, new[0], add=(STABLE,), why="mark the first version")
        _refresh(target, endpoint)
        state = _state(endpoint)
    return {
        "model": model.resource_name,
        "version_id": version,
        "model_version": model.versioned_resource_name,
        "endpoint": state["endpoint"],
        "deployed_model_id": deployed_id,
        "deployed_model_ids": [m["id"] for m in state["deployed_models"]],
        "traffic_split": state["traffic_split"],
        "stable": state["stable"],
        "canary": state["canary"],
    }


def promote(target: VertexTarget, *, credentials: Any = None) -> dict:
    """The canary gets 100% of the traffic; every other deployed model is undeployed. Returns
    the promoted deployed model and the endpoint's state (as `status`)."""
    _check_target(target, deploying=False)
    with _sdk(target, credentials) as creds:
        endpoint = _existing_endpoint(target, creds)
        stable, canary = _roles(_deployed(endpoint))
        if canary is None:
            what = (
                f"only {stable['id']} (version {stable['version_id']}) is deployed"
                if stable
                else "no model is deployed"
            )
            raise VertexDeployError(
                f"{target.where()}: no canary to promote: {what} on {endpoint.resource_name}"
            )
        _set_traffic(target, endpoint, {canary["id"]: 100}, "promote the canary")
        for old in _deployed(endpoint):
            if old["id"] != canary["id"]:
                _undeploy(target, endpoint, old, "promote the canary")
        if (stable["model"], stable["version_id"]) != (canary["model"], canary["version_id"]):
            if stable["model"] == canary["model"]:
                _set_aliases(target, creds, stable, add=(PREVIOUS_STABLE,), why="promote")
            _set_aliases(target, creds, canary, add=(STABLE,), why="promote")
        _refresh(target, endpoint)
        return dict(_state(endpoint), promoted=canary["id"], version_id=canary["version_id"])


def set_canary_traffic(target: VertexTarget, percent: int, *, credentials: Any = None) -> dict:
    """A ramp step: the canary gets `percent` (1-99) of the traffic and the stable model the
    rest; both stay deployed. Returns the endpoint's state (as `status`)."""
    _check_target(target, deploying=False)
    if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 99:
        raise VertexDeployError(
            f"the canary's share must be a whole number from 1 to 99 (got {percent!r}; 100 is "
            "a promote)"
        )
    with _sdk(target, credentials) as creds:
        endpoint = _existing_endpoint(target, creds)
        stable, canary = _roles(_deployed(endpoint))
        if canary is None:
            raise VertexDeployError(
                f"{target.where()}: no canary to ramp on {endpoint.resource_name}"
            )
        split = {stable["id"]: 100 - percent, canary["id"]: percent}
        _set_traffic(target, endpoint, split, f"give the canary {percent}% of the traffic")
        _refresh(target, endpoint)
        return dict(_state(endpoint), ramped=canary["id"], canary_percent=percent)


def rollback(target: VertexTarget, *, credentials: Any = None) -> dict:
    """The stable model gets 100% of the traffic back; the canary is undeployed. With no
    canary, the previous stable version replaces the current one (module doc). Returns the
    undeployed model and the endpoint's state."""
    _check_target(target, deploying=False)
    with _sdk(target, credentials) as creds:
        endpoint = _existing_endpoint(target, creds)
        stable, canary = _roles(_deployed(endpoint))
        if canary is None:
            return _rollback_to_previous(target, creds, endpoint, stable)
        _set_traffic(target, endpoint, {stable["id"]: 100}, "roll back the canary")
        for other in _deployed(endpoint):
            if other["id"] != stable["id"]:
                _undeploy(target, endpoint, other, "roll back the canary")
        _refresh(target, endpoint)
        return dict(
            _state(endpoint),
            rolled_back=canary["id"],
            rolled_back_version_id=canary["version_id"],
        )


def _rollback_to_previous(target: VertexTarget, creds: Any, endpoint, current: dict | None):
    """No canary: deploys the model's `previous-stable` version with 100% of the traffic and
    undeploys the current one (module doc)."""
    from google.api_core import exceptions as api
    from google.cloud import aiplatform

    if current is None:
        raise VertexDeployError(
            f"{target.where()}: nothing to roll back: no model is deployed on "
            f"{endpoint.resource_name}"
        )
    model = _find_model(target, creds)
    previous = None
    if model is not None:
        try:
            previous = _call(
                target,
                f"get the {PREVIOUS_STABLE!r} version of {model.resource_name}",
                lambda: aiplatform.Model(
                    model.resource_name,
                    version=PREVIOUS_STABLE,
                    project=target.project,
                    location=target.location,
                    credentials=creds,
                ),
                retry=True,
            )
        except VertexDeployError as e:
            if not isinstance(e.__cause__, api.NotFound):
                raise
    if previous is None:
        raise VertexDeployError(
            f"{target.where()}: nothing to roll back: no canary on {endpoint.resource_name} "
            f"(only {current['id']}, version {current['version_id']} of {current['model']}, "
            f"is deployed) and model {target.model_display_name!r} has no version aliased "
            f"{PREVIOUS_STABLE!r} to go back to"
        )
    version = previous.version_id
    if (previous.resource_name, version) == (current["model"], current["version_id"]):
        raise VertexDeployError(
            f"{target.where()}: nothing to roll back: the {PREVIOUS_STABLE!r} version "
            f"{version} of {previous.resource_name} is the one deployed"
        )
    _call(
        target,
        f"roll back: deploy {previous.resource_name} version {version} to "
        f"{endpoint.resource_name} with 100% of the traffic",
        lambda: endpoint.deploy(
            model=previous,
            deployed_model_display_name=f"{target.model_display_name}-v{version}",
            traffic_split={"0": 100},
            machine_type=MACHINE_TYPE,
            min_replica_count=1,
            max_replica_count=1,
            sync=True,
        ),
    )
    _refresh(target, endpoint)
    restored = [m for m in _deployed(endpoint) if m["id"] != current["id"]]
    if len(restored) != 1:
        raise VertexDeployError(
            f"{target.where()}: after redeploying {previous.resource_name} version {version}, "
            f"{len(restored)} other deployed models are on {endpoint.resource_name}, not 1"
        )
    _undeploy(target, endpoint, current, "roll back")
    _set_aliases(
        target, creds, restored[0], add=(STABLE,), remove=(PREVIOUS_STABLE,), why="roll back"
    )
    _refresh(target, endpoint)
    return dict(
        _state(endpoint),
        rolled_back=current["id"],
        rolled_back_version_id=current["version_id"],
        restored_version_id=version,
    )


def status(target: VertexTarget, *, credentials: Any = None) -> dict:
    """The endpoint's deployed models (oldest first: id, model, version, traffic), its traffic
    split and which one is stable and which the canary; endpoint None if it does not exist."""
    _check_target(target, deploying=False)
    with _sdk(target, credentials) as creds:
        endpoint = _find_endpoint(target, creds)
        if endpoint is None:
            return {
                "endpoint": None,
                "deployed_models": [],
                "traffic_split": {},
                "stable": None,
                "canary": None,
            }
        return _state(endpoint)
