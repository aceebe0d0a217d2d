"""BigQuery as a source, through google-cloud-bigquery: a table (bq://project.dataset.table)
or a query (run in bq://project[.dataset], its result read from the job's destination
table). The rows are read in parallel ranges (tabledata.list with a start index), each range
streamed page by page on a worker. Column kinds come from the table's schema. NULL is an
absent feature, and so is a STRING value that is a null marker (after stripping whitespace),
as a CSV cell would be.

BIGQUERY_EMULATOR_HOST (an endpoint such as http://127.0.0.1:9050) points the client at an
emulator or a test double, with anonymous credentials; otherwise Application Default
Credentials are used."""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from extract_data.extract import (
    FLOAT,
    INT,
    KEY_SEPARATOR,
    LABEL_COUNTS_TAG,
    STRING,
    ExpectedColumns,
    ExtractError,
    Splitter,
    header_difference,
    route_by_split,
    serialize_example,
)

ROWS_PER_READ = 100_000  # rows per parallel read
PAGE_SIZE = 10_000  # rows per tabledata.list page
ENDPOINT_VARIABLE = "BIGQUERY_EMULATOR_HOST"

_KINDS = {
    "INTEGER": INT,
    "INT64": INT,
    "BOOLEAN": INT,
    "BOOL": INT,
    "FLOAT": FLOAT,
    "FLOAT64": FLOAT,
    "NUMERIC": FLOAT,
    "BIGNUMERIC": FLOAT,
    "STRING": STRING,
    "BYTES": STRING,
    "DATE": STRING,
    "DATETIME": STRING,
    "TIME": STRING,
    "TIMESTAMP": STRING,
    "GEOGRAPHY": STRING,
    "JSON": STRING,
}
_URI = re.compile(r"bq://([A-Za-z0-9\-:.]+?)(?:\.([A-Za-z0-9_]+))?(?:\.([A-Za-z0-9_\-$]+))?")


@dataclass(frozen=True)
class ClientConfig:
    """What a worker needs to make a client: picklable, unlike the client."""

    project: str
    endpoint: str | None

    @classmethod
    def from_environment(cls, project: str) -> ClientConfig:
        return cls(project, os.environ.get(ENDPOINT_VARIABLE) or None)

    def client(self):
        from google.cloud import bigquery

        if not self.endpoint:
            return bigquery.Client(project=self.project)
        from google.auth.credentials import AnonymousCredentials

        return bigquery.Client(
            project=self.project,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.endpoint},
        )


def parse_uri(source: str) -> tuple[str, str | None, str | None]:
    """bq://project[.dataset[.table]] -> (project, dataset, table)."""
    match = _URI.fullmatch(source)
    if not match:
        raise ExtractError(
            f"source {source!r}: give bq://project.dataset.table, or bq://project[.dataset] "
            "with a query"
        )
    return match.group(1), match.group(2), match.group(3)


@dataclass
class BigQueryPlan:
    where: str
    config: ClientConfig
    table: str  # project.dataset.table
    fields: list[dict]  # the schema, as the REST API gives it
    num_rows: int
    rows_per_read: int
    markers: tuple[str, ...]  # STRING values meaning "missing", stripped

    @property
    def columns(self) -> list[str]:
        return [f["name"] for f in self.fields]

    def expand(self, pipeline, keys: list[int] | None, splitter: Splitter, label: int | None):
        """{split name: PCollection of tf.Examples}, and with a label (its column's position)
        LABEL_COUNTS_TAG: ((split, value), rows)."""
        import apache_beam as beam

        starts = list(range(0, self.num_rows, self.rows_per_read))
        kinds = [_KINDS[f["type"].upper()] for f in self.fields]
        tags = [*splitter.names] + ([LABEL_COUNTS_TAG] if label is not None else [])
        encoding = Encoding(self.columns, kinds, keys, splitter, self.markers, label)
        return (
            pipeline
            | "Ranges" >> beam.Create(starts)
            | "Spread" >> beam.Reshuffle()
            | "ReadRange"
            >> beam.FlatMap(read_range, self.config, self.table, self.fields, self.rows_per_read)
            | "ToExample" >> beam.Map(encoding.to_example)
            | "BySplit"
            >> beam.FlatMap(route_by_split, splitter.names, label is not None).with_outputs(*tags)
        )


