"""The canary analysis end to end (mlops.monitoring.canary_check) with real parts: the real
prediction service (in this process, or in a process of its own with a load generator in a
third), deploy_model's real registry files, labels joined to the service's own request log,
the decision applied through deploy_model's modes as `make promote|ramp|rollback` run them
(mlops.serving.traffic), recorded in the real lineage store and shown by `make status`; with
serving.target vertex, the same decisions on the Vertex AI double's endpoint.

The models: p = sigmoid(2 (fare - t)), so a model predicts a big tip iff the fare is above
its threshold t. The truth: a big tip iff the fare is above 10, except at a fare of 14. Every
request asks about the same eight fares: a model with t = 10 is right on 7 of them, one with
t = 20 on 5."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from mlops.core.errors import BuildError
from mlops.core.paths import REPO
from mlops.core.settings import deep_merge
from mlops.lineage.store import LineageStore
from mlops.monitoring import canary_check, degradation, status
from mlops.testing.projects import repo_settings

DEPLOY_SRC = REPO / "components" / "deploy_model" / "src"
MODEL = "taxi_big_tipper"
FARES = [2.0, 6.0, 12.0, 14.0, 16.0, 18.0, 22.0, 26.0]
CANARY = {
    "enabled": True,
    "min_labelled": 50,
    "confidence": 0.95,
    "min_improvement": 0.0,
    "max_age_s": 3600,
    "on_timeout": "rollback",
    "ramp": [],
    "guards": {
        "min_requests": 5,
        "max_error_rate_increase": 0.01,
        "max_p99_ratio": 1.5,
        "p99_tolerance_ms": 1000,  # these tests are about the labels and the errors
    },
}


def truth(fare: float) -> int:
    return int(fare > 10 and fare != 14)


def _deploy_model_modules():
    if str(DEPLOY_SRC) not in sys.path:
        sys.path.insert(0, str(DEPLOY_SRC))
    from deploy_model import main, registry
    from deploy_model.request_log import RequestLog

    return main, registry, RequestLog


def make_project(root: Path, registry: str = "registry", **canary) -> Path:
    """A repository root: this repo's settings (taxi) with its registry, request log and
    labels under root, triggers.canary as CANARY with `canary` merged over it, and
    deploy_model's source where mlops.serving.traffic runs it from."""
    settings = repo_settings()
    settings["serving"].update(registry=registry, canary_percent=20)
    settings["triggers"]["degradation"] = {
        "request_log": ".local/request_logs",
        "labels": "labels",
        "metric": "binary_accuracy",
        "threshold": 0.5,
        "window": 1000,
        "min_samples": 10,
    }
    settings["triggers"]["canary"] = deep_merge(CANARY, canary)
    root.mkdir(parents=True, exist_ok=True)
    (root / "settings.yaml").write_text(yaml.safe_dump(settings))
    (root / "labels").mkdir()
    (root / "components" / "deploy_model").mkdir(parents=True)
    (root / "components" / "deploy_model" / "src").symlink_to(DEPLOY_SRC)
    (root / "build").mkdir()
    (root / "build" / "base").symlink_to(REPO / "build" / "base")
    return root


def threshold_model(path: Path, threshold: float, slope: float = 2.0) -> Path:
    import tensorflow as tf

    class Threshold(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serving_default(self, examples):
            spec = {"fare": tf.io.FixedLenFeature([], tf.float32, default_value=0.0)}
            fare = tf.io.parse_example(examples, spec)["fare"]
            return {"outputs": tf.sigmoid(slope * (fare - threshold))[:, None]}

    module = Threshold()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serving_default})
    sidecar = {"label_key": "big_tipper", "raw_feature_spec": {"fare": {"dtype": "float32"}}}
    (path / "mlops_model.json").write_text(json.dumps(sidecar))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """t10 and t20; t10b decides as t10 (another slope, so other content); failing loads but
    fails every prediction with a fare above 0 (deploy_model's test helper)."""
    root = tmp_path_factory.mktemp("canary_models")
    sys.path.insert(0, str(REPO / "components" / "deploy_model" / "tests"))
    try:
        from tiny_model import make_failing_model
    finally:
        sys.path.pop(0)
    return {
        "t10": threshold_model(root / "t10", 10.0),
        "t10b": threshold_model(root / "t10b", 10.0, slope=3.0),
        "t20": threshold_model(root / "t20", 20.0),
        "failing": make_failing_model(root / "failing"),
    }


