"""mlops.deploy.vertex_deploy through the real google-cloud-aiplatform SDK against
tests/doubles/vertex_double.py,
a loopback double of the Vertex AI v1 REST API (Vertex cannot run here)."""

import json
import re
import socket

import pytest
import requests
import yaml
from google.auth.credentials import AnonymousCredentials, Credentials
from vertex_double import VertexDouble, cron_problem

from mlops.core.errors import BuildError
from mlops.deploy import vertex_deploy

PROJECT = "proj-dev"
LOCATION = "us-central1"
JOBS = rf"^/v1/projects/{PROJECT}/locations/{LOCATION}/pipelineJobs$"
JOB = rf"^/v1/projects/{PROJECT}/locations/{LOCATION}/pipelineJobs/[^/]+$"
SCHEDULES = rf"^/v1/projects/{PROJECT}/locations/{LOCATION}/schedules$"


@pytest.fixture(scope="module")
def ir(tmp_path_factory):
    from kfp import compiler, dsl

    @dsl.container_component
    def say(msg: str):
        return dsl.ContainerSpec(image="alpine", command=["echo"], args=[msg])

    @dsl.pipeline(name="tiny-pipeline")
    def tiny(msg: str = "hi"):
        say(msg=msg)

    path = tmp_path_factory.mktemp("ir") / "pipeline.yaml"
    compiler.Compiler().compile(tiny, str(path))
    return path


@pytest.fixture
def double(monkeypatch):
    def outcome(job: dict) -> str:
        params = job.get("runtimeConfig", {}).get("parameterValues", {})
        return "FAILED" if params.get("msg") == "fail" else "SUCCEEDED"

    with VertexDouble(run_s=0.15, outcome=outcome) as d:
        # PipelineJob.submit's best-effort bucket check goes to Cloud Storage: send it here.
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", d.url)
        yield d
        assert d.unhandled == [], "the SDK called endpoints the double does not serve"


def deploy(ir, double, **overrides):
    args = dict(
        env="dev",
        project=PROJECT,
        location=LOCATION,
        pipeline_root="gs://proj-dev-pipelines/root",
        display_name="tiny",
        commit="0123ABCdef4567+dirty/branch",
        parameters={"msg": "hello"},
        run=True,
        timeout_s=5.0,
        cron=None,
        api_endpoint=double.url,
        credentials=AnonymousCredentials(),
        poll_s=0.03,
        retry_backoff_s=0.01,
    )
    args.update(overrides)
    return vertex_deploy.deploy(ir, **args)


def test_label_value_and_job_id_follow_vertex_rules():
    assert vertex_deploy.label_value("ABC/def+G" * 10) == ("abc-def-g" * 10)[:63]
    for name in ("tiny", "9 Lives!", "-" * 300, "x" * 300):
        assert re.fullmatch(r"[a-z][-a-z0-9]{0,127}", vertex_deploy.job_id(name)), name
    assert vertex_deploy.job_id("tiny") != vertex_deploy.job_id("tiny")


def test_run_is_submitted_and_awaited(ir, double):
    from google.cloud.aiplatform import initializer

    endpoint_before = initializer.global_config.api_endpoint
    record = deploy(ir, double)

    assert record["target"] == "vertex"
    assert (record["project"], record["location"]) == (PROJECT, LOCATION)
    assert record["state"] == "PIPELINE_STATE_SUCCEEDED"
    assert record["schedule"] is None
    assert record["job"].startswith(f"projects/{PROJECT}/locations/{LOCATION}/pipelineJobs/tiny-")
    json.dumps(record)

    (post,) = double.calls("POST", JOBS)
    assert post.body["displayName"] == "tiny"
    assert post.body["runtimeConfig"]["parameterValues"] == {"msg": "hello"}
    assert post.body["runtimeConfig"]["gcsOutputDirectory"] == "gs://proj-dev-pipelines/root"
    assert post.body["labels"] == {"commit": "0123abcdef4567-dirty-branch"}
    assert post.body["pipelineSpec"]["pipelineInfo"]["name"] == "tiny-pipeline"
    assert len(double.calls("GET", JOB)) >= 2  # polled through PENDING/RUNNING
    # The endpoint was set for this call only.
    assert initializer.global_config.api_endpoint == endpoint_before


def test_failed_job_raises_naming_the_job(ir, double):
    with pytest.raises(BuildError) as e:
        deploy(ir, double, parameters={"msg": "fail"})
    (job,) = double.jobs
    assert job in str(e.value)
    assert "PIPELINE_STATE_FAILED" in str(e.value) and "'dev'" in str(e.value)


