"""A first look at a CSV table for `make usecase`: each column's kind (int, float or string,
by the rules extract_data applies: every present cell an integer, else a number, else text),
how often it is missing, and what the label's values say about the task."""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mlops.core.errors import BuildError

TASKS = ("binary", "multiclass", "regression")
# Integer labels with at most this many distinct values are classes, above it quantities.
MAX_INFERRED_CLASSES = 20
_INT = re.compile(r"^[+-]?[0-9]+$")
_FLOAT = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")


@dataclass
class Column:
    name: str
    kind: str = "int"  # int | float | string, narrowed as cells are seen
    present: int = 0
    missing: int = 0
    values: Counter = field(default_factory=Counter)  # kept for the label only

    def see(self, cell: str) -> None:
        self.present += 1
        if self.kind == "int" and not _INT.match(cell):
            self.kind = "float"
        if self.kind == "float" and not _FLOAT.match(cell):
            self.kind = "string"


@dataclass(frozen=True)
class Profile:
    path: Path
    rows: int
    columns: dict[str, Column]
    label: str

    @property
    def label_column(self) -> Column:
        return self.columns[self.label]

    def features(self, kind: str) -> list[str]:
        """Columns other than the label: numeric ("int"/"float" together) or "string"."""
        wanted = ("int", "float") if kind == "numeric" else (kind,)
        return [n for n, c in self.columns.items() if n != self.label and c.kind in wanted]


def read_profile(path: Path, label: str, null_markers: tuple[str, ...]) -> Profile:
    if not path.is_file():
        raise BuildError(f"DATA={path}: no such file (a CSV file with a header line)")
    markers = {m.strip() for m in null_markers}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise BuildError(f"{path}: empty, no header line") from None
        if label not in header:
            raise BuildError(f"{path}: LABEL={label!r} is not a column (columns: {header})")
        columns = {name: Column(name) for name in header}
        at = header.index(label)
        rows = 0
        for line, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise BuildError(
                    f"{path}:{line}: {len(cells)} cells, but the header has {len(header)}"
                )
            rows += 1
            for name, cell in zip(header, cells, strict=True):
                cell = cell.strip()
                if cell in markers:
                    columns[name].missing += 1
                else:
                    columns[name].see(cell)
            if cells[at].strip() not in markers:
                columns[label].values[cells[at].strip()] += 1
    if rows == 0:
        raise BuildError(f"{path}: no data rows, only a header")
    if columns[label].present == 0:
        raise BuildError(f"{path}: the label {label!r} is missing in every row")
    for column in columns.values():
        if column.present == 0:
            column.kind = "string"  # never seen: nothing says it is a number
    return Profile(path, rows, columns, label)


def infer_task(profile: Profile) -> tuple[str, str]:
    """(task, why) from the label's values."""
    column = profile.label_column
    distinct = len(column.values)
    shown = ", ".join(v for v, _ in column.values.most_common(5))
    more = ", ..." if distinct > 5 else ""
    values = f"{distinct} distinct {column.kind} values ({shown}{more})"
    if distinct == 2:
        return "binary", f"the label has 2 distinct values ({shown})"
    if column.kind == "string":
        return "multiclass", f"the label has {values}"
    if column.kind == "int" and distinct <= MAX_INFERRED_CLASSES:
        return "multiclass", f"the label has {values}, at most {MAX_INFERRED_CLASSES}"
    return "regression", f"the label is numeric with {values}"


def check_task(profile: Profile, task: str) -> None:
    """A task the label cannot carry is a named error, before anything is written."""
    column = profile.label_column
    distinct = len(column.values)
    where = f"{profile.path}: TASK={task} on label {profile.label!r}"
    if task not in TASKS:
        raise BuildError(f"TASK={task!r}: expected one of {', '.join(TASKS)}")
    if task == "regression" and column.kind == "string":
        example = next(iter(column.values))
        raise BuildError(f"{where}: regression needs numbers, the label has text ({example!r})")
    if task == "binary" and distinct != 2:
        shown = ", ".join(v for v, _ in column.values.most_common(5))
        raise BuildError(f"{where}: binary needs 2 distinct values, it has {distinct} ({shown})")
    if task == "multiclass":
        if distinct < 2:
            raise BuildError(f"{where}: multiclass needs at least 2 classes, it has {distinct}")
        if column.kind == "float" and not all(_integral(v) for v in column.values):
            raise BuildError(f"{where}: the label has fractional values: use regression")


def _integral(text: str) -> bool:
    value = float(text)
    return math.isfinite(value) and value.is_integer()


def majority_share(profile: Profile) -> float:
    """The share of the most frequent label value: what always guessing it scores."""
    counts = profile.label_column.values
    return max(counts.values()) / sum(counts.values())


def label_spread(profile: Profile) -> tuple[float, float]:
    """(variance, mean absolute deviation) of a numeric label: what predicting the mean scores
    (as mean squared error and mean absolute error)."""
    values = [float(v) for v, n in profile.label_column.values.items() for _ in range(n)]
    mean = sum(values) / len(values)
    variance = sum((v - mean) ** 2 for v in values) / len(values)
    mad = sum(abs(v - mean) for v in values) / len(values)
    return variance, mad
