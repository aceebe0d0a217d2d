"""The component's real image, run from its component.yaml through kfp.local's DockerRunner in
a small pipeline, as a pipeline step runs: transform_data's outputs (made in-process from 300
taxi rows) come in through importers."""

# No `from __future__ import annotations`: kfp reads the pipeline's annotations as types.

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

COMPONENT = Path(__file__).resolve().parents[1]


@pytest.mark.docker
def test_runs_in_its_image_through_kfp_local(tmp_path, helpers):
    import tensorflow as tf
    from kfp import components, dsl, local

    from mlops.ci import spec_rewrite
    from mlops.local_runs.runner import docker_runner_adapted
    from mlops.testing.component_testing import build_image

    data = helpers.tmt.transform_taxi(tmp_path / "data", rows=300)
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
            learning_rate=0.003,
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
        run = pipeline(hidden_units="16,8", epochs=2)

    metrics = run.outputs["metrics"].metadata
    assert metrics["train_examples"] == 200 and metrics["eval_examples"] == 100
    assert metrics["epochs_run"] == 2 and 0 < metrics["eval_auc"] <= 1
    assert run.outputs["tensorboard"].metadata["log_dir"]
    assert run.outputs["best_hyperparameters"].metadata["hidden_units"] == "16,8"
    model_dir = Path(run.outputs["model"].uri)
    sidecar = json.loads((model_dir / "mlops_model.json").read_text())
    assert sidecar["model_name_hint"] == "taxi_big_tipper"
    assert (sidecar["task"], sidecar["classes"]) == ("binary", ["0", "1"])
    hp = json.loads(
        (Path(run.outputs["best_hyperparameters"].uri) / "hyperparameters.json").read_text()
    )
    assert hp["hidden_units"] == "16,8" and hp["epochs"] == 2
    history = json.loads((model_dir / "history.json").read_text())
    assert history["epochs"] == 2 and len(history["eval"]["auc"]) == 2
    # The report, its charts drawn in the image (matplotlib from the base image)
    report = Path(run.outputs["report"].uri).read_text()
    assert report.count("<svg ") == 3 and "<title>auc per epoch</title>" in report

    # The model the container wrote serves raw tf.Examples on the host.
    saved = tf.saved_model.load(str(model_dir))
    assert {"serving_default", "serving_raw", "transform_features"} <= set(saved.signatures)
    types = helpers.tmt.feature_types(data.schema_text)
    serialized = [helpers.tmt.to_example(r, types) for r in data.eval_rows[:20]]
    scores = saved.signatures["serving_default"](examples=tf.constant(serialized))["outputs"]
    assert scores.shape == (20, 1)
    assert np.all((scores.numpy() > 0) & (scores.numpy() < 1))
