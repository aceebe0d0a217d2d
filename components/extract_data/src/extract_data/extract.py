"""The work of extract_data: read a source (CSV files or BigQuery), encode each row as a
tf.Example, assign it to a split by a fingerprint of its key, and write the Examples layout
(mlops_runtime.examples) with one Beam pipeline; returns the row count of each split (Beam
counters).

Sources plan themselves before the pipeline runs (list and check the files or the table:
bad input fails fast, naming what is wrong), then add their reading to the pipeline
(csv_source.py, bigquery_source.py). Beam is imported inside functions only."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

DEFAULT_SPLITS = '{"train": 2, "eval": 1}'
DEFAULT_NULL_MARKERS = '[""]'

# Feature kinds: int -> int64_list, float -> float_list, string -> bytes_list.
INT, FLOAT, STRING = "int", "float", "string"
KIND_NAMES = {
    "int": INT,
    "int64": INT,
    "integer": INT,
    "float": FLOAT,
    "double": FLOAT,
    "string": STRING,
    "str": STRING,
    "bytes": STRING,
}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
KEY_SEPARATOR = "\x1f"  # joins the values of a split key (the ASCII unit separator)
METRICS_NAMESPACE = "extract_data"  # Beam counters of the rows of each split, by split name
# Beam counters by split name: rows dropped for an absent label; distinct label values.
LABEL_MISSING_NAMESPACE = "extract_data.label_missing"
LABEL_VALUES_NAMESPACE = "extract_data.label_values"
# The sources' tagged output of ((split, label value), rows); a space keeps it from any split.
LABEL_COUNTS_TAG = "label counts"


class ExtractError(Exception):
    """Bad input. The message names the source, file, column or value at fault."""


# --- the inputs ------------------------------------------------------------------------


def parse_splits(value: str | None) -> list[tuple[str, int]]:
    """'{"train": 2, "eval": 1}' -> [("train", 2), ("eval", 1)]: hash buckets per split."""
    text = (value or "").strip() or DEFAULT_SPLITS
    try:
        splits = json.loads(text)
    except json.JSONDecodeError as e:
        raise ExtractError(f"splits {text!r}: not JSON ({e.msg})") from e
    if not isinstance(splits, dict) or not splits:
        raise ExtractError(f"splits {text!r}: give an object of buckets, e.g. {DEFAULT_SPLITS}")
    for name, buckets in splits.items():
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
            raise ExtractError(f"splits: the split name {name!r} may hold only A-Z a-z 0-9 _ -")
        if isinstance(buckets, bool) or not isinstance(buckets, int) or buckets < 1:
            raise ExtractError(f"splits: split {name!r} has {buckets!r} buckets; give an int >= 1")
    return list(splits.items())


def parse_null_markers(value: str | None) -> tuple[str, ...]:
    """'["", "NA", "?"]' -> ("", "NA", "?"): cell values meaning "missing", compared after
    stripping surrounding whitespace. The empty cell is always one: a feature cannot hold an
    empty number, and TFX's CsvExampleGen reads it as missing too."""
    text = value if value is not None and value.strip() else DEFAULT_NULL_MARKERS
    try:
        markers = json.loads(text)
    except json.JSONDecodeError as e:
        raise ExtractError(f"null_markers {text!r}: not JSON ({e.msg})") from e
    if not isinstance(markers, list) or not all(isinstance(m, str) for m in markers):
        raise ExtractError(
            f'null_markers {text!r}: give a JSON list of strings, e.g. ["", "NA", "?"]'
        )
    return tuple(dict.fromkeys(["", *(m.strip() for m in markers)]))


def parse_names(value: str | None, what: str) -> list[str] | None:
    """'a, b,c' -> ['a', 'b', 'c']; empty -> None."""
    if value is None or not value.strip():
        return None
    names = [n.strip() for n in value.split(",")]
    if any(not n for n in names):
        raise ExtractError(f"{what} {value!r}: an empty column name")
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise ExtractError(f"{what} {value!r}: repeats {', '.join(duplicates)}")
    return names


@dataclass(frozen=True)
class ExpectedColumns:
    """The `columns` input: the expected header, each name optionally with its kind
    ('fare:float'); a value that does not parse as its declared kind is an error."""

    names: list[str]
    kinds: dict[str, str]


def parse_columns(value: str | None) -> ExpectedColumns | None:
    entries = parse_names(value, "columns")
    if entries is None:
        return None
    names, kinds = [], {}
    for entry in entries:
        name, _, kind = entry.partition(":")
        name, kind = name.strip(), kind.strip().lower()
        if kind:
            if kind not in KIND_NAMES:
                raise ExtractError(
                    f"columns: {entry!r} declares the kind {kind!r}; use int, float or string"
                )
            kinds[name] = KIND_NAMES[kind]
        names.append(name)
    parse_names(",".join(names), "columns")  # repeated names, once the kinds are off
    return ExpectedColumns(names, kinds)


