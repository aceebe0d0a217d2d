"""mlops.bench.measure: the peak memory of a process tree, the wall time and the exit code."""

import sys

from mlops.bench.measure import run_measured

# bytearray() zero-fills, so every page is touched and resident.
ALLOCATE = "import time; x = bytearray({mb} * 1024 * 1024); time.sleep(1.0)"


def test_a_child_process_memory_counts_towards_the_peak():
    parent = (
        "import subprocess, sys, time; "
        f"p = subprocess.Popen([sys.executable, '-c', {ALLOCATE.format(mb=200)!r}]); "
        "p.wait()"
    )
    small = run_measured([sys.executable, "-c", ALLOCATE.format(mb=10)])
    big = run_measured([sys.executable, "-c", parent])
    assert small.returncode == big.returncode == 0
    assert big.peak_rss_mb > small.peak_rss_mb + 150
    assert big.seconds >= 1.0


def test_the_exit_code_is_reported():
    assert run_measured([sys.executable, "-c", "raise SystemExit(3)"]).returncode == 3
