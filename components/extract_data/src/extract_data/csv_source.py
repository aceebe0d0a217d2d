"""CSV files as a source: a local path, a folder, a glob or gs:// (Beam's file systems, so
.gz files are read too). Every file must have the same header (or the expected columns);
each column's kind is inferred over all rows as TFX's CsvExampleGen does (tfx_bsl's
ColumnTypeInferrer, a Beam combine, given to the encoding as a side input) in the same
pipeline that encodes the rows, which reads the files a second time, so that no stage holds
the data in memory. A cell that is empty or a null marker (after stripping whitespace) is an
absent feature, and the inference passes it by. Lines are handled in batches, encoded by
tfx_bsl with Arrow. Imported by extract.extract only, where Beam and tfx_bsl are imported
anyway."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass

from tfx_bsl.coders import csv_decoder

from extract_data.extract import (
    FLOAT,
    INT,
    INT64_MAX,
    INT64_MIN,
    KEY_SEPARATOR,
    LABEL_COUNTS_TAG,
    LABEL_MISSING_NAMESPACE,
    METRICS_NAMESPACE,
    STRING,
    ExpectedColumns,
    ExtractError,
    Splitter,
    header_difference,
)

_SCAN_LINES = 100  # lines after the header looked at for a first data row, per file


def _is_local(path: str) -> bool:
    return "://" not in path


def list_files(source: str) -> list[str]:
    """The files a path, a folder (its files) or a glob names; none is an error."""
    from apache_beam.io.filesystems import FileSystems

    pattern = source
    if _is_local(source) and os.path.isdir(source):
        pattern = os.path.join(source, "*")
    elif source.endswith("/"):
        pattern = source + "*"
    try:
        results = FileSystems.match([pattern])
    except Exception as e:  # BeamIOError, or the storage client's errors
        raise ExtractError(f"source {source}: cannot list it: {e}") from e
    files = sorted(m.path for r in results for m in r.metadata_list)
    if _is_local(source):
        files = [f for f in files if os.path.isfile(f)]
    if not files:
        what = "no such file" if pattern == source and "*" not in source else "no files match"
        raise ExtractError(f"source {source}: {what}")
    return files


def _parse_line(line: str) -> list[str]:
    return next(csv.reader([line]))


def read_header(path: str) -> tuple[list[str], bool]:
    """A file's column names, and whether a data row follows within the first lines."""
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path) as f:  # decompresses by the file's extension
            lines = [f.readline() for _ in range(1 + _SCAN_LINES)]
    except Exception as e:
        raise ExtractError(f"{path}: cannot read it: {e}") from e
    try:
        lines = [line.decode("utf-8-sig" if i == 0 else "utf-8") for i, line in enumerate(lines)]
    except UnicodeDecodeError as e:
        raise ExtractError(f"{path}: not UTF-8 text ({e})") from e
    header = lines[0].rstrip("\r\n")
    if not header.strip():
        raise ExtractError(f"{path}: empty, no header line")
    names = [name.strip() for name in _parse_line(header)]
    if any(not name for name in names):
        raise ExtractError(f"{path}: the header has an empty column name: {header!r}")
    if repeated := sorted({n for n in names if names.count(n) > 1}):
        raise ExtractError(f"{path}: the header repeats {', '.join(repeated)}")
    return names, any(line.strip() for line in lines[1:])


