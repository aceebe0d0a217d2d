"""deploy_model.vertex through the real google-cloud-aiplatform SDK (REST transport) against
tests/doubles/vertex_double.py, a loopback double of the Vertex AI v1 REST API; model folders
live in a gcp-storage-emulator, which the double reads as the real API reads the artifact_uri."""

import sys
from pathlib import Path

import pytest
import requests

SRC = str(Path(__file__).resolve().parents[1] / "src")
if SRC not in sys.path:  # as the image's PYTHONPATH does
    sys.path.insert(0, SRC)

from deploy_model import vertex  # noqa: E402
from deploy_model.vertex import VertexDeployError, VertexTarget  # noqa: E402
from vertex_double import VertexDouble  # noqa: E402  (tests/doubles is on the pytest pythonpath)

PROJECT = "proj-dev"
LOCATION = "europe-west1"
PARENT = f"/v1/projects/{PROJECT}/locations/{LOCATION}"
IMAGE = "europe-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
BUCKET = "proj-dev-models"


@pytest.fixture(scope="module")
def gcs(tmp_path_factory):
    """A storage client on a gcp-storage-emulator holding the bucket of model folders."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from mlops.testing.gcs_emulator import GcsEmulator

    emulator = GcsEmulator(tmp_path_factory.mktemp("gcs") / "emulator.log")
    mp = pytest.MonkeyPatch()
    mp.setenv("STORAGE_EMULATOR_HOST", emulator.address)
    client = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
    client.create_bucket(BUCKET)
    yield client
    mp.undo()
    emulator.stop()


def saved_model(gcs, version: int) -> str:
    """A registry version folder holding a (tiny, fake) SavedModel; its gs:// URI."""
    bucket = gcs.bucket(BUCKET)
    prefix = f"registry/taxi/{version}"
    bucket.blob(f"{prefix}/saved_model.pb").upload_from_string(b"\x08\x01")
    bucket.blob(f"{prefix}/variables/variables.index").upload_from_string(b"")
    return f"gs://{BUCKET}/{prefix}"


@pytest.fixture
def double(gcs, monkeypatch):
    def artifact_check(uri: str) -> str | None:
        bucket, _, prefix = uri.removeprefix("gs://").partition("/")
        names = {b.name for b in gcs.list_blobs(bucket, prefix=prefix.rstrip("/") + "/")}
        if not any(n.endswith("/saved_model.pb") for n in names):
            return "is expected to contain exactly one of: [saved_model.pb, saved_model.pbtxt]"
        return None

    monkeypatch.setattr(vertex, "BACKOFF_S", 0.01)
    with VertexDouble(artifact_check=artifact_check) as d:
        yield d
        assert d.unhandled == [], "the SDK called endpoints the double does not serve"


@pytest.fixture
def target(double):
    return VertexTarget(
        project=PROJECT,
        location=LOCATION,
        endpoint="taxi-endpoint",
        model_display_name="taxi",
        serving_image=IMAGE,
        api_endpoint=double.url,
    )


def endpoint_state(double) -> dict:
    (endpoint,) = double.endpoints_named("taxi-endpoint")
    return endpoint


def deployed_versions(double) -> dict[str, int]:
    """Model version id -> traffic percent, as the double holds the endpoint."""
    endpoint = endpoint_state(double)
    split = endpoint["trafficSplit"]
    return {m["modelVersionId"]: split.get(m["id"], 0) for m in endpoint["deployedModels"]}


def versions(double) -> dict[str, dict]:
    return {v["versionId"]: v for v in double.model_versions("taxi")}


def aliases(double) -> dict[str, list[str]]:
    return {k: sorted(v["versionAliases"]) for k, v in versions(double).items()}


