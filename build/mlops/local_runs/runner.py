"""Runs a compiled pipeline package on this machine with kfp.local's DockerRunner, on the
images the build pushed, and observes every step it runs.

kfp 2.13's DockerRunner needs these adjustments, applied only inside `docker_runner_adapted()`:
- it splits image references on ':' to pull them, which breaks on the digest-pinned
  `REGISTRY:PORT/NAME:SHA@sha256:...` references that component.yaml carries;
- these machines have no bridge network, so containers must use the host network;
- it collects output artifacts only from executor_output.json, which only KFP's Python
  executor writes; a container component's artifacts are the files at its output paths,
  which a cluster's launcher records, so they are recorded here the same way;
- it fails (KeyError) on an optional input artifact that is not passed; a cluster leaves it
  out of the executor input, and so does this;
- it runs one task at a time; a cluster runs every task whose inputs are ready, and so does
  this (mlops.local_runs.dag);
- it ignores a task's memory limit (`task.set_memory_limit`); a cluster enforces it, and so
  does this, through the engine;
- it prints its own INFO logs, every task's outputs and every container's output; here each
  task's output goes to its log file (<pipeline root>/logs/<task>.log), the console
  (mlops.local_runs.console) says when a step starts and ends, and kfp.local's logging is
  silenced, unless `verbose`: then the containers' lines stream as kfp.local streams them,
  each prefixed with its task's name.

Observation: observers passed to `docker_runner_adapted(observers=...)` get a `TaskRecord`
per executed container task, through `task_started(record)` and `task_finished(record)`
(see `TaskObserver`). kfp.local knows the pipeline task name only in its DAG loop, so it is
taken from the task spec the loop validates just before dispatching the task."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import re
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlops.ci import engine
from mlops.core.errors import BuildError
from mlops.core.paths import REPO
from mlops.core.pipeline_package import read_package
from mlops.local_runs import step_logs
from mlops.local_runs.cache import CachePolicy
from mlops.local_runs.console import Console, say

LOG_TAIL_LINES = 50
MEMORY_SAMPLE_S = 0.2
FIRST_SECOND, FIRST_SECOND_SAMPLE_S = 1.0, 0.02
# Docker's cgroupfs driver on cgroup v1 puts each container's memory cgroup here.
CGROUP_MEMORY_ROOT = Path("/sys/fs/cgroup/memory/docker")


# --- what observers receive ---------------------------------------------------------------


@dataclass
class ArtifactRecord:
    name: str  # the task's input or output name (not the artifact's own name)
    type: str  # the artifact's schema_title, e.g. system.Dataset
    uri: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskRecord:
    """One container task as kfp.local ran it. Times are seconds since the epoch; memory is in
    bytes and None when the container's cgroup could not be read."""

    task: str  # the pipeline task name, e.g. extract-data
    component: str  # the component's name in the compiled spec, e.g. comp-extract-data
    image_ref: str  # as in component.yaml (digest-pinned)
    input_parameters: dict[str, Any] = field(default_factory=dict)
    input_artifacts: list[ArtifactRecord] = field(default_factory=list)
    output_parameters: dict[str, Any] = field(default_factory=dict)
    output_artifacts: list[ArtifactRecord] = field(default_factory=list)
    started_at: float = 0.0
    ended_at: float | None = None
    # then SUCCESS, FAILURE (non-zero exit), ERROR (raised) or CANCELLED (stopped on an error)
    status: str = "RUNNING"
    exit_code: int | None = None
    # why the task failed beyond what it logged: the exception an ERROR task raised, how a
    # killed container was killed, why a CANCELLED task was stopped
    error: str | None = None
    oom_killed: bool | None = None  # the engine's State.OOMKilled (None: not read)
    memory_limit_bytes: int | None = None  # the task's memory limit, enforced by the engine
    image_id: str | None = None  # the local image id (config digest) the container ran
    image_digest: str | None = None  # the registry digest (NAME@sha256:...) of that image
    container_id: str | None = None
    log_tail: list[str] = field(default_factory=list)  # the last LOG_TAIL_LINES lines
    log_path: str | None = None  # the whole output (a cached task: the reused execution's)
    # cgroup memory.max_usage_in_bytes: the high-water mark of RSS plus page cache.
    peak_memory_bytes: int | None = None
    # the largest total_rss of memory.stat sampled every MEMORY_SAMPLE_S: anonymous memory only.
    peak_rss_bytes: int | None = None
    # The execution cache (mlops.local_runs.cache): hit, miss or off; why; the key and its
    # parts; the execution whose outputs a hit reused; the outputs as kept for reuse.
    task_caching: bool = True  # false: the pipeline definition turned caching off for it
    cache_decision: str | None = None
    cache_note: list[str] = field(default_factory=list)
    cache_key: str | None = None
    cache_parts: dict[str, Any] | None = None
    cached_from: int | None = None
    outputs_spec: dict[str, Any] | None = None

    @property
    def cached(self) -> bool:
        return self.cached_from is not None

    @property
    def seconds(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TaskObserver(Protocol):
    def task_started(self, record: TaskRecord) -> None: ...

    def task_finished(self, record: TaskRecord) -> None: ...


# --- the container's memory, from its cgroup ---------------------------------------------


@dataclass(frozen=True)
class MemoryPeak:
    max_usage_bytes: int | None  # memory.max_usage_in_bytes (RSS + page cache)
    max_rss_bytes: int | None  # the largest sampled total_rss


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _read_total_rss(path: Path) -> int | None:
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "total_rss":
                return int(value)
    except (OSError, ValueError):
        pass
    return None


def _larger(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


class CgroupMemorySampler:
    """Samples a container's memory cgroup on a thread until stopped. The engine deletes the
    cgroup as soon as the container exits (checked: it is gone before `wait()` returns), so
    memory.max_usage_in_bytes is read on every sample too: it is a high-water mark, and the
    last reading misses at most the final interval of the container's life."""

    def __init__(self, container_id: str, interval_s: float = MEMORY_SAMPLE_S, root=None):
        self.dir = Path(root or CGROUP_MEMORY_ROOT) / container_id
        self.interval_s = interval_s
        self.max_usage: int | None = None
        self.max_rss: int | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> None:
        self.max_usage = _larger(self.max_usage, _read_int(self.dir / "memory.max_usage_in_bytes"))
        self.max_rss = _larger(self.max_rss, _read_total_rss(self.dir / "memory.stat"))

    def _loop(self) -> None:
        started = time.monotonic()
        while not self._done.is_set():
            self.sample()
            # Densely at first: a short step lives a fraction of a second.
            young = time.monotonic() - started < FIRST_SECOND
            self._done.wait(
                min(self.interval_s, FIRST_SECOND_SAMPLE_S) if young else self.interval_s
            )

    def start(self) -> CgroupMemorySampler:
        self._thread.start()
        return self

    def stop(self) -> MemoryPeak:
        self._done.set()
        self._thread.join()
        self.sample()  # still there if the container has not exited (e.g. it was killed)
        return MemoryPeak(self.max_usage, self.max_rss)


# --- the adjusted DockerRunner --------------------------------------------------------------


def _repository(image: str) -> str:
    name = image.partition("@")[0]
    last = name.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] if ":" in last else name


def image_digest(repo_digests: list[str], image: str) -> str | None:
    """The registry digest of `image` among an image's RepoDigests: the pinned one if the
    reference has a digest, else the one of the same repository."""
    pinned = image.partition("@")[2]
    for entry in repo_digests:
        if pinned and entry.endswith(f"@{pinned}"):
            return entry
    repository = _repository(image)
    for entry in repo_digests:
        if entry.partition("@")[0] == repository:
            return entry
    return None


def _stream_logs(container, tail: deque, prefix: str = "", log=None, echo: bool = True) -> None:
    """Writes the container's output to `log` (a file) line by line, keeping the last lines;
    with `echo`, prints each line after `prefix` too (the task's name: tasks running side by
    side interleave their lines)."""
    pending = ""

    def emit(lines: list[str]) -> None:
        for line in lines:
            if log is not None:
                log.write(line + "\n")
            if echo:
                print(f"{prefix}{line}", flush=True)
        if log is not None:
            log.flush()  # a reader (the UI, tail -f) follows the step as it runs
        tail.extend(lines)

    for chunk in container.logs(stream=True):
        lines = (pending + chunk.decode(errors="replace")).split("\n")
        pending = lines.pop()
        emit(lines)
    if pending:
        emit([pending])


class _Tracker:
    """The tasks kfp.local is running now, one per thread (tasks run side by side, see
    mlops.local_runs.dag), and who hears about them. Observers are called one at a time."""

    def __init__(self, observers: Sequence[TaskObserver], cache=None, logs=None):
        self.observers = list(observers)
        self.cache = cache  # an ExecutionCache, or None: every task runs
        self.logs = logs  # a step_logs.LogFiles, or None: the output is only printed
        self._local = threading.local()
        self._lock = threading.Lock()
        self._running: dict[int, TaskRecord] = {}  # thread id -> its task
        self._stopping = False  # the run ends on an error: no container may run on

    @property
    def next_task_name(self) -> str | None:
        """The pipeline task name the DAG loop validated last in this thread (see
        _remembering_task_names): the task this thread is about to run."""
        return getattr(self._local, "next_task_name", None)

    @next_task_name.setter
    def next_task_name(self, value: str | None) -> None:
        self._local.next_task_name = value

    @property
    def next_task_caching(self) -> bool:
        """Whether the pipeline definition lets that task be served from the cache."""
        return getattr(self._local, "next_task_caching", True)

    @next_task_caching.setter
    def next_task_caching(self, value: bool) -> None:
        self._local.next_task_caching = value

    @property
    def current(self) -> TaskRecord | None:
        """The task this thread runs."""
        return self._running.get(threading.get_ident())

    @current.setter
    def current(self, record: TaskRecord | None) -> None:
        with self._lock:
            if record is None:
                self._running.pop(threading.get_ident(), None)
            else:
                self._running[threading.get_ident()] = record

    def notify(self, event: str, record: TaskRecord) -> None:
        with self._lock:
            for observer in self.observers:
                getattr(observer, event)(record)

    def container_started(self, record: TaskRecord | None, container) -> bool:
        """Notes the container of a task; False when the run is being stopped."""
        with self._lock:
            if record is not None:
                record.container_id = container.id
            return not self._stopping

    @property
    def stopping(self) -> bool:
        return self._stopping

    def cancel_running(self) -> None:
        """Stops the containers of the running tasks (the run ends on an error or an
        interrupt); a container that starts from now on is stopped as it starts."""
        import docker
        import docker.errors

        with self._lock:
            self._stopping = True
            records = list(self._running.values())
        client = None
        for record in records:
            if record.container_id is None:
                continue
            client = client or docker.from_env()
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                client.containers.get(record.container_id).kill()


def _container_ran(record: TaskRecord | None, client, image: str, container) -> None:
    if record is None:
        return
    record.image_id = container.attrs.get("Image")
    try:
        record.image_digest = image_digest(client.images.get(image).attrs["RepoDigests"], image)
    except Exception:  # the digest is informative: a lookup failure must not fail the step
        record.image_digest = None


def _run_docker_container(
    client,
    image: str,
    command: list[str],
    volumes: dict[str, Any],
    *,
    mounts: Sequence[str] = (),
    writable: Sequence[str] = (),
    sources: dict[str, str] | None = None,
    tracker: _Tracker | None = None,
    verbose: bool = True,
) -> int:
    engine.ensure_image(client, image)
    record = tracker.current if tracker else None
    volumes = {
        **{m: {"bind": m, "mode": "ro"} for m in _reused_inputs(record, volumes)},
        **{m: {"bind": m, "mode": "ro"} for m in mounts},
        **{m: {"bind": m, "mode": "rw"} for m in writable},
        **volumes,
    }
    source = (sources or {}).get(image_component(image))
    if source:
        # The author's loop: the component's src/ as it is now, over the code in its image.
        volumes[source] = {"bind": "/app", "mode": "ro"}
    limit = record.memory_limit_bytes if record else None
    container = client.containers.run(
        image=image,
        command=command,
        detach=True,
        volumes=volumes,
        network_mode="host",
        # No swap beyond the limit: over it, the engine kills the container, as a cluster does.
        **({"mem_limit": limit, "memswap_limit": limit} if limit else {}),
    )
    sampler = CgroupMemorySampler(container.id).start()
    if tracker is not None and not tracker.container_started(record, container):
        container.kill()  # cancelled while its container was being created
    _container_ran(record, client, image, container)
    tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
    log_path = record.log_path if record else None
    log = open(log_path, "w", encoding="utf-8") if log_path else None  # noqa: SIM115
    try:
        prefix = f"{record.task} | " if record else ""
        _stream_logs(container, tail, prefix, log, echo=verbose or log is None)
        exit_code = container.wait()["StatusCode"]
        if record is not None:
            record.exit_code = exit_code
            _read_end(container, record)
        return exit_code
    finally:
        peak = sampler.stop()
        if log is not None:
            log.close()
        container.remove(force=True)  # kfp.local leaves stopped containers behind
        if record is not None:
            record.log_tail = list(tail)
            record.peak_memory_bytes = peak.max_usage_bytes
            record.peak_rss_bytes = peak.max_rss_bytes


def _read_end(container, record: TaskRecord) -> None:
    """Whether the engine killed the container for lack of memory (only the engine knows:
    read before the container is removed), and a killed container's reason as the error."""
    try:
        container.reload()
        _, record.oom_killed = step_logs.container_end(container.attrs)
    except Exception:  # informative only: an unreadable state must not fail the step
        record.oom_killed = None
    killed = step_logs.kill_reason(record.exit_code, record.oom_killed, record.memory_limit_bytes)
    if killed:
        record.error = killed


def _reused_inputs(record: TaskRecord | None, volumes: dict[str, Any]) -> list[str]:
    """Input artifacts outside this run's pipeline root (another run's outputs, reused from
    the cache): kfp.local mounts only this run's root, so they are mounted read-only too."""
    if record is None:
        return []
    inside = [Path(v) for v in volumes]
    reused = []
    for artifact in record.input_artifacts:
        path = Path(artifact.uri)
        if path.is_absolute() and path.exists() and not any(path.is_relative_to(v) for v in inside):
            reused.append(str(path))
    return reused


def _outputs_with_written_artifacts(original):
    def get_outputs_for_task(executor_input, component_spec):
        from kfp.local import executor_output_utils

        path = executor_input.outputs.output_file
        executor_output = executor_output_utils.load_executor_output(path)
        added = False
        for name, artifacts in executor_input.outputs.artifacts.items():
            written = [a for a in artifacts.artifacts if os.path.exists(a.uri)]
            if name not in executor_output.artifacts and written:
                executor_output.artifacts[name].artifacts.extend(written)
                added = True
        if added:
            from google.protobuf import json_format

            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(json_format.MessageToJson(executor_output))
        return original(executor_input, component_spec)

    return get_outputs_for_task


def _without_absent_optional_artifacts(original):
    def construct_executor_input(component_spec, arguments, *args, **kwargs):
        absent = [n for n in component_spec.input_definitions.artifacts if n not in arguments]
        if absent:
            component_spec = type(component_spec).FromString(component_spec.SerializeToString())
            for name in absent:
                del component_spec.input_definitions.artifacts[name]
        return original(component_spec, arguments, *args, **kwargs)

    return construct_executor_input


def _remembering_task_names(original, tracker: _Tracker):
    # run_dag validates each task spec right before dispatching it: the one place where the
    # pipeline task name (not only the component name) is at hand.
    def validate_task_spec_not_loop_or_condition(task_spec):
        tracker.next_task_name = task_spec.task_info.name or None
        tracker.next_task_caching = task_spec.caching_options.enable_cache
        return original(task_spec=task_spec)

    return validate_task_spec_not_loop_or_condition


def _artifact_record(name: str, artifact) -> ArtifactRecord:
    return ArtifactRecord(
        name=name,
        type=getattr(artifact, "schema_title", "") or "",
        uri=getattr(artifact, "uri", "") or "",
        metadata=dict(getattr(artifact, "metadata", None) or {}),
    )


def _is_artifact(value) -> bool:
    from kfp import dsl

    return isinstance(value, dsl.Artifact)


def _resolved_parameters(component_spec, arguments: dict[str, Any]) -> dict[str, Any]:
    """The parameter values the task gets: the arguments, else the declared defaults."""
    from kfp.local import executor_output_utils
    from kfp.pipeline_spec import pipeline_spec_pb2

    integer = pipeline_spec_pb2.ParameterType.NUMBER_INTEGER
    values = {k: v for k, v in arguments.items() if not _is_artifact(v)}
    for name, spec in component_spec.input_definitions.parameters.items():
        if name not in values and spec.HasField("default_value"):
            values[name] = executor_output_utils.pb2_value_to_python(spec.default_value)
        value = values.get(name)
        if spec.parameter_type == integer and isinstance(value, float) and value.is_integer():
            values[name] = int(value)  # protobuf holds numbers as doubles: 1 and 1.0 are one
    return values


def _new_record(tracker: _Tracker, component_name, component_spec, executor_spec, arguments):
    from kfp.local import executor_input_utils

    task = tracker.next_task_name or executor_input_utils.get_local_task_resource_name(
        component_name
    )
    tracker.next_task_name = None  # a direct component run has no DAG task name
    record = TaskRecord(
        task=task,
        component=component_name,
        image_ref=executor_spec.container.image,
        input_parameters=_resolved_parameters(component_spec, arguments),
        input_artifacts=[
            _artifact_record(k, v) for k, v in sorted(arguments.items()) if _is_artifact(v)
        ],
        started_at=time.time(),
        memory_limit_bytes=memory_limit(executor_spec),
    )
    record.task_caching, tracker.next_task_caching = tracker.next_task_caching, True
    return record


def memory_limit(executor_spec) -> int | None:
    """The task's memory limit in bytes (`task.set_memory_limit("512M")`, compiled as GB into
    the container's resources), None without one."""
    gigabytes = executor_spec.container.resources.memory_limit
    return round(gigabytes * 10**9) if gigabytes > 0 else None


def _finish_record(record: TaskRecord, outputs: dict[str, Any], task_status) -> None:
    record.ended_at = time.time()
    record.status = task_status.name
    for name, value in sorted(outputs.items()):
        if _is_artifact(value):
            record.output_artifacts.append(_artifact_record(name, value))
        elif isinstance(value, list) and value and all(_is_artifact(v) for v in value):
            record.output_artifacts.extend(_artifact_record(name, v) for v in value)
        else:
            record.output_parameters[name] = value


def _image_identity(image: str) -> str | None:
    """What the cache keys an image on: the digest it is pinned to, else the local image id
    (a tag can move; the content it names cannot)."""
    pinned = image.partition("@")[2]
    if pinned:
        return pinned
    import docker

    client = docker.from_env()
    try:
        engine.ensure_image(client, image)
        return client.images.get(image).id
    except Exception:  # no such image: the task itself will fail and say so
        return None


def _cache_decision(tracker: _Tracker, record: TaskRecord, executor_spec):
    """The cache's decision for a task about to run (None without a cache); an execution of
    the FROM= run stands in for a task upstream of the step that runs again."""
    cache = tracker.cache
    if cache is None:
        return None
    from mlops.local_runs.cache import Decision

    container = executor_spec.container
    reused = cache.policy.reuse.get(record.task)
    if reused is not None and record.task_caching and record.task not in cache.policy.rerun:
        return Decision(
            record.task,
            hit=reused,
            key=reused.get("cache_key"),
            reasons=[
                f"reuses execution {reused['id']} of run {reused['run_id']} "
                f"(upstream of FROM={cache.policy.from_step})"
            ],
        )
    return cache.decide(
        record,
        task_caching=record.task_caching,
        command=list(container.command) + list(container.args),
        image_id=_image_identity(container.image) if record.task_caching else None,
        component=image_component(container.image),
    )


def _served_from_cache(tracker: _Tracker, record: TaskRecord, decision):
    """The outputs of the execution a hit reuses, recorded as this run's cached task."""
    from kfp.local import status

    from mlops.local_runs.cache import restore

    hit = decision.hit
    outputs = restore(hit["outputs_spec"])
    record.cached_from = hit.get("cached_from") or hit["id"]  # the execution that ran
    record.outputs_spec = hit["outputs_spec"]
    record.image_digest, record.image_id = hit.get("image_digest"), hit.get("image_id")
    record.log_path = hit.get("log_path")  # the output of the execution that ran
    tracker.notify("task_started", record)
    _finish_record(record, outputs, status.Status.SUCCESS)
    tracker.notify("task_finished", record)
    return outputs, status.Status.SUCCESS


def _observing_tasks(original, tracker: _Tracker):
    signature = inspect.signature(original)

    def run_single_task_implementation(*args, **kwargs):
        given = signature.bind(*args, **kwargs).arguments
        record = _new_record(
            tracker,
            given["component_name"],
            given["component_spec"],
            given["executor_spec"],
            given["arguments"],
        )
        decision = _cache_decision(tracker, record, given["executor_spec"])
        if decision is not None:
            record.cache_decision, record.cache_note = decision.word, list(decision.reasons)
            record.cache_key, record.cache_parts = decision.key, decision.parts or None
            if decision.hit is not None:
                return _served_from_cache(tracker, record, decision)
        if tracker.logs is not None:
            record.log_path = str(tracker.logs.path_for(record.task))
        tracker.current = record
        tracker.notify("task_started", record)
        try:
            outputs, task_status = original(*args, **kwargs)
        except BaseException as e:
            record.ended_at, record.status, record.error = time.time(), "ERROR", str(e) or repr(e)
            tracker.notify("task_finished", record)
            raise
        finally:
            tracker.current = None
        _finish_record(record, outputs, task_status)
        if record.status != "SUCCESS" and tracker.stopping:
            record.status, record.error = "CANCELLED", "stopped: the run ended on an error"
        if record.status == "SUCCESS" and tracker.cache is not None:
            # Kept for later runs (a cache hit, FROM=), with what each output holds now.
            record.outputs_spec = tracker.cache.outputs_spec(outputs)
        tracker.notify("task_finished", record)
        return outputs, task_status

    return run_single_task_implementation


@contextlib.contextmanager
def _patched(module, name: str, replacement) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)


