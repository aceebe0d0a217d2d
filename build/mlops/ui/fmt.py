"""Values for people on the UI's pages: 4.8 s, 1.2 GB, 0.948, 15,002, a local time; the
templates use them as Jinja filters."""

from __future__ import annotations

import json
import time
from typing import Any


def when(seconds: float | None) -> str:
    return "-" if seconds is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def iso(text: str | None) -> str:
    """An ISO 8601 time (the registry's) as a local time, like `when`."""
    from datetime import datetime

    if not text:
        return "-"
    try:
        return when(datetime.fromisoformat(text).timestamp())
    except ValueError:
        return text


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def took(started: float | None, ended: float | None, now: float | None = None) -> str:
    """How long something ran; with `now`, how long it has been running so far."""
    if started is None:
        return "-"
    end = ended if ended is not None else now
    return "-" if end is None else duration(max(0.0, end - started))


def size(count: int | float | None) -> str:
    if count is None:
        return "-"
    value, units = float(count), ("B", "KB", "MB", "GB", "TB")
    step = 0
    while value >= 1024 and step < len(units) - 1:
        value, step = value / 1024, step + 1
    if step == 0:
        return f"{value:.0f} B"
    return f"{value:.1f} {units[step]}" if value < 10 else f"{value:.0f} {units[step]}"


def number(value: Any) -> str:
    """A count with thousands separators, a measure with three significant decimals; other
    values as they are (a string, a list joined)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 2:
            return f"{int(value):,}"  # a count (KFP metadata makes every number a float)
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
        return f"{value:.3f}" if abs(value) >= 0.001 else f"{value:.2e}"
    if isinstance(value, list | tuple):
        return ", ".join(number(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def short(value: Any, width: int = 120) -> str:
    """A parameter value on one line: a schema or a module's source is cut, its size said."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= width else f"{text[:width]}… ({len(text):,} characters)"


def relative(path, root) -> str:
    """A path below the project as relative to it (data/x.csv), any other as it is."""
    from pathlib import Path

    if path is None:
        return "-"
    text = str(path)
    if "://" in text:
        return text
    try:
        return str(Path(text).relative_to(root))
    except ValueError:
        return text


FILTERS = {
    "when": when,
    "iso": iso,
    "duration": duration,
    "size": size,
    "number": number,
    "short": short,
}
