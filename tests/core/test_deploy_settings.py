"""The deploy section of settings.yaml: the repository's environments, and bad values named."""

from pathlib import Path

import pytest
import yaml

from mlops.core.deploy_settings import kfp_cron, load_deploy_settings
from mlops.core.errors import BuildError
from mlops.core.paths import REPO
from mlops.deploy.chain import preflight


def test_the_repository_environments():
    local, dev, staging, prod = (
        load_deploy_settings(REPO, e) for e in ("local", "dev", "staging", "prod")
    )
    assert (local.target, local.bucket) == ("none", str(REPO / "dist" / "bucket"))
    assert dev.target == "kfp" and dev.bucket.startswith("gs://") and dev.run
    assert staging.cron == "0 3 * * *" and staging.kfp_experiment == "ct-staging"
    assert prod.target == "vertex" and prod.approval_required
    assert prod.vertex_pipeline_root.startswith("gs://")
    for env in (dev, prod):
        assert env.parameters("ct_pipeline") == {
            "previous_statistics_uri": f"gs://mlops-{env.env}-pipelines/statistics/none"
        }


def test_prod_refuses_without_approval():
    with pytest.raises(
        BuildError, match="'prod' needs a release approval: make deploy ENV=prod APPROVE=1"
    ):
        preflight(REPO, "prod", approve=False)
    assert preflight(REPO, "prod", approve=True).env == "prod"


def _settings(tmp_path, deploy: dict, env="dev") -> Path:
    (tmp_path / "settings.yaml").write_text(
        yaml.safe_dump({"environments": {env: {"deploy": deploy}}})
    )
    return tmp_path


@pytest.mark.parametrize(
    "deploy, problem",
    [
        ({"bucket": "gs://b", "target": "kfp"}, "deploy.kfp.host is missing"),
        (
            {"bucket": "gs://b", "target": "argo"},
            "deploy.target is 'argo'; use one of kfp, vertex, none",
        ),
        ({"target": "none"}, "deploy.bucket is missing"),
        (
            {"bucket": "gs://b", "schedule": {"cron": "every day"}},
            "deploy.schedule.cron 'every day': it has 2 fields, not 5",
        ),
        (
            {"bucket": "gs://b", "schedule": {"cron": "0 25 * * *"}},
            "deploy.schedule.cron '0 25 * * *': hour '25': 25 is outside 0-23",
        ),
        (
            {
                "bucket": "gs://b",
                "target": "kfp",
                "kfp": {"host": "http://h"},
                "schedule": {"cron": "TZ=Europe/Paris 0 3 * * *"},
            },
            "a time zone prefix is not taken here",
        ),
        (
            {"bucket": "gs://b", "run": {"timeout_s": 0}},
            "deploy.run.timeout_s must be a positive number",
        ),
        ({"bucket": "gs://b", "retries": "many"}, "deploy.retries must be a positive number"),
        (
            {
                "bucket": "gs://b",
                "target": "vertex",
                "vertex": {"project": "p", "pipeline_root": "/tmp"},
            },
            "deploy.vertex.pipeline_root '/tmp' must be a gs:// folder",
        ),
    ],
)
def test_bad_values_name_the_file_environment_and_field(tmp_path, deploy, problem):
    root = _settings(tmp_path, deploy)
    with pytest.raises(BuildError) as e:
        load_deploy_settings(root, "dev")
    assert "settings.yaml (environment 'dev')" in str(e.value)
    assert problem in str(e.value)


def test_a_missing_deploy_section(tmp_path):
    (tmp_path / "settings.yaml").write_text("build: {}\n")
    with pytest.raises(BuildError, match="the deploy section is missing"):
        load_deploy_settings(tmp_path, "local")


def test_kfp_takes_six_field_cron():
    assert kfp_cron("0 3 * * *") == "0 0 3 * * *"
