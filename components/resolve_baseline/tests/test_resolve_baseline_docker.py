"""The component's real image, run from its component.yaml through kfp.local's DockerRunner as
a pipeline step runs: the stable version of a local registry (mounted read-only at the same
path) copied out as the baseline Model, then a registry without one giving NO_BASELINE."""

from pathlib import Path

import pytest
from registry_files import MODEL, files, write_serving, write_version


@pytest.mark.docker
def test_the_image_under_kfp_local(tmp_path):
    from mlops.testing.component_testing import run_component

    registry = tmp_path / "registry"
    write_version(registry, 1, b"one")
    two = write_version(registry, 2, b"two")
    write_serving(registry, 2)
    empty = tmp_path / "empty_registry"
    empty.mkdir()
    for folder in (registry, empty):  # the container runs as uid 1000
        for p in [folder, *folder.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)

    outputs = run_component(
        "resolve_baseline",
        {"registry": str(registry), "model_name": MODEL},
        tmp_path / "root",
        mounts=[registry],
    )
    assert outputs["version"] == "2"
    baseline = outputs["baseline"]
    assert files(Path(baseline.uri)) == files(two)
    assert baseline.metadata["version"] == "2"
    assert baseline.metadata["source"] == str(two)

    outputs = run_component(
        "resolve_baseline",
        {"registry": str(empty), "model_name": MODEL},
        tmp_path / "root",
        mounts=[empty],
    )
    assert outputs["version"] == ""
    folder = Path(outputs["baseline"].uri)
    assert [p.name for p in folder.iterdir()] == ["NO_BASELINE"]
    assert "serving.json does not exist" in (folder / "NO_BASELINE").read_text()