def image_component(image: str) -> str:
    """The component an image reference belongs to: REGISTRY/NS/<component>:TAG@DIGEST."""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0]


@contextlib.contextmanager
def docker_runner_adapted(
    mounts: list[Path] | None = None,
    observers: Sequence[TaskObserver] = (),
    writable: list[Path] | None = None,
    sources: dict[str, Path] | None = None,
    max_parallel: int | None = None,
    cache=None,
    log_dir: Path | None = None,
    verbose: bool = True,
) -> Iterator[None]:
    """kfp.local's DockerRunner as a cluster would run the steps; `mounts` are host folders
    the steps read (local data), mounted read-only at the same paths, `writable` the ones
    they write (a local model registry). `sources` maps a component name to a src/ folder
    mounted over its image's code (/app): a local run of edited code without a rebuild.
    Tasks whose upstream tasks are done run side by side, at most `max_parallel` (default:
    one per CPU) at a time (mlops.local_runs.dag). Each observer gets task_started(record) and
    task_finished(record) for every container task run inside. With `cache` (an
    mlops.local_runs.cache.ExecutionCache) a task may be served from an earlier execution.
    With `log_dir`, each task's output goes to <log_dir>/<task>.log (its record's log_path);
    unless `verbose`, it is not printed, nor is kfp.local's own logging."""
    from kfp.local import (
        dag_orchestrator,
        docker_task_handler,
        executor_input_utils,
        executor_output_utils,
        logging_utils,
        task_dispatcher,
    )

    from mlops.local_runs.dag import concurrent_run_dag, shared_context

    logs = step_logs.LogFiles(log_dir) if log_dir is not None else None
    tracker = _Tracker(observers, cache, logs)
    quiet = not verbose and logs is not None
    extra = [str(Path(m).resolve()) for m in mounts or []]
    replacements = [
        (
            executor_input_utils,
            "construct_executor_input",
            _without_absent_optional_artifacts(executor_input_utils.construct_executor_input),
        ),
        (
            docker_task_handler,
            "run_docker_container",
            functools.partial(
                _run_docker_container,
                mounts=extra,
                writable=[str(Path(m).resolve()) for m in writable or []],
                sources={k: str(Path(v).resolve()) for k, v in (sources or {}).items()},
                tracker=tracker,
                verbose=not quiet,
            ),
        ),
        (
            executor_output_utils,
            "get_outputs_for_task",
            _outputs_with_written_artifacts(executor_output_utils.get_outputs_for_task),
        ),
        (
            task_dispatcher,
            "run_single_task_implementation",
            _observing_tasks(task_dispatcher.run_single_task_implementation, tracker),
        ),
        (
            dag_orchestrator,
            "validate_task_spec_not_loop_or_condition",
            _remembering_task_names(
                dag_orchestrator.validate_task_spec_not_loop_or_condition, tracker
            ),
        ),
        (
            dag_orchestrator,
            "run_dag",
            concurrent_run_dag(max_parallel or os.cpu_count() or 1, tracker.cancel_running),
        ),
        # Process-wide swaps kfp.local makes around each task: once for overlapping tasks.
        (
            logging_utils,
            "local_logger_context",
            contextlib.nullcontext if quiet else shared_context(logging_utils.local_logger_context),
        ),
        (logging_utils, "indented_print", shared_context(logging_utils.indented_print)),
    ]
    if quiet:  # the rule kfp.local prints after each task
        replacements.append((logging_utils, "print_horizontal_line", lambda: None))
    with contextlib.ExitStack() as stack:
        for module, name, replacement in replacements:
            stack.enter_context(_patched(module, name, replacement))
        if quiet:
            stack.enter_context(_without_kfp_local_logging())
        yield