@dataclass
class CsvPlan:
    where: str  # the source, for messages
    files: list[str]
    columns: list[str]
    declared: dict[str, str]  # kinds given in the `columns` input
    markers: tuple[str, ...]  # cell values meaning "missing", stripped

    def expand(self, pipeline, keys: list[int] | None, splitter: Splitter, label: int | None):
        """Adds the reading to the pipeline: {split name: PCollection of tf.Examples}, and
        with a label (its column's position) LABEL_COUNTS_TAG: ((split, value), rows).

        One pipeline, as tfx_bsl's CSVToRecordBatch: the column kinds are inferred over all
        rows (a combine) and given to the encoding as a side input. The files are read by
        both branches rather than once, so that the encoding streams the lines instead of
        waiting for the inference with every row held in memory (the DirectRunner keeps
        what passes between stages in memory). Both branches work on batches of lines."""
        import apache_beam as beam
        from apache_beam.io.textio import ReadAllFromText

        def batches(label: str):
            return (
                pipeline
                | f"{label}Files" >> beam.Create(self.files)
                | f"{label}Lines" >> ReadAllFromText(skip_header_lines=1, with_filename=True)
                | f"{label}Batch"
                >> beam.BatchElements(min_batch_size=BATCH_ROWS, max_batch_size=BATCH_ROWS)
            )

        inferred = (
            batches("Infer")
            | "Parse" >> beam.Map(parse_batch, self.columns)
            | "InferTypes"
            >> beam.CombineGlobally(BatchColumnTypeInferrer(self.columns, self.markers))
        )
        encoder = Encoder(self.columns, self.declared, keys, splitter, self.markers, label)
        tags = [*splitter.names] + ([LABEL_COUNTS_TAG] if label is not None else [])
        return batches("Read") | "ToExamples" >> beam.FlatMap(
            encoder.encode, beam.pvalue.AsSingleton(inferred)
        ).with_outputs(*tags)


def plan(source: str, expected: ExpectedColumns | None, markers: tuple[str, ...]) -> CsvPlan:
    files = list_files(source)
    reference, reference_file = (expected.names, None) if expected else (None, None)
    any_rows = False
    for path in files:
        names, has_rows = read_header(path)
        any_rows = any_rows or has_rows
        if reference is None:
            reference, reference_file = names, path
            continue
        difference = header_difference(names, reference)
        if difference:
            against = (
                f"the header of {reference_file}" if reference_file else "the expected columns"
            )
            raise ExtractError(f"{path}: the header does not match {against}: {difference}")
    if not any_rows:
        shown = files[0] if len(files) == 1 else f"{source} ({len(files)} files)"
        raise ExtractError(f"{shown}: no data rows, only a header")
    return CsvPlan(source, files, reference, dict(expected.kinds) if expected else {}, markers)


# --- on the workers ---------------------------------------------------------------------

BATCH_ROWS = 1000  # lines per batch, as tfx_bsl's CSVToRecordBatch in CsvExampleGen

# Cells that Python's int() and float() surely parse (what they parse and these do not, such
# as ' 7' or '1_000', goes the slow way, through Python, to the same result).
_INT_TEXT = r"^[+-]?[0-9]+$"
_FLOAT_TEXT = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_ARROW_INT_TEXT = r"^-?[0-9]+$"  # what Arrow's cast to int64 parses as int() does


@dataclass
class Rows:
    """Parsed non-blank lines of a batch: each row's file and cells, and the columns."""

    paths: list[str]
    rows: list[list[str]]

    def column(self, i: int) -> list[str]:
        return [row[i] for row in self.rows]


def parse_batch(batch: list[tuple[str, str]], columns: list[str]) -> Rows:
    """(file, line) pairs -> Rows; blank lines are skipped, a short or long row fails."""
    pairs = [(path, line) for path, line in batch if line.strip()]
    lines = [line for _, line in pairs]
    reader = csv.reader(lines)
    rows = list(reader)
    if len(rows) != len(lines) or reader.line_num != len(lines):
        # A quote left open joined lines: parse each line on its own, as ever.
        rows = [_parse_line(line) for line in lines]
    for (path, line), cells in zip(pairs, rows, strict=True):
        if len(cells) != len(columns):
            shown = line if len(line) <= 200 else line[:200] + "..."
            raise ExtractError(
                f"{path}: a row has {len(cells)} cells but the header has {len(columns)}: {shown!r}"
            )
    return Rows([path for path, _ in pairs], rows)


def _all_match(values, pattern: str) -> bool:
    import pyarrow.compute as pc

    return len(values) == 0 or pc.all(pc.match_substring_regex(values, pattern)).as_py()


