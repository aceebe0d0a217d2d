"""The component's work without KFP: the blessing gate, deploy to stable then canary,
promote and rollback from the command line, a candidate identical to the stable or canary
version recorded as unchanged, its outputs, and exit code 2 on bad input."""

import json
import shutil
import uuid

import pytest
from deploy_model import main as dm
from deploy_model.digest import content_digest
from deploy_model.registry import Registry


def _blessing(tmp_path, verdict: str | None, name: str = "blessing"):
    folder = tmp_path / name
    folder.mkdir()
    if verdict:
        (folder / verdict).touch()
    (folder / "blessing.json").write_text(json.dumps({"metrics": {"auc": 0.81}}))
    return folder


def _deploy(tmp_path, registry_root, model, blessing, percent=20, out="out", extra=()):
    outputs = tmp_path / out
    argv = [
        "--mode",
        "deploy",
        "--registry",
        str(registry_root),
        "--model-name",
        "taxi",
        "--canary-percent",
        str(percent),
        "--target",
        "local",
        "--deployment",
        str(outputs / "deployment"),
        "--version",
        str(outputs / "version"),
        "--executor-output",
        str(outputs / "executor_output.json"),
        *(["--model", str(model)] if model else []),
        *(["--blessing", str(blessing)] if blessing else []),
        *extra,
    ]
    dm.main(argv)
    record = json.loads((outputs / "deployment" / "deployment.json").read_text())
    version = (outputs / "version").read_text()
    metadata = json.loads((outputs / "executor_output.json").read_text())
    return record, version, metadata["artifacts"]["deployment"]["artifacts"][0]["metadata"]


def test_deploy_stable_then_canary_promote_rollback(tmp_path, model_dirs, registry_root):
    blessed = _blessing(tmp_path, "BLESSED")
    record, version, meta = _deploy(tmp_path, registry_root, model_dirs[1], blessed, out="a")
    assert (record["version"], record["stable"], record["canary"]) == (1, 1, None)
    assert version == "1" and record["skipped"] is False and record["reason"] == "stable"
    assert meta["stable"] == 1 and meta["skipped"] is False
    reg = Registry(str(registry_root), "taxi")
    assert reg.version_info(1)["metrics"] == {"auc": 0.81}  # from blessing.json

    record, version, meta = _deploy(tmp_path, registry_root, model_dirs[2], blessed, out="b")
    assert version == "2" and record["canary"] == {"version": 2, "traffic_percent": 20}
    assert (meta["canary_version"], meta["canary_percent"], meta["stable"]) == (2, 20, 1)

    # The host's command line: no outputs needed.
    dm.main(["--mode", "promote", "--registry", str(registry_root), "--model-name", "taxi"])
    assert (reg.status()["stable"], reg.status()["canary"]) == (2, None)
    dm.main(["--mode", "rollback", "--registry", str(registry_root), "--model-name", "taxi"])
    assert reg.status()["stable"] == 1


def test_ramp_and_expect_canary_from_the_command_line(tmp_path, model_dirs, registry_root, capsys):
    blessed = _blessing(tmp_path, "BLESSED")
    _deploy(tmp_path, registry_root, model_dirs[1], blessed, out="a")
    _deploy(tmp_path, registry_root, model_dirs[2], blessed, percent=10, out="b")
    base = ["--registry", str(registry_root), "--model-name", "taxi"]
    capsys.readouterr()
    dm.main(["--mode", "ramp", "--canary-percent", "50", "--expect-canary", "2", *base])
    record = json.loads(capsys.readouterr().out)
    assert record["mode"] == "ramp" and record["version"] == 2
    assert record["canary"] == {"version": 2, "traffic_percent": 50} and record["stable"] == 1
    reg = Registry(str(registry_root), "taxi")
    assert reg.status()["canary"] == {"version": 2, "traffic_percent": 50}
    for argv, message in [
        (["--mode", "ramp", "--canary-percent", "100", *base], "canary_percent: 100; a ramp"),
        (["--mode", "ramp", "--canary-percent", "0", *base], "canary_percent: 0; a ramp"),
        (
            ["--mode", "promote", "--expect-canary", "3", *base],
            "the canary is version 2, not version 3",
        ),
        (
            ["--mode", "rollback", "--expect-canary", "1", *base],
            "the canary is version 2, not version 1",
        ),
        (["--mode", "promote", "--expect-canary", "two", *base], "expect_canary: 'two'; expected"),
    ]:
        code, err = _exit_code(argv, capsys)
        assert code == 2 and message in err, (argv, err)
    assert reg.status()["canary"] == {"version": 2, "traffic_percent": 50}
    dm.main(["--mode", "rollback", "--expect-canary", "2", *base])
    assert (reg.status()["stable"], reg.status()["canary"]) == (1, None)


