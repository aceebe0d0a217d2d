"""The build-input fingerprint: what must rebuild an image, and what must not."""

import pytest

from mlops.ci.build_inputs import context_files, fingerprint
from mlops.ci.components import discover
from mlops.ci.spec_rewrite import rewrite_images


@pytest.fixture
def hello(project):
    return next(c for c in discover(project) if c.name == "hello")


def _fp(project, hello, base="sha256:base1"):
    return fingerprint(hello, base, project / "requirements.lock")


def test_the_context_is_what_docker_build_sends(hello):
    files = context_files(hello.path)
    assert "Dockerfile" in files and "src/hello/main.py" in files
    assert not any(f.startswith("tests/") or f == "component.yaml" for f in files)


def test_stable_for_the_same_inputs(project, hello):
    assert _fp(project, hello) == _fp(project, hello)


@pytest.mark.parametrize(
    "change",
    [
        lambda p, c: (c.path / "src" / "hello" / "main.py").write_text("# changed\n"),
        lambda p, c: (c.path / "src" / "hello" / "extra.py").write_text(""),
        lambda p, c: (c.path / "Dockerfile").write_text("FROM x\n"),
        lambda p, c: (p / "requirements.lock").write_text("six==1.16.0\n"),
    ],
    ids=["source", "new-file", "dockerfile", "lock"],
)
def test_changes_that_rebuild(project, hello, change):
    before = _fp(project, hello)
    change(project, hello)
    assert _fp(project, hello) != before


def test_a_new_base_image_rebuilds(project, hello):
    assert _fp(project, hello, "sha256:base1") != _fp(project, hello, "sha256:base2")


def test_changes_that_do_not_rebuild(project, hello):
    before = _fp(project, hello)
    (hello.path / "tests" / "test_more.py").write_text("def test_x(): pass\n")
    rewrite_images({hello.spec_path: "localhost:5999/t/hello:abc@sha256:" + "1" * 64})
    (hello.path / "src" / "hello" / "__pycache__").mkdir()
    (hello.path / "src" / "hello" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"x")
    assert _fp(project, hello) == before
