"""The degradation trigger (mlops.monitoring.degradation, mlops.monitoring.live_metrics): the
real prediction service
writes the request log, labels arrive later as CSV/JSONL and are joined to it, live metrics per
model version over a sliding window, the retrain decision on the stable version (once per
degradation), the report, bad label files and bad settings as failed checks, and the CLI.

Retraining runs are started through an injected recording `start` (mlops.triggers.runs, which
starts real runs, is tested by its own tests)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from mlops.core.errors import BuildError
from mlops.core.paths import REPO
from mlops.lineage.store import LineageStore
from mlops.monitoring import degradation, live_metrics
from mlops.monitoring.tasks import Task
from mlops.testing.projects import repo_settings
from mlops.triggers.runs import StartedRun

DEPLOY_SRC = REPO / "components" / "deploy_model" / "src"
MODEL = "taxi_big_tipper"
DEGRADATION = {
    "request_log": ".local/request_logs",
    "labels": "labels",
    "metric": "binary_accuracy",
    "threshold": 0.75,
    "window": 40,
    "min_samples": 20,
}


class Recorder:
    """Stands in for trigger_runs.start_run (same signature, same result type); records each
    call. A local run has ended when start_run returns: `status` is how it ended."""

    def __init__(self, status: str = "SUCCEEDED", error: str | None = None):
        self.calls: list[dict] = []
        self.status, self.error = status, error

    def __call__(self, root, pipeline, reason, *, data=None, env=None):
        self.calls.append(
            {"root": root, "pipeline": pipeline, "reason": reason, "data": data, "env": env}
        )
        details = {"error": self.error} if self.error else {}
        return StartedRun(f"run-{len(self.calls)}", pipeline, "local", self.status, reason, details)


def test_the_default_start_calls_start_run_as_its_signature_allows(monkeypatch):
    import inspect

    from mlops.triggers import runs as trigger_runs

    # degradation's own call (not a copy of it) bound to the real function's signature; the
    # e2e (tests/ct/test_ct_e2e.py) makes the same call start a real run.
    signature = inspect.signature(trigger_runs.start_run)
    calls = []

    def strict(*args, **kwargs):
        calls.append(dict(signature.bind(*args, **kwargs).arguments))
        return "started"

    monkeypatch.setattr(trigger_runs, "start_run", strict)
    started = degradation._default_start(
        Path("repo"), degradation.PIPELINE, "why", data="data.csv", env="local"
    )
    assert started == "started"
    assert calls == [
        {"root": Path("repo"), "pipeline": "ct_pipeline", "reason": "why", "data": "data.csv",
         "env": "local"}
    ]  # fmt: skip
    assert degradation.PIPELINE in trigger_runs.PIPELINES


def make_repo(root: Path, model_task: str | None = None, **degradation_settings) -> Path:
    """A repository root with this repo's settings (the taxi use case), its registry under
    root, triggers.degradation replaced (a key set to None is dropped) and model.task set
    when model_task is given ("" removes it)."""
    settings = repo_settings()
    settings["serving"]["registry"] = "registry"
    if model_task == "":
        del settings["model"]["task"]  # settings from before tasks: binary
    elif model_task is not None:
        settings["model"]["task"] = model_task
    section = {**DEGRADATION, **degradation_settings}
    settings["triggers"]["degradation"] = {k: v for k, v in section.items() if v is not None}
    root.mkdir(parents=True, exist_ok=True)
    (root / "settings.yaml").write_text(yaml.safe_dump(settings))
    (root / "labels").mkdir(exist_ok=True)
    return root


def publish(root: Path, version: int, metrics: dict | None = None, model: Path | None = None):
    """A registry version the way deploy_model's Registry.push lays it out."""
    import shutil

    folder = root / "registry" / MODEL / str(version)
    if model is not None:
        shutil.copytree(model, folder)
    folder.mkdir(parents=True, exist_ok=True)
    info = {"version": version, "source_uri": str(model), "metrics": metrics or {}}
    (folder / "version.json").write_text(json.dumps(info))


def serve(root: Path, stable: int, canary: int | None = None, percent: int = 10) -> None:
    state = {
        "model_name": MODEL,
        "stable": stable,
        "canary": None if canary is None else {"version": canary, "traffic_percent": percent},
        "history": [],
    }
    path = root / "registry" / MODEL / "serving.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state))


_ids = itertools.count()


def log_requests(root: Path, version: int, probabilities: list[float]) -> list[str]:
    """One logged request per probability, written by the service's own RequestLog."""
    sys.path.insert(0, str(DEPLOY_SRC))
    from deploy_model.request_log import RequestLog

    log = RequestLog(root / ".local" / "request_logs" / MODEL)
    ids = []
    for p in probabilities:
        request_id = f"r{next(_ids)}"
        log.record(request_id, version, [{"fare": 1.0}], [[p]])
        ids.append(request_id)
    return ids


def write_log(folder: Path, lines: list[dict]) -> None:
    """A hand-made request log: one line per dict, with time and version filled in."""
    folder.mkdir(parents=True, exist_ok=True)
    text = ""
    for n, line in enumerate(lines):
        entry = {"time": f"2024-01-01T00:00:{n:02d}.000+00:00", "model_version": "1",
                 "instances": [{}] * len(line["predictions"]), **line}  # fmt: skip
        text += json.dumps(entry) + "\n"
    (folder / "requests-2024-01-01.jsonl").write_text(text)


