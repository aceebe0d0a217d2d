"""Recording a local run in the lineage store: `RunRecorder`, a local_runs task observer that
writes each task, and `recorded_run()`, which opens and closes the run around it."""

from __future__ import annotations

import contextlib
import os
import platform
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlops.core.errors import BuildError
from mlops.lineage.store import LineageStore


class RunRecorder:
    """A local_run task observer that writes each task of one run to the store."""

    def __init__(self, store: LineageStore, run_id: str):
        self.store = store
        self.run_id = run_id
        self.records: list = []
        self.outputs: dict[str, Any] | None = None
        self._execution_ids: dict[int, int] = {}

    def task_started(self, record) -> None:
        self.records.append(record)
        self._execution_ids[id(record)] = self.store.start_execution(self.run_id, record)

    def task_finished(self, record) -> None:
        self.store.finish_execution(self._execution_ids[id(record)], record)

    def failed_record(self):
        """The task that failed, if any: the first to end failed (the tasks cancelled
        because of it end later)."""
        failed = [r for r in self.records if r.status not in ("SUCCESS", "RUNNING", "CANCELLED")]
        return min(failed, key=lambda r: r.ended_at or float("inf")) if failed else None


def failure_reason(record, error: BaseException | None) -> str:
    """Why a run failed, in one line: the task's exit code and last log line, or the error."""
    if record is None:
        return str(error) or repr(error)
    parts = [f"task {record.task} {record.status}"]
    if record.exit_code is not None:
        parts.append(f"exit code {record.exit_code}")
    last = next((line for line in reversed(record.log_tail) if line.strip()), None)
    detail = record.error or last
    return ", ".join(parts) + (f": {detail.strip()}" if detail else "")


def environment(project: Path | None = None) -> dict[str, Any]:
    """Where the run ran: host, Python, kfp, runner, ENV and the project's commit."""
    import kfp

    from mlops.core.git_info import commit_sha

    commit = None
    if project is not None:
        with contextlib.suppress(BuildError):
            commit = commit_sha(project)
    return {
        "runner": "kfp.local DockerRunner",
        "kfp": kfp.__version__,
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "env": os.environ.get("ENV") or "local",
        "commit": commit,
    }


@contextlib.contextmanager
def recorded_run(
    db: Path | str,
    pipeline: str,
    package: Path | str | None,
    pipeline_root: Path | str | None,
    parameters: dict[str, Any],
    env: dict[str, Any] | None = None,
) -> Iterator[RunRecorder]:
    """Records a run from start to finish: SUCCEEDED, or FAILED with the failed task and the
    reason (the error still propagates). Pass the yielded recorder to docker_runner_adapted;
    set its `outputs` to keep the run's outputs."""
    project = Path(db).resolve().parents[1]
    with LineageStore(db) as store:
        run_id = store.start_run(
            pipeline,
            parameters,
            package=package,
            pipeline_root=pipeline_root,
            environment=env if env is not None else environment(project),
        )
        recorder = RunRecorder(store, run_id)
        try:
            yield recorder
        except BaseException as e:
            failed = recorder.failed_record()
            status = "FAILED" if isinstance(e, Exception) else "CANCELLED"
            store.finish_run(
                run_id,
                status,
                failed_task=failed.task if failed else None,
                reason=failure_reason(failed, e),
            )
            raise
        store.finish_run(run_id, "SUCCEEDED", outputs=recorder.outputs)
