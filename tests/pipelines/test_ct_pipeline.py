"""The CT pipeline as compiled: composed from the shared components, gates inside the
components (no condition kfp.local would refuse or skip), the baseline an input artifact of the
evaluation, caching off for the steps that touch the registry, parameters from settings.yaml."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from mlops.ci.compile import compile_all
from mlops.core import pipeline_parameters
from mlops.core.errors import BuildError
from mlops.core.paths import REPO
from mlops.core.pipeline_package import read_package


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("project")
    for folder in ("components", "pipelines"):
        shutil.copytree(
            REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__", "tests")
        )
    for name in ("settings.yaml", "requirements.lock"):
        shutil.copy(REPO / name, root / name)
    compile_all(root)
    return {"root": root, **{p: root / "dist" / p / "workflow.tar.gz" for p in PIPELINES}}


PIPELINES = ("ct_pipeline", "validate_pipeline")


def _ir(package: Path) -> dict:
    return yaml.safe_load(read_package(package))


def _tasks(ir: dict) -> dict:
    return ir["root"]["dag"]["tasks"]


def test_the_ct_pipeline_chains_the_seven_steps_with_gates_inside_components(compiled):
    ir = _ir(compiled["ct_pipeline"])
    tasks = _tasks(ir)
    assert set(tasks) == {
        "extract-data", "validate-data", "transform-data", "train-model", "resolve-baseline",
        "evaluate-model", "deploy-model", "importer",
    }  # fmt: skip
    # No condition anywhere: kfp.local 2.13 refuses dsl.If, and later versions skip it.
    assert "triggerPolicy" not in json.dumps(ir)
    validate = tasks["validate-data"]["inputs"]["parameters"]
    assert validate["fail_on_anomalies"]["runtimeValue"]["constant"] is True  # the data gate
    # Validation and transformation run side by side; training waits for the data gate.
    assert tasks["transform-data"]["dependentTasks"] == ["extract-data"]
    assert "validate-data" in tasks["train-model"]["dependentTasks"]
    deploy = tasks["deploy-model"]["inputs"]["artifacts"]
    assert deploy["blessing"]["taskOutputArtifact"] == {
        "outputArtifactKey": "blessing",
        "producerTask": "evaluate-model",
    }  # the model gate
    assert deploy["model"]["taskOutputArtifact"]["producerTask"] == "train-model"


def test_the_validate_only_pipeline_reuses_the_same_components(compiled):
    ct, validate = _ir(compiled["ct_pipeline"]), _ir(compiled["validate_pipeline"])
    for name in ("comp-extract-data", "comp-validate-data"):
        assert validate["components"][name] == ct["components"][name]
    executors = validate["deploymentSpec"]["executors"].values()
    images = {e["container"]["image"] for e in executors if "container" in e}  # not the importer
    assert len(images) == 2 and "train-model" not in _tasks(validate)


def test_parameters_come_from_settings(compiled):
    root = compiled["root"]
    args = pipeline_parameters.for_pipeline(
        root, "ct_pipeline", compiled["ct_pipeline"], extra={"previous_statistics_uri": "/x"}
    )
    assert args["source"] == str(root / "data" / "chicago_taxi" / "data.csv")
    assert args["schema"] == (REPO / "pipelines" / "usecases" / "taxi" / "schema.pbtxt").read_text()
    assert "def preprocessing_fn" in args["transform_module"]
    assert json.loads(args["eval_config"])["thresholds"]["AUC"] == {"lower": 0.75}
    assert args["registry"] == str(root / ".local" / "model_registry")
    assert args["model_name"] == "taxi_big_tipper" and args["drift_numeric_jsd"] == 0.15
    assert args["previous_statistics_uri"] == "/x"
    # The validate-only pipeline gets only what it declares.
    small = pipeline_parameters.for_pipeline(
        root, "validate_pipeline", compiled["validate_pipeline"], data="gs://b/new.csv",
        extra={"previous_statistics_uri": "/x"},
    )  # fmt: skip
    assert small["source"] == "gs://b/new.csv" and "eval_config" not in small


def test_settings_overrides_and_missing_values_are_named(compiled):
    root = compiled["root"]
    settings = yaml.safe_load((root / "settings.yaml").read_text())
    settings["pipelines"]["ct_pipeline"] = {"parameters": {"epochs": 2, "epoch": 3}}
    (root / "settings.yaml").write_text(yaml.safe_dump(settings))
    try:
        with pytest.raises(BuildError, match=r"pipelines.ct_pipeline.parameters has \['epoch'\]"):
            pipeline_parameters.for_pipeline(root, "ct_pipeline", compiled["ct_pipeline"])
        settings["pipelines"]["ct_pipeline"] = {"parameters": {"epochs": 2}}
        (root / "settings.yaml").write_text(yaml.safe_dump(settings))
        with pytest.raises(BuildError, match=r"no value for the parameters \['previous_stat"):
            pipeline_parameters.for_pipeline(root, "ct_pipeline", compiled["ct_pipeline"])
        args = pipeline_parameters.for_pipeline(
            root, "ct_pipeline", compiled["ct_pipeline"], extra={"previous_statistics_uri": "/"}
        )
        assert args["epochs"] == 2
    finally:
        shutil.copy(REPO / "settings.yaml", root / "settings.yaml")


def test_the_baseline_is_an_input_and_registry_steps_are_not_cached(compiled):
    tasks = _tasks(_ir(compiled["ct_pipeline"]))
    evaluate = tasks["evaluate-model"]["inputs"]
    # evaluate_model reads no registry: the serving model comes in as an artifact, so its
    # cache key (the artifact's content) changes when the serving model does.
    assert evaluate["artifacts"]["baseline_model"]["taskOutputArtifact"] == {
        "outputArtifactKey": "baseline",
        "producerTask": "resolve-baseline",
    }
    assert not {"registry", "model_name"} & set(evaluate.get("parameters", {}))
    resolve = tasks["resolve-baseline"]["inputs"]["parameters"]
    assert resolve["registry"] == {"componentInputParameter": "registry"}
    assert resolve["model_name"] == {"componentInputParameter": "model_name"}
    # Reading and writing the registry (state that is no input) opts out of caching; every
    # other step keeps kfp's default (enableCache false is left out of the IR's JSON).
    cached = {name for name, t in tasks.items() if t["cachingOptions"].get("enableCache")}
    assert cached == set(tasks) - {"resolve-baseline", "deploy-model"}
    assert tasks["resolve-baseline"]["cachingOptions"] == {}
    assert tasks["deploy-model"]["cachingOptions"] == {}
