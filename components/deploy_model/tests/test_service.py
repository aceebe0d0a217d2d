"""The prediction service in this process: TensorFlow Serving's REST API, predictions equal
to the SavedModel's own, canary routing, following serving.json, a version that fails to
load, bad input answered with 4xx while the service keeps serving, and the request log."""

import base64
import json
import shutil

import pytest
from deploy_model.registry import Registry
from deploy_model.serve import Service
from service_client import call, declared_length_only
from tiny_model import ROWS, WEIGHTS, expected, in_process, make_failing_model

GOOD = {"instances": ROWS[:2]}


@pytest.fixture
def reg(registry_root, model_dirs) -> Registry:
    """A registry with versions 1 and 2 pushed and version 1 stable."""
    reg = Registry(str(registry_root), "taxi")
    reg.push(model_dirs[1])
    reg.push(model_dirs[2])
    reg.deploy(1, 10)
    return reg


@pytest.fixture
def service(reg, tmp_path):
    with Service(
        str(reg.root),
        "taxi",
        max_body_bytes=64 * 1024,
        poll_s=0.1,
        request_log=str(tmp_path / "log"),
        log_sample_rate=0.5,
    ) as s:
        yield s


def _close(a, b, tol=1e-6):
    return len(a) == len(b) and all(abs(x[0] - y[0]) <= tol for x, y in zip(a, b, strict=True))


def test_tf_serving_api_and_predictions_equal_the_savedmodel(service, model_dirs):
    status, body, _ = call(service.url)
    assert status == 200
    assert body["model_version_status"] == [
        {
            "version": "1",
            "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""},
            "role": "stable",
            "task": "binary",  # the tiny model's sidecar predates tasks
            "classes": ["0", "1"],
        }
    ]
    assert body["routing"]["stable"] == "1" and body["routing"]["canary"] is None
    assert call(service.url + "/versions/1")[1]["model_version_status"][0]["version"] == "1"

    status, body, headers = call(service.url + ":predict", "POST", {"instances": ROWS})
    assert status == 200 and body["model_version"] == "1" and headers["X-Model-Version"] == "1"
    assert len(body["request_id"]) == 32 and headers["X-Request-Id"] == body["request_id"]
    assert _close(body["predictions"], in_process(model_dirs[1], ROWS))
    assert _close(body["predictions"], [[expected(WEIGHTS[1], r)] for r in ROWS], 1e-5)
    # The binary answer keeps its shape and gains the parallel `classes` (class 1: p >= 0.5).
    assert [c["class"] for c in body["classes"]] == [
        "1" if p >= 0.5 else "0" for (p,) in body["predictions"]
    ]

    # serving_raw (every value present), and serialized examples in both b64 forms.
    full = [r for r in ROWS if None not in r.values()]
    status, raw, _ = call(
        service.url + ":predict", "POST", {"signature_name": "serving_raw", "instances": full}
    )
    assert status == 200 and _close(
        raw["predictions"], in_process(model_dirs[1], full, "serving_raw")
    )
    from deploy_model.instances import to_example
    from tiny_model import RAW_FEATURE_SPEC

    b64 = [base64.b64encode(to_example(r, RAW_FEATURE_SPEC)).decode() for r in ROWS[:2]]
    status, ex, _ = call(
        service.url + ":predict",
        "POST",
        {"instances": [{"b64": b64[0]}, {"examples": {"b64": b64[1]}}]},
    )
    assert status == 200 and _close(ex["predictions"], in_process(model_dirs[1], ROWS[:2]))
    # A caller's request id is kept.
    _, body, _ = call(service.url + ":predict", "POST", GOOD, {"X-Request-Id": "abc-1"})
    assert body["request_id"] == "abc-1"


