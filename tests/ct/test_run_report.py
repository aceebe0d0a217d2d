"""The end of a CT run: the summary and the one-page report, from what the steps wrote."""

import html
import json
import re
from pathlib import Path

from mlops.ct import run_report
from mlops.ct.ct_run import CtRun, stopping_step
from mlops.local_runs.runner import ArtifactRecord, TaskRecord
from mlops.testing.html_text import table_rows, texts


def _step(task: str, outputs: list[ArtifactRecord], status: str = "SUCCESS") -> TaskRecord:
    return TaskRecord(
        task=task, component=f"comp-{task}", image_ref=f"r/{task}:sha@sha256:1",
        output_artifacts=outputs, started_at=100.0, ended_at=104.5, status=status,
        peak_rss_bytes=300 * 2**20,
    )  # fmt: skip


def _artifact(tmp_path: Path, task: str, name: str, files: dict, metadata=None):
    folder = tmp_path / task / name
    folder.mkdir(parents=True)
    for filename, content in files.items():
        (folder / filename).write_text(content if isinstance(content, str) else json.dumps(content))
    return ArtifactRecord(name, "system.Artifact", str(folder), metadata or {})


def _result(tmp_path: Path, steps, status="SUCCEEDED", failed=None, reason=None) -> CtRun:
    return CtRun(
        run_dir=tmp_path, status=status, seconds=61.2, steps=steps,
        arguments={"source": "/data/taxi.csv"}, previous_statistics="/stats",
        failed_task=failed, reason=reason, service={"url": "http://h:1/v1/models/m",
        "action": "started"}, lineage_run="run-1",
    )  # fmt: skip


def test_summary_and_report_of_a_blessed_run(tmp_path):
    html_report = "<html><body><h1>TFDV says fine</h1></body></html>"
    steps = [
        _step("extract-data", [ArtifactRecord("metrics", "system.Metrics", "/m", {"rows_train": 20.0, "rows_eval": 10.0})]),  # noqa: E501
        _step("validate-data", [
            _artifact(tmp_path, "v", "anomalies", {"summary.json": {"decision": "continue", "anomalies": []}}),  # noqa: E501
            ArtifactRecord("report", "system.HTML", str(tmp_path / "v.html")),
        ]),
        _step("evaluate-model", [
            _artifact(tmp_path, "e", "evaluation", {"slice_metrics.json": {
                "baseline": {"version": 3}, "slices": [{"slice": "Overall", "candidate": {
                    "auc": 0.95, "example_count": 10.0}, "diff": {"auc": 0.01}},
                    {"slice": "payment_type=Dispute", "candidate": {"auc": 0.0, "example_count": 1.0},  # noqa: E501
                     "diff": {"auc": 0.0}}]}}),
            _artifact(tmp_path, "e", "blessing", {"blessing.json": {
                "blessed": True, "baseline_version": 3, "reasons": ["AUC passes"]}}),
        ]),
        _step("deploy-model", [_artifact(tmp_path, "d", "deployment", {"deployment.json": {
            "version": 4, "stable": 3, "canary": {"version": 4, "traffic_percent": 10}}})]),
    ]  # fmt: skip
    (tmp_path / "v.html").write_text(html_report)
    result = _result(tmp_path, steps)
    result.report = run_report.write(result, tmp_path / "report.html")
    text = run_report.summary_text(result)
    assert "rows per split: train 20, eval 10" in text
    assert "data validation: continue, 0 anomalies" in text
    assert "Overall" in text and "0.95 (+0.01)" in text and "vs serving version 3" in text
    [dispute] = [line for line in text.splitlines() if "payment_type=Dispute" in line]
    assert dispute.split()[1:3] == ["1", "0"]  # a count of 1, then the AUC
    assert "blessing: BLESSED against serving version 3: AUC passes" in text
    assert 'deployment: version 4; stable 3, canary {"version": 4' in text
    assert "served at http://h:1/v1/models/m" in text
    page = result.report.read_text()
    assert texts(page, "p", "ok") == ["SUCCEEDED in 1 min 1 s"]
    assert "Blessing: BLESSED" in texts(page, "h2")  # the heading holds the verdict
    assert texts(page, "span", "ok") == ["BLESSED"] and texts(page, "li") == ["AUC passes"]
    assert ["data", "/data/taxi.csv"] in table_rows(page)
    assert [["train", "20", "-"], ["eval", "10", "-"]] == [
        r for r in table_rows(page) if r[:1] in (["train"], ["eval"])
    ]
    # The validation report embedded in its frame; no evaluation report in this run.
    (frame,) = re.findall(r'<iframe srcdoc="([^"]*)"', page)
    assert html.unescape(frame) == html_report
    sections = re.split(r"<h2>", page)
    (evaluation,) = [s for s in sections if s.startswith("Model evaluation")]
    assert texts("<h2>" + evaluation, "p") == ["Not produced in this run."]
    # Numbers for people, no JSON in a cell, and the steps' times as a chart.
    assert "<td>4.5 s</td><td>300 MB</td>" in page and "4.5000" not in page
    assert "<tr><td>canary</td><td>version 4; traffic_percent 10</td></tr>" in page
    assert '{"' not in re.sub(r"<iframe .*?</iframe>", "", page, flags=re.S)
    (timeline,) = re.findall(r"<svg .*?</svg>", page, re.S)
    assert "<title>Steps over time</title>" in timeline
    assert timeline.count('<g class="mark">') == len(steps)
    assert all(f">{s.task}<" in timeline for s in steps)


