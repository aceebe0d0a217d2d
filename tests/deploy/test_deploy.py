"""`make deploy`: upload to Cloud Storage (the real client against gcp-storage-emulator) and
deploy to Kubeflow Pipelines (the real kfp.Client against tests/doubles/kfp_double.py)."""

import json
import uuid

import pytest
import yaml

from mlops.ci.build_state import BuildState, ImageRecord
from mlops.ci.compile import compile_all
from mlops.ci.spec_rewrite import rewrite_images
from mlops.core.errors import BuildError
from mlops.core.pipeline_package import read_package
from mlops.deploy import chain as deploy

SHA1, SHA2 = "1a" * 20, "2b" * 20
REGISTRY = "registry.test"


def make_deployable(root, commit, monkeypatch, **deploy_overrides):
    """The project as `make build ENV=dev` leaves it for commit: specs pinned, pipelines
    compiled, the build state recorded (the build itself is tested in test_build_chain)."""
    monkeypatch.setenv("COMMIT_SHA", commit)
    settings = yaml.safe_load((root / "settings.yaml").read_text())
    settings["build"]["registry"] = REGISTRY
    settings["environments"] = {"dev": {"deploy": deploy_overrides["deploy"]}}
    settings["pipelines"] = {"hello_pipeline": {"parameters": {"message": "from dev"}}}
    (root / "settings.yaml").write_text(yaml.safe_dump(settings))
    state = BuildState(commit=commit, registry=REGISTRY, env="dev")
    images = {}
    for name in ("hello", "word_count"):
        digest = "sha256:" + f"{name}{commit}".encode().hex()[:64].ljust(64, "0")
        record = ImageRecord(f"{REGISTRY}/t/{name}", "f" * 64, "built", digest=digest)
        state.components[name] = record
        images[root / "components" / name / "component.yaml"] = record.pinned(commit)
    rewrite_images(images)
    compile_all(root)
    state.save(root)
    return root


@pytest.fixture
def dev(project, gcs, kfp_api, monkeypatch):
    bucket = gcs.create_bucket(f"dev-{uuid.uuid4().hex[:12]}")  # the emulator is session-wide

    def prepare(commit=SHA1, **changes):
        config = {
            "bucket": f"gs://{bucket.name}",
            "target": "kfp",
            "kfp": {"host": kfp_api.host, "experiment": "ct-dev"},
            "run": {"enabled": True, "timeout_s": 20, "poll_s": 0.02},
            "schedule": {"cron": "0 3 * * *"},
            "retries": 3,
        }
        for key, value in changes.items():
            config[key] = value
        return make_deployable(project, commit, monkeypatch, deploy=config)

    return prepare


def record_of(root, commit):
    return json.loads((root / "dist/deployments/dev/hello_pipeline" / f"{commit}.json").read_text())


def creations(kfp_api):
    return [(m, p) for m, p in kfp_api.requests if m == "POST"]