def test_first_deploy_creates_model_and_endpoint_with_all_traffic(gcs, double, target):
    from google.cloud.aiplatform import initializer

    endpoint_before = initializer.global_config.api_endpoint
    uri = saved_model(gcs, 1)
    record = vertex.deploy(target, uri, 10, {"pipeline_run": "Run-42", "git_sha": "ABC123+dirty"})

    (model,) = double.models
    (endpoint,) = double.endpoints
    (v1,) = double.model_versions("taxi")
    assert v1["name"] == model and v1["versionId"] == "1"
    assert v1["artifactUri"] == uri and v1["containerSpec"]["imageUri"] == IMAGE
    assert v1["labels"] == {"pipeline_run": "run-42", "git_sha": "abc123-dirty"}
    assert sorted(v1["versionAliases"]) == ["default", "stable"]
    (deployed,) = endpoint_state(double)["deployedModels"]
    assert (deployed["model"], deployed["modelVersionId"]) == (model, "1")
    assert deployed["dedicatedResources"]["machineSpec"]["machineType"] == vertex.MACHINE_TYPE
    assert endpoint_state(double)["trafficSplit"] == {deployed["id"]: 100}
    assert v1["deployedModels"] == [{"endpoint": endpoint, "deployedModelId": deployed["id"]}]

    assert record == {
        "model": model,
        "version_id": "1",
        "model_version": f"{model}@1",
        "endpoint": endpoint,
        "deployed_model_id": deployed["id"],
        "deployed_model_ids": [deployed["id"]],
        "traffic_split": {deployed["id"]: 100},
        "stable": deployed["id"],
        "canary": None,
    }
    (upload,) = double.calls("POST", PARENT + "/models:upload$")
    assert "parentModel" not in upload.body  # a new model
    (create,) = double.calls("POST", PARENT + "/endpoints$")
    assert create.body["displayName"] == "taxi-endpoint"
    (deploy,) = double.calls("POST", ":deployModel$")
    assert deploy.body["trafficSplit"] == {"0": 100}  # first model: 100% whatever was asked
    assert deploy.body["deployedModel"]["model"] == f"{model}@1"
    # The SDK settings were for this call only.
    assert initializer.global_config.api_endpoint == endpoint_before


def test_canary_promote_rollback(gcs, double, target):
    first = vertex.deploy(target, saved_model(gcs, 1), 100, {"pipeline_run": "r1"})
    model, endpoint = first["model"], first["endpoint"]
    v1_id = first["deployed_model_id"]

    # Second deploy: version 2 of the same model, 10% of the traffic.
    second = vertex.deploy(target, saved_model(gcs, 2), 10, {"pipeline_run": "r2"})
    v2_id = second["deployed_model_id"]
    assert (second["model"], second["version_id"], second["endpoint"]) == (model, "2", endpoint)
    assert list(double.models) == [model] and list(double.endpoints) == [endpoint]
    assert deployed_versions(double) == {"1": 90, "2": 10}
    assert second["traffic_split"] == {v1_id: 90, v2_id: 10}
    assert (second["stable"], second["canary"]) == (v1_id, v2_id)
    uploads = double.calls("POST", PARENT + "/models:upload$")
    assert uploads[-1].body["parentModel"] == model
    assert uploads[-1].body["model"]["labels"] == {"pipeline_run": "r2"}
    assert double.calls("POST", ":deployModel$")[-1].body["trafficSplit"] == {v1_id: 90, "0": 10}
    assert aliases(double) == {"1": ["stable"], "2": ["default"]}
    assert vertex.status(target)["traffic_split"] == {v1_id: 90, v2_id: 10}

    # Promote: version 2 takes all the traffic, version 1 is undeployed.
    promoted = vertex.promote(target)
    assert deployed_versions(double) == {"2": 100}
    assert versions(double)["1"]["deployedModels"] == []
    assert promoted["promoted"] == v2_id and promoted["traffic_split"] == {v2_id: 100}
    (patch,) = double.calls("PATCH", rf"{PARENT}/endpoints/[^/:]+$")
    assert patch.body["trafficSplit"] == {v2_id: 100}
    undeploys = double.calls("POST", ":undeployModel$")
    assert [u.body["deployedModelId"] for u in undeploys] == [v1_id]
    assert aliases(double) == {"1": ["previous-stable"], "2": ["default", "stable"]}

    # A third deploy, then rollback: the canary goes, version 2 has 100% again.
    third = vertex.deploy(target, saved_model(gcs, 3), 25, {"pipeline_run": "r3"})
    assert deployed_versions(double) == {"2": 75, "3": 25}
    rolled = vertex.rollback(target)
    assert deployed_versions(double) == {"2": 100}
    assert versions(double)["3"]["deployedModels"] == []
    assert rolled["rolled_back"] == third["deployed_model_id"]
    assert rolled["traffic_split"] == {v2_id: 100} and rolled["canary"] is None
    assert aliases(double) == {"1": ["previous-stable"], "2": ["stable"], "3": ["default"]}
    assert vertex.status(target) == {
        "endpoint": endpoint,
        "deployed_models": [
            {
                "id": v2_id,
                "display_name": "taxi-v2",
                "model": model,
                "version_id": "2",
                "traffic_percent": 100,
                "create_time": vertex.status(target)["deployed_models"][0]["create_time"],
            }
        ],
        "traffic_split": {v2_id: 100},
        "stable": v2_id,
        "canary": None,
    }

    # No canary left: a rollback goes back to the previous stable version, once.
    back = vertex.rollback(target)
    assert deployed_versions(double) == {"1": 100}
    assert back["restored_version_id"] == "1" and back["rolled_back"] == v2_id
    assert aliases(double) == {"1": ["stable"], "2": [], "3": ["default"]}
    with pytest.raises(VertexDeployError, match="nothing to roll back.*'previous-stable'"):
        vertex.rollback(target)
    with pytest.raises(VertexDeployError, match=r"no canary to promote: only \d+ \(version 1\)"):
        vertex.promote(target)
    assert deployed_versions(double) == {"1": 100}