def header_difference(found: list[str], expected: list[str]) -> str | None:
    """How a header differs from the expected one, or None if it is the same."""
    if found == expected:
        return None
    missing = [c for c in expected if c not in found]
    unexpected = [c for c in found if c not in expected]
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if unexpected:
        parts.append(f"unexpected {', '.join(unexpected)}")
    if not parts:
        parts.append(f"the same columns in another order: expected {', '.join(expected)}")
    return "; ".join(parts)


def key_indices(split_key: list[str] | None, columns: list[str], where: str) -> list[int] | None:
    """The positions of the split key's columns (None: the whole row)."""
    if split_key is None:
        return None
    unknown = [c for c in split_key if c not in columns]
    if unknown:
        raise ExtractError(
            f"split_key: {where} has no column {', '.join(unknown)} "
            f"(its columns: {', '.join(columns)})"
        )
    return [columns.index(c) for c in split_key]


# --- encoding and splitting, on the workers --------------------------------------------


class Splitter:
    """A row's split: farmhash fingerprint64 of its key modulo the total of the buckets, the
    buckets given to the splits in order. The same key lands in the same split every run."""

    def __init__(self, splits: list[tuple[str, int]]):
        self.names = [name for name, _ in splits]
        self.total = sum(buckets for _, buckets in splits)
        self.bounds = []
        upper = 0
        for _, buckets in splits:
            upper += buckets
            self.bounds.append(upper)

    def index(self, key: str) -> int:
        import farmhash

        bucket = farmhash.fingerprint64(key) % self.total
        return next(i for i, upper in enumerate(self.bounds) if bucket < upper)

    def indices(self, keys: list[str]):
        """index() of each key, as a numpy array."""
        import farmhash
        import numpy as np

        buckets = np.fromiter(
            (farmhash.fingerprint64(key) % self.total for key in keys), np.int64, len(keys)
        )
        return np.searchsorted(np.asarray(self.bounds), buckets, side="right")


def serialize_example(names: list[str], kinds: list[str], values: list[Any]) -> bytes:
    """A serialized tf.Example; a value of None (or an empty list) is an absent feature."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    features = example.features.feature
    for name, kind, value in zip(names, kinds, values, strict=True):
        if value is None or (isinstance(value, list) and not value):
            continue
        items = value if isinstance(value, list) else [value]
        if kind == INT:
            features[name].int64_list.value.extend(items)
        elif kind == FLOAT:
            features[name].float_list.value.extend(items)
        else:
            features[name].bytes_list.value.extend(items)
    return example.SerializeToString(deterministic=True)


# --- the pipeline ----------------------------------------------------------------------


def is_local_runner(options) -> bool:
    from apache_beam.options.pipeline_options import StandardOptions

    runner = options.view_as(StandardOptions).runner
    return runner is None or "direct" in str(runner).lower() or "prism" in str(runner).lower()


def beam_path(path: str, remote: bool) -> str:
    """Vertex AI mounts buckets at /gcs/<bucket>/...; remote workers (Dataflow) need gs://."""
    if remote and path.startswith("/gcs/"):
        return "gs://" + path[len("/gcs/") :]
    return path


def split_prefix(uri: str, split: str) -> str:
    """mlops_runtime.examples.file_prefix, kept as a string for gs:// URIs."""
    if "://" not in uri:
        from mlops_runtime import examples

        return examples.file_prefix(uri, split)
    return f"{uri.rstrip('/')}/Split-{split}/data_tfrecord"


def _clear_previous_output(uri: str, split_names: list[str]) -> None:
    """A rerun into the same folder must not leave shards of an earlier run behind."""
    from apache_beam.io.filesystems import FileSystems

    patterns = [split_prefix(uri, s) + "-*" for s in split_names]
    stale = [m.path for r in FileSystems.match(patterns) for m in r.metadata_list]
    if stale:
        FileSystems.delete(stale)


def route_by_split(element: tuple[int, bytes, Any], names: list[str], labelled: bool = False):
    """(split index, tf.Example, label value) -> the Example, tagged with its split and
    counted. With a label, a row without one is only counted, and the others' label values
    go to LABEL_COUNTS_TAG as ((split, value), 1)."""
    from apache_beam import metrics, pvalue

    index, example, label = element
    split = names[index]
    if labelled and label is None:
        metrics.Metrics.counter(LABEL_MISSING_NAMESPACE, split).inc()
        return
    metrics.Metrics.counter(METRICS_NAMESPACE, split).inc()
    yield pvalue.TaggedOutput(split, example)
    if labelled:
        yield pvalue.TaggedOutput(LABEL_COUNTS_TAG, ((split, label), 1))


def write_splits(outputs, uri: str, split_names: list[str]) -> None:
    """outputs: the serialized tf.Examples of each split, by split name."""
    import apache_beam as beam
    from apache_beam.io.filesystem import CompressionTypes

    for name in split_names:
        _ = outputs[name] | f"Write[{name}]" >> beam.io.WriteToTFRecord(
            split_prefix(uri, name),
            file_name_suffix=".gz",
            compression_type=CompressionTypes.GZIP,
        )


