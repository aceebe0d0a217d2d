"""Serving by task (the sidecar's `task` and `classes`): binary, multiclass and regression
models through the real HTTP service in this process: the answer's predictions and classes,
the status, the request log; a model whose output does not fit its task is not served; a
sidecar with a bad task is refused at deploy."""

import json

import pytest
from deploy_model.registry import Registry
from deploy_model.serve import Service
from service_client import call
from tiny_model import DROP, IRIS, ROWS, make_task_model, task_expected


@pytest.fixture(scope="session")
def task_models(tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("task_models")
    return {
        "binary": make_task_model(root / "binary", "binary", classes=["no", "yes"]),
        "multiclass": make_task_model(root / "multiclass", "multiclass"),
        "regression": make_task_model(root / "regression", "regression"),
    }


def _serve(tmp_path, model_dir, name="m"):
    reg = Registry(str(tmp_path / "registry"), name)
    reg.deploy(reg.push(model_dir), 0)
    return Service(str(tmp_path / "registry"), name, poll_s=0.1, request_log=str(tmp_path / "log"))


def _log_lines(tmp_path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted((tmp_path / "log").glob("requests-*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def _near(a: list[list[float]], b: list[list[float]], tol=1e-5) -> bool:
    return len(a) == len(b) and all(
        len(x) == len(y) and all(abs(u - v) <= tol for u, v in zip(x, y, strict=True))
        for x, y in zip(a, b, strict=True)
    )


def test_binary_answers_keep_their_shape_and_name_the_class(tmp_path, task_models):
    # fares 12.5, 40, absent, 5: p = sigmoid(0.2 fare - 2) = 0.62, 1.0, 0.12, 0.27
    want = [task_expected("binary", r) for r in ROWS]
    with _serve(tmp_path, task_models["binary"]) as service:
        status, body, _ = call(service.url + ":predict", "POST", {"instances": ROWS})
        assert status == 200 and list(body) == [
            "predictions",
            "classes",
            "model_version",
            "request_id",
        ]
        assert _near(body["predictions"], want)
        got = [(c["class_id"], c["class"]) for c in body["classes"]]
        assert got == [(1, "yes"), (1, "yes"), (0, "no"), (0, "no")]
        # The probability is that of the class named: p for class 1, 1 - p for class 0.
        probability = [c["probability"] for c in body["classes"]]
        assert _near([[p] for p in probability], [[want[0][0]], [want[1][0]],
                                                  [1 - want[2][0]], [1 - want[3][0]]])  # fmt: skip
        entry = call(service.url)[1]["model_version_status"][0]
        assert (entry["task"], entry["classes"]) == ("binary", ["no", "yes"])
    (line,) = _log_lines(tmp_path)
    assert line["task"] == "binary" and line["predicted"] == ["yes", "yes", "no", "no"]
    assert line["predictions"] == body["predictions"] and line["instances"] == ROWS


def test_p_of_exactly_one_half_is_class_1(tmp_path):
    # The contract: class 1 when p >= 0.5; fare 10 gives sigmoid(0) = 0.5 exactly.
    with _serve(tmp_path, make_task_model(tmp_path / "b", "binary")) as service:
        row = {**ROWS[0], "fare": 10.0}
        body = call(service.url + ":predict", "POST", {"instances": [row]})[1]
        assert body["predictions"] == [[0.5]]
        assert body["classes"] == [{"class_id": 1, "class": "1", "probability": 0.5}]


def test_multiclass_answers_rows_of_probabilities_and_the_argmax_class(tmp_path, task_models):
    want = [task_expected("multiclass", r) for r in ROWS]
    # Logits (0.1 fare, 0.2 miles, 0.05 hour + cash): row 0 (1.25, 0.62, 0.7) -> setosa,
    # row 1 (4, 3.04, 1.1) -> setosa, row 2 (0, 0.08, 1.15) -> virginica,
    # row 3 (0.5, 0.2, 1) -> virginica.
    argmax = [max(range(3), key=w.__getitem__) for w in want]
    assert argmax == [0, 0, 2, 2]
    with _serve(tmp_path, task_models["multiclass"]) as service:
        status, body, _ = call(service.url + ":predict", "POST", {"instances": ROWS})
        assert status == 200 and _near(body["predictions"], want)
        assert all(abs(sum(row) - 1) < 1e-5 for row in body["predictions"])
        assert [(c["class_id"], c["class"]) for c in body["classes"]] == [
            (0, "setosa"),
            (0, "setosa"),
            (2, "virginica"),
            (2, "virginica"),
        ]
        assert _near(
            [[c["probability"]] for c in body["classes"]],
            [[w[k]] for w, k in zip(want, argmax, strict=True)],
        )
        # serving_raw answers alike.
        full = [r for r in ROWS if None not in r.values()]
        raw = call(
            service.url + ":predict", "POST", {"signature_name": "serving_raw", "instances": full}
        )[1]
        assert _near(raw["predictions"], [task_expected("multiclass", r) for r in full])
        assert len(raw["classes"]) == len(full)
        entry = call(service.url + "/versions/1")[1]["model_version_status"][0]
        assert (entry["task"], entry["classes"]) == ("multiclass", IRIS)
        # Bad input is still a named 4xx, and the service keeps serving.
        status, answer, _ = call(
            service.url + ":predict", "POST", {"instances": [{**ROWS[0], "fare": "x"}]}
        )
        assert status == 400 and answer["error"].startswith('instances[0].fare: "x" is a string')
    lines = _log_lines(tmp_path)
    assert lines[0]["task"] == "multiclass"
    assert lines[0]["predicted"] == ["setosa", "setosa", "virginica", "virginica"]
    # The bad request is logged as the version's outcome (for the canary analysis' error
    # rates), with its status and no predictions.
    assert [line["status"] for line in lines] == [200, 200, 400]
    assert "predictions" not in lines[2] and lines[2]["error"].startswith("instances[0].fare")
    assert lines[2]["model_version"] == "1" and lines[2]["latency_ms"] >= 0


def test_regression_answers_one_value_per_example_and_no_classes(tmp_path, task_models):
    # 2 fare + miles + 0.1 hour + cash: 29.5, 96.4, 2.7, 12
    want = [task_expected("regression", r) for r in ROWS]
    assert _near(want, [[29.5], [96.4], [2.7], [12.0]])
    with _serve(tmp_path, task_models["regression"]) as service:
        status, body, _ = call(service.url + ":predict", "POST", {"instances": ROWS})
        assert status == 200 and _near(body["predictions"], want, 1e-4)
        assert "classes" not in body
        entry = call(service.url)[1]["model_version_status"][0]
        assert (entry["task"], entry["classes"]) == ("regression", None)
    (line,) = _log_lines(tmp_path)
    assert line["task"] == "regression"
    assert _near([[v] for v in line["predicted"]], want, 1e-4)


def test_a_sidecar_without_task_is_binary_with_classes_0_and_1(tmp_path):
    model = make_task_model(tmp_path / "old", "binary", task=DROP, classes=DROP)
    with _serve(tmp_path, model) as service:
        body = call(service.url + ":predict", "POST", {"instances": ROWS[:2]})[1]
        assert [c["class"] for c in body["classes"]] == ["1", "1"]
        entry = call(service.url)[1]["model_version_status"][0]
        assert (entry["task"], entry["classes"]) == ("binary", ["0", "1"])


@pytest.mark.parametrize(
    "task, overrides, message",
    [
        # The multiclass model's output (3 probabilities) under sidecars that do not fit it.
        ("multiclass", {"classes": ["a", "b", "c", "d"]},
         "3 probabilities per example, but the sidecar names 4 classes"),
        ("multiclass", {"task": "regression"}, "regression model answered"),
        ("multiclass", {"task": "binary", "classes": ["0", "1"]}, "3 values per example, not one"),
        ("multiclass", {"classes": None}, "classes is None; expected a list of distinct class"),
        ("multiclass", {"classes": ["a", "a", "b"]}, "expected a list of distinct class names"),
        ("binary", {"classes": ["a", "b", "c"]}, "classes has 3 names; a binary model has 2"),
        ("binary", {"task": "clustering"},
         "task is 'clustering'; expected one of binary, multiclass, regression"),
    ],
)  # fmt: skip
def test_a_model_whose_sidecar_does_not_fit_its_output_is_not_loaded(
    tmp_path, task, overrides, message
):
    from deploy_model.models import load_model

    model = make_task_model(tmp_path / "m", task, **overrides)
    with pytest.raises(ValueError) as caught:
        load_model(model, 1)
    assert message in str(caught.value) and str(model) in str(caught.value)


def test_the_service_reports_a_version_that_does_not_fit_and_keeps_the_previous(
    tmp_path, task_models
):
    bad = make_task_model(tmp_path / "bad", "multiclass", classes=["a", "b", "c", "d"])
    with _serve(tmp_path, task_models["multiclass"]) as service:
        reg = service.holder.registry
        version = reg.push(bad)
        reg.deploy(version, 0)
        service.holder.wait_for(lambda r: version in service.holder.errors, 20)
        entries = {e["version"]: e for e in call(service.url)[1]["model_version_status"]}
        assert entries["2"]["state"] == "END"
        assert "the sidecar names 4 classes" in entries["2"]["status"]["error_message"]
        body = call(service.url + ":predict", "POST", {"instances": ROWS[:1]})[1]
        assert body["model_version"] == "1" and body["classes"][0]["class"] == "setosa"


def test_deploy_refuses_a_sidecar_with_a_bad_task(tmp_path):
    from deploy_model.inputs import InputError, check_model

    model = make_task_model(tmp_path / "m", "multiclass", task="ranking")
    with pytest.raises(InputError) as caught:
        check_model(str(model))
    text = str(caught.value)
    assert text.startswith("model: ") and "mlops_model.json: task is 'ranking'" in text
