"""Values for people on the UI's pages: 4.8 s, 1.2 GB, 0.948, 15,002, a local time; the
templates use them as Jinja filters."""

from __future__ import annotations

import json
import time
from typing import Any

from mlops_runtime.charts import human


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
    return "-" if seconds is None else human(seconds, "s")


def took(started: float | None, ended: float | None, now: float | None = None) -> str:
    """How long something ran; with `now`, how long it has been running so far."""
    if started is None:
        return "-"
    end = ended if ended is not None else now
    return "-" if end is None else duration(max(0.0, end - started))


def size(count: int | float | None) -> str:
    return "-" if count is None else human(count, "B")


def number(value: Any) -> str:
    """A count with thousands separators (KFP metadata makes every number a float), a
    measure with three significant digits; other values as they are (a list joined)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 2:
        return human(int(value))
    if isinstance(value, int | float):
        return human(value)
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
