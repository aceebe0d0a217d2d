"""mlops.triggers.runs.start_run: the environment's deploy.target picks where a trigger's run
goes. `kfp`: the real kfp.Client against the KFP double (tests/doubles/kfp_double.py) runs the
version `make deploy` uploaded for this commit, with the settings' parameters. `none`: the
local runners (the validate-only pipeline runs for real in test_drift_trigger's Docker test;
here, how a failed CT run comes back)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from mlops.core.errors import BuildError
from mlops.core.parameter_check import ParameterError
from mlops.core.paths import REPO
from mlops.triggers import runs as trigger_runs
from mlops.triggers.runs import start_run

COMMIT = "ab" * 20


@pytest.fixture
def dev(compiled, kfp_api, monkeypatch, tmp_path):
    """The compiled project with environment dev on the double; ct_pipeline deployed."""
    from mlops.core.deploy_settings import load_deploy_settings
    from mlops.deploy.kfp_deploy import KfpDeployer

    root = tmp_path / "project"
    shutil.copytree(compiled, root)
    settings = yaml.safe_load((root / "settings.yaml").read_text())
    settings["environments"]["dev"]["deploy"]["kfp"]["host"] = kfp_api.host
    settings["environments"]["dev"]["deploy"]["retries"] = 2
    (root / "settings.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    monkeypatch.setenv("COMMIT_SHA", COMMIT)
    kfp = KfpDeployer(load_deploy_settings(root, "dev"))
    pipeline_id, _ = kfp.pipeline("ct_pipeline", "CT")
    kfp.version(pipeline_id, root / "dist" / "ct_pipeline" / "workflow.tar.gz", "0" * 40)
    version_id, _ = kfp.version(
        pipeline_id, root / "dist" / "ct_pipeline" / "workflow.tar.gz", COMMIT
    )
    return {"root": root, "pipeline_id": pipeline_id, "version_id": version_id}


def test_kfp_target_runs_this_commits_version_with_the_settings_parameters(dev, kfp_api):
    started = start_run(
        dev["root"],
        "ct_pipeline",
        "drift in fare",
        data="gs://mlops-dev-data/incoming/day1.csv",
        env="dev",
        previous_statistics="gs://mlops-dev-pipelines/checks/run-1/statistics",
    )
    assert started.target == "kfp" and started.pipeline == "ct_pipeline"
    assert started.status in ("PENDING", "RUNNING")
    [run] = kfp_api.runs.values()
    assert run["run_id"] == started.run_id
    reference = run["pipeline_version_reference"]
    assert reference == {
        "pipeline_id": dev["pipeline_id"],
        "pipeline_version_id": dev["version_id"],
    }
    experiment = kfp_api.experiments[run["experiment_id"]]
    assert experiment["display_name"] == "ct-dev"
    parameters = run["runtime_config"]["parameters"]
    assert parameters["source"] == "gs://mlops-dev-data/incoming/day1.csv"
    assert (
        parameters["previous_statistics_uri"] == "gs://mlops-dev-pipelines/checks/run-1/statistics"
    )
    assert parameters["registry"] == "gs://mlops-dev-models/registry"  # dev's serving registry
    assert parameters["schema"] == (REPO / "pipelines/usecases/taxi/schema.pbtxt").read_text()
    assert started.details["commit"] == COMMIT and started.details["job"].startswith("ct_pipeline")


def test_kfp_target_without_a_drift_reference_uses_the_environments(dev, kfp_api):
    start_run(dev["root"], "ct_pipeline", "degradation", env="dev")
    [run] = kfp_api.runs.values()
    parameters = run["runtime_config"]["parameters"]
    assert parameters["previous_statistics_uri"] == "gs://mlops-dev-pipelines/statistics/none"
    assert parameters["source"] == "gs://mlops-dev-data/chicago_taxi/*.csv"


def test_kfp_target_refuses_a_commit_that_was_not_deployed(dev, kfp_api, monkeypatch):
    monkeypatch.setenv("COMMIT_SHA", "cd" * 20)
    with pytest.raises(BuildError, match=r"has no version cdcd.*make deploy ENV=dev"):
        start_run(dev["root"], "ct_pipeline", "drift", env="dev")
    with pytest.raises(BuildError, match="'validate_pipeline' has no version"):
        start_run(
            dev["root"], "validate_pipeline", "check", env="dev", previous_statistics="gs://s"
        )
    assert kfp_api.runs == {}


def test_unknown_pipelines_and_targets_are_refused(dev, tmp_path):
    with pytest.raises(BuildError, match="unknown pipeline 'hello_pipeline'"):
        start_run(dev["root"], "hello_pipeline", "x")
    with pytest.raises(BuildError, match="deploy.target 'vertex' cannot start"):
        start_run(dev["root"], "ct_pipeline", "x", env="prod")


def test_local_ct_run_that_fails_returns_failed_with_its_lineage_run(compiled, monkeypatch):
    """ct_run raises after recording a failed run; the trigger gets FAILED and the run id
    (the run itself is ct_run's, tested end to end in test_ct_e2e)."""
    from mlops.ct import ct_run

    calls = {}

    def failing_run(root, env, data=None, previous_statistics=None, **kwargs):
        calls.update(env=env, data=data, previous_statistics=previous_statistics)
        result = ct_run.CtRun(root / "dist/x", "FAILED", 1.0, [], {}, str(previous_statistics))
        result.lineage_run, result.failed_task, result.reason = "run-1", "validate-data", "drift"
        error = BuildError("the run stopped at validate-data: drift")
        error.ct_run = result
        raise error

    monkeypatch.setattr(ct_run, "run", failing_run)
    data = compiled / "settings.yaml"  # any existing file: the data is only passed on
    started = trigger_runs.start_run(
        compiled, "ct_pipeline", "drift", data=str(data), previous_statistics="/stats"
    )
    assert (started.run_id, started.status, started.target) == ("run-1", "FAILED", "local")
    assert started.details["failed_task"] == "validate-data"
    assert calls == {"env": "local", "data": str(data), "previous_statistics": "/stats"}

    def refused(root, env, **kwargs):
        raise BuildError("dist/ct_pipeline/workflow.tar.gz: not found")  # nothing ran

    monkeypatch.setattr(ct_run, "run", refused)
    with pytest.raises(BuildError, match="not found"):
        trigger_runs.start_run(compiled, "ct_pipeline", "drift")


def test_kfp_trigger_run_with_a_wrong_type_is_refused_before_the_server(dev, kfp_api):
    settings = yaml.safe_load((dev["root"] / "settings.yaml").read_text())
    settings["environments"]["dev"]["pipelines"]["ct_pipeline"]["parameters"]["epochs"] = "eight"
    (dev["root"] / "settings.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    before = len(kfp_api.requests)
    with pytest.raises(ParameterError) as raised:
        start_run(dev["root"], "ct_pipeline", "drift", env="dev")
    assert str(raised.value) == (
        "settings.yaml (environment dev, use case taxi): "
        "environments.dev.pipelines.ct_pipeline.parameters.epochs is 'eight'; "
        "the pipeline's parameter epochs is an integer"
    )
    assert kfp_api.requests[before:] == [] and kfp_api.runs == {}


def test_local_trigger_run_with_a_wrong_type_is_refused_before_anything_runs(
    compiled, tmp_path, monkeypatch
):
    import kfp.local

    def started(*args, **kwargs):
        raise AssertionError("a run started")

    monkeypatch.setattr(kfp.local, "init", started)
    root = tmp_path / "project"
    shutil.copytree(compiled, root)
    overlay = root / "pipelines/usecases/taxi/settings.yaml"
    settings = yaml.safe_load(overlay.read_text())
    settings["pipelines"] = {"validate_pipeline": {"parameters": {"drift_numeric_jsd": "0.2"}}}
    overlay.write_text(yaml.safe_dump(settings, sort_keys=False))
    with pytest.raises(ParameterError) as raised:
        start_run(root, "validate_pipeline", "new data", previous_statistics=str(tmp_path))
    assert str(raised.value) == (
        "pipelines/usecases/taxi/settings.yaml (environment local, use case taxi): "
        "pipelines.validate_pipeline.parameters.drift_numeric_jsd is '0.2'; "
        "the pipeline's parameter drift_numeric_jsd is a number"
    )
    assert not (root / "dist" / "local_runs").exists()
