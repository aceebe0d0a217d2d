"""The model registry: versions, serving.json, promote and rollback, on a local folder and
on Cloud Storage (the emulator, behind a proxy that enforces generation preconditions)."""

import json

import pytest
from deploy_model.registry import Registry, RegistryError, previous_stable
from deploy_model.storage import Conflict


def _walk_through(reg: Registry, model_dirs) -> None:
    """Push 1-3, deploy 1 (stable), 2 (canary), promote, 3 (canary), rollback twice."""
    assert reg.versions() == [] and reg.status()["stable"] is None
    v1 = reg.push(model_dirs[1], metrics={"auc": 0.8}, labels={"k": "v"})
    v2 = reg.push(model_dirs[2])
    assert (v1, v2) == (1, 2) and reg.versions() == [1, 2]
    info = reg.version_info(1)
    assert info["version"] == 1 and info["metrics"] == {"auc": 0.8} and info["blessed"] is True
    assert info["labels"] == {"k": "v"} and info["source_uri"] == str(model_dirs[1])

    state = reg.deploy(1, 10)
    assert (state["stable"], state["canary"]) == (1, None)  # the first model: straight to stable
    state = reg.deploy(2, 25)
    assert (state["stable"], state["canary"]) == (1, {"version": 2, "traffic_percent": 25})
    assert reg.promote()["stable"] == 2 and reg.status()["canary"] is None
    with pytest.raises(RegistryError, match="no canary to promote"):
        reg.promote()

    v3 = reg.push(model_dirs[3])
    assert reg.deploy(v3, 10)["canary"] == {"version": 3, "traffic_percent": 10}
    state = reg.rollback()  # a canary is on: drop it, stable unchanged
    assert (state["stable"], state["canary"]) == (2, None)
    assert reg.rollback()["stable"] == 1  # no canary: back to the previous stable
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        reg.rollback()
    history = reg.status()["history"]
    assert [h["action"] for h in history] == [
        "deploy",
        "canary",
        "promote",
        "canary",
        "rollback",
        "rollback",
    ]
    assert [h["stable"] for h in history] == [1, 1, 2, 2, 2, 1]
    assert all(h["at"].endswith("+00:00") for h in history)


def test_local_registry_versions_promote_rollback(model_dirs, registry_root):
    reg = Registry(str(registry_root), "taxi")
    _walk_through(reg, model_dirs)
    folder = registry_root / "taxi"
    # TF Serving's layout: each version a full copy of the SavedModel plus version.json.
    for v in (1, 2, 3):
        assert (folder / str(v) / "saved_model.pb").is_file()
        assert (folder / str(v) / "variables").is_dir()
        assert (folder / str(v) / "mlops_model.json").is_file()
    state = json.loads((folder / "serving.json").read_text())
    assert state["model_name"] == "taxi" and state["stable"] == 1
    # Atomic replacement leaves no temporary or staging files behind.
    assert sorted(p.name for p in folder.iterdir()) == [".lock", "1", "2", "3", "serving.json"]


def test_local_write_refuses_a_stale_token(model_dirs, registry_root):
    reg = Registry(str(registry_root), "taxi")
    reg.deploy(reg.push(model_dirs[1]), 10)
    state, token = reg.read_serving()
    reg.deploy(reg.push(model_dirs[2]), 10)  # another writer replaces serving.json
    with pytest.raises(Conflict):
        reg.write_serving({**state, "stable": 99}, token)
    assert reg.status()["canary"]["version"] == 2


def test_deploy_of_percent_zero_replaces_stable_and_drops_canary(model_dirs, registry_root):
    reg = Registry(str(registry_root), "taxi")
    for v in (1, 2, 3):
        reg.push(model_dirs[v])
    reg.deploy(1, 10)
    reg.deploy(2, 10)
    state = reg.deploy(3, 0)
    assert (state["stable"], state["canary"]) == (3, None)
    assert reg.rollback()["stable"] == 1
    with pytest.raises(RegistryError, match="no such version"):
        reg.deploy(7, 10)


