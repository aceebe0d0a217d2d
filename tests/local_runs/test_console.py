"""What a local run prints, without an engine: each step's headline from its outputs, the
error lines of a failed step's log, how a killed container was killed (from the engine's
inspect data), the live line on a terminal and never on a pipe, the lines of a step's start
and end, the log files, the memory limit a task is compiled with, and kfp.local's own logging
silenced unless verbose."""

import io
import logging

import pytest

from mlops.local_runs import console, step_logs
from mlops.local_runs.headline import headline, number
from mlops.local_runs.runner import ArtifactRecord, TaskRecord

# What the CT steps report, as the lineage store of a real run recorded it.
EXTRACT = {
    "label_missing_eval": 0.0, "label_missing_train": 0.0, "label_values_eval": 279.0,
    "label_values_train": 381.0, "rows_eval": 5057.0, "rows_total": 15002.0,
    "rows_train": 9945.0,
}  # fmt: skip
VALIDATION = {
    "anomalies": 0.0, "anomalies_eval": 0.0, "anomalies_train": 0.0, "drifted_features": 0.0,
    "examples_eval": 5057.0, "examples_train": 9945.0, "passed": 1.0, "skewed_features": 0.0,
}  # fmt: skip
TRAINING = {
    "epochs_run": 8.0, "eval_auc": 0.947569, "eval_binary_accuracy": 0.893217,
    "eval_examples": 5057.0, "eval_loss": 0.212993, "eval_positive_rate": 0.226617,
    "train_auc": 0.964687, "train_binary_accuracy": 0.913022, "train_examples": 9945.0,
    "train_loss": 0.180737, "train_positive_rate": 0.224837, "training_seconds": 13.7,
    "tuning_trials": 0.0,
}  # fmt: skip
EVALUATION = {
    "auc": 0.9203403402759868, "baseline_auc": 0.9472955748921048,
    "baseline_binary_accuracy": 0.8916481687014428, "baseline_example_count": 50456.0,
    "binary_accuracy": 0.8699460916442049, "calibration": 0.9257945483586946,
    "example_count": 50456.0, "precision": 0.7271302102545186, "recall": 0.6863683844011143,
}  # fmt: skip


def step(task="t", parameters=None, artifacts=(), **kw) -> TaskRecord:
    record = TaskRecord(
        task=task, component=f"comp-{task}", image_ref="r/t:1", started_at=100.0,
        ended_at=kw.pop("ended_at", 112.34), status=kw.pop("status", "SUCCESS"),
        output_parameters=parameters or {}, output_artifacts=list(artifacts), **kw,
    )  # fmt: skip
    return record


def metrics(values, name="metrics") -> ArtifactRecord:
    return ArtifactRecord(name, "system.Metrics", "/m", dict(values))


# --- headlines ---------------------------------------------------------------------------------


def test_numbers_read_as_counts_or_rates():
    assert [number(v) for v in (15002.0, 3, 0.947569, 12.3456, 1234.5, 0.0001234)] == [
        "15,002", "3", "0.948", "12.3", "1,234", "0.00012",
    ]  # fmt: skip


def test_extraction_and_transformation_headlines_are_rows_per_split():
    assert headline(step(artifacts=[metrics(EXTRACT)])) == "9,945 train + 5,057 eval rows"
    transformed = metrics({"eval_rows": 5057.0, "train_rows": 9945.0})
    assert headline(step(artifacts=[transformed])) == "9,945 train + 5,057 eval rows"
    unlabelled = metrics({**EXTRACT, "label_missing_train": 12.0, "label_missing_eval": 3.0})
    assert headline(step(artifacts=[unlabelled])).endswith("rows, 15 without a label")


