"""`make compile`: pipelines -> dist/<pipeline>/workflow.tar.gz that loads back."""

import tarfile

import pytest
import yaml
from kfp import components as kfp_components

from mlops.ci.compile import compile_all
from mlops.ci.spec_rewrite import rewrite_images
from mlops.core.errors import BuildError
from mlops.core.pipeline_package import read_package


def test_each_pipeline_becomes_a_tarball_with_its_ir(project):
    [result] = compile_all(project)
    assert result.package == project / "dist" / "hello_pipeline" / "workflow.tar.gz"
    with tarfile.open(result.package) as tar:
        assert tar.getnames() == ["pipeline.yaml"]
    ir = yaml.safe_load(read_package(result.package))
    assert ir["pipelineInfo"]["name"] == "hello-pipeline"
    loaded = kfp_components.load_component_from_text(read_package(result.package))
    assert loaded.name == "hello-pipeline"
    assert set(loaded.component_spec.inputs) == {"message", "repeat"}


def test_the_package_uses_the_images_in_component_yaml_now(project):
    pinned = "localhost:5999/t/hello:abc@sha256:" + "2" * 64
    rewrite_images({project / "components" / "hello" / "component.yaml": pinned})
    [result] = compile_all(project)
    assert pinned in result.images
    # The project's own components, not this repository's: both point at the project registry.
    assert result.images == tuple(sorted([pinned, "localhost:5999/t/word_count:dev"]))


def test_a_module_without_a_pipeline(project):
    (project / "pipelines" / "empty_pipeline.py").write_text("X = 1\n")
    with pytest.raises(BuildError, match="empty_pipeline.py: must define exactly one"):
        compile_all(project)


def test_a_pipeline_naming_a_missing_component(project):
    path = project / "pipelines" / "hello_pipeline.py"
    path.write_text(
        path.read_text().replace('load_component("word_count")', 'load_component("word_cont")')
    )
    with pytest.raises(
        BuildError, match=r"hello_pipeline.py: cannot be imported.*did you mean: word_count"
    ):
        compile_all(project)