def write_labels(root: Path, name: str, rows: list[tuple[str, int, object]]) -> Path:
    path = root / "labels" / name
    if name.endswith(".csv"):
        lines = ["request_id,index,label"] + [f"{r},{i},{y}" for r, i, y in rows]
        path.write_text("\n".join(lines) + "\n")
    else:
        path.write_text("".join(json.dumps({"request_id": r, "index": i, "label": y}) + "\n"
                                for r, i, y in rows))  # fmt: skip
    return path


def decisions(root: Path) -> list[dict]:
    with LineageStore(root / ".local" / "lineage.sqlite") as store:
        return store.decisions("degradation")


# --- the real prediction service writes the log ----------------------------------------------


SIZES = ["small", "medium", "large"]  # the tiny multiclass model's classes


def make_tiny_model(path: Path, task: str | None = None) -> Path:
    """A SavedModel with the contract's serving_default (serialized tf.Examples -> outputs) and
    the mlops_model.json sidecar, on one feature, fare:
    - no task (a sidecar from before tasks, so binary): [p], p = sigmoid(0.5 * fare - 5), so
      p > 0.5 iff fare > 10;
    - multiclass: softmax of the logits (5 - fare, 0, fare - 15): `small` below a fare of 5,
      `medium` from 5 to 15, `large` above (classes SIZES);
    - regression: [2 * fare]."""
    import tensorflow as tf

    def outputs(fare):
        if task == "multiclass":
            return tf.nn.softmax(tf.stack([5.0 - fare, tf.zeros_like(fare), fare - 15.0], 1))
        if task == "regression":
            return (2.0 * fare)[:, None]
        return tf.sigmoid(0.5 * fare - 5.0)[:, None]

    class Tiny(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serving_default(self, examples):
            spec = {"fare": tf.io.FixedLenFeature([], tf.float32, default_value=0.0)}
            fare = tf.io.parse_example(examples, spec)["fare"]
            return {"outputs": outputs(fare)}

    module = Tiny()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serving_default})
    sidecar = {"label_key": "big_tipper", "raw_feature_spec": {"fare": {"dtype": "float32"}}}
    if task is not None:
        sidecar.update(task=task, classes=SIZES if task == "multiclass" else None)
    (path / "mlops_model.json").write_text(json.dumps(sidecar))
    return path


