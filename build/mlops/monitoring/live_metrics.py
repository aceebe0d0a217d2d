"""Live model metrics from the prediction service's request log and ground truth that arrives
later: the label join and the per-version sliding-window metrics the degradation monitor
(mlops.monitoring.degradation) decides on, for the served model's task (mlops.monitoring.tasks).

Request log (deploy_model.request_log): JSON lines {request_id, time, model_version,
instances, predictions[, task, predicted]} in
`<request_log>/<model_name>/requests-YYYY-MM-DD.jsonl`; each prediction is the model's output
row: binary [p] (p the probability of class 1), multiclass [p0, ..., pK-1], regression [v];
`task` and `predicted` (the class name or value answered per instance) are on lines written
since tasks; a line without them is binary. A line of another task than the check's joins
nothing. A request a version failed to answer is logged with its `status` (not 200) and no
predictions: it joins nothing (mlops.monitoring.outcomes counts it).

Labels: files under the labels folder (recursively), read in path order so a later file
corrects an earlier one:
    *.csv    header request_id,label[,index]
    *.jsonl  one object per line with the same keys
`index` is the instance's position in the request (0 when absent). A label joins the logged
prediction with the same (request_id, index). What a label may be depends on the task:
    binary       one of the model's two class names (str(label) == name), class 1 the
                 positive one; with the default names "0"/"1" also true/false, as before tasks
    multiclass   any class name: right when it is the predicted class's name
    regression   a number
"""

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
from mlops.monitoring.tasks import BINARY, BINARY_CLASSES, Task

LABEL_SUFFIXES = (".csv", ".jsonl")
DECISION_THRESHOLD = 0.5  # p > 0.5 predicts 1, as Keras' and TFMA's BinaryAccuracy do
_TRUE = {"1", "true"}
_FALSE = {"0", "false"}


class LabelError(BuildError):
    """A label file cannot be read; the message names the file and the line."""


@dataclass(frozen=True)
class Labelled:
    """One prediction the service logged, with the label that arrived for it. By task:
    binary: prediction p, label 0/1; multiclass: predicted and label class names, prediction
    the predicted class's probability; regression: prediction the value, label a float."""

    time: datetime
    model_version: str
    prediction: float
    label: Any
    request_id: str
    index: int
    predicted: Any = None  # multiclass: the predicted class's name


@dataclass
class Labels:
    by_key: dict[tuple[str, int], Any]  # (request_id, index) -> the label read for the task
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
    other_task_lines: int = 0  # labelled requests a model of another task answered


# --- labels ----------------------------------------------------------------------------------


def _binary_01(value: Any, where: str) -> int:
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


def class_name(value: Any) -> str:
    """A label as the class name it stands for: 2 and 2.0 are "2", JSON true is "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value).strip()


def label_value(value: Any, where: str, task: Task = BINARY) -> Any:
    """The label read for the task (see the module's docstring); LabelError names `where`."""
    if task.task == "regression":
        number = None
        if not isinstance(value, bool):
            try:
                number = float(value)
            except (TypeError, ValueError):
                pass
        if number is None or not math.isfinite(number):
            raise LabelError(f"{where}: label {value!r} is not a number (a regression label)")
        return number
    if task.task == "multiclass":
        name = class_name(value)
        if not name:
            raise LabelError(f"{where}: the label is empty")
        return name
    classes = task.classes or BINARY_CLASSES
    if tuple(classes) == BINARY_CLASSES:
        return _binary_01(value, where)
    name = class_name(value)
    if name not in classes:
        raise LabelError(
            f"{where}: label {value!r} is not a class of the model ({', '.join(classes)})"
        )
    return classes.index(name)


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


def _row(record: dict[str, Any], where: str, task: Task) -> tuple[tuple[str, int], Any]:
    request_id = record.get("request_id")
    if request_id is None or not str(request_id).strip():
        raise LabelError(f"{where}: no request_id")
    if "label" not in record:
        raise LabelError(f"{where}: no label")
    key = (str(request_id).strip(), _index_value(record.get("index"), where))
    return key, label_value(record["label"], where, task)


def _csv_rows(path: Path, task: Task) -> Iterable[tuple[tuple[str, int], Any]]:
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
            yield _row(record, where, task)


def _jsonl_rows(path: Path, task: Task) -> Iterable[tuple[tuple[str, int], Any]]:
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
            yield _row(record, where, task)


def label_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in LABEL_SUFFIXES)


def read_labels(folder: Path, task: Task = BINARY) -> Labels:
    """Every label under the folder, read for the task; a file that does not parse, or a
    label the task cannot take, raises LabelError."""
    labels = Labels({}, [])
    for path in label_files(folder):
        rows = _csv_rows(path, task) if path.suffix == ".csv" else _jsonl_rows(path, task)
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


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _probability(prediction: Any) -> float | None:
    """The one value of a binary or regression prediction ([p] or [v])."""
    value = prediction[0] if isinstance(prediction, list) and len(prediction) == 1 else prediction
    return _number(value)