def test_the_report_shows_training_side_by_side_and_embeds_the_step_reports(tmp_path):
    metrics = {"train_loss": 0.31234567, "train_auc": 0.9481234, "train_examples": 9945.0,
               "eval_loss": 0.3345, "eval_auc": 0.94, "eval_examples": 5057.0,
               "epochs_run": 8.0, "training_seconds": 48.61}  # fmt: skip
    reports = {}
    for task in ("validate-data", "train-model", "evaluate-model"):
        reports[task] = tmp_path / f"{task}.html"
        reports[task].write_text(f"<html><svg><title>{task} chart</title></svg></html>")
    steps = [
        _step("validate-data", [ArtifactRecord("report", "system.HTML", str(reports["validate-data"]))]),  # noqa: E501
        _step("train-model", [ArtifactRecord("metrics", "system.Metrics", "/m", metrics),
                              ArtifactRecord("report", "system.HTML", str(reports["train-model"]))]),  # noqa: E501
        _step("evaluate-model", [ArtifactRecord("report", "system.HTML", str(reports["evaluate-model"]))]),  # noqa: E501
    ]  # fmt: skip
    steps[1].cached_from = 41  # a reused step is drawn as such
    page = run_report.write(_result(tmp_path, steps), tmp_path / "report.html").read_text()
    assert "<tr><td>loss</td><td>0.312</td><td>0.335</td></tr>" in page
    assert "<tr><td>examples</td><td>9,945</td><td>5,057</td></tr>" in page
    assert "<tr><td>training seconds</td><td>49 s</td></tr>" in page
    assert "<tr><td>epochs run</td><td>8</td></tr>" in page
    for task in reports:  # each step's own report, embedded (escaped into its frame)
        assert f"&lt;title&gt;{task} chart&lt;/title&gt;" in page
    assert page.index("validate-data chart") < page.index("train-model chart")
    assert page.index("train-model chart") < page.index("evaluate-model chart")
    assert ">cached<" in re.findall(r"<svg .*?</svg>", page, re.S)[0]


def test_an_unchanged_deployment_names_the_version_of_the_same_content(tmp_path):
    record = {"version": 3, "stable": 3, "canary": None, "unchanged": True, "role": "stable",
              "skipped": False, "reason": "unchanged: ..."}  # fmt: skip
    steps = [_step("deploy-model", [_artifact(tmp_path, "d", "deployment",
                                              {"deployment.json": record})])]  # fmt: skip
    text = run_report.summary_text(_result(tmp_path, steps))
    assert "deployment: unchanged, the same content as version 3 (stable); nothing pushed" in text
    assert "deployment: version" not in text


def test_a_run_stopped_at_validation_shows_why(tmp_path):
    written = tmp_path / "pipeline-1" / "validate-data" / "anomalies"
    written.mkdir(parents=True)
    summary = {"decision": "stop", "anomalies": [{"section": "train", "feature": "fare",
               "anomaly": "High Linfty distance"}], "drifted_features": ["fare"]}  # fmt: skip
    (written / "summary.json").write_text(json.dumps(summary))
    steps = [_step("extract-data", []), _step("validate-data", [], status="FAILURE")]
    result = _result(tmp_path, steps, "FAILED", "validate-data", "drift in fare")
    result.report = run_report.write(result, tmp_path / "report.html")
    text = run_report.summary_text(result)
    assert "data validation: stop, 1 anomalies (fare: High Linfty distance)" in text
    assert "STOPPED at validate-data: drift in fare" in text
    assert texts(result.report.read_text(), "p", "bad") == [
        "FAILED in 1 min 1 s: stopped at validate-data: drift in fare"
    ]