@pytest.fixture
def served(tmp_path):
    """A repository whose registry serves the tiny model as version 1 (evaluated at 0.9
    binary accuracy), and the real service on it, logging every request under
    .local/request_logs/<model> as `make serve` does. Yields (root, predict URL)."""
    root = make_repo(tmp_path / "repo")
    publish(root, 1, {"binary_accuracy": 0.9, "auc": 0.95}, make_tiny_model(tmp_path / "model"))
    serve(root, 1)
    env = {**os.environ, "PYTHONPATH": str(DEPLOY_SRC), "TF_USE_LEGACY_KERAS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "deploy_model.serve", "--registry", str(root / "registry"),
         "--model-name", MODEL, "--port", "0", "--poll-s", "5",
         "--request-log", str(root / ".local" / "request_logs" / MODEL)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        first = process.stdout.readline()  # "serving URL (...)" once the model is warm
        assert first.startswith("serving "), process.stderr.read()
        yield root, first.split()[1] + ":predict"
    finally:
        process.terminate()
        process.wait(timeout=20)


def predict(url: str, fares: list[float]) -> dict:
    body = json.dumps({"instances": [{"fare": f} for f in fares]}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_service_log_then_labels_ok_then_degraded_starts_exactly_one_retrain(served):
    root, url = served
    # 30 requests of two instances: one the model calls 0 (fare <= 10), one it calls 1.
    answers = [predict(url, [2.0 + i % 7, 12.0 + i % 7]) for i in range(30)]
    assert {a["model_version"] for a in answers} == {"1"}
    logged = (root / ".local" / "request_logs" / MODEL).glob("requests-*.jsonl")
    assert sum(len(p.read_text().splitlines()) for p in logged) == 30

    def agreeing(answer, index):
        return int(answer["predictions"][index][0] > 0.5)

    # First labels agree with the predictions: 30 labelled, accuracy 1.0 -> ok.
    write_labels(
        root,
        "2024-01-01.csv",
        [(a["request_id"], i, agreeing(a, i)) for a in answers[:15] for i in (0, 1)],
    )
    start = Recorder()
    first = degradation.check(root, start=start)
    assert first.decision == "ok", first.reason
    assert first.reason == (
        "binary_accuracy of version 1 is 1 over the last 30 labelled predictions, at or above "
        "the threshold 0.75; it was 0.9 at deployment"
    )
    assert start.calls == []

    # A later batch (JSONL, true/false, index 0 left out) says the model was wrong on the next
    # 15 requests, plus one label for a request the log never saw. The window (last 40 by
    # request time) holds 10 right and 30 wrong: accuracy 0.25.
    rows = []
    for a in answers[15:]:
        rows.append({"request_id": a["request_id"], "label": not agreeing(a, 0)})
        rows.append({"request_id": a["request_id"], "index": 1, "label": not agreeing(a, 1)})
    rows.append({"request_id": "never-logged", "label": 1})
    (root / "labels" / "2024-01-02.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    second = degradation.check(root, start=start)
    expected = (
        "binary_accuracy of version 1 is 0.25 over the last 40 labelled predictions, below the "
        "threshold 0.75 by 0.5; it was 0.9 at deployment"
    )
    assert second.decision == "retrain" and second.run_id == "run-1"
    assert second.reason.startswith(expected)
    assert len(start.calls) == 1
    call = start.calls[0]
    assert call["pipeline"] == "ct_pipeline" and call["root"] == root
    assert call["data"] == str(root / "data" / "chicago_taxi" / "data.csv")
    assert call["reason"].startswith(expected)

    report = second.report.read_text()
    assert second.report.parent == root / ".local" / "monitoring"
    assert "**Decision: retrain.**" in report and expected in report and "run-1" in report
    assert "| 1 | stable | 40 / 60 | 0.25 |" in report
    assert "unmatched (no logged prediction with that request_id and index): 1" in report
    figures = json.loads(Path(second.figures["figures_file"]).read_text())
    window = figures["versions"]["1"]
    assert window["count"] == 40 and window["binary_accuracy"] == 0.25
    assert window["labelled_total"] == 60 and window["positive_rate"] == 0.5
    assert figures["labels"]["unmatched"] == 1 and figures["labels"]["joined"] == 60

    # No new labels: the same degradation starts nothing more.
    third = degradation.check(root, start=start)
    assert third.decision == "held" and len(start.calls) == 1
    assert "retraining run run-1 (SUCCEEDED) was started for this version" in third.reason
    assert "until another version is stable" in third.reason
    recorded = decisions(root)
    assert [d["decision"] for d in recorded] == ["held", "retrain", "ok"]
    assert recorded[1]["run_id"] == "run-1" and recorded[1]["reason"].startswith(expected)
    assert recorded[1]["details"]["model_version"] == "1"
    assert recorded[1]["details"]["value"] == 0.25


# --- in memory ---------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path) -> Path:
    root = make_repo(tmp_path / "repo")
    publish(root, 1, {"binary_accuracy": 0.88})
    publish(root, 2)
    return root


def test_canary_is_reported_but_only_the_stable_version_triggers(repo):
    serve(repo, 1, canary=2)
    right = log_requests(repo, 1, [0.9, 0.1] * 15)  # stable: labels agree
    wrong = log_requests(repo, 2, [0.9, 0.1] * 15)  # canary: every prediction wrong
    write_labels(repo, "a.csv", [(r, 0, 1 - i % 2) for i, r in enumerate(right)])
    write_labels(repo, "b.csv", [(r, 0, i % 2) for i, r in enumerate(wrong)])
    start = Recorder()
    result = degradation.check(repo, start=start)
    assert result.decision == "ok" and start.calls == []
    canary = result.figures["versions"]["2"]
    assert canary["role"] == "canary" and canary["binary_accuracy"] == 0.0
    assert canary["verdict"] == "below threshold" and canary["auc"] == 0.0
    assert result.figures["versions"]["1"]["auc"] == 1.0
    report = result.report.read_text()
    assert "| 2 | canary | 30 / 30 | 0 | 0 |" in report
    assert "version 2: binary_accuracy of version 2 is 0 over the last 30" in report


def test_a_new_stable_version_or_the_cool_down_rearms_the_trigger(tmp_path):
    root = make_repo(tmp_path / "repo", cooldown_s=600)
    publish(root, 1)
    publish(root, 2)
    serve(root, 1)
    ids = log_requests(root, 1, [0.9] * 20 + [0.2] * 5)
    write_labels(root, "a.csv", [(r, 0, 0) for r in ids[:20]] + [(r, 0, 1) for r in ids[20:]])
    start = Recorder()
    t0 = 1_800_000_000.0
    assert degradation.check(root, start=start, now=t0).decision == "retrain"
    held = degradation.check(root, start=start, now=t0 + 599)
    assert held.decision == "held" and "cool-down of 600s ends at" in held.reason
    assert len(start.calls) == 1
    # The cool-down is over and version 1 still serves and is still below: one more run.
    again = degradation.check(root, start=start, now=t0 + 601)
    assert again.decision == "retrain" and again.run_id == "run-2" and len(start.calls) == 2

    # Version 2 is stable: its window is its own (empty), so no verdict and nothing started;
    # once its labelled predictions fall below too, it triggers at once.
    serve(root, 2)
    fresh = degradation.check(root, start=start, now=t0 + 602)
    assert fresh.decision == "no verdict" and len(start.calls) == 2
    assert "version 2 has 0 labelled predictions, fewer than min_samples 20" in fresh.reason
    ids2 = log_requests(root, 2, [0.9] * 25)
    write_labels(root, "b.csv", [(r, 0, 0) for r in ids2])
    assert degradation.check(root, start=start, now=t0 + 603).decision == "retrain"
    assert len(start.calls) == 3


def test_too_few_samples_and_one_class_auc_give_no_verdict(repo):
    serve(repo, 1)
    ids = log_requests(repo, 1, [0.9] * 10)
    write_labels(repo, "a.csv", [(r, 0, 0) for r in ids])
    start = Recorder()
    few = degradation.check(repo, start=start)
    assert few.decision == "no verdict" and start.calls == []
    assert few.reason == "version 1 has 10 labelled predictions, fewer than min_samples 20"

    more = log_requests(repo, 1, [0.9] * 30)
    write_labels(repo, "b.csv", [(r, 0, 0) for r in more])
    make_repo(repo, metric="auc")  # the same repository, now judged on AUC
    one_class = degradation.check(repo, start=start)
    assert one_class.decision == "no verdict" and start.calls == []
    assert "auc of version 1 is undefined" in one_class.reason and "one class" in one_class.reason


def test_a_failed_start_is_recorded_and_retried_on_the_next_check(repo):
    serve(repo, 1)
    ids = log_requests(repo, 1, [0.9] * 25)
    write_labels(repo, "a.csv", [(r, 0, 0) for r in ids])

    def broken(*args, **kwargs):
        raise BuildError("kfp.local: the Docker engine is not running")

    failed = degradation.check(repo, start=broken)
    assert failed.decision == "failed"
    assert "ct_pipeline could not be started: BuildError: kfp.local: the Docker" in failed.reason
    # Started, but the local run failed: recorded as the retrain it was, with how it ended,
    # and held afterwards (no run per check of a broken pipeline; cooldown_s retries).
    start = Recorder("FAILED", "train-model: out of memory")
    retrain = degradation.check(repo, start=start)
    assert retrain.decision == "retrain" and len(start.calls) == 1
    assert retrain.reason.endswith("(run failed: train-model: out of memory)")
    held = degradation.check(repo, start=start)
    assert held.decision == "held" and "retraining run run-1 (FAILED) was started" in held.reason
    assert len(start.calls) == 1


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("bad.csv", "request_id,index,label\nr1,0,1\nr2,0,maybe\n", "bad.csv:3: label 'maybe'"),
        ("bad.csv", "request_id,index\nr1,0\n", "bad.csv:1: the header request_id,index lacks"),
        ("bad.csv", "request_id,index,label\n,0,1\n", "bad.csv:2: no request_id"),
        ("bad.csv", "request_id,index,label\nr1,-1,1\n", "bad.csv:2: index '-1'"),
        ("bad.jsonl", '{"request_id": "r1", "label": 1}\n{"request_id": "r2", "la', "bad.jsonl:2:"),
        ("bad.jsonl", '{"request_id": "r1"}\n', "bad.jsonl:1: no label"),
        ("bad.jsonl", "[1, 2]\n", "bad.jsonl:1: expected an object"),
    ],
)  # fmt: skip
def test_a_label_file_that_does_not_parse_fails_the_check_naming_file_and_line(
    repo, name, text, message
):
    serve(repo, 1)
    ids = log_requests(repo, 1, [0.9] * 25)
    write_labels(repo, "good.csv", [(r, 0, 0) for r in ids])  # would trigger on its own
    (repo / "labels" / name).write_text(text)
    start = Recorder()
    result = degradation.check(repo, start=start)
    assert result.decision == "failed" and start.calls == []
    assert message in result.reason and str(repo / "labels" / name) in result.reason
    assert "**Decision: failed.**" in result.report.read_text()
    assert decisions(repo)[0]["decision"] == "failed"


def test_labels_that_join_nothing_are_counted_and_give_no_verdict(repo):
    serve(repo, 1)
    log_requests(repo, 1, [0.9] * 25)
    write_labels(repo, "a.csv", [(f"other-{i}", 0, 1) for i in range(7)])
    start = Recorder()
    result = degradation.check(repo, start=start)
    assert result.decision == "no verdict" and start.calls == []
    assert "no label joined a logged prediction (7 labels in 1 files, 7 unmatched)" in (
        result.reason
    )
    assert result.figures["labels"]["unmatched_examples"][:2] == ["other-0#0", "other-1#0"]
    # Nothing served at all: no verdict either.
    (repo / "registry" / MODEL / "serving.json").unlink()
    nothing = degradation.check(repo, start=start)
    assert nothing.decision == "no verdict" and "no version of taxi_big_tipper is serving" in (
        nothing.reason
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"metric": "f1"}, "triggers.degradation.metric is 'f1'; use one of binary_accuracy, auc"),
        ({"metric": None}, "triggers.degradation.metric is missing"),
        ({"threshold": 1.5}, "triggers.degradation.threshold is 1.5; expected a number between 0"),
        ({"threshold": "high"}, "triggers.degradation.threshold is 'high'"),
        ({"window": 0}, "triggers.degradation.window is 0; expected a positive integer"),
        ({"window": None}, "triggers.degradation.window is missing"),
        ({"min_samples": 2.5}, "triggers.degradation.min_samples is 2.5"),
        ({"min_samples": 50}, "triggers.degradation.min_samples (50) is larger than"),
        ({"labels": None}, "triggers.degradation.labels is missing"),
        ({"cooldown_s": -5}, "triggers.degradation.cooldown_s is -5"),
    ],
)
def test_bad_settings_are_named(tmp_path, change, message):
    root = make_repo(tmp_path / "repo", **change)
    with pytest.raises(BuildError) as caught:
        degradation.load_degradation_settings(root)
    assert message in str(caught.value) and "settings.yaml" in str(caught.value)


