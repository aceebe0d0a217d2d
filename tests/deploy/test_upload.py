"""Uploads of compiled pipelines: the real google-cloud-storage client against
gcp-storage-emulator, and the local-directory bucket."""

import json

import pytest

from mlops.core.errors import BuildError
from mlops.deploy.upload import Destination, upload_pipeline

SHA = "c0ffee" * 6


@pytest.fixture
def package(tmp_path):
    path = tmp_path / "workflow.tar.gz"
    path.write_bytes(b"package bytes")
    return path


def _upload(dest, package, settings='{"env": "dev"}'):
    return upload_pipeline(dest, "hello_pipeline", SHA, package, "ir: yaml\n", settings)


def test_uploads_package_yaml_and_settings_to_gcs(gcs, package):
    bucket = gcs.create_bucket("mlops-dev-pipelines")
    result = _upload(Destination("gs://mlops-dev-pipelines", "dev"), package)
    assert {k: v.action for k, v in result.items()} == dict.fromkeys(result, "uploaded")
    names = sorted(b.name for b in gcs.list_blobs(bucket))
    assert names == [
        f"hello_pipeline/{SHA}/{n}" for n in ("pipeline.yaml", "settings.json", "workflow.tar.gz")
    ]
    assert bucket.blob(f"hello_pipeline/{SHA}/workflow.tar.gz").download_as_bytes() == (
        b"package bytes"
    )
    assert result["package"].uri == f"gs://mlops-dev-pipelines/hello_pipeline/{SHA}/workflow.tar.gz"


def test_a_prefix_inside_the_bucket(gcs, package):
    bucket = gcs.create_bucket("shared")
    _upload(Destination("gs://shared/teams/ml", "dev"), package)
    assert f"teams/ml/hello_pipeline/{SHA}/settings.json" in {
        b.name for b in gcs.list_blobs(bucket)
    }


def test_uploading_the_same_commit_again_changes_nothing(gcs, package):
    bucket = gcs.create_bucket("again")
    dest = Destination("gs://again", "dev")
    _upload(dest, package)
    generations = {b.name: b.generation for b in gcs.list_blobs(bucket)}
    result = _upload(dest, package)
    assert {v.action for v in result.values()} == {"unchanged"}
    assert {b.name: b.generation for b in gcs.list_blobs(bucket)} == generations


def test_different_content_for_a_deployed_commit_is_refused(gcs, package):
    gcs.create_bucket("immutable")
    dest = Destination("gs://immutable", "dev")
    _upload(dest, package)
    with pytest.raises(BuildError, match=r"settings.json already holds different content"):
        _upload(dest, package, settings='{"env": "changed"}')


def test_a_missing_bucket_is_named(gcs, package):
    with pytest.raises(BuildError, match=r"environment 'dev'.*bucket gs://nope does not exist"):
        _upload(Destination("gs://nope", "dev"), package)


def test_an_unreachable_storage_host_is_named(monkeypatch, package):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    dest = Destination("gs://any", "staging", deadline_s=1)
    with pytest.raises(
        BuildError, match=r"environment 'staging' \(Cloud Storage at http://127.0.0.1:9\)"
    ):
        _upload(dest, package)


def test_a_local_directory_bucket(tmp_path, package):
    dest = Destination(str(tmp_path / "bucket"), "local")
    assert {v.action for v in _upload(dest, package).values()} == {"uploaded"}
    folder = tmp_path / "bucket" / "hello_pipeline" / SHA
    assert json.loads((folder / "settings.json").read_text()) == {"env": "dev"}
    assert {v.action for v in _upload(dest, package).values()} == {"unchanged"}
    with pytest.raises(BuildError, match="already holds different content"):
        _upload(dest, package, settings="{}")


@pytest.fixture
def flaky_gcs(gcs_emulator, gcs, monkeypatch):
    """The emulator behind a proxy that can answer 5xx; the code under test talks to the proxy."""
    from fault_proxy import FaultProxy

    proxy = FaultProxy(gcs_emulator)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.address)
    yield proxy, gcs
    proxy.stop()


def test_5xx_answers_are_retried_with_backoff(flaky_gcs, package):
    proxy, gcs = flaky_gcs
    gcs.create_bucket("flaky")
    proxy.inject("POST", "/upload/storage/v1/b/flaky/o", 503, times=2)
    result = _upload(Destination("gs://flaky", "dev"), package)
    assert {v.action for v in result.values()} == {"uploaded"}
    assert [s for _, p, s in proxy.seen if p.startswith("/upload/")].count(503) == 2
    names = {b.name for b in gcs.list_blobs(gcs.bucket("flaky"))}
    assert len(names) == 3


def test_persistent_5xx_fails_clearly_and_uploads_nothing(flaky_gcs, package):
    proxy, gcs = flaky_gcs
    gcs.create_bucket("down")
    proxy.inject("POST", "/upload/storage/v1/b/down/o", 503, times=1000)
    with pytest.raises(
        BuildError, match=r"environment 'dev' .*uploading gs://down/.* failed after retries"
    ):
        _upload(Destination("gs://down", "dev", deadline_s=2), package)
    assert list(gcs.list_blobs(gcs.bucket("down"))) == []
