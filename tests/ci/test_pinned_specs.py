"""The pinned specs without an engine: `make build`'s pinning writes dist/components and leaves
a git checkout clean; CI's `make update-specs` pins components/*/component.yaml in place; both
all files or none. The build state is the one `images` and `push` would leave (the chain with
real images is in test_build_chain)."""

import shutil
import subprocess

import pytest
import yaml

from mlops.ci import base_image, steps
from mlops.ci.build_inputs import fingerprint
from mlops.ci.build_state import BuildState, ImageRecord
from mlops.ci.compile import compile_all
from mlops.ci.components import discover
from mlops.ci.spec_rewrite import read_image
from mlops.core.errors import BuildError
from mlops.core.paths import REPO
from pipelines.component_store import default_store

BASE_ID = "sha256:" + "b" * 64


def git(root, *args) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def repo(project):
    """The project as a git checkout with this repository's .gitignore, all committed."""
    shutil.copy(REPO / ".gitignore", project / ".gitignore")
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "project")
    return project


def pushed(root, unpushed=()) -> dict[str, str]:
    """dist/build-state.json as `make images push` leave it for HEAD; returns name -> pinned."""
    commit = git(root, "rev-parse", "HEAD").strip()
    state = BuildState(commit, "localhost:5999", "local", base={"ref": "b:1", "id": BASE_ID})
    lock = root / base_image.LOCK_FILE
    for i, comp in enumerate(discover(root)):
        digest = None if comp.name in unpushed else "sha256:" + str(i) * 64
        record = ImageRecord(
            f"localhost:5999/t/{comp.name}", fingerprint(comp, BASE_ID, lock), "built"
        )
        record.digest = digest
        state.components[comp.name] = record
    state.save(root)
    return {n: r.pinned(commit) for n, r in state.components.items() if r.digest}


def copies(root) -> dict[str, str]:
    return {p.parent.name: read_image(p) for p in root.glob("dist/components/*/component.yaml")}


def sources(root) -> dict[str, str]:
    return {p.parent.name: read_image(p) for p in root.glob("components/*/component.yaml")}


def test_the_build_pins_into_dist_and_the_checkout_stays_clean(repo):
    images = pushed(repo)
    before = sources(repo)
    steps.update_specs(repo, in_place=False)
    [compiled] = compile_all(repo)
    assert git(repo, "status", "--porcelain") == ""
    assert sources(repo) == before
    assert copies(repo) == images
    assert all("@sha256:" in image for image in images.values())
    assert compiled.images == tuple(sorted(images.values()))
    # The ComponentStore the pipelines use finds the pinned copies first.
    store = default_store(repo)
    assert {r.name: r.location for r in store.list()} == {
        n: str(repo / "dist" / "components" / n / "component.yaml") for n in images
    }


def test_update_specs_pins_in_place_as_ci_does(repo):
    images = pushed(repo)
    changed = steps.update_specs(repo)
    assert sources(repo) == images == copies(repo)
    assert sorted(git(repo, "diff", "--name-only").split()) == [
        "components/hello/component.yaml",
        "components/word_count/component.yaml",
    ]
    for name in images:  # the copies are the rewritten files themselves
        source = repo / "components" / name / "component.yaml"
        assert (repo / "dist" / "components" / name / "component.yaml").read_text() == (
            source.read_text()
        )
        assert source in changed
    # Only the image line changed: the rest of the file is as committed.
    diff = git(repo, "diff", "-U0", "components/hello/component.yaml").splitlines()
    assert [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        "-    image: localhost:5999/t/hello:dev",
        f"+    image: {images['hello']}",
    ]
    [compiled] = compile_all(repo)
    assert compiled.images == tuple(sorted(images.values()))


@pytest.mark.parametrize("in_place", [False, True], ids=["build", "update-specs"])
def test_nothing_is_pinned_when_a_component_is_unpushed(repo, in_place):
    pushed(repo, unpushed={"word_count"})
    with pytest.raises(BuildError, match=r"no component.yaml pinned:\n  word_count: no pushed"):
        steps.update_specs(repo, in_place=in_place)
    assert not (repo / "dist" / "components").exists()
    assert git(repo, "status", "--porcelain") == ""


def test_a_later_build_replaces_the_copies_and_drops_a_removed_component(repo, monkeypatch):
    pushed(repo)
    steps.update_specs(repo, in_place=False)
    shutil.rmtree(repo / "components" / "word_count")
    git(repo, "commit", "-q", "-am", "word_count removed")
    images = pushed(repo)
    steps.update_specs(repo, in_place=False)
    assert copies(repo) == images and list(images) == ["hello"]
    assert git(repo, "status", "--porcelain") == ""
    assert yaml.safe_load((repo / "dist" / "components" / "hello" / "component.yaml").read_text())