def counter_values(result, namespace: str, split_names: list[str]) -> dict[str, int]:
    """The Beam counters of a namespace, by split name, from the finished pipeline."""
    from apache_beam.metrics.metric import MetricsFilter

    counts = dict.fromkeys(split_names, 0)
    found = result.metrics().query(MetricsFilter().with_namespace(namespace))
    for counter in found["counters"]:
        name = counter.key.metric.name
        if counter.key.metric.namespace == namespace and name in counts:
            value = counter.committed if counter.committed is not None else counter.attempted
            counts[name] += int(value or 0)
    return counts


def bad_input_message(error: BaseException) -> str | None:
    """The message of an ExtractError raised on a worker, which the runner may have wrapped
    (the in-process runner chains it; multi-processing and Dataflow quote it in the text)."""
    seen: BaseException | None = error
    message = None
    while seen is not None and message is None:
        if isinstance(seen, ExtractError):
            message = str(seen)
        seen = seen.__cause__ or seen.__context__
    if message is None:
        match = re.search(r"ExtractError: (.+)", str(error))
        message = match.group(1) if match else None
    # The runner appends the step: "... [while running 'ToExample']".
    return re.sub(r"\s*\[while running .*$", "", message).strip() if message else None


@dataclass(frozen=True)
class Extraction:
    """What a run wrote: the rows of each split and, with a label, the rows dropped for an
    absent label and the number of distinct label values, each by split."""

    rows: dict[str, int]
    label_missing: dict[str, int] | None = None
    label_values: dict[str, int] | None = None


def run(source: str, examples_uri: str, **kwargs) -> dict[str, int]:
    """extract() for the rows of each split only: {split name: rows}."""
    return extract(source, examples_uri, **kwargs).rows


def extract(
    source: str,
    examples_uri: str,
    *,
    query: str | None = None,
    splits: str | None = None,
    split_key: str | None = None,
    columns: str | None = None,
    null_markers: str | None = None,
    label: str | None = None,
    check_label_classes: bool = False,
    beam_args: str | None = None,
    bigquery_rows_per_read: int | None = None,
) -> Extraction:
    """Extracts source into examples_uri. Raises ExtractError."""
    import apache_beam as beam
    from mlops_runtime.beam import pipeline_options

    from extract_data import bigquery_source, csv_source, labels

    source = (source or "").strip()
    query = (query or "").strip() or None
    split_spec = parse_splits(splits)
    key_columns = parse_names(split_key, "split_key")
    expected = parse_columns(columns)
    markers = parse_null_markers(null_markers)
    label = (label or "").strip() or None
    labels.check_options(label, check_label_classes, [name for name, _ in split_spec])
    try:
        # The workers follow the source's size (a table's is not known here: large).
        sized = "bq://" if source.startswith("bq://") or query else source
        options = pipeline_options(beam_args, [sized], "extract_data")
    except ValueError as e:
        raise ExtractError(str(e)) from e
    remote = not is_local_runner(options)
    uri = beam_path(examples_uri, remote)

    if not source:
        raise ExtractError("source is empty: give a path, a glob, gs://... or bq://...")
    if source.startswith("bq://") or query:
        plan = bigquery_source.plan(source, query, expected, markers, bigquery_rows_per_read)
    else:
        plan = csv_source.plan(beam_path(source, remote), expected, markers)
    keys = key_indices(key_columns, plan.columns, plan.where)
    label_at = labels.column_index(label, plan.columns, plan.where)
    splitter = Splitter(split_spec)

    _clear_previous_output(uri, splitter.names)
    if "://" not in uri:
        from pathlib import Path

        Path(uri).mkdir(parents=True, exist_ok=True)
    try:
        pipeline = beam.Pipeline(options=options)
        outputs = plan.expand(pipeline, keys, splitter, label_at)
        write_splits(outputs, uri, splitter.names)
        if label is not None:
            labels.summarize(outputs[LABEL_COUNTS_TAG], label, splitter.names, check_label_classes)
        result = pipeline.run()
        result.wait_until_finish()
    except Exception as e:  # the runner wraps what the workers raised
        message = bad_input_message(e)
        if message is None:
            raise
        raise ExtractError(message) from e
    counts = counter_values(result, METRICS_NAMESPACE, splitter.names)
    missing = counter_values(result, LABEL_MISSING_NAMESPACE, splitter.names)
    if sum(counts.values()) == 0:
        if sum(missing.values()):
            raise ExtractError(labels.no_label_message(label, plan.where, missing, markers))
        raise ExtractError(f"{plan.where}: no data rows, only a header or blank lines")
    if label is None:
        return Extraction(counts)
    values = counter_values(result, LABEL_VALUES_NAMESPACE, splitter.names)
    return Extraction(counts, missing, values)
