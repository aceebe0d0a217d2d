"""A step's output and how it ended, for people: every line a step's container wrote goes to
its own file (<run>/logs/<task>.log), the console shows only what explains a failure (the
traceback's last lines or the lines naming an error) and how a killed container was killed
(its exit code's signal, and "out of memory" when the engine says so)."""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

LOGS = "logs"  # <pipeline root>/logs/<task>.log
TRACEBACK = "Traceback (most recent call last):"
ERROR_LINES = 8  # at most this many lines explain a failure
SEARCHED_LINES = 30  # without a traceback, error lines are looked for in the log's last lines
LINE_CHARS = 300  # a longer line is cut (a JSON dump, a Beam stage list)
TAIL_BYTES = 256 * 1024  # what is read of a log file to explain its end
# Python's exception classes (ValueError, OSError) and the words a failing tool writes.
NAMES_AN_ERROR = re.compile(r"\w+(?:Error|Exception)\b|\b(?:error|fatal|failed|failure)\b", re.I)
SIGNALLED = 128  # a process killed by signal N exits with 128 + N (137: SIGKILL)


# --- the log files -----------------------------------------------------------------------


class LogFiles:
    """Hands out one log file per task under `folder`; a name used twice in a run (a task of
    a nested pipeline) gets a suffix rather than overwriting the first."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._taken: set[str] = set()
        self._lock = threading.Lock()

    def path_for(self, task: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", task) or "task"
        with self._lock:
            name, n = safe, 1
            while name in self._taken:
                n += 1
                name = f"{safe}-{n}"
            self._taken.add(name)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.log"
        path.touch()  # there from the start, even for a task whose container never starts
        return path


def read_tail(path: str | Path | None, limit: int = TAIL_BYTES) -> list[str]:
    """The last lines of a log file (its last `limit` bytes), [] when there is none."""
    if not path:
        return []
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - limit))
            data = f.read()
    except OSError:
        return []
    lines = data.decode(errors="replace").splitlines()
    return lines[1:] if size > limit and lines else lines  # the first may be cut


# --- what explains a failure ----------------------------------------------------------------


def cut_line(line: str) -> str:
    line = line.rstrip()
    return line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 1] + "…"


def _last_traceback(lines: list[str]) -> tuple[list[str], list[str]] | None:
    """(the innermost frame, the exception's lines) of the last traceback in `lines`."""
    starts = [i for i, line in enumerate(lines) if line.strip() == TRACEBACK]
    if not starts:
        return None
    block = lines[starts[-1] + 1 :]
    # Frames are indented; the exception is the first line that is not.
    end = next((i for i, line in enumerate(block) if line and not line[0].isspace()), len(block))
    frames = [i for i, line in enumerate(block[:end]) if line.lstrip().startswith("File ")]
    frame = block[frames[-1] : end][:3] if frames else []
    exception = []
    for line in block[end:]:
        if not line.strip():
            break
        exception.append(line)
    return frame, exception


def error_lines(lines: Iterable[str], limit: int = ERROR_LINES) -> list[str]:
    """The lines of a failed step's output that say why it failed: the last traceback's
    innermost frame and exception; else the lines naming an error near the end, and the last
    line (a tool's own message: "train_model: --label_key ... not found")."""
    lines = [line.rstrip("\r\n") for line in lines]
    traceback = _last_traceback(lines)
    if traceback is not None:
        frame, exception = traceback
        exception = exception[:limit]
        return [cut_line(x) for x in (frame[: max(0, limit - len(exception))] + exception)]
    tail = [line for line in lines[-SEARCHED_LINES:] if line.strip()]
    if not tail:
        return []
    chosen = [i for i, line in enumerate(tail) if NAMES_AN_ERROR.search(line)]
    if len(tail) - 1 not in chosen:
        chosen.append(len(tail) - 1)
    return [cut_line(tail[i]) for i in chosen[-limit:]]


def error_summary(lines: Iterable[str]) -> str | None:
    """One line saying why a step failed: the exception of its last traceback, else the last
    line naming an error, else its last line; None for an empty log."""
    lines = [line.rstrip("\r\n") for line in lines]
    traceback = _last_traceback(lines)
    if traceback is not None and traceback[1]:
        return cut_line(traceback[1][0].strip())
    found = error_lines(lines)
    named = [line for line in found if NAMES_AN_ERROR.search(line)]
    return (named or found or [None])[-1]


# --- how a container ended ------------------------------------------------------------------


def container_end(attrs: dict[str, Any]) -> tuple[int | None, bool]:
    """(exit code, killed for lack of memory) from a container's inspect data (`attrs`, after
    `reload()`): the engine records OOMKilled when its cgroup hit the memory limit."""
    state = attrs.get("State") or {}
    code = state.get("ExitCode")
    return (code if isinstance(code, int) else None), bool(state.get("OOMKilled"))


def signal_name(exit_code: int | None) -> str | None:
    """SIGKILL for 137: the signal that ended a process exiting with 128 + N."""
    if exit_code is None or exit_code <= SIGNALLED:
        return None
    try:
        return signal.Signals(exit_code - SIGNALLED).name
    except ValueError:
        return None


def kill_reason(
    exit_code: int | None, oom_killed: bool | None, memory_limit_bytes: int | None = None
) -> str | None:
    """How a step's container was killed, in words; None when it was not (it exited)."""
    limit = f" (limit {bytes_text(memory_limit_bytes)})" if memory_limit_bytes else ""
    name = signal_name(exit_code)
    if oom_killed:
        if name:
            return f"killed by {name} (exit code {exit_code}): out of memory{limit}"
        # The engine killed a process of the container; its main process exited on its own.
        return f"out of memory{limit}: the engine killed a process (exit code {exit_code})"
    if name:
        return f"killed by {name} (exit code {exit_code})"
    return None


def failure_reason(record) -> str | None:
    """One line saying why a step (a local_runs TaskRecord) failed: how it was killed, else
    the error its log names."""
    killed = kill_reason(record.exit_code, record.oom_killed, record.memory_limit_bytes)
    if killed:
        return killed
    return error_summary(read_tail(record.log_path) or record.log_tail)


def bytes_text(value: int | None) -> str:
    if value is None:
        return "?"
    if value >= 10 * 2**30:
        return f"{value / 2**30:.0f} GB"
    if value >= 2**30:
        return f"{value / 2**30:.1f} GB"
    return f"{value / 2**20:.0f} MB"