def plan(
    source: str,
    query: str | None,
    expected: ExpectedColumns | None,
    markers: tuple[str, ...] = ("",),
    rows_per_read: int | None = None,
) -> BigQueryPlan:
    from google.api_core import exceptions

    if not source.startswith("bq://"):
        raise ExtractError(f"source {source!r}: a query runs in bq://project[.dataset]")
    project, dataset, table = parse_uri(source)
    config = ClientConfig.from_environment(project)
    client = config.client()
    try:
        if query:
            if table:
                raise ExtractError(f"source {source}: give a table or a query, not both")
            from google.cloud import bigquery

            job_config = bigquery.QueryJobConfig()
            if dataset:
                job_config.default_dataset = f"{project}.{dataset}"
            job = client.query(query, job_config=job_config)
            job.result(max_results=0)  # waits for the job; the rows are read from its table
            where = f"the query in {source}"
            destination = job.destination
            table_id = f"{destination.project}.{destination.dataset_id}.{destination.table_id}"
        else:
            if not (dataset and table):
                raise ExtractError(
                    f"source {source}: names no table; give bq://project.dataset.table or a query"
                )
            where, table_id = source, f"{project}.{dataset}.{table}"
        resource = client.get_table(table_id)
    except exceptions.NotFound as e:
        raise ExtractError(f"{source}: not found ({e.message})") from e
    except exceptions.GoogleAPICallError as e:
        raise ExtractError(f"{source}: BigQuery refused: {e.message}") from e
    finally:
        client.close()
    fields = [f.to_api_repr() for f in resource.schema]
    _check_schema(where, fields, expected)
    if not resource.num_rows:
        raise ExtractError(f"{where}: no rows")
    return BigQueryPlan(
        where,
        config,
        table_id,
        fields,
        int(resource.num_rows),
        rows_per_read or ROWS_PER_READ,
        markers,
    )


def _check_schema(where: str, fields: list[dict], expected: ExpectedColumns | None) -> None:
    for f in fields:
        if f["type"].upper() not in _KINDS:
            raise ExtractError(
                f"{where}: column {f['name']!r} has the BigQuery type {f['type']}, which a "
                "tf.Example feature cannot hold; select its parts in a query"
            )
    if expected is None:
        return
    names = [f["name"] for f in fields]
    if difference := header_difference(names, expected.names):
        raise ExtractError(f"{where}: the columns do not match the expected columns: {difference}")
    for f in fields:
        declared, kind = expected.kinds.get(f["name"]), _KINDS[f["type"].upper()]
        if declared and declared != kind:
            raise ExtractError(
                f"{where}: column {f['name']!r} is declared {declared}, but its BigQuery type "
                f"is {f['type']} ({kind})"
            )


# --- on the workers ---------------------------------------------------------------------


def read_range(
    start: int, config: ClientConfig, table: str, fields: list[dict], count: int
) -> Iterator[list[Any]]:
    """The values of rows [start, start + count) of the table, page by page."""
    from google.cloud import bigquery

    schema = [bigquery.SchemaField.from_api_repr(f) for f in fields]
    client = config.client()
    try:
        rows = client.list_rows(
            table,
            selected_fields=schema,
            start_index=start,
            max_results=count,
            page_size=min(count, PAGE_SIZE),
        )
        for row in rows:
            yield list(row.values())
    finally:
        client.close()


def _feature_value(value: Any, kind: str):
    if kind == INT:
        return int(value)
    if kind == FLOAT:
        return float(value)
    if isinstance(value, bytes):
        return value
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat().encode()
    if isinstance(value, dict | list):  # JSON
        return json.dumps(value, sort_keys=True).encode()
    return str(value).encode()


def _key_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\x1e".join(_key_text(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


@dataclass
class Encoding:
    """A row's values -> (split index, serialized tf.Example, label value): NULL and a STRING
    null marker are absent features; the label value is None where the label is absent (or
    no label is given), a tuple for a REPEATED column."""

    columns: list[str]
    kinds: list[str]
    keys: list[int] | None
    splitter: Splitter
    markers: tuple[str, ...] = ("",)
    label: int | None = None

    def _missing(self, value: Any) -> bool:
        return value is None or (isinstance(value, str) and value.strip() in self.markers)

    def to_example(self, values: list[Any]) -> tuple[int, bytes, Any]:
        encoded = []
        for value, kind in zip(values, self.kinds, strict=True):
            if self._missing(value):
                encoded.append(None)
            elif isinstance(value, list):  # a REPEATED column: a feature of several values
                encoded.append([_feature_value(v, kind) for v in value if not self._missing(v)])
            else:
                encoded.append(_feature_value(value, kind))
        key_values = values if self.keys is None else [values[i] for i in self.keys]
        key = KEY_SEPARATOR.join(_key_text(v) for v in key_values)
        label = None if self.label is None else _label_value(encoded[self.label])
        return (
            self.splitter.index(key),
            serialize_example(self.columns, self.kinds, encoded),
            label,
        )


def _label_value(value: Any) -> Any:
    """The label as the Example holds it (a float as float32), None if absent."""
    import numpy as np

    if value is None or value == []:
        return None
    if isinstance(value, list):
        return tuple(_label_value(v) for v in value)
    if isinstance(value, float):
        return float(np.float32(value))
    return value
