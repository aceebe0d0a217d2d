"""Zero-downtime swaps under load: the service and a load generator each in a process of its
own (as a client would be), while this process promotes the canary and then rolls back
(which loads version 1 again, under traffic). No request may fail; both versions answer."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from deploy_model.registry import Registry
from service_client import call
from tiny_model import ROWS

SRC = Path(__file__).resolve().parents[1] / "src"
BODY = json.dumps({"instances": ROWS[:2]})


def _env() -> dict:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "TF_USE_LEGACY_KERAS": "1",
    }


@pytest.fixture
def serving(registry_root, model_dirs, tmp_path):
    reg = Registry(str(registry_root), "taxi")
    reg.deploy(reg.push(model_dirs[1]), 10)
    reg.deploy(reg.push(model_dirs[2]), 10)
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deploy_model.serve",
            "--registry",
            str(registry_root),
            "--model-name",
            "taxi",
            "--port",
            "0",
            "--poll-s",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=_env(),
    )
    try:
        line = proc.stdout.readline()  # printed once the models named are loaded
        assert line.startswith("serving http://"), (line, (tmp_path / "serve.log").read_text())
        yield reg, line.split()[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0  # SIGTERM is a clean stop
        log.close()


def _load_during(url: str, action, duration_s: float, act_after_s: float) -> dict:
    gen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deploy_model.loadgen",
            "--url",
            url + ":predict",
            "--body",
            BODY,
            "--duration",
            str(duration_s),
            "--threads",
            "4",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert gen.stderr.readline().strip() == "started"
    time.sleep(act_after_s)
    action()
    out, err = gen.communicate(timeout=duration_s + 60)
    assert gen.returncode == 0, err
    return json.loads(out)


def test_promote_and_rollback_under_load_drop_no_request(serving):
    reg, url = serving
    assert call(url)[1]["routing"]["canary"] == {"version": "2", "traffic_percent": 10}

    promoted = _load_during(url, reg.promote, duration_s=4, act_after_s=1.5)
    print("promote under load:", json.dumps({k: v for k, v in promoted.items() if k != "timeline"}))
    # Every request answered, by both versions around the change (no rate is asserted:
    # throughput is `make bench`'s, bench/results/model.json).
    assert promoted["failed"] == 0 and promoted["ok"] == promoted["requests"], promoted["errors"]
    assert promoted["versions"]["1"] > 0 and promoted["versions"]["2"] > 0
    assert set(promoted["timeline"][-1]["versions"]) == {"2"}  # after the promote: 2 only
    assert call(url)[1]["routing"] == {
        "stable": "2",
        "canary": None,
        "serving_json": {"stable": 2, "canary": None},
    }

    # Version 1 was released at the promote: the rollback loads it again under traffic.
    rolled = _load_during(url, reg.rollback, duration_s=5, act_after_s=1.5)
    print("rollback under load:", json.dumps({k: v for k, v in rolled.items() if k != "timeline"}))
    assert rolled["failed"] == 0 and rolled["ok"] == rolled["requests"], rolled["errors"]
    assert rolled["versions"]["1"] > 0 and rolled["versions"]["2"] > 0
    assert set(rolled["timeline"][0]["versions"]) == {"2"}
    assert set(rolled["timeline"][-1]["versions"]) == {"1"}


def test_run_load_counts_versions_and_failures(serving):
    from deploy_model.loadgen import run_load

    _, url = serving
    result = run_load(
        url + ":predict", json.loads(BODY), duration_s=60, threads=2, max_requests=100
    )
    assert result["requests"] == 100 and result["ok"] == 100
    assert result["versions"]["2"] == 10  # 10 % canary, deterministic
    bad = run_load(url + ":predict", {"instances": []}, threads=1, max_requests=5)
    assert bad["failed"] == 5 and bad["status_counts"] == {"400": 5}
    assert "'instances' is empty" in bad["errors"][0]


def test_call_rate_is_the_in_process_baseline(model_dirs):
    from deploy_model.loadgen import call_rate

    result = call_rate(model_dirs[1], ROWS[:2], duration_s=1.0)
    print("in-process:", json.dumps(result))
    assert result["instances_per_call"] == 2 and result["calls"] >= 1
    assert result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