def test_ramp_moves_the_canary_share_and_expect_canary_guards_every_change(
    model_dirs, registry_root
):
    reg = Registry(str(registry_root), "taxi")
    for v in (1, 2, 3):
        reg.push(model_dirs[v])
    reg.deploy(1, 10)
    with pytest.raises(RegistryError) as e:
        reg.ramp(25)
    assert str(e.value) == "taxi: no canary to ramp (stable is 1)"
    reg.deploy(2, 10)
    # the bounds are shares a canary may keep
    assert reg.ramp(1)["canary"] == {"version": 2, "traffic_percent": 1}
    assert reg.ramp(99)["canary"] == {"version": 2, "traffic_percent": 99}
    assert reg.ramp(25, expect_canary=2)["canary"] == {"version": 2, "traffic_percent": 25}
    for bad in (0, 100, 2.5, True):
        with pytest.raises(RegistryError, match="expected 1 to 99"):
            reg.ramp(bad)
    # A decision about another canary changes nothing: the canary is 2, not 3.
    for change in (reg.promote, reg.rollback, lambda expect_canary: reg.ramp(50, expect_canary)):
        with pytest.raises(RegistryError, match="the canary is version 2, not version 3"):
            change(expect_canary=3)
    assert reg.status()["canary"] == {"version": 2, "traffic_percent": 25}
    assert reg.promote(expect_canary=2)["stable"] == 2
    # No canary left: an expected rollback of the canary must not roll the stable back.
    with pytest.raises(RegistryError, match="the canary is none, not version 2"):
        reg.rollback(expect_canary=2)
    assert reg.status()["stable"] == 2
    history = reg.status()["history"]
    assert [h["action"] for h in history] == [
        "deploy",
        "canary",
        "ramp",
        "ramp",
        "ramp",
        "promote",
    ]
    assert previous_stable(history) == 1  # a ramp step moves no stable version


def test_previous_stable_walks_back_and_never_forward():
    h = [
        {"action": "deploy", "stable": 1},
        {"action": "canary", "stable": 1},
        {"action": "promote", "stable": 2},
        {"action": "promote", "stable": 3},
    ]
    assert previous_stable(h) == 2
    assert previous_stable(h + [{"action": "rollback", "stable": 2}]) == 1
    assert previous_stable([{"action": "deploy", "stable": 1}]) is None


def test_bad_model_name_is_refused(registry_root):
    with pytest.raises(RegistryError, match="model_name '../x'"):
        Registry(str(registry_root), "../x")


def test_gcs_registry_with_generation_preconditions(model_dirs, gcs, tmp_path):
    client, proxy = gcs
    client.create_bucket("models")
    reg = Registry("gs://models/registry", "taxi")
    _walk_through(reg, model_dirs)
    assert reg.version_uri(2) == "gs://models/registry/taxi/2"
    names = {b.name for b in client.list_blobs("models", prefix="registry/taxi/2/")}
    assert {"registry/taxi/2/saved_model.pb", "registry/taxi/2/version.json"} <= names
    # Every serving.json write carried the generation it read (0 for the first one).
    serving = [p for p in proxy.preconditions if p[0] == "registry/taxi/serving.json"]
    assert len(serving) == 6 and serving[0][1] == "0"
    assert all(int(p[1]) > 0 for p in serving[1:])

    # Two writers that read the same generation: the second upload is refused.
    state, token = reg.read_serving()
    reg.write_serving({**state, "stable": 2}, token)
    with pytest.raises(Conflict):
        reg.write_serving({**state, "stable": 3}, token)
    assert reg.status()["stable"] == 2
    assert proxy.preconditions[-1][2] == 412

    # A version pulled down for serving is the same files.
    local = reg.local_version_dir(2, tmp_path / "cache")
    assert (local / "saved_model.pb").read_bytes() == (
        model_dirs[2] / "saved_model.pb"
    ).read_bytes()


def test_gcs_update_retries_after_losing_a_race(model_dirs, gcs, monkeypatch):
    client, _ = gcs
    client.create_bucket("race")
    reg = Registry("gs://race", "taxi")
    reg.deploy(reg.push(model_dirs[1]), 10)
    reg.push(model_dirs[2])
    other = Registry("gs://race", "taxi")
    original = reg.read_serving
    calls = []

    def read_then_someone_else_writes():
        result = original()
        if not calls:  # between this writer's read and write, another one deploys
            calls.append(1)
            other.update(lambda s: s.update(note="other") or "deploy")
        return result

    monkeypatch.setattr(reg, "read_serving", read_then_someone_else_writes)
    state = reg.deploy(2, 30)
    # The lost write was redone on top of the other one: both changes are there.
    assert state["canary"] == {"version": 2, "traffic_percent": 30} and state["note"] == "other"
    assert reg.status()["note"] == "other"


def test_version_digest_recorded_or_computed_from_the_files(model_dirs, gcs, registry_root):
    from deploy_model.digest import content_digest

    client, _ = gcs
    client.create_bucket("digests")
    expected = content_digest(model_dirs[1])
    for root in (str(registry_root), "gs://digests/registry"):
        reg = Registry(root, "taxi")
        version = reg.push(model_dirs[1])
        assert reg.version_info(version)["content_digest"] == expected
        assert reg.version_digest(version) == expected
        # A version pushed before digests were recorded: its files, downloaded for gs://.
        info = reg.version_info(version)
        del info["content_digest"]
        reg.store.write(f"taxi/{version}/version.json", json.dumps(info).encode())
        assert "content_digest" not in reg.version_info(version)
        assert reg.version_digest(version) == expected, root
