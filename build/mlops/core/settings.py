"""settings.yaml: loading, environment selection and validation of the build keys."""

from __future__ import annotations

import contextlib
import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlops.core import yaml_text
from mlops.core.errors import BuildError

DEFAULT_ENV = "local"
USECASES_DIR = Path("pipelines") / "usecases"
USECASE_SETTINGS = "settings.yaml"
# What one project shares across its use cases: the images, the use case selection and step
# caching (every use case runs the one compiled pipeline, whose caching a deploy sets).
_SHARED_ONLY = {"build", "usecase", "cache"}


def deep_merge(base: dict, override: dict) -> dict:
    """Returns base with override merged in; nested mappings merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _read_mapping(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BuildError(f"{path}: settings file not found")
    try:
        data = yaml_text.load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise BuildError(f"{path}: does not parse as YAML: {e}") from e
    if not isinstance(data, dict):
        raise BuildError(f"{path}: must be a mapping at the top level")
    return data


def usecases(root: Path) -> list[str]:
    """The use cases of a project: each folder of pipelines/usecases/ with a settings.yaml."""
    folder = root / USECASES_DIR
    return sorted(p.parent.name for p in folder.glob(f"*/{USECASE_SETTINGS}"))


def usecase_settings_path(root: Path, name: str) -> Path:
    path = root / USECASES_DIR / name / USECASE_SETTINGS
    if not path.is_file():
        known = ", ".join(usecases(root)) or "none"
        raise BuildError(f"use case {name!r}: no {path} (use cases: {known})")
    return path


def load_raw(path: Path, env: str | None = None, usecase: str | None = None) -> dict[str, Any]:
    """The settings for one environment and one use case: settings.yaml's top-level keys,
    the use case's overlay (pipelines/usecases/<name>/settings.yaml) merged over them, then
    each file's environments.<env>. The use case is `usecase`, else $USECASE, else
    settings.yaml's `usecase` key; `usecase=""` reads the shared settings alone, and a
    project without use cases has no overlay."""
    env = env or os.environ.get("ENV") or DEFAULT_ENV
    data = _read_mapping(path)
    environments = data.pop("environments", None) or {}
    if usecase is None:
        name = os.environ.get("USECASE") or data.get("usecase")
    else:
        name = usecase or None
    overlay: dict[str, Any] = {}
    overlay_environments: dict[str, Any] = {}
    if name:
        overlay_path = usecase_settings_path(path.parent, str(name))
        overlay = _read_mapping(overlay_path)
        overlay_environments = overlay.get("environments") or {}
        refused = sorted(
            (set(overlay) | {k for e in overlay_environments.values() if isinstance(e, dict)
                             for k in e}) & _SHARED_ONLY
        )  # fmt: skip
        if refused:
            raise BuildError(
                f"{overlay_path}: {refused} belong to settings.yaml (shared by every use case)"
            )
        overlay_environments = overlay.pop("environments", None) or {}
    if env not in environments and env not in overlay_environments and env != DEFAULT_ENV:
        known = ", ".join(sorted(environments)) or "none"
        raise BuildError(f"{path}: environment {env!r} is not defined (known: {known})")
    merged = deep_merge(data, overlay)
    merged = deep_merge(merged, environments.get(env) or {})
    merged = deep_merge(merged, overlay_environments.get(env) or {})
    merged["env"] = env
    merged["usecase"] = str(name) if name else None
    return merged


@dataclass(frozen=True)
class BuildSettings:
    """What the image build needs from settings.yaml (after environment overrides)."""

    registry: str
    namespace: str
    base_dockerfile: Path
    base_name: str
    env: str
    source: Path

    def repository(self, image_name: str) -> str:
        """REGISTRY/NAMESPACE/NAME, the repository an image is pushed to."""
        return "/".join(p for p in (self.registry, self.namespace, image_name) if p)


def _require(section: dict, key: str, where: str, path: Path, env: str) -> Any:
    value = section.get(key) if isinstance(section, dict) else None
    if value in (None, ""):
        raise BuildError(f"{path}: {where}.{key} is missing (environment {env!r})")
    return value


def load_build_settings(root: Path, env: str | None = None) -> BuildSettings:
    """Reads and checks the build section. The REGISTRY environment variable (Cloud Build's
    _REGISTRY substitution) overrides build.registry."""
    path = root / "settings.yaml"
    raw = load_raw(path, env, usecase="")  # images are shared: no use case overlay
    build = raw.get("build")
    if not isinstance(build, dict):
        raise BuildError(f"{path}: the build section is missing (environment {raw['env']!r})")
    registry = os.environ.get("REGISTRY") or _require(build, "registry", "build", path, raw["env"])
    registry = str(registry).rstrip("/")
    base = build.get("base") or {}
    dockerfile = root / _require(base, "dockerfile", "build.base", path, raw["env"])
    if not dockerfile.is_file():
        raise BuildError(f"{path}: build.base.dockerfile {dockerfile} does not exist")
    return BuildSettings(
        registry=registry,
        namespace=str(build.get("namespace") or "").strip("/"),
        base_dockerfile=dockerfile,
        base_name=str(base.get("name") or "base"),
        env=raw["env"],
        source=path,
    )


def lookup(root: Path, key: str, env: str | None = None) -> Any:
    """One value by its dotted key, e.g. build.registry; a missing key is named."""
    path = root / "settings.yaml"
    value: Any = load_raw(path, env)
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise BuildError(f"{path}: {key} is missing")
        value = value[part]
    return value


@contextlib.contextmanager
def selected_usecase(name: str | None):
    """Within the block, settings load for use case `name` (as USECASE=name does): for a
    process that serves several use cases in turn, such as one watcher for all of them."""
    previous = os.environ.get("USECASE")
    if name is None:
        os.environ.pop("USECASE", None)
    else:
        os.environ["USECASE"] = name
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("USECASE", None)
        else:
            os.environ["USECASE"] = previous


def origins(root: Path, env: str | None = None, usecase: str | None = None):
    """A function naming where a dotted settings key is set, for error messages: the file (a
    use case's overlay or settings.yaml) and the key there, highest precedence first as
    load_raw merges them, e.g. "settings.yaml (environment dev, use case taxi):
    environments.dev.model.train.epochs". An unset key is named in settings.yaml."""
    path = root / "settings.yaml"
    resolved = load_raw(path, env, usecase)
    env, name = resolved["env"], resolved["usecase"]
    base = _read_mapping(path)
    in_env = f"environments.{env}."
    layers: list[tuple[Path, Any, str]] = []
    overlay: dict[str, Any] = {}
    overlay_path = path
    if name:
        overlay_path = usecase_settings_path(root, name)
        overlay = _read_mapping(overlay_path)
    layers += [
        (overlay_path, (overlay.get("environments") or {}).get(env), in_env),
        (path, (base.get("environments") or {}).get(env), in_env),
        (overlay_path, overlay, ""),
        (path, base, ""),
    ]
    context = f"environment {env}" + (f", use case {name}" if name else "")

    def has(mapping: Any, key: str) -> bool:
        for part in key.split("."):
            if not isinstance(mapping, dict) or part not in mapping:
                return False
            mapping = mapping[part]
        return True

    def origin(key: str) -> str:
        file, prefix = next(((f, p) for f, m, p in layers if has(m, key)), (path, ""))
        shown = file.relative_to(root) if file.is_relative_to(root) else file
        return f"{shown} ({context}): {prefix}{key}"

    return origin
