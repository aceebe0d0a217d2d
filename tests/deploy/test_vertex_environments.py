"""The contract of each Vertex AI environment of settings.yaml: `make deploy ENV=<env>` of
this repository's own pipelines, as that environment's settings say (project, region,
pipeline root, bucket, cron, approval, parameters), through the real google-cloud-aiplatform
SDK against the strict Vertex AI double (tests/doubles/vertex_double.py, playing that project
and region only) and the Cloud Storage emulator. The integration run is turned on, whatever
the environment says, so that the whole path is crossed: upload, job submitted and awaited,
schedule. Settings the service would refuse fail here rather than in a release."""

from __future__ import annotations

import re
import shutil
import uuid

import pytest
import yaml

from mlops.ci.build_state import BuildState, ImageRecord
from mlops.ci.compile import compile_all
from mlops.ci.spec_rewrite import rewrite_images
from mlops.core.deploy_settings import load_deploy_settings
from mlops.core.errors import BuildError
from mlops.core.gcs import split_gs
from mlops.core.paths import REPO
from mlops.core.settings import load_raw, usecases


def vertex_environments() -> list[str]:
    environments = yaml.safe_load((REPO / "settings.yaml").read_text()).get("environments") or {}
    return [env for env in environments if load_deploy_settings(REPO, env).target == "vertex"]


def test_settings_have_a_vertex_environment():
    assert vertex_environments(), "no environment of settings.yaml deploys to Vertex AI"


def deployable(compiled, tmp_path, env: str, commit: str, api_endpoint: str):
    """A copy of the compiled repository as `make build ENV=env` leaves it for commit:
    images pinned to the environment's registry, pipelines compiled, the build state saved;
    the environment's settings pointed at the double, with the integration run on."""
    root = tmp_path / "repo"
    shutil.copytree(compiled, root)
    settings = yaml.safe_load((root / "settings.yaml").read_text())
    deploy = settings["environments"][env].setdefault("deploy", {})
    deploy.setdefault("vertex", {})["api_endpoint"] = api_endpoint
    deploy["run"] = {"enabled": True, "timeout_s": 30, "poll_s": 0.02}
    (root / "settings.yaml").write_text(yaml.safe_dump(settings))
    build = load_raw(root / "settings.yaml", env)["build"]
    state = BuildState(commit=commit, registry=build["registry"], env=env)
    images = {}
    for spec in sorted((root / "components").glob("*/component.yaml")):
        name = spec.parent.name
        digest = "sha256:" + uuid.uuid5(uuid.NAMESPACE_URL, name).hex * 2
        record = ImageRecord(
            f"{build['registry']}/{build['namespace']}/{name}", "f" * 64, "built", digest=digest
        )
        state.components[name] = record
        images[spec] = record.pinned(commit)
    rewrite_images(images)
    compile_all(root)
    state.save(root)
    return root


@pytest.mark.parametrize("env", vertex_environments())
def test_the_environment_deploys_to_vertex_ai(
    env, compiled, tmp_path, gcs_emulator, monkeypatch, capsys
):
    from fault_proxy import FaultProxy
    from vertex_double import VertexDouble

    from mlops.core.gcs import storage_client
    from mlops.deploy import chain

    settings = load_deploy_settings(REPO, env)
    commit = uuid.uuid4().hex + uuid.uuid4().hex[:8]
    monkeypatch.setenv("COMMIT_SHA", commit)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    bucket, _ = split_gs(settings.bucket)
    client = storage_client()
    if client.lookup_bucket(bucket) is None:  # the emulator lives for the whole session
        client.create_bucket(bucket)
    # The code under test: the emulator behind a proxy that answers the SDK's lookup of the
    # pipeline root's bucket 403, as the double does (vertex_double's module doc says why).
    storage = FaultProxy(gcs_emulator)
    root_bucket, _ = split_gs(settings.vertex_pipeline_root)
    storage.inject("GET", f"/storage/v1/b/{root_bucket}?", 403, times=10_000)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", storage.address)
    try:
        with VertexDouble(
            run_s=0.05, project=settings.vertex_project, location=settings.vertex_location
        ) as vertex:
            root = deployable(compiled, tmp_path, env, commit, vertex.url)
            if settings.approval_required:
                with pytest.raises(BuildError, match="needs a release approval"):
                    chain.deploy(root, env)
                assert vertex.requests == []
            records = chain.deploy(root, env, approve=True)
    finally:
        storage.stop()

    assert vertex.unhandled == []
    refused = [(r.method, r.path, r.status) for r in vertex.requests if r.status != 200]
    assert refused == []
    parent = f"projects/{settings.vertex_project}/locations/{settings.vertex_location}"
    runs = []  # (pipeline, use case or None) of each run the deploy made
    for record in records:
        assert record.data["status"] == "deployed", record.data.get("error")
        pipeline = record.data["pipeline"]
        uploaded = record.data["stages"]["upload"]
        assert uploaded["package"]["uri"].startswith(f"{settings.bucket}/{pipeline}/{commit}/")
        assert client.bucket(bucket).get_blob(split_gs(uploaded["package"]["uri"])[1])
        for stage, result in record.data["stages"].items():
            if stage.startswith("vertex"):
                assert result["state"] == "PIPELINE_STATE_SUCCEEDED"
                assert result["job"].startswith(f"{parent}/pipelineJobs/")
                assert result["schedule"].startswith(f"{parent}/schedules/")
                runs.append((pipeline, stage.partition(" ")[2] or None))
    assert len(runs) == len(vertex.jobs) == len(vertex.schedules) >= len(records)

    for job in (j.resource for j in vertex.jobs.values()):
        assert job["runtimeConfig"]["gcsOutputDirectory"] == settings.vertex_pipeline_root
        assert job["labels"] == {"commit": commit}
    for schedule in vertex.schedules.values():
        assert schedule["cron"] == settings.cron
        assert schedule["createPipelineJobRequest"]["parent"] == parent
    # Each run carries the parameters the environment sets for its pipeline and use case.
    jobs = {j.resource["displayName"]: j.resource for j in vertex.jobs.values()}
    for pipeline, usecase in runs:
        merged = load_raw(root / "settings.yaml", env, usecase if usecase else "")
        declared = ((merged.get("pipelines") or {}).get(pipeline) or {}).get("parameters") or {}
        name = re.sub(r"[^a-z0-9-]+", "-", f"{pipeline}-{usecase}" if usecase else pipeline)
        values = jobs[name]["runtimeConfig"].get("parameterValues", {})
        for key, value in declared.items():
            assert values.get(key) == value, (env, pipeline, usecase, key)
    assert {u for _, u in runs if u} <= set(usecases(root))
