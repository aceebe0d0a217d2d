"""The component's work without KFP: the blessing gate, deploy to stable then canary,
promote and rollback from the command line, a candidate identical to the stable or canary
version recorded as unchanged, its outputs, and exit code 2 on bad input."""

import json
import shutil
import sys
import types

import deploy_model
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


def test_vertex_target_pushes_to_gcs_and_calls_the_vertex_module(
    tmp_path, model_dirs, gcs, monkeypatch
):
    """deploy_model.vertex is another engineer's module; here a recording stand-in with its
    agreed interface checks what main passes to it (its own tests cover Vertex AI)."""
    client, _ = gcs
    client.create_bucket("vx")
    calls = []

    class VertexTarget:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    fake = types.ModuleType("deploy_model.vertex")
    fake.VertexTarget = VertexTarget
    fake.deploy = lambda t, uri, pct, labels: (
        calls.append(("deploy", t, uri, pct, labels)) or {"deployed_model_id": "dm-1"}
    )
    fake.promote = lambda t: calls.append(("promote", t)) or {"promoted": True}
    fake.rollback = lambda t: calls.append(("rollback", t)) or {"rolled_back": True}
    monkeypatch.setitem(sys.modules, "deploy_model.vertex", fake)
    monkeypatch.setattr(deploy_model, "vertex", fake, raising=False)
    vertex = {"project": "p", "location": "europe-west1", "endpoint": "ep", "serving_image": "img"}
    blessing = _blessing(tmp_path, "BLESSED")
    args = dict(registry="gs://vx/reg", model_name="taxi", target="vertex", vertex=vertex)

    first = dm.run("deploy", model=str(model_dirs[1]), blessing=str(blessing), **args)
    second = dm.run("deploy", model=str(model_dirs[2]), blessing=str(blessing), **args)
    assert first["vertex"] == {"deployed_model_id": "dm-1"} and second["canary"]["version"] == 2
    (_, target, uri, pct, labels), (_, _, uri2, pct2, _) = calls
    assert (uri, pct, uri2, pct2) == ("gs://vx/reg/taxi/1", 100, "gs://vx/reg/taxi/2", 10)
    assert (target.project, target.location, target.endpoint) == ("p", "europe-west1", "ep")
    assert target.model_display_name == "taxi" and target.serving_image == "img"
    assert labels["registry_version"] == "1"
    assert dm.run("promote", **args)["stable"] == 2 and calls[-1][0] == "promote"
    assert dm.run("rollback", **args)["stable"] == 1 and calls[-1][0] == "rollback"
    # The stable version's content again: nothing uploaded, nothing deployed on Vertex AI.
    again = dm.run("deploy", model=str(model_dirs[1]), blessing=str(blessing), **args)
    assert again["unchanged"] is True and (again["version"], again["role"]) == (1, "stable")
    assert again["vertex"] is None and calls[-1][0] == "rollback" and len(calls) == 4
    assert Registry("gs://vx/reg", "taxi").versions() == [1, 2]
    with pytest.raises(dm.InputError, match="vertex_endpoint"):
        dm.run("promote", **{**args, "vertex": {**vertex, "endpoint": None}})


def test_a_vertex_failure_exits_1_and_leaves_serving_json(tmp_path, model_dirs, gcs, monkeypatch):
    client, _ = gcs
    client.create_bucket("vxfail")

    class VertexDeployError(Exception):
        pass

    def refuse(*args):
        raise VertexDeployError("endpoint ep: permission denied")

    fake = types.ModuleType("deploy_model.vertex")
    fake.VertexTarget = lambda **kw: types.SimpleNamespace(**kw)
    fake.deploy = refuse
    monkeypatch.setitem(sys.modules, "deploy_model.vertex", fake)
    monkeypatch.setattr(deploy_model, "vertex", fake, raising=False)
    argv = [
        "--registry", "gs://vxfail/reg", "--model-name", "taxi", "--target", "vertex",
        "--model", str(model_dirs[1]), "--blessing", str(_blessing(tmp_path, "BLESSED")),
        "--vertex-project", "p", "--vertex-location", "l", "--vertex-endpoint", "ep",
        "--vertex-serving-image", "img",
    ]  # fmt: skip
    with pytest.raises(SystemExit) as e:
        dm.main(argv)
    assert e.value.code == 1
    assert Registry("gs://vxfail/reg", "taxi").status()["stable"] is None
