"""The component's real image, run from its component.yaml through kfp.local's DockerRunner in
a small pipeline, as a pipeline step runs: raw Examples come in through an importer."""


# No `from __future__ import annotations`: kfp reads the pipeline's annotations as types.

import json
from pathlib import Path
from typing import NamedTuple

import pytest
from mlops_runtime import examples

from pipelines.usecases.taxi import transform as taxi

COMPONENT = Path(__file__).resolve().parents[1]


@pytest.mark.docker
def test_runs_in_its_image_through_kfp_local(tmp_path, helpers, raw_schema_text):
    import tensorflow_transform as tft
    from kfp import components, dsl, local

    from mlops.ci import spec_rewrite
    from mlops.local_runs.runner import docker_runner_adapted
    from mlops.testing.component_testing import build_image

    rows = helpers.read_taxi_rows(150)
    raw = helpers.write_examples(
        tmp_path / "raw", {"train": rows[:100], "eval": rows[100:]}, raw_schema_text
    )
    spec_path = COMPONENT / "component.yaml"
    transform = components.load_component_from_text(
        spec_rewrite.with_image(spec_path.read_text(), build_image("transform_data"), spec_path)
    )

    class Outputs(NamedTuple):
        transformed_examples: dsl.Dataset
        transform_graph: dsl.Artifact
        metrics: dsl.Metrics

    @dsl.pipeline(name="transform-data-test")
    def pipeline(schema: str, module: str, beam_args: str) -> Outputs:
        imported = dsl.importer(artifact_uri=str(raw), artifact_class=dsl.Dataset)
        task = transform(
            examples=imported.output, schema=schema, module=module, beam_args=beam_args
        )
        return Outputs(
            transformed_examples=task.outputs["transformed_examples"],
            transform_graph=task.outputs["transform_graph"],
            metrics=task.outputs["metrics"],
        )

    root = tmp_path / "root"
    root.mkdir()
    root.chmod(0o1777)  # the container runs as uid 1000
    local.init(runner=local.DockerRunner(), pipeline_root=str(root))
    with docker_runner_adapted(mounts=[raw]):
        run = pipeline(
            schema=raw_schema_text,
            module=helpers.TAXI_MODULE.read_text(),  # the source, as a pipeline passes it
            # The worker pool of the production default, with one worker on this machine.
            beam_args=json.dumps(
                [
                    "--runner=DirectRunner",
                    "--direct_running_mode=multi_processing",
                    "--direct_num_workers=1",
                ]
            ),
        )

    assert run.outputs["metrics"].metadata == {"train_rows": 100, "eval_rows": 50}
    transformed = run.outputs["transformed_examples"].uri
    for split in examples.SPLITS:
        assert examples.files(transformed, split), split
    graph = tft.TFTransformOutput(run.outputs["transform_graph"].uri)
    assert set(graph.transformed_feature_spec()) == set(taxi.FEATURE_KEYS) | {taxi.LABEL_KEY}
    assert "tips" in graph.raw_feature_spec()
