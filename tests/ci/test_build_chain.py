"""The CI build chain against the real Docker engine and a real registry (the session's own):
images -> push -> update-specs -> compile, incremental rebuilds, and nothing half-done; `make
build` pinning into dist/components and leaving the checkout as it was."""

import os
import shutil
import subprocess
import sys

import pytest
import yaml
from kfp import components as kfp_components

from mlops.ci import steps
from mlops.ci.compile import compile_all
from mlops.ci.registry import RegistryClient, split_repository
from mlops.ci.spec_rewrite import read_image
from mlops.core.errors import BuildError
from mlops.core.paths import REPO
from mlops.core.pipeline_package import images_of, read_package
from mlops.core.settings import load_build_settings
from mlops.local_runs.runner import run_package

pytestmark = pytest.mark.docker

SHA1, SHA2, SHA3, SHA4 = "a1" * 20, "b2" * 20, "c3" * 20, "d4" * 20


def build(root, sha, monkeypatch):
    monkeypatch.setenv("COMMIT_SHA", sha)
    steps.images(root)
    state = steps.push(root)  # the state with the pushed digests
    steps.update_specs(root)
    return state


def specs(root, folder="components"):
    return {p.parent.name: p.read_text() for p in sorted(root.glob(f"{folder}/*/component.yaml"))}


def registry_of(root):
    settings = load_build_settings(root)
    return settings, RegistryClient(settings.registry)


def test_cold_build_pushes_pins_and_compiles(docker_project, monkeypatch, docker_client):
    root = docker_project
    state = build(root, SHA1, monkeypatch)
    assert {n: r.action for n, r in state.components.items()} == {
        "hello": "built",
        "word_count": "built",
    }

    settings, registry = registry_of(root)
    for name in ("hello", "word_count"):
        repo = settings.repository(name)
        _, path = split_repository(repo)
        tags = registry.tags(path)
        assert SHA1 in tags and any(t.startswith("inputs-") for t in tags)
        spec_path = root / "components" / name / "component.yaml"
        image = yaml.safe_load(spec_path.read_text())["implementation"]["container"]["image"]
        assert image == f"{repo}:{SHA1}@{registry.digest(path, SHA1)}"
        assert kfp_components.load_component_from_file(str(spec_path)).name
        # The comment header written by the scaffold is still there.
        assert spec_path.read_text().startswith("# ")

    [compiled] = compile_all(root)
    ir = read_package(compiled.package)
    assert kfp_components.load_component_from_text(ir).name == "hello-pipeline"
    assert set(compiled.images) == {
        yaml.safe_load((root / "components" / n / "component.yaml").read_text())["implementation"][
            "container"
        ]["image"]
        for n in ("hello", "word_count")
    }


def test_component_image_runs_its_command_as_non_root(docker_project, monkeypatch, docker_client):
    root = docker_project
    build(root, SHA1, monkeypatch)
    settings = load_build_settings(root)
    image = docker_client.images.get(f"{settings.repository('hello')}:{SHA1}")
    assert image.attrs["Config"]["User"] == "app"
    assert not image.attrs["Config"]["Entrypoint"]
    out = docker_client.containers.run(
        image.id,
        [
            "python",
            "-m",
            "hello.main",
            "--message",
            "hi",
            "--repeat",
            "2",
            "--text",
            "/tmp/o/text",
            "--length",
            "/tmp/o/length",
        ],
        network_mode="host",
        remove=True,
    )
    assert b"wrote 6 characters" in out
    uid = docker_client.containers.run(image.id, ["id", "-u"], remove=True)
    assert uid.strip() == b"1000"


def test_a_no_change_rebuild_builds_nothing_and_only_adds_the_tag(docker_project, monkeypatch):
    root = docker_project
    first = build(root, SHA1, monkeypatch)
    second = build(root, SHA2, monkeypatch)
    assert {r.action for r in second.components.values()} == {"reused"}
    settings, registry = registry_of(root)
    for name, record in second.components.items():
        assert record.digest == first.components[name].digest
        _, path = split_repository(settings.repository(name))
        assert {SHA1, SHA2} <= set(registry.tags(path))
        assert registry.digest(path, SHA2) == registry.digest(path, SHA1)
    assert f":{SHA2}@" in specs(root)["hello"]