def test_bad_input_gets_4xx_and_the_service_keeps_serving(service):
    predict = service.url + ":predict"
    row = ROWS[0]
    without_miles = {k: v for k, v in row.items() if k != "trip_miles"}
    cases = [
        (
            "missing feature",
            predict,
            "POST",
            {"instances": [row, without_miles]},
            400,
            "instances[1]: missing feature 'trip_miles'",
        ),
        (
            "string for a float",
            predict,
            "POST",
            {"instances": [{**row, "fare": "12.5"}]},
            400,
            'instances[0].fare: "12.5" is a string, but the feature is float32',
        ),
        (
            "float for an int",
            predict,
            "POST",
            {"instances": [{**row, "trip_start_hour": 3.5}]},
            400,
            "instances[0].trip_start_hour: 3.5 is a float, but the feature is int64",
        ),
        (
            "number for a string",
            predict,
            "POST",
            {"instances": [{**row, "payment_type": 1}]},
            400,
            "instances[0].payment_type: 1 is an integer, but the feature is string",
        ),
        (
            "bool for a float",
            predict,
            "POST",
            {"instances": [{**row, "fare": True}]},
            400,
            "is a boolean",
        ),
        (
            "unknown feature",
            predict,
            "POST",
            {"instances": [{**row, "tips": 3.0}]},
            400,
            "instances[0]: unknown feature 'tips'",
        ),
        ("malformed JSON", predict, "POST", b'{"instances": [', 400, "malformed JSON"),
        ("empty instances", predict, "POST", {"instances": []}, 400, "'instances' is empty"),
        (
            "no instances",
            predict,
            "POST",
            {"rows": [row]},
            400,
            "unknown key(s) in the body: 'rows'",
        ),
        (
            "not an object",
            predict,
            "POST",
            {"instances": [[1, 2]]},
            400,
            "instances[0]: expected an object of features, not a list",
        ),
        (
            "null in serving_raw",
            predict,
            "POST",
            {"signature_name": "serving_raw", "instances": [ROWS[2]]},
            400,
            "instances[0].fare is null: serving_raw needs every value",
        ),
        (
            "unknown signature",
            predict,
            "POST",
            {"signature_name": "x", "instances": [row]},
            400,
            "signature_name 'x' is not served",
        ),
        ("bad base64", predict, "POST", {"instances": [{"b64": "%%%"}]}, 400, "not valid base64"),
        (
            "not an Example",
            predict,
            "POST",
            {"instances": [{"b64": base64.b64encode(b"\xff\x01junk").decode()}]},
            400,
            "instances[0]: b64 is not a serialized tf.Example",
        ),
        (
            "unknown model",
            service.url.replace("/taxi", "/other") + ":predict",
            "POST",
            GOOD,
            404,
            "model 'other'",
        ),
        (
            "unknown version",
            service.url + "/versions/9:predict",
            "POST",
            GOOD,
            404,
            "version 9 of taxi is not loaded",
        ),
        ("unknown version status", service.url + "/versions/9", "GET", None, 404, "version 9"),
        ("unknown verb", service.url + ":classify", "POST", GOOD, 404, "':classify'"),
        ("GET predict", predict, "GET", None, 405, "use POST"),
        ("POST status", service.url, "POST", GOOD, 405, "POST goes to :predict"),
        ("PUT", predict, "PUT", GOOD, 405, "PUT is not allowed"),
        (
            "unknown path",
            service.url.split("/v1/")[0] + "/healthz",
            "GET",
            None,
            404,
            "no such path",
        ),
    ]
    for what, url, method, body, want_status, fragment in cases:
        status, answer, _ = call(url, method, body)
        assert (status, fragment in answer.get("error", "")) == (want_status, True), (what, answer)
        good_status, good, _ = call(predict, "POST", GOOD)
        assert good_status == 200 and len(good["predictions"]) == 2, what

    # Over the limit (64 KB here): refused from Content-Length alone, the body never sent.
    status, answer, headers = declared_length_only(predict, 10**9)
    assert status == 413 and "over the limit of 65536" in answer["error"]
    assert headers.get("Connection") == "close"
    big = {"instances": [row] * 2000}
    assert call(predict, "POST", big)[0] == 413
    assert call(predict, "POST", GOOD)[0] == 200


def test_canary_share_and_promote(service, reg, model_dirs):
    reg.deploy(2, 20)
    service.holder.wait_for(lambda r: r.canary is not None and r.canary.version == 2, 20)
    status, body, _ = call(service.url)
    assert body["routing"]["canary"] == {"version": "2", "traffic_percent": 20}
    assert [e["version"] for e in body["model_version_status"]] == ["2", "1"]
    answered = {"1": 0, "2": 0}
    for _ in range(200):
        _, body, headers = call(service.url + ":predict", "POST", {"instances": [ROWS[0]]})
        answered[headers["X-Model-Version"]] += 1
        # The prediction is that version's own.
        version = int(body["model_version"])
        assert _close(body["predictions"], [[expected(WEIGHTS[version], ROWS[0])]], 1e-5)
    assert abs(answered["2"] - 40) <= 4, answered  # 20 % of 200
    # A version asked for by number answers itself, whatever the split.
    _, body, _ = call(service.url + "/versions/2:predict", "POST", GOOD)
    assert body["model_version"] == "2"

    in_flight = service.holder.choose(1)  # a request that started on version 1
    reg.promote()
    routing = service.holder.wait_for(lambda r: r.canary is None and r.stable.version == 2, 20)
    assert set(routing.models) == {2}  # version 1 released from the routing
    # ... while the request holding it still finishes on the object it started with.
    assert _close(
        in_flight.predict("serving_default", [ROWS[0]]), [[expected(WEIGHTS[1], ROWS[0])]], 1e-5
    )
    _, body, _ = call(service.url + ":predict", "POST", GOOD)
    assert body["model_version"] == "2"


