"""The KFP v2beta1 API double, driven by the real `kfp.Client` (see tests/doubles/kfp_double.py).

No `from __future__ import annotations` here: kfp reads the pipeline's annotations as types.
"""

import base64
import itertools
import json
import tarfile
import urllib.request
import warnings
from pathlib import Path

import kfp
import kfp_server_api
import pytest
from kfp import compiler, dsl
from kfp_double import API_PREFIX, SERVER_VERSIONS, KfpApiDouble, cron_error
from kfp_server_api.exceptions import ApiException

WAIT = {"timeout": 10, "sleep_duration": 0.05}


@dsl.container_component
def say_hi():
    return dsl.ContainerSpec(image="alpine", command=["echo", "hi"])


@dsl.pipeline(name="hello-pipeline")
def hello(fail: bool = False):
    say_hi()


@dsl.pipeline(name="typed-pipeline")
def typed(count: int, label: str, ratio: float = 0.5, flag: bool = False):
    say_hi()


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> dict[str, Path]:
    """The tiny pipeline compiled to YAML, and the same YAML as a single-member tar.gz."""
    folder = tmp_path_factory.mktemp("kfp_packages")
    yaml_path = folder / "pipeline.yaml"
    compiler.Compiler().compile(hello, str(yaml_path))
    tgz = folder / "hello.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(yaml_path, arcname="pipeline.yaml")
    not_a_pipeline = folder / "notes.yaml"
    not_a_pipeline.write_text("just: some\nyaml: [1, 2]\n")
    typed_path = folder / "typed.yaml"
    compiler.Compiler().compile(typed, str(typed_path))
    # A spec the server's template parser refuses (schema 2.0.0), packed as the build packs.
    old_schema = folder / "old_schema.yaml"
    old_schema.write_text(
        yaml_path.read_text().replace("schemaVersion: 2.1.0", "schemaVersion: 2.0.0")
    )
    old_tgz = folder / "old_schema.tar.gz"
    with tarfile.open(old_tgz, "w:gz") as tar:
        tar.add(old_schema, arcname="pipeline.yaml")
    garbage = folder / "garbage.tar.gz"
    garbage.write_bytes(b"not an archive")
    return {
        "yaml": yaml_path,
        "tgz": tgz,
        "bad": not_a_pipeline,
        "typed": typed_path,
        "old_schema": old_tgz,
        "garbage": garbage,
    }


def ticking():
    """A clock one second further at every reading: rows get distinct created_at."""
    seconds = itertools.count(1_750_000_000)
    return lambda: next(seconds)


@pytest.fixture
def double():
    with KfpApiDouble(clock=ticking()) as fake:
        yield fake


@pytest.fixture
def client(double) -> kfp.Client:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "only works with KFP 2.0.0-beta.2+"
        return kfp.Client(host=double.host)


