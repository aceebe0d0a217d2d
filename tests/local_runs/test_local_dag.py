"""Local runs execute the DAG as a cluster does (mlops.local_runs.dag): independent tasks side by
side, a task only after its upstream tasks, at most `max_parallel` at a time; after a failure
nothing new starts, the running siblings finish and the run names the task that failed; an
error stops the running containers. Real containers of the sample components, through
kfp.local's DockerRunner."""

import threading

import pytest

from mlops.core.errors import BuildError
from mlops.lineage.store import LineageStore
from mlops.local_runs.dag import shared_context

COMPONENTS = """
from kfp import dsl

from pipelines.component_store import default_store

store = default_store()
hello = store.load_component("hello")
word_count = store.load_component("word_count")
"""

# Two independent chains, hello -> word_count.
FAN_OUT = (
    COMPONENTS
    + """

@dsl.pipeline(name="fan-out")
def fan_out_pipeline(left: str = "a b c", right: str = "d e") -> int:
    one = hello(message=left, repeat=1)
    two = hello(message=right, repeat=2)
    word_count(text=one.outputs["text"], min_length=1)
    counted = word_count(text=two.outputs["text"], min_length=1)
    return counted.outputs["words"]
"""
)

# A failing task beside a slower one, and a task downstream of the failing one.
FAIL_FAST = (
    COMPONENTS
    + """

@dsl.container_component
def sleeper(seconds: int):
    return dsl.ContainerSpec(
        image=hello.component_spec.implementation.container.image,
        command=["python", "-c", "import sys, time; time.sleep(int(sys.argv[1]))"],
        args=[seconds],
    )


@dsl.pipeline(name="fail-fast")
def fail_fast_pipeline():
    failing = hello(message="x", repeat=0)  # exits 1: --repeat must be positive
    sleeper(seconds=3)
    word_count(text=failing.outputs["text"], min_length=1)
"""
)


@pytest.fixture(scope="module")
def packages(built_project_factory):
    """{pipeline: package} of the two pipelines above, on images built into the registry."""
    _, packages = built_project_factory(
        "dag", {"fan_out_pipeline": FAN_OUT, "fail_fast_pipeline": FAIL_FAST}
    )
    return packages


class Records:
    def __init__(self):
        self.by_task = {}
        self.lock = threading.Lock()

    def task_started(self, record):
        with self.lock:
            self.by_task[record.task] = record

    def task_finished(self, record):
        pass


def overlap(a, b) -> bool:
    return a.started_at < b.ended_at and b.started_at < a.ended_at


@pytest.mark.docker
def test_independent_tasks_run_side_by_side_and_wait_for_their_inputs(packages, tmp_path):
    from mlops.local_runs.runner import run_package

    package = packages
    records = Records()
    outputs = run_package(
        package["fan_out_pipeline"], tmp_path / "runs", {}, tmp_path / "l.sqlite",
        [records], max_parallel=2,
    )  # fmt: skip
    assert outputs == {"Output": 4}  # "d e" twice
    r = records.by_task
    assert set(r) == {"hello", "hello-2", "word-count", "word-count-2"}
    assert all(x.status == "SUCCESS" for x in r.values())
    assert overlap(r["hello"], r["hello-2"])  # neither waited for the other
    for up, down in (("hello", "word-count"), ("hello-2", "word-count-2")):
        assert r[up].ended_at <= r[down].started_at  # a task waits for its input
    assert r["word-count"].input_artifacts[0].uri == r["hello"].output_artifacts[0].uri


@pytest.mark.docker
def test_max_parallel_one_runs_one_task_at_a_time(packages, tmp_path):
    from mlops.local_runs.runner import run_package

    package = packages
    records = Records()
    run_package(
        package["fan_out_pipeline"], tmp_path / "runs", {}, tmp_path / "l.sqlite",
        [records], max_parallel=1,
    )  # fmt: skip
    ordered = sorted(records.by_task.values(), key=lambda x: x.started_at)
    assert len(ordered) == 4
    for before, after in zip(ordered, ordered[1:], strict=False):
        assert before.ended_at <= after.started_at


@pytest.mark.docker
def test_after_a_failure_nothing_starts_the_siblings_finish_and_the_failed_task_is_named(
    packages, tmp_path, capsys
):
    from mlops.local_runs.runner import run_package

    package = packages
    records = Records()
    db = tmp_path / "l.sqlite"
    with pytest.raises(BuildError, match="hello"):
        run_package(
            package["fail_fast_pipeline"], tmp_path / "runs", {}, db, [records], max_parallel=2
        )
    r = records.by_task
    assert r["hello"].status == "FAILURE" and r["hello"].exit_code == 1
    # The sibling ran to its end after the failure, as on a cluster.
    assert (r["sleeper"].status, r["sleeper"].exit_code) == ("SUCCESS", 0)
    assert r["sleeper"].ended_at > r["hello"].ended_at
    assert "word-count" not in r  # downstream of the failure: never started
    assert "hello failed: no new task starts; waiting for sleeper to finish" in (
        capsys.readouterr().out
    )
    with LineageStore(db) as store:
        run = store.run("latest")
    assert (run["status"], run["failed_task"]) == ("FAILED", "hello")
    assert run["reason"].startswith("task hello FAILURE, exit code 1")
    assert {t["task"]: t["status"] for t in run["tasks"]} == {
        "hello": "FAILURE",
        "sleeper": "SUCCESS",
    }


class FailsWhenStarting(Records):
    """An observer that raises when `task` starts: an error outside any container."""

    def __init__(self, task):
        super().__init__()
        self.task = task

    def task_started(self, record):
        super().task_started(record)
        if record.task == self.task:
            raise RuntimeError(f"observer refused {record.task}")


@pytest.mark.docker
def test_an_error_stops_the_containers_running_beside_it(packages, tmp_path):
    from mlops.local_runs.runner import run_package

    package = packages
    records = FailsWhenStarting("hello")
    with pytest.raises(BuildError, match="the local run failed: observer refused hello"):
        run_package(
            package["fail_fast_pipeline"], tmp_path / "runs", {}, tmp_path / "l.sqlite",
            [records], max_parallel=2,
        )  # fmt: skip
    # Killed if its container had started, else stopped as it started: never run to its end.
    sleeper = records.by_task["sleeper"]
    assert sleeper.status == "CANCELLED" and sleeper.exit_code in (None, 137)


def test_a_shared_context_is_entered_by_the_first_user_and_left_by_the_last():
    events = []

    class Swap:
        def __enter__(self):
            events.append("enter")

        def __exit__(self, *exc):
            events.append("exit")

    context = shared_context(Swap)
    first, second = context(), context()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first user leaves while the second is inside
    assert events == ["enter"]
    second.__exit__(None, None, None)
    assert events == ["enter", "exit"]
    with context():
        pass
    assert events == ["enter", "exit", "enter", "exit"]


def test_kfp_locals_print_is_restored_whatever_order_tasks_end_in():
    import builtins

    from kfp.local import logging_utils

    original = builtins.print
    indented = shared_context(logging_utils.indented_print)
    a, b = indented(), indented()
    a.__enter__()
    b.__enter__()
    a.__exit__(None, None, None)
    assert builtins.print is not original  # b's task still runs: its lines stay indented
    b.__exit__(None, None, None)
    assert builtins.print is original
