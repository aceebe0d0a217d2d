"""Beam's workers chosen from a step's input size and the machine (mlops_runtime.beam)."""

import pytest
from mlops_runtime import beam

MIB = 2**20


GIB = 2**30


@pytest.mark.parametrize(
    ("size", "cpus", "limit", "rss", "count", "mode"),
    [
        (2 * MIB, 2, 64 * GIB, None, 1, "in_memory"),  # the 1x sample
        (beam.LARGE_INPUT_BYTES - 1, 8, 64 * GIB, None, 1, "in_memory"),
        # large data without a memory limit (a local docker run): one worker, bounded memory
        (beam.LARGE_INPUT_BYTES, 2, None, 700 * MIB, 1, "in_memory"),  # 100x the sample
        (None, 2, None, None, 1, "in_memory"),  # not on a local disk: large, still no limit
        # a limit with room for a process per CPU beside this one (1.4 GiB each here)
        (beam.LARGE_INPUT_BYTES, 2, 5 * GIB, 700 * MIB, 2, "multi_processing"),
        (500 * MIB, 4, 64 * GIB, 700 * MIB, 4, "multi_processing"),
        (None, 2, 8 * GIB, None, 2, "multi_processing"),  # unknown size counts as large
        # as many as the limit holds: 6 GiB // 1.5 GiB - 1 = 3 of 8 CPUs
        (500 * MIB, 8, 6 * GIB, 768 * MIB, 3, "multi_processing"),
        # room for one worker process only: no gain over in-process
        (500 * MIB, 4, 3 * GIB, 700 * MIB, 1, "in_memory"),
        (500 * MIB, 4, 4 * GIB - 1, 1 * GIB, 1, "in_memory"),  # 2 GiB each: 4 GiB holds 2
        (500 * MIB, 1, 64 * GIB, None, 1, "in_memory"),  # one CPU: no worker processes
    ],
)
def test_workers_follow_the_input_size_the_cpus_and_the_memory(size, cpus, limit, rss, count, mode):
    workers = beam.choose_workers(size, cpus, limit, rss)
    assert (workers.count, workers.mode) == (count, mode)
    assert workers.args() == [f"--direct_running_mode={mode}", f"--direct_num_workers={count}"]


def test_a_worker_needs_twice_this_process_and_at_least_a_gib():
    assert beam.worker_bytes(None) == GIB
    assert beam.worker_bytes(300 * MIB) == GIB
    assert beam.worker_bytes(700 * MIB) == 1400 * MIB


def test_the_choice_says_why():
    assert beam.choose_workers(2 * MIB, 2).why == "2.0 MiB of input < 32 MiB: small data"
    assert beam.choose_workers(64 * MIB, 2).why == (
        "64.0 MiB of input >= 32 MiB: large data, 2 CPUs, no memory limit: one in-process "
        "worker keeps the memory bounded (worker processes need a limit with room for them)"
    )
    assert beam.choose_workers(64 * MIB, 2, 8 * GIB, 700 * MIB).why == (
        "64.0 MiB of input >= 32 MiB: large data, 2 CPUs, memory limit 8.0 GiB: "
        "2 worker processes of 1.4 GiB each"
    )
    assert beam.choose_workers(64 * MIB, 2, 2 * GIB, 700 * MIB).why == (
        "64.0 MiB of input >= 32 MiB: large data, 2 CPUs, memory limit 2.0 GiB: "
        "no room for worker processes of 1.4 GiB each beside this one"
    )


@pytest.mark.parametrize(
    ("memory_max", "limit_in_bytes", "limit"),
    [
        ("max\n", None, None),  # cgroup v2 without a limit
        ("8589934592\n", None, 8 * GIB),
        (None, "9223372036854771712\n", None),  # cgroup v1 without a limit
        (None, "4294967296", 4 * GIB),
        (None, None, None),
    ],
)
def test_the_containers_memory_limit(memory_max, limit_in_bytes, limit):
    assert beam.memory_quota(memory_max=memory_max, limit_in_bytes=limit_in_bytes) == limit


def test_this_process_rss_is_read():
    rss = beam.process_rss()
    assert rss is not None and 10 * MIB < rss < 64 * GIB


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
    args, line = beam.with_workers(["--runner=DirectRunner"], 10**9, 2, 16 * GIB, 700 * MIB)
    assert args == [
        "--runner=DirectRunner",
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
    ]
    assert line.startswith("beam workers: 2 (multi_processing): 953.7 MiB of input")
    args, line = beam.with_workers(["--runner=DirectRunner"], 10**9, 2)
    assert args[1:] == ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    # a running mode given is kept, the count still chosen
    args, line = beam.with_workers(
        ["--direct_running_mode=multi_processing"], 10**9, 2, 16 * GIB, None
    )
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


@pytest.mark.docker
def test_a_container_reads_its_own_memory_and_cpu_limits(docker_client):
    """In a real container: with --memory 6g and 2 CPUs, large data gets worker processes;
    without a memory limit, one in-process worker."""
    from pathlib import Path

    runtime = Path(beam.__file__).parent
    script = (
        "from mlops_runtime import beam; "
        "print(beam.machine_memory_limit(), beam.machine_cpus()); "
        "print(beam.with_workers([], 10**9, beam.machine_cpus(), beam.machine_memory_limit(), "
        "700 * 2**20)[1])"
    )

    def run(**limits) -> list[str]:
        out = docker_client.containers.run(
            "python:3.11-slim-bookworm",
            ["python3", "-c", script],
            volumes={str(runtime): {"bind": "/opt/rt/mlops_runtime", "mode": "ro"}},
            environment={"PYTHONPATH": "/opt/rt"},
            remove=True,
            **limits,
        )
        return out.decode().splitlines()

    limited = run(mem_limit="6g", nano_cpus=2 * 10**9)
    assert limited[0] == f"{6 * GIB} 2"
    assert limited[1].startswith("beam workers: 2 (multi_processing)")
    unlimited = run(nano_cpus=2 * 10**9)
    assert unlimited[0] == "None 2"
    assert unlimited[1].startswith("beam workers: 1 (in_memory)")
