"""The model and serving sections of settings.yaml for one environment, checked before a run:
every problem names the file, the environment and the field. The pipeline passes these values
to train_model, evaluate_model and deploy_model; `make serve|promote|rollback` read `serving`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.core.errors import BuildError
from mlops.core.settings import load_raw, usecase_settings_path

SERVING_TARGETS = ("local", "vertex")
TASKS = ("binary", "multiclass", "regression")
_MODEL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")  # a folder and a URL path segment
_HIDDEN_UNITS = re.compile(r"^\d+(,\d+)*$")


@dataclass(frozen=True)
class ServingSettings:
    registry: str  # gs://BUCKET/PATH or an absolute local directory
    target: str
    host: str
    port: int
    canary_percent: int
    vertex: dict[str, Any]

    def model_url(self, model_name: str) -> str:
        return f"http://{self.host}:{self.port}/v1/models/{model_name}"


@dataclass(frozen=True)
class ModelSettings:
    env: str
    name: str
    task: str  # binary | multiclass | regression
    label_key: str  # the label as the transform module outputs it
    module: str | None  # the use case's own Keras model builder (a path), if any
    train: dict[str, Any]  # hidden_units, learning_rate, epochs, batch_size
    tuning: dict[str, Any]  # max_trials, epochs_per_trial
    evaluation: dict[str, Any]
    serving: ServingSettings

    def eval_config_json(self) -> str:
        """evaluate_model's eval_config input: the evaluation section with the label."""
        return json.dumps({**self.evaluation, "label_key": self.label_key}, sort_keys=True)


def load_model_settings(
    root: Path, env: str | None = None, usecase: str | None = None
) -> ModelSettings:
    path = root / "settings.yaml"
    raw = load_raw(path, env, usecase)
    env = raw["env"]
    problems: list[str] = []

    def section(name: str) -> dict[str, Any]:
        value = raw.get(name)
        if not isinstance(value, dict):
            problems.append(f"{name}: missing (a mapping)")
            return {}
        return value

    def number(where: str, value: Any, kind: type, low: float, high: float | None = None) -> Any:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and kind is int:
            ok = float(value).is_integer()
        if not ok or value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            what = "an integer" if kind is int else "a number"
            problems.append(f"{where} is {value!r}; expected {what} {bound}")
            return kind(low)
        return kind(value)

    model = section("model")
    serving = section("serving")
    name = model.get("name")
    if not isinstance(name, str) or not _MODEL_NAME.match(name):
        problems.append(
            f"model.name is {name!r}; expected a letter then letters, digits, '_' or '-'"
        )
    train = model.get("train") or {}
    units = str(train.get("hidden_units", ""))
    if not _HIDDEN_UNITS.match(units):
        problems.append(f'model.train.hidden_units is {units!r}; expected e.g. "64,32"')
    train_values = {
        "hidden_units": units,
        "learning_rate": number(
            "model.train.learning_rate", train.get("learning_rate"), float, 1e-9, 10
        ),
        "epochs": number("model.train.epochs", train.get("epochs"), int, 1),
        "batch_size": number("model.train.batch_size", train.get("batch_size"), int, 1),
    }
    tuning = model.get("tuning") or {}
    tuning_values = {
        "max_trials": number("model.tuning.max_trials", tuning.get("max_trials", 0), int, 0),
        "epochs_per_trial": number(
            "model.tuning.epochs_per_trial", tuning.get("epochs_per_trial", 1), int, 1
        ),
    }
    evaluation = model.get("evaluation")
    if not isinstance(evaluation, dict):
        problems.append("model.evaluation: missing (a mapping; see evaluate_model's README)")
        evaluation = {}
    else:
        for key in ("thresholds", "change_thresholds"):
            if not isinstance(evaluation.get(key) or {}, dict):
                problems.append(f"model.evaluation.{key}: expected a mapping of metric: bounds")
        slices = evaluation.get("slices", [[]])
        if not isinstance(slices, list) or not all(isinstance(s, list) for s in slices):
            problems.append(f"model.evaluation.slices is {slices!r}; expected a list of lists")

    task = model.get("task")
    if task not in TASKS:
        problems.append(f"model.task is {task!r}; expected one of {', '.join(TASKS)}")
    label_key = model.get("label_key") or evaluation.get("label_key")
    if not isinstance(label_key, str) or not label_key:
        problems.append("model.label_key: missing (the label the transform module outputs)")
    elif evaluation.get("label_key") not in (None, label_key):
        problems.append(
            f"model.evaluation.label_key is {evaluation['label_key']!r} but model.label_key is "
            f"{label_key!r}: set the label once, as model.label_key"
        )
    module = model.get("module")
    if module is not None and not (root / str(module)).is_file():
        problems.append(f"model.module {module!r}: no such file under {root}")

    registry = str(serving.get("registry") or "")
    if not registry:
        problems.append("serving.registry: missing (a directory or gs://BUCKET/PATH)")
    elif not registry.startswith("gs://"):
        registry = str((root / registry).resolve())
    target = serving.get("target", "local")
    if target not in SERVING_TARGETS:
        problems.append(f"serving.target is {target!r}; use one of {', '.join(SERVING_TARGETS)}")
    if target == "vertex" and not registry.startswith("gs://"):
        problems.append("serving.registry must be gs://... when serving.target is vertex")
    serving_settings = ServingSettings(
        registry=registry,
        target=str(target),
        host=str(serving.get("host") or "127.0.0.1"),
        port=number("serving.port", serving.get("port", 8501), int, 1, 65535),
        canary_percent=number(
            "serving.canary_percent", serving.get("canary_percent", 0), int, 0, 100
        ),
        vertex=dict(serving.get("vertex") or {}),
    )
    if problems:
        usecase = raw.get("usecase")
        where = f"{path} + {usecase_settings_path(root, usecase)}" if usecase else str(path)
        raise BuildError(f"{where} (environment {env!r}): " + "; ".join(problems))
    return ModelSettings(
        env=env,
        name=name,
        task=str(task),
        label_key=str(label_key),
        module=str(module) if module is not None else None,
        train=train_values,
        tuning=tuning_values,
        evaluation=evaluation,
        serving=serving_settings,
    )