def test_a_one_file_change_rebuilds_one_image(docker_project, monkeypatch):
    root = docker_project
    first = build(root, SHA1, monkeypatch)
    main_py = root / "components" / "hello" / "src" / "hello" / "main.py"
    main_py.write_text(main_py.read_text().replace("wrote {len(text)}", "wrote all {len(text)}"))
    third = build(root, SHA3, monkeypatch)
    assert third.components["hello"].action == "built"
    assert third.components["word_count"].action == "reused"
    assert third.components["hello"].digest != first.components["hello"].digest
    assert third.components["word_count"].digest == first.components["word_count"].digest


def test_a_failed_build_rewrites_no_component_yaml(docker_project, monkeypatch):
    root = docker_project
    build(root, SHA1, monkeypatch)
    before = specs(root)
    # hello changes (so it rebuilds) and word_count cannot build.
    (root / "components" / "hello" / "src" / "hello" / "new.py").write_text("X = 1\n")
    dockerfile = root / "components" / "word_count" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN exit 3\n")
    pinned_before = specs(root, "dist/components")
    monkeypatch.setenv("COMMIT_SHA", SHA4)
    with pytest.raises(BuildError, match=r"component word_count .*docker build failed"):
        steps.images(root)
    with pytest.raises(BuildError, match="run `make images` before `make push`"):
        steps.push(root)
    with pytest.raises(BuildError, match="run `make images` before `make update-specs`"):
        steps.update_specs(root)
    with pytest.raises(BuildError, match="run `make images` before `make update-specs`"):
        steps.update_specs(root, in_place=False)
    assert specs(root) == before
    assert specs(root, "dist/components") == pinned_before == before  # CI's pins, copied
    settings, registry = registry_of(root)
    for name in ("hello", "word_count"):
        assert SHA4 not in registry.tags(split_repository(settings.repository(name))[1])


def test_a_failed_rebuild_of_the_same_commit_pushes_nothing(docker_project, monkeypatch):
    root = docker_project
    build(root, SHA1, monkeypatch)
    dockerfile = root / "components" / "hello" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN exit 3\n")
    with pytest.raises(BuildError, match="component hello"):
        steps.images(root)
    with pytest.raises(BuildError, match="not found; run `make images` before `make push`"):
        steps.push(root)


def test_update_specs_refuses_a_component_changed_since_its_build(docker_project, monkeypatch):
    root = docker_project
    monkeypatch.setenv("COMMIT_SHA", SHA1)
    steps.images(root)
    steps.push(root)
    before = specs(root)
    (root / "components" / "word_count" / "src" / "word_count" / "late.py").write_text("")
    with pytest.raises(BuildError, match=r"word_count: changed since its image was built"):
        steps.update_specs(root)
    assert specs(root) == before


