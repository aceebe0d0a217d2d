"""Helpers of extract_data's tests: the taxi sample as rows and CSV files. A module of its own
(on the path through conftest), since test modules cannot import conftest by name: with
--import-mode=importlib, `conftest` may resolve to another component's."""

import csv
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
TAXI = REPO / "data" / "chicago_taxi" / "data.csv"
# One in-process worker: the machine is shared, and the tests' data is tiny.
BEAM_ARGS = '["--runner=DirectRunner", "--direct_num_workers=1"]'


def taxi_rows(n: int, start: int = 0) -> tuple[list[str], list[list[str]]]:
    """The header and rows [start, start + n) of the taxi sample, with a row_id column."""
    with TAXI.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [row for i, row in enumerate(reader) if start <= i < start + n]
    return ["row_id", *header], [[str(start + i), *row] for i, row in enumerate(rows)]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path
