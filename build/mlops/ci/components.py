"""Discovery of component folders under components/ and the checks every build step shares:
each folder has a Dockerfile and a component.yaml that parses, and names are unique."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlops.core.errors import BuildError

SPEC_FILE = "component.yaml"
DOCKERFILE = "Dockerfile"


@dataclass(frozen=True)
class ComponentDir:
    """One component folder: components/<name>/ with its spec and Dockerfile."""

    name: str  # the folder name: the ComponentStore name and the image name
    path: Path
    spec: dict[str, Any]  # component.yaml as plain data

    @property
    def spec_path(self) -> Path:
        return self.path / SPEC_FILE

    @property
    def dockerfile(self) -> Path:
        return self.path / DOCKERFILE

    @property
    def spec_name(self) -> str:
        return str(self.spec.get("name", ""))

    @property
    def container(self) -> dict[str, Any]:
        return (self.spec.get("implementation") or {}).get("container") or {}


def _is_component_folder(path: Path) -> bool:
    # Folders starting with '.' or '_' are private (caches, shared helpers), not components.
    return path.is_dir() and not path.name.startswith((".", "_")) and path.name != "__pycache__"


def load_spec(path: Path) -> dict[str, Any]:
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise BuildError(f"{path}: does not parse as YAML: {e}") from e
    if not isinstance(spec, dict):
        raise BuildError(f"{path}: must be a mapping with name, inputs, outputs, implementation")
    return spec


def _normalized(name: str) -> str:
    # KFP turns names into task and image identifiers by lower-casing and joining words with
    # '-', so "Hello World" and "hello_world" would collide on a cluster.
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def discover(root: Path) -> list[ComponentDir]:
    """All components under root/components, sorted by name. Any folder that is not a complete
    component, or two components sharing a name, stops the build here, before anything runs."""
    components_dir = root / "components"
    if not components_dir.is_dir():
        raise BuildError(f"{components_dir}: folder not found")
    found: list[ComponentDir] = []
    problems: list[str] = []
    for folder in sorted(p for p in components_dir.iterdir() if _is_component_folder(p)):
        missing = [f for f in (DOCKERFILE, SPEC_FILE) if not (folder / f).is_file()]
        if missing:
            problems.append(f"{folder}: missing {' and '.join(missing)}")
            continue
        try:
            spec = load_spec(folder / SPEC_FILE)
        except BuildError as e:
            problems.append(str(e))
            continue
        found.append(ComponentDir(name=folder.name, path=folder, spec=spec))
    by_spec_name: dict[str, list[ComponentDir]] = {}
    for c in found:
        by_spec_name.setdefault(_normalized(c.spec_name), []).append(c)
    for _, same in sorted(by_spec_name.items()):
        if len(same) > 1:
            files = ", ".join(str(c.spec_path) for c in same)
            problems.append(f"two components share the name {same[0].spec_name!r}: {files}")
    if problems:
        raise BuildError("invalid components:\n  " + "\n  ".join(problems))
    return found
