"""The degradation trigger (mlops.monitoring.degradation, mlops.monitoring.live_metrics): the
real prediction service
writes the request log, labels arrive later as CSV/JSONL and are joined to it, live metrics per
model version over a sliding window, the retrain decision on the stable version (once per
degradation), the report, bad label files and bad settings as failed checks, and the CLI.

Retraining runs are started through an injected recording `start` (mlops.triggers.runs, which
starts real runs, is tested by its own tests)."""

from __future__ import annotations

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


def test_the_default_start_is_trigger_runs_start_run_with_this_call():
    import inspect

    from mlops.triggers import runs as trigger_runs

    # The call degradation makes must bind to the real function's signature.
    inspect.signature(trigger_runs.start_run).bind(
        Path("."), degradation.PIPELINE, "why", data="data.csv", env="local"
    )
    assert degradation.PIPELINE in trigger_runs.PIPELINES


def make_repo(root: Path, **degradation_settings) -> Path:
    """A repository root with this repo's settings.yaml, its registry under root and
    triggers.degradation replaced (a key set to None is dropped)."""
    settings = repo_settings()
    settings["serving"]["registry"] = "registry"
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


def make_tiny_model(path: Path) -> Path:
    """A SavedModel with the contract's serving_default (serialized tf.Examples -> [p]) and
    the mlops_model.json sidecar: p = sigmoid(0.5 * fare - 5), so p > 0.5 iff fare > 10."""
    import tensorflow as tf

    class Tiny(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serving_default(self, examples):
            spec = {"fare": tf.io.FixedLenFeature([], tf.float32, default_value=0.0)}
            fare = tf.io.parse_example(examples, spec)["fare"]
            return {"outputs": tf.sigmoid(0.5 * fare - 5.0)[:, None]}

    module = Tiny()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serving_default})
    sidecar = {"label_key": "big_tipper", "raw_feature_spec": {"fare": {"dtype": "float32"}}}
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