def _prediction(task: Task, prediction: Any, logged: Any) -> tuple[float, Any] | None:
    """(prediction, predicted) of one logged instance for the task (see Labelled); None when
    the logged row does not fit the task. A multiclass class name comes from the log's
    `predicted` (what the service answered), else from the argmax and the task's classes."""
    if task.task != "multiclass":
        value = _probability(prediction)
        return None if value is None else (value, None)
    if not isinstance(prediction, list) or len(prediction) < 2:
        return None
    row = [_number(v) for v in prediction]
    if any(v is None for v in row):
        return None
    k = max(range(len(row)), key=row.__getitem__)
    if isinstance(logged, str) and logged:
        name = logged
    elif task.classes and len(task.classes) == len(row):
        name = task.classes[k]
    else:
        name = str(k)  # the contract's names without a label vocabulary
    return row[k], name


def join(request_log: Path, labels: Labels, task: Task = BINARY) -> Join:
    """Labelled predictions: each label with the logged prediction it names, read for the
    task. Only log lines whose request id has a label are kept, so memory follows the
    labels, not the log. A line logged for another task joins nothing (other_task_lines)."""
    wanted_ids = {request_id for request_id, _ in labels.by_key}
    found: dict[tuple[str, int], tuple[datetime, str, tuple[float, Any] | None]] = {}
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
                    if request_id not in wanted_ids or entry.get("status", 200) != 200:
                        continue
                    when = datetime.fromisoformat(entry["time"])
                    version = str(entry["model_version"])
                    predictions = list(entry["predictions"])
                    logged = entry.get("predicted")
                    logged = list(logged) if isinstance(logged, list) else []
                    line_task = entry.get("task") or "binary"  # lines from before tasks
                except (ValueError, KeyError, TypeError, AttributeError):
                    result.bad_log_lines += 1
                    continue
                result.duplicate_requests += request_id in seen_requests
                seen_requests.add(request_id)
                if line_task != task.task:
                    result.other_task_lines += 1
                for index, prediction in enumerate(predictions):
                    named = logged[index] if index < len(logged) else None
                    hit = _prediction(task, prediction, named) if line_task == task.task else None
                    found[(request_id, index)] = (when, version, hit)
    for key, label in labels.by_key.items():
        hit = found.get(key)
        if hit is None or hit[2] is None:
            result.unmatched += 1
            if len(result.unmatched_examples) < 5:
                result.unmatched_examples.append(f"{key[0]}#{key[1]}")
            continue
        when, version, (prediction, predicted) = hit
        result.labelled.append(
            Labelled(when, version, prediction, label, key[0], key[1], predicted)
        )
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


def accuracy(predicted: list, labels: list) -> float | None:
    """The share of predicted class names equal to the label's."""
    if not labels:
        return None
    return sum(p == y for p, y in zip(predicted, labels, strict=True)) / len(labels)


def macro_f1(predicted: list, labels: list) -> float | None:
    """The unweighted mean of each class's F1 = 2TP / (2TP + FP + FN), over the classes that
    occur in the window as a label or a prediction (scikit-learn's f1_score(average="macro")
    on the same lists)."""
    if not labels:
        return None
    scores = []
    for name in set(labels) | set(predicted):
        tp = sum(p == name and y == name for p, y in zip(predicted, labels, strict=True))
        fp = sum(p == name and y != name for p, y in zip(predicted, labels, strict=True))
        fn = sum(p != name and y == name for p, y in zip(predicted, labels, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores)


def mae(values: list[float], labels: list[float]) -> float | None:
    if not labels:
        return None
    return sum(abs(v - y) for v, y in zip(values, labels, strict=True)) / len(labels)


def rmse(values: list[float], labels: list[float]) -> float | None:
    if not labels:
        return None
    return math.sqrt(sum((v - y) ** 2 for v, y in zip(values, labels, strict=True)) / len(labels))


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def task_figures(task: str, rows: list[Labelled]) -> dict[str, Any]:
    """The task's live metrics (mlops.monitoring.tasks) and figures that explain them."""
    predictions = [r.prediction for r in rows]
    labels = [r.label for r in rows]
    if task == "multiclass":
        predicted = [r.predicted for r in rows]
        return {
            "accuracy": accuracy(predicted, labels),
            "macro_f1": macro_f1(predicted, labels),
            "label_classes": len(set(labels)) if labels else None,
        }
    if task == "regression":
        return {
            "mae": mae(predictions, labels),
            "rmse": rmse(predictions, labels),
            "mean_label": _mean(labels),
            "mean_prediction": _mean(predictions),
        }
    return {
        "binary_accuracy": binary_accuracy(predictions, labels),
        "auc": auc(predictions, labels),
        "positive_rate": _mean(labels),
        "mean_prediction": _mean(predictions),
    }


def window_metrics(rows: list[Labelled], window: int, task: str = "binary") -> dict[str, Any]:
    """Metrics over the last `window` rows (rows sorted by request time)."""
    last = rows[-window:]
    return {
        "count": len(last),
        "labelled_total": len(rows),
        **task_figures(task, last),
        "from": last[0].time.isoformat() if last else None,
        "to": last[-1].time.isoformat() if last else None,
    }


def per_version(
    labelled: list[Labelled], window: int, task: str = "binary"
) -> dict[str, dict[str, Any]]:
    """{model_version: window metrics}, versions in numeric order."""
    groups: dict[str, list[Labelled]] = {}
    for row in labelled:
        groups.setdefault(row.model_version, []).append(row)

    def order(version: str):
        return (0, int(version), "") if version.isdigit() else (1, 0, version)

    return {v: window_metrics(groups[v], window, task) for v in sorted(groups, key=order)}
