"""Beam's workers chosen from a step's input size and the machine (mlops_runtime.beam)."""

import pytest
from mlops_runtime import beam

MIB = 2**20


@pytest.mark.parametrize(
    ("size", "cpus", "count", "mode"),
    [
        (2 * MIB, 2, 1, "in_memory"),  # the 1x sample
        (beam.LARGE_INPUT_BYTES - 1, 8, 1, "in_memory"),
        (beam.LARGE_INPUT_BYTES, 2, 2, "multi_threading"),  # 100x the sample
        (500 * MIB, 4, 4, "multi_threading"),
        (500 * MIB, 1, 1, "in_memory"),  # one CPU: no worker processes
        (None, 2, 2, "multi_threading"),  # not on a local disk: large
    ],
)
def test_workers_follow_the_input_size_and_the_cpus(size, cpus, count, mode):
    workers = beam.choose_workers(size, cpus)
    assert (workers.count, workers.mode) == (count, mode)
    assert workers.args() == [f"--direct_running_mode={mode}", f"--direct_num_workers={count}"]


def test_the_choice_says_why():
    assert beam.choose_workers(2 * MIB, 2).why == "2.0 MiB of input < 32 MiB: small data"
    assert beam.choose_workers(64 * MIB, 2).why == (
        "64.0 MiB of input >= 32 MiB: large data, 2 CPUs"
    )


@pytest.mark.parametrize(
    "given",
    [
        ["--direct_num_workers=1"],
        ["--runner=DirectRunner", "--direct_num_workers=0"],
        ["--runner=DataflowRunner", "--project=p"],
    ],
)
def test_beam_args_that_choose_workers_are_kept_as_given(given):
    args, line = beam.with_workers(given, 10**9, 2)
    assert args == given
    assert line == "beam workers: as the beam args set them"


def test_unset_workers_are_added_to_the_args():
    args, line = beam.with_workers(["--runner=DirectRunner"], 10**9, 2)
    assert args == [
        "--runner=DirectRunner",
        "--direct_running_mode=multi_threading",
        "--direct_num_workers=2",
    ]
    assert line.startswith("beam workers: 2 (multi_threading): 953.7 MiB of input")
    # a running mode given is kept, the count still chosen
    args, line = beam.with_workers(["--direct_running_mode=multi_processing"], 10**9, 2)
    assert args == ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    assert line.startswith("beam workers: 2 (multi_processing, as given): 953.7 MiB")
    args, _ = beam.with_workers(beam.parse_beam_args(""), 1000, 2)
    assert args[-1] == "--direct_num_workers=1"


@pytest.mark.parametrize(
    ("cpu_max", "quota", "period", "cpus"),
    [
        ("max 100000\n", None, None, None),
        ("150000 100000\n", None, None, 2),  # 1.5 CPUs: rounded up
        ("50000 100000", None, None, 1),
        (None, "-1", "100000", None),  # cgroup v1 without a limit
        (None, "300000", "100000", 3),
    ],
)
def test_the_containers_cpu_limit(cpu_max, quota, period, cpus):
    assert beam.cpu_quota(cpu_max=cpu_max, quota=quota, period=period) == cpus


def test_input_bytes_of_files_folders_and_globs(tmp_path):
    (tmp_path / "Split-train").mkdir()
    (tmp_path / "Split-train" / "a.gz").write_bytes(b"x" * 300)
    (tmp_path / "b.csv").write_bytes(b"y" * 40)
    assert beam.local_bytes([str(tmp_path)]) == beam.local_bytes([tmp_path]) == 340
    assert beam.local_bytes([str(tmp_path / "*.csv")]) == 40
    assert beam.local_bytes([str(tmp_path / "b.csv"), "gs://bucket/x.csv"]) is None
    assert beam.local_bytes([str(tmp_path / "missing")]) == 0