def test_a_ramp_step_moves_the_endpoint_traffic_split(gcs, double, target):
    with pytest.raises(VertexDeployError, match="no endpoint named 'taxi-endpoint'"):
        vertex.set_canary_traffic(target, 25)
    first = vertex.deploy(target, saved_model(gcs, 1), 100, {})
    with pytest.raises(VertexDeployError, match="no canary to ramp"):
        vertex.set_canary_traffic(target, 25)
    second = vertex.deploy(target, saved_model(gcs, 2), 10, {})
    v1_id, v2_id = first["deployed_model_id"], second["deployed_model_id"]

    ramped = vertex.set_canary_traffic(target, 25)
    assert deployed_versions(double) == {"1": 75, "2": 25}
    assert ramped["traffic_split"] == {v1_id: 75, v2_id: 25} and ramped["canary_percent"] == 25
    assert (ramped["stable"], ramped["canary"], ramped["ramped"]) == (v1_id, v2_id, v2_id)
    (patch,) = double.calls("PATCH", rf"{PARENT}/endpoints/[^/:]+$")
    assert patch.body["trafficSplit"] == {v1_id: 75, v2_id: 25}
    # Past half the traffic the canary stays the canary (the newest deployed model).
    assert vertex.set_canary_traffic(target, 60)["canary"] == v2_id
    assert deployed_versions(double) == {"1": 40, "2": 60}
    assert double.calls("POST", ":undeployModel$") == []  # both stay deployed
    for bad in (0, 100, True):
        with pytest.raises(VertexDeployError, match="from 1 to 99"):
            vertex.set_canary_traffic(target, bad)
    vertex.promote(target)
    assert deployed_versions(double) == {"2": 100}


def test_a_new_canary_replaces_the_previous_one(gcs, double, target):
    vertex.deploy(target, saved_model(gcs, 1), 100, {})
    vertex.deploy(target, saved_model(gcs, 2), 10, {})
    record = vertex.deploy(target, saved_model(gcs, 3), 20, {})

    assert deployed_versions(double) == {"1": 80, "3": 20}
    assert versions(double)["2"]["deployedModels"] == []
    assert len(record["deployed_model_ids"]) == 2
    assert record["canary"] == record["deployed_model_id"]