def test_bad_input_stops_the_build_before_any_push(docker_project, registry):
    root = docker_project
    settings_text = (root / "settings.yaml").read_text()
    (root / "settings.yaml").write_text(
        "\n".join(line for line in settings_text.splitlines() if "registry:" not in line) + "\n"
    )
    catalog = RegistryClient(registry).session.get(f"http://{registry}/v2/_catalog").json()
    result = subprocess.run(
        [sys.executable, "-m", "mlops", "--root", str(root), "build"],
        capture_output=True,
        text=True,
        env={"COMMIT_SHA": SHA1, "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)},
    )
    assert result.returncode == 2
    assert "settings.yaml: build.registry is missing (environment 'local')" in result.stderr
    assert RegistryClient(registry).session.get(f"http://{registry}/v2/_catalog").json() == catalog


def test_the_compiled_pipeline_runs_locally_in_docker(docker_project, monkeypatch, tmp_path):
    root = docker_project
    build(root, SHA1, monkeypatch)
    [compiled] = compile_all(root)
    outputs = run_package(compiled.package, tmp_path / "runs", {"message": "one two three"})
    assert outputs == {"Output": 9}  # the pipeline repeats the message 3 times by default


def test_a_failing_step_fails_the_local_run(docker_project, monkeypatch, tmp_path):
    root = docker_project
    build(root, SHA1, monkeypatch)
    [compiled] = compile_all(root)
    with pytest.raises(BuildError, match="the local run failed"):
        run_package(compiled.package, tmp_path / "runs", {"message": "x", "repeat": 0})


def test_an_edited_component_runs_from_its_source_without_a_rebuild(
    docker_project, monkeypatch, tmp_path
):
    # `make run-dev`: the component's src/ mounted over its image's code.
    root = docker_project
    build(root, SHA1, monkeypatch)
    [compiled] = compile_all(root)
    main = root / "components" / "word_count" / "src" / "word_count" / "main.py"
    main.write_text(main.read_text().replace('"words": sum(', '"words": 2 * sum('))
    edited = run_package(
        compiled.package,
        tmp_path / "dev",
        {"message": "one two three"},
        sources={"word_count": root / "components" / "word_count" / "src"},
    )
    assert edited == {"Output": 18}  # the edit ran, though no image was rebuilt
    # Without the overlay the built image runs the code it was built with, as CI and clusters do.
    built = run_package(compiled.package, tmp_path / "built", {"message": "one two three"})
    assert built == {"Output": 9}


# --- `make build` in a git checkout: the pinned specs in dist/, the tracked files untouched --


def git(root, *args) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def as_git_checkout(root):
    shutil.copy(REPO / ".gitignore", root / ".gitignore")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    return git(root, "rev-parse", "HEAD").strip()


def test_make_build_pins_into_dist_and_leaves_the_checkout_clean(docker_project):
    root = docker_project
    commit = as_git_checkout(root)  # no COMMIT_SHA: the images are tagged with HEAD
    sources = specs(root)
    steps.build(root)
    assert git(root, "status", "--porcelain") == ""
    assert specs(root) == sources
    settings, registry = registry_of(root)
    pinned = {}
    for name in ("hello", "word_count"):
        repo = settings.repository(name)
        image = read_image(root / "dist" / "components" / name / "component.yaml")
        assert image == f"{repo}:{commit}@{registry.digest(split_repository(repo)[1], commit)}"
        pinned[name] = image
    package = root / "dist" / "hello_pipeline" / "workflow.tar.gz"
    assert sorted(images_of(yaml.safe_load(read_package(package)))) == sorted(pinned.values())
    # What `make run` does next: the compiled package runs on the pinned images.
    assert run_package(package, root / "dist" / "runs", {"message": "one two"}) == {"Output": 6}
    assert git(root, "status", "--porcelain") == ""


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_recording: list[list[str]] = []  # the paths written while a test records


def _audit(event, args):
    # An audit hook sees every open() and os.open() of the process, whatever opens the file.
    if not _recording:
        return
    if event == "open":
        path, mode, flags = args
        written = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        paths = [path] if written else []
    elif event == "os.rename":
        paths = list(args[:2])
    elif event in ("os.remove", "os.truncate", "os.rmdir", "os.chmod", "shutil.rmtree"):
        paths = [args[0]]
    else:
        return
    for path in paths:
        if isinstance(path, (str, bytes, os.PathLike)):
            _recording[-1].append(os.path.abspath(os.fsdecode(path)))


_hooked = []


def writes_under(folder, call) -> list[str]:
    """The paths under folder that call() opened for writing, replaced, removed or chmod-ed."""
    if not _hooked:
        sys.addaudithook(_audit)  # cannot be removed: it stays idle outside writes_under
        _hooked.append(True)
    _recording.append([])
    try:
        call()
    finally:
        written = _recording.pop()
    prefix = os.path.abspath(folder) + os.sep
    return sorted({p for p in written if p.startswith(prefix)})


def test_make_build_never_opens_a_component_yaml_for_writing(docker_project, monkeypatch):
    root = docker_project
    monkeypatch.setenv("COMMIT_SHA", SHA1)
    assert writes_under(root / "components", lambda: steps.build(root)) == []
    assert (root / "dist" / "components" / "hello" / "component.yaml").is_file()
    # The same watch sees CI's rewrite in place: staged beside each spec, then replacing it.
    written = writes_under(root / "components", lambda: steps.update_specs(root))
    for name in ("hello", "word_count"):
        spec = str(root / "components" / name / "component.yaml")
        assert spec in written
        assert any(os.path.dirname(p) == os.path.dirname(spec) and p != spec for p in written)