@contextlib.contextmanager
def _without_kfp_local_logging() -> Iterator[None]:
    """Drops the records kfp.local logs on the root logger (its INFO lines, its outputs, the
    error line of a failed task: the console says all of it)."""
    import logging

    import kfp.local

    where = str(Path(kfp.local.__file__).parent)

    def not_kfp_local(record: logging.LogRecord) -> bool:
        return not record.pathname.startswith(where)

    root = logging.getLogger()
    root.addFilter(not_kfp_local)
    try:
        yield
    finally:
        root.removeFilter(not_kfp_local)


# --- running a compiled package -------------------------------------------------------------


def default_lineage_db(package: Path) -> Path:
    """<project>/.local/lineage.sqlite of the project the package was compiled in
    (<project>/dist/<pipeline>/workflow.tar.gz), else of this repository."""
    from mlops.lineage.store import DEFAULT_DB

    package = Path(package).resolve()
    if len(package.parents) > 2 and package.parents[1].name == "dist":
        return package.parents[2] / DEFAULT_DB
    return REPO / DEFAULT_DB


def run_package(
    package: Path,
    pipeline_root: Path,
    arguments: dict[str, Any],
    lineage_db: Path | None = None,
    observers: Sequence[TaskObserver] = (),
    mounts: list[Path] | None = None,
    writable: list[Path] | None = None,
    sources: dict[str, Path] | None = None,
    max_parallel: int | None = None,
    cache: CachePolicy | None = None,
    from_step: str | None = None,
    match_parameters: dict[str, Any] | None = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """Runs the pipeline in a workflow.tar.gz; returns its outputs (artifacts as URIs).
    Independent tasks run side by side, at most `max_parallel` (default: one per CPU).
    The run, its steps and artifacts are recorded in the lineage store `lineage_db`
    (default: `default_lineage_db(package)`), a failed run with the step that failed.
    `cache` (default: on, no age limit) says when a task reuses an earlier execution;
    `from_step` runs that step and what is downstream of it, reusing the latest successful
    run (whose parameters include `match_parameters`) for the rest.
    Each step's output goes to <pipeline_root>/logs/<task>.log; the console shows a line as
    each step starts and ends (mlops.local_runs.console), and the steps' output too when
    `verbose`."""
    from kfp import components, local

    from mlops.core.parameter_check import check, spec_of
    from mlops.lineage.recording import recorded_run
    from mlops.lineage.store import LineageStore
    from mlops.local_runs import partial
    from mlops.local_runs.cache import ExecutionCache

    ir_text = read_package(package)
    # Checked before anything starts: kfp.local's own check is a compiler traceback.
    arguments = check(spec_of(ir_text), arguments)
    pipeline = components.load_component_from_text(ir_text)
    lineage_db = lineage_db or default_lineage_db(package)
    policy = cache or CachePolicy()
    if from_step:
        with LineageStore(lineage_db) as store:
            policy = partial.plan(
                package, from_step, store, pipeline.name, match_parameters, base=policy
            )
        say(f"[run] FROM={policy.from_step}: runs again {', '.join(sorted(policy.rerun))}")
    pipeline_root.mkdir(parents=True, exist_ok=True)
    # Component containers run as a non-root user and write their outputs under this root.
    pipeline_root.chmod(0o1777)
    local.init(runner=local.DockerRunner(), pipeline_root=str(pipeline_root))
    started = time.monotonic()
    with (
        recorded_run(
            lineage_db,
            pipeline=pipeline.name,
            package=package,
            pipeline_root=pipeline_root,
            parameters=arguments,
        ) as recorder,
        LineageStore(lineage_db) as cache_store,
    ):
        overlays = {k: str(Path(v).resolve()) for k, v in (sources or {}).items()}
        console = Console(explain=policy.explain, verbose=verbose)
        try:
            with docker_runner_adapted(
                mounts,
                observers=[recorder, console, *observers],
                writable=writable,
                sources=sources,
                max_parallel=max_parallel,
                cache=ExecutionCache(policy, cache_store, pipeline.name, overlays),
                log_dir=pipeline_root / step_logs.LOGS,
                verbose=verbose,
            ):
                try:
                    task = pipeline(**arguments)
                except RuntimeError as e:
                    # kfp.local colours the task names of its message for a terminal
                    plain = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
                    raise BuildError(f"{package}: the local run failed: {plain}") from e
        finally:
            console.close()
        outputs = {}
        for name, value in (task.outputs or {}).items():
            outputs[name] = getattr(value, "uri", value)
        recorder.outputs = outputs
    cached = [r.task for r in recorder.records if r.cached]
    print(
        f"[run] {package.parent.name}: succeeded in {time.monotonic() - started:.1f}s"
        + (f" ({len(cached)} of {len(recorder.records)} steps from the cache)" if cached else "")
        + f"; outputs: {json.dumps(outputs, default=str)}; lineage run {recorder.run_id}",
        flush=True,
    )
    return outputs


def run_compiled(
    root: Path,
    pipeline: str,
    data: str | None = None,
    cache: bool = True,
    explain: bool = False,
    from_step: str | None = None,
    verbose: bool = False,
) -> None:
    """dist/<pipeline>/workflow.tar.gz run locally with its parameters from settings.yaml."""
    from mlops.core import pipeline_parameters
    from mlops.core.pipeline_package import PACKAGE

    package = root / "dist" / pipeline / PACKAGE
    if not package.is_file():
        raise BuildError(f"{package}: not found; run `make compile` first")
    parameters = pipeline_parameters.for_pipeline(root, pipeline, package, data=data)
    shown = {k: (v if len(str(v)) < 80 else str(v)[:77] + "...") for k, v in parameters.items()}
    say(f"[run] {pipeline}: running locally with {shown}")
    from mlops.local_runs.cache import settings_policy

    policy = settings_policy(root, enabled=cache, explain=explain)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_package(
        package,
        root / "dist" / "local_runs" / pipeline / stamp,
        parameters,
        cache=policy,
        from_step=from_step,
        verbose=verbose,
    )
