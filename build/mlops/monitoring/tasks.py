"""The served model's task as monitoring sees it: which live metrics fit each task, which way
each one is bad, and the task and class names the degradation check works with.

    task         live metrics (triggers.degradation.metric)   degraded when
    binary       binary_accuracy, auc                         below the threshold
    multiclass   accuracy, macro_f1                           below the threshold
    regression   mae, rmse                                    above the threshold

The task of a check is the stable version's: its mlops_model.json in the registry (`task`,
absent = binary as the model contract says; `classes`), since that model made the logged
predictions; settings.yaml's model.task (absent = binary) when no sidecar says (nothing
serves, or the version has none). mlops.monitoring.degradation reads both."""

from __future__ import annotations

from dataclasses import dataclass

TASKS = ("binary", "multiclass", "regression")
BINARY_CLASSES = ("0", "1")


@dataclass(frozen=True)
class Metric:
    name: str
    task: str
    higher_is_better: bool
    share: bool  # a value between 0 and 1 (and so is its threshold)
    evaluation_names: tuple[str, ...]  # its names among version.json's evaluation metrics

    @property
    def bad_side(self) -> str:
        """Where a degraded value lies against the threshold."""
        return "below" if self.higher_is_better else "above"

    @property
    def direction(self) -> str:
        better = "higher" if self.higher_is_better else "lower"
        moves = "falls below" if self.higher_is_better else "rises above"
        return f"{better} {self.name} is better: a version degrades when it {moves} the threshold"


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("binary_accuracy", "binary", True, True, ("binary_accuracy",)),
        Metric("auc", "binary", True, True, ("auc",)),
        Metric(
            "accuracy", "multiclass", True, True, ("accuracy", "sparse_categorical_accuracy")
        ),
        Metric("macro_f1", "multiclass", True, True, ("macro_f1",)),
        Metric("mae", "regression", False, False, ("mae", "mean_absolute_error")),
        Metric("rmse", "regression", False, False, ("rmse", "root_mean_squared_error")),
    )
}


def metric_names(task: str) -> tuple[str, ...]:
    return tuple(name for name, m in METRICS.items() if m.task == task)


@dataclass(frozen=True)
class Task:
    """One check's task, its class names (None: regression, or a multiclass model whose
    names are only in the request log) and where it was read."""

    task: str
    classes: tuple[str, ...] | None = BINARY_CLASSES
    source: str = "the default (binary)"

    def describe(self) -> dict:
        return {
            "task": self.task,
            "classes": None if self.classes is None else list(self.classes),
            "source": self.source,
            "metrics": list(metric_names(self.task)),
        }


BINARY = Task("binary")


def task_from_sidecar(sidecar: dict, where: str) -> Task:
    """The task of a model's mlops_model.json; ValueError names `where` and the field."""
    task = sidecar.get("task") or "binary"
    if task not in TASKS:
        raise ValueError(f"{where}: task is {task!r}; expected one of {', '.join(TASKS)}")
    classes = sidecar.get("classes")
    if task == "regression":
        return Task(task, None, where)
    if task == "binary" and classes is None:
        return Task(task, BINARY_CLASSES, where)
    if classes is None:
        return Task(task, None, where)  # the service logs the class names it answered
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise ValueError(f"{where}: classes is {str(classes)[:80]}; expected a list of names")
    if task == "binary" and len(classes) != 2:
        raise ValueError(f"{where}: classes has {len(classes)} names; a binary model has 2")
    return Task(task, tuple(classes), where)