def test_a_version_that_fails_to_load_leaves_the_previous_serving(
    service, reg, model_dirs, tmp_path
):
    broken = tmp_path / "broken"
    shutil.copytree(model_dirs[3], broken)
    (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
    version = reg.push(broken)
    reg.deploy(version, 0)  # straight to stable
    service.holder.wait_for(lambda r: version in service.holder.errors or False, 20)
    status, body, _ = call(service.url)
    entries = {e["version"]: e for e in body["model_version_status"]}
    assert entries["1"]["state"] == "AVAILABLE" and entries[str(version)]["state"] == "END"
    assert entries[str(version)]["status"]["error_code"] == "UNKNOWN"
    assert entries[str(version)]["status"]["error_message"]
    assert body["routing"]["serving_json"]["stable"] == version
    _, body, _ = call(service.url + ":predict", "POST", GOOD)
    assert body["model_version"] == "1"
    # The next good version replaces it and clears the error.
    reg.deploy(2, 0)
    service.holder.wait_for(lambda r: r.stable.version == 2, 20)
    assert [e["version"] for e in call(service.url)[1]["model_version_status"]] == ["2"]


def test_request_log_samples_per_day(service, tmp_path):
    ids = [call(service.url + ":predict", "POST", GOOD)[1]["request_id"] for _ in range(10)]
    files = list((tmp_path / "log").glob("requests-*.jsonl"))
    assert len(files) == 1 and files[0].name.startswith("requests-20")
    lines = [json.loads(x) for x in files[0].read_text().splitlines()]
    assert len(lines) == 5  # rate 0.5 of 10, evenly
    assert {x["request_id"] for x in lines} <= set(ids)
    assert lines[0]["instances"] == GOOD["instances"] and lines[0]["model_version"] == "1"
    assert len(lines[0]["predictions"]) == 2 and lines[0]["time"].endswith("+00:00")


def test_each_answer_after_the_split_is_logged_with_its_status_and_latency(tmp_path):
    """The canary analysis compares the versions' error rates and latencies: a version that
    fails a prediction answers 500 and the failure is logged against it."""
    reg = Registry(str(tmp_path / "registry"), "taxi")
    reg.deploy(reg.push(make_failing_model(tmp_path / "failing")), 0)
    log = tmp_path / "outcomes"
    with Service(str(reg.root), "taxi", poll_s=0.1, request_log=str(log)) as service:
        good = call(service.url + ":predict", "POST", {"instances": [{"fare": 0.0}]})
        failed = call(service.url + ":predict", "POST", {"instances": [{"fare": 12.0}]})
        bad = call(service.url + ":predict", "POST", {"instances": [{"fare": "x"}]})
        unparsed = call(service.url + ":predict", "POST", b"{not json")
    assert good[0] == 200 and failed[0] == 500 and bad[0] == 400 and unparsed[0] == 400
    assert failed[1]["error"].startswith("prediction failed: NotFoundError")
    (day,) = log.glob("requests-*.jsonl")
    lines = [json.loads(x) for x in day.read_text().splitlines()]
    # The unparsed body never reached a version: it is no version's outcome.
    assert [(x["status"], x["model_version"]) for x in lines] == [
        (200, "1"),
        (500, "1"),
        (400, "1"),
    ]
    assert lines[0]["predictions"] == good[1]["predictions"]
    assert lines[1]["error"] == failed[1]["error"] and "predictions" not in lines[1]
    assert all(x["latency_ms"] > 0 for x in lines)


def test_no_model_yet_answers_503_then_serves(registry_root, model_dirs):
    reg = Registry(str(registry_root), "taxi")
    with Service(str(registry_root), "taxi", poll_s=0.1) as s:
        status, body, _ = call(s.url + ":predict", "POST", GOOD)
        assert status == 503 and "no model version is loaded" in body["error"]
        assert call(s.url)[1]["model_version_status"] == []
        reg.deploy(reg.push(model_dirs[3]), 10)
        s.holder.wait_for(lambda r: r.stable is not None, 20)
        assert call(s.url + ":predict", "POST", GOOD)[1]["model_version"] == "1"