def test_first_deploy_creates_everything(dev, kfp_api, gcs):
    root = dev()
    [record] = deploy.deploy(root, "dev")
    assert record.data["status"] == "deployed"
    [pipeline] = kfp_api.pipelines.values()
    assert pipeline["display_name"] == "hello_pipeline"
    [version] = kfp_api.versions.values()
    assert version["display_name"] == SHA1
    [run] = kfp_api.runs.values()
    assert run["state"] == "SUCCEEDED"
    assert run["runtime_config"]["parameters"] == {"message": "from dev"}
    [recurring] = kfp_api.recurring_runs.values()
    assert recurring["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    experiments = [e for e in kfp_api.experiments.values() if e["display_name"] == "ct-dev"]
    assert len(experiments) == 1
    bucket = record.data["stages"]["upload"]["package"]["uri"].split("/")[2]
    names = {b.name for b in gcs.list_blobs(gcs.bucket(bucket))}
    assert f"hello_pipeline/{SHA1}/workflow.tar.gz" in names
    stages = record_of(root, SHA1)["stages"]
    assert [stages[k]["action"] for k in ("pipeline", "version", "run", "schedule")] == [
        "created",
        "created",
        "created",
        "created",
    ]


USECASE_PIPELINE = """
from kfp import dsl
from pipelines.component_store import default_store

hello = default_store().load_component("hello")


@dsl.pipeline(name="per-use-case")
def hello_pipeline(model_name: str, label: str):
    hello(message=model_name, repeat=1)
    hello(message=label, repeat=1)
"""


def with_usecases(root, pipeline_source, cases):
    """The project with hello_pipeline taking use case settings, and use cases
    {name: (task, overlay extras)}, each with a data source data/<name>.csv, compiled."""
    (root / "pipelines" / "hello_pipeline.py").write_text(pipeline_source)
    settings = yaml.safe_load((root / "settings.yaml").read_text())
    settings.pop("pipelines")
    settings.update(
        usecase="a",
        data={"splits": {"train": 2, "eval": 1}},
        model={"train": {"hidden_units": "8", "learning_rate": 0.1, "epochs": 1,
                         "batch_size": 8}},
        serving={"registry": "registry"},
    )  # fmt: skip
    (root / "settings.yaml").write_text(yaml.safe_dump(settings))
    for case, (task, extras) in cases.items():
        folder = root / "pipelines" / "usecases" / case
        folder.mkdir(parents=True)
        (folder / "schema.pbtxt").write_text("feature { name: 'x' type: FLOAT }\n")
        (folder / "t.py").write_text("def preprocessing_fn(inputs):\n    return inputs\n")
        overlay = {
            "data": {"source": f"data/{case}.csv", "label": f"y_{case}",
                     "schema": f"pipelines/usecases/{case}/schema.pbtxt"},
            "model": {"name": f"model_{case}", "task": task, "label_key": f"y_{case}",
                      "transform_module": f"pipelines/usecases/{case}/t.py",
                      "evaluation": {"metrics": ["ExampleCount"]}},
            **extras,
        }  # fmt: skip
        (folder / "settings.yaml").write_text(yaml.safe_dump(overlay))
    compile_all(root)
    return root


def test_one_pipeline_runs_and_is_scheduled_per_use_case(dev, kfp_api):
    """The pipeline takes use case settings: one upload and version, then a run and a
    recurring run per use case, each with its own settings' values."""
    root = with_usecases(dev(), USECASE_PIPELINE, {"a": ("binary", {}), "b": ("regression", {})})
    [record] = deploy.deploy(root, "dev")
    assert record.data["status"] == "deployed"
    assert len(kfp_api.pipelines) == 1 and len(kfp_api.versions) == 1
    runs = {r["display_name"]: r["runtime_config"]["parameters"] for r in kfp_api.runs.values()}
    assert runs == {
        f"hello_pipeline-a-{SHA1[:12]}": {"model_name": "model_a", "label": "y_a"},
        f"hello_pipeline-b-{SHA1[:12]}": {"model_name": "model_b", "label": "y_b"},
    }
    schedules = {r["display_name"] for r in kfp_api.recurring_runs.values()}
    assert schedules == {"hello_pipeline-a-schedule", "hello_pipeline-b-schedule"}
    stages = record_of(root, SHA1)["stages"]
    assert {"run a", "run b", "schedule a", "schedule b"} <= set(stages)


def test_the_same_commit_twice_creates_nothing_new(dev, kfp_api):
    root = dev()
    deploy.deploy(root, "dev")
    before = len(creations(kfp_api))
    deploy.deploy(root, "dev")
    assert creations(kfp_api)[before:] == []
    assert (len(kfp_api.versions), len(kfp_api.runs), len(kfp_api.recurring_runs)) == (1, 1, 1)
    stages = record_of(root, SHA1)["stages"]
    assert stages["version"]["action"] == "exists" and stages["schedule"]["action"] == "exists"


def test_a_new_commit_adds_a_version_and_replaces_the_recurring_run(dev, kfp_api):
    root = dev(SHA1)
    deploy.deploy(root, "dev")
    [first_recurring] = kfp_api.recurring_runs
    dev(SHA2)
    deploy.deploy(root, "dev")
    assert len(kfp_api.pipelines) == 1
    assert sorted(v["display_name"] for v in kfp_api.versions.values()) == sorted([SHA1, SHA2])
    [recurring] = kfp_api.recurring_runs.values()
    assert recurring["recurring_run_id"] != first_recurring
    new_version = next(v for v in kfp_api.versions.values() if v["display_name"] == SHA2)
    assert (
        recurring["pipeline_version_reference"]["pipeline_version_id"]
        == (new_version["pipeline_version_id"])
    )
    assert record_of(root, SHA2)["stages"]["schedule"]["action"] == "replaced"


def test_an_existing_experiment_is_reused(dev, kfp_api):
    import kfp

    existing = kfp.Client(host=kfp_api.host).create_experiment("ct-dev")
    root = dev()
    deploy.deploy(root, "dev")
    assert record_of(root, SHA1)["stages"]["experiment"]["id"] == existing.experiment_id
    assert [e["display_name"] for e in kfp_api.experiments.values()].count("ct-dev") == 1


def test_an_experiment_created_concurrently_is_used(dev, kfp_api):
    """Another deploy creates the experiment between kfp.Client's lookup and its create: the
    server's 409 means it exists, and the deploy goes on with it."""
    import kfp

    root = dev()
    existing = kfp.Client(host=kfp_api.host).create_experiment("ct-dev")
    # kfp.Client's lookup by name misses it (as if not made yet); its create then gets a 409.
    kfp_api.inject(method="GET", path_prefix="/apis/v2beta1/experiments", status=200, body={})
    [record] = deploy.deploy(root, "dev")
    assert record.data["status"] == "deployed"
    assert record.data["stages"]["experiment"]["id"] == existing.experiment_id
    assert [e["status"] for e in kfp_api.request_log if e["path"].endswith("/experiments")][
        -3:
    ] == [200, 409, 200]


def test_a_failed_run_fails_the_deploy_and_a_re_run_completes_it(dev, kfp_api):
    root = dev()
    kfp_api.run_outcome = lambda run: "FAILED"
    with pytest.raises(BuildError, match=r"run 'hello_pipeline-1a1a1a1a1a1a' .* ended FAILED"):
        deploy.deploy(root, "dev")
    record = record_of(root, SHA1)
    assert record["status"] == "failed" and "ended FAILED" in record["error"]
    assert {"upload", "experiment", "pipeline", "version"} <= set(record["stages"])
    assert "schedule" not in record["stages"]  # a failed integration run stops the deploy
    kfp_api.run_outcome = None
    deploy.deploy(root, "dev")
    record = record_of(root, SHA1)
    assert record["status"] == "deployed"
    assert record["stages"]["run"]["action"] == "created"  # a new run, the failed one stays
    assert len(kfp_api.runs) == 2 and len(kfp_api.versions) == 1


def test_a_run_that_outlives_its_timeout(dev, kfp_api):
    root = dev(run={"enabled": True, "timeout_s": 0.3, "poll_s": 0.02})
    kfp_api.run_outcome = lambda run: "RUNNING"
    with pytest.raises(BuildError, match=r"still RUNNING after 0 s"):
        deploy.deploy(root, "dev")


@pytest.mark.parametrize("status", [503, 500])
def test_answers_that_may_pass_are_retried(dev, kfp_api, status, monkeypatch):
    """An unavailable server and a 500 that names no refusal (the double's injected 500 says
    only "Internal Server Error") are sent again, after 0.5 s then 1 s."""
    import time

    from mlops.deploy import kfp_deploy

    backoff, sleep = [], time.sleep
    # The backoff's waits are recorded, not slept; the run's polls (0.02 s) still sleep.
    monkeypatch.setattr(
        kfp_deploy.time, "sleep", lambda s: backoff.append(s) if s >= 0.5 else sleep(s)
    )
    root = dev()
    upload = "/apis/v2beta1/pipelines/upload_version"
    kfp_api.inject(method="POST", path_prefix=upload, status=status, times=2)
    deploy.deploy(root, "dev")
    assert len(kfp_api.versions) == 1
    assert kfp_api.requests.count(("POST", upload)) == 3
    assert backoff == [0.5, 1.0]


@pytest.mark.parametrize(
    "status, body, transient",
    [
        (502, "", True),
        (504, "", True),
        (429, "", True),
        (500, {"message": "InternalServerError: Failed to create a run: DB is busy"}, True),
        (500, {"message": "Failed ...: ResourceNotFoundError: PipelineVersion v not found"}, False),
        (500, {"error_message": "Failed ...: InvalidInputError: KFP only supports"}, False),
        (500, {"message": "Failed ...: Invalid input error: Pipeline version v belongs to"}, False),
        (501, {"message": "Method Not Allowed"}, False),
        (400, {"message": "Invalid input error: bad cron"}, False),
        (404, "not json", False),
    ],
)
def test_which_answers_may_pass_on_another_attempt(status, body, transient):
    from kfp_server_api import ApiException

    from mlops.deploy.kfp_answers import answer_of

    error = ApiException(status=status, reason="R")
    error.body = json.dumps(body) if isinstance(body, dict) else body
    answer = answer_of(error)
    assert answer.transient is transient
    expected = next(iter(body.values())) if isinstance(body, dict) else (body or "R")
    assert answer.message == expected


def with_schema_version(package, version):
    """The compiled package with another schemaVersion, as a newer kfp would write it."""
    import io
    import tarfile

    text = read_package(package).replace("schemaVersion: 2.1.0", f"schemaVersion: {version}")
    data = text.encode()
    with tarfile.open(package, "w:gz") as tar:
        member = tarfile.TarInfo("pipeline.yaml")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))