def test_the_monitor_loop_records_failed_checks_and_keeps_running(tmp_path, capsys):
    root = make_repo(tmp_path / "repo", metric="f1")
    naps = []
    last = degradation.monitor(root, every_s=7, max_checks=3, sleep=naps.append, start=Recorder())
    assert naps == [7, 7] and last.decision == "failed"
    recorded = decisions(root)
    assert [d["decision"] for d in recorded] == ["failed"] * 3
    assert "triggers.degradation.metric is 'f1'" in recorded[0]["reason"]
    assert capsys.readouterr().out.count("[monitor] failed:") == 3


def test_one_monitor_checks_every_use_case_with_its_own_settings(tmp_path, capsys):
    """make monitor ALL=1: each round checks each use case, with that use case's settings."""
    root = make_repo(tmp_path / "repo")
    settings = root / "settings.yaml"
    settings.write_text(settings.read_text() + "usecase: good\n")
    for name, metric in (("good", "binary_accuracy"), ("broken", "f1")):
        folder = root / "pipelines" / "usecases" / name
        folder.mkdir(parents=True)
        (folder / "settings.yaml").write_text(f"triggers: {{degradation: {{metric: {metric}}}}}\n")
    degradation.monitor(root, once=True, usecases=["broken", "good"], start=Recorder())
    out = capsys.readouterr().out
    assert "[monitor] broken: failed: " in out and "metric is 'f1'" in out
    assert "[monitor] good: no verdict: " in out  # its own metric is fine: it checked the model
    assert [d["decision"] for d in decisions(root)] == ["no verdict", "failed"]  # newest first