def test_validation_headline_is_the_decision_anomalies_and_drift():
    clean = step(parameters={"decision": "continue"}, artifacts=[metrics(VALIDATION, "summary")])
    assert headline(clean) == "decision: continue, 0 anomalies, 0 drifted features"
    found = {**VALIDATION, "anomalies": 1.0, "drifted_features": 2.0, "skewed_features": 1.0}
    stopped = step(parameters={"decision": "stop"}, artifacts=[metrics(found, "summary")])
    assert headline(stopped) == ("decision: stop, 1 anomaly, 2 drifted features, 1 skewed feature")


def test_training_headline_is_the_tasks_metric_on_the_held_out_split():
    assert headline(step(artifacts=[metrics(TRAINING)])) == "eval auc 0.948, binary_accuracy 0.893"
    regression = {
        "eval_loss": 9.1, "eval_mean_absolute_error": 2.04, "eval_root_mean_squared_error": 3.02,
        "eval_label_mean": 11.0, "train_mean_absolute_error": 1.9, "epochs_run": 8.0,
    }  # fmt: skip
    assert headline(step(artifacts=[metrics(regression)])) == (
        "eval root_mean_squared_error 3.02, mean_absolute_error 2.04"
    )
    multiclass = {"eval_sparse_categorical_accuracy": 0.91, "eval_majority_class_accuracy": 0.4}
    assert headline(step(artifacts=[metrics(multiclass)])) == (
        "eval sparse_categorical_accuracy 0.91"
    )


def test_evaluation_headline_is_the_blessing_and_the_metric_against_the_baseline():
    blessing = ArtifactRecord("blessing", "system.Artifact", "/b", {"blessed": False})
    record = step(parameters={"blessed": "false"}, artifacts=[blessing, metrics(EVALUATION)])
    assert headline(record) == (
        "NOT BLESSED, auc 0.92 (baseline 0.947), binary_accuracy 0.87 (baseline 0.892)"
    )
    first = step(parameters={"blessed": "true"}, artifacts=[metrics({"mean_squared_error": 9.5})])
    assert headline(first) == "BLESSED, mean_squared_error 9.5"


def test_metrics_of_unknown_names_still_make_a_headline():
    record = step(artifacts=[metrics({"example_count": 10.0, "f2_score": 0.5, "kappa": 0.25})])
    assert headline(record) == "f2_score 0.5, kappa 0.25"


def test_deployment_headlines_say_the_version_unchanged_or_nothing_deployed():
    def deploy(parameter, **metadata):
        artifact = ArtifactRecord("deployment", "system.Artifact", "/d", metadata)
        return headline(step(parameters={"version": parameter}, artifacts=[artifact]))

    base = {"skipped": False, "unchanged": False}
    assert deploy("8", **base, version=8.0, reason="canary") == "deployed version 8 (canary)"
    assert deploy("3", **{**base, "unchanged": True}, version=3.0, reason="same content") == (
        "unchanged: the content of version 3"
    )
    skipped = {**base, "skipped": True, "version": ""}
    why = "skipped: not blessed: evaluate_model wrote NOT_BLESSED"
    assert deploy("", **skipped, reason=why) == (
        "nothing deployed: not blessed: evaluate_model wrote NOT_BLESSED"
    )


def test_other_output_parameters_are_shown_by_name_long_ones_are_not():
    assert headline(step(parameters={"version": "1"})) == "version 1"
    assert headline(step(parameters={"version": ""})) == "no version"
    assert headline(step(parameters={"words": 4, "path": "/x" * 40})) == "words 4"
    assert headline(step()) == ""


# --- what explains a failure ----------------------------------------------------------------------

TF_NOISE = [
    "2026-11-25 21:49:34.401358: E external/local_xla/xla/stream_executor/cuda/cuda_fft.cc:479]"
    " Unable to register cuFFT factory: Attempting to register factory for plugin cuFFT",
    "/opt/venv/lib/python3.11/site-packages/google/api_core/x.py:275: FutureWarning: upgrade",
    "  warnings.warn(message, FutureWarning)",
]
TRACEBACK = TF_NOISE + [
    "Epoch 1/8",
    "Traceback (most recent call last):",
    '  File "/app/train_model/main.py", line 180, in <module>',
    "    run_then_exit(main)",
    '  File "/app/train_model/train.py", line 42, in fit',
    "    raise ValueError(f'label {name!r}: 3 classes, the task binary needs 2')",
    "ValueError: label 'tips': 3 classes, the task binary needs 2",
    "",
]


