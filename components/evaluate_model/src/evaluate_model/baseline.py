"""The baseline: the `baseline_model` input, in a pipeline the model registry's stable version
as resolve_baseline copies it out (the SavedModel with its version.json), or a folder holding
only NO_BASELINE when there is no stable version yet (the first model)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERSION_FILE = "version.json"
NO_BASELINE = "NO_BASELINE"  # resolve_baseline's marker: no stable version to compare with


@dataclass(frozen=True)
class Baseline:
    path: Path  # a local SavedModel folder
    version: int | None  # the registry version (from version.json); None without one
    source: str  # where it came from, for the report


def is_no_baseline(path: str | Path) -> bool:
    """A folder holding NO_BASELINE and no model: the run has nothing to compare with."""
    folder = Path(path)
    return (folder / NO_BASELINE).is_file() and not (folder / "saved_model.pb").exists()


def from_artifact(path: str | Path) -> Baseline:
    """The baseline_model input; its version from the version.json inside it, if any."""
    folder = Path(path)
    version = read_version_info(folder).get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        version = None
    return Baseline(folder, version, str(folder))


def read_version_info(folder: Path) -> dict[str, Any]:
    f = folder / VERSION_FILE
    if not f.is_file():
        return {}
    try:
        data = json.loads(f.read_text())
    except json.JSONDecodeError:
        return {}  # informative only: the version number in the report
    return data if isinstance(data, dict) else {}