def test_a_full_traffic_deploy_keeps_the_previous_model_until_promoted(gcs, double, target):
    vertex.deploy(target, saved_model(gcs, 1), 100, {})
    record = vertex.deploy(target, saved_model(gcs, 2), 100, {})
    assert deployed_versions(double) == {"1": 0, "2": 100}
    assert record["canary"] == record["deployed_model_id"]

    vertex.rollback(target)
    assert deployed_versions(double) == {"1": 100}


def test_long_running_operations_are_polled(gcs, double, target):
    double.op_polls = 1  # every operation answers "not done" once
    record = vertex.deploy(target, saved_model(gcs, 1), 100, {})
    assert deployed_versions(double) == {"1": 100}
    assert record["version_id"] == "1"
    polled = {r.path.split("/", 2)[2] for r in double.calls("GET", "/operations/[^/]+$")}
    assert polled == set(double.operations)  # upload, endpoint creation, deploy
    assert {op.kind for op in double.operations.values()} == {
        "upload_model",
        "create_endpoint",
        "deploy_model",
    }
    assert all(op.done and op.error is None for op in double.operations.values())


def test_bad_inputs_are_named_before_any_call(double, target):
    from dataclasses import replace

    cases = [
        (replace(target, project=""), "gs://b/m/1", 10, "VertexTarget.project is required"),
        (replace(target, location=" "), "gs://b/m/1", 10, "VertexTarget.location is required"),
        (replace(target, endpoint=""), "gs://b/m/1", 10, "VertexTarget.endpoint is required"),
        (replace(target, serving_image=""), "gs://b/m/1", 10, "VertexTarget.serving_image"),
        (target, "/tmp/models/1", 10, "artifact_uri must be a gs:// folder"),
        (target, "s3://b/m/1", 10, "artifact_uri must be a gs:// folder"),
        (target, "gs://b/m/1", 0, "traffic_percent must be a whole number from 1 to 100"),
        (target, "gs://b/m/1", 101, "traffic_percent"),
    ]
    for bad_target, uri, percent, message in cases:
        with pytest.raises(VertexDeployError, match=message):
            vertex.deploy(bad_target, uri, percent, {})
    with pytest.raises(VertexDeployError, match="label key 'Run'"):
        vertex.deploy(target, "gs://b/m/1", 10, {"Run": "x"})
    for fn in (vertex.promote, vertex.rollback, vertex.status):
        with pytest.raises(VertexDeployError, match="VertexTarget.project is required"):
            fn(replace(target, project=""))
    assert double.requests == []


def test_an_artifact_without_a_model_is_refused_by_the_api(gcs, double, target):
    with pytest.raises(VertexDeployError) as e:
        vertex.deploy(target, f"gs://{BUCKET}/registry/taxi/missing", 10, {})
    assert "could not upload gs://proj-dev-models/registry/taxi/missing" in str(e.value)
    assert "saved_model.pb" in str(e.value) and "400" in str(e.value)
    assert double.models == {} and double.endpoints == {}


def test_a_failed_deploy_operation_is_named(gcs, double, target):
    vertex.deploy(target, saved_model(gcs, 1), 100, {})
    double.fail_operation("deploy_model", message="Model server never became ready.")
    with pytest.raises(VertexDeployError) as e:
        vertex.deploy(target, saved_model(gcs, 2), 10, {})
    message = str(e.value)
    assert "could not deploy projects/" in message and "version 2" in message
    assert "Model server never became ready." in message and "'taxi-endpoint'" in message
    # The version was uploaded, the endpoint still serves version 1 alone.
    assert sorted(versions(double)) == ["1", "2"]
    assert deployed_versions(double) == {"1": 100}
    (failed,) = [op for op in double.operations.values() if op.error]
    assert failed.kind == "deploy_model" and failed.error["code"] == 9


