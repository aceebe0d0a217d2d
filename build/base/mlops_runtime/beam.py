"""Beam pipeline options for the components: the same image runs on the DirectRunner here
and on Dataflow at scale.

The DirectRunner's workers are chosen from the step's input and the machine unless the
beam args set them: small data runs in one in-process worker (forking a worker per core
that each loads TensorFlow costs more than it saves: validation 7 s instead of 17 s,
transformation 17 s instead of 29 s on the 15k-row taxi sample with 2 cores), large data on
every core the container may use, as threads of one process. Threads, not worker processes:
each worker process loads TensorFlow and its own copy of the step's state, so the peak memory
would grow with the cores (transformation of 10x the sample on 2 cores: one worker 977 MB,
2 threads 1,250 MB, 2 processes 2,603 MB, at about the same time), and TensorFlow, Arrow and
TFX-BSL do their work outside the GIL. `--direct_running_mode=multi_processing` in the beam
args keeps the chosen count with worker processes; `--direct_num_workers` (or another runner)
overrides the choice. settings.yaml passes them per environment and per use case
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
# Input bytes on disk from which a step uses every core: 32 MiB is ~250k rows of CSV or ~600k
# rows of gzipped tf.Examples of the taxi sample (10x the sample stays below, 100x is above).
LARGE_INPUT_BYTES = 32 * 2**20
LARGE_MODE = "multi_threading"  # see above: bounded memory
DIRECT_RUNNERS = {"directrunner", "switchingdirectrunner", "bundlebaseddirectrunner"}
CGROUP_V2_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
CGROUP_V1_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")


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


def choose_workers(
    input_bytes: int | None, cpus: int, large_bytes: int = LARGE_INPUT_BYTES
) -> Workers:
    """One in-process worker below `large_bytes` of input or on one CPU; otherwise one worker
    per CPU. An unknown size (data not on a local disk) counts as large."""
    size = "unknown size" if input_bytes is None else f"{input_bytes / 2**20:.1f} MiB"
    if cpus <= 1:
        return Workers(1, "in_memory", f"{size} of input, 1 CPU")
    if input_bytes is not None and input_bytes < large_bytes:
        return Workers(
            1, "in_memory", f"{size} of input < {large_bytes / 2**20:g} MiB: small data"
        )
    return Workers(
        cpus,
        LARGE_MODE,
        f"{size} of input >= {large_bytes / 2**20:g} MiB: large data, {cpus} CPUs",
    )


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
    limit = cpu_quota(cpu_max=_read(CGROUP_V2_CPU_MAX))
    if limit is None and _read(CGROUP_V2_CPU_MAX) is None:
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


def with_workers(args: list[str], input_bytes: int | None, cpus: int) -> tuple[list[str], str]:
    """The args with the chosen workers added (unless they set them; a running mode they
    give is kept, with the count chosen), and one line saying so."""
    if sets_workers(args):
        return list(args), "beam workers: as the beam args set them"
    workers = choose_workers(input_bytes, cpus)
    mode = _flag(args, "--direct_running_mode")
    if mode is not None:
        line = f"beam workers: {workers.count} ({mode}, as given): {workers.why}"
        return [*args, f"--direct_num_workers={workers.count}"], line
    line = f"beam workers: {workers.count} ({workers.mode}): {workers.why}"
    return [*args, *workers.args()], line


def resolve_beam_args(value: str | None, inputs: list[str], step: str) -> list[str]:
    """parse_beam_args, plus the workers chosen from the size of `inputs` and the machine;
    prints the choice."""
    args, line = with_workers(parse_beam_args(value), local_bytes(inputs), machine_cpus())
    print(f"{step}: {line}", flush=True)
    return args


def pipeline_options(value: str | None, inputs: list[str] | None = None, step: str = "beam"):
    from apache_beam.options.pipeline_options import PipelineOptions

    args = parse_beam_args(value) if inputs is None else resolve_beam_args(value, inputs, step)
    return PipelineOptions(args)
