"""The model's task, read from its sidecar (mlops_model.json: "task", "classes"), which
train_model writes from settings' model.task. The model says what it is, so evaluation
needs no task input that could disagree with it; a sidecar without "task" (a model made
before tasks existed) is binary.

    binary      outputs [n, 1]: the probability of class 1; classes default ["0", "1"]
    multiclass  outputs [n, K]: softmax over the classes; classes (K names, in id order)
    regression  outputs [n, 1]: the predicted value; no classes"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evaluate_model.inputs import InputError

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"
TASKS = (BINARY, MULTICLASS, REGRESSION)


@dataclass(frozen=True)
class ModelTask:
    task: str
    classes: tuple[str, ...] | None  # class names by id; None for regression

    @property
    def num_classes(self) -> int:
        return len(self.classes or ())

    def class_name(self, class_id: int) -> str:
        if self.classes and 0 <= class_id < len(self.classes):
            return self.classes[class_id]
        return str(class_id)  # e.g. a label the vocabulary did not know (-1)


BINARY_TASK = ModelTask(BINARY, ("0", "1"))


def from_sidecar(sidecar: dict[str, Any], input_name: str) -> ModelTask:
    where = f"{input_name}: mlops_model.json"
    task = sidecar.get("task")
    if task is None:
        task = BINARY
    if task not in TASKS:
        raise InputError(f"{where} has task {task!r}; expected one of {', '.join(TASKS)}")
    if task == REGRESSION:
        return ModelTask(REGRESSION, None)
    classes = sidecar.get("classes")
    if classes is None and task == BINARY:
        return BINARY_TASK
    ok = isinstance(classes, list) and all(isinstance(c, str) for c in classes)
    if not ok or len(classes) < 2:
        raise InputError(
            f"{where} has classes {classes!r}; a {task} model needs a list of at least two "
            "class names, in class id order"
        )
    if len(set(classes)) != len(classes):
        raise InputError(f"{where} names a class twice in {classes!r}")
    if task == BINARY and len(classes) != 2:
        raise InputError(f"{where}: a binary model has two classes, not {classes!r}")
    return ModelTask(task, tuple(classes))


def incompatibility(candidate: ModelTask, baseline: ModelTask) -> str | None:
    """Why the baseline's metrics cannot be compared with the candidate's, or None."""
    if candidate.task != baseline.task:
        return f"the baseline is a {baseline.task} model, the candidate a {candidate.task} model"
    if candidate.task == MULTICLASS and candidate.classes != baseline.classes:
        return (
            f"the baseline's classes {list(baseline.classes or ())} differ from the "
            f"candidate's {list(candidate.classes or ())}"
        )
    return None