def test_timeout_raises_naming_job_and_state(ir, double):
    double.run_s = 30.0
    with pytest.raises(BuildError, match=r"did not finish within 0.2s; last state PIPELINE_STATE_"):
        deploy(ir, double, timeout_s=0.2)


def test_schedule_is_created(ir, double):
    record = deploy(ir, double, run=False, cron="0 3 * * *")

    assert record["job"] is None and record["state"] is None
    (schedule,) = double.schedules_named("tiny-schedule")
    assert record["schedule"] == schedule["name"]
    assert schedule["cron"] == "0 3 * * *"
    job = schedule["createPipelineJobRequest"]["pipelineJob"]
    assert job["runtimeConfig"]["parameterValues"] == {"msg": "hello"}
    assert job["labels"] == {"commit": "0123abcdef4567-dirty-branch"}
    assert double.calls("POST", JOBS) == []


def test_deploying_twice_leaves_one_schedule(ir, double):
    double.page_size = 1  # the old schedules are found across pages
    other = deploy(ir, double, run=False, cron="0 1 * * *", display_name="other")["schedule"]
    first = deploy(ir, double, cron="0 3 * * *")["schedule"]
    second = deploy(ir, double, cron="0 4 * * *")["schedule"]
    third = deploy(ir, double, run=False, cron="0 5 * * *")["schedule"]

    (schedule,) = double.schedules_named("tiny-schedule")
    assert schedule["name"] == third and schedule["cron"] == "0 5 * * *"
    assert {first, second} & set(double.schedules) == set()
    assert other in double.schedules  # another pipeline's schedule is left alone
    assert len(double.calls("DELETE", SCHEDULES[:-1] + "/")) == 2
    filters = {r.query["filter"][0] for r in double.calls("GET", SCHEDULES)}
    assert filters == {'display_name="other-schedule"', 'display_name="tiny-schedule"'}


def test_transient_errors_are_retried(ir, double):
    double.inject(503, times=2, method="POST", path=JOBS)
    double.inject(429, times=1, method="GET", path=JOB)
    double.inject(500, times=1, method="POST", path=SCHEDULES)

    record = deploy(ir, double, cron="0 3 * * *")

    assert record["state"] == "PIPELINE_STATE_SUCCEEDED"
    assert [r.status for r in double.calls("POST", JOBS)] == [503, 503, 200]
    assert len(double.jobs) == 1
    assert len(double.schedules_named("tiny-schedule")) == 1


def test_retries_after_lost_answers_create_nothing_twice(ir, double):
    double.inject(503, method="POST", path=JOBS, lost_answer=True)
    double.inject(504, method="POST", path=SCHEDULES, lost_answer=True)

    record = deploy(ir, double, cron="0 3 * * *")

    (job,) = double.jobs  # the retried submit found the job created and carried on with it
    assert record["job"] == job and record["state"] == "PIPELINE_STATE_SUCCEEDED"
    assert [r.status for r in double.calls("POST", JOBS)] == [503, 409]
    (schedule,) = double.schedules_named("tiny-schedule")  # the orphan was deleted
    assert record["schedule"] == schedule["name"]


def test_persistent_503_fails_after_a_few_attempts(ir, double):
    double.inject(503, times=None, method="POST", path=JOBS)
    with pytest.raises(BuildError, match=r"'dev'.*could not submit pipeline job .*503"):
        deploy(ir, double)
    assert len(double.calls("POST", JOBS)) == vertex_deploy.ATTEMPTS
    assert double.jobs == {}


def test_unreachable_endpoint_names_env_and_endpoint(ir, double):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(BuildError) as e:
        deploy(ir, double, api_endpoint=dead, cron="0 3 * * *")
    assert "'dev'" in str(e.value) and f"cannot reach the Vertex AI endpoint {dead}" in str(e.value)


class RefreshableToken(Credentials):
    """Credentials that refresh fine, so a 401 is retried once with a new token, as a real
    service account's would be."""

    def refresh(self, request):
        self.token = "fresh-token"


@pytest.mark.parametrize(
    "status, credentials",
    [(401, AnonymousCredentials()), (401, RefreshableToken()), (403, AnonymousCredentials())],
    ids=["401-anonymous", "401-refreshable", "403"],
)
def test_refused_credentials(ir, double, status, credentials):
    double.inject(status, times=None, path=SCHEDULES)
    with pytest.raises(BuildError) as e:
        deploy(ir, double, run=False, cron="0 3 * * *", credentials=credentials)
    message = str(e.value)
    assert "credentials were refused" in message
    assert "'dev'" in message and f"'{PROJECT}'" in message
    # Not retried by deploy: only the session's own refresh-and-resend (at most 2 refreshes).
    assert len(double.calls("POST", SCHEDULES)) <= 3


