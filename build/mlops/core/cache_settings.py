"""settings.yaml's `cache` section for one environment: whether a step whose component and
inputs are unchanged reuses an earlier execution's outputs, and for how long such an execution
may be reused. Local runs read both; a cluster deploy reads `enabled` (Kubeflow Pipelines and
Vertex AI keep their own cache, whose age they decide)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlops.core.errors import BuildError
from mlops.core.settings import load_raw


class CacheSettingsError(BuildError):
    """A cache.* value is missing or of the wrong type."""


@dataclass(frozen=True)
class CacheSettings:
    enabled: bool
    max_age_s: float | None  # None: an execution is reusable however old it is


def load_cache_settings(root: Path, env: str | None = None) -> CacheSettings:
    path = root / "settings.yaml"
    raw = load_raw(path, env)
    where = f"{path} (environment {raw['env']!r})"
    section = raw.get("cache")
    if section is None:
        return CacheSettings(enabled=True, max_age_s=None)
    if not isinstance(section, dict):
        raise CacheSettingsError(f"{where}: cache is {section!r}; expected a mapping")
    enabled = section.get("enabled", True)
    if not isinstance(enabled, bool):
        raise CacheSettingsError(f"{where}: cache.enabled is {enabled!r}; expected true or false")
    max_age = section.get("max_age_s")
    if max_age is not None and (
        isinstance(max_age, bool) or not isinstance(max_age, int | float) or max_age <= 0
    ):
        raise CacheSettingsError(
            f"{where}: cache.max_age_s is {max_age!r}; expected a number of seconds above 0, "
            "or null for no limit"
        )
    return CacheSettings(enabled=enabled, max_age_s=None if max_age is None else float(max_age))