@pytest.mark.parametrize("server_version, status", [("2.5.0", 500), ("2.17.0", 400)])
def test_a_package_the_server_refuses_is_sent_once(dev, gcs, server_version, status):
    """Before 2.17 the server answers an invalid package 500: that 500 names its cause and
    is not retried, and the error says what was refused."""
    from kfp_double import KfpApiDouble

    with KfpApiDouble(pending_s=0.05, running_s=0.1, server_version=server_version) as double:
        root = dev(kfp={"host": double.host, "experiment": "ct-dev"})
        with_schema_version(root / "dist/hello_pipeline/workflow.tar.gz", "2.0.0")
        with pytest.raises(BuildError) as raised:
            deploy.deploy(root, "dev")
        assert f"uploading version {SHA1} was refused ({status} " in str(raised.value)
        assert "KFP only supports schema version 2.1.0" in str(raised.value)
        upload = ("POST", "/apis/v2beta1/pipelines/upload_version")
        assert double.requests.count(upload) == 1
        record = record_of(root, SHA1)
        assert record["status"] == "failed" and "version" not in record["stages"]
        assert not double.versions and not double.runs


def test_a_run_naming_a_missing_version_is_sent_once(dev, kfp_api):
    """The server answers 500 for a run of a version it does not have (deleted meanwhile)."""
    from mlops.core.deploy_settings import load_deploy_settings
    from mlops.core.parameter_check import spec_of
    from mlops.deploy.kfp_deploy import KfpDeployer

    root = dev()
    deploy.deploy(root, "dev")
    [pipeline_id] = kfp_api.pipelines
    spec = spec_of(read_package(root / "dist/hello_pipeline/workflow.tar.gz"))
    kfp = KfpDeployer(load_deploy_settings(root, "dev"))
    experiment_id = kfp.experiment()
    posted = kfp_api.requests.count(("POST", "/apis/v2beta1/runs"))
    heard = []
    with pytest.raises(BuildError) as raised:
        kfp.run(experiment_id, pipeline_id, "gone", "job", {}, spec=spec, started=heard.append)
    assert "starting run 'job' was refused (500 " in str(raised.value)
    assert "PipelineVersion gone not found" in str(raised.value)
    assert kfp_api.requests.count(("POST", "/apis/v2beta1/runs")) == posted + 1
    assert heard == []


