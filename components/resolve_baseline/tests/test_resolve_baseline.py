"""The component's work without KFP: the registry's stable version copied out (a local folder,
and gs:// on the Cloud Storage emulator with the real google-cloud-storage client), the
NO_BASELINE folder when there is none, its outputs, and exit code 2 naming the bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from registry_files import MODEL, files, write_serving, write_version
from resolve_baseline import main as component


def _resolve(tmp_path: Path, registry: str, model_name: str = MODEL):
    out = tmp_path / "out"
    component.main(
        [
            "--registry", registry,
            "--model-name", model_name,
            "--baseline", str(out / "baseline"),
            "--version", str(out / "version"),
            "--executor-output", str(out / "executor_output.json"),
        ]
    )  # fmt: skip
    executor = json.loads((out / "executor_output.json").read_text())
    (artifact,) = executor["artifacts"]["baseline"]["artifacts"]
    assert artifact["uri"] == str(out / "baseline")
    return out / "baseline", (out / "version").read_text(), artifact["metadata"]


def _refused(tmp_path: Path, capsys, registry: str, model_name: str = MODEL) -> str:
    with pytest.raises(SystemExit) as e:
        _resolve(tmp_path, registry, model_name)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("resolve_baseline: ")
    assert not (tmp_path / "out" / "version").exists()  # no output from a refused run
    return err


def test_local_stable_version_is_copied(tmp_path):
    registry = tmp_path / "registry"
    one = write_version(registry, 1, b"one")
    write_version(registry, 2, b"two")
    # Version 2 is the canary: the baseline is the stable one.
    write_serving(registry, 1, canary={"version": 2, "traffic_percent": 10})
    baseline, version, metadata = _resolve(tmp_path, str(registry))
    assert version == "1"
    assert files(baseline) == files(one)
    assert set(files(baseline)) == {
        "saved_model.pb", "variables/variables.index", "mlops_model.json", "version.json",
    }  # fmt: skip
    assert metadata == {"version": "1", "source": str(one)}
    assert (registry / MODEL / "1" / "saved_model.pb").read_bytes() == b"one"  # left as it was


@pytest.mark.parametrize(
    "setup, why",
    [
        (lambda r: r.mkdir(), "serving.json does not exist: no version of taxi_big_tipper"),
        (lambda r: write_serving(r, None), "serving.json names no stable version"),
        # A canary only (as no deploy writes it, but a hand-edited serving.json might):
        # the canary is no baseline.
        (
            lambda r: (
                write_version(r, 1, b"one")
                and write_serving(r, None, canary={"version": 1, "traffic_percent": 10})
            ),
            "serving.json names no stable version (stable is null)",
        ),
    ],
    ids=["no serving.json", "stable null", "canary only"],
)
def test_local_without_a_stable_version_writes_no_baseline(tmp_path, setup, why):
    registry = tmp_path / "registry"
    setup(registry)
    baseline, version, metadata = _resolve(tmp_path, str(registry))
    assert version == ""
    assert [p.name for p in baseline.iterdir()] == ["NO_BASELINE"]
    text = (baseline / "NO_BASELINE").read_text()
    assert text.startswith("No baseline: ") and why in text
    assert str(registry / MODEL / "serving.json") in text
    assert metadata["version"] == "" and why in metadata["reason"]


@pytest.mark.parametrize(
    "setup, expected",
    [
        (lambda r: write_serving(r, 3), "names stable version 3, but {r}/taxi_big_tipper/3 does "),
        (
            lambda r: write_serving(r, None).write_text("{"),
            "registry: {r}/taxi_big_tipper/serving.json is not valid JSON",
        ),
        (
            lambda r: write_serving(r, None).write_text("[1]"),
            "registry: {r}/taxi_big_tipper/serving.json holds no JSON object",
        ),
        (lambda r: write_serving(r, "1"), "has stable '1'; expected a version >= 1"),
        (lambda r: write_serving(r, 0), "has stable 0; expected a version >= 1"),
        (lambda r: write_serving(r, True), "has stable True; expected a version >= 1"),
    ],
    ids=["missing version", "not JSON", "no object", "string", "zero", "bool"],
)
def test_local_broken_registry_is_refused(tmp_path, capsys, setup, expected):
    registry = tmp_path / "registry"
    setup(registry)
    err = _refused(tmp_path, capsys, str(registry))
    assert "resolve_baseline: registry: " in err
    assert expected.format(r=registry) in err


def test_local_version_folder_without_a_model_is_refused(tmp_path, capsys):
    registry = tmp_path / "registry"
    (registry / MODEL / "1").mkdir(parents=True)
    (registry / MODEL / "1" / "version.json").write_text("{}")
    write_serving(registry, 1)
    err = _refused(tmp_path, capsys, str(registry))
    assert f"{registry / MODEL / '1'} holds no saved_model.pb" in err
    assert not (tmp_path / "out" / "baseline").exists()


def test_missing_registry_folder_and_bad_model_name_are_refused(tmp_path, capsys):
    err = _refused(tmp_path, capsys, str(tmp_path / "nope"))
    assert f"registry: {tmp_path / 'nope'} is not a folder" in err
    err = _refused(tmp_path, capsys, str(tmp_path), "../x")
    assert "model_name: '../x'" in err
    assert "registry: empty" in _refused(tmp_path, capsys, "")


def _upload(bucket, prefix: str, folder: Path) -> None:
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            bucket.blob(f"{prefix}/{f.relative_to(folder).as_posix()}").upload_from_filename(str(f))


def test_gcs_stable_version_is_downloaded(gcs, tmp_path):
    bucket = gcs.create_bucket("registry-ok")
    local = tmp_path / "src"
    write_version(local, 1, b"one")
    two = write_version(local, 2, b"two")
    write_serving(local, 2, canary=None)
    _upload(bucket, "models", local)

    baseline, version, metadata = _resolve(tmp_path, "gs://registry-ok/models/")
    assert version == "2"
    assert files(baseline) == files(two)
    assert metadata == {"version": "2", "source": f"gs://registry-ok/models/{MODEL}/2/"}


def test_gcs_without_serving_json_writes_no_baseline(gcs, tmp_path):
    gcs.create_bucket("registry-empty")
    baseline, version, metadata = _resolve(tmp_path, "gs://registry-empty")
    assert version == ""
    assert [p.name for p in baseline.iterdir()] == ["NO_BASELINE"]
    assert (baseline / "NO_BASELINE").read_text() == (
        f"No baseline: gs://registry-empty/{MODEL}/serving.json does not exist: "
        f"no version of {MODEL} deployed yet.\n"
    )


def test_gcs_serving_json_naming_a_missing_version_is_refused(gcs, tmp_path, capsys):
    bucket = gcs.create_bucket("registry-broken")
    local = tmp_path / "src"
    write_version(local, 1, b"one")
    write_serving(local, 4)
    _upload(bucket, "r", local)
    err = _refused(tmp_path, capsys, "gs://registry-broken/r")
    assert f"registry: gs://registry-broken/r/{MODEL}/serving.json names stable version 4" in err
    assert f"gs://registry-broken/r/{MODEL}/4/ holds no objects" in err


def test_gcs_version_without_a_model_is_refused(gcs, tmp_path, capsys):
    bucket = gcs.create_bucket("registry-partial")
    bucket.blob(f"{MODEL}/1/version.json").upload_from_string("{}")
    bucket.blob(f"{MODEL}/serving.json").upload_from_string(json.dumps({"stable": 1}))
    err = _refused(tmp_path, capsys, "gs://registry-partial")
    assert f"gs://registry-partial/{MODEL}/1/ holds no saved_model.pb" in err
    assert not (tmp_path / "out" / "baseline").exists()


def test_gcs_broken_serving_json_is_refused(gcs, tmp_path, capsys):
    bucket = gcs.create_bucket("registry-garbled")
    bucket.blob(f"{MODEL}/serving.json").upload_from_string("stable: 1")
    err = _refused(tmp_path, capsys, "gs://registry-garbled")
    assert f"registry: gs://registry-garbled/{MODEL}/serving.json is not valid JSON" in err


def test_gcs_missing_bucket_is_refused(gcs, tmp_path, capsys):
    err = _refused(tmp_path, capsys, "gs://no-such-bucket/r")
    assert "registry: bucket gs://no-such-bucket does not exist" in err
