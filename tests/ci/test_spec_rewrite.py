"""Rewriting the image of component.yaml files: exact, and all files or none."""

import os
from pathlib import Path

import pytest
import yaml

from mlops.ci import spec_rewrite
from mlops.core.errors import BuildError

SPEC = """\
# A comment that must survive.
name: Hello   # trailing comment
inputs:
- {name: message, type: String}
implementation:
  container:
    # the image line CI rewrites
    image: localhost:5000/mlops/hello:dev   # pinned by CI
    command: [python, -m, hello.main]
    args: [--message, {inputValue: message}]
"""
PINNED = "localhost:5000/mlops/hello:abc123@sha256:" + "0" * 64


def test_only_the_image_value_changes(tmp_path):
    path = tmp_path / "component.yaml"
    path.write_text(SPEC)
    assert spec_rewrite.rewrite_images({path: PINNED}) == [path]
    assert path.read_text() == SPEC.replace("localhost:5000/mlops/hello:dev", PINNED)
    assert spec_rewrite.read_image(path) == PINNED


def test_a_quoted_value_and_one_that_needs_quotes(tmp_path):
    path = tmp_path / "component.yaml"
    path.write_text(SPEC.replace("localhost:5000/mlops/hello:dev", "'old image'"))
    spec_rewrite.rewrite_images({path: "new: image #1"})
    assert (
        yaml.safe_load(path.read_text())["implementation"]["container"]["image"] == "new: image #1"
    )
    assert "# pinned by CI" in path.read_text()


def test_rewriting_twice_changes_nothing_the_second_time(tmp_path):
    path = tmp_path / "component.yaml"
    path.write_text(SPEC)
    spec_rewrite.rewrite_images({path: PINNED})
    assert spec_rewrite.rewrite_images({path: PINNED}) == []


def test_a_spec_without_an_image_key_fails_and_nothing_changes(tmp_path):
    good, bad = tmp_path / "a.yaml", tmp_path / "b.yaml"
    good.write_text(SPEC)
    bad.write_text("name: B\nimplementation:\n  container:\n    command: [x]\n")
    with pytest.raises(BuildError, match=r"b.yaml: implementation.container.image is missing"):
        spec_rewrite.rewrite_images({good: PINNED, bad: PINNED})
    assert good.read_text() == SPEC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "b.yaml"]  # no temp files


def test_a_failed_replacement_restores_the_files_already_replaced(tmp_path, monkeypatch):
    paths = [tmp_path / f"{i}.yaml" for i in range(3)]
    for p in paths:
        p.write_text(SPEC)
    real_replace, calls = os.replace, []

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(spec_rewrite.os, "replace", flaky_replace)
    with pytest.raises(BuildError, match="no component.yaml changed"):
        spec_rewrite.rewrite_images({p: PINNED for p in paths})
    assert all(p.read_text() == SPEC for p in paths)
    assert sorted(Path(p).name for p in tmp_path.iterdir()) == ["0.yaml", "1.yaml", "2.yaml"]
