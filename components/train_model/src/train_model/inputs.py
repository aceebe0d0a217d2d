"""Reading and checking the component's inputs before any training starts: the transformed
Examples splits, the transform graph, the task and the hyperparameters. Each problem raises
InputError with a message that names the input and what is wrong.

No TensorFlow at import time (the contract check imports main, which imports this)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from mlops_runtime import examples

from train_model.tasks import TASKS


class InputError(ValueError):
    """An input of the component is unusable; the message says which and why."""


@dataclass(frozen=True)
class Hyperparameters:
    """What a training run is configured with (and what hyperparameters.json records)."""

    hidden_units: tuple[int, ...]
    learning_rate: float
    epochs: int
    batch_size: int

    def as_json(self) -> dict:
        d = asdict(self)
        d["hidden_units"] = ",".join(str(u) for u in self.hidden_units)
        return d


def parse_hidden_units(value: str, name: str = "hidden_units") -> tuple[int, ...]:
    """'64,32' -> (64, 32): the sizes of the deep part's dense layers, each at least 1."""
    parts = [p.strip() for p in str(value).split(",")]
    try:
        units = tuple(int(p) for p in parts)
    except ValueError:
        raise InputError(
            f"{name}: {value!r} is not a comma-separated list of layer sizes (e.g. '64,32')"
        ) from None
    if not units or any(u < 1 for u in units):
        raise InputError(f"{name}: {value!r}: every layer size must be a positive integer")
    return units


def check_hyperparameters(
    hidden_units: str, learning_rate: float, epochs: int, batch_size: int
) -> Hyperparameters:
    units = parse_hidden_units(hidden_units)
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise InputError(f"learning_rate: {learning_rate!r} must be a positive number")
    if epochs < 1:
        raise InputError(f"epochs: {epochs!r} must be at least 1")
    if batch_size < 1:
        raise InputError(f"batch_size: {batch_size!r} must be at least 1")
    return Hyperparameters(units, float(learning_rate), int(epochs), int(batch_size))


def check_task(task: str) -> str:
    if task not in TASKS:
        raise InputError(f"task: {task!r} is not one of {', '.join(TASKS)}")
    return task


def check_label_key(label_key: str) -> str:
    if not label_key.strip():
        raise InputError("label_key: empty; name the transformed label feature")
    return label_key


def check_tuning(max_trials: int, epochs_per_trial: int) -> None:
    if max_trials < 0:
        raise InputError(f"tuning_max_trials: {max_trials!r} must be 0 (no search) or more")
    if max_trials > 0 and epochs_per_trial < 1:
        raise InputError(
            f"tuning_epochs_per_trial: {epochs_per_trial!r} must be at least 1 when "
            f"tuning_max_trials is {max_trials}"
        )


def check_splits(uri: str, splits: tuple[str, ...] = examples.SPLITS) -> None:
    """Every split has data files in the Examples layout under uri."""
    problem = examples.layout_problem(uri, splits)
    if problem:
        raise InputError(f"transformed_examples: {problem}")


def load_transform_output(uri: str):
    """tft.TFTransformOutput of the transform_graph input, checked to hold what training and
    serving need: the transform function, the transformed schema and the raw schema."""
    root = Path(uri)
    if not root.is_dir():
        raise InputError(f"transform_graph: {uri} is not a folder")
    needed = {
        "transform_fn": "the transform function (tft_beam.WriteTransformFn's output)",
        "transformed_metadata": "the transformed schema",
        "metadata": "the raw schema (transform_data writes it)",
    }
    missing = [f"{d}/ ({what})" for d, what in needed.items() if not (root / d).is_dir()]
    if missing:
        raise InputError(f"transform_graph: {uri} lacks {'; '.join(missing)}")
    import tensorflow_transform as tft

    try:
        output = tft.TFTransformOutput(str(root))
        output.transformed_feature_spec()
        output.raw_feature_spec()
    except Exception as e:
        raise InputError(
            f"transform_graph: {uri} does not load as a TFT output: {type(e).__name__}: {e}"
        ) from e
    return output