@pytest.fixture(scope="module")
def ir_with_an_opt_out(tmp_path_factory):
    from kfp import compiler, dsl

    @dsl.container_component
    def say(msg: str):
        return dsl.ContainerSpec(image="alpine", command=["echo"], args=[msg])

    @dsl.pipeline(name="tiny-pipeline")
    def tiny(msg: str = "hi"):
        say(msg=msg)
        say(msg=msg).set_caching_options(False)

    path = tmp_path_factory.mktemp("ir") / "pipeline.yaml"
    compiler.Compiler().compile(tiny, str(path))
    return path


@pytest.mark.parametrize(
    "enable_caching, expected",
    [(None, {"say": True, "say-2": False}), (False, {"say": False, "say-2": False})],
    ids=["as-compiled", "off"],
)
def test_caching_of_the_job_and_the_schedule(ir_with_an_opt_out, double, enable_caching, expected):
    deploy(ir_with_an_opt_out, double, cron="0 3 * * *", enable_caching=enable_caching)

    (post,) = double.calls("POST", JOBS)
    (schedule,) = double.schedules_named("tiny-schedule")
    for spec in (
        post.body["pipelineSpec"],
        schedule["createPipelineJobRequest"]["pipelineJob"]["pipelineSpec"],
    ):
        tasks = spec["root"]["dag"]["tasks"]
        assert {
            name: task.get("cachingOptions", {}).get("enableCache", False)
            for name, task in tasks.items()
        } == expected


@pytest.mark.parametrize(
    "parameters, message",
    [
        ({"msg": 5}, r"^msg is 5; the pipeline's parameter msg is a string$"),
        ({"msg": "x", "other": 1}, r"^tiny-pipeline has no parameter other \(it takes: msg\)$"),
    ],
)
def test_parameters_the_pipeline_does_not_take_are_refused_before_any_request(
    ir, double, parameters, message
):
    from mlops.core.parameter_check import ParameterError

    with pytest.raises(ParameterError, match=message):
        deploy(ir, double, parameters=parameters, cron="0 3 * * *")
    assert double.requests == [] and double.jobs == {} and double.schedules == {}


# -- the double refuses what Vertex AI refuses, so the tests above can fail ---------------------


def _job_body(ir, **changes) -> dict:
    body = {
        "displayName": "tiny",
        "pipelineSpec": yaml.safe_load(ir.read_text()),
        "runtimeConfig": {"gcsOutputDirectory": "gs://b/root", "parameterValues": {"msg": "x"}},
    }
    body.update(changes)
    return body


def _post_job(double, body, job_id):
    return requests.post(
        f"{double.url}/v1/projects/{PROJECT}/locations/{LOCATION}/pipelineJobs",
        params={"pipelineJobId": job_id},
        json=body,
        timeout=10,
    )


@pytest.mark.parametrize(
    "job_id",
    ["Tiny-1", "1tiny", "tiny_1", "tiny.1", "a" * 129, "-tiny"],
)
def test_double_refuses_job_ids_vertex_refuses(ir, double, job_id):
    answer = _post_job(double, _job_body(ir), job_id)
    assert answer.status_code == 400
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert double.jobs == {}


def test_double_refuses_a_duplicate_job_and_jobs_it_cannot_run(ir, double):
    assert _post_job(double, _job_body(ir), "a" + "-9" * 63 + "z").status_code == 200  # 128
    again = _post_job(double, _job_body(ir), "a" + "-9" * 63 + "z")
    assert (again.status_code, again.json()["error"]["status"]) == (409, "ALREADY_EXISTS")
    refused = {
        "no pipeline root": _job_body(ir, runtimeConfig={"parameterValues": {"msg": "x"}}),
        "undeclared parameter": _job_body(
            ir, runtimeConfig={"gcsOutputDirectory": "gs://b/r", "parameterValues": {"m": "x"}}
        ),
        "display name": _job_body(ir, displayName="d" * 129),
        "label": _job_body(ir, labels={"commit": "ABC"}),
    }
    for why, body in refused.items():
        assert _post_job(double, body, "refused").status_code == 400, why
    assert len(double.jobs) == 1


def test_double_answers_zero_values_left_out(ir, double):
    _post_job(double, _job_body(ir, labels={}, description=""), "zero")
    (name,) = double.jobs
    view = requests.get(f"{double.url}/v1/{name}", timeout=10).json()
    assert "labels" not in view and "description" not in view
    assert view["state"] == "PIPELINE_STATE_PENDING" and view["displayName"] == "tiny"
    schedules = f"{double.url}/v1/projects/{PROJECT}/locations/{LOCATION}/schedules"
    assert requests.get(schedules, timeout=10).json() == {}  # no empty "schedules" list


