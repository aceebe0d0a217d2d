"""mlops_runtime.process.run_then_exit, in a real interpreter: it leaves without the
teardown once main returns, and lets a failing main end the process as it would."""

import subprocess
import sys

from mlops.core.paths import REPO

BASE = REPO / "build" / "base"

SCRIPT = """
import atexit, sys
from mlops_runtime.process import run_then_exit

atexit.register(lambda: print("teardown ran"))
outcome = sys.argv[1]

def main():
    print("outputs written", end="")  # no newline: only a flush gets it out
    if outcome == "input-error":
        raise SystemExit(2)
    if outcome == "crash":
        raise RuntimeError("boom")

run_then_exit(main)
"""


def run(outcome: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, outcome],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(BASE)},
        timeout=60,
    )


def test_a_finished_main_exits_0_with_its_output_and_without_the_teardown():
    done = run("ok")
    assert (done.returncode, done.stdout) == (0, "outputs written")


def test_a_failing_main_ends_the_process_as_usual():
    input_error = run("input-error")
    assert input_error.returncode == 2
    assert input_error.stdout == "outputs writtenteardown ran\n"
    crash = run("crash")
    assert crash.returncode == 1 and "RuntimeError: boom" in crash.stderr
