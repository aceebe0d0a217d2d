"""Train model: a Keras model for a binary, multiclass or regression task on the transformed
Examples of transform_data, exported as a serving SavedModel with the TFT transform inside
(the shared model contract).

The default model is wide and deep: categorical ids (integer features with a domain TFT
recorded: vocabularies, buckets) go one-hot into the wide part and embedded into the deep
part, float features into the deep part; no feature name is hard-coded. A model_module's
build_model replaces it. With tuning_max_trials > 0, a Keras Tuner random search over layer
sizes and learning rate (the task's objective) picks the hyperparameters first.

Outputs: model (SavedModel + mlops_model.json + history.json, the metrics per epoch),
best_hyperparameters (hyperparameters.json), metrics (loss and the task's metrics, counts per
split), tensorboard (the Keras logs), report (HTML: the final metrics, charts per epoch).

`build_parser` is the command-line interface, which `make lint` checks against component.yaml;
`run` is the work, testable without KFP. Heavy imports happen inside functions."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mlops_runtime import kfp_outputs
from mlops_runtime.process import run_then_exit

from train_model import user_model
from train_model.inputs import (
    InputError,
    check_hyperparameters,
    check_label_key,
    check_splits,
    check_task,
    check_tuning,
    load_transform_output,
)
from train_model.tasks import TASKS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--transformed-examples",
        required=True,
        help="Input path of the transformed Examples (Split-train, Split-eval).",
    )
    p.add_argument(
        "--transform-graph",
        required=True,
        help="Input path of transform_data's transform graph (tft.TFTransformOutput).",
    )
    p.add_argument("--label-key", type=str, required=True, help="The transformed label feature.")
    p.add_argument(
        "--task", type=str, required=True, help=f"The kind of label: {', '.join(TASKS)}."
    )
    p.add_argument(
        "--model-module",
        type=str,
        default=None,
        help="Python source (or the path of a .py file) defining build_model(layout, task, "
        "num_classes, hyperparameters); absent or empty: the wide-and-deep model.",
    )
    p.add_argument(
        "--hidden-units", type=str, required=True, help="Deep layer sizes, e.g. '64,32'."
    )
    p.add_argument("--learning-rate", type=float, required=True, help="Adam's learning rate.")
    p.add_argument("--epochs", type=int, required=True, help="Epochs of the final training.")
    p.add_argument("--batch-size", type=int, required=True, help="Examples per batch.")
    p.add_argument(
        "--tuning-max-trials",
        type=int,
        default=0,
        help="Trials of the Keras Tuner random search; 0: no search, the inputs' values.",
    )
    p.add_argument(
        "--tuning-epochs-per-trial", type=int, default=3, help="Epochs of each tuning trial."
    )
    p.add_argument("--model-name", type=str, default=None, help="Recorded in mlops_model.json.")
    p.add_argument("--model", required=True, help="Output path of the SavedModel.")
    p.add_argument(
        "--best-hyperparameters",
        required=True,
        help="Output path of the hyperparameters used (hyperparameters.json inside).",
    )
    p.add_argument("--metrics", required=True, help="Output path of the Metrics artifact.")
    p.add_argument("--tensorboard", required=True, help="Output path of the TensorBoard logs.")
    p.add_argument("--report", required=True, help="Output path of the HTML report.")
    p.add_argument(
        "--executor-output",
        default=None,
        help="KFP's executor output file ({{$.outputs.output_file}}), for the metadata.",
    )
    return p


def run(
    transformed_examples: str,
    transform_graph: str,
    model: str,
    best_hyperparameters: str,
    tensorboard: str,
    label_key: str,
    task: str,
    hidden_units: str = "64,32",
    learning_rate: float = 0.001,
    epochs: int = 8,
    batch_size: int = 128,
    tuning_max_trials: int = 0,
    tuning_epochs_per_trial: int = 3,
    model_name: str | None = None,
    model_module: str | None = None,
):
    """Checks the inputs, trains, writes the model, hyperparameters and TensorBoard outputs;
    returns a train.TrainResult (the Keras model, metrics, hyperparameters, labels).
    model_module None or blank: the default model."""
    # Every cheap check comes before TensorFlow loads the transform graph.
    check_label_key(label_key)
    check_task(task)
    hp = check_hyperparameters(hidden_units, learning_rate, epochs, batch_size)
    check_tuning(tuning_max_trials, tuning_epochs_per_trial)
    check_splits(transformed_examples)
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # TFT's layer is tf_keras (Keras 2)
    has_module = bool(model_module and model_module.strip())
    user = user_model.load(model_module) if has_module else None
    tft_output = load_transform_output(transform_graph)

    from train_model import train

    return train.run(
        transformed_examples,
        tft_output,
        label_key,
        task,
        hp,
        tuning_max_trials,
        tuning_epochs_per_trial,
        model_name,
        model,
        best_hyperparameters,
        tensorboard,
        user,
    )


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        result = run(
            args.transformed_examples,
            args.transform_graph,
            args.model,
            args.best_hyperparameters,
            args.tensorboard,
            label_key=args.label_key,
            task=args.task,
            hidden_units=args.hidden_units,
            learning_rate=args.learning_rate,
            epochs=args.epochs,
            batch_size=args.batch_size,
            tuning_max_trials=args.tuning_max_trials,
            tuning_epochs_per_trial=args.tuning_epochs_per_trial,
            model_name=args.model_name,
            model_module=args.model_module,
        )
    except InputError as e:
        print(f"train_model: {e}", file=sys.stderr)
        raise SystemExit(2) from e
    hp = {k: v for k, v in result.hyperparameters.items() if k != "tuning"}
    if "tuning" in result.hyperparameters:
        hp["best_trial_score"] = result.hyperparameters["tuning"]["best_score"]
    if args.executor_output:
        kfp_outputs.write_metrics(args.executor_output, "metrics", args.metrics, result.metrics)
        kfp_outputs.write_artifact_metadata(
            args.executor_output,
            {
                "tensorboard": (args.tensorboard, {"log_dir": args.tensorboard}),
                "best_hyperparameters": (args.best_hyperparameters, hp),
            },
        )
    else:
        Path(args.metrics).parent.mkdir(parents=True, exist_ok=True)
        Path(args.metrics).write_text(json.dumps(result.metrics, indent=2) + "\n")
    from train_model import report

    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(report.render(result, args.model_name))
    print(f"trained {json.dumps(result.metrics)} into {args.model}")


if __name__ == "__main__":
    run_then_exit(main)  # no interpreter teardown once the outputs are written
