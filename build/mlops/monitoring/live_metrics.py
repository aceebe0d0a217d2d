"""Live model metrics from the prediction service's request log and ground truth that arrives
later: the label join and the per-version sliding-window metrics the degradation monitor
(mlops.monitoring.degradation) decides on.

Request log (deploy_model.request_log): JSON lines {request_id, time, model_version,
instances, predictions} in `<request_log>/<model_name>/requests-YYYY-MM-DD.jsonl`; each
prediction is [p], p the probability of the positive class.

Labels: files under the labels folder (recursively), read in path order so a later file
corrects an earlier one:
    *.csv    header request_id,label[,index]
    *.jsonl  one object per line with the same keys
`index` is the instance's position in the request (0 when absent); `label` is 0/1 or
true/false. A label joins the logged prediction with the same (request_id, index)."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops.core.errors import BuildError

LABEL_SUFFIXES = (".csv", ".jsonl")
DECISION_THRESHOLD = 0.5  # p > 0.5 predicts 1, as Keras' and TFMA's BinaryAccuracy do
_TRUE = {"1", "true"}
_FALSE = {"0", "false"}


class LabelError(BuildError):
    """A label file cannot be read; the message names the file and the line."""


@dataclass(frozen=True)
class Labelled:
    """One prediction the service logged, with the label that arrived for it."""

    time: datetime
    model_version: str
    prediction: float
    label: int
    request_id: str
    index: int


@dataclass
class Labels:
    by_key: dict[tuple[str, int], int]  # (request_id, index) -> 0/1
    files: list[str]
    relabelled: int = 0  # keys a later row gave again (the later one counts)


@dataclass
class Join:
    labelled: list[Labelled]
    labels: int  # distinct (request_id, index) keys with a label
    unmatched: int  # labels that name no logged prediction
    unmatched_examples: list[str] = field(default_factory=list)
    label_files: list[str] = field(default_factory=list)
    relabelled: int = 0
    log_files: int = 0
    bad_log_lines: int = 0  # a torn line (the service killed mid-write) is skipped, and counted
    duplicate_requests: int = 0  # a caller may reuse X-Request-Id; the later request counts


# --- labels ----------------------------------------------------------------------------------


def _label_value(value: Any, where: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    text = str(value).strip().lower() if value is not None else ""
    if text in _TRUE:
        return 1
    if text in _FALSE:
        return 0
    raise LabelError(f"{where}: label {value!r} is not 0/1 or true/false")


def _index_value(value: Any, where: str) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    if isinstance(value, bool):
        raise LabelError(f"{where}: index {value!r} is not an instance position")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise LabelError(f"{where}: index {value!r} is not an instance position") from None
    if not number.is_integer() or number < 0:
        raise LabelError(f"{where}: index {value!r} is not an instance position")
    return int(number)


def _row(record: dict[str, Any], where: str) -> tuple[tuple[str, int], int]:
    request_id = record.get("request_id")
    if request_id is None or not str(request_id).strip():
        raise LabelError(f"{where}: no request_id")
    if "label" not in record:
        raise LabelError(f"{where}: no label")
    key = (str(request_id).strip(), _index_value(record.get("index"), where))
    return key, _label_value(record["label"], where)


def _csv_rows(path: Path) -> Iterable[tuple[tuple[str, int], int]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [k for k in ("request_id", "label") if k not in header]
        if missing:
            raise LabelError(
                f"{path}:1: the header {','.join(header) or '(empty)'} lacks "
                f"{' and '.join(missing)}; expected request_id,index,label"
            )
        reader.fieldnames = header
        for record in reader:
            where = f"{path}:{reader.line_num}"
            if None in record:  # more cells than the header names
                cells = len(header) + len(record[None])
                raise LabelError(f"{where}: {cells} cells, but the header has {len(header)}")
            if all(v in (None, "") for v in record.values()):
                continue  # a blank line
            yield _row(record, where)


def _jsonl_rows(path: Path) -> Iterable[tuple[tuple[str, int], int]]:
    with path.open() as f:
        for number, line in enumerate(f, 1):
            where = f"{path}:{number}"
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise LabelError(f"{where}: not JSON ({e.msg})") from None
            if not isinstance(record, dict):
                raise LabelError(f"{where}: expected an object with request_id, index, label")
            yield _row(record, where)


def label_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in LABEL_SUFFIXES)


def read_labels(folder: Path) -> Labels:
    """Every label under the folder; a file that does not parse raises LabelError."""
    labels = Labels({}, [])
    for path in label_files(folder):
        rows = _csv_rows(path) if path.suffix == ".csv" else _jsonl_rows(path)
        try:
            for key, label in rows:
                labels.relabelled += key in labels.by_key
                labels.by_key[key] = label
        except UnicodeDecodeError as e:
            raise LabelError(f"{path}: not text ({e.reason})") from None
        except csv.Error as e:
            raise LabelError(f"{path}: not CSV ({e})") from None
        labels.files.append(str(path))
    return labels


# --- the join --------------------------------------------------------------------------------


def _probability(prediction: Any) -> float | None:
    value = prediction[0] if isinstance(prediction, list) and len(prediction) == 1 else prediction
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def join(request_log: Path, labels: Labels) -> Join:
    """Labelled predictions: each label with the logged prediction it names. Only log lines
    whose request id has a label are kept, so memory follows the labels, not the log."""
    wanted_ids = {request_id for request_id, _ in labels.by_key}
    found: dict[tuple[str, int], tuple[datetime, str, float | None]] = {}
    seen_requests: set[str] = set()
    result = Join([], len(labels.by_key), 0, label_files=labels.files)
    result.relabelled = labels.relabelled
    files = sorted(request_log.glob("requests-*.jsonl")) if request_log.is_dir() else []
    result.log_files = len(files)
    for path in files:
        with path.open(errors="replace") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                    request_id = str(entry["request_id"])
                    if request_id not in wanted_ids:
                        continue
                    when = datetime.fromisoformat(entry["time"])
                    version = str(entry["model_version"])
                    predictions = list(entry["predictions"])
                except (ValueError, KeyError, TypeError):
                    result.bad_log_lines += 1
                    continue
                result.duplicate_requests += request_id in seen_requests
                seen_requests.add(request_id)
                for index, prediction in enumerate(predictions):
                    found[(request_id, index)] = (when, version, _probability(prediction))
    for key, label in labels.by_key.items():
        hit = found.get(key)
        if hit is None or hit[2] is None:
            result.unmatched += 1
            if len(result.unmatched_examples) < 5:
                result.unmatched_examples.append(f"{key[0]}#{key[1]}")
            continue
        when, version, probability = hit
        result.labelled.append(Labelled(when, version, probability, label, key[0], key[1]))
    result.labelled.sort(key=lambda r: (r.time, r.request_id, r.index))
    return result


# --- metrics ---------------------------------------------------------------------------------


def auc(predictions: list[float], labels: list[int]) -> float | None:
    """ROC AUC as the Mann-Whitney statistic (tied scores share their average rank); None
    when the labels hold one class only, where AUC is undefined."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    order = sorted(range(len(predictions)), key=lambda i: predictions[i])
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and predictions[order[j + 1]] == predictions[order[i]]:
            j += 1
        average_rank = (i + j) / 2 + 1  # ranks are 1-based
        rank_sum += average_rank * sum(labels[order[k]] for k in range(i, j + 1))
        i = j + 1
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def binary_accuracy(predictions: list[float], labels: list[int]) -> float | None:
    if not labels:
        return None
    hits = sum(int(p > DECISION_THRESHOLD) == y for p, y in zip(predictions, labels, strict=True))
    return hits / len(labels)


def window_metrics(rows: list[Labelled], window: int) -> dict[str, Any]:
    """Metrics over the last `window` rows (rows sorted by request time)."""
    last = rows[-window:]
    predictions = [r.prediction for r in last]
    labels = [r.label for r in last]
    return {
        "count": len(last),
        "labelled_total": len(rows),
        "binary_accuracy": binary_accuracy(predictions, labels),
        "auc": auc(predictions, labels),
        "positive_rate": sum(labels) / len(labels) if labels else None,
        "mean_prediction": sum(predictions) / len(predictions) if predictions else None,
        "from": last[0].time.isoformat() if last else None,
        "to": last[-1].time.isoformat() if last else None,
    }


def per_version(labelled: list[Labelled], window: int) -> dict[str, dict[str, Any]]:
    """{model_version: window metrics}, versions in numeric order."""
    groups: dict[str, list[Labelled]] = {}
    for row in labelled:
        groups.setdefault(row.model_version, []).append(row)

    def order(version: str):
        return (0, int(version), "") if version.isdigit() else (1, 0, version)

    return {v: window_metrics(groups[v], window) for v in sorted(groups, key=order)}
