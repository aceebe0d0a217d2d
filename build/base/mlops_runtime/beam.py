"""Beam pipeline options for the components: the same image runs on the DirectRunner here
and on Dataflow at scale.

The DirectRunner's workers are chosen from the step's input, the CPUs and the memory the step
may use, unless the beam args set them. Measured on 2 cores (make bench BENCH=scale, and each
step alone on 100x the taxi sample, 1.5M rows):
- small data runs in one in-process worker: forking workers that each load TensorFlow costs
  more than it saves (validation 7 s instead of 17 s, transformation 17 s instead of 29 s on
  the 15k-row sample);
- two threads of one process were slower than one worker for every step, since the per-row
  Python work holds the GIL, and held more memory (100x, each step's whole run on the host:
  extraction 204 s vs 146 s, validation 94 s vs 85 s with 1.29 GB vs 0.98 GB peak RSS,
  transformation 305 s vs 271 s with 1.83 GB vs 1.26 GB);
- worker processes use the cores (transformation 190 s vs 271 s) but each holds the whole ML
  stack and its own share of the step's state, so the step's memory grows with the cores.
So large data gets one worker process per CPU only when the step has a memory limit (its
container's: a task's set_memory_limit, which Kubernetes and mlops' local runner both
apply) with room for every process;
otherwise one in-process worker, whose peak memory stays within 2x from 1x to 100x the data.
`--direct_num_workers` (or another runner) in the beam args overrides the choice;
settings.yaml passes them per environment and per use case
(`pipelines.<pipeline>.parameters.beam_args`)."""

from __future__ import annotations

import glob
import json
import math
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ARGS = ["--runner=DirectRunner"]
# Input bytes on disk from which a step may use every core: 32 MiB is ~250k rows of CSV or
# ~600k rows of gzipped tf.Examples of the taxi sample (10x the sample stays below, 100x is above).
LARGE_INPUT_BYTES = 32 * 2**20
# What one worker process is assumed to need: twice what the deciding process holds once the
# ML stack is imported (a worker imports the same; the steps measured peak at 1.5-1.8x their
# import footprint on 100x the sample), and at least this much.
WORKER_MEMORY_FACTOR = 2
MIN_WORKER_BYTES = 2**30
DIRECT_RUNNERS = {"directrunner", "switchingdirectrunner", "bundlebaseddirectrunner"}
CGROUP_V2_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
CGROUP_V1_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
CGROUP_V2_MEMORY_MAX = Path("/sys/fs/cgroup/memory.max")
CGROUP_V1_MEMORY_LIMIT = Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")
# cgroup v1 writes "no limit" as a huge page-aligned number (2**63 - 4096 on x86-64).
CGROUP_V1_UNLIMITED = 2**60


def parse_beam_args(value: str | None) -> list[str]:
    """A JSON list or a shell-quoted string of Beam flags; empty means the defaults."""
    if not value or not value.strip():
        return list(DEFAULT_ARGS)
    value = value.strip()
    if value.startswith("["):
        args = json.loads(value)
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValueError(f"beam args {value!r}: a JSON list must hold strings")
        return args
    return shlex.split(value)


# -- the worker choice ------------------------------------------------------------------------
@dataclass(frozen=True)
class Workers:
    count: int  # 1: in-process
    mode: str  # the DirectRunner's direct_running_mode
    why: str

    def args(self) -> list[str]:
        return [f"--direct_running_mode={self.mode}", f"--direct_num_workers={self.count}"]


def worker_bytes(process_rss: int | None) -> int:
    """The memory one worker process is assumed to need (see WORKER_MEMORY_FACTOR)."""
    return max(MIN_WORKER_BYTES, WORKER_MEMORY_FACTOR * (process_rss or 0))


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def choose_workers(
    input_bytes: int | None,
    cpus: int,
    memory_limit: int | None = None,
    process_rss: int | None = None,
    large_bytes: int = LARGE_INPUT_BYTES,
) -> Workers:
    """One in-process worker below `large_bytes` of input, on one CPU, or when the memory
    limit (None: none known) has no room for two worker processes beside this one; otherwise
    one worker process per CPU, as many as the limit holds. An unknown size (data not on a
    local disk) counts as large."""
    size = "unknown size" if input_bytes is None else f"{input_bytes / 2**20:.1f} MiB"
    if cpus <= 1:
        return Workers(1, "in_memory", f"{size} of input, 1 CPU")
    if input_bytes is not None and input_bytes < large_bytes:
        return Workers(
            1, "in_memory", f"{size} of input < {large_bytes / 2**20:g} MiB: small data"
        )
    large = f"{size} of input >= {large_bytes / 2**20:g} MiB: large data, {cpus} CPUs"
    if memory_limit is None:
        return Workers(
            1,
            "in_memory",
            f"{large}, no memory limit: one in-process worker keeps the memory bounded "
            "(worker processes need a limit with room for them)",
        )
    per_worker = worker_bytes(process_rss)
    fits = memory_limit // per_worker - 1  # this process stays, holding the pipeline
    count = min(cpus, fits)
    if count < 2:
        return Workers(
            1,
            "in_memory",
            f"{large}, memory limit {_gib(memory_limit)}: no room for worker processes of "
            f"{_gib(per_worker)} each beside this one",
        )
    return Workers(
        count,
        "multi_processing",
        f"{large}, memory limit {_gib(memory_limit)}: {count} worker processes of "
        f"{_gib(per_worker)} each",
    )