def test_a_traceback_gives_its_innermost_frame_and_the_exception():
    assert step_logs.error_lines(TRACEBACK) == [
        '  File "/app/train_model/train.py", line 42, in fit',
        "    raise ValueError(f'label {name!r}: 3 classes, the task binary needs 2')",
        "ValueError: label 'tips': 3 classes, the task binary needs 2",
    ]
    assert step_logs.error_summary(TRACEBACK) == (
        "ValueError: label 'tips': 3 classes, the task binary needs 2"
    )


def test_the_last_of_chained_tracebacks_counts_with_its_whole_message():
    log = [
        "Traceback (most recent call last):",
        '  File "a.py", line 1, in <module>',
        "KeyError: 'x'",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        '  File "b.py", line 2, in run',
        "    beam.run()",
        "RuntimeError: a Beam stage failed:",
        "  while running ReadFromText",
        "",
        "unrelated output after the traceback",
    ]
    assert step_logs.error_lines(log) == [
        '  File "b.py", line 2, in run',
        "    beam.run()",
        "RuntimeError: a Beam stage failed:",
        "  while running ReadFromText",
    ]


def test_without_a_traceback_the_lines_naming_an_error_and_the_last_line():
    log = TF_NOISE + [
        "reading /data/taxi.csv",
        "ERROR: 12 rows have no fare",
        "  train: fare: Unexpected data type",
        "validate_data: 3 anomalies and --fail-on-anomalies is true; see /r/report.html",
    ]
    assert step_logs.error_lines(log) == [
        "ERROR: 12 rows have no fare",
        "validate_data: 3 anomalies and --fail-on-anomalies is true; see /r/report.html",
    ]
    assert step_logs.error_summary(log) == "ERROR: 12 rows have no fare"
    quiet = ["train_model: --label_key big_tipper not in the transformed schema", ""]
    assert step_logs.error_lines(quiet) == [quiet[0]]
    assert step_logs.error_summary([]) is None


def test_long_lines_are_cut():
    (line,) = step_logs.error_lines(["x" * 1000])
    assert len(line) == step_logs.LINE_CHARS and line.endswith("…")


# --- how a container ended ------------------------------------------------------------------------


def test_an_oom_kill_is_read_from_the_engines_state_and_named():
    attrs = {"State": {"Status": "exited", "ExitCode": 137, "OOMKilled": True}}
    exit_code, oom = step_logs.container_end(attrs)
    assert (exit_code, oom) == (137, True)
    assert step_logs.kill_reason(exit_code, oom, 64 * 10**6) == (
        "killed by SIGKILL (exit code 137): out of memory (limit 61 MB)"
    )


def test_a_kill_without_oom_names_the_signal_and_an_exit_is_no_kill():
    attrs = {"State": {"ExitCode": 137, "OOMKilled": False}}
    assert step_logs.kill_reason(*step_logs.container_end(attrs)) == (
        "killed by SIGKILL (exit code 137)"
    )
    assert step_logs.kill_reason(143, False) == "killed by SIGTERM (exit code 143)"
    assert step_logs.kill_reason(1, False) is None
    assert step_logs.kill_reason(2, None) is None
    assert step_logs.kill_reason(255, False) is None  # exit(255): no signal 127
    # A process of the container killed by the engine, its main process exited on its own.
    assert step_logs.kill_reason(1, True) == (
        "out of memory: the engine killed a process (exit code 1)"
    )
    assert step_logs.container_end({}) == (None, False)


