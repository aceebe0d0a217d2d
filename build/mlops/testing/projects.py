"""The repository's settings as one file, for tests that build throw-away projects: the
shared settings.yaml with one use case's overlay merged in (environments too), so a test can
change any key where it stands and write a single settings.yaml of its own."""

from __future__ import annotations

from typing import Any

import yaml

from mlops.core.paths import REPO
from mlops.core.settings import USECASE_SETTINGS, USECASES_DIR, deep_merge


def repo_settings(usecase: str = "taxi") -> dict[str, Any]:
    base = yaml.safe_load((REPO / "settings.yaml").read_text())
    overlay = yaml.safe_load((REPO / USECASES_DIR / usecase / USECASE_SETTINGS).read_text())
    environments = deep_merge(base.pop("environments", {}), overlay.pop("environments", {}))
    merged = deep_merge(base, overlay)
    merged.pop("usecase", None)
    merged["environments"] = environments
    return merged
