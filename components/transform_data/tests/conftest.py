"""Puts this component's src/ on the import path, as the image's PYTHONPATH does; and the
fixtures of its tests: raw Examples made from a few hundred rows of the taxi CSV."""

import csv
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

# TF 2.16 defaults to Keras 3; TFT 1.16 and TFMA 0.47 need Keras 2 (as the base image sets).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

REPO = Path(__file__).resolve().parents[3]
CSV = REPO / "data" / "chicago_taxi" / "data.csv"
TAXI_MODULE = REPO / "pipelines" / "modules" / "taxi_transform.py"
RAW_SCHEMA = Path(__file__).parent / "fixtures" / "raw_schema.pbtxt"
# One worker: the machine is shared; the data is tiny.
TEST_BEAM_ARGS = "--runner=DirectRunner --direct_num_workers=1"


def read_taxi_rows(count: int, start: int = 0) -> list[dict[str, str]]:
    """Rows start..start+count of the taxi CSV, as strings ('' for an empty cell)."""
    with CSV.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return rows[start : start + count]


def _feature_types(schema_text: str) -> dict[str, int]:
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema = text_format.Parse(schema_text, schema_pb2.Schema())
    return {f.name: f.type for f in schema.feature}


def to_example(row: dict, types: dict[str, int]) -> bytes:
    """A serialized tf.Example of a CSV row, typed as the schema says (CsvExampleGen's way):
    empty cells (and None) are absent features."""
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import schema_pb2

    features = {}
    for name, value in row.items():
        if value is None or value == "":
            continue
        kind = types[name]
        if kind == schema_pb2.INT:
            features[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
        elif kind == schema_pb2.FLOAT:
            features[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
        else:
            data = value if isinstance(value, bytes) else str(value).encode()
            features[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def write_examples(uri: Path, splits: dict[str, list[dict]], schema_text: str) -> Path:
    """An Examples artifact at uri: one gzipped TFRecord file per split."""
    import tensorflow as tf
    from mlops_runtime import examples

    types = _feature_types(schema_text)
    for split, rows in splits.items():
        path = Path(examples.file_prefix(uri, split) + "-00000-of-00001.gz")
        path.parent.mkdir(parents=True, exist_ok=True)
        with tf.io.TFRecordWriter(str(path), tf.io.TFRecordOptions(compression_type="GZIP")) as w:
            for row in rows:
                w.write(to_example(row, types))
    return uri


@pytest.fixture(scope="session")
def raw_schema_text() -> str:
    return RAW_SCHEMA.read_text()


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    """The helpers above, for test modules (which cannot import conftest)."""
    return SimpleNamespace(
        read_taxi_rows=read_taxi_rows,
        to_example=to_example,
        write_examples=write_examples,
        feature_types=_feature_types,
        REPO=REPO,
        TAXI_MODULE=TAXI_MODULE,
        TEST_BEAM_ARGS=TEST_BEAM_ARGS,
    )
