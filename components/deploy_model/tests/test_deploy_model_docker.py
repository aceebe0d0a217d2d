"""The component's real image: deploy steps run from component.yaml through kfp.local's
DockerRunner (a blessed model to stable, a second to canary, a not-blessed one skipped, the
canary ramped to another share), then the prediction service as a long-lived container
reading the registry mounted read-only."""

# No `from __future__ import annotations`: kfp reads the pipeline's annotations as types.

import json
import os
import time
from pathlib import Path
from typing import NamedTuple

import pytest
from deploy_model.registry import Registry
from service_client import call
from tiny_model import ROWS, in_process

COMPONENT = Path(__file__).resolve().parents[1]


def _blessing(folder: Path, verdict: str) -> Path:
    folder.mkdir(parents=True)
    (folder / verdict).touch()
    (folder / "blessing.json").write_text(json.dumps({"metrics": {"auc": 0.8}}))
    return folder


def _deploy_pipeline(image: str):
    from kfp import components, dsl

    from mlops.ci import spec_rewrite

    spec_path = COMPONENT / "component.yaml"
    deploy = components.load_component_from_text(
        spec_rewrite.with_image(spec_path.read_text(), image, spec_path)
    )

    class Outputs(NamedTuple):
        deployment: dsl.Artifact
        version: str

    @dsl.pipeline(name="deploy-model-test")
    def pipeline(model_uri: str, blessing_uri: str, registry: str, canary_percent: int) -> Outputs:
        model = dsl.importer(artifact_uri=model_uri, artifact_class=dsl.Model)
        blessing = dsl.importer(artifact_uri=blessing_uri, artifact_class=dsl.Artifact)
        task = deploy(
            model=model.output,
            blessing=blessing.output,
            registry=registry,
            model_name="taxi",
            canary_percent=canary_percent,
        )
        return Outputs(deployment=task.outputs["deployment"], version=task.outputs["version"])

    return pipeline


def _ramp_pipeline(image: str):
    """The ramp mode as the canary analysis' step would run it: no model, the share and the
    canary it is about (the optional expect_canary input)."""
    from kfp import components, dsl

    from mlops.ci import spec_rewrite

    spec_path = COMPONENT / "component.yaml"
    deploy = components.load_component_from_text(
        spec_rewrite.with_image(spec_path.read_text(), image, spec_path)
    )

    class Outputs(NamedTuple):
        version: str

    @dsl.pipeline(name="deploy-model-ramp-test")
    def pipeline(registry: str, canary_percent: int, expect_canary: str) -> Outputs:
        task = deploy(
            mode="ramp",
            registry=registry,
            model_name="taxi",
            canary_percent=canary_percent,
            expect_canary=expect_canary,
        )
        return Outputs(version=task.outputs["version"])

    return pipeline


@pytest.mark.docker
def test_deploys_through_kfp_local_and_serves_in_its_image(tmp_path, model_dirs):
    from kfp import local

    from mlops.ci import engine
    from mlops.local_runs.runner import docker_runner_adapted
    from mlops.testing.component_testing import build_image
    from mlops.testing.local_registry import free_port

    image = build_image("deploy_model")
    root = tmp_path / "root"
    root.mkdir()
    root.chmod(0o1777)  # the container runs as uid 1000 and writes the registry here
    registry = root / "registry"
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    blessed = _blessing(inputs / "blessed", "BLESSED")
    not_blessed = _blessing(inputs / "not_blessed", "NOT_BLESSED")
    for folder in (inputs, model_dirs[1].parent):  # mounted for uid 1000 to read
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    pipeline = _deploy_pipeline(image)
    local.init(runner=local.DockerRunner(), pipeline_root=str(root))
    versions = []
    with docker_runner_adapted(mounts=[inputs, model_dirs[1].parent]):
        for model, blessing in [(1, blessed), (2, blessed), (3, not_blessed)]:
            run = pipeline(
                model_uri=str(model_dirs[model]),
                blessing_uri=str(blessing),
                registry=str(registry),
                canary_percent=50,
            )
            record = json.loads(
                (Path(run.outputs["deployment"].uri) / "deployment.json").read_text()
            )
            versions.append((run.outputs["version"], record["reason"]))
    assert versions == [
        ("1", "stable"),
        ("2", "canary"),
        ("", "skipped: not blessed: evaluate_model wrote NOT_BLESSED"),
    ]
    reg = Registry(str(registry), "taxi")
    assert reg.versions() == [1, 2]
    assert reg.status()["canary"] == {"version": 2, "traffic_percent": 50}
    with docker_runner_adapted(mounts=[]):
        ramped = _ramp_pipeline(image)(registry=str(registry), canary_percent=60, expect_canary="2")
    assert ramped.outputs["version"] == "2"
    assert reg.status()["canary"] == {"version": 2, "traffic_percent": 60}

    # The service in the same image, as `make serve` would run it.
    port = free_port()
    client = engine.client()
    container = client.containers.run(
        image,
        [
            "python",
            "-m",
            "deploy_model.serve",
            "--registry",
            "/models",
            "--model-name",
            "taxi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--poll-s",
            "0.2",
        ],
        volumes={str(registry): {"bind": "/models", "mode": "ro"}},
        network_mode="host",
        detach=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1/models/taxi"
        deadline = time.monotonic() + 90
        while True:
            try:
                status, body, _ = call(url)
                if status == 200 and len(body["model_version_status"]) == 2:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, container.logs().decode()[-3000:]
            time.sleep(0.5)
        answers = {}
        for _ in range(4):  # 60 % canary: both versions answer, each with its own predictions
            status, body, headers = call(url + ":predict", "POST", {"instances": ROWS})
            assert status == 200
            answers[headers["X-Model-Version"]] = body["predictions"]
        assert set(answers) == {"1", "2"}
        for v in (1, 2):
            want = in_process(model_dirs[v], ROWS)
            assert max(abs(a[0] - b[0]) for a, b in zip(answers[str(v)], want, strict=True)) < 1e-6
        status, body, _ = call(url + ":predict", "POST", {"instances": [{"fare": "x"}]})
        assert status == 400 and "instances[0].fare" in body["error"]

        reg.promote()  # on the host; the container follows serving.json through the mount
        deadline = time.monotonic() + 30
        while call(url)[1]["routing"]["canary"] is not None:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert call(url + ":predict", "POST", {"instances": ROWS})[1]["model_version"] == "2"
    finally:
        container.stop(timeout=10)
        exit_code = container.wait()["StatusCode"]
        container.remove(force=True)
    assert exit_code == 0  # SIGTERM (docker stop) is a clean stop
    assert os.path.isdir(registry / "taxi" / "2")