@pytest.mark.parametrize("verdict", ["NOT_BLESSED", None, "no input"])
def test_not_blessed_is_not_deployed(tmp_path, model_dirs, registry_root, verdict):
    reg = Registry(str(registry_root), "taxi")
    reg.deploy(reg.push(model_dirs[1]), 10)
    before = (registry_root / "taxi" / "serving.json").read_bytes()
    blessing = None if verdict == "no input" else _blessing(tmp_path, verdict)
    record, version, meta = _deploy(tmp_path, registry_root, model_dirs[2], blessing)
    assert record["skipped"] is True and record["reason"].startswith("skipped: not blessed")
    assert version == "" and meta["skipped"] is True and record["stable"] == 1
    assert reg.versions() == [1]  # nothing pushed
    assert (registry_root / "taxi" / "serving.json").read_bytes() == before


def test_a_candidate_identical_to_the_stable_version_is_unchanged(
    tmp_path, model_dirs, registry_root
):
    blessed = _blessing(tmp_path, "BLESSED")
    _deploy(tmp_path, registry_root, model_dirs[1], blessed, out="a")
    serving = registry_root / "taxi" / "serving.json"
    before = serving.read_bytes()
    # The same content at another path (a rerun's artifact), mlops_model.json included.
    again = shutil.copytree(model_dirs[1], tmp_path / "rerun" / "model")
    record, version, meta = _deploy(tmp_path, registry_root, again, blessed, out="b")
    assert record["unchanged"] is True and record["skipped"] is False
    assert (record["version"], record["role"], version) == (1, "stable", "1")
    assert record["content_digest"] == content_digest(model_dirs[1])
    assert record["reason"].startswith("unchanged: the candidate's content (sha256:")
    assert "is that of version 1, the stable version" in record["reason"]
    assert meta["unchanged"] is True and meta["version"] == 1
    assert sorted(p.name for p in (registry_root / "taxi").iterdir() if p.is_dir()) == ["1"]
    assert serving.read_bytes() == before


def test_a_candidate_identical_to_the_canary_is_unchanged(tmp_path, model_dirs, registry_root):
    blessed = _blessing(tmp_path, "BLESSED")
    _deploy(tmp_path, registry_root, model_dirs[1], blessed, out="a")
    _deploy(tmp_path, registry_root, model_dirs[2], blessed, out="b")
    before = (registry_root / "taxi" / "serving.json").read_bytes()
    record, version, _ = _deploy(tmp_path, registry_root, model_dirs[2], blessed, out="c")
    assert record["unchanged"] is True and (record["role"], version) == ("canary", "2")
    assert "is that of version 2, the canary version" in record["reason"]
    assert record["canary"] == {"version": 2, "traffic_percent": 20}
    assert Registry(str(registry_root), "taxi").versions() == [1, 2]
    assert (registry_root / "taxi" / "serving.json").read_bytes() == before


def test_a_different_candidate_is_pushed_with_its_content_digest(
    tmp_path, model_dirs, registry_root
):
    blessed = _blessing(tmp_path, "BLESSED")
    _deploy(tmp_path, registry_root, model_dirs[1], blessed, out="a")
    # One byte of difference in one file is another model.
    changed = shutil.copytree(model_dirs[1], tmp_path / "changed")
    sidecar = changed / "mlops_model.json"
    sidecar.write_text(sidecar.read_text() + " ")
    record, version, meta = _deploy(tmp_path, registry_root, changed, blessed, out="b")
    assert record["unchanged"] is False and meta["unchanged"] is False
    assert version == "2" and record["canary"]["version"] == 2
    reg = Registry(str(registry_root), "taxi")
    digests = [reg.version_info(v)["content_digest"] for v in (1, 2)]
    assert digests == [content_digest(model_dirs[1]), content_digest(changed)]
    assert digests[0] != digests[1] and record["content_digest"] == digests[1]
    # The version pushed has the candidate's digest: version.json is left out of it.
    assert content_digest(registry_root / "taxi" / "2") == digests[1]