# --- the lines of a step --------------------------------------------------------------------------


def test_a_finished_step_says_its_time_memory_and_headline():
    record = step("extract-data", artifacts=[metrics(EXTRACT)], peak_rss_bytes=512 * 2**20)
    assert console.start_line(record) == "[run] extract-data     started"
    assert console.end_lines(record) == [
        "[run] extract-data     done in 12.3s, peak 512 MB: 9,945 train + 5,057 eval rows"
    ]


def test_a_cached_step_says_so_with_its_headline():
    record = step("extract-data", artifacts=[metrics(EXTRACT)], cached_from=113)
    assert console.end_lines(record) == [
        "[run] extract-data     cached (execution 113): 9,945 train + 5,057 eval rows"
    ]


def test_a_failed_step_shows_its_error_lines_and_its_log(tmp_path):
    log = tmp_path / "train-model.log"
    log.write_text("\n".join(TRACEBACK))
    record = step(
        "train-model", status="FAILURE", exit_code=1, log_path=str(log),
        peak_rss_bytes=3 * 2**30, log_tail=["only the tail"],
    )  # fmt: skip
    lines = console.end_lines(record)
    assert lines[0] == (
        f"[run] train-model      FAILED in 12.3s, exit code 1, peak 3.0 GB; log {log}"
    )
    assert lines[1:] == [console.INDENT + line for line in step_logs.error_lines(TRACEBACK)]
    assert step_logs.failure_reason(record) == TRACEBACK[-2]


def test_a_killed_step_says_how_and_what_it_was_doing():
    record = step(
        "train-model", status="FAILURE", exit_code=137, oom_killed=True,
        memory_limit_bytes=2 * 2**30, log_tail=["Epoch 1/8", ""],
    )  # fmt: skip
    assert console.end_lines(record) == [
        "[run] train-model      KILLED in 12.3s: killed by SIGKILL (exit code 137): out of "
        "memory (limit 2.0 GB)",
        console.INDENT + "last output: Epoch 1/8",
    ]
    assert step_logs.failure_reason(record) == (
        "killed by SIGKILL (exit code 137): out of memory (limit 2.0 GB)"
    )


def test_cancelled_and_erroneous_steps_say_why():
    cancelled = step("s", status="CANCELLED", error="stopped: the run ended on an error")
    assert console.end_lines(cancelled) == [
        "[run] s                cancelled in 12.3s: stopped: the run ended on an error"
    ]
    error = step("s", status="ERROR", error="image not found")
    assert console.end_lines(error) == ["[run] s                error in 12.3s: image not found"]


# --- the live line ----------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_live_text_shows_each_running_step_and_for_how_long():
    running = {"train-model": 10.0, "validate-data": 70.0}
    assert console.live_text(running, now=135.0, since=0.0, width=200) == (
        "[run] 2m15s running: train-model 2m05s, validate-data 1m05s"
    )
    assert console.live_text({}, now=1.0, since=0.0, width=200) == ""
    cut = console.live_text(running, now=135.0, since=0.0, width=30)
    assert len(cut) == 29 and cut.endswith("…")
    assert [console.duration(s) for s in (5, 65, 3725)] == ["5s", "1m05s", "1h02m"]


def test_on_a_terminal_the_live_line_is_cleared_before_other_lines_and_redrawn():
    now = [0.0]
    screen = Terminal()
    live = console.LiveLine(screen, clock=lambda: now[0])
    live.width = lambda: 200  # whatever terminal runs the tests
    assert live.enabled
    live.started("train-model")
    now[0] = 42.0
    live.write("[run] extract-data     done in 1.0s")
    live.redraw()
    live.finished("train-model")
    text = screen.getvalue()
    assert text == (
        "\r\033[K[run] 0s running: train-model 0s"
        "\r\033[K[run] extract-data     done in 1.0s\n"
        "\r\033[K[run] 42s running: train-model 42s"
        "\r\033[K[run] 42s running: train-model 42s"
        "\r\033[K"
    )