def memory_quota(
    memory_max: str | None = None, limit_in_bytes: str | None = None
) -> int | None:
    """Bytes the cgroup allows (v2 `memory.max`, or v1's `memory.limit_in_bytes`); None
    without a limit."""
    if memory_max is not None:
        value = memory_max.strip()
        return None if value in ("", "max") else int(value)
    if limit_in_bytes is not None and limit_in_bytes.strip():
        value = int(limit_in_bytes.strip())
        return None if value >= CGROUP_V1_UNLIMITED else value
    return None


def machine_memory_limit() -> int | None:
    """The memory limit of this process's container, if it has one."""
    v2 = _read(CGROUP_V2_MEMORY_MAX)
    if v2 is not None:
        return memory_quota(memory_max=v2)
    return memory_quota(limit_in_bytes=_read(CGROUP_V1_MEMORY_LIMIT))


def process_rss() -> int | None:
    """This process's resident memory now, in bytes (Linux)."""
    statm = _read(Path("/proc/self/statm"))
    return int(statm.split()[1]) * os.sysconf("SC_PAGE_SIZE") if statm else None


def cpu_quota(cpu_max: str | None = None, quota: str | None = None, period: str | None = None):
    """CPUs the cgroup allows (cgroup v2 `cpu.max` "QUOTA PERIOD", or v1's quota and period),
    rounded up; None without a limit."""
    if cpu_max is not None:
        q, _, p = cpu_max.strip().partition(" ")
        if q != "max" and p:
            return max(1, math.ceil(int(q) / int(p)))
        return None
    if quota is not None and period is not None and int(quota) > 0:
        return max(1, math.ceil(int(quota) / int(period)))
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def machine_cpus() -> int:
    """The CPUs this process may use: its affinity, within the container's CPU limit."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    v2 = _read(CGROUP_V2_CPU_MAX)
    if v2 is not None:
        limit = cpu_quota(cpu_max=v2)
    else:
        limit = cpu_quota(quota=_read(CGROUP_V1_QUOTA), period=_read(CGROUP_V1_PERIOD))
    return min(cpus, limit) if limit else cpus


def local_bytes(paths: list) -> int | None:
    """Bytes of the files at these paths (files, folders, globs); None when one is not on a
    local disk (gs://, bq://, ...), whose size is not known here."""
    total = 0
    for path in map(str, paths):
        if "://" in path:
            return None
        for match in glob.glob(path) or [path]:
            p = Path(match)
            if p.is_file():
                total += p.stat().st_size
            elif p.is_dir():
                total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return total


def _flag(args: list[str], name: str) -> str | None:
    values = [a.partition("=")[2] for a in args if a.partition("=")[0] == name]
    return values[-1] if values else None


def sets_workers(args: list[str]) -> bool:
    """The beam args choose the workers themselves: a worker count, or a runner other than
    the DirectRunner."""
    runner = _flag(args, "--runner")
    return _flag(args, "--direct_num_workers") is not None or (
        runner is not None and runner.lower() not in DIRECT_RUNNERS
    )


def with_workers(
    args: list[str],
    input_bytes: int | None,
    cpus: int,
    memory_limit: int | None = None,
    process_rss: int | None = None,
) -> tuple[list[str], str]:
    """The args with the chosen workers added (unless they set them; a running mode they
    give is kept, with the count chosen), and one line saying so."""
    if sets_workers(args):
        return list(args), "beam workers: as the beam args set them"
    workers = choose_workers(input_bytes, cpus, memory_limit, process_rss)
    mode = _flag(args, "--direct_running_mode")
    if mode is not None:
        line = f"beam workers: {workers.count} ({mode}, as given): {workers.why}"
        return [*args, f"--direct_num_workers={workers.count}"], line
    line = f"beam workers: {workers.count} ({workers.mode}): {workers.why}"
    return [*args, *workers.args()], line


def resolve_beam_args(value: str | None, inputs: list[str], step: str) -> list[str]:
    """parse_beam_args, plus the workers chosen from the size of `inputs` and the machine;
    prints the choice."""
    args, line = with_workers(
        parse_beam_args(value),
        local_bytes(inputs),
        machine_cpus(),
        machine_memory_limit(),
        process_rss(),
    )
    print(f"{step}: {line}", flush=True)
    return args


def pipeline_options(value: str | None, inputs: list[str] | None = None, step: str = "beam"):
    from apache_beam.options.pipeline_options import PipelineOptions

    args = parse_beam_args(value) if inputs is None else resolve_beam_args(value, inputs, step)
    return PipelineOptions(args)
