"""The console of a local run, with real containers of the sample components through
kfp.local's DockerRunner: a few lines per step (no kfp.local logging, no container output),
each step's whole output in <run>/logs/<task>.log and recorded in the lineage; `verbose`
streams it; a failing step shows its error lines; a container killed by the engine for
exceeding its memory limit, and one killed from outside, say they were killed and how."""

import threading
import time
from pathlib import Path

import pytest

from mlops.core.errors import BuildError
from mlops.lineage.store import LineageStore

COMPONENTS = """
from kfp import dsl

from pipelines.component_store import default_store

store = default_store()
hello = store.load_component("hello")
word_count = store.load_component("word_count")
IMAGE = hello.component_spec.implementation.container.image
"""

QUIET = (
    COMPONENTS
    + """

@dsl.pipeline(name="quiet")
def quiet_pipeline(message: str = "a b c") -> int:
    said = hello(message=message, repeat=2)
    return word_count(text=said.outputs["text"], min_length=1).outputs["words"]
"""
)

FAILING = (
    COMPONENTS
    + """

@dsl.pipeline(name="failing")
def failing_pipeline():
    hello(message="x", repeat=0)  # raises: --repeat must be at least 1
"""
)

KILLED = (
    COMPONENTS
    + """

@dsl.container_component
def hog(megabytes: int):
    return dsl.ContainerSpec(
        image=IMAGE,
        command=[
            "python", "-c",
            "import sys; print('allocating', flush=True); "
            "kept = b'x' * (int(sys.argv[1]) * 2**20); print('survived')",
        ],
        args=[megabytes],
    )


@dsl.container_component
def sleeper(seconds: int):
    return dsl.ContainerSpec(
        image=IMAGE,
        command=[
            "python", "-c",
            "import sys, time; print('sleeping', flush=True); time.sleep(int(sys.argv[1]))",
        ],
        args=[seconds],
    )


@dsl.pipeline(name="killed")
def killed_pipeline():
    hog(megabytes=512).set_memory_limit("64M")  # the engine kills it: out of memory
    sleeper(seconds=120)  # killed from outside by the test
"""
)


@pytest.fixture(scope="module")
def packages(built_project_factory):
    _, packages = built_project_factory(
        "console",
        {"quiet_pipeline": QUIET, "failing_pipeline": FAILING, "killed_pipeline": KILLED},
    )
    return packages


class Records:
    def __init__(self):
        self.by_task = {}

    def task_started(self, record):
        self.by_task[record.task] = record

    def task_finished(self, record):
        pass


def run(packages, name, tmp_path, observers=(), **kw):
    from mlops.local_runs.runner import run_package

    return run_package(
        packages[name], tmp_path / "run", {}, tmp_path / "lineage.sqlite", list(observers),
        max_parallel=2, **kw,
    )  # fmt: skip


@pytest.mark.docker
def test_a_run_prints_a_few_lines_per_step_and_logs_each_steps_output(packages, tmp_path, capsys):
    records = Records()
    assert run(packages, "quiet_pipeline", tmp_path, [records]) == {"Output": 6}
    out = capsys.readouterr().out
    lines = out.splitlines()
    # started and ended per step, then the run's line: nothing of kfp.local's or the steps'
    assert len(lines) == 5 and all(line.startswith("[run] ") for line in lines), out
    assert "INFO" not in out and "wrote 12 characters" not in out and "\x1b[" not in out
    [hello_done] = [line for line in lines if line.startswith("[run] hello ") and "done" in line]
    assert hello_done.endswith(": length 12") and "peak " in hello_done
    assert any(x.startswith("[run] word-count ") and x.endswith(": words 6") for x in lines)
    logs = tmp_path / "run" / "logs"
    hello = records.by_task["hello"]
    assert hello.log_path == str(logs / "hello.log")
    assert "wrote 12 characters to " in (logs / "hello.log").read_text()
    assert "{'lines': 2, 'words': 6" in (logs / "word-count.log").read_text()
    with LineageStore(tmp_path / "lineage.sqlite") as store:
        tasks = store.run("latest")["tasks"]
    assert {t["task"]: t["log_path"] for t in tasks} == {
        "hello": str(logs / "hello.log"),
        "word-count": str(logs / "word-count.log"),
    }


