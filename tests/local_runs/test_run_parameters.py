"""A local run checks its parameters against the compiled pipeline before anything starts (no
container, no run folder, no lineage record): `make run` of the CT pipeline (mlops.ct.ct_run),
of any other pipeline (run_compiled) and run_package itself."""

import shutil

import pytest
import yaml

from mlops.core.parameter_check import ParameterError


@pytest.fixture
def project(compiled, tmp_path, monkeypatch):
    """The compiled project, with kfp.local made to fail the test if a run starts."""
    import kfp.local

    def started(*args, **kwargs):
        raise AssertionError("a run started")

    monkeypatch.setattr(kfp.local, "init", started)
    root = tmp_path / "project"
    shutil.copytree(compiled, root)
    return root


def override(root, pipeline, **parameters):
    settings = yaml.safe_load((root / "settings.yaml").read_text())
    local = settings["environments"]["local"]
    pipelines = local.setdefault("pipelines", {})
    pipelines.setdefault(pipeline, {}).setdefault("parameters", {}).update(parameters)
    (root / "settings.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))


def test_make_run_names_a_wrong_type_before_anything_runs(project):
    from mlops.ct import ct_run

    override(project, "ct_pipeline", epochs="eight")
    with pytest.raises(ParameterError) as raised:
        ct_run.run(project, "local", serve=False)
    assert str(raised.value) == (
        "settings.yaml (environment local, use case taxi): "
        "environments.local.pipelines.ct_pipeline.parameters.epochs is 'eight'; "
        "the pipeline's parameter epochs is an integer"
    )
    assert not (project / "dist" / "local_runs").exists()
    assert not (project / ".local" / "lineage.sqlite").exists()


def test_run_compiled_checks_the_validate_pipelines_parameters(project):
    from mlops.local_runs.runner import run_compiled

    override(project, "validate_pipeline", drift_numeric_jsd="high")
    with pytest.raises(
        ParameterError, match=r"parameters.drift_numeric_jsd is 'high'; .* a number"
    ):
        run_compiled(project, "validate_pipeline")
    assert not (project / "dist" / "local_runs").exists()


def test_run_package_refuses_missing_undeclared_and_mistyped_arguments(project, tmp_path):
    from mlops.local_runs.runner import run_package

    package = project / "dist" / "validate_pipeline" / "workflow.tar.gz"
    with pytest.raises(ParameterError) as raised:
        run_package(package, tmp_path / "runs", {"source": 3, "sauce": "x"}, tmp_path / "db")
    message = str(raised.value)
    assert "source is 3; the pipeline's parameter source is a string" in message
    assert "validate-new-data has no parameter sauce (it takes: " in message
    assert "no value for the parameters ['previous_statistics_uri', 'schema']" in message
    assert not (tmp_path / "runs").exists() and not (tmp_path / "db").exists()
