"""The deploy contract of every Kubeflow Pipelines environment in settings.yaml: this
repository's pipelines, as compiled, deployed with that environment's settings (bucket,
experiment, run, schedule, parameters) through `make deploy`'s code path, against the KFP
double playing each API server version it can (tests/doubles/kfp_double.py), which refuses
what the server refuses: parameters the pipeline does not declare or of another type, a cron
its parser does not take, a package its template parser does not take."""

import io
import shutil
import tarfile
import uuid

import pytest
import yaml
from kfp_double import SERVER_VERSIONS, KfpApiDouble, cron_error

from mlops.ci.build_state import BuildState
from mlops.core.deploy_settings import load_deploy_settings
from mlops.core.paths import REPO
from mlops.core.pipeline_package import IR_NAME, PACKAGE, images_of, read_package
from mlops.deploy import chain as deploy

COMMIT = "3c" * 20


def kfp_environments() -> list[str]:
    environments = yaml.safe_load((REPO / "settings.yaml").read_text())["environments"]
    return sorted(e for e in environments if load_deploy_settings(REPO, e).target == "kfp")


KFP_ENVIRONMENTS = kfp_environments()


def test_settings_yaml_has_kfp_environments():
    assert KFP_ENVIRONMENTS  # else the contract below would test nothing


def pin_images(package, registry: str) -> None:
    """The package as `make build ENV=...` leaves it: each image pushed to the environment's
    registry and pinned by this commit's tag and a digest (the rewrite itself is tested in
    tests/ci)."""
    ir = read_package(package)
    for image in images_of(yaml.safe_load(ir)):
        name = image.rsplit("/", 1)[-1].split(":")[0]
        digest = "sha256:" + name.encode().hex()[:64].ljust(64, "0")
        ir = ir.replace(image, f"{registry}/{name}:{COMMIT}@{digest}")
    data = ir.encode()
    with tarfile.open(package, "w:gz") as tar:
        member = tarfile.TarInfo(IR_NAME)
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))


def deployable(compiled, tmp_path, monkeypatch, env: str, host: str, bucket: str) -> tuple:
    """A copy of the compiled repository built for `env`, its settings as committed but for
    what points at test services: the KFP host, the bucket's name (unique per test, the
    emulator being shared) and the run's polling."""
    root = tmp_path / "repo"
    shutil.copytree(compiled, root)
    monkeypatch.setenv("COMMIT_SHA", COMMIT)
    settings = yaml.safe_load((root / "settings.yaml").read_text())
    section = settings["environments"][env]["deploy"]
    section.setdefault("kfp", {})["host"] = host
    run = section.setdefault("run", {})
    run.update(poll_s=0.02, timeout_s=30)
    if bucket:
        section["bucket"] = bucket
    (root / "settings.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    resolved = load_deploy_settings(root, env)
    registry = resolved.resolved["build"]["registry"]
    for package in sorted((root / "dist").glob(f"*/{PACKAGE}")):
        pin_images(package, registry)
    BuildState(commit=COMMIT, registry=registry, env=env, components={}).save(root)
    return root, resolved


@pytest.mark.parametrize("server_version", SERVER_VERSIONS)
@pytest.mark.parametrize("env", KFP_ENVIRONMENTS)
def test_the_environment_deploys_to_kfp(compiled, tmp_path, monkeypatch, gcs, env, server_version):
    committed = load_deploy_settings(REPO, env)
    bucket = ""
    if committed.bucket.startswith("gs://"):
        name = f"{committed.bucket.removeprefix('gs://')}-{uuid.uuid4().hex[:8]}"
        gcs.create_bucket(name)
        bucket = f"gs://{name}"
    with KfpApiDouble(pending_s=0.02, running_s=0.05, server_version=server_version) as kfp:
        root, settings = deployable(compiled, tmp_path, monkeypatch, env, kfp.host, bucket)
        records = deploy.deploy(root, env)

        pipelines = sorted(p.parent.name for p in (root / "dist").glob(f"*/{PACKAGE}"))
        assert [r.data["pipeline"] for r in records] == pipelines
        assert all(r.data["status"] == "deployed" for r in records)
        # The bucket, or folder, the environment names holds each package.
        for record in records:
            uri = record.data["stages"]["upload"]["package"]["uri"]
            if settings.bucket.startswith("gs://"):
                bucket_name, blob = uri.removeprefix("gs://").split("/", 1)
                assert bucket_name == bucket.removeprefix("gs://")
                assert gcs.bucket(bucket_name).get_blob(blob) is not None
            else:
                assert uri.startswith(settings.bucket) and (root / uri).is_file()
        [experiment] = [
            e for e in kfp.experiments.values() if e["display_name"] == committed.kfp_experiment
        ]
        assert sorted(p["display_name"] for p in kfp.pipelines.values()) == pipelines
        assert {v["display_name"] for v in kfp.versions.values()} == {COMMIT}
        assert len(kfp.versions) == len(pipelines)

        # Every run and recurring run the server accepted: their parameters passed the
        # server's check against the pipeline's declared inputs (the double refuses a missing,
        # undeclared or mistyped one). One of each per pipeline and use case, alike.
        names = set()
        for record in records:
            stages = record.data["stages"]
            usecases = sorted(k.split(" ", 1)[1] for k in stages if k.startswith("run "))
            usecases += sorted(k.split(" ", 1)[1] for k in stages if k.startswith("schedule "))
            names |= {deploy._named(record.data["pipeline"], u) for u in usecases or [None]}
        runs = {r["display_name"]: r for r in kfp.runs.values()}
        schedules = {r["display_name"]: r for r in kfp.recurring_runs.values()}
        if committed.run:
            assert set(runs) == {f"{name}-{COMMIT[:12]}" for name in names}
            for run in runs.values():
                assert run["state"] == "SUCCEEDED"
                assert run["experiment_id"] == experiment["experiment_id"]
        else:
            assert runs == {}
        if committed.cron:
            assert set(schedules) == {f"{name}-schedule" for name in names}
            for schedule in schedules.values():
                cron = schedule["trigger"]["cron_schedule"]["cron"]
                assert cron == f"0 {committed.cron}" and cron_error(cron) is None
                assert schedule["pipeline_version_reference"]["pipeline_version_id"] in kfp.versions
        else:
            assert schedules == {}
        if committed.run and committed.cron:
            for name in names:
                scheduled = schedules[f"{name}-schedule"]["runtime_config"]
                assert runs[f"{name}-{COMMIT[:12]}"]["runtime_config"] == scheduled
        # The environment's own values reached the cluster, e.g. its drift reference.
        reference = committed.parameters("ct_pipeline").get("previous_statistics_uri")
        ct_runs = [r for name, r in {**runs, **schedules}.items() if name.startswith("ct_")]
        assert ct_runs and reference
        for resource in ct_runs:
            assert resource["runtime_config"]["parameters"]["previous_statistics_uri"] == reference
