"""The component's real image, run from its component.yaml through kfp.local's DockerRunner in
a small pipeline, as a pipeline step runs: the model, 150 raw eval examples and the baseline
(the registry's stable version as resolve_baseline copies it out: a model trained on shuffled
labels, so the candidate must beat it) come in through importers."""

# No `from __future__ import annotations`: kfp reads the pipeline's annotations as types.

import json
from pathlib import Path
from typing import NamedTuple

import pytest
from mlops_runtime.charts import human

COMPONENT = Path(__file__).resolve().parents[1]


@pytest.mark.docker
def test_runs_in_its_image_through_kfp_local(tmp_path, taxi, worse_model, helpers):
    from kfp import components, dsl, local

    from mlops.ci import spec_rewrite
    from mlops.local_runs.runner import docker_runner_adapted
    from mlops.testing.component_testing import build_image
    from mlops.testing.html_text import table_rows, text

    raw = helpers.write_examples(tmp_path / "raw", {"eval": taxi.eval_rows[:150]})
    stable = helpers.stable_copy(tmp_path / "baseline", worse_model, version=1)
    for path in (raw, stable):  # the container runs as uid 1000
        for p in [path, *path.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)

    spec_path = COMPONENT / "component.yaml"
    evaluate = components.load_component_from_text(
        spec_rewrite.with_image(spec_path.read_text(), build_image("evaluate_model"), spec_path)
    )

    class Outputs(NamedTuple):
        evaluation: dsl.Artifact
        blessing: dsl.Artifact
        blessed: str
        report: dsl.HTML
        metrics: dsl.Metrics

    @dsl.pipeline(name="evaluate-model-test")
    def pipeline(eval_config: str, beam_args: str) -> Outputs:
        model = dsl.importer(artifact_uri=str(taxi.model), artifact_class=dsl.Model)
        examples = dsl.importer(artifact_uri=str(raw), artifact_class=dsl.Dataset)
        baseline = dsl.importer(artifact_uri=str(stable), artifact_class=dsl.Model)
        task = evaluate(
            model=model.output,
            examples=examples.output,
            eval_config=eval_config,
            baseline_model=baseline.output,
            beam_args=beam_args,
        )
        return Outputs(
            evaluation=task.outputs["evaluation"],
            blessing=task.outputs["blessing"],
            blessed=task.outputs["blessed"],
            report=task.outputs["report"],
            metrics=task.outputs["metrics"],
        )

    root = tmp_path / "root"
    root.mkdir()
    root.chmod(0o1777)
    local.init(runner=local.DockerRunner(), pipeline_root=str(root))
    with docker_runner_adapted(mounts=[taxi.model, raw, stable]):
        run = pipeline(
            eval_config=json.dumps(helpers.EVAL_CONFIG), beam_args=helpers.TEST_BEAM_ARGS
        )

    # The candidate against a stable version trained on shuffled labels: it gains, and
    # every threshold passes, the change threshold with a positive change.
    assert run.outputs["blessed"] == "true"
    blessing_dir = Path(run.outputs["blessing"].uri)
    assert (blessing_dir / "BLESSED").is_file()
    blessing = json.loads((blessing_dir / "blessing.json").read_text())
    assert blessing["baseline_version"] == 1
    statuses = {(t["metric"], t["kind"]): t["status"] for t in blessing["thresholds"]}
    assert statuses == {
        ("AUC", "value"): "pass", ("BinaryAccuracy", "value"): "pass", ("AUC", "change"): "pass"
    }  # fmt: skip
    metrics = run.outputs["metrics"].metadata
    assert metrics["example_count"] == 150
    assert metrics["auc"] > 0.75 and metrics["baseline_auc"] < 0.7  # a guess is 0.5
    slices = json.loads((Path(run.outputs["evaluation"].uri) / "slice_metrics.json").read_text())
    overall = slices["slices"][0]
    assert (overall["candidate"]["auc"], overall["baseline"]["auc"]) == pytest.approx(
        (metrics["auc"], metrics["baseline_auc"])
    )
    assert overall["diff"]["auc"] == pytest.approx(metrics["auc"] - metrics["baseline_auc"])
    [change] = [t for t in blessing["thresholds"] if t["kind"] == "change"]
    assert change["diff"] == pytest.approx(overall["diff"]["auc"]) and change["diff"] > 0.1
    report = Path(run.outputs["report"].uri).read_text()
    assert text(report, "span", "verdict") == "BLESSED"
    assert [r for r in table_rows(report) if r[:2] == ["AUC", "change"]] == [[
        "AUC", "change", "candidate - baseline >= -0.01", "Overall",
        human(overall["candidate"]["auc"]), human(overall["baseline"]["auc"]),
        human(overall["diff"]["auc"], signed=True), "pass", "",
    ]]  # fmt: skip
    # The charts, drawn in the image (matplotlib from the base image)
    charts = helpers.svg_charts(report)
    assert helpers.marks(charts["ROC curve, overall slice"]) == 2  # candidate and baseline
    assert "Confusion matrix, overall slice (predicted: probability above 0.5)" in charts