def registry(root: Path, stable: Path, canary: Path, percent: int = 20):
    """deploy_model's registry under root: `stable` deployed first, `canary` with percent."""
    _, registry_module, _ = _deploy_model_modules()
    reg = registry_module.Registry(str(root / "registry"), MODEL)
    reg.deploy(reg.push(stable), percent)
    reg.deploy(reg.push(canary), percent)
    return reg


@contextlib.contextmanager
def serving(root: Path):
    """The real service in this process on the project's registry, logging every request
    where `make serve` has it log."""
    _deploy_model_modules()
    from deploy_model.serve import Service

    log = root / ".local" / "request_logs" / MODEL
    with Service(str(root / "registry"), MODEL, poll_s=0.1, request_log=str(log)) as service:
        yield service


def predict(url: str, fares: list[float] = FARES) -> dict:
    body = json.dumps({"instances": [{"fare": f} for f in fares]}).encode()
    request = urllib.request.Request(url + ":predict", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def write_labels(root: Path, name: str, answers: list[dict]) -> None:
    """Ground truth for every instance of the answered requests (the fares are FARES)."""
    lines = ["request_id,index,label"]
    lines += [f"{a['request_id']},{i},{truth(f)}" for a in answers for i, f in enumerate(FARES)]
    (root / "labels" / name).write_text("\n".join(lines) + "\n")


def serving_json(root: Path) -> dict:
    return json.loads((root / "registry" / MODEL / "serving.json").read_text())


def canary_decisions(root: Path) -> list[dict]:
    with LineageStore(root / ".local" / "lineage.sqlite") as store:
        return store.decisions("canary")


def versions_of(answers: list[dict]) -> dict[str, int]:
    seen: dict[str, int] = {}
    for a in answers:
        seen[a["model_version"]] = seen.get(a["model_version"], 0) + 1
    return seen


# --- decisions with the service in this process ----------------------------------------------


def test_a_better_canary_is_promoted_recorded_and_shown(tmp_path, models):
    root = make_project(tmp_path / "repo")
    registry(root, models["t20"], models["t10"])
    with serving(root) as service:
        answers = [predict(service.url) for _ in range(50)]
        assert versions_of(answers) == {"1": 40, "2": 10}  # 20% to the canary
        write_labels(root, "day1.csv", answers)
        result = canary_check.check(root)
        assert result.decision == "promote", result.reason
        assert result.reason.startswith(
            "canary 2 is better: binary_accuracy 0.875 for canary 2 (80 labelled) against "
            "0.625 for stable 1 (320 labelled): the canary's advantage is +0.25, 95% interval"
        )
        state = serving_json(root)
        assert (state["stable"], state["canary"]) == (2, None)
        assert state["history"][-1]["action"] == "promote"
        service.holder.wait_for(lambda r: r.canary is None and r.stable.version == 2, 20)
        assert predict(service.url)["model_version"] == "2"

    (recorded,) = canary_decisions(root)
    assert recorded["decision"] == "promote" and recorded["reason"] == result.reason
    details = recorded["details"]
    assert (details["stable"], details["canary"], details["percent"]) == ("1", "2", 20)
    evidence = details["evidence"]
    assert evidence["labelled"] == {"canary": 80, "stable": 320}
    assert evidence["values"] == {"canary": 0.875, "stable": 0.625}
    assert evidence["difference"]["low"] > 0 and evidence["difference"]["method"] == "welch"
    assert evidence["outcomes"]["canary"]["requests"] == 10
    assert evidence["outcomes"]["stable"]["errors"] == 0
    assert evidence["guards"]["verdict"] == "pass"
    assert details["applied"]["stable"] == 2 and details["applied"]["mode"] == "promote"
    assert evidence["since"] == state["history"][1]["at"]  # when version 2 became the canary

    text = status.render(status.gather(root))
    assert "canary  promote  run -" in text and result.reason in text
    assert "binary_accuracy: canary 2 0.875 (80 labelled), stable 1 0.625 (320 labelled)" in text
    assert "requests 10 / 40, errors 0.0% / 0.0%" in text
    # With no canary left, nothing is checked or recorded.
    assert canary_check.check(root) is None and len(canary_decisions(root)) == 1


def test_a_worse_canary_is_rolled_back(tmp_path, models):
    root = make_project(tmp_path / "repo")
    registry(root, models["t10"], models["t20"])
    with serving(root) as service:
        answers = [predict(service.url) for _ in range(50)]
        write_labels(root, "day1.csv", answers)
        result = canary_check.check(root)
        assert result.decision == "rollback", result.reason
        assert result.reason.startswith(
            "canary 2 is worse: binary_accuracy 0.625 for canary 2 (80 labelled) against 0.875"
        )
        service.holder.wait_for(lambda r: r.canary is None, 20)
    state = serving_json(root)
    assert (state["stable"], state["canary"]) == (1, None)
    assert state["history"][-1]["action"] == "rollback"
    assert [d["decision"] for d in canary_decisions(root)] == ["rollback"]


@pytest.mark.parametrize("on_timeout, stable_after", [("rollback", 1), ("promote", 2)])
def test_an_equal_canary_waits_then_times_out_as_settings_say(
    tmp_path, models, on_timeout, stable_after
):
    root = make_project(tmp_path / "repo", on_timeout=on_timeout, max_age_s=3600)
    registry(root, models["t10"], models["t10b"])
    with serving(root) as service:
        answers = [predict(service.url) for _ in range(50)]
    write_labels(root, "day1.csv", answers)
    waiting = canary_check.check(root)
    assert waiting.decision == "wait", waiting.reason
    assert waiting.reason.startswith(
        "no clear difference yet: binary_accuracy 0.875 for canary 2 (80 labelled) against "
        "0.875 for stable 1 (320 labelled): the canary's advantage is 0, 95% interval -"
    )
    assert serving_json(root)["canary"] == {"version": 2, "traffic_percent": 20}

    later = time.time() + 3601  # the same evidence an hour on: past max_age_s
    result = canary_check.check(root, now=later)
    assert (result.decision, result.timed_out) == (on_timeout, True)
    assert f"max_age_s is 3600, on_timeout is {on_timeout}: no clear difference" in result.reason
    state = serving_json(root)
    assert (state["stable"], state["canary"]) == (stable_after, None)
    recorded = canary_decisions(root)
    assert [d["decision"] for d in recorded] == [on_timeout, "wait"]
    assert recorded[0]["details"]["timed_out"] is True
    assert recorded[0]["details"]["evidence"]["age_s"] >= 3600


def test_too_few_labels_wait(tmp_path, models):
    root = make_project(tmp_path / "repo")
    registry(root, models["t20"], models["t10"])
    with serving(root) as service:
        answers = [predict(service.url) for _ in range(50)]
    no_labels = canary_check.check(root)
    assert no_labels.decision == "wait"
    assert "0 of canary 2, 0 of stable 1; min_labelled is 50" in no_labels.reason
    write_labels(root, "day1.csv", answers[:25])  # 5 canary requests: 40 labelled predictions
    result = canary_check.check(root)
    assert result.decision == "wait"
    assert "too few labelled predictions since " in result.reason
    assert "40 of canary 2, 160 of stable 1; min_labelled is 50" in result.reason
    assert serving_json(root)["canary"] == {"version": 2, "traffic_percent": 20}
    assert [d["decision"] for d in canary_decisions(root)] == ["wait", "wait"]
    answer = status.gather(root)
    assert answer["serving"]["canary_decision"]["reason"] == result.reason
    text = status.render(answer)
    assert "  canary version 2 (20% of traffic)" in text
    assert "    canary analysis: wait at " in text and f": {result.reason}" in text


def test_a_canary_answering_errors_is_rolled_back_before_any_label(tmp_path, models):
    root = make_project(tmp_path / "repo")
    registry(root, models["t10"], models["failing"])
    with serving(root) as service:
        statuses = []
        for _ in range(50):
            try:
                statuses.append(predict(service.url)["model_version"])
            except urllib.error.HTTPError as e:
                statuses.append(e.code)
        assert statuses.count(500) == 10 and statuses.count("1") == 40
        assert not list((root / "labels").iterdir())
        result = canary_check.check(root)
        assert result.decision == "rollback", result.reason
        assert result.reason.startswith(
            "canary 2 fails an operational guard: errors: the canary 100.0% of 10 requests, "
            "the stable 0.0% of 40; the increase is at least "
        )
        service.holder.wait_for(lambda r: r.canary is None, 20)
        assert all(predict(service.url)["model_version"] == "1" for _ in range(10))
    assert serving_json(root)["canary"] is None
    evidence = canary_decisions(root)[0]["details"]["evidence"]
    assert evidence["labelled"] == {"canary": 0, "stable": 0}
    assert evidence["outcomes"]["canary"]["statuses"] == {"500": 10}


def test_a_ramp_moves_step_by_step_each_gated_by_its_own_evidence(tmp_path, models):
    root = make_project(tmp_path / "repo", ramp=[20, 50, 100])
    registry(root, models["t20"], models["t10"])
    with serving(root) as service:
        first = [predict(service.url) for _ in range(50)]
        write_labels(root, "day1.csv", first)
        step = canary_check.check(root)
        assert (step.decision, step.to_percent) == ("ramp", 50), step.reason
        assert step.reason.endswith("next step 50%")
        assert serving_json(root)["canary"] == {"version": 2, "traffic_percent": 50}
        assert serving_json(root)["history"][-1]["action"] == "ramp"
        # The new step's period starts at the ramp: the evidence of 20% does not count.
        waiting = canary_check.check(root)
        assert waiting.decision == "wait" and "0 of canary 2, 0 of stable 1" in waiting.reason
        service.holder.wait_for(lambda r: r.percent == 50, 20)
        second = [predict(service.url) for _ in range(20)]
        assert versions_of(second) == {"1": 10, "2": 10}
        write_labels(root, "day2.csv", second)
        result = canary_check.check(root)
        assert result.decision == "promote", result.reason
        assert "for canary 2 (80 labelled) against 0.625 for stable 1 (80 labelled)" in (
            result.reason
        )
    assert (serving_json(root)["stable"], serving_json(root)["canary"]) == (2, None)
    assert [d["decision"] for d in canary_decisions(root)] == ["promote", "wait", "ramp"]


def test_one_monitor_process_watches_degradation_and_the_canary(tmp_path, models, capsys):
    root = make_project(tmp_path / "repo")
    registry(root, models["t20"], models["t10"])
    with serving(root) as service:
        write_labels(root, "day1.csv", [predict(service.url) for _ in range(50)])
    degradation.monitor(root, once=True)
    out = capsys.readouterr().out
    assert "[monitor] ok: binary_accuracy of version 1 is 0.625" in out  # the stable's check
    assert "[monitor] canary: promote: canary 2 is better" in out
    assert serving_json(root)["stable"] == 2
    with LineageStore(root / ".local" / "lineage.sqlite") as store:
        kinds = [(d["kind"], d["decision"]) for d in store.decisions()]
    assert kinds == [("canary", "promote"), ("degradation", "ok")]


def test_a_decision_about_a_canary_replaced_meanwhile_is_not_applied(tmp_path, models):
    """The check names the canary it decided about: deploy_model refuses to drop another."""
    root = make_project(tmp_path / "repo")
    reg = registry(root, models["t10"], models["t20"])
    with serving(root) as service:
        write_labels(root, "day1.csv", [predict(service.url) for _ in range(50)])
    settings = canary_check.load_canary_settings(root)
    state = serving_json(root)
    result = canary_check._analyse(root, None, settings, state, time.time())
    assert result.decision == "rollback"
    reg.deploy(reg.push(models["t10b"]), 20)  # a new canary arrives before the decision lands
    with pytest.raises(BuildError, match="the canary is version 3, not version 2"):
        canary_check._apply(root, None, result)
    assert serving_json(root)["canary"] == {"version": 3, "traffic_percent": 20}


# --- under load from a second process ----------------------------------------------------------


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(DEPLOY_SRC), "TF_USE_LEGACY_KERAS": "1"}