def _fits_int64(values) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.cast(values, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _present(cells: list[str], markers: tuple[str, ...]):
    """The cells as an Arrow array, and a mask of those that are no null marker (after
    stripping surrounding whitespace; the markers include the empty cell)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(cells, type=pa.large_string())
    stripped = pc.utf8_trim_whitespace(array)
    if markers == ("",):
        return array, pc.not_equal(pc.binary_length(stripped), 0)
    missing = pc.is_in(stripped, value_set=pa.array(markers, type=pa.large_string()))
    return array, pc.invert(missing)


class BatchColumnTypeInferrer(csv_decoder.ColumnTypeInferrer):
    """tfx_bsl's ColumnTypeInferrer (INT < FLOAT < STRING, a value out of the int64 range a
    STRING) over batches of rows: a column's cells are checked at once with Arrow where they
    surely parse as Python would; the others, value by value, by the ColumnTypeInferrer.
    Cells that are null markers are passed by, as tfx_bsl passes empty cells by."""

    def __init__(self, columns: list[str], markers: tuple[str, ...] = ("",)):
        super().__init__(columns, skip_blank_lines=True)
        self._columns = columns
        self._markers = markers

    def add_input(self, accumulator: dict, rows: Rows) -> dict:  # type: ignore[override]
        import pyarrow.compute as pc

        ctype = csv_decoder.ColumnType
        for i, name in enumerate(self._columns):
            if accumulator.get(name) == ctype.STRING:
                continue
            array, present = _present(rows.column(i), self._markers)
            values = array.filter(present)
            found = None
            if len(values) == 0:
                found = ctype.UNKNOWN
            elif _all_match(values, _INT_TEXT):
                found = ctype.INT if _fits_int64(values) else None
            elif _all_match(values, _FLOAT_TEXT):
                ints = values.filter(pc.match_substring_regex(values, _INT_TEXT))
                found = ctype.FLOAT if _fits_int64(ints) else None
            if found is None:  # value by value, each distinct value once
                one = csv_decoder.ColumnTypeInferrer([name], skip_blank_lines=True)
                for value in set(values.to_pylist()):
                    one.add_input(accumulator, [value.encode()])
                    if accumulator[name] == ctype.STRING:
                        break
            elif name not in accumulator or found > accumulator[name]:
                accumulator[name] = found
        return accumulator


_INFERRED_KINDS = {"INT": INT, "FLOAT": FLOAT, "STRING": STRING}


def _inferred_kind(column_type) -> str | None:
    """tfx_bsl's ColumnType as a feature kind; UNKNOWN (every cell empty) is never needed."""
    return _INFERRED_KINDS.get(column_type.name)


def _convert(cell: str, kind: str | None, column: str, path: str):
    try:
        if kind == INT:
            value = int(cell)
            if not INT64_MIN <= value <= INT64_MAX:
                raise ValueError("out of the int64 range")
            return value
        if kind == FLOAT:
            return float(cell)
        return cell.encode()
    except ValueError:
        raise ExtractError(
            f"{path}: column {column!r} is declared {kind}, but has the value {cell!r}"
        ) from None


