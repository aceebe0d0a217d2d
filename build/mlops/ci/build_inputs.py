"""The build-input fingerprint of a component image.

An image is rebuilt only when this changes: the files its build context sends (the
component folder minus .dockerignore), the base image it starts from and the lock file.
The image value inside component.yaml is left out, because CI rewrites it on every commit."""

from __future__ import annotations

import hashlib
from pathlib import Path

from docker.utils import build as docker_build

from mlops.ci import spec_rewrite
from mlops.ci.components import SPEC_FILE, ComponentDir

FORMAT = "mlops-build-inputs-v1"  # bump to invalidate every recorded fingerprint
_IMAGE_PLACEHOLDER = "IMAGE"


def dockerignore_patterns(folder: Path) -> list[str]:
    """The .dockerignore patterns of a build context, as the Docker SDK reads them."""
    ignore = folder / ".dockerignore"
    if not ignore.is_file():
        return []
    lines = (line.strip() for line in ignore.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def context_files(folder: Path, dockerfile: str = "Dockerfile") -> list[str]:
    """Relative paths of the regular files `docker build` sends from folder, sorted."""
    paths = docker_build.exclude_paths(str(folder), dockerignore_patterns(folder), dockerfile)
    return sorted(p for p in paths if (folder / p).is_file())


def _file_bytes(folder: Path, rel: str) -> bytes:
    path = folder / rel
    if rel == SPEC_FILE:
        text = path.read_text()
        return spec_rewrite.with_image(text, _IMAGE_PLACEHOLDER, path).encode()
    return path.read_bytes()


def fingerprint(component: ComponentDir, base_image_id: str, lock_file: Path) -> str:
    """sha256 hex of everything that goes into the component's image."""
    h = hashlib.sha256()

    def field(label: str, data: bytes) -> None:
        # Length-prefixed so that no two different inputs serialise alike.
        h.update(f"{label}:{len(data)}:".encode())
        h.update(data)

    field("format", FORMAT.encode())
    field("base", base_image_id.encode())
    field("lock", lock_file.read_bytes())
    for rel in context_files(component.path):
        field("file", rel.encode())
        field("mode", str((component.path / rel).stat().st_mode & 0o111).encode())
        field("data", _file_bytes(component.path, rel))
    return h.hexdigest()
