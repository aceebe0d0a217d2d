"""The training run: the feature layout from the transform output, the label checked against
the task (and the classes found), an optional Keras Tuner search, the final fit on the train
split (validated on eval, logged for TensorBoard), the metrics of both splits, and the export.
The model is the default wide-and-deep one, or the model_module's.

Imported by main.run only, so its imports stay out of the contract check."""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import tf_keras as keras

from train_model import data, export, features, labels, model, tasks, tuning, user_model
from train_model.inputs import Hyperparameters, parse_hidden_units

SEED = 42  # one seed for weights, shuffling and the search: reruns give the same model
HYPERPARAMETERS_FILE = "hyperparameters.json"
# In the model folder: the curve of the model's own training. No times in it, so the same
# training writes the same file (deploy_model compares the folder's content).
HISTORY_FILE = "history.json"


@dataclass
class TrainResult:
    model: object  # the trained tf_keras model (takes transformed features)
    metrics: dict[str, float]
    hyperparameters: dict
    layout: features.FeatureLayout
    serving_spec: dict
    labels: labels.Labels
    history: dict  # history_json: per epoch, each metric on train and eval


def run(
    transformed_examples: str,
    tft_output,
    label_key: str,
    task: str,
    hp: Hyperparameters,
    tuning_max_trials: int,
    tuning_epochs_per_trial: int,
    model_name: str | None,
    model_dir: str,
    best_hyperparameters_dir: str,
    tensorboard_dir: str,
    user: user_model.UserModel | None = None,
) -> TrainResult:
    started = time.monotonic()
    layout = features.layout(tft_output, label_key)
    spec = tft_output.transformed_feature_spec()
    labels.check_label_feature(spec, label_key, task)
    label_sources = features.raw_label_keys(tft_output, label_key)
    serving_spec = features.serving_raw_spec(tft_output, label_sources)
    export.check_raw_spec(serving_spec)  # before hours of training, not after
    train_labels, eval_labels = (
        labels.summarize(data.label_values(transformed_examples, split, spec, label_key), task)
        for split in ("train", "eval")
    )
    found = labels.resolve(tft_output, label_key, task, train_labels, eval_labels)

    def datasets(batch_size):
        label_dtype = tasks.label_dtype(task)
        train = data.dataset(
            transformed_examples, "train", spec, layout, batch_size, label_dtype,
            shuffle=True, seed=SEED,
        )  # fmt: skip
        eval_ = data.dataset(transformed_examples, "eval", spec, layout, batch_size, label_dtype)
        return train, eval_

    def build(config: Hyperparameters) -> tuple:
        """(compiled model, whether its code needs AutoGraph)"""
        keras.utils.set_random_seed(SEED)
        if user is not None:
            return user_model.build(
                user, layout, task, found.num_classes, asdict(config), config.learning_rate
            )
        return model.build(
            layout, task, found.num_classes, config.hidden_units, config.learning_rate,
            found.train_mean,
        ), False  # fmt: skip

    objective, direction = tasks.OBJECTIVES[task]
    search = None
    if tuning_max_trials > 0:

        def fit_trial(hidden_units: str, learning_rate: float) -> float:
            config = replace(
                hp, hidden_units=parse_hidden_units(hidden_units), learning_rate=learning_rate
            )
            m, _ = build(config)
            train, eval_ = datasets(hp.batch_size)
            history = m.fit(train, validation_data=eval_, epochs=tuning_epochs_per_trial, verbose=2)
            best = max if direction == "max" else min
            return float(best(history.history[objective]))

        search = tuning.search(
            fit_trial, ",".join(map(str, hp.hidden_units)), hp.learning_rate,
            tuning_max_trials, SEED, objective, direction,
        )  # fmt: skip
        hp = replace(
            hp,
            hidden_units=parse_hidden_units(search["hidden_units"]),
            learning_rate=search["learning_rate"],
        )

    trained, needs_autograph = build(hp)
    train, eval_ = datasets(hp.batch_size)
    shutil.rmtree(tensorboard_dir, ignore_errors=True)  # a rerun's logs, not a mix
    history = trained.fit(
        train,
        validation_data=eval_,
        epochs=hp.epochs,
        callbacks=[keras.callbacks.TensorBoard(log_dir=tensorboard_dir)],
        verbose=2,
    )

    per_epoch = history_json(history.history)
    metrics = _metrics(trained, transformed_examples, spec, layout, found, hp.batch_size)
    metrics["epochs_run"] = len(history.history["loss"])
    metrics["tuning_trials"] = len(search["trials"]) if search else 0
    metrics["training_seconds"] = round(time.monotonic() - started, 1)

    hyperparameters = {**hp.as_json(), "source": "tuner" if search else "inputs"}
    if search:
        hyperparameters["tuning"] = {
            "objective": search["objective"],
            "direction": search["direction"],
            "max_trials": tuning_max_trials,
            "epochs_per_trial": tuning_epochs_per_trial,
            "best_trial_id": search["best_trial_id"],
            "best_score": search["best_score"],
            "trials": search["trials"],
        }
    Path(best_hyperparameters_dir).mkdir(parents=True, exist_ok=True)
    Path(best_hyperparameters_dir, HYPERPARAMETERS_FILE).write_text(
        json.dumps(hyperparameters, indent=2) + "\n"
    )

    export.export(
        trained,
        tft_output,
        layout,
        serving_spec,
        model_dir,
        export.sidecar(
            model_name, task, label_key, found.classes, serving_spec, label_sources,
            {k: v for k, v in hyperparameters.items() if k != "tuning"},
        ),
        autograph=needs_autograph,
    )  # fmt: skip
    Path(model_dir, HISTORY_FILE).write_text(json.dumps(per_epoch, indent=2) + "\n")
    return TrainResult(trained, metrics, hyperparameters, layout, serving_spec, found, per_epoch)


def history_json(history: dict[str, list]) -> dict:
    """Keras' History.history ({"loss": [...], "val_loss": [...], "auc": [...], ...}) as
    {"epochs": n, "train": {"loss": [...], ...}, "eval": {"loss": [...], ...}}: the eval
    split is Keras' validation data."""
    train: dict[str, list[float]] = {}
    eval_: dict[str, list[float]] = {}
    for key, values in history.items():
        into, name = (eval_, key[len("val_") :]) if key.startswith("val_") else (train, key)
        # JSON has no NaN (a diverged loss): null
        into[name] = [round(float(v), 6) if math.isfinite(v) else None for v in values]
    return {"epochs": len(history.get("loss", [])), "train": train, "eval": eval_}


def _metrics(trained, uri, spec, layout, found: labels.Labels, batch_size) -> dict[str, float]:
    """The loss and the task's metrics of the final model on each split (a fresh pass, not the
    running averages of the last epoch), with the examples and the label's baseline."""
    out: dict[str, float] = {}
    for split in ("train", "eval"):
        ds = data.dataset(uri, split, spec, layout, batch_size, tasks.label_dtype(found.task))
        for name, value in trained.evaluate(ds, return_dict=True, verbose=0).items():
            out[f"{split}_{name}"] = round(float(value), 6)
        out.update(labels.split_metrics(found, split))
    return out
