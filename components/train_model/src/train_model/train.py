"""The training run: the feature layout from the transform output, an optional Keras Tuner
search, the final fit on the train split (validated on eval, logged for TensorBoard), the
metrics of both splits, and the export.

Imported by main.run only, so its imports stay out of the contract check."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import tf_keras as keras

from train_model import data, export, features, model, tuning
from train_model.inputs import Hyperparameters, parse_hidden_units

SEED = 42  # one seed for weights, shuffling and the search: reruns give the same model
HYPERPARAMETERS_FILE = "hyperparameters.json"


@dataclass
class TrainResult:
    model: object  # the trained tf_keras model (takes transformed features)
    metrics: dict[str, float]
    hyperparameters: dict
    layout: features.FeatureLayout
    serving_spec: dict


def run(
    transformed_examples: str,
    tft_output,
    label_key: str,
    hp: Hyperparameters,
    tuning_max_trials: int,
    tuning_epochs_per_trial: int,
    model_name: str | None,
    model_dir: str,
    best_hyperparameters_dir: str,
    tensorboard_dir: str,
) -> TrainResult:
    started = time.monotonic()
    layout = features.layout(tft_output, label_key)
    label_sources = features.raw_label_keys(tft_output, label_key)
    serving_spec = features.serving_raw_spec(tft_output, label_sources)
    export.check_raw_spec(serving_spec)  # before hours of training, not after
    spec = tft_output.transformed_feature_spec()

    def datasets(batch_size):
        train = data.dataset(
            transformed_examples, "train", spec, layout, batch_size, shuffle=True, seed=SEED
        )
        eval_ = data.dataset(transformed_examples, "eval", spec, layout, batch_size)
        return train, eval_

    search = None
    if tuning_max_trials > 0:

        def fit_trial(hidden_units: str, learning_rate: float) -> float:
            keras.utils.set_random_seed(SEED)
            m = model.build(layout, parse_hidden_units(hidden_units), learning_rate)
            train, eval_ = datasets(hp.batch_size)
            history = m.fit(train, validation_data=eval_, epochs=tuning_epochs_per_trial, verbose=2)
            return float(max(history.history[tuning.OBJECTIVE]))

        search = tuning.search(
            fit_trial, ",".join(map(str, hp.hidden_units)), hp.learning_rate,
            tuning_max_trials, SEED,
        )  # fmt: skip
        hp = replace(
            hp,
            hidden_units=parse_hidden_units(search["hidden_units"]),
            learning_rate=search["learning_rate"],
        )

    keras.utils.set_random_seed(SEED)
    trained = model.build(layout, hp.hidden_units, hp.learning_rate)
    train, eval_ = datasets(hp.batch_size)
    shutil.rmtree(tensorboard_dir, ignore_errors=True)  # a rerun's logs, not a mix
    history = trained.fit(
        train,
        validation_data=eval_,
        epochs=hp.epochs,
        callbacks=[keras.callbacks.TensorBoard(log_dir=tensorboard_dir)],
        verbose=2,
    )

    metrics = _metrics(trained, transformed_examples, spec, layout, hp.batch_size)
    metrics["epochs_run"] = len(history.history["loss"])
    metrics["tuning_trials"] = len(search["trials"]) if search else 0
    metrics["training_seconds"] = round(time.monotonic() - started, 1)

    hyperparameters = {**hp.as_json(), "source": "tuner" if search else "inputs"}
    if search:
        hyperparameters["tuning"] = {
            "objective": search["objective"],
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
            model_name, label_key, serving_spec, label_sources,
            {k: v for k, v in hyperparameters.items() if k != "tuning"},
        ),
    )  # fmt: skip
    return TrainResult(trained, metrics, hyperparameters, layout, serving_spec)


def _metrics(trained, uri, spec, layout, batch_size) -> dict[str, float]:
    """Loss, AUC and accuracy of the final model on each split (a fresh pass, not the
    running averages of the last epoch), with the counts of examples and positives."""
    out: dict[str, float] = {}
    for split in ("train", "eval"):
        ds = data.dataset(uri, split, spec, layout, batch_size)
        for name, value in trained.evaluate(ds, return_dict=True, verbose=0).items():
            out[f"{split}_{name}"] = round(float(value), 6)
        count, positive = data.label_counts(uri, split, spec, layout.label_key)
        out[f"{split}_examples"] = count
        out[f"{split}_positive_rate"] = round(positive / count, 6) if count else 0.0
    return out
