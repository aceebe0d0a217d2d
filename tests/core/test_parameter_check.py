"""Run parameters against the compiled pipeline's declared inputs (mlops.core.parameter_check),
as the KFP API server checks them (kubeflow/pipelines 2.5.0, v2_template.go), and their
settings keys named (mlops.core.pipeline_parameters) with the real compiled CT pipeline."""

import shutil

import pytest
import yaml

from mlops.core import pipeline_parameters
from mlops.core.parameter_check import (
    ParameterError,
    RunParameters,
    check,
    check_package,
    declared,
    spec_of,
)


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> dict:
    """A pipeline declaring every parameter type, required and defaulted ones."""
    from kfp import compiler, dsl

    @dsl.container_component
    def echo(text: str):
        return dsl.ContainerSpec(image="alpine", command=["echo"], args=[text])

    @dsl.pipeline(name="typed")
    def typed(
        name: str,
        epochs: int,
        rate: float = 0.1,
        flag: bool = False,
        items: list = [],  # noqa: B006 (a compiled default, never mutated)
        options: dict = {},  # noqa: B006
        note: str = "",
    ):
        echo(text=name)

    path = tmp_path_factory.mktemp("typed") / "pipeline.yaml"
    compiler.Compiler().compile(typed, str(path))
    return spec_of(path.read_text())


def test_the_declared_types_are_read_from_the_ir(spec):
    inputs = declared(spec)
    assert {n: (p.type, p.required) for n, p in inputs.items()} == {
        "name": ("STRING", True),
        "epochs": ("NUMBER_INTEGER", True),
        "rate": ("NUMBER_DOUBLE", False),
        "flag": ("BOOLEAN", False),
        "items": ("LIST", False),
        "options": ("STRUCT", False),
        "note": ("STRING", False),
    }


def test_values_of_the_declared_types_pass_unchanged(spec):
    given = {"name": "a", "epochs": 8, "rate": 0.5, "flag": True, "items": [1], "options": {}}
    assert check(spec, given) == given


def test_lossless_conversions_give_the_exact_types_kfp_local_wants(spec):
    checked = check(
        spec,
        {"name": "a", "epochs": 8.0, "rate": 2, "items": '["x", 1]', "options": '{"k": 1}'},
    )
    assert checked == {
        "name": "a",
        "epochs": 8,
        "rate": 2.0,
        "items": ["x", 1],
        "options": {"k": 1},
    }
    assert type(checked["epochs"]) is int and type(checked["rate"]) is float
    assert check(spec, {"name": "a", "epochs": 1, "items": ("x",)})["items"] == ["x"]
    # None for an optional parameter leaves it to its default (the server refuses a null).
    assert check(spec, {"name": "a", "epochs": 1, "note": None}) == {"name": "a", "epochs": 1}


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("epochs", "eight", "an integer"),
        ("epochs", 8.5, "an integer"),  # the step's own parser would fail on it
        ("epochs", True, "an integer"),  # a JSON bool is no number
        ("rate", "0.1", "a number"),
        ("rate", float("nan"), "a number"),
        ("name", 5, "a string"),
        ("name", None, "a string"),  # required: no default to fall back on
        ("flag", "true", "a boolean"),
        ("flag", 1, "a boolean"),
        ("items", '{"k": 1}', "a list"),
        ("items", "not json", "a list"),
        ("options", "[1]", "a mapping"),
        ("options", ["k"], "a mapping"),
    ],
)
def test_a_value_of_another_type_is_named_with_the_type_expected(spec, name, value, expected):
    given = {"name": "a", "epochs": 1, name: value}
    with pytest.raises(ParameterError) as raised:
        check(spec, given)
    assert f"{name} is {value!r}; the pipeline's parameter {name} is {expected}" in str(
        raised.value
    )


def test_missing_required_and_undeclared_names_are_refused_together(spec):
    with pytest.raises(ParameterError) as raised:
        check(spec, {"epochs": "x", "epoch": 3})
    message = str(raised.value)
    assert "typed has no parameter epoch (it takes: epochs, flag, items," in message
    assert "epochs is 'x'; the pipeline's parameter epochs is an integer" in message
    assert "typed: no value for the parameters ['name']" in message


def test_the_origin_of_a_value_names_it(spec):
    given = RunParameters({"name": "a", "epochs": "eight"}, {"epochs": "settings.yaml: x.epochs"})
    with pytest.raises(ParameterError, match=r"^settings.yaml: x.epochs is 'eight'; the pipe"):
        check(spec, given)
    given = RunParameters({"name": "a", "epochs": 1, "e": 2}, {"e": "settings.yaml: x.e"})
    with pytest.raises(ParameterError, match=r"^settings.yaml: x.e: typed has no parameter e "):
        check(spec, given)