def test_cli_monitor_once(tmp_path, capsys):
    from mlops.cli import main

    bad = make_repo(tmp_path / "bad", window=10, min_samples=20)
    assert main(["--root", str(bad), "monitor", "--once"]) == 2
    assert "triggers.degradation.min_samples (20) is larger than" in capsys.readouterr().err

    good = make_repo(tmp_path / "good")
    publish(good, 1)
    serve(good, 1)
    assert main(["--root", str(good), "monitor", "--once"]) == 0  # no labels yet: no verdict
    out = capsys.readouterr().out
    assert "[monitor] no verdict: version 1 has 0 labelled predictions" in out
    assert len(list((good / ".local" / "monitoring").glob("degradation-*.md"))) == 1


# --- the join and the metrics ----------------------------------------------------------------


def _row(t: int, version: str, p: float, y: int) -> live_metrics.Labelled:
    from datetime import UTC, datetime

    return live_metrics.Labelled(datetime.fromtimestamp(t, UTC), version, p, y, f"r{t}", 0)


def test_auc_is_the_rank_statistic_with_ties_and_undefined_for_one_class():
    scores = [0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.2, 0.4]
    labels = [0, 0, 1, 1, 1, 0, 0, 1]
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    pairs = [(1.0 if p > n else 0.5 if p == n else 0.0) for p in pos for n in neg]
    assert live_metrics.auc(scores, labels) == pytest.approx(sum(pairs) / len(pairs))
    assert live_metrics.auc([0.2, 0.8], [1, 1]) is None
    assert live_metrics.binary_accuracy([0.5, 0.51, 0.2], [0, 1, 1]) == pytest.approx(2 / 3)


def test_the_window_is_the_last_n_labelled_predictions_per_version_by_time():
    rows = [_row(t, "1", 0.9, 1) for t in range(10)] + [_row(t, "1", 0.9, 0) for t in (10, 11)]
    rows += [_row(t, "2", 0.1, 0) for t in (3, 4)]
    figures = live_metrics.per_version(sorted(rows, key=lambda r: r.time), window=4)
    assert figures["1"]["count"] == 4 and figures["1"]["labelled_total"] == 12
    assert figures["1"]["binary_accuracy"] == 0.5  # times 8, 9 right; 10, 11 wrong
    assert figures["1"]["from"].startswith("1970-01-01T00:00:08")
    assert figures["2"]["count"] == 2 and figures["2"]["positive_rate"] == 0.0