def test_refusals_name_what_was_refused_and_record_nothing_undone(dev, kfp_api):
    """A cron out of range is refused by the settings check before any request; a recurring
    run or a run the server refuses: one request each, a named error, and no stage recorded
    for what the server did not make."""
    root = dev(schedule={"cron": "0 25 * * *"})
    with pytest.raises(BuildError, match=r"deploy.schedule.cron '0 25 \* \* \*': hour '25'"):
        deploy.deploy(root, "dev")
    assert kfp_api.requests == []

    root = dev()
    kfp_api.inject(method="POST", path_prefix="/apis/v2beta1/recurringruns", status=400, times=1)
    with pytest.raises(BuildError) as raised:
        deploy.deploy(root, "dev")
    assert "creating recurring run 'hello_pipeline-schedule' was refused (400 " in str(raised.value)
    record = record_of(root, SHA1)
    assert record["status"] == "failed" and "schedule" not in record["stages"]
    assert kfp_api.requests.count(("POST", "/apis/v2beta1/recurringruns")) == 1
    assert not kfp_api.recurring_runs

    kfp_api.runs.clear()
    kfp_api.inject(method="POST", path_prefix="/apis/v2beta1/runs", status=400, times=1)
    with pytest.raises(BuildError, match=r"starting run 'hello_pipeline-1a1a1a1a1a1a' was refused"):
        deploy.deploy(root, "dev")
    record = record_of(root, SHA1)
    assert record["status"] == "failed" and "run" not in record["stages"]


def test_persistent_5xx_fails_and_records_what_was_done(dev, kfp_api, monkeypatch):
    import time

    from mlops.deploy import kfp_deploy

    backoff, sleep = [], time.sleep
    monkeypatch.setattr(
        kfp_deploy.time, "sleep", lambda s: backoff.append(s) if s >= 0.5 else sleep(s)
    )
    root = dev()
    kfp_api.inject(
        method="POST", path_prefix="/apis/v2beta1/pipelines/upload_version", status=503, times=None
    )
    with pytest.raises(BuildError, match=r"uploading version .* failed after 3 attempts \(503"):
        deploy.deploy(root, "dev")
    assert backoff == [0.5, 1.0]  # between the 3 attempts, none after the last
    record = record_of(root, SHA1)
    assert record["status"] == "failed"
    assert "pipeline" in record["stages"] and "version" not in record["stages"]
    kfp_api.clear_injections()
    deploy.deploy(root, "dev")
    assert record_of(root, SHA1)["status"] == "deployed"


def test_an_unreachable_host_names_environment_and_host(dev):
    root = dev(kfp={"host": "http://127.0.0.1:9", "experiment": "ct-dev"})
    with pytest.raises(
        BuildError,
        match=r"environment 'dev' \(Kubeflow Pipelines at http://127.0.0.1:9\): cannot be reached",
    ):
        deploy.deploy(root, "dev")


