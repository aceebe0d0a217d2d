"""Raw Examples from taxi CSV rows, for the components' tests and benchmarks: each row a
serialized tf.Example typed by a schema, as CsvExampleGen (and extract_data) writes them
(an empty cell is an absent feature), written in the Examples layout of mlops_runtime.examples.
One copy for every component's tests, which need real raw data without running extract_data."""

from __future__ import annotations

import csv
from pathlib import Path

from mlops.core.paths import REPO

TAXI_CSV = REPO / "data" / "chicago_taxi" / "data.csv"


def read_taxi_rows(count: int, start: int = 0, path: Path = TAXI_CSV) -> list[dict[str, str]]:
    """Rows start..start+count of the taxi CSV, as strings ('' for an empty cell)."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return rows[start : start + count]


def feature_types(schema_text: str) -> dict[str, int]:
    """Feature name -> schema_pb2 type (INT, FLOAT, BYTES) of a schema in pbtxt."""
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

    types = feature_types(schema_text)
    for split, rows in splits.items():
        path = Path(examples.file_prefix(uri, split) + "-00000-of-00001.gz")
        path.parent.mkdir(parents=True, exist_ok=True)
        with tf.io.TFRecordWriter(str(path), tf.io.TFRecordOptions(compression_type="GZIP")) as w:
            for row in rows:
                w.write(to_example(row, types))
    return uri
