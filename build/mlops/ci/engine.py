"""The Docker engine operations of the build: build from a context, tag, push, inspect.
Thin wrappers over the Docker SDK that turn failures into BuildErrors with the engine's
own last lines of output."""

from __future__ import annotations

import io
import os
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
from docker.utils import build as docker_build

from mlops.ci.build_inputs import dockerignore_patterns
from mlops.core.errors import BuildError

Progress = Callable[[str], None]


def client() -> docker.DockerClient:
    try:
        c = docker.from_env(timeout=600)
        c.ping()
    except docker.errors.DockerException as e:
        raise BuildError(f"the Docker engine does not answer ({e}); run `make setup` first") from e
    return c


def image_id(c: docker.DockerClient, ref: str) -> str | None:
    """The local image id of ref, or None when the engine has no such image."""
    try:
        return c.images.get(ref).id
    except docker.errors.ImageNotFound:
        return None


def _context_tar(folder: Path, extra: dict[str, Path] | None = None) -> io.BytesIO:
    if extra is not None:  # an assembled context: exactly these files
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for arcname, path in sorted(extra.items()):
                tar.add(str(path), arcname=arcname)
        buf.seek(0)
        return buf
    patterns = dockerignore_patterns(folder)
    fileobj = docker_build.tar(str(folder), exclude=patterns, dockerfile=("Dockerfile", None))
    return fileobj


def build(
    c: docker.DockerClient,
    tags: list[str],
    context_dir: Path | None = None,
    context_files: dict[str, Path] | None = None,
    buildargs: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    nocache: bool = False,
    progress: Progress | None = None,
    what: str = "image",
) -> str:
    """Builds an image (classic builder, host network: see ../shared/ENVIRONMENT.md), tags
    it with every tag, and returns its id. progress receives each 'Step n/m' line."""
    context = _context_tar(context_dir or Path("."), context_files)
    log: list[str] = []
    built_id = None
    try:
        for chunk in c.api.build(
            fileobj=context,
            custom_context=True,
            tag=tags[0],
            buildargs=buildargs or {},
            labels=labels or {},
            network_mode="host",
            rm=True,
            forcerm=True,
            nocache=nocache,
            decode=True,
        ):
            if "stream" in chunk:
                line = chunk["stream"].rstrip("\n")
                log.append(line)
                if progress and line.startswith("Step "):
                    progress(line)
            if "error" in chunk:
                tail = "\n    ".join(line for line in log[-15:] if line.strip())
                raise BuildError(
                    f"{what}: docker build failed: {chunk['error'].strip()}\n    {tail}"
                )
            if "aux" in chunk and "ID" in chunk["aux"]:
                built_id = chunk["aux"]["ID"]
    except docker.errors.APIError as e:
        raise BuildError(f"{what}: docker build failed: {e.explanation or e}") from e
    if built_id is None:
        raise BuildError(f"{what}: docker build returned no image id")
    for tag in tags[1:]:
        tag_image(c, built_id, tag)
    return built_id


def tag_image(c: docker.DockerClient, image: str, ref: str) -> None:
    repository, _, tag = ref.rpartition(":")
    if not c.api.tag(image, repository, tag, force=True):
        raise BuildError(f"could not tag {image} as {ref}")


def _auth_config() -> dict[str, str] | None:
    # On Cloud Build: REGISTRY_USERNAME=oauth2accesstoken, REGISTRY_PASSWORD=<access token>.
    user, password = os.environ.get("REGISTRY_USERNAME"), os.environ.get("REGISTRY_PASSWORD")
    return {"username": user, "password": password} if user and password else None


def push(c: docker.DockerClient, ref: str, progress: Progress | None = None) -> None:
    """Pushes repository:tag; a failed push raises with the engine's message. progress
    receives a line per layer as it completes (pushes of the base image take minutes)."""
    repository, _, tag = ref.rpartition(":")
    done = 0
    try:
        stream = c.api.push(
            repository, tag=tag, stream=True, decode=True, auth_config=_auth_config()
        )
        for chunk in stream:
            if "error" in chunk:
                raise BuildError(f"push of {ref} failed: {chunk['error']}")
            if progress and chunk.get("status") in ("Pushed", "Layer already exists"):
                done += 1
                progress(f"layer {chunk.get('id', '?')}: {chunk['status'].lower()} ({done})")
    except docker.errors.APIError as e:
        raise BuildError(f"push of {ref} failed: {e.explanation or e}") from e


def pull(c: docker.DockerClient, ref: str) -> str | None:
    """Pulls ref; the local id, or None when the registry does not have it."""
    repository, _, tag = ref.rpartition(":")
    try:
        return c.images.pull(repository, tag=tag).id
    except docker.errors.APIError:
        return None


def stderr_progress(prefix: str) -> Progress:
    def report(line: str) -> None:
        print(f"{prefix} {line}", file=sys.stderr, flush=True)

    return report


def ensure_image(client, image: str) -> None:
    """Pulls `image` unless the engine has it (by digest when the reference is pinned)."""
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        # Pull by digest: the tag in NAME:TAG@DIGEST is informative only.
        name, _, digest = image.partition("@")
        if digest:
            has_tag = ":" in name.rsplit("/", 1)[-1]
            client.images.pull(f"{name.rsplit(':', 1)[0] if has_tag else name}@{digest}")
        else:
            client.images.pull(name)