def test_refused_credentials_name_environment_and_host(dev, kfp_api):
    root = dev()
    kfp_api.inject(method="GET", path_prefix="/apis/v2beta1/experiments", status=401, times=None)
    with pytest.raises(
        BuildError,
        match=r"'dev' \(Kubeflow Pipelines at .*\): the credentials were refused \(401\)",
    ):
        deploy.deploy(root, "dev")


def test_a_package_built_for_another_commit_is_not_deployed(dev, kfp_api, monkeypatch):
    root = dev(SHA1)
    state = json.loads((root / "dist/build-state.json").read_text())
    state["commit"] = SHA2
    (root / "dist/build-state.json").write_text(json.dumps(state))
    monkeypatch.setenv("COMMIT_SHA", SHA2)
    with pytest.raises(BuildError, match=r"workflow.tar.gz: not built for commit 2b2b"):
        deploy.deploy(root, "dev")
    assert creations(kfp_api) == []


@pytest.mark.docker
def test_the_whole_chain_from_build_to_kfp(docker_project, gcs, kfp_api, gcs_emulator):
    """Build, push, pin, compile to the session registry, then `python -m mlops deploy`."""
    import os
    import subprocess
    import sys

    root = docker_project
    bucket = gcs.create_bucket(f"chain-{uuid.uuid4().hex[:12]}")
    settings = yaml.safe_load((root / "settings.yaml").read_text())
    settings["environments"] = {
        "dev": {
            "deploy": {
                "bucket": f"gs://{bucket.name}",
                "target": "kfp",
                "kfp": {"host": kfp_api.host, "experiment": "ct-dev"},
                "run": {"enabled": True, "timeout_s": 20, "poll_s": 0.05},
            }
        }
    }
    (root / "settings.yaml").write_text(yaml.safe_dump(settings))
    env = {
        **os.environ,
        "ENV": "dev",
        "COMMIT_SHA": SHA1,
        "STORAGE_EMULATOR_HOST": gcs_emulator,
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    for step in (["build"], ["deploy"]):
        result = subprocess.run(
            [sys.executable, "-m", "mlops", "--root", str(root), *step],
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    assert "hello_pipeline: deployed" in result.stdout
    [version] = kfp_api.versions.values()
    assert version["display_name"] == SHA1
    spec = yaml.safe_load(kfp_api.packages[version["pipeline_version_id"]])
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert all(f":{SHA1}@sha256:" in image for image in images) and len(images) == 2
    [run] = kfp_api.runs.values()
    assert run["state"] == "SUCCEEDED"


def test_prod_deploys_to_vertex_with_approval(project, monkeypatch, tmp_path):
    """target: vertex, through google-cloud-aiplatform against tests/doubles/vertex_double.py."""
    from vertex_double import VertexDouble

    with VertexDouble(run_s=0.1) as vertex:
        # The SDK's check of the pipeline_root bucket goes to Cloud Storage: to the double.
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", vertex.url)
        config = {
            "bucket": str(tmp_path / "bucket"),
            "target": "vertex",
            "approval_required": True,
            "vertex": {
                "project": "mlops-prod",
                "location": "europe-west1",
                "pipeline_root": "gs://mlops-prod/root",
                "api_endpoint": vertex.url,
            },
            "run": {"enabled": True, "timeout_s": 20, "poll_s": 0.03},
            "schedule": {"cron": "0 3 * * *"},
        }
        root = make_deployable(project, SHA1, monkeypatch, deploy=config)
        settings = yaml.safe_load((root / "settings.yaml").read_text())
        settings["environments"]["prod"] = settings["environments"].pop("dev")
        (root / "settings.yaml").write_text(yaml.safe_dump(settings))
        state = json.loads((root / "dist/build-state.json").read_text())
        (root / "dist/build-state.json").write_text(json.dumps({**state, "env": "prod"}))

        with pytest.raises(BuildError, match="needs a release approval"):
            deploy.deploy(root, "prod")
        assert vertex.requests == []
        deploy.deploy(root, "prod", approve=True)
        deploy.deploy(root, "prod", approve=True)
        assert len(vertex.jobs) == 2  # the integration run runs on each deploy
        [job] = {
            j.resource["runtimeConfig"]["parameterValues"]["message"] for j in vertex.jobs.values()
        }
        assert job == "from dev"
        assert len(vertex.schedules) == 1
        record = json.loads(
            (root / "dist/deployments/prod/hello_pipeline" / f"{SHA1}.json").read_text()
        )
        assert record["status"] == "deployed"
        assert record["stages"]["vertex"]["state"] == "PIPELINE_STATE_SUCCEEDED"


def test_a_version_created_concurrently_is_treated_as_done(dev, kfp_api):
    """Another deploy of the same commit wins the race: our upload gets 409, we use its version."""
    root = dev()
    deploy.deploy(root, "dev")
    [version_id] = kfp_api.versions
    # Our lookup misses the version (as if it did not exist yet); the upload then gets the
    # server's real 409 for a duplicate version name.
    pipeline_id = kfp_api.versions[version_id]["pipeline_id"]
    kfp_api.inject(
        method="GET",
        path_prefix=f"/apis/v2beta1/pipelines/{pipeline_id}/versions",
        status=200,
        body={},
        times=1,
    )
    deploy.deploy(root, "dev")
    assert list(kfp_api.versions) == [version_id]
    stages = record_of(root, SHA1)["stages"]
    assert stages["version"] == {"name": SHA1, "id": version_id, "action": "exists"}
    assert ("POST", "/apis/v2beta1/pipelines/upload_version") in kfp_api.requests


# --- step caching: settings.yaml `cache` applied to what the cluster receives ---------------

CACHING_PIPELINE = """
from kfp import dsl
from pipelines.component_store import default_store

store = default_store()
hello = store.load_component("hello")
word_count = store.load_component("word_count")


@dsl.pipeline(name="inner")
def _inner(message: str):
    hello(message=message, repeat=1).set_caching_options(False)
    hello(message=message, repeat=2)


@dsl.pipeline(name="caching")
def hello_pipeline(message: str):
    text = hello(message=message, repeat=1)
    word_count(text=text.outputs["text"], min_length=2).set_caching_options(False)
    _inner(message=message)
"""
# Each task of every DAG of the compiled CACHING_PIPELINE and its compiled caching option.
AS_COMPILED = {
    "hello": True,
    "word-count": False,
    "inner": True,
    "comp-inner/hello": False,
    "comp-inner/hello-2": True,
}
ALL_OFF = dict.fromkeys(AS_COMPILED, False)
SUBMITTED = ("version", "run", "recurring run")


def caching_of(spec):
    """{task: enableCache} read from a PipelineSpec (an absent option is protobuf's false)."""
    dags = {None: spec["root"]["dag"]}
    dags.update({n: c["dag"] for n, c in spec["components"].items() if "dag" in c})
    return {
        f"{dag}/{name}" if dag else name: task.get("cachingOptions", {}).get("enableCache", False)
        for dag, body in dags.items()
        for name, task in body["tasks"].items()
    }


def with_caching_pipeline(root, cache=None):
    """The project compiled with CACHING_PIPELINE, and environment dev's `cache` set."""
    (root / "pipelines" / "hello_pipeline.py").write_text(CACHING_PIPELINE)
    settings = yaml.safe_load((root / "settings.yaml").read_text())
    if cache is not None:
        settings["environments"]["dev"]["cache"] = cache
    (root / "settings.yaml").write_text(yaml.safe_dump(settings))
    compile_all(root)
    package = root / "dist/hello_pipeline/workflow.tar.gz"
    return package, package.read_bytes()


def submitted_to_kfp(kfp_api):
    """The specs the server holds: the uploaded version, and what the run and recurring run
    execute (a run made from a version runs the version's spec)."""
    [version] = kfp_api.versions.values()
    [run] = kfp_api.runs.values()
    [recurring] = kfp_api.recurring_runs.values()
    return {
        "version": caching_of(version["pipeline_spec"]),
        "run": caching_of(kfp_api.spec_run_by(run)),
        "recurring run": caching_of(kfp_api.spec_run_by(recurring)),
    }


def test_kfp_gets_each_steps_caching_as_compiled_when_enabled(dev, kfp_api, capsys):
    root = dev()
    package, compiled = with_caching_pipeline(root, cache={"enabled": True})
    assert caching_of(yaml.safe_load(read_package(package))) == AS_COMPILED
    [record] = deploy.deploy(root, "dev")
    assert record.data["status"] == "deployed"
    assert submitted_to_kfp(kfp_api) == dict.fromkeys(SUBMITTED, AS_COMPILED)
    [version_id] = kfp_api.versions
    assert kfp_api.packages[version_id] == read_package(package)  # the package as compiled
    assert package.read_bytes() == compiled
    assert record_of(root, SHA1)["caching"] == {
        "enabled": True,
        "steps_without_cache": ["comp-inner/hello", "word-count"],
    }
    assert "step caching on, except comp-inner/hello, word-count" in capsys.readouterr().out


def test_kfp_gets_every_task_uncached_when_settings_disable_caching(dev, kfp_api, gcs, capsys):
    root = dev()
    package, compiled = with_caching_pipeline(root, cache={"enabled": False})
    [record] = deploy.deploy(root, "dev")
    assert record.data["status"] == "deployed"
    assert submitted_to_kfp(kfp_api) == dict.fromkeys(SUBMITTED, ALL_OFF)
    # The compiled original is untouched; the bucket holds what the cluster runs.
    assert package.read_bytes() == compiled
    assert caching_of(yaml.safe_load(read_package(package))) == AS_COMPILED
    uri = record.data["stages"]["upload"]["package"]["uri"]
    bucket, name = uri.removeprefix("gs://").split("/", 1)
    uploaded = root / "uploaded.tar.gz"
    gcs.bucket(bucket).blob(name).download_to_filename(str(uploaded))
    assert caching_of(yaml.safe_load(read_package(uploaded))) == ALL_OFF
    data = record_of(root, SHA1)
    assert data["caching"]["enabled"] is False
    assert set(data["caching"]["steps_without_cache"]) == set(ALL_OFF) - {"inner"}
    assert "step caching off for every step" in capsys.readouterr().out
    # The same commit again: the rewritten package has the same bytes, nothing new is made.
    before = len(creations(kfp_api))
    deploy.deploy(root, "dev")
    assert creations(kfp_api)[before:] == []
    assert record_of(root, SHA1)["stages"]["upload"]["package"]["action"] == "unchanged"


def test_an_existing_version_with_other_caching_is_not_taken_as_deployed(dev, kfp_api, gcs):
    """The version of a commit runs as it was uploaded: settings asking for other caching
    fail the deploy rather than record a deploy the cluster does not run."""
    root = dev()
    with_caching_pipeline(root)
    deploy.deploy(root, "dev")
    other_bucket = gcs.create_bucket(f"dev-{uuid.uuid4().hex[:12]}")
    dev(bucket=f"gs://{other_bucket.name}")
    with_caching_pipeline(root, cache={"enabled": False})
    runs_before = len(kfp_api.runs)
    with pytest.raises(BuildError, match=rf"version {SHA1} .* exists with other step caching"):
        deploy.deploy(root, "dev")
    record = record_of(root, SHA1)
    assert record["status"] == "failed" and "version" not in record["stages"]
    assert len(kfp_api.versions) == 1 and len(kfp_api.runs) == runs_before


@pytest.mark.parametrize("enabled", [True, False], ids=["enabled", "disabled"])
def test_vertex_gets_the_caching_settings_ask_for(project, monkeypatch, tmp_path, enabled):
    from vertex_double import VertexDouble

    with VertexDouble(run_s=0.1) as vertex:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", vertex.url)
        config = {
            "bucket": str(tmp_path / "bucket"),
            "target": "vertex",
            "vertex": {
                "project": "mlops-dev",
                "location": "europe-west1",
                "pipeline_root": "gs://mlops-dev/root",
                "api_endpoint": vertex.url,
            },
            "run": {"enabled": True, "timeout_s": 20, "poll_s": 0.03},
            "schedule": {"cron": "0 3 * * *"},
        }
        root = make_deployable(project, SHA1, monkeypatch, deploy=config)
        package, compiled = with_caching_pipeline(root, cache={"enabled": enabled})
        [record] = deploy.deploy(root, "dev")
        assert record.data["status"] == "deployed"
        [job] = vertex.jobs.values()
        [schedule] = vertex.schedules.values()
        scheduled = schedule["createPipelineJobRequest"]["pipelineJob"]
        expected = AS_COMPILED if enabled else ALL_OFF
        assert caching_of(job.resource["pipelineSpec"]) == expected
        assert caching_of(scheduled["pipelineSpec"]) == expected
        assert package.read_bytes() == compiled
        assert record_of(root, SHA1)["caching"]["enabled"] is enabled


def test_kfp_parameters_of_the_wrong_type_stop_the_deploy_before_any_request(dev, kfp_api):
    """The run and the recurring run would be refused by the server (400): the deploy names
    the settings key before it uploads or asks anything."""
    root = dev()
    settings = yaml.safe_load((root / "settings.yaml").read_text())
    settings["pipelines"]["hello_pipeline"]["parameters"]["repeat"] = "three"
    (root / "settings.yaml").write_text(yaml.safe_dump(settings))
    with pytest.raises(BuildError) as raised:
        deploy.deploy(root, "dev")
    assert str(raised.value) == (
        "settings.yaml (environment dev): pipelines.hello_pipeline.parameters.repeat is "
        "'three'; the pipeline's parameter repeat is an integer"
    )
    assert kfp_api.requests == []


def test_kfp_run_and_recurring_run_check_their_parameters_against_the_spec(dev, kfp_api):
    """KfpDeployer.run and .schedule refuse what the server would, with no request; a whole
    number for an integer goes as an integer."""
    from mlops.core.deploy_settings import load_deploy_settings
    from mlops.core.parameter_check import ParameterError, spec_of
    from mlops.deploy.kfp_deploy import KfpDeployer

    root = dev()
    spec = spec_of(read_package(root / "dist/hello_pipeline/workflow.tar.gz"))
    kfp = KfpDeployer(load_deploy_settings(root, "dev"))
    before = len(kfp_api.requests)
    for bad, message in (
        ({"message": 5}, "message is 5; the pipeline's parameter message is a string"),
        ({"repeat": 2.5}, "repeat is 2.5; the pipeline's parameter repeat is an integer"),
        ({"mesage": "x"}, "hello-pipeline has no parameter mesage"),
    ):
        with pytest.raises(ParameterError, match=message):
            kfp.run("e", "p", "v", "job", bad, spec=spec)
        with pytest.raises(ParameterError, match=message):
            kfp.schedule("e", "p", "v", "job-schedule", bad, spec=spec)
    assert kfp_api.requests[before:] == []
    deploy.deploy(root, "dev")  # the version, its run and recurring run
    [pipeline_id] = kfp_api.pipelines
    [version_id] = kfp_api.versions
    experiment_id = kfp.experiment()
    kfp.run(experiment_id, pipeline_id, version_id, "whole", {"repeat": 2.0}, spec=spec)
    [run] = [r for r in kfp_api.runs.values() if r["display_name"] == "whole"]
    assert run["runtime_config"]["parameters"] == {"repeat": 2}
    assert type(run["runtime_config"]["parameters"]["repeat"]) is int


def test_a_bad_parameter_of_a_later_pipeline_stops_the_deploy_before_the_first(
    dev, kfp_api, gcs, project, monkeypatch
):
    """Every pipeline's run parameters are checked before any upload or request: a deploy
    never stops half-way with the first pipelines deployed and the later ones not."""
    hello = (project / "pipelines" / "hello_pipeline.py").read_text()
    (project / "pipelines" / "hello_twice_pipeline.py").write_text(
        hello.replace("hello-pipeline", "hello-twice-pipeline").replace(
            "def hello_pipeline", "def hello_twice_pipeline"
        )
    )
    root = dev()
    settings = yaml.safe_load((root / "settings.yaml").read_text())
    settings["pipelines"]["hello_twice_pipeline"] = {"parameters": {"repeat": "twice"}}
    (root / "settings.yaml").write_text(yaml.safe_dump(settings))
    with pytest.raises(BuildError, match="hello_twice_pipeline.parameters.repeat is 'twice'"):
        deploy.deploy(root, "dev")
    assert kfp_api.requests == []
    bucket = yaml.safe_load((root / "settings.yaml").read_text())["environments"]["dev"]
    bucket_name = bucket["deploy"]["bucket"].removeprefix("gs://")
    assert list(gcs.bucket(bucket_name).list_blobs()) == []
    assert not (root / "dist/deployments/dev/hello_pipeline").exists()


def test_a_local_data_path_stops_a_cluster_deploy_before_any_request(dev, kfp_api, gcs):
    """A cluster cannot read this machine's files: a use case whose source is a local path in
    the environment stops the deploy, naming the use case, the setting and the path, before
    any upload or request; one with a gs:// source in that environment deploys."""
    source_pipeline = USECASE_PIPELINE.replace(
        "model_name: str, label: str", "source: str, label: str"
    ).replace("message=model_name", "message=source")
    root = with_usecases(
        dev(),
        source_pipeline,
        {
            "a": ("binary", {"environments": {"dev": {"data": {"source": "gs://data-a/*.csv"}}}}),
            "b": ("binary", {}),
        },
    )
    with pytest.raises(BuildError) as raised:
        deploy.deploy(root, "dev")
    message = str(raised.value)
    assert "the kfp runs would read paths that only this machine has" in message
    assert (
        f"hello_pipeline-b: pipelines/usecases/b/settings.yaml (environment dev, use case b): "
        f"data.source is '{root / 'data' / 'b.csv'}', a path on this machine"
    ) in message
    assert "hello_pipeline-a" not in message  # its dev source is on Cloud Storage
    assert kfp_api.requests == []
    assert not (root / "dist/deployments/dev/hello_pipeline").exists()

    overlay = yaml.safe_load((root / "pipelines/usecases/b/settings.yaml").read_text())
    overlay["environments"] = {"dev": {"data": {"source": "bq://project.dataset.table"}}}
    (root / "pipelines/usecases/b/settings.yaml").write_text(yaml.safe_dump(overlay))
    [record] = deploy.deploy(root, "dev")
    assert record.data["status"] == "deployed"
    runs = {r["display_name"]: r["runtime_config"]["parameters"] for r in kfp_api.runs.values()}
    assert runs[f"hello_pipeline-b-{SHA1[:12]}"]["source"] == "bq://project.dataset.table"
