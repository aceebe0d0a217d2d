"""The component's real image, run from its component.yaml through kfp.local's DockerRunner in
a small pipeline, as a pipeline step runs: transform_data's outputs (made in-process from 300
taxi rows) come in through importers. The rows are relabelled so that the label is known to be
learnable: a big tipper is exactly a card payment with a fare, so a model that trains must
separate the eval rows (a model trained for too few steps does not: AUC about 0.6)."""

# No `from __future__ import annotations`: kfp reads the pipeline's annotations as types.

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

COMPONENT = Path(__file__).resolve().parents[1]


def card_tippers(row: dict) -> dict:
    """Half the fare as tips for a card payment with a fare, none otherwise."""
    paid = row["payment_type"] == "Credit Card" and row["fare"] != ""
    return {**row, "tips": str(round(float(row["fare"]) * 0.5, 2)) if paid else "0"}


def big_tipper(row: dict) -> int:
    return int(row["tips"] != "0")


@pytest.mark.docker
def test_runs_in_its_image_through_kfp_local(tmp_path, helpers):
    import tensorflow as tf
    from kfp import components, dsl, local

    from mlops.ci import spec_rewrite
    from mlops.local_runs.runner import docker_runner_adapted
    from mlops.testing.component_testing import build_image

    data = helpers.tmt.transform_taxi(tmp_path / "data", rows=300, relabel=card_tippers)
    labels = [big_tipper(r) for r in data.eval_rows]
    assert 0.2 < sum(labels) / len(labels) < 0.8  # both classes, in a fair share
    spec_path = COMPONENT / "component.yaml"
    train = components.load_component_from_text(
        spec_rewrite.with_image(spec_path.read_text(), build_image("train_model"), spec_path)
    )

    class Outputs(NamedTuple):
        model: dsl.Model
        best_hyperparameters: dsl.Artifact
        metrics: dsl.Metrics
        tensorboard: dsl.Artifact
        report: dsl.HTML

    @dsl.pipeline(name="train-model-test")
    def pipeline(hidden_units: str, epochs: int) -> Outputs:
        examples = dsl.importer(
            artifact_uri=str(data.transformed_examples), artifact_class=dsl.Dataset
        )
        graph = dsl.importer(artifact_uri=str(data.transform_graph), artifact_class=dsl.Artifact)
        task = train(
            transformed_examples=examples.output,
            transform_graph=graph.output,
            label_key="big_tipper",
            task="binary",
            hidden_units=hidden_units,
            learning_rate=0.03,
            epochs=epochs,
            batch_size=32,
            model_name="taxi_big_tipper",
        )
        return Outputs(
            model=task.outputs["model"],
            best_hyperparameters=task.outputs["best_hyperparameters"],
            metrics=task.outputs["metrics"],
            tensorboard=task.outputs["tensorboard"],
            report=task.outputs["report"],
        )

    root = tmp_path / "root"
    root.mkdir()
    root.chmod(0o1777)  # the container runs as uid 1000
    local.init(runner=local.DockerRunner(), pipeline_root=str(root))
    with docker_runner_adapted(mounts=[data.transformed_examples, data.transform_graph]):
        run = pipeline(hidden_units="16,8", epochs=5)

    metrics = run.outputs["metrics"].metadata
    assert metrics["train_examples"] == 200 and metrics["eval_examples"] == 100
    assert metrics["epochs_run"] == 5
    # Measured in-process on these rows: eval AUC 1.0 and accuracy 1.0 (0.58 and 0.73 after
    # two epochs at a tenth of the learning rate).
    assert metrics["eval_auc"] > 0.95 and metrics["eval_binary_accuracy"] > 0.9
    assert run.outputs["tensorboard"].metadata["log_dir"]
    assert run.outputs["best_hyperparameters"].metadata["hidden_units"] == "16,8"
    model_dir = Path(run.outputs["model"].uri)
    sidecar = json.loads((model_dir / "mlops_model.json").read_text())
    assert sidecar["model_name_hint"] == "taxi_big_tipper"
    assert (sidecar["task"], sidecar["classes"]) == ("binary", ["0", "1"])
    hp = json.loads(
        (Path(run.outputs["best_hyperparameters"].uri) / "hyperparameters.json").read_text()
    )
    assert hp["hidden_units"] == "16,8" and hp["epochs"] == 5
    history = json.loads((model_dir / "history.json").read_text())
    assert history["epochs"] == 5 and len(history["eval"]["auc"]) == 5
    # The report, its charts drawn in the image (matplotlib from the base image)
    report = Path(run.outputs["report"].uri).read_text()
    assert report.count("<svg ") == 3 and "<title>auc per epoch</title>" in report

    # The model the container wrote serves raw tf.Examples on the host.
    saved = tf.saved_model.load(str(model_dir))
    assert {"serving_default", "serving_raw", "transform_features"} <= set(saved.signatures)
    types = helpers.tmt.feature_types(data.schema_text)
    serving = [{k: v for k, v in r.items() if k != "tips"} for r in data.eval_rows]
    serialized = [helpers.tmt.to_example(r, types) for r in serving]
    scores = saved.signatures["serving_default"](examples=tf.constant(serialized))["outputs"]
    assert scores.shape == (len(labels), 1)
    # Probabilities; a separable problem saturates some to exactly 0 or 1 in float32.
    assert np.all((scores.numpy() >= 0) & (scores.numpy() <= 1))
    # Row by row: the class each eval row gets is its own label (a shuffled order fails).
    predicted = (scores.numpy()[:, 0] > 0.5).astype(int).tolist()
    agree = sum(p == y for p, y in zip(predicted, labels, strict=True)) / len(labels)
    assert agree > 0.9
