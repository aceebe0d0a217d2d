"""The baseline_model input read: a stable version copied out of the registry (its version from
version.json), and resolve_baseline's NO_BASELINE folder meaning no baseline."""

from __future__ import annotations

import json
from pathlib import Path

from evaluate_model import baseline


def _model_files(folder: Path) -> Path:
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"model")
    return folder


def test_version_comes_from_the_version_json_inside(tmp_path):
    folder = _model_files(tmp_path / "m")
    (folder / "version.json").write_text(json.dumps({"version": 7, "blessed": True}))
    found = baseline.from_artifact(folder)
    assert (found.version, found.path, found.source) == (7, folder, str(folder))
    for text in ('{"version": "7"}', '{"version": true}', "[7]", "{"):
        (folder / "version.json").write_text(text)
        assert baseline.from_artifact(folder).version is None, text
    (folder / "version.json").unlink()
    assert baseline.from_artifact(folder).version is None


def test_no_baseline_marker_without_a_model(tmp_path):
    marker = tmp_path / "none"
    marker.mkdir()
    (marker / "NO_BASELINE").write_text("No baseline: serving.json does not exist.\n")
    assert baseline.is_no_baseline(marker)
    # A model folder is a model, marker or not; an empty folder is no marker.
    model = _model_files(tmp_path / "m")
    assert not baseline.is_no_baseline(model)
    (model / "NO_BASELINE").write_text("")
    assert not baseline.is_no_baseline(model)
    (tmp_path / "empty").mkdir()
    assert not baseline.is_no_baseline(tmp_path / "empty")