def test_join_rules_index_default_true_false_and_later_files_correct_earlier(tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    lines = [
        {"request_id": "a", "time": "2024-01-01T00:00:00.000+00:00", "model_version": "3",
         "instances": [{}, {}], "predictions": [[0.8], [0.3]]},
        {"request_id": "b", "time": "2024-01-01T00:00:01.000+00:00", "model_version": "3",
         "instances": [{}], "predictions": [[0.6]]},
    ]  # fmt: skip
    (log / "requests-2024-01-01.jsonl").write_text(
        "".join(json.dumps(x) + "\n" for x in lines) + '{"request_id": "c", "ti'  # a torn line
    )
    labels = tmp_path / "labels"
    (labels / "day1").mkdir(parents=True)
    (labels / "day1" / "a.csv").write_text("request_id,label\na,TRUE\nb,false\n")
    (labels / "day1" / "b.jsonl").write_text(
        '{"request_id": "a", "index": 1, "label": 0}\n{"request_id": "a", "index": 2, "label": 1}\n'
    )
    (labels / "day2.csv").write_text("label,request_id,index\n1,b,0\n")  # corrects b
    (labels / "notes.txt").write_text("not a label file")
    read = live_metrics.read_labels(labels)
    joined = live_metrics.join(log, read)
    got = {(r.request_id, r.index): (r.prediction, r.label) for r in joined.labelled}
    assert got == {("a", 0): (0.8, 1), ("a", 1): (0.3, 0), ("b", 0): (0.6, 1)}
    assert joined.unmatched == 1 and joined.unmatched_examples == ["a#2"]
    assert joined.relabelled == 1 and joined.bad_log_lines == 1
    assert len(joined.label_files) == 3


def test_report_lists_each_version_threshold_and_verdict(repo):
    serve(repo, 1)
    ids = log_requests(repo, 1, [0.7] * 24 + [0.3] * 6)
    write_labels(repo, "a.csv", [(r, 0, 1) for r in ids])  # 24 of 30 right: 0.8
    result = degradation.check(repo, start=Recorder())
    text = result.report.read_text()
    assert result.decision == "ok"
    assert "Metric `binary_accuracy`, threshold 0.75, window: the last 40" in text
    assert "| 1 | stable | 30 / 30 | 0.8 | - | 1 | 0.62 |" in text
    assert "binary_accuracy 0.88" in text  # at deployment, from version.json
    assert json.loads(result.report.with_suffix(".json").read_text())["decision"] == "ok"


def test_the_loop_outlives_an_unexpected_error(tmp_path, capsys):
    root = make_repo(tmp_path / "repo")
    (root / ".local" / "lineage.sqlite").mkdir(parents=True)  # the store cannot open
    naps = []
    degradation.monitor(root, every_s=3, max_checks=2, sleep=naps.append, start=Recorder())
    assert naps == [3] and capsys.readouterr().out.count("[monitor] check failed:") == 2
    with pytest.raises(Exception, match="unable to open database"):
        degradation.monitor(root, once=True, start=Recorder())


def test_serving_state_and_deployed_metrics_from_a_gs_registry(tmp_path, gcs):
    bucket = gcs.create_bucket("models")
    state = {"stable": 4, "canary": {"version": 5, "traffic_percent": 10}}
    bucket.blob(f"registry/{MODEL}/serving.json").upload_from_string(json.dumps(state))
    info = {"version": 4, "metrics": {"auc": 0.91, "binary_accuracy": 0.86, "loss": 0.3}}
    bucket.blob(f"registry/{MODEL}/4/version.json").upload_from_string(json.dumps(info))
    root = make_repo(tmp_path / "repo")
    text = (
        (root / "settings.yaml")
        .read_text()
        .replace("registry: registry", "registry: gs://models/registry")
    )
    (root / "settings.yaml").write_text(text)
    settings = degradation.load_degradation_settings(root)
    assert settings.registry == "gs://models/registry"
    assert degradation.serving_state(settings) == {
        "stable": "4",
        "canary": "5",
        "canary_percent": 10,
    }
    assert degradation.deployed_metrics(settings, "4") == {"binary_accuracy": 0.86, "auc": 0.91}
    assert degradation.deployed_metrics(settings, "5") == {}


# --- by task ---------------------------------------------------------------------------------


def test_binary_metrics_compare_labels_to_the_class_names(tmp_path):
    task = Task("binary", ("no", "yes"), "test")
    # A line from before tasks (no task, no predicted): binary.
    write_log(tmp_path / "log", [{"request_id": "b1", "predictions": [[0.9], [0.6], [0.4], [0.2]]}])
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "a.csv").write_text("request_id,index,label\nb1,0,yes\nb1,1,no\nb1,2,yes\nb1,3,no\n")
    joined = live_metrics.join(tmp_path / "log", live_metrics.read_labels(labels, task), task)
    figures = live_metrics.per_version(joined.labelled, 10, "binary")["1"]
    # Predicted (p > 0.5): yes, yes, no, no against yes, no, yes, no: 2 of 4 right. AUC: the
    # positives' scores 0.9, 0.4 against the negatives' 0.6, 0.2: 3 of 4 pairs in order.
    assert figures["binary_accuracy"] == 0.5 and figures["auc"] == 0.75
    assert figures["positive_rate"] == 0.5 and figures["mean_prediction"] == pytest.approx(0.525)
    (labels / "b.csv").write_text("request_id,index,label\nb1,0,maybe\n")
    with pytest.raises(live_metrics.LabelError, match="b.csv:2: label 'maybe' is not a class of "
                       r"the model \(no, yes\)"):  # fmt: skip
        live_metrics.read_labels(labels, task)


