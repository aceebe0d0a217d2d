"""The label column (the `label` input): it must be a column of the source; rows where it is
absent (empty, NULL or a null marker) are dropped and counted by split; the distinct label
values of each split are counted; with `check_label_classes`, a value of another split that
the train split never has is an error, raised in the pipeline, so the step fails before any
later step sees the data (a classifier cannot learn a class it never sees in training).

The sources tag ((split, label value), rows) pairs with LABEL_COUNTS_TAG, a value being the
label's feature value (int, float or bytes); summarize() adds the rest to the pipeline.
Imported by extract.extract only, where Beam is imported anyway."""

from __future__ import annotations

import json
from typing import Any

import apache_beam as beam

from extract_data.extract import LABEL_VALUES_NAMESPACE, ExtractError

TRAIN_SPLIT = "train"  # the split whose classes the others are checked against
SHOWN = 10  # unseen values named in the message, the most frequent first


# --- before the pipeline -----------------------------------------------------------------


def check_options(label: str | None, check_classes: bool, split_names: list[str]) -> None:
    if check_classes and label is None:
        raise ExtractError("check_label_classes is true, but no label is given: name its column")
    if check_classes and TRAIN_SPLIT not in split_names:
        raise ExtractError(
            f"check_label_classes compares the other splits with the {TRAIN_SPLIT!r} split, "
            f"but splits has none (its splits: {', '.join(split_names)})"
        )


def column_index(label: str | None, columns: list[str], where: str) -> int | None:
    """The position of the label column (None without a label)."""
    if label is None:
        return None
    if label not in columns:
        raise ExtractError(
            f"label: {where} has no column {label!r} (its columns: {', '.join(columns)})"
        )
    return columns.index(label)


def no_label_message(label: str, where: str, missing: dict[str, int], markers) -> str:
    shown = ", ".join(json.dumps(m) for m in markers)
    return (
        f"label {label!r}: absent in all {sum(missing.values())} rows of {where} (empty, "
        f"NULL or a null marker: {shown}); there is nothing to learn from"
    )


# --- in the pipeline ---------------------------------------------------------------------


def display(value: Any) -> str:
    """A label value as a message shows it: text quoted, a float as the Example holds it."""
    import numpy as np

    if isinstance(value, bytes):
        return repr(value.decode("utf-8", "backslashreplace"))
    if isinstance(value, float):
        return str(np.float32(value))
    if isinstance(value, tuple):  # a REPEATED BigQuery column
        return "[" + ", ".join(display(v) for v in value) + "]"
    return str(value)


def summarize(label_counts, label: str, split_names: list[str], check_classes: bool) -> None:
    """label_counts: ((split, value), rows) pairs. Counts the distinct values of each split
    (Beam counters in LABEL_VALUES_NAMESPACE); with check_classes, fails on values that
    other splits have and the train split has not."""
    per_value = label_counts | "LabelValueRows" >> beam.CombinePerKey(sum)
    _ = per_value | "CountLabelValues" >> beam.Map(_count_value)
    if not check_classes:
        return
    _ = (
        per_value
        | "ByLabelValue" >> beam.Map(_by_value)
        | "GroupByLabelValue" >> beam.GroupByKey()
        | "NotInTrain" >> beam.FlatMap(_not_in_train)
        | "UnseenClasses" >> beam.CombineGlobally(UnseenClasses())
        | "CheckClasses" >> beam.Map(_raise_if_unseen, label)
    )


def _count_value(item: tuple[tuple[str, Any], int]) -> None:
    from apache_beam import metrics

    metrics.Metrics.counter(LABEL_VALUES_NAMESPACE, item[0][0]).inc()


def _by_value(item: tuple[tuple[str, Any], int]) -> tuple[Any, tuple[str, int]]:
    (split, value), rows = item
    return value, (split, rows)


def _not_in_train(item: tuple[Any, list[tuple[str, int]]]):
    value, split_rows = item
    rows: dict[str, int] = {}
    for split, n in split_rows:
        rows[split] = rows.get(split, 0) + n
    if TRAIN_SPLIT not in rows:
        yield value, rows


class UnseenClasses(beam.CombineFn):
    """(value, {split: rows}) of the values missing from train -> (how many values, the
    SHOWN most frequent as (-rows, shown value, [(split, rows)]))."""

    def create_accumulator(self):
        return 0, []

    def add_input(self, accumulator, item):
        count, top = accumulator
        value, rows = item
        entry = (-sum(rows.values()), display(value), sorted(rows.items()))
        return count + 1, sorted([*top, entry])[:SHOWN]

    def merge_accumulators(self, accumulators):
        accumulators = list(accumulators)
        count = sum(a[0] for a in accumulators)
        return count, sorted(e for a in accumulators for e in a[1])[:SHOWN]

    def extract_output(self, accumulator):
        return accumulator


def unseen_message(label: str, count: int, top: list) -> str:
    splits = sorted({split for _, _, rows in top for split, _ in rows})

    def rows_text(rows: list[tuple[str, int]]) -> str:
        return ", ".join(f"{n} row{'s' if n != 1 else ''} in {split}" for split, n in rows)

    listed = "; ".join(f"{shown} ({rows_text(rows)})" for _, shown, rows in top)
    more = f"; and {count - len(top)} more" if count > len(top) else ""
    return (
        f"label {label!r}: {count} value{'s' if count != 1 else ''} of the "
        f"{' and '.join(splits)} split{'s' if len(splits) != 1 else ''} never occur in the "
        f"{TRAIN_SPLIT} split, so a classifier cannot learn them: {listed}{more}"
    )


def _raise_if_unseen(summary: tuple[int, list], label: str) -> None:
    count, top = summary
    if count:
        raise ExtractError(unseen_message(label, count, top))