# --- the real CT pipeline, its parameters from settings.yaml --------------------------------


@pytest.fixture
def project(compiled, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(compiled, root)
    return root


def edit(path, change):
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def ct_parameters(root, env="local", **kwargs):
    package = root / "dist" / "ct_pipeline" / "workflow.tar.gz"
    extra = {"previous_statistics_uri": "/stats"}
    return pipeline_parameters.for_pipeline(
        root, "ct_pipeline", package, env, extra=extra, **kwargs
    )


def test_the_ct_pipelines_parameters_pass_as_settings_give_them(project):
    def one_worker(usecase):  # a use case's own Beam workers in one environment
        usecase["environments"] = {
            "local": {"pipelines": {"ct_pipeline": {"parameters": {"beam_args": "[]"}}}}
        }

    edit(project / "pipelines" / "usecases" / "taxi" / "settings.yaml", one_worker)
    assert "beam_args" not in ct_parameters(project, env="dev")  # dev: chosen by the steps
    args = ct_parameters(project)
    package = project / "dist" / "ct_pipeline" / "workflow.tar.gz"
    assert check_package(package, args) == args
    assert args.origins["epochs"] == "settings.yaml (environment local, use case taxi): " + (
        "model.train.epochs"
    )
    # the use case's overlay sets the model's name, and for one environment the Beam arguments
    assert args.origins["model_name"] == (
        "pipelines/usecases/taxi/settings.yaml (environment local, use case taxi): model.name"
    )
    assert args["beam_args"] == "[]"
    assert args.origins["beam_args"] == (
        "pipelines/usecases/taxi/settings.yaml (environment local, use case taxi): "
        "environments.local.pipelines.ct_pipeline.parameters.beam_args"
    )
    assert (
        args.origins["previous_statistics_uri"] == "previous_statistics_uri (supplied by the run)"
    )


def test_an_override_of_the_wrong_type_names_its_settings_key(project):
    def eight(settings):
        settings["environments"]["dev"]["pipelines"]["ct_pipeline"]["parameters"]["epochs"] = (
            "eight"
        )

    edit(project / "settings.yaml", eight)
    with pytest.raises(ParameterError) as raised:
        ct_parameters(project, "dev")
    assert str(raised.value) == (
        "settings.yaml (environment dev, use case taxi): "
        "environments.dev.pipelines.ct_pipeline.parameters.epochs is 'eight'; "
        "the pipeline's parameter epochs is an integer"
    )
    ct_parameters(project, "local")  # another environment is untouched


def test_a_whole_number_override_for_a_double_is_converted(project):
    def overrides(settings):
        settings["pipelines"] = {"ct_pipeline": {"parameters": {"learning_rate": 1, "epochs": 2.0}}}

    edit(project / "settings.yaml", overrides)
    args = ct_parameters(project)
    assert (args["learning_rate"], args["epochs"]) == (1.0, 2)
    assert type(args["learning_rate"]) is float and type(args["epochs"]) is int


def test_a_bad_model_setting_is_named_before_the_parameters(project):
    edit(
        project / "pipelines/usecases/taxi/settings.yaml",
        lambda s: s["model"].setdefault("train", {}).update(epochs="eight"),
    )
    with pytest.raises(Exception) as raised:
        ct_parameters(project)
    assert "model.train.epochs is 'eight'; expected an integer" in str(raised.value)


def test_the_evaluator_is_a_parameter_each_use_case_or_environment_may_set(project):
    from mlops.core.pipeline_package import ir_documents, read_package

    package = project / "dist" / "ct_pipeline" / "workflow.tar.gz"
    pipeline = ir_documents(read_package(package))[0]
    evaluate = pipeline["root"]["dag"]["tasks"]["evaluate-model"]["inputs"]["parameters"]
    assert evaluate["evaluator"] == {"componentInputParameter": "evaluator"}
    default = pipeline["root"]["inputDefinitions"]["parameters"]["evaluator"]["defaultValue"]
    assert default == "batched"
    assert "evaluator" not in ct_parameters(project)  # the pipeline's default applies

    def tfma(usecase):
        usecase["environments"] = {
            "local": {"pipelines": {"ct_pipeline": {"parameters": {"evaluator": "tfma"}}}}
        }

    edit(project / "pipelines" / "usecases" / "taxi" / "settings.yaml", tfma)
    args = ct_parameters(project)
    assert args["evaluator"] == "tfma"
    assert check_package(package, args) == args
    assert "evaluator" not in ct_parameters(project, env="dev")