def test_multiclass_accuracy_and_macro_f1_on_a_hand_made_log(tmp_path):
    task = Task("multiclass", ("a", "b", "c"), "test")
    write_log(tmp_path / "log", [
        {"request_id": "q1", "task": "multiclass", "predicted": ["a", "a"],
         "predictions": [[0.7, 0.2, 0.1], [0.5, 0.3, 0.2]]},
        {"request_id": "q2", "task": "multiclass", "predicted": ["b", "c"],
         "predictions": [[0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]},
        # No `predicted`: the argmax's class name.
        {"request_id": "q3", "task": "multiclass",
         "predictions": [[0.2, 0.2, 0.6], [0.3, 0.4, 0.3]]},
        # Answered by a model of another task: it joins nothing.
        {"request_id": "q4", "task": "regression", "predictions": [[1.5]], "predicted": [1.5]},
    ])  # fmt: skip
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "a.csv").write_text("request_id,index,label\nq1,0,a\nq1,1,b\nq2,0,b\nq2,1,c\n")
    (labels / "b.jsonl").write_text(
        '{"request_id": "q3", "index": 0, "label": "a"}\n'
        '{"request_id": "q3", "index": 1, "label": "b"}\n{"request_id": "q4", "label": "a"}\n'
    )
    joined = live_metrics.join(tmp_path / "log", live_metrics.read_labels(labels, task), task)
    assert [r.predicted for r in joined.labelled] == ["a", "a", "b", "c", "c", "b"]
    assert [r.label for r in joined.labelled] == ["a", "b", "b", "c", "a", "b"]
    assert joined.unmatched == 1 and joined.other_task_lines == 1
    figures = live_metrics.per_version(joined.labelled, 10, "multiclass")["1"]
    assert figures["accuracy"] == pytest.approx(4 / 6)
    # F1 = 2TP / (2TP + FP + FN): a 2/(2+1+1) = 1/2, b 4/(4+0+1) = 4/5, c 2/(2+1+0) = 2/3.
    assert figures["macro_f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    assert figures["label_classes"] == 3 and "auc" not in figures


def test_regression_mae_and_rmse_on_a_hand_made_log_with_the_task_from_settings(tmp_path):
    root = make_repo(
        tmp_path / "repo", model_task="regression", metric="rmse", threshold=1.2, window=4,
        min_samples=4,
    )  # fmt: skip
    publish(root, 1, {"root_mean_squared_error": 0.9})  # no mlops_model.json: model.task counts
    serve(root, 1)
    write_log(root / ".local" / "request_logs" / MODEL, [
        {"request_id": "v1", "task": "regression", "predictions": [[3.0], [5.0]],
         "predicted": [3.0, 5.0]},
        {"request_id": "v2", "task": "regression", "predictions": [[2.5], [10.0]],
         "predicted": [2.5, 10.0]},
    ])  # fmt: skip
    (root / "labels" / "a.csv").write_text("request_id,index,label\nv1,0,2\nv1,1,7.0\nv2,0,2.5\n")
    (root / "labels" / "b.jsonl").write_text('{"request_id": "v2", "index": 1, "label": 11}\n')
    start = Recorder()
    result = degradation.check(root, start=start)
    figures = result.figures["versions"]["1"]
    # Errors 1, -2, 0, -1: MAE 4/4, RMSE sqrt(6/4).
    assert figures["mae"] == 1.0 and figures["rmse"] == pytest.approx(1.5**0.5)
    assert figures["mean_label"] == 5.625 and figures["mean_prediction"] == 5.125
    assert result.figures["task"]["source"] == "settings.yaml model.task"
    assert result.decision == "retrain" and len(start.calls) == 1
    assert result.reason.startswith(
        "rmse of version 1 is 1.225 over the last 4 labelled predictions, above the threshold "
        "1.2 by 0.025; it was 0.9 at deployment"
    )
    (root / "labels" / "c.csv").write_text("request_id,index,label\nv1,0,abc\n")
    bad = degradation.check(root, start=start)
    assert bad.decision == "failed" and "c.csv:2: label 'abc' is not a number" in bad.reason


@contextlib.contextmanager
def serving_in_process(root: Path, task: str, metrics: dict):
    """The tiny model of the task as version 1 (stable), served by the real service in this
    process, logging every request as `make serve` does. Yields the predict URL."""
    sys.path.insert(0, str(DEPLOY_SRC))
    from deploy_model.serve import Service

    publish(root, 1, metrics, make_tiny_model(root.parent / f"{task}_model", task))
    serve(root, 1)
    log = root / ".local" / "request_logs" / MODEL
    with Service(str(root / "registry"), MODEL, poll_s=5, request_log=str(log)) as service:
        yield service.url + ":predict"


def test_a_regression_model_whose_mae_rises_above_the_threshold_starts_a_retrain(tmp_path):
    root = make_repo(tmp_path / "repo", model_task="regression", metric="mae", threshold=1.0)
    with serving_in_process(root, "regression", {"mae": 0.4, "loss": 0.3}) as url:
        answers = [predict(url, [float(i), i + 0.5]) for i in range(10)]  # 20 predictions
    assert answers[3]["predictions"] == [[6.0], [7.0]] and "classes" not in answers[3]

    def value(answer, index):
        return answer["predictions"][index][0]

    # First labels: each half a unit above the prediction: MAE 0.5.
    write_labels(root, "a.csv", [(a["request_id"], i, value(a, i) + 0.5) for a in answers
                                 for i in (0, 1)])  # fmt: skip
    start = Recorder()
    first = degradation.check(root, start=start)
    assert first.decision == "ok" and start.calls == []
    assert first.reason == (
        "mae of version 1 is 0.5 over the last 20 labelled predictions, at or below the "
        "threshold 1; it was 0.4 at deployment"
    )
    # Later labels for the last 5 requests: 3 below each prediction. 10 errors of 0.5 and 10
    # of 3: MAE 1.75, above the threshold: a retrain.
    write_labels(root, "b.jsonl", [(a["request_id"], i, value(a, i) - 3) for a in answers[5:]
                                   for i in (0, 1)])  # fmt: skip
    second = degradation.check(root, start=start)
    expected = (
        "mae of version 1 is 1.75 over the last 20 labelled predictions, above the threshold 1 "
        "by 0.75; it was 0.4 at deployment"
    )
    assert second.decision == "retrain" and second.reason.startswith(expected)
    assert len(start.calls) == 1 and start.calls[0]["reason"].startswith(expected)
    window = second.figures["versions"]["1"]
    assert window["rmse"] == pytest.approx(((10 * 0.5**2 + 10 * 3**2) / 20) ** 0.5)
    assert second.figures["task"]["task"] == "regression"
    assert second.figures["task"]["source"].endswith(f"{MODEL}/1/mlops_model.json")
    report = second.report.read_text()
    assert "Direction: lower mae is better: a version degrades when it rises above the " in report
    assert "| version | role | labelled (window / all) | mae | rmse | mean label |" in report
    assert "| 1 | stable | 20 / 20 | 1.75 | 2.151 |" in report
    assert expected in report
    recorded = decisions(root)[0]
    assert recorded["details"]["task"] == "regression" and recorded["details"]["value"] == 1.75
    # The same degradation starts nothing more.
    assert degradation.check(root, start=start).decision == "held" and len(start.calls) == 1


def test_a_multiclass_model_whose_macro_f1_falls_below_the_threshold_starts_a_retrain(tmp_path):
    root = make_repo(tmp_path / "repo", model_task="multiclass", metric="macro_f1", threshold=0.8)
    with serving_in_process(root, "multiclass", {"accuracy": 0.95}) as url:
        answers = [predict(url, [2.0, 10.0, 20.0]) for _ in range(10)]  # 30 predictions
    assert [c["class"] for c in answers[0]["classes"]] == SIZES
    logged = (root / ".local" / "request_logs" / MODEL).glob("requests-*.jsonl")
    line = json.loads(next(logged).read_text().splitlines()[0])
    assert line["task"] == "multiclass" and line["predicted"] == SIZES

    # First labels agree with every prediction.
    write_labels(root, "a.csv", [(a["request_id"], i, SIZES[i]) for a in answers for i in range(3)])
    start = Recorder()
    first = degradation.check(root, start=start)
    assert first.decision == "ok" and start.calls == []
    assert first.figures["versions"]["1"]["accuracy"] == 1.0
    # version.json has no macro_f1 (only accuracy): no value at deployment to compare with.
    assert first.reason == (
        "macro_f1 of version 1 is 1 over the last 30 labelled predictions, at or above the "
        "threshold 0.8"
    )
    # Later labels: in the last 5 requests the small and the large fare were medium.
    # small: TP 5, FP 5, FN 0 -> F1 10/15; medium: TP 10, FP 0, FN 10 -> 20/30; large as
    # small: macro F1 2/3, below 0.8. Accuracy 20/30.
    write_labels(root, "b.jsonl", [(a["request_id"], i, "medium") for a in answers[5:]
                                   for i in (0, 2)])  # fmt: skip
    second = degradation.check(root, start=start)
    expected = (
        "macro_f1 of version 1 is 0.667 over the last 30 labelled predictions, below the "
        "threshold 0.8 by 0.133"
    )
    assert second.decision == "retrain" and second.reason.startswith(expected)
    assert len(start.calls) == 1
    window = second.figures["versions"]["1"]
    assert window["macro_f1"] == pytest.approx(2 / 3) and window["accuracy"] == pytest.approx(2 / 3)
    report = second.report.read_text()
    assert "Direction: higher macro_f1 is better: a version degrades when it falls below" in report
    assert "| 1 | stable | 30 / 30 | 0.667 | 0.667 | 3 |" in report
    assert "Task `multiclass`" in report and "classes: small, medium, large" in report


@pytest.mark.parametrize(
    "model_task, change, message",
    [
        ("regression", {"metric": "auc"},
         "triggers.degradation.metric is 'auc', a binary metric, but the task is regression "
         "(settings.yaml model.task); use one of mae, rmse"),
        ("", {"metric": "mae", "threshold": 2},
         "triggers.degradation.metric is 'mae', a regression metric, but the task is binary "
         "(no model.task in settings.yaml); use one of binary_accuracy, auc"),
        (None, {"metric": "mae", "threshold": 2},
         "triggers.degradation.metric is 'mae', a regression metric, but the task is binary "
         "(settings.yaml model.task); use one of binary_accuracy, auc"),
        ("multiclass", {"metric": "f1"},
         "triggers.degradation.metric is 'f1'; use one of accuracy, macro_f1 (the metrics of "
         "the task multiclass)"),
        ("ranking", {}, "model.task is 'ranking'; expected one of binary, multiclass, regression"),
        ("regression", {"metric": "mae", "threshold": -1},
         "triggers.degradation.threshold is -1; expected a number of at least 0 (mae)"),
        ("multiclass", {"metric": "accuracy", "threshold": 1.5},
         "triggers.degradation.threshold is 1.5; expected a number between 0 and 1"),
    ],
)  # fmt: skip
def test_a_metric_that_does_not_fit_the_task_is_named(tmp_path, model_task, change, message):
    root = make_repo(tmp_path / "repo", model_task=model_task, **change)
    with pytest.raises(BuildError) as caught:
        degradation.load_degradation_settings(root)
    assert message in str(caught.value)


def test_an_error_threshold_may_exceed_one(tmp_path):
    root = make_repo(tmp_path / "repo", model_task="regression", metric="rmse", threshold=250)
    settings = degradation.load_degradation_settings(root)
    assert (settings.task, settings.metric, settings.threshold) == ("regression", "rmse", 250.0)
    assert settings.describe()["direction"].startswith("lower rmse is better")


def test_a_metric_that_does_not_fit_the_served_models_task_fails_the_check(repo):
    # Settings say binary (no model.task), but version 1's sidecar says multiclass.
    sidecar = {"raw_feature_spec": {"fare": {"dtype": "float32"}}, "task": "multiclass",
               "classes": SIZES}  # fmt: skip
    (repo / "registry" / MODEL / "1" / "mlops_model.json").write_text(json.dumps(sidecar))
    serve(repo, 1)
    start = Recorder()
    result = degradation.check(repo, start=start)
    assert result.decision == "failed" and start.calls == []
    assert (
        "triggers.degradation.metric is 'binary_accuracy', which does not fit the task "
        f"multiclass of the served model ({repo / 'registry' / MODEL / '1' / 'mlops_model.json'}"
        "); use one of accuracy, macro_f1"
    ) in result.reason
    assert decisions(repo)[0]["decision"] == "failed"
