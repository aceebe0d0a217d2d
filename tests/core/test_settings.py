"""settings.yaml: environment merge and the errors that name the file and the field."""

import pytest

from mlops.core.errors import BuildError
from mlops.core.settings import load_build_settings, load_raw

SETTINGS = """\
build:
  registry: localhost:5000
  namespace: mlops
  base: {dockerfile: Dockerfile.base, name: base}
environments:
  local: {}
  dev:
    build: {registry: europe-docker.pkg.dev/p/r}
"""


@pytest.fixture
def root(tmp_path):
    (tmp_path / "Dockerfile.base").write_text("FROM scratch\n")
    (tmp_path / "settings.yaml").write_text(SETTINGS)
    return tmp_path


def test_environment_overrides_merge_over_the_top_level(root, monkeypatch):
    assert load_build_settings(root, "local").registry == "localhost:5000"
    dev = load_build_settings(root, "dev")
    assert dev.registry == "europe-docker.pkg.dev/p/r"
    assert dev.namespace == "mlops"  # kept from the top level
    assert dev.repository("hello") == "europe-docker.pkg.dev/p/r/mlops/hello"


def test_registry_variable_overrides_settings(root, monkeypatch):
    monkeypatch.setenv("REGISTRY", "gcr.io/my-project/")
    assert load_build_settings(root, "local").registry == "gcr.io/my-project"


def test_missing_registry_names_file_and_field(root, monkeypatch):
    (root / "settings.yaml").write_text("build:\n  base: {dockerfile: Dockerfile.base}\n")
    with pytest.raises(BuildError, match=r"settings.yaml: build.registry is missing"):
        load_build_settings(root)


def test_unknown_environment_lists_the_known_ones(root):
    with pytest.raises(
        BuildError, match=r"environment 'prod' is not defined \(known: dev, local\)"
    ):
        load_raw(root / "settings.yaml", "prod")


def test_settings_that_do_not_parse(root):
    (root / "settings.yaml").write_text("build: [unclosed\n")
    with pytest.raises(BuildError, match="settings.yaml: does not parse as YAML"):
        load_build_settings(root)


def test_missing_base_dockerfile_is_named(root, monkeypatch):
    (root / "Dockerfile.base").unlink()
    with pytest.raises(BuildError, match="build.base.dockerfile .*Dockerfile.base does not exist"):
        load_build_settings(root)


def test_a_use_case_overlay_is_merged_and_checked(tmp_path, monkeypatch):
    from mlops.core.settings import load_raw

    (tmp_path / "settings.yaml").write_text(
        "usecase: a\ndata: {splits: {train: 2, eval: 1}}\n"
        "environments: {dev: {data: {source: gs://shared}}}\n"
    )
    folder = tmp_path / "pipelines" / "usecases"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "settings.yaml").write_text(
        "data: {source: a.csv}\nenvironments: {dev: {data: {label: y}}}\n"
    )
    (folder / "b").mkdir()
    (folder / "b" / "settings.yaml").write_text("build: {registry: elsewhere}\n")
    local = load_raw(tmp_path / "settings.yaml", "local")
    assert local["data"] == {"splits": {"train": 2, "eval": 1}, "source": "a.csv"}
    dev = load_raw(tmp_path / "settings.yaml", "dev")
    assert dev["data"]["source"] == "gs://shared" and dev["data"]["label"] == "y"
    monkeypatch.setenv("USECASE", "nope")
    with pytest.raises(BuildError, match=r"use case 'nope': no .* \(use cases: a, b\)"):
        load_raw(tmp_path / "settings.yaml")
    with pytest.raises(BuildError, match=r"b/settings.yaml: \['build'\] belong to settings.yaml"):
        load_raw(tmp_path / "settings.yaml", usecase="b")