def _feature_values(values, kind: str | None, column: str, paths: list[str]):
    """The non-empty cells of a column as an Arrow array of the feature's kind: cast at once
    where the text surely parses, else value by value (naming a value that does not)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if kind == INT and _all_match(values, _ARROW_INT_TEXT) and _fits_int64(values):
        return pc.cast(values, pa.int64())
    if kind == FLOAT and _all_match(values, _FLOAT_TEXT):
        try:
            return pc.cast(pc.cast(values, pa.float64()), pa.float32())
        except pa.ArrowInvalid:
            pass
    if kind not in (INT, FLOAT):
        return values.cast(pa.large_binary())
    converted = [
        _convert(cell, kind, column, path)
        for cell, path in zip(values.to_pylist(), paths, strict=True)
    ]
    if kind == INT:
        return pa.array(converted, type=pa.int64())
    return pa.array(converted, type=pa.float64()).cast(pa.float32())


@dataclass
class Encoder:
    """Batches of lines -> tf.Examples, each tagged with its split (Beam's TaggedOutput):
    the cells become Arrow columns of the feature kinds, encoded by tfx_bsl's
    RecordBatchToExamples, rows with the same absent cells together, so that an empty or
    null-marker cell is an absent feature (tfx_bsl would give it an empty one). Counts the
    rows of each split (Beam counters in METRICS_NAMESPACE, named by the split). With a
    label, rows without one are dropped and counted (LABEL_MISSING_NAMESPACE), and the label
    values' rows of each split are tagged LABEL_COUNTS_TAG."""

    columns: list[str]
    declared: dict[str, str]
    keys: list[int] | None
    splitter: Splitter
    markers: tuple[str, ...] = ("",)
    label: int | None = None  # the label column's position

    def encode(self, batch: list[tuple[str, str]], column_infos) -> Iterator:
        import numpy as np
        import pyarrow as pa
        from apache_beam import metrics, pvalue
        from tfx_bsl.coders import example_coder

        rows = parse_batch(batch, self.columns)
        if not rows.rows:
            return
        kinds = [self.declared.get(i.name) or _inferred_kind(i.type) for i in column_infos]
        lists, masks, label_values = [], [], None
        for i, (column, kind) in enumerate(zip(self.columns, kinds, strict=True)):
            array, present = _present(rows.column(i), self.markers)
            mask = present.to_numpy(zero_copy_only=False)
            paths = [p for p, keep in zip(rows.paths, mask, strict=True) if keep]
            values = _feature_values(array.filter(present), kind, column, paths)
            offsets = np.zeros(len(mask) + 1, dtype=np.int64)
            np.cumsum(mask, out=offsets[1:])
            lists.append(
                pa.LargeListArray.from_arrays(pa.array(offsets), values, mask=pa.array(~mask))
            )
            masks.append(mask)
            if i == self.label:
                label_values = values
        table = pa.RecordBatch.from_arrays(lists, self.columns)

        if self.keys is None:
            keys = [KEY_SEPARATOR.join(row) for row in rows.rows]
        else:
            keys = [KEY_SEPARATOR.join([row[i] for i in self.keys]) for row in rows.rows]
        split_of = self.splitter.indices(keys)
        names = self.splitter.names
        present = np.stack(masks, axis=1)
        if self.label is not None:
            # A row's split is that of its key, labelled or not: the same rows, the same split.
            labelled = masks[self.label]
            dropped = np.bincount(split_of[~labelled], minlength=len(names))
            for name, n in zip(names, dropped, strict=True):
                if n:
                    metrics.Metrics.counter(LABEL_MISSING_NAMESPACE, name).inc(int(n))
            yield from label_counts(label_values, split_of[labelled], names)
            if not labelled.all():
                kept = np.flatnonzero(labelled)
                table, present, split_of = table.take(pa.array(kept)), present[kept], split_of[kept]
            if len(split_of) == 0:
                return
        counts = np.bincount(split_of, minlength=len(names))
        for name, n in zip(names, counts, strict=True):
            if n:
                metrics.Metrics.counter(METRICS_NAMESPACE, name).inc(int(n))

        # Rows with the same cells present: one encoding of just those columns.
        patterns, group_of = np.unique(np.packbits(present, axis=1), axis=0, return_inverse=True)
        group_of = group_of.reshape(-1)
        for group in range(len(patterns)):
            rows_in = np.flatnonzero(group_of == group)
            columns = np.flatnonzero(present[rows_in[0]])
            if len(columns) == 0:
                encoded = [b""] * len(rows_in)  # an Example without features
            else:
                part = table.take(pa.array(rows_in))
                encoded = example_coder.RecordBatchToExamples(
                    pa.RecordBatch.from_arrays(
                        [part.column(int(c)) for c in columns], [self.columns[c] for c in columns]
                    )
                )
            for row, example in zip(rows_in, encoded, strict=True):
                yield pvalue.TaggedOutput(names[split_of[row]], example)


def label_counts(values, split_of, names: list[str]) -> Iterator:
    """The label values of a batch's labelled rows (one each) with their splits ->
    ((split, value), rows) for each value of each split, tagged LABEL_COUNTS_TAG."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    from apache_beam import pvalue

    for index in np.unique(split_of):
        found = pc.value_counts(values.filter(pa.array(split_of == index)))
        values_and_rows = zip(
            found.field("values").to_pylist(), found.field("counts").to_pylist(), strict=True
        )
        for value, n in values_and_rows:
            yield pvalue.TaggedOutput(LABEL_COUNTS_TAG, ((names[index], value), n))
