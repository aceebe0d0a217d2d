"""What a local run prints: a line when a step starts and one when it ends (its time, peak
memory and headline; a failed step's error lines, how a killed one was killed, where its log
is), and on a terminal a live line at the bottom showing what runs and for how long, redrawn
in place and cleared before any other line. The steps' own output goes to their log files
(mlops.local_runs.step_logs); `verbose` streams it too, as kfp.local does."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from mlops.local_runs import step_logs
from mlops.local_runs.headline import headline

PREFIX = "[run]"
TASK_WIDTH = 16  # task names line up (the CT pipeline's longest is 16 characters)
INDENT = " " * 8  # error lines under their step's line
REDRAW_S = 1.0
CLEAR = "\r\033[K"  # back to the line's start, erase it

_live: LiveLine | None = None  # the live line on screen, if any: other lines go above it


def say(line: str) -> None:
    """A line of the run's own on stdout, above the live line when one is drawn. Not print():
    kfp.local indents print() while any task runs, and tasks run side by side."""
    live = _live
    if live is not None:
        live.write(line)
        return
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def duration(seconds: float) -> str:
    """42s, 3m05s, 1h02m: a live line's clock."""
    seconds = int(max(0.0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def live_text(running: dict[str, float], now: float, since: float | None, width: int) -> str:
    """The live line: the run's time so far and each running step's, oldest first, cut to
    `width` characters (a wrapped line cannot be redrawn in place)."""
    if not running:
        return ""
    steps = ", ".join(
        f"{task} {duration(now - started)}"
        for task, started in sorted(running.items(), key=lambda item: item[1])
    )
    clock = "" if since is None else f" {duration(now - since)}"
    text = f"{PREFIX}{clock} running: {steps}"
    return text if len(text) < width else text[: max(0, width - 2)] + "…"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class LiveLine:
    """The bottom line of a terminal showing the running steps, redrawn every REDRAW_S on a
    thread; `write` puts a line above it. Off (writes pass through) when the stream is not a
    terminal: a pipe or a file gets plain lines only."""

    def __init__(
        self,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.stream = stream or sys.stdout
        self.enabled = _is_terminal(self.stream) if enabled is None else enabled
        self.clock = clock
        self.since = clock()
        self.running: dict[str, float] = {}
        self._shown = False
        self._lock = threading.RLock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def width(self) -> int:
        return shutil.get_terminal_size(fallback=(100, 24)).columns

    def _clear(self) -> None:
        if self._shown:
            self.stream.write(CLEAR)
            self._shown = False

    def _draw(self) -> None:
        if not self.enabled:
            return
        text = live_text(self.running, self.clock(), self.since, self.width())
        if text:
            self.stream.write(CLEAR + text)  # over the line drawn before
            self._shown = True
        else:
            self._clear()

    def redraw(self) -> None:
        with self._lock:
            self._draw()
            self.stream.flush()

    def write(self, line: str) -> None:
        with self._lock:
            self._clear()
            self.stream.write(line + "\n")
            self._draw()
            self.stream.flush()

    def started(self, task: str) -> None:
        with self._lock:
            self.running[task] = self.clock()
        self.redraw()

    def finished(self, task: str) -> None:
        with self._lock:
            self.running.pop(task, None)
        self.redraw()

    def _loop(self) -> None:
        while not self._done.wait(REDRAW_S):
            self.redraw()

    def open(self) -> LiveLine:
        global _live
        _live = self
        if self.enabled:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        global _live
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._clear()
            self.stream.flush()
        if _live is self:
            _live = None


# --- the lines of a step ----------------------------------------------------------------------


def _memory(record) -> str:
    peak = record.peak_rss_bytes or record.peak_memory_bytes
    return "" if peak is None else f", peak {step_logs.bytes_text(peak)}"


def _took(record) -> str:
    return "" if record.seconds is None else f" in {record.seconds:.1f}s"


def _log(record) -> str:
    return f"; log {record.log_path}" if record.log_path else ""


def start_line(record) -> str:
    return f"{PREFIX} {record.task:<{TASK_WIDTH}} started"


def end_lines(record, log_lines: list[str] | None = None) -> list[str]:
    """How a step ended: done (time, memory, headline), cached, failed (with its error lines),
    killed (how), cancelled or an error of the run's own. `log_lines`: the end of its log
    (default: read from its log file, else its tail)."""
    name = f"{PREFIX} {record.task:<{TASK_WIDTH}}"
    if record.cached:
        said = headline(record)
        return [f"{name} cached (execution {record.cached_from})" + (f": {said}" if said else "")]
    if record.status == "SUCCESS":
        said = headline(record)
        return [f"{name} done{_took(record)}{_memory(record)}" + (f": {said}" if said else "")]
    if record.status == "CANCELLED":
        return [f"{name} cancelled{_took(record)}: {record.error or 'stopped'}"]
    if record.status == "ERROR":
        return [f"{name} error{_took(record)}: {record.error}"]
    if log_lines is None:
        log_lines = step_logs.read_tail(record.log_path) or list(record.log_tail)
    killed = step_logs.kill_reason(record.exit_code, record.oom_killed, record.memory_limit_bytes)
    if killed:
        last = next((line for line in reversed(log_lines) if line.strip()), None)
        return [f"{name} KILLED{_took(record)}{_memory(record)}: {killed}{_log(record)}"] + (
            [f"{INDENT}last output: {step_logs.cut_line(last.strip())}"] if last else []
        )
    exit_code = "" if record.exit_code is None else f", exit code {record.exit_code}"
    return [f"{name} FAILED{_took(record)}{exit_code}{_memory(record)}{_log(record)}"] + [
        INDENT + line for line in step_logs.error_lines(log_lines)
    ]


class Console:
    """A task observer printing each step's start and end (see end_lines), with a live line
    on a terminal unless `verbose` (the steps' own lines stream then); with `explain`, each
    step's cache decision and why."""

    def __init__(self, explain: bool = False, verbose: bool = False, stream=None):
        self.explain = explain
        self.verbose = verbose
        self.live = LiveLine(stream, enabled=False if verbose else None).open()

    def task_started(self, record) -> None:
        if self.explain and record.cache_decision:
            reasons = "".join(f"\n    - {r}" for r in record.cache_note)
            say(f"[cache] {record.task}: {record.cache_decision}{reasons}")
        if not record.cached:
            say(start_line(record))
            self.live.started(record.task)

    def task_finished(self, record) -> None:
        self.live.finished(record.task)
        for line in end_lines(record):
            say(line)

    def close(self) -> None:
        self.live.close()
