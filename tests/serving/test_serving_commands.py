"""`make promote` / `make rollback` / `make ramp`: deploy_model's own modes run on the host
against the registry of settings.yaml (mlops.serving.traffic), with its refusals passed on."""

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from mlops.core.errors import BuildError
from mlops.core.model_settings import load_model_settings
from mlops.core.paths import REPO
from mlops.serving.traffic import change, command
from mlops.testing.projects import repo_settings


@pytest.fixture
def project(tmp_path):
    shutil.copytree(
        REPO / "components" / "deploy_model" / "src",
        tmp_path / "components" / "deploy_model" / "src",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    settings = repo_settings()
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump(settings))
    shutil.copytree(REPO / "build" / "base", tmp_path / "build" / "base")
    return tmp_path


def _registry(root: Path, name: str, versions: int, canary: int):
    sys.path.insert(0, str(root / "components" / "deploy_model" / "src"))
    try:
        from deploy_model.registry import Registry
    finally:
        sys.path.pop(0)
    registry = Registry(str(root / ".local" / "model_registry"), name)
    model = root / "model"
    model.mkdir(exist_ok=True)
    (model / "saved_model.pb").write_bytes(b"stand-in: the registry copies files")
    for _ in range(versions):
        version = registry.push(model)
        registry.deploy(version, canary)
    return registry


def _state(root: Path, name: str) -> dict:
    return json.loads((root / ".local" / "model_registry" / name / "serving.json").read_text())


def test_promote_then_rollback_change_serving_json(project):
    model = load_model_settings(project)
    _registry(project, model.name, versions=2, canary=10)
    assert _state(project, model.name)["canary"]["version"] == 2
    change(project, model, "promote")
    assert _state(project, model.name)["stable"] == 2
    assert _state(project, model.name)["canary"] is None
    change(project, model, "rollback")
    assert _state(project, model.name)["stable"] == 1


def test_refusals_are_passed_on(project):
    model = load_model_settings(project)
    _registry(project, model.name, versions=1, canary=10)
    with pytest.raises(BuildError, match="promote: .*canary"):
        change(project, model, "promote")
    assert _state(project, model.name)["stable"] == 1


def test_ramp_and_expect_canary_through_the_host_command(project, capsys):
    from mlops.cli import main

    model = load_model_settings(project)
    _registry(project, model.name, versions=2, canary=10)
    assert main(["--root", str(project), "ramp", "--percent", "25"]) == 0
    assert json.loads(capsys.readouterr().out)["canary"] == {"version": 2, "traffic_percent": 25}
    assert _state(project, model.name)["canary"] == {"version": 2, "traffic_percent": 25}
    with pytest.raises(BuildError, match="rollback: .*the canary is version 2, not version 1"):
        change(project, model, "rollback", expect_canary=1)
    assert _state(project, model.name)["canary"]["version"] == 2
    change(project, model, "rollback", expect_canary=2)
    assert _state(project, model.name)["canary"] is None
    with pytest.raises(BuildError, match="a percent goes with ramp, and only with ramp"):
        command(model, "ramp")
    with pytest.raises(BuildError, match="ramp to 100%: expected 1 to 99"):
        command(model, "ramp", percent=100)


def test_the_command_names_the_settings_values(project):
    model = load_model_settings(project)
    args = command(model, "rollback")
    assert args[args.index("--registry") + 1] == str(project / ".local" / "model_registry")
    assert args[args.index("--model-name") + 1] == "taxi_big_tipper"
    with pytest.raises(BuildError, match="mode 'deploy'"):
        command(model, "deploy")


def test_the_service_image_is_deploy_model_s_pinned_one(tmp_path):
    from mlops.ci.spec_rewrite import write_specs
    from mlops.serving.service import deploy_model_image

    source = tmp_path / "components" / "deploy_model" / "component.yaml"
    source.parent.mkdir(parents=True)
    shutil.copy(REPO / "components" / "deploy_model" / "component.yaml", source)
    with pytest.raises(
        BuildError,
        match=r"components/deploy_model/component.yaml: image .*"
        r"is not a built image; run `make build` first",
    ):
        deploy_model_image(tmp_path)
    pinned = "localhost:5000/mlops/deploy_model:abc@sha256:" + "1" * 64
    copy = tmp_path / "dist" / "components" / "deploy_model" / "component.yaml"
    write_specs([(source, copy, pinned)])  # as `make build` leaves it; the source stays
    assert deploy_model_image(tmp_path) == pinned
    # The copy comes first, as in the ComponentStore the pipelines compile with.
    write_specs([(source, source, pinned.replace("abc", "def"))])
    assert deploy_model_image(tmp_path) == pinned