@contextlib.contextmanager
def service_process(root: Path, log: Path):
    """The service in a process of its own, as `make serve` runs it (its URL)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "deploy_model.serve", "--registry", str(root / "registry"),
         "--model-name", MODEL, "--port", "0", "--poll-s", "0.2",
         "--request-log", str(root / ".local" / "request_logs" / MODEL)],
        stdout=subprocess.PIPE, stderr=log.open("w"), text=True, env=_env(),
    )  # fmt: skip
    try:
        first = process.stdout.readline()  # once the versions serving.json names are warm
        assert first.startswith("serving http://"), log.read_text()
        yield first.split()[1]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


def _checked_under_load(url: str, root: Path) -> tuple[dict, canary_check.CanaryResult]:
    """deploy_model.loadgen in another process for 10 s; the automatic check 1 s in."""
    body = json.dumps({"instances": [{"fare": f} for f in FARES]})
    gen = subprocess.Popen(
        [sys.executable, "-m", "deploy_model.loadgen", "--url", url + ":predict", "--body",
         body, "--duration", "10", "--threads", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )  # fmt: skip
    assert gen.stderr.readline().strip() == "started"
    time.sleep(1)
    started = time.monotonic()
    result = canary_check.check(root)
    took = time.monotonic() - started
    out, err = gen.communicate(timeout=120)
    assert gen.returncode == 0, err
    return {**json.loads(out), "check_s": round(took, 2)}, result


@pytest.mark.parametrize(
    "stable, canary, decision, after",
    [("t20", "t10", "promote", "2"), ("t10", "t20", "rollback", "1")],
)
def test_an_automatic_change_under_load_fails_no_request(
    tmp_path, models, stable, canary, decision, after
):
    root = make_project(tmp_path / "repo")
    registry(root, models[stable], models[canary])
    with service_process(root, tmp_path / "serve.log") as url:
        write_labels(root, "day1.csv", [predict(url) for _ in range(50)])
        load, result = _checked_under_load(url, root)
    summary = {k: v for k, v in load.items() if k != "timeline"}
    print(f"{decision} under load:", json.dumps(summary))
    assert result.decision == decision, result.reason
    assert load["failed"] == 0 and load["ok"] == load["requests"], load["errors"]
    assert load["versions"]["1"] > 0 and load["versions"]["2"] > 0
    assert set(load["timeline"][-1]["versions"]) == {after}  # after the change: one version
    assert serving_json(root)["canary"] is None and serving_json(root)["stable"] == int(after)


# --- serving.target vertex --------------------------------------------------------------------


def _blessing(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "BLESSED").touch()
    (folder / "blessing.json").write_text(json.dumps({"metrics": {"binary_accuracy": 0.8}}))
    return folder


def _model_folder(folder: Path, threshold: float) -> Path:
    """A model artifact as deploy_model copies it (the Vertex AI double loads no model)."""
    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(f"stand-in t={threshold}".encode())
    sidecar = {"label_key": "big_tipper", "raw_feature_spec": {"fare": {"dtype": "float32"}}}
    (folder / "mlops_model.json").write_text(json.dumps(sidecar))
    return folder


def _log_answers(root: Path, version: int, threshold: float, requests: int) -> list[dict]:
    """Answers of the model with this threshold, logged with the service's RequestLog (what
    fronts the Vertex AI endpoint writes the same lines)."""
    import math

    _, _, request_log = _deploy_model_modules()
    log = request_log(root / ".local" / "request_logs" / MODEL)
    answers = []
    for _ in range(requests):
        request_id = uuid.uuid4().hex
        rows = [[1 / (1 + math.exp(-2 * (f - threshold)))] for f in FARES]
        log.record(request_id, version, [{"fare": f} for f in FARES], rows, "binary",
                   [str(int(r[0] > 0.5)) for r in rows], latency_ms=3.0)  # fmt: skip
        answers.append({"request_id": request_id, "model_version": str(version)})
    return answers


@pytest.mark.parametrize("better", [True, False])
def test_with_target_vertex_the_decisions_move_the_endpoints_traffic(tmp_path, gcs, better):
    from vertex_double import VertexDouble

    bucket = f"models-{uuid.uuid4().hex[:8]}"  # the emulator lives for the whole session
    registry_uri = f"gs://{bucket}/registry"
    gcs.create_bucket(bucket)
    with VertexDouble() as double:
        vertex = {"project": "proj", "location": "europe-west1", "endpoint": "taxi-endpoint",
                  "serving_image": "europe-docker.pkg.dev/vertex-ai/prediction/tf2-cpu:latest",
                  "api_endpoint": double.url}  # fmt: skip
        root = make_project(tmp_path / "repo", registry=registry_uri, ramp=[20, 50])
        settings = yaml.safe_load((root / "settings.yaml").read_text())
        settings["serving"].update(target="vertex", vertex=vertex)
        (root / "settings.yaml").write_text(yaml.safe_dump(settings))
        main, _, _ = _deploy_model_modules()
        blessing = _blessing(tmp_path / "blessing")
        thresholds = (20.0, 10.0) if better else (10.0, 20.0)
        for n, threshold in enumerate(thresholds, 1):
            model = _model_folder(tmp_path / f"model{n}", threshold)
            record = main.run("deploy", registry_uri, MODEL, model=str(model),
                              blessing=str(blessing), canary_percent=20, target="vertex",
                              vertex=vertex)  # fmt: skip
            assert record["version"] == n

        def split() -> dict[str, int]:
            (endpoint,) = double.endpoints_named("taxi-endpoint")
            shares = endpoint["trafficSplit"]
            return {m["modelVersionId"]: shares.get(m["id"], 0) for m in endpoint["deployedModels"]}

        assert split() == {"1": 80, "2": 20}
        answers = _log_answers(root, 1, thresholds[0], 40)
        answers += _log_answers(root, 2, thresholds[1], 10)
        write_labels(root, "day1.csv", answers)
        first = canary_check.check(root)
        if not better:
            assert first.decision == "rollback", first.reason
            assert split() == {"1": 100}
            assert first.applied["canary"] is None and first.applied["vertex"]["canary"] is None
            return
        assert (first.decision, first.to_percent) == ("ramp", 50), first.reason
        assert split() == {"1": 50, "2": 50}
        assert first.applied["vertex"]["canary_percent"] == 50
        more = _log_answers(root, 1, 20.0, 10) + _log_answers(root, 2, 10.0, 10)
        write_labels(root, "day2.csv", more)
        second = canary_check.check(root)
        assert second.decision == "promote", second.reason
        assert split() == {"2": 100}
    state = json.loads(gcs.bucket(bucket).blob(f"registry/{MODEL}/serving.json").download_as_text())
    assert (state["stable"], state["canary"]) == (2, None)
    assert [h["action"] for h in state["history"]] == ["deploy", "canary", "ramp", "promote"]
