"""The shared base image with the ML stack: named after the hash of what builds it, so it is
built once per Dockerfile and lock file, and pulled rather than rebuilt where a registry
already has it (Cloud Build starts each build with an empty engine)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import docker

from mlops.ci import engine
from mlops.core.settings import BuildSettings

LOCK_FILE = "requirements.lock"


@dataclass(frozen=True)
class BaseImage:
    ref: str  # REGISTRY/NAMESPACE/base:<content hash>
    image_id: str
    action: str  # "present" | "pulled" | "built"


def context_files(root: Path, settings: BuildSettings) -> dict[str, Path]:
    """The whole build context of the base image: its Dockerfile, the lock file and the
    packages beside the Dockerfile (mlops_runtime), minus caches."""
    files = {"Dockerfile": settings.base_dockerfile, LOCK_FILE: root / LOCK_FILE}
    folder = settings.base_dockerfile.parent
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" not in path.parts:
            files[str(path.relative_to(folder))] = path
    return files


def content_tag(root: Path, settings: BuildSettings) -> str:
    h = hashlib.sha256()
    for name, path in sorted(context_files(root, settings).items()):
        h.update(f"{name}:{path.stat().st_size}:".encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:20]


def ensure(
    c: docker.DockerClient, root: Path, settings: BuildSettings, nocache: bool = False
) -> BaseImage:
    ref = f"{settings.repository(settings.base_name)}:{content_tag(root, settings)}"
    if not nocache:
        if image_id := engine.image_id(c, ref):
            return BaseImage(ref, image_id, "present")
        if image_id := engine.pull(c, ref):
            return BaseImage(ref, image_id, "pulled")
    print(f"[images] base image {ref}: building (the ML stack: minutes the first time)", flush=True)
    started = time.monotonic()
    image_id = engine.build(
        c,
        [ref],
        context_files=context_files(root, settings),
        nocache=nocache,
        progress=engine.stderr_progress("[images]   base:"),
        what=f"base image ({settings.base_dockerfile})",
    )
    print(f"[images] base image built in {time.monotonic() - started:.0f}s", flush=True)
    return BaseImage(ref, image_id, "built")
