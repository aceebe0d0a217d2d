"""Real trained taxi models for tests, in-process: raw taxi rows -> raw Examples (2:1 split)
-> transform_data.main.run (TFT, one DirectRunner worker) -> train_model.main.run.

Used by this component's tests, and importable by other components' tests (evaluate_model,
deploy_model) that need a real model:

    sys.path.insert(0, str(REPO / "components" / "train_model" / "tests"))
    import train_model_testing as tmt
    taxi = tmt.train_taxi_model(tmp_path, rows=300, epochs=2)
    taxi.model            # the Model artifact folder (SavedModel + mlops_model.json)

Importing this module puts transform_data's and train_model's src/ on sys.path and sets
TF_USE_LEGACY_KERAS=1; it imports no TensorFlow itself."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from mlops.testing import raw_examples
from mlops.testing.raw_examples import feature_types, read_taxi_rows, to_example  # noqa: F401 (re-exported)

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, as the base image sets
REPO = Path(__file__).resolve().parents[3]
for _src in (REPO / "components" / "transform_data" / "src", Path(__file__).parents[1] / "src"):
    if str(_src) not in sys.path:
        sys.path.insert(0, str(_src))

SCHEMA = REPO / "pipelines" / "usecases" / "taxi" / "schema.pbtxt"
TAXI_MODULE = REPO / "pipelines" / "usecases" / "taxi" / "transform.py"
# One worker: the machine is shared; the data is tiny.
TEST_BEAM_ARGS = "--runner=DirectRunner --direct_num_workers=1"


def split_rows(rows: list[dict]) -> dict[str, list[dict]]:
    """2:1 into train and eval, as ExampleGen (by position: deterministic, no hashing)."""
    return {
        "train": [r for i, r in enumerate(rows) if i % 3 != 2],
        "eval": [r for i, r in enumerate(rows) if i % 3 == 2],
    }


def transform_taxi(
    workdir: Path, rows: int = 300, start: int = 0, relabel: Callable[[dict], dict] | None = None
) -> SimpleNamespace:
    """Raw Examples of `rows` taxi rows and their transform_data outputs under workdir;
    `relabel` rewrites each row first (e.g. its tips, for a label of known learnability)."""
    from transform_data import main as transform_data

    workdir = Path(workdir)
    schema_text = SCHEMA.read_text()
    data = read_taxi_rows(rows, start)
    splits = split_rows([relabel(dict(r)) for r in data] if relabel else data)
    raw = raw_examples.write_examples(workdir / "raw", splits, schema_text)
    transformed, graph = workdir / "transformed_examples", workdir / "transform_graph"
    transform_data.run(
        str(raw), schema_text, str(TAXI_MODULE), str(transformed), str(graph), TEST_BEAM_ARGS
    )
    return SimpleNamespace(
        raw=raw,
        transformed_examples=transformed,
        transform_graph=graph,
        train_rows=splits["train"],
        eval_rows=splits["eval"],
        schema_text=schema_text,
    )


TAXI_LABEL_KEY, TAXI_TASK = "big_tipper", "binary"  # what taxi_transform.py produces


def train(data: SimpleNamespace, workdir: Path, **kwargs) -> SimpleNamespace:
    """train_model.main.run on transform_taxi's outputs (or any transform_data outputs, given
    label_key and task); kwargs override run's defaults (label_key and task: the taxi's;
    hidden_units, learning_rate, epochs, batch_size, tuning_max_trials, model_module, ...)."""
    from train_model import main as train_model

    kwargs.setdefault("label_key", TAXI_LABEL_KEY)
    kwargs.setdefault("task", TAXI_TASK)
    workdir = Path(workdir)
    outputs = {
        "model": workdir / "model",
        "best_hyperparameters": workdir / "best_hyperparameters",
        "tensorboard": workdir / "tensorboard",
    }
    result = train_model.run(
        str(data.transformed_examples),
        str(data.transform_graph),
        **{k: str(v) for k, v in outputs.items()},
        **kwargs,
    )
    # data may be an earlier train()'s result: its model outputs are replaced, not doubled.
    return SimpleNamespace(**{**vars(data), **outputs, "result": result})


def train_taxi_model(
    workdir: Path, rows: int = 300, epochs: int = 10, batch_size: int = 32, **kwargs
) -> SimpleNamespace:
    """A real taxi model from `rows` CSV rows (about 60 s for 300 rows on this machine; with
    the defaults, eval AUC 0.97 and accuracy 0.82 against 0.81 for the majority class).

    Returns: raw (raw Examples, Split-train/-eval, with tips), transformed_examples,
    transform_graph, train_rows / eval_rows (the CSV rows as dicts), schema_text,
    model (the Model artifact folder), best_hyperparameters, tensorboard, and result
    (train_model's TrainResult: .model the Keras model, .metrics, .hyperparameters)."""
    workdir = Path(workdir)
    data = transform_taxi(workdir / "data", rows)
    kwargs.setdefault("learning_rate", 0.003)
    kwargs.setdefault("model_name", "taxi_big_tipper")
    return train(data, workdir / "train", epochs=epochs, batch_size=batch_size, **kwargs)
