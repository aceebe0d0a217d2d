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


def test_a_pinned_copy_gets_the_source_with_its_image_and_the_source_stays(tmp_path):
    source = tmp_path / "components" / "hello" / "component.yaml"
    source.parent.mkdir(parents=True)
    source.write_text(SPEC)
    copy = tmp_path / "dist" / "components" / "hello" / "component.yaml"
    assert spec_rewrite.write_specs([(source, copy, PINNED)]) == [copy]
    assert source.read_text() == SPEC
    assert copy.read_text() == SPEC.replace("localhost:5000/mlops/hello:dev", PINNED)
    assert spec_rewrite.write_specs([(source, copy, PINNED)]) == []


def test_a_bad_source_writes_no_copy_and_names_the_file(tmp_path):
    good, bad = tmp_path / "a.yaml", tmp_path / "b.yaml"
    good.write_text(SPEC)
    bad.write_text("name: B\nimplementation: [\n")
    dist = tmp_path / "dist"
    with pytest.raises(BuildError, match=r"b.yaml: does not parse as YAML"):
        spec_rewrite.write_specs(
            [
                (good, dist / "a" / "component.yaml", PINNED),
                (bad, dist / "b" / "component.yaml", PINNED),
            ]
        )
    assert [p for p in dist.rglob("*") if p.is_file()] == []  # no copy, no temp file


def test_a_failed_replacement_removes_the_copies_already_written(tmp_path, monkeypatch):
    sources = [tmp_path / f"{i}.yaml" for i in range(3)]
    for p in sources:
        p.write_text(SPEC)
    copies = [tmp_path / "dist" / p.stem / "component.yaml" for p in sources]
    real_replace, calls = os.replace, []

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(spec_rewrite.os, "replace", flaky_replace)
    with pytest.raises(BuildError, match=r"1/component.yaml: could not be replaced"):
        spec_rewrite.write_specs([(s, c, PINNED) for s, c in zip(sources, copies, strict=True)])
    assert [p for p in (tmp_path / "dist").rglob("*") if p.is_file()] == []
    assert all(p.read_text() == SPEC for p in sources)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is empty"),
        ("# only a comment\n", "is empty"),
        ("- a list\n", r"\(top level\) is not a mapping"),
        ("name: x\n", r"\(top level\).implementation is missing"),
        ("implementation: 5\n", "implementation is not a mapping"),
        ("implementation: {}\n", "implementation.container is missing"),
        ("implementation: {container: [a]}\n", "implementation.container is not a mapping"),
        (
            "implementation: {container: {image: [a, b]}}\n",
            "implementation.container.image is not a string",
        ),
    ],
)
def test_each_bad_spec_is_named_with_its_file(tmp_path, text, message):
    path = tmp_path / "named.yaml"
    path.write_text(text)
    with pytest.raises(BuildError, match=rf"^{path}: {message}"):
        spec_rewrite.read_image(path)
    with pytest.raises(BuildError, match=rf"^{path}: {message}"):
        spec_rewrite.rewrite_images({path: PINNED})
    assert path.read_text() == text


def test_a_rewrite_that_would_change_more_than_the_image_is_refused(tmp_path):
    # Duplicate keys: the span is the first image, YAML's value the last.
    path = tmp_path / "dup.yaml"
    text = "implementation: {container: {image: a, image: b}}\n"
    path.write_text(text)
    with pytest.raises(BuildError, match=rf"^{path}: rewriting the image would change other"):
        spec_rewrite.rewrite_images({path: PINNED})
    assert path.read_text() == text


def test_plain_images_stay_plain_and_others_are_quoted():
    every_safe = "".join(sorted(spec_rewrite._PLAIN_SAFE))
    assert spec_rewrite._render(every_safe) == every_safe
    assert spec_rewrite._render(PINNED) == PINNED
    assert spec_rewrite._render("a b") == '"a b"'
    assert spec_rewrite._render("true") == '"true"'
    assert spec_rewrite._render("") == '""'


def test_an_unchanged_file_does_not_stop_the_next_one(tmp_path):
    same, other = tmp_path / "a.yaml", tmp_path / "b.yaml"
    same.write_text(SPEC.replace("localhost:5000/mlops/hello:dev", PINNED))
    other.write_text(SPEC)
    assert spec_rewrite.rewrite_images({same: PINNED, other: PINNED}) == [other]
    assert spec_rewrite.read_image(other) == PINNED


def test_staged_beside_the_target_with_the_source_mode(tmp_path, monkeypatch):
    source = tmp_path / "src" / "component.yaml"
    source.parent.mkdir()
    source.write_text(SPEC)
    source.chmod(0o640)
    target = tmp_path / "dist" / "hello" / "component.yaml"
    staged = []
    replace = os.replace

    def spy(tmp, dst):
        staged.append(Path(tmp))
        replace(tmp, dst)

    monkeypatch.setattr(spec_rewrite.os, "replace", spy)
    assert spec_rewrite.write_specs([(source, target, PINNED)]) == [target]
    (tmp,) = staged
    assert tmp.parent == target.parent and tmp.name.startswith(".component.yaml.")
    assert target.stat().st_mode & 0o777 == 0o640