def _name_filter(name: str) -> str:
    return json.dumps(
        {"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]}
    )


def _body(error: ApiException) -> dict:
    return json.loads(error.body)


def _created(double: KfpApiDouble, since: int) -> list[tuple[str, str]]:
    return [r for r in double.requests[since:] if r[0] in ("POST", "DELETE")]


def test_client_construction_asks_healthz(double, client):
    assert double.requests[0] == ("GET", f"{API_PREFIX}/healthz")
    assert client.get_kfp_healthz().multi_user is False


def test_experiment_created_once_then_reused(double, client):
    created = client.create_experiment("team-exp", description="nightly")
    again = client.create_experiment("team-exp", description="ignored")
    assert again.experiment_id == created.experiment_id
    assert double.requests.count(("POST", f"{API_PREFIX}/experiments")) == 1

    by_name = client.get_experiment(experiment_name="team-exp")
    by_id = client.get_experiment(experiment_id=created.experiment_id)
    assert by_name.experiment_id == by_id.experiment_id == created.experiment_id
    assert by_id.description == "nightly"
    assert by_id.storage_state == "AVAILABLE"
    listed = client.list_experiments(filter=_name_filter("team-exp")).experiments
    assert [e.display_name for e in listed] == ["team-exp"]
    # The server starts with its "Default" experiment, as a single-user KFP does.
    assert {e.display_name for e in client.list_experiments().experiments} == {
        "Default",
        "team-exp",
    }
    with pytest.raises(ValueError, match="No experiment is found"):
        client.get_experiment(experiment_name="nope")

    # Posting a duplicate name directly (bypassing the client's lookup) is a conflict.
    with pytest.raises(ApiException) as raised:
        client._experiment_api.experiment_service_create_experiment(
            body=kfp_server_api.V2beta1Experiment(display_name="team-exp")
        )
    assert raised.value.status == 409
    assert _body(raised.value)["code"] == 6
    with pytest.raises(ApiException) as raised:
        client.get_experiment(experiment_id="missing")
    assert raised.value.status == 404


def test_pipeline_without_version_then_versions(double, client, packages):
    created = client._pipelines_api.pipeline_service_create_pipeline(
        body=kfp_server_api.V2beta1Pipeline(display_name="hello", description="says hi")
    )
    pipeline_id = created.pipeline_id
    assert client.get_pipeline_id("hello") == pipeline_id
    assert client.get_pipeline_id("other") is None
    assert client.list_pipeline_versions(pipeline_id).pipeline_versions is None

    v1 = client.upload_pipeline_version(
        str(packages["tgz"]), "v1", pipeline_id=pipeline_id, description="first"
    )
    v2 = client.upload_pipeline_version(str(packages["yaml"]), "v2", pipeline_id=pipeline_id)
    assert (v1.pipeline_id, v1.display_name, v1.description) == (pipeline_id, "v1", "first")

    only_v1 = client.list_pipeline_versions(pipeline_id, filter=_name_filter("v1"))
    assert [v.pipeline_version_id for v in only_v1.pipeline_versions] == [v1.pipeline_version_id]
    assert only_v1.total_size == 1
    fetched = client.get_pipeline_version(pipeline_id, v2.pipeline_version_id)
    assert fetched.pipeline_spec["pipelineInfo"]["name"] == "hello-pipeline"
    assert fetched.pipeline_spec["schemaVersion"] == "2.1.0"
    assert double.packages[v1.pipeline_version_id] == packages["yaml"].read_text()

    newest_first = client.list_pipeline_versions(pipeline_id, sort_by="created_at desc")
    assert [v.display_name for v in newest_first.pipeline_versions] == ["v2", "v1"]
    client.delete_pipeline_version(pipeline_id, v2.pipeline_version_id)
    remaining = client.list_pipeline_versions(pipeline_id).pipeline_versions
    assert [v.display_name for v in remaining] == ["v1"]
    assert [p.display_name for p in client.list_pipelines().pipelines] == ["hello"]

    with pytest.raises(ApiException) as raised:
        client._pipelines_api.pipeline_service_create_pipeline(
            body=kfp_server_api.V2beta1Pipeline(display_name="hello")
        )
    assert raised.value.status == 409
    assert _body(raised.value)["code"] == 6
    assert len(double.pipelines) == 1


def test_upload_pipeline_creates_pipeline_and_first_version(double, client, packages):
    pipeline = client.upload_pipeline(
        str(packages["yaml"]), pipeline_name="uploaded", description="from a file"
    )
    assert pipeline.display_name == "uploaded"
    assert pipeline.description == "from a file"
    assert client.get_pipeline(pipeline.pipeline_id).display_name == "uploaded"
    versions = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions
    assert [(v.display_name, v.description) for v in versions] == [("uploaded", "from a file")]
    assert versions[0].pipeline_spec["root"]["dag"]["tasks"]["say-hi"]

    with pytest.raises(ApiException) as raised:
        client.upload_pipeline(str(packages["tgz"]), pipeline_name="uploaded")
    assert raised.value.status == 409
    assert "error_message" in _body(raised.value)  # the upload endpoints' error format
    assert len(double.pipelines) == 1 and len(double.versions) == 1


def test_duplicate_version_name_is_a_conflict(double, client, packages):
    pipeline_id = client.upload_pipeline(str(packages["tgz"]), pipeline_name="dup").pipeline_id
    client.upload_pipeline_version(str(packages["tgz"]), "v1", pipeline_id=pipeline_id)
    with pytest.raises(ApiException) as raised:
        client.upload_pipeline_version(str(packages["tgz"]), "v1", pipeline_id=pipeline_id)
    assert raised.value.status == 409
    names = [v.display_name for v in client.list_pipeline_versions(pipeline_id).pipeline_versions]
    assert names == ["dup", "v1"]


@pytest.mark.parametrize("server_version, status", [("2.5.0", 500), ("2.17.0", 400)])
def test_a_package_that_is_not_a_pipeline_is_rejected(packages, server_version, status):
    with KfpApiDouble(server_version=server_version) as double:
        client = kfp.Client(host=double.host)
        with pytest.raises(ApiException) as raised:
            client.upload_pipeline(str(packages["bad"]), pipeline_name="bad")
        assert raised.value.status == status
        assert "unknown template format" in _body(raised.value)["error_message"]
        assert not double.pipelines and not double.versions


def test_run_goes_to_succeeded(double, client, packages):
    experiment = client.create_experiment("runs")
    pipeline = client.upload_pipeline(str(packages["tgz"]), pipeline_name="runnable")
    version = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
    run = client.run_pipeline(
        experiment.experiment_id,
        "first-run",
        pipeline_id=pipeline.pipeline_id,
        version_id=version.pipeline_version_id,
        params={"fail": False},
    )
    assert run.state == "PENDING"
    assert run.pipeline_version_reference.pipeline_version_id == version.pipeline_version_id

    done = client.wait_for_run_completion(run.run_id, **WAIT)
    assert done.state == "SUCCEEDED"
    assert [s.state for s in done.state_history] == ["PENDING", "RUNNING", "SUCCEEDED"]
    assert done.finished_at >= done.created_at
    assert done.runtime_config.parameters == {"fail": False}
    assert double.runs[run.run_id]["state"] == "SUCCEEDED"
    listed = client.list_runs(experiment_id=experiment.experiment_id).runs
    assert [r.run_id for r in listed] == [run.run_id]
    assert (
        client.list_runs(experiment_id=client.create_experiment("empty").experiment_id).runs is None
    )


def test_run_outcome_hook_decides_failure(double, client, packages):
    double.run_outcome = lambda run: (
        "FAILED" if run["runtime_config"]["parameters"].get("fail") else "SUCCEEDED"
    )
    experiment = client.create_experiment("runs")
    pipeline = client.upload_pipeline(str(packages["tgz"]), pipeline_name="runnable")
    version_id = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
    ids = {
        fail: client.run_pipeline(
            experiment.experiment_id,
            f"fail-{fail}",
            pipeline_id=pipeline.pipeline_id,
            version_id=version_id.pipeline_version_id,
            params={"fail": fail},
        ).run_id
        for fail in (True, False)
    }
    failed = client.wait_for_run_completion(ids[True], **WAIT)
    assert failed.state == "FAILED"
    assert failed.error.message
    assert client.wait_for_run_completion(ids[False], **WAIT).state == "SUCCEEDED"


def test_a_run_that_never_ends_times_out(double, client, packages):
    double.run_outcome = lambda run: "RUNNING"
    experiment = client.create_experiment("runs")
    pipeline = client.upload_pipeline(str(packages["tgz"]), pipeline_name="runnable")
    version = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
    run = client.run_pipeline(
        experiment.experiment_id,
        "stuck",
        pipeline_id=pipeline.pipeline_id,
        version_id=version.pipeline_version_id,
    )
    with pytest.raises(TimeoutError):
        client.wait_for_run_completion(run.run_id, timeout=0.5, sleep_duration=0.05)
    assert client.get_run(run.run_id).state == "RUNNING"


def test_recurring_run_lifecycle(double, client, packages):
    experiment = client.create_experiment("schedules")
    pipeline = client.upload_pipeline(str(packages["tgz"]), pipeline_name="scheduled")
    version = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
    recurring = client.create_recurring_run(
        experiment.experiment_id,
        "nightly",
        cron_expression="0 0 2 * * *",
        pipeline_id=pipeline.pipeline_id,
        version_id=version.pipeline_version_id,
        params={"fail": False},
        enabled=True,
    )
    assert (recurring.status, recurring.mode) == ("ENABLED", "ENABLE")
    assert recurring.trigger.cron_schedule.cron == "0 0 2 * * *"
    listed = client.list_recurring_runs(experiment_id=experiment.experiment_id).recurring_runs
    assert [r.recurring_run_id for r in listed] == [recurring.recurring_run_id]

    client.disable_recurring_run(recurring.recurring_run_id)
    assert client.get_recurring_run(recurring.recurring_run_id).status == "DISABLED"

    run = double.trigger_recurring_run(recurring.recurring_run_id)
    assert client.get_run(run["run_id"]).recurring_run_id == recurring.recurring_run_id

    client.delete_recurring_run(recurring.recurring_run_id)
    assert client.list_recurring_runs(experiment_id=experiment.experiment_id).recurring_runs is None
    with pytest.raises(ApiException) as raised:
        client.get_recurring_run(recurring.recurring_run_id)
    assert raised.value.status == 404


def _cache_of(spec: dict) -> bool:
    [task] = spec["root"]["dag"]["tasks"].values()
    return bool(task.get("cachingOptions", {}).get("enableCache"))


def test_the_spec_a_run_executes(double, client, packages):
    """A run made from a version executes the version's spec: kfp.Client's enable_caching
    changes only a spec it sends inline, from a package path."""
    experiment = client.create_experiment("caching")
    pipeline = client.upload_pipeline(str(packages["tgz"]), pipeline_name="cached")
    version = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
    from_version = client.run_pipeline(
        experiment.experiment_id,
        "from-version",
        pipeline_id=pipeline.pipeline_id,
        version_id=version.pipeline_version_id,
        enable_caching=False,
    )
    recurring = client.create_recurring_run(
        experiment.experiment_id,
        "from-version-nightly",
        cron_expression="0 0 2 * * *",
        pipeline_id=pipeline.pipeline_id,
        version_id=version.pipeline_version_id,
        enable_caching=False,
    )
    inline = client.run_pipeline(
        experiment.experiment_id,
        "inline",
        pipeline_package_path=str(packages["yaml"]),
        enable_caching=False,
    )
    assert "pipeline_spec" not in double.runs[from_version.run_id]
    assert _cache_of(double.spec_run_by(double.runs[from_version.run_id])) is True
    assert _cache_of(double.spec_run_by(double.recurring_runs[recurring.recurring_run_id]))
    assert _cache_of(double.spec_run_by(double.runs[inline.run_id])) is False


def test_injected_503_reaches_the_client_and_creates_nothing(double, client, packages):
    pipeline_id = client.upload_pipeline(str(packages["tgz"]), pipeline_name="flaky").pipeline_id
    double.inject(
        method="POST", path_prefix=f"{API_PREFIX}/pipelines/upload_version", status=503, times=2
    )
    before = len(double.requests)
    for _ in range(2):
        with pytest.raises(ApiException) as raised:
            client.upload_pipeline_version(str(packages["tgz"]), "v2", pipeline_id=pipeline_id)
        assert raised.value.status == 503
        assert _body(raised.value)["code"] == 14  # UNAVAILABLE
    assert len(double.versions) == 1
    assert _created(double, before) == [("POST", f"{API_PREFIX}/pipelines/upload_version")] * 2

    version = client.upload_pipeline_version(str(packages["tgz"]), "v2", pipeline_id=pipeline_id)
    assert version.display_name == "v2"
    assert len(double.versions) == 2
    assert [e["status"] for e in double.request_log[-3:]] == [503, 503, 200]


def test_paging_and_sorting(double, client):
    for name in ("exp-a", "exp-b", "exp-c"):
        client.create_experiment(name)
    first = client.list_experiments(page_size=2, sort_by="display_name desc")
    assert [e.display_name for e in first.experiments] == ["exp-c", "exp-b"]
    assert first.total_size == 4  # with "Default"
    second = client.list_experiments(page_token=first.next_page_token, page_size=2)
    assert [e.display_name for e in second.experiments] == ["exp-a", "Default"]
    assert not second.next_page_token
    substring = json.dumps(
        {"predicates": [{"operation": 9, "key": "name", "string_value": "exp-"}]}
    )
    assert client.list_experiments(filter=substring).total_size == 3
    with pytest.raises(ApiException) as raised:
        client.list_experiments(sort_by="colour")
    assert raised.value.status == 400


# --- the server's refusals (each mirrors a check cited in kfp_double.py) ---------------------


def _typed_version(client, packages, name="typed"):
    experiment = client.create_experiment(f"{name}-exp")
    pipeline = client.upload_pipeline(str(packages["typed"]), pipeline_name=name)
    version = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
    return experiment.experiment_id, pipeline.pipeline_id, version.pipeline_version_id


@pytest.mark.parametrize(
    "params, message",
    [
        ({"label": "x"}, "parameter count is not optional, yet has neither default value"),
        ({"count": "3", "label": "x"}, "input parameter count requires type double or integer"),
        ({"count": 3, "label": 4}, "input parameter label requires type string"),
        ({"count": 3, "label": "x", "flag": "yes"}, "input parameter flag requires type bool"),
        ({"count": 3, "label": "x", "colour": "red"}, "not required by pipeline: colour"),
    ],
    ids=["missing", "string-for-int", "int-for-string", "string-for-bool", "undeclared"],
)
def test_run_and_recurring_run_parameters_are_checked(double, client, packages, params, message):
    experiment_id, pipeline_id, version_id = _typed_version(client, packages)
    source = {"pipeline_id": pipeline_id, "version_id": version_id}
    before = len(double.requests)
    with pytest.raises(ApiException) as run_refused:
        client.run_pipeline(experiment_id, "r", params=params, **source)
    with pytest.raises(ApiException) as schedule_refused:
        client.create_recurring_run(
            experiment_id, "s", cron_expression="0 0 3 * * *", params=params, **source
        )
    for refused in (run_refused.value, schedule_refused.value):
        assert refused.status == 400
        assert message in _body(refused)["message"]
    assert not double.runs and not double.recurring_runs
    assert _created(double, before) == [
        ("POST", f"{API_PREFIX}/runs"),
        ("POST", f"{API_PREFIX}/recurringruns"),
    ]
    # Any number is a number: the server takes 3.0 (and 2.5) for an integer.
    run = client.run_pipeline(experiment_id, "ok", params={"count": 3.0, "label": "x"}, **source)
    assert double.runs[run.run_id]["runtime_config"]["parameters"] == {"count": 3.0, "label": "x"}


@pytest.mark.parametrize("server_version", SERVER_VERSIONS)
def test_an_invalid_package_is_500_before_2_17_and_400_from_it(packages, server_version):
    with KfpApiDouble(server_version=server_version) as double:
        client = kfp.Client(host=double.host)
        assert client.get_kfp_healthz().multi_user is False
        pipeline_id = client.upload_pipeline(str(packages["tgz"]), pipeline_name="p").pipeline_id
        with pytest.raises(ApiException) as refused:
            client.upload_pipeline_version(
                str(packages["old_schema"]), "v", pipeline_id=pipeline_id
            )
        expected = 500 if server_version == "2.5.0" else 400
        assert refused.value.status == expected
        assert "KFP only supports schema version 2.1.0" in _body(refused.value)["error_message"]
        with pytest.raises(ApiException) as refused:
            client.upload_pipeline(str(packages["old_schema"]), pipeline_name="q")
        assert refused.value.status == expected
        # Not an archive at all: ReadPipelineFile's refusal, 400 on every version.
        with pytest.raises(ApiException) as refused:
            client.upload_pipeline_version(str(packages["garbage"]), "g", pipeline_id=pipeline_id)
        assert refused.value.status == 400
        assert len(double.pipelines) == 1 and len(double.versions) == 1


def test_a_run_naming_a_missing_or_foreign_version_is_500(double, client, packages):
    experiment_id, pipeline_id, version_id = _typed_version(client, packages)
    other_id = client.upload_pipeline(str(packages["tgz"]), pipeline_name="other").pipeline_id
    params = {"count": 1, "label": "x"}
    for source, says in (
        (
            {"pipeline_id": pipeline_id, "version_id": "missing"},
            "PipelineVersion missing not found",
        ),
        ({"pipeline_id": other_id, "version_id": version_id}, f"belongs to pipeline {pipeline_id}"),
    ):
        with pytest.raises(ApiException) as refused:
            client.run_pipeline(experiment_id, "r", params=params, **source)
        assert refused.value.status == 500 and says in _body(refused.value)["message"]
        with pytest.raises(ApiException) as refused:
            client.create_recurring_run(
                experiment_id, "s", cron_expression="0 0 3 * * *", params=params, **source
            )
        assert refused.value.status == 500 and says in _body(refused.value)["message"]
    assert not double.runs and not double.recurring_runs


def test_page_tokens_hold_the_next_rows_sort_value_and_the_listing_criteria(double, client):
    for name in ("exp-a", "exp-b", "exp-c", "exp-d"):
        client.create_experiment(name)
    first = client.list_experiments(page_size=2, sort_by="DISPLAY_NAME Desc")  # lower-cased
    assert [e.display_name for e in first.experiments] == ["exp-d", "exp-c"]
    token = json.loads(base64.b64decode(first.next_page_token))
    assert (token["SortByFieldValue"], token["IsDesc"]) == ("exp-b", True)
    # Rows made or removed before the next page do not shift it: it starts at "exp-b".
    client.create_experiment("exp-bb")
    client.delete_experiment(first.experiments[0].experiment_id)
    second = client.list_experiments(page_token=first.next_page_token, page_size=2)
    assert [e.display_name for e in second.experiments] == ["exp-b", "exp-a"]
    same = client.list_experiments(
        page_token=first.next_page_token, page_size=2, sort_by="display_name desc"
    )
    assert [e.display_name for e in same.experiments] == ["exp-b", "exp-a"]
    for changed in ({"sort_by": "created_at"}, {"filter": _name_filter("exp-a")}):
        with pytest.raises(ApiException) as refused:
            client.list_experiments(page_token=first.next_page_token, **changed)
        assert refused.value.status == 400
        assert "page token does not match" in _body(refused.value)["message"]
    with pytest.raises(ApiException) as refused:
        client.list_experiments(page_token="not a token")
    assert refused.value.status == 400


def test_rows_of_one_second_order_by_id(packages):
    with KfpApiDouble(clock=lambda: 1_750_000_000) as double:
        client = kfp.Client(host=double.host)
        for name in ("a", "b", "c", "d", "e"):
            client.create_experiment(name)
        ids = [e.experiment_id for e in client.list_experiments().experiments]
        assert ids == sorted(ids)
        newest_first = client.list_experiments(sort_by="created_at desc").experiments
        assert [e.experiment_id for e in newest_first] == sorted(ids, reverse=True)


def test_filter_keys_outside_the_servers_maps_are_refused(double, client, packages):
    experiment_id, pipeline_id, _ = _typed_version(client, packages)
    refused_keys = (
        (client.list_recurring_runs, {"experiment_id": experiment_id}, "status"),
        (client.list_recurring_runs, {}, "experiment_id"),
        (client.list_pipeline_versions, {"pipeline_id": pipeline_id}, "pipeline_id"),
        (client.list_runs, {}, "pipeline_version_id"),
    )
    for list_fn, kwargs, key in refused_keys:
        predicate = {"operation": "EQUALS", "key": key, "stringValue": "x"}
        with pytest.raises(ApiException) as refused:
            list_fn(filter=json.dumps({"predicates": [predicate]}), **kwargs)
        assert refused.value.status == 400
        assert f"unrecognized field '{key}'" in _body(refused.value)["message"]
    for list_fn in (client.list_runs, client.list_recurring_runs):
        with pytest.raises(ApiException) as refused:
            list_fn(experiment_id="no-such-experiment")
        assert refused.value.status == 404


def _get_json(double, path: str) -> dict:
    with urllib.request.urlopen(f"{double.host}{API_PREFIX}{path}") as answer:
        return json.loads(answer.read())


def test_zero_values_are_left_out_of_answers(double, client, packages):
    experiment = client.create_experiment("zeros")
    assert _get_json(double, f"/runs?experiment_id={experiment.experiment_id}") == {}
    pipeline = client.upload_pipeline(str(packages["tgz"]), pipeline_name="z")
    version = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
    source = {"pipeline_id": pipeline.pipeline_id, "version_id": version.pipeline_version_id}
    run = client.run_pipeline(experiment.experiment_id, "no-params", **source)
    assert "runtime_config" not in _get_json(double, f"/runs/{run.run_id}")
    recurring = client.create_recurring_run(
        experiment.experiment_id, "catching-up", cron_expression="0 0 3 * * *", **source
    )
    answered = _get_json(double, f"/recurringruns/{recurring.recurring_run_id}")
    assert "no_catchup" not in answered and "runtime_config" not in answered
    assert answered["max_concurrency"] == "1"  # int64 as a JSON string


@pytest.mark.parametrize(
    "cron, error",
    [
        ("0 3 * * *", None),  # five fields: second 0, minute 3, every hour
        ("0 0 3 * * *", None),
        ("*/15 0-30/5 1,13 ? JAN-jun mon-FRI", None),
        ("@daily", None),
        ("@every 1h30m", None),
        ("0 3 * *", "Expected 5 to 6 fields, found 4: 0 3 * *"),
        ("0 0 24 * * *", "End of range (24) above maximum (23): 24"),
        ("60 0 3 * * *", "End of range (60) above maximum (59): 60"),
        ("0 0 3 0 * *", "Beginning of range (0) below minimum (1): 0"),
        ("0 0 3 * * 7", "End of range (7) above maximum (6): 7"),
        ("0 0 3 L * *", "Failed to parse int from L"),
        ("0 0 3 * * 1#2", "Failed to parse int from 1#2"),
        ("0 0 5-3 * * *", "Beginning of range (5) beyond end of range (3): 5-3"),
        ("0 */0 * * * *", "Step of range should be a positive number: */0"),
        ("@fortnightly", "Unrecognized descriptor: @fortnightly"),
    ],
)
def test_cron_is_parsed_seconds_first_as_robfig_cron_v1_does(cron, error):
    result = cron_error(cron)
    assert result == error if error is None else result.startswith(error)


def test_a_recurring_run_with_a_cron_the_server_refuses_is_400(double, client, packages):
    experiment = client.create_experiment("crons")
    pipeline = client.upload_pipeline(str(packages["tgz"]), pipeline_name="c")
    version = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
    source = {"pipeline_id": pipeline.pipeline_id, "version_id": version.pipeline_version_id}
    with pytest.raises(ApiException) as refused:
        client.create_recurring_run(
            experiment.experiment_id, "late", cron_expression="0 0 25 * * *", **source
        )
    assert refused.value.status == 400
    assert "End of range (25) above maximum (23)" in _body(refused.value)["message"]
    with pytest.raises(ApiException) as refused:
        client.create_recurring_run(
            experiment.experiment_id,
            "many",
            cron_expression="0 0 3 * * *",
            max_concurrency=11,
            **source,
        )
    assert refused.value.status == 400
    assert not double.recurring_runs