@pytest.mark.docker
def test_verbose_streams_the_steps_output_and_kfp_locals_logging(packages, tmp_path, capsys):
    run(packages, "quiet_pipeline", tmp_path, verbose=True)
    out = capsys.readouterr().out
    assert "hello | wrote 12 characters to " in out  # each line after its task's name
    assert "Executing task" in out  # kfp.local's own logging
    assert "[run] hello            started" in out
    assert "wrote 12 characters" in (tmp_path / "run" / "logs" / "hello.log").read_text()


@pytest.mark.docker
def test_a_failing_step_shows_its_error_lines(packages, tmp_path, capsys):
    records = Records()
    with pytest.raises(BuildError, match="the local run failed: .*hello"):
        run(packages, "failing_pipeline", tmp_path, [records])
    out = capsys.readouterr().out
    lines = out.splitlines()
    log = tmp_path / "run" / "logs" / "hello.log"
    [failed] = [x for x in lines if x.startswith("[run] hello ") and "FAILED" in x]
    assert "exit code 1" in failed and failed.endswith(f"; log {log}")
    shown = lines[lines.index(failed) + 1 :]
    # The traceback's last lines, not just the last line: the frame that raised, then the error
    assert shown[0].strip().startswith('File "/app/hello/main.py"') and "in run" in shown[0]
    assert "raise ValueError" in shown[1]
    assert shown[2].strip() == "ValueError: --repeat must be at least 1, got 0"
    assert "Traceback (most recent call last):" in log.read_text()  # the whole output
    assert "Traceback" not in out


class KillsFromOutside(Records):
    """Kills `task`'s container with the engine once it has started its work (`docker kill`)."""

    def __init__(self, client, task, started_when):
        super().__init__()
        self.client, self.task, self.started_when = client, task, started_when
        self.killed = threading.Event()

    def task_started(self, record):
        super().task_started(record)
        if record.task == self.task:
            threading.Thread(target=self._kill, args=(record,), daemon=True).start()

    def _kill(self, record):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            log = Path(record.log_path)
            if record.container_id and log.is_file() and self.started_when in log.read_text():
                self.client.containers.get(record.container_id).kill()
                self.killed.set()
                return
            time.sleep(0.05)


@pytest.mark.docker
def test_killed_containers_say_they_were_killed_and_how(packages, tmp_path, capsys, docker_client):
    observer = KillsFromOutside(docker_client, "sleeper", "sleeping")
    with pytest.raises(BuildError):
        run(packages, "killed_pipeline", tmp_path, [observer])
    assert observer.killed.is_set()
    hog, sleeper = observer.by_task["hog"], observer.by_task["sleeper"]
    assert (hog.exit_code, hog.oom_killed, hog.memory_limit_bytes) == (137, True, 64 * 10**6)
    assert (sleeper.exit_code, sleeper.oom_killed) == (137, False)
    lines = capsys.readouterr().out.splitlines()
    [hog_line] = [line for line in lines if line.startswith("[run] hog ") and "KILLED" in line]
    assert "killed by SIGKILL (exit code 137): out of memory (limit 61 MB)" in hog_line
    [sleeper_line] = [x for x in lines if x.startswith("[run] sleeper ") and "KILLED" in x]
    assert "killed by SIGKILL (exit code 137)" in sleeper_line
    assert "out of memory" not in sleeper_line
    assert lines[lines.index(sleeper_line) + 1].strip() == "last output: sleeping"
    with LineageStore(tmp_path / "lineage.sqlite") as store:
        tasks = {t["task"]: t for t in store.run("latest")["tasks"]}
    assert tasks["hog"]["error"] == "killed by SIGKILL (exit code 137): out of memory (limit 61 MB)"
