"""Discovery of component folders: bad folders stop the build with the file and the problem."""

import shutil

import pytest

from mlops.ci.components import discover
from mlops.core.errors import BuildError


def test_finds_the_components_sorted(project):
    assert [c.name for c in discover(project)] == ["hello", "word_count"]


def test_private_and_cache_folders_are_not_components(project):
    (project / "components" / "_shared").mkdir()
    (project / "components" / "__pycache__").mkdir()
    assert [c.name for c in discover(project)] == ["hello", "word_count"]


@pytest.mark.parametrize("missing", ["Dockerfile", "component.yaml"])
def test_a_folder_missing_a_file(project, missing):
    (project / "components" / "hello" / missing).unlink()
    with pytest.raises(BuildError, match=rf"components/hello: missing {missing}"):
        discover(project)


def test_a_component_yaml_that_does_not_parse(project):
    (project / "components" / "hello" / "component.yaml").write_text("name: [oops\n")
    with pytest.raises(BuildError, match=r"components/hello/component.yaml: does not parse"):
        discover(project)


def test_two_components_with_one_name(project):
    shutil.copytree(project / "components" / "hello", project / "components" / "hello_again")
    with pytest.raises(BuildError, match=r"two components share the name 'Hello'.*hello_again"):
        discover(project)


def test_names_that_collide_once_normalised(project):
    spec = project / "components" / "word_count" / "component.yaml"
    spec.write_text(spec.read_text().replace("name: Word count", "name: hello"))
    with pytest.raises(BuildError, match="two components share the name"):
        discover(project)