def test_double_checks_project_and_region(ir, double):
    double.project, double.location = PROJECT, "europe-west1"
    with pytest.raises(BuildError, match=r"could not submit .*400 .*does not match the endpoint"):
        deploy(ir, double)
    with pytest.raises(BuildError, match=r"credentials were refused.*403"):
        deploy(ir, double, location="europe-west1", project="other-project")
    api = [r.status for r in double.requests if r.path.startswith("/v1/")]
    assert api == [400, 403]  # neither retried
    assert deploy(ir, double, location="europe-west1")["state"] == "PIPELINE_STATE_SUCCEEDED"


@pytest.mark.parametrize(
    "cron",
    [
        "0 3 * *",
        "0 0 3 * * *",  # KFP's six fields, seconds first
        "60 3 * * *",
        "0 24 * * *",
        "0 3 0 * *",
        "0 3 * 13 *",
        "0 3 * * 8",
        "0 3 * * ?",
        "0 3 L * *",
        "*/0 3 * * *",
        "30-10 3 * * *",
        "0 3 * * MON-FOO",
        "TZ=Mars/Olympus_Mons 0 3 * * *",
    ],
)
def test_a_cron_vertex_refuses_stops_the_deploy_before_any_request(ir, double, cron):
    assert cron_problem(cron) is not None  # the double would refuse it
    with pytest.raises(BuildError, match=r"'dev'.*Vertex AI would refuse the schedule cron"):
        deploy(ir, double, cron=cron)
    assert double.requests == []
    # Sent anyway, the double refuses it as the service does.
    (created,) = [deploy(ir, double, run=False, cron="0 3 * * *")["schedule"]]
    body = dict(double.schedules[created], cron=cron)
    parent = created.rsplit("/", 1)[0]  # projects/.../locations/.../schedules
    answer = requests.post(f"{double.url}/v1/{parent}", json=body, timeout=10)
    assert answer.status_code == 400 and "schedule.cron" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    "cron",
    [
        "TZ=Europe/Paris 0 3 * * *",
        "CRON_TZ=America/New_York 1 * * * *",
        "*/15 0-6,22 1 jan-MAR MON-FRI",
        "0 3 * * 7",
    ],
)
def test_crons_vertex_takes_are_deployed(ir, double, cron):
    record = deploy(ir, double, run=False, cron=cron)
    assert double.schedules[record["schedule"]]["cron"] == cron


def test_the_schedule_request_is_checked_as_the_service_checks_it(ir, double):
    record = deploy(ir, double, run=False, cron="0 3 * * *")
    (request,) = double.calls("POST", SCHEDULES)
    assert request.status == 200
    create = request.body["createPipelineJobRequest"]
    assert create["parent"] == f"projects/{PROJECT}/locations/{LOCATION}"
    assert request.body["maxConcurrentRunCount"] == "1"
    url = f"{double.url}/v1/projects/{PROJECT}/locations/{LOCATION}/schedules"
    for change in (
        {"createPipelineJobRequest": dict(create, parent="projects/p/locations/us-east1")},
        {"maxConcurrentRunCount": "0"},
        {"displayName": "s" * 129},
        {
            "createPipelineJobRequest": dict(
                create, pipelineJob=dict(create["pipelineJob"], runtimeConfig={})
            )
        },
    ):
        answer = requests.post(url, json={**request.body, **change}, timeout=10)
        assert answer.status_code == 400, change
    assert list(double.schedules) == [record["schedule"]]


def test_a_display_name_vertex_refuses_stops_the_deploy_before_any_request(ir, double):
    # 120 characters are a valid job display name; the schedule's adds 9.
    with pytest.raises(BuildError, match=r"schedule display name .* 129 characters"):
        deploy(ir, double, display_name="t" * 120, cron="0 3 * * *")
    with pytest.raises(BuildError, match=r"pipeline job display name .* 129 characters"):
        deploy(ir, double, display_name="t" * 129)
    assert double.requests == []


@pytest.mark.parametrize("status", [400, 404, 409])
def test_answers_that_cannot_change_are_not_retried(ir, double, status):
    double.inject(status, times=None, method="POST", path=JOBS)
    with pytest.raises(BuildError, match=rf"could not submit pipeline job .*{status}"):
        deploy(ir, double, cron="0 3 * * *")
    assert len(double.calls("POST", JOBS)) == 1
    assert double.calls("POST", SCHEDULES) == []  # nothing after the failed run