def test_a_version_without_a_recorded_digest_is_compared_by_its_files(
    tmp_path, model_dirs, registry_root
):
    blessed = _blessing(tmp_path, "BLESSED")
    _deploy(tmp_path, registry_root, model_dirs[1], blessed, out="a")
    # As a version pushed before digests were recorded.
    info_path = registry_root / "taxi" / "1" / "version.json"
    info = json.loads(info_path.read_text())
    del info["content_digest"]
    info_path.write_text(json.dumps(info))
    record, version, _ = _deploy(tmp_path, registry_root, model_dirs[1], blessed, out="b")
    assert record["unchanged"] is True and version == "1"
    record, version, _ = _deploy(tmp_path, registry_root, model_dirs[2], blessed, out="c")
    assert record["unchanged"] is False and version == "2"


def _exit_code(argv, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        dm.main(argv)
    return e.value.code, capsys.readouterr().err


def test_bad_inputs_exit_2(tmp_path, model_dirs, registry_root, capsys):
    base = ["--registry", str(registry_root), "--model-name", "taxi"]
    blessed = ["--blessing", str(_blessing(tmp_path, "BLESSED"))]
    model = ["--model", str(model_dirs[1])]
    no_sidecar = tmp_path / "bare"
    no_sidecar.mkdir()
    (no_sidecar / "saved_model.pb").write_bytes(b"")
    cases = [
        (["--mode", "deploy", *base, *blessed], "model: required for --mode deploy"),
        (["--mode", "ship", *base], "invalid choice: 'ship'"),
        (["--canary-percent", "150", *base, *model, *blessed], "canary_percent: 150"),
        (["--canary-percent", "-1", *base, *model, *blessed], "canary_percent: -1"),
        (["--target", "vertex", *base, *model, *blessed], "registry must be gs://"),
        (["--target", "k8s", *base, *model, *blessed], "target: 'k8s'"),
        (["--mode", "promote", *base], "no canary to promote"),
        (["--mode", "rollback", *base], "nothing to roll back to"),
        ([*base, "--model", str(no_sidecar), *blessed], "has no mlops_model.json"),
        ([*base, "--model", str(tmp_path / "nope"), *blessed], "is not a folder"),
    ]
    for argv, message in cases:
        code, err = _exit_code(argv, capsys)
        assert code == 2, argv
        assert message in err, (argv, err)
    assert (
        not (registry_root / "taxi").exists()
        or Registry(str(registry_root), "taxi").versions() == []
    )


PROJECT, LOCATION = "proj-vx", "europe-west1"
IMAGE = "europe-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"


@pytest.fixture
def vertex_double(gcs, monkeypatch):
    """tests/doubles/vertex_double.py for this project and region only, reading uploaded
    model folders on the Cloud Storage emulator as the real API reads the artifact_uri."""
    from deploy_model import vertex
    from vertex_double import VertexDouble

    client, _ = gcs

    def artifact_check(uri: str) -> str | None:
        bucket, _, prefix = uri.removeprefix("gs://").partition("/")
        names = {b.name for b in client.list_blobs(bucket, prefix=prefix.rstrip("/") + "/")}
        if f"{prefix.rstrip('/')}/saved_model.pb" not in names:
            return "is expected to contain exactly one of: [saved_model.pb, saved_model.pbtxt]"
        return None

    monkeypatch.setattr(vertex, "BACKOFF_S", 0.01)
    with VertexDouble(project=PROJECT, location=LOCATION, artifact_check=artifact_check) as d:
        yield d
        assert d.unhandled == [], "the SDK called endpoints the double does not serve"


def _vertex_argv(double, registry: str, *mode: str) -> list[str]:
    return [
        *mode,
        "--registry", registry, "--model-name", "taxi", "--target", "vertex",
        "--vertex-project", PROJECT, "--vertex-location", LOCATION,
        "--vertex-endpoint", "taxi-endpoint", "--vertex-serving-image", IMAGE,
        "--vertex-api-endpoint", double.url,
    ]  # fmt: skip


def _traffic(double) -> dict[str, int]:
    """Model version id -> traffic percent on the double's endpoint."""
    (endpoint,) = double.endpoints_named("taxi-endpoint")
    split = endpoint["trafficSplit"]
    return {m["modelVersionId"]: split.get(m["id"], 0) for m in endpoint["deployedModels"]}


def test_vertex_target_from_the_command_line_through_the_real_vertex_module(
    tmp_path, model_dirs, gcs, vertex_double, capsys
):
    """main's real argv through deploy_model.vertex and the aiplatform SDK to the double: a
    field the real VertexTarget or the SDK rejects, or a value passed to the wrong field,
    fails here."""
    client, _ = gcs
    bucket = f"vx-{uuid.uuid4().hex[:8]}"  # the emulator lives for the whole session
    client.create_bucket(bucket)
    registry = f"gs://{bucket}/reg"
    blessing = str(_blessing(tmp_path, "BLESSED"))

    def deploy(n: int, out: str) -> dict:
        argv = _vertex_argv(vertex_double, registry, "--mode", "deploy")
        argv += ["--model", str(model_dirs[n]), "--blessing", blessing, "--canary-percent", "10"]
        argv += ["--deployment", str(tmp_path / out)]
        dm.main(argv)
        return json.loads((tmp_path / out / "deployment.json").read_text())

    first = deploy(1, "a")
    assert (first["version"], first["stable"], first["canary"]) == (1, 1, None)
    (v1,) = vertex_double.model_versions("taxi")
    assert v1["name"].startswith(f"projects/{PROJECT}/locations/{LOCATION}/models/")
    assert v1["artifactUri"] == f"{registry}/taxi/1" and v1["containerSpec"]["imageUri"] == IMAGE
    assert v1["labels"]["model_name"] == "taxi" and v1["labels"]["registry_version"] == "1"
    assert first["vertex"]["model"] == v1["name"] and first["vertex"]["version_id"] == "1"
    assert _traffic(vertex_double) == {"1": 100}

    second = deploy(2, "b")
    assert second["canary"] == {"version": 2, "traffic_percent": 10}
    assert _traffic(vertex_double) == {"1": 90, "2": 10}
    assert second["vertex"]["canary"] == second["vertex"]["deployed_model_id"]

    ramp = ["--mode", "ramp", "--canary-percent", "40", "--expect-canary", "2"]
    dm.main(_vertex_argv(vertex_double, registry, *ramp) + ["--deployment", str(tmp_path / "r")])
    record = json.loads((tmp_path / "r" / "deployment.json").read_text())
    assert record["vertex"]["canary_percent"] == 40 and record["canary"]["traffic_percent"] == 40
    assert _traffic(vertex_double) == {"1": 60, "2": 40}
    dm.main(_vertex_argv(vertex_double, registry, "--mode", "promote"))
    assert _traffic(vertex_double) == {"2": 100}
    assert Registry(registry, "taxi").status()["stable"] == 2

    # The stable version's content again: nothing uploaded, nothing deployed on Vertex AI.
    uploads = len(vertex_double.calls("POST", "/models:upload$"))
    again = deploy(2, "c")
    assert again["unchanged"] is True and again["vertex"] is None
    assert len(vertex_double.calls("POST", "/models:upload$")) == uploads
    # A missing Vertex AI flag is named before anything is pushed.
    argv = _vertex_argv(vertex_double, registry, "--mode", "rollback")
    del argv[argv.index("--vertex-endpoint") : argv.index("--vertex-endpoint") + 2]
    code, err = _exit_code(argv, capsys)
    assert code == 2 and "target vertex needs vertex_endpoint" in err


def test_a_vertex_failure_exits_1_and_leaves_serving_json(
    tmp_path, model_dirs, gcs, vertex_double, capsys
):
    client, _ = gcs
    bucket = f"vxfail-{uuid.uuid4().hex[:8]}"
    client.create_bucket(bucket)
    registry = f"gs://{bucket}/reg"
    vertex_double.fail_operation("deploy_model", message="Model server never became ready.")
    argv = _vertex_argv(vertex_double, registry, "--mode", "deploy")
    argv += ["--model", str(model_dirs[1]), "--blessing", str(_blessing(tmp_path, "BLESSED"))]
    code, err = _exit_code(argv, capsys)
    assert code == 1
    assert err.startswith("deploy_model: Vertex AI: ") and "never became ready" in err
    assert Registry(registry, "taxi").status()["stable"] is None
