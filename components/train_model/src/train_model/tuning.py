"""Keras Tuner's random search over the deep part's layer sizes and the learning rate, each
trial trained for a few epochs and scored on the eval split by the task's objective
(tasks.OBJECTIVES: val_auc, val_sparse_categorical_accuracy, val_loss).

keras_tuner 1.4 drives Keras 3 models through its Tuner class, but the model here is tf_keras
(Keras 2, which TFT and TFMA need): only its oracle (the search) is used, through BaseTuner,
and run_trial trains the tf_keras model itself."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable

HIDDEN_UNITS_CHOICES = ("32,16", "64,32", "128,64", "64,32,16", "128,64,32")
LEARNING_RATE_CHOICES = (0.0003, 0.001, 0.003, 0.01)


def search(
    fit_trial: Callable[[str, float], float],
    default_hidden_units: str,
    default_learning_rate: float,
    max_trials: int,
    seed: int,
    objective: str,
    direction: str,
) -> dict:
    """Runs max_trials trials; fit_trial(hidden_units, learning_rate) trains one model and
    returns its best epoch's `objective` (the highest for direction "max", else the lowest).
    Returns the best hyperparameters and every trial's score."""
    import keras_tuner as kt
    from keras_tuner.engine import base_tuner

    class Oracle(kt.oracles.RandomSearchOracle):
        def populate_space(self, trial_id):
            # The configured values first: the search can only improve on them.
            if not self.trials:
                return {"status": "RUNNING", "values": dict(self.hyperparameters.values)}
            return super().populate_space(trial_id)

    class Tuner(base_tuner.BaseTuner):
        def run_trial(self, trial, *args, **kwargs):
            hp = trial.hyperparameters
            return {objective: fit_trial(hp.get("hidden_units"), hp.get("learning_rate"))}

    hp = kt.HyperParameters()
    # The inputs' values are among the choices and their defaults, which trial 1 tries.
    hp.Choice(
        "hidden_units",
        sorted({*HIDDEN_UNITS_CHOICES, default_hidden_units}),
        default=default_hidden_units,
    )
    hp.Choice(
        "learning_rate",
        sorted({*LEARNING_RATE_CHOICES, float(default_learning_rate)}),
        default=float(default_learning_rate),
    )
    workdir = tempfile.mkdtemp(prefix="keras-tuner-")
    try:
        oracle = Oracle(
            objective=kt.Objective(objective, direction=direction),
            max_trials=max_trials,
            hyperparameters=hp,
            seed=seed,
            max_consecutive_failed_trials=1,
        )
        tuner = Tuner(oracle, directory=workdir, project_name="search", overwrite=True)
        tuner.search()
        trials = [
            {
                "trial_id": t.trial_id,
                "hyperparameters": dict(t.hyperparameters.values),
                "score": t.score,
                "status": t.status,
            }
            for t in sorted(oracle.trials.values(), key=lambda t: t.trial_id)
        ]
        best_trial = oracle.get_best_trials(1)[0]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "hidden_units": best_trial.hyperparameters.get("hidden_units"),
        "learning_rate": float(best_trial.hyperparameters.get("learning_rate")),
        "objective": objective,
        "direction": direction,
        "best_trial_id": best_trial.trial_id,
        "best_score": best_trial.score,
        "trials": trials,
    }
