"""The model's task, as its mlops_model.json sidecar states it (the model contract), and what
the service answers for it. No TensorFlow here (the contract check imports main, which
checks the sidecar at deploy time).

    task         serving_default's `outputs` row   `classes` entry of the answer
    binary       [p]  (p: probability of class 1)  class 1 when p >= 0.5, else class 0
    multiclass   [p0, ..., pK-1]                   the argmax class
    regression   [v]                               (none)

A sidecar without "task" (a model made before tasks) is binary with classes ["0", "1"]."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TASKS = ("binary", "multiclass", "regression")
BINARY_CLASSES = ("0", "1")
BINARY_THRESHOLD = 0.5  # the contract: class 1 when p >= 0.5


@dataclass(frozen=True)
class ModelTask:
    task: str
    classes: tuple[str, ...] | None  # None for regression

    @property
    def width(self) -> int:
        """Values per example in serving_default's output."""
        return len(self.classes) if self.task == "multiclass" and self.classes else 1

    def output_problem(self, rows: list) -> str | None:
        """Why rows (the output for one example) break the contract, or None."""
        if len(rows) != 1:
            return f"{len(rows)} rows for 1 example"
        if not isinstance(rows[0], list):
            return "a scalar per example, not a row of values"
        if len(rows[0]) != self.width:
            if self.task == "multiclass":
                return (
                    f"{len(rows[0])} probabilities per example, but the sidecar names "
                    f"{self.width} classes"
                )
            return f"{len(rows[0])} values per example, not one"
        return None

    def classes_of(self, predictions: list[list[float]]) -> list[dict[str, Any]] | None:
        """The answer's `classes`: {class_id, class, probability} per prediction, probability
        being that of the class named; None for regression."""
        if self.classes is None:
            return None
        out = []
        for row in predictions:
            if self.task == "binary":
                p = row[0]
                k, probability = (1, p) if p >= BINARY_THRESHOLD else (0, 1.0 - p)
            else:
                k = max(range(len(row)), key=row.__getitem__)  # the first of tied maxima
                probability = row[k]
            out.append({"class_id": k, "class": self.classes[k], "probability": probability})
        return out

    def predicted(self, predictions: list[list[float]], classes: list[dict] | None) -> list:
        """Per example what the model predicted, for the request log: the class name
        (classification) or the value (regression)."""
        if classes is None:
            return [row[0] for row in predictions]
        return [c["class"] for c in classes]

    def describe(self) -> dict[str, Any]:
        return {"task": self.task, "classes": None if self.classes is None else list(self.classes)}


def task_from_sidecar(sidecar: dict[str, Any], where: str) -> ModelTask:
    """The sidecar's task and classes, checked; ValueError names `where` and the field."""
    task = sidecar.get("task", "binary")
    if task is None:
        task = "binary"
    if task not in TASKS:
        raise ValueError(f"{where}: task is {task!r}; expected one of {', '.join(TASKS)}")
    if task == "regression":
        return ModelTask(task, None)
    classes = sidecar.get("classes")
    if classes is None and task == "binary":
        return ModelTask(task, BINARY_CLASSES)
    if (
        not isinstance(classes, list)
        or not all(isinstance(c, str) for c in classes)
        or len(set(classes)) != len(classes)
    ):
        raise ValueError(
            f"{where}: classes is {str(classes)[:80]}; expected a list of distinct class "
            f"names (strings) for a {task} model"
        )
    want = "2" if task == "binary" else "at least 2"
    if (task == "binary" and len(classes) != 2) or len(classes) < 2:
        raise ValueError(f"{where}: classes has {len(classes)} names; a {task} model has {want}")
    return ModelTask(task, tuple(classes))


DEFAULT_TASK = ModelTask("binary", BINARY_CLASSES)  # a model without a task in its sidecar