def test_on_a_pipe_there_is_no_live_line():
    pipe = io.StringIO()
    live = console.LiveLine(pipe).open()
    try:
        assert not live.enabled
        live.started("train-model")
        console.say("[run] a line of the run")
        live.redraw()
        live.finished("train-model")
    finally:
        live.close()
    assert pipe.getvalue() == "[run] a line of the run\n"


def test_verbose_has_no_live_line_even_on_a_terminal():
    screen = Terminal()
    observer = console.Console(verbose=True, stream=screen)
    try:
        record = step("hello", parameters={"words": 3})
        observer.task_started(record)
        observer.task_finished(record)
    finally:
        observer.close()
    assert screen.getvalue() == (
        "[run] hello            started\n[run] hello            done in 12.3s: words 3\n"
    )


# --- log files, memory limits, kfp.local's logging ---------------------------------------------


def test_each_task_gets_its_own_log_file(tmp_path):
    files = step_logs.LogFiles(tmp_path / "logs")
    assert files.path_for("train-model") == tmp_path / "logs" / "train-model.log"
    assert files.path_for("train-model") == tmp_path / "logs" / "train-model-2.log"
    assert files.path_for("a/b c") == tmp_path / "logs" / "a_b_c.log"
    assert (tmp_path / "logs" / "train-model-2.log").is_file()  # before any output


def test_the_end_of_a_long_log_is_read_whole_lines_only(tmp_path):
    log = tmp_path / "t.log"
    log.write_text("".join(f"line {i}\n" for i in range(1000)))
    tail = step_logs.read_tail(log, limit=100)
    assert tail[-1] == "line 999" and all(line.startswith("line ") for line in tail)
    assert len(tail) < 15
    assert step_logs.read_tail(tmp_path / "absent.log") == []


def test_a_tasks_memory_limit_is_read_from_the_compiled_pipeline(tmp_path):
    from kfp import compiler, dsl
    from kfp.local import utils
    from kfp.pipeline_spec import pipeline_spec_pb2

    @dsl.container_component
    def hog(n: int):
        return dsl.ContainerSpec(image="x:1", command=["python", "-c", "pass"], args=[n])

    @dsl.pipeline(name="limits")
    def limits():
        hog(n=1).set_memory_limit("64M")
        hog(n=2)

    from google.protobuf import json_format

    from mlops.local_runs.runner import memory_limit

    path = tmp_path / "p.yaml"
    compiler.Compiler().compile(limits, str(path))
    import yaml

    spec = json_format.ParseDict(yaml.safe_load(path.read_text()), pipeline_spec_pb2.PipelineSpec())
    executors = spec.deployment_spec["executors"]
    found = sorted(
        memory_limit(utils.struct_to_executor_spec(executors[name])) or 0 for name in executors
    )
    assert found == [0, 64 * 10**6]


@pytest.mark.parametrize("verbose", [False, True])
def test_kfp_locals_logging_is_silenced_unless_verbose(tmp_path, capsys, caplog, verbose):
    from kfp.local import logging_utils, pipeline_orchestrator

    from mlops.local_runs.runner import docker_runner_adapted

    with docker_runner_adapted(log_dir=tmp_path / "logs", verbose=verbose):
        # kfp.local's own logging, as it ends a failed pipeline: an ERROR line
        pipeline_orchestrator.log_and_maybe_raise_for_failure(
            pipeline_name="p", raise_on_error=False, fail_stack=["hello"]
        )
        logging_utils.print_horizontal_line()
        logging.getLogger("mlops.test").warning("a warning of our own")
    out = capsys.readouterr().out
    assert ("finished with status" in out + caplog.text) is verbose
    assert ("-----" in out) is verbose
    assert "a warning of our own" in caplog.text  # only kfp.local's records are dropped