def test_the_step_that_stopped_a_run_is_validation_when_it_failed():
    def step(task, status, ended_at):
        record = _step(task, [], status)
        record.ended_at = ended_at
        return record

    transform_first = [
        step("extract-data", "SUCCESS", 1.0),
        step("transform-data", "FAILURE", 5.0),  # failed on the bad data, before the verdict
        step("validate-data", "FAILURE", 7.0),
    ]
    assert stopping_step(transform_first).task == "validate-data"
    assert stopping_step(transform_first[:2]).task == "transform-data"
    later = [step("train-model", "FAILURE", 9.0), step("x", "CANCELLED", 8.0)]
    assert stopping_step(later).task == "train-model"
    assert stopping_step([step("extract-data", "SUCCESS", 1.0)]) is None


def test_the_summary_shows_the_tasks_own_metrics_and_rows_without_a_label(tmp_path):
    rows = {"rows_train": 20.0, "rows_eval": 10.0, "label_missing_train": 2.0,
            "label_missing_eval": 1.0}  # fmt: skip
    slices = {"slices": [{"slice": "Overall", "candidate": {
        "mean_squared_error": 1.25, "example_count": 10.0, "mean_absolute_error": 0.75,
        "confusion": {"not": "a scalar"}}}]}  # fmt: skip
    steps = [
        _step("extract-data", [ArtifactRecord("metrics", "system.Metrics", "/m", rows)]),
        _step("evaluate-model", [_artifact(tmp_path, "e", "evaluation",
                                           {"slice_metrics.json": slices})]),
    ]  # fmt: skip
    result = _result(tmp_path, steps)
    text = run_report.summary_text(result)
    assert "rows per split: train 20, eval 10\n" in text
    assert "rows without a label (not trained or evaluated on): train 2, eval 1" in text
    assert "candidate): example_count, mean_squared_error, mean_absolute_error\n" in text
    [overall] = [line for line in text.splitlines() if line.strip().startswith("Overall")]
    assert overall.split()[1:] == ["10", "1.25", "0.75"]
    page = run_report.write(result, tmp_path / "report.html").read_text()
    assert "<tr><td>train</td><td>20</td><td>2</td></tr>" in page


def test_a_multiclass_summary_shows_accuracy_and_averages_before_per_class_metrics():
    candidate = {"auc/class_id=0": 0.9, "auc/macro_average": 0.95, "example_count": 9.0,
                 "precision/class_id=0": 0.8, "sparse_categorical_accuracy": 0.7}  # fmt: skip
    assert run_report.summary_metrics({"slices": [{"candidate": candidate}]}) == [
        "example_count", "sparse_categorical_accuracy", "auc/macro_average", "auc/class_id=0",
        "precision/class_id=0",
    ]  # fmt: skip


def test_the_summary_says_where_each_steps_log_is(tmp_path):
    earlier = tmp_path.parent / "earlier-run" / "logs" / "extract-data.log"
    cached = _step("extract-data", [])
    cached.cached_from, cached.log_path = 113, str(earlier)  # the reused execution's log
    train = _step("train-model", [])
    train.log_path = str(tmp_path / "logs" / "train-model.log")
    text = run_report.summary_text(_result(tmp_path, [cached, train]))
    assert f"extract-data     CACHED   (execution 113)  {earlier}\n" in text
    [line] = [x for x in text.splitlines() if x.startswith("  train-model")]
    assert line.endswith("peak RSS  300 MB  logs/train-model.log")
    assert f"step logs (a file per step): {tmp_path / 'logs'}/" in text


def test_a_run_stopped_by_a_killed_step_says_how_it_was_killed(tmp_path):
    from mlops.ct.ct_run import _reason

    killed = _step("train-model", [], status="FAILURE")
    killed.exit_code, killed.oom_killed, killed.log_tail = 137, True, ["Epoch 1/8"]
    reason = _reason(killed, tmp_path, RuntimeError("Inner task failed"))
    assert reason == "killed by SIGKILL (exit code 137): out of memory"
    killed.oom_killed = False
    assert _reason(killed, tmp_path, RuntimeError("x")) == "killed by SIGKILL (exit code 137)"
    failed = _step("train-model", [], status="FAILURE")
    failed.exit_code = 1
    failed.log_tail = ["Traceback (most recent call last):", '  File "t.py", line 1',
                       "ValueError: no rows", "", "a later line"]  # fmt: skip
    assert _reason(failed, tmp_path, RuntimeError("x")) == "ValueError: no rows"
    result = _result(tmp_path, [killed], "FAILED", "train-model", reason)
    assert "STOPPED at train-model: killed by SIGKILL (exit code 137): out of memory" in (
        run_report.summary_text(result)
    )
