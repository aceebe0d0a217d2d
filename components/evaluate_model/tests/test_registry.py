"""The baseline lookup in the model registry deploy_model writes: a local folder, and gs:// on
the Cloud Storage emulator (the real google-cloud-storage client)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from evaluate_model import registry
from evaluate_model.inputs import InputError

MODEL = "taxi_big_tipper"


def _version(folder: Path, version: int, marker: bytes) -> Path:
    """A registry version: the files of a model artifact (their content is not read here)."""
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(marker)
    (folder / "variables" / "variables.index").write_bytes(marker + b"-index")
    (folder / "version.json").write_text(json.dumps({"version": version, "blessed": True}))
    return folder


def _serving(root: Path, stable, model: str = MODEL) -> None:
    (root / model).mkdir(parents=True, exist_ok=True)
    (root / model / "serving.json").write_text(
        json.dumps({"model_name": model, "stable": stable, "canary": None, "history": []})
    )


def test_local_no_serving_json_means_no_baseline(tmp_path):
    assert registry.find_baseline(str(tmp_path), MODEL, tmp_path / "work") is None


def test_local_stable_null_means_no_baseline(tmp_path):
    _serving(tmp_path, None)
    assert registry.find_baseline(str(tmp_path), MODEL, tmp_path / "work") is None


def test_local_stable_version_is_the_baseline(tmp_path):
    _version(tmp_path / MODEL / "1", 1, b"one")
    _version(tmp_path / MODEL / "2", 2, b"two")
    _serving(tmp_path, 1)  # version 2 exists (a canary, say) but 1 is stable
    baseline = registry.find_baseline(str(tmp_path), MODEL, tmp_path / "work")
    assert baseline.version == 1
    assert baseline.path == tmp_path / MODEL / "1"
    assert (baseline.path / "saved_model.pb").read_bytes() == b"one"


@pytest.mark.parametrize(
    "setup, expected",
    [
        (lambda r: _serving(r, 3), "names stable version 3, but"),
        (lambda r: (r / MODEL).mkdir() or (r / MODEL / "serving.json").write_text("{"), "JSON"),
        (lambda r: _serving(r, "1"), "stable '1'; expected a version >= 1"),
        (lambda r: _serving(r, 0), "stable 0"),
    ],
)
def test_local_broken_registry_is_refused(tmp_path, setup, expected):
    setup(tmp_path)
    with pytest.raises(InputError) as e:
        registry.find_baseline(str(tmp_path), MODEL, tmp_path / "work")
    assert str(e.value).startswith("registry: ")
    assert expected in str(e.value)


def test_local_version_folder_without_a_model_is_refused(tmp_path):
    (tmp_path / MODEL / "1").mkdir(parents=True)
    _serving(tmp_path, 1)
    with pytest.raises(InputError, match="holds no saved_model.pb"):
        registry.find_baseline(str(tmp_path), MODEL, tmp_path / "work")


def test_missing_registry_folder_and_bad_model_name_are_refused(tmp_path):
    with pytest.raises(InputError, match="registry: .* is not a folder"):
        registry.find_baseline(str(tmp_path / "nope"), MODEL, tmp_path / "work")
    with pytest.raises(InputError, match="model_name: '../x'"):
        registry.find_baseline(str(tmp_path), "../x", tmp_path / "work")


def test_explicit_baseline_reads_its_version(tmp_path):
    folder = _version(tmp_path / "m", 7, b"x")
    assert registry.explicit_baseline(str(folder)).version == 7
    (folder / "version.json").unlink()
    assert registry.explicit_baseline(str(folder)).version is None


def _upload(bucket, prefix: str, folder: Path) -> None:
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            bucket.blob(f"{prefix}/{f.relative_to(folder).as_posix()}").upload_from_filename(str(f))


def test_gcs_stable_version_is_downloaded(gcs, tmp_path):
    bucket = gcs.create_bucket("registry-ok")
    local = tmp_path / "src"
    _version(local / MODEL / "1", 1, b"one")
    _version(local / MODEL / "2", 2, b"two")
    _serving(local, 2)
    _upload(bucket, "models", local)

    baseline = registry.find_baseline("gs://registry-ok/models/", MODEL, tmp_path / "work")
    assert baseline.version == 2
    assert baseline.source == f"gs://registry-ok/models/{MODEL}/2/"
    assert baseline.path.is_relative_to(tmp_path / "work")
    assert (baseline.path / "saved_model.pb").read_bytes() == b"two"
    assert (baseline.path / "variables" / "variables.index").read_bytes() == b"two-index"


def test_gcs_without_serving_json_has_no_baseline(gcs, tmp_path):
    gcs.create_bucket("registry-empty")
    assert registry.find_baseline("gs://registry-empty", MODEL, tmp_path / "work") is None


def test_gcs_serving_json_naming_a_missing_version_is_refused(gcs, tmp_path):
    bucket = gcs.create_bucket("registry-broken")
    local = tmp_path / "src"
    _version(local / MODEL / "1", 1, b"one")
    _serving(local, 4)
    _upload(bucket, "r", local)
    with pytest.raises(InputError) as e:
        registry.find_baseline("gs://registry-broken/r", MODEL, tmp_path / "work")
    assert "registry: gs://registry-broken/r/taxi_big_tipper/serving.json names stable " in str(
        e.value
    )
    assert "version 4" in str(e.value) and "holds no objects" in str(e.value)


def test_gcs_missing_bucket_is_refused(gcs, tmp_path):
    with pytest.raises(InputError, match="bucket gs://no-such-bucket does not exist"):
        registry.find_baseline("gs://no-such-bucket/r", MODEL, tmp_path / "work")
