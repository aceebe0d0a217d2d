"""Helpers of extract_data's tests: the taxi sample as rows and CSV files, and the Examples
written, read back. A module of its own (on the path through conftest), since test modules
cannot import conftest by name: with --import-mode=importlib, `conftest` may resolve to
another component's."""

import csv
from pathlib import Path

from mlops_runtime import examples

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


def read_examples(uri: Path | str, split: str) -> list[dict]:
    """Each example of a split as {feature: (kind, values)}."""
    import tensorflow as tf

    files = [str(f) for f in examples.files(uri, split)]
    assert files, f"no files in {examples.split_dir(uri, split)}"
    out = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        features = {}
        for name, feature in example.features.feature.items():
            kind = feature.WhichOneof("kind")
            features[name] = (kind, list(getattr(feature, kind).value))
        out.append(features)
    return out