def test_a_failed_upload_operation_is_named(gcs, double, target):
    double.fail_operation("upload_model", code=13, message="internal upload error")
    with pytest.raises(VertexDeployError, match=r"could not upload gs://.*/1 as a new version "):
        vertex.deploy(target, saved_model(gcs, 1), 10, {})
    assert double.models == {} and double.endpoints == {}


def test_reads_are_retried_writes_are_not(gcs, double, target):
    double.inject(503, times=2, method="GET", path=PARENT + "/models$")
    vertex.deploy(target, saved_model(gcs, 1), 100, {})
    assert [r.status for r in double.calls("GET", PARENT + "/models$")] == [503, 503, 200]

    double.inject(503, method="POST", path=":deployModel$", lost_answer=True)
    with pytest.raises(VertexDeployError, match=r"could not deploy .*503.*tried 1 times"):
        vertex.deploy(target, saved_model(gcs, 2), 10, {})
    assert len(double.calls("POST", ":deployModel$")) == 2  # not sent again
    # The lost answer's deploy took effect: the next step sees it as the canary.
    assert deployed_versions(double) == {"1": 90, "2": 10}
    assert vertex.promote(target)["version_id"] == "2"


def test_promote_and_rollback_need_the_endpoint(double, target):
    for fn in (vertex.promote, vertex.rollback):
        with pytest.raises(VertexDeployError, match="no endpoint named 'taxi-endpoint'"):
            fn(target)
    assert vertex.status(target) == {
        "endpoint": None,
        "deployed_models": [],
        "traffic_split": {},
        "stable": None,
        "canary": None,
    }


# -- the double rejects what the real API would, so the tests above could fail -----------------


def test_double_rejects_bad_traffic_splits_and_unknown_models(gcs, double, target):
    vertex.deploy(target, saved_model(gcs, 1), 100, {})
    model = next(iter(double.models))
    (endpoint,) = double.endpoints
    deployed_id = endpoint_state(double)["deployedModels"][0]["id"]
    url = f"{double.url}/v1/{endpoint}"
    resources = {"machineSpec": {"machineType": "n1-standard-2"}, "minReplicaCount": 1}

    def deploy(model_ref: str, split: dict) -> requests.Response:
        body = {
            "deployedModel": {"model": model_ref, "dedicatedResources": resources},
            "trafficSplit": split,
        }
        return requests.post(f"{url}:deployModel", json=body, timeout=10)

    assert deploy(f"{model}@1", {deployed_id: 80, "0": 10}).status_code == 400  # sums to 90
    assert deploy(f"{model}@1", {"12345": 90, "0": 10}).status_code == 400  # unknown id
    assert deploy(f"{model}@7", {deployed_id: 90, "0": 10}).status_code == 404  # no version 7
    assert deploy(f"{model}9@1", {deployed_id: 90, "0": 10}).status_code == 404  # no model
    undeploy = f"{url}:undeployModel"
    assert requests.post(undeploy, json={"deployedModelId": "999"}, timeout=10).status_code == 404
    patch = requests.patch(
        url, params={"updateMask": "trafficSplit"}, json={"trafficSplit": {deployed_id: 50}}
    )
    assert patch.status_code == 400
    assert deployed_versions(double) == {"1": 100}

    # A model with traffic is not undeployed unless the split moves it elsewhere.
    assert deploy(f"{model}@1", {deployed_id: 50, "0": 50}).status_code == 200
    second = endpoint_state(double)["deployedModels"][1]["id"]
    body = {"deployedModelId": deployed_id}
    refused = requests.post(undeploy, json=body, timeout=10)
    assert (refused.status_code, refused.json()["error"]["status"]) == (400, "FAILED_PRECONDITION")
    body["trafficSplit"] = {second: 100}
    assert requests.post(undeploy, json=body, timeout=10).status_code == 200
    assert endpoint_state(double)["trafficSplit"] == {second: 100}
