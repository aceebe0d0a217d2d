"""The local prediction service as a long-lived container: deploy_model's own image running
`python -m deploy_model.serve` over the model registry (mounted read-only), on the host
network. It follows the registry's serving.json by itself, so a pipeline's deploy step, `make
promote` and `make rollback` change what it serves without a restart; it is (re)started only
when it is not running or runs another image. `make serve` calls `ensure`."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.core.errors import BuildError

CONTAINER_PREFIX = "mlops-serving-"


@dataclass(frozen=True)
class Service:
    container: str
    image: str
    url: str  # http://HOST:PORT/v1/models/NAME
    action: str  # started | running | restarted


def deploy_model_image(root: Path) -> str:
    """The image deploy_model's pinned spec names (dist/components, written by `make build`;
    components/ itself where CI pinned it in place)."""
    from mlops.ci.pinned_specs import spec_in_use
    from mlops.ci.spec_rewrite import read_image

    spec = spec_in_use(root, "deploy_model")
    image = read_image(spec)
    if "@sha256:" not in image:
        raise BuildError(f"{spec}: image {image!r} is not a built image; run `make build` first")
    return image


def status(url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The service's TF-Serving model status, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def available_versions(answer: dict[str, Any] | None) -> set[str]:
    entries = (answer or {}).get("model_version_status") or []
    return {str(e.get("version")) for e in entries if e.get("state") == "AVAILABLE"}


def ensure(
    root: Path,
    registry: str,
    model_name: str,
    host: str,
    port: int,
    request_log: Path,
    image: str | None = None,
) -> Service:
    """The service runs deploy_model's current image; started or restarted if needed."""
    import docker.errors

    from mlops.ci import engine

    client = engine.client()
    image = image or deploy_model_image(root)
    name = CONTAINER_PREFIX + model_name
    url = f"http://{host}:{port}/v1/models/{model_name}"
    action = "started"
    try:
        existing = client.containers.get(name)
    except docker.errors.NotFound:
        existing = None
    if existing is not None:
        same = existing.attrs["Config"]["Image"] == image and existing.status == "running"
        if same:
            return Service(name, image, url, "running")
        existing.remove(force=True)
        action = "restarted"
    engine.ensure_image(client, image)
    request_log.mkdir(parents=True, exist_ok=True)
    request_log.chmod(0o1777)  # the service runs as uid 1000
    volumes = {str(request_log): {"bind": str(request_log), "mode": "rw"}}
    if not registry.startswith("gs://"):
        Path(registry).mkdir(parents=True, exist_ok=True)
        volumes[registry] = {"bind": registry, "mode": "ro"}
    client.containers.run(
        image=image,
        name=name,
        command=[
            "python", "-m", "deploy_model.serve",
            "--registry", registry,
            "--model-name", model_name,
            "--host", host,
            "--port", str(port),
            "--request-log", str(request_log),
        ],
        detach=True,
        network_mode="host",
        volumes=volumes,
        restart_policy={"Name": "unless-stopped"},
    )  # fmt: skip
    return Service(name, image, url, action)


def wait_for_version(
    url: str, version: str | None, timeout_s: float = 120.0, container: str | None = None
) -> dict[str, Any]:
    """Waits until the service answers (with `version` loaded, when given); its status."""
    deadline = time.monotonic() + timeout_s
    answer = None
    while time.monotonic() < deadline:
        answer = status(url)
        if answer is not None and (version is None or version in available_versions(answer)):
            return answer
        time.sleep(0.5)
    logs = ""
    if container:
        from mlops.ci import engine

        try:
            logs = engine.client().containers.get(container).logs(tail=20).decode(errors="replace")
        except Exception:  # the logs only help the message
            logs = ""
    want = f"version {version}" if version else "an answer"
    raise BuildError(
        f"the prediction service at {url} did not show {want} within {timeout_s:.0f}s "
        f"(last answer: {json.dumps(answer)}){': ' + logs if logs else ''}"
    )


def stop(model_name: str) -> bool:
    import docker.errors

    from mlops.ci import engine

    try:
        engine.client().containers.get(CONTAINER_PREFIX + model_name).remove(force=True)
    except docker.errors.NotFound:
        return False
    return True


def serve_from_settings(root: Path) -> tuple[Service, dict[str, Any]]:
    """`make serve`: the service for settings.yaml's model, started or kept, and its status
    once it answers."""
    from mlops.core.model_settings import load_model_settings

    model = load_model_settings(root)
    s = model.serving
    if s.target != "local":
        raise BuildError(f"serving.target is {s.target!r}: the local service serves target local")
    service = ensure(
        root, s.registry, model.name, s.host, s.port, root / ".local" / "request_logs" / model.name
    )
    return service, wait_for_version(service.url, None, container=service.container)
