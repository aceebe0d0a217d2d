"""The component through main() as KFP runs it: a Keras Tuner search of two trials (its
outputs and their KFP metadata), and the inputs it refuses, with exit code 2 and a message
naming the input, before any training starts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from train_model import main as component

from pipelines.usecases.taxi import transform as taxi


def _argv(data, out: Path, **overrides) -> list[str]:
    args = {
        "transformed-examples": str(data.transformed_examples),
        "transform-graph": str(data.transform_graph),
        "label-key": taxi.LABEL_KEY,
        "task": "binary",
        "hidden-units": "16",
        "learning-rate": "0.003",
        "epochs": "1",
        "batch-size": "64",
        "model": str(out / "model"),
        "best-hyperparameters": str(out / "best_hyperparameters"),
        "metrics": str(out / "metrics"),
        "tensorboard": str(out / "tensorboard"),
        "report": str(out / "report.html"),
    }
    args.update(overrides)
    return [part for k, v in args.items() for part in (f"--{k}", v)]


def test_a_search_of_two_trials_records_their_scores_and_uses_the_best(tmp_path, taxi_data):
    out = tmp_path / "out"
    executor_output = out / "executor_output.json"
    component.main(
        _argv(
            taxi_data,
            out,
            **{
                "tuning-max-trials": "2",
                "tuning-epochs-per-trial": "1",
                "executor-output": str(executor_output),
            },
        )
    )
    hp = json.loads((out / "best_hyperparameters" / "hyperparameters.json").read_text())
    tuning = hp["tuning"]
    assert hp["source"] == "tuner"
    assert (tuning["objective"], tuning["direction"]) == ("val_auc", "max")
    assert (tuning["max_trials"], tuning["epochs_per_trial"]) == (2, 1)
    trials = tuning["trials"]
    assert len(trials) == 2
    assert all(t["status"] == "COMPLETED" and 0 < t["score"] <= 1 for t in trials), trials
    best = max(trials, key=lambda t: t["score"])
    assert tuning["best_trial_id"] == best["trial_id"]
    assert tuning["best_score"] == best["score"]
    # The final model is trained with the best trial's values, for `epochs`.
    assert hp["hidden_units"] == best["hyperparameters"]["hidden_units"]
    assert hp["learning_rate"] == best["hyperparameters"]["learning_rate"]
    assert hp["epochs"] == 1
    # The first trial tries the inputs' values (the search space's defaults).
    assert trials[0]["hyperparameters"] == {"hidden_units": "16", "learning_rate": 0.003}
    sidecar = json.loads((out / "model" / "mlops_model.json").read_text())
    assert sidecar["hyperparameters"]["hidden_units"] == hp["hidden_units"]
    assert sidecar["model_name_hint"] is None  # model_name not given

    metrics = json.loads((out / "metrics").read_text())
    assert metrics["tuning_trials"] == 2 and metrics["epochs_run"] == 1
    artifacts = json.loads(executor_output.read_text())["artifacts"]
    assert artifacts["metrics"]["artifacts"][0]["metadata"] == metrics
    tensorboard = artifacts["tensorboard"]["artifacts"][0]["metadata"]
    assert tensorboard == {"log_dir": str(out / "tensorboard")}
    assert list((out / "tensorboard" / "train").glob("events.out.tfevents.*"))
    chosen = artifacts["best_hyperparameters"]["artifacts"][0]["metadata"]
    assert chosen["hidden_units"] == hp["hidden_units"]
    assert chosen["best_trial_score"] == best["score"]
    # The report: a chart per metric per epoch, and the search's trials, the best marked.
    report = (out / "report.html").read_text()
    assert report.count("<svg ") == 3  # loss, auc, binary accuracy
    assert report.count("<tr class=best>") == 1 and "val_auc (max)" in report
    assert f"<td>{best['trial_id']}</td>" in report


def _fails(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        component.main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_refuses_a_missing_split(tmp_path, taxi_data, capsys):
    partial = tmp_path / "partial"
    shutil.copytree(taxi_data.transformed_examples / "Split-train", partial / "Split-train")
    err = _fails(
        capsys, _argv(taxi_data, tmp_path / "out", **{"transformed-examples": str(partial)})
    )
    assert "transformed_examples" in err and "eval" in err and "Split-train" in err


@pytest.mark.parametrize(
    ("flag", "value", "named"),
    [
        ("hidden-units", "abc", "hidden_units: 'abc'"),
        ("hidden-units", "64,0", "hidden_units: '64,0'"),
        ("epochs", "0", "epochs: 0"),
        ("batch-size", "-1", "batch_size: -1"),
        ("learning-rate", "0", "learning_rate: 0.0"),
        ("tuning-max-trials", "-1", "tuning_max_trials: -1"),
    ],
)
def test_refuses_bad_hyperparameters(tmp_path, taxi_data, capsys, flag, value, named):
    err = _fails(capsys, _argv(taxi_data, tmp_path / "out", **{flag: value}))
    assert named in err
    assert not (tmp_path / "out" / "model").exists()  # refused before training


def test_refuses_a_missing_transform_graph(tmp_path, taxi_data, capsys):
    missing = tmp_path / "no_graph"
    err = _fails(capsys, _argv(taxi_data, tmp_path / "out", **{"transform-graph": str(missing)}))
    assert f"transform_graph: {missing} is not a folder" in err


def test_refuses_a_transform_graph_without_the_raw_schema(tmp_path, taxi_data, capsys):
    graph = tmp_path / "graph"
    shutil.copytree(taxi_data.transform_graph, graph)
    shutil.rmtree(graph / "metadata")
    err = _fails(capsys, _argv(taxi_data, tmp_path / "out", **{"transform-graph": str(graph)}))
    assert "transform_graph" in err and "metadata/" in err and "raw schema" in err


def test_refuses_a_label_key_that_is_not_a_transformed_feature(tmp_path, taxi_data, capsys):
    err = _fails(capsys, _argv(taxi_data, tmp_path / "out", **{"label-key": "tips"}))
    assert "label_key: 'tips' is not a transformed feature" in err
    assert taxi.LABEL_KEY in err  # the message lists what there is
