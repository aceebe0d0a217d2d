"""`make compile`: pipelines -> dist/<pipeline>/workflow.tar.gz that loads back."""

import tarfile

import pytest
import yaml
from kfp import components as kfp_components

from mlops.ci import pinned_specs
from mlops.ci.compile import compile_all
from mlops.ci.components import discover
from mlops.ci.spec_rewrite import read_image, rewrite_images, with_image
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


def _pin(project) -> dict[str, str]:
    """Pinned copies in dist/components, as `make build` writes them; returns name -> image."""
    images = {
        c.name: f"localhost:5999/t/{c.name}:abc@sha256:" + str(i) * 64
        for i, c in enumerate(discover(project), start=3)
    }
    pinned_specs.write(project, [(c, images[c.name]) for c in discover(project)])
    return images


def _specs(project) -> dict[str, str]:
    return {p.parent.name: p.read_text() for p in project.glob("components/*/component.yaml")}


def test_the_pinned_copies_in_dist_come_first_and_the_specs_stay(project):
    before = _specs(project)
    images = _pin(project)
    [result] = compile_all(project)
    assert result.images == tuple(sorted(images.values()))
    assert _specs(project) == before
    for name, image in images.items():
        assert read_image(project / "dist" / "components" / name / "component.yaml") == image


def test_a_spec_edited_since_the_build_compiles_with_its_edit_and_the_pinned_image(project, capsys):
    images = _pin(project)
    spec = project / "components" / "hello" / "component.yaml"
    spec.write_text(spec.read_text().replace("command: [python, -m,", "command: [python, -u, -m,"))
    [result] = compile_all(project)
    assert result.images == tuple(sorted(images.values()))
    ir = yaml.safe_load(read_package(result.package))
    executor = ir["deploymentSpec"]["executors"]["exec-hello"]["container"]
    assert executor["command"][:3] == ["python", "-u", "-m"]
    assert executor["image"] == images["hello"]
    copy = project / "dist" / "components" / "hello" / "component.yaml"
    assert copy.read_text() == with_image(spec.read_text(), images["hello"], spec)
    assert "dist/components/hello/component.yaml: follows its component.yaml" in (
        capsys.readouterr().out
    )


def test_the_copy_of_a_removed_component_is_dropped(project):
    _pin(project)
    ghost = project / "dist" / "components" / "ghost"
    ghost.mkdir()
    (ghost / "component.yaml").write_text(
        (project / "dist" / "components" / "hello" / "component.yaml").read_text()
    )
    compile_all(project)
    assert not ghost.exists()
    assert (project / "dist" / "components" / "hello" / "component.yaml").is_file()


def test_a_broken_pinned_copy_names_its_file(project):
    _pin(project)
    copy = project / "dist" / "components" / "word_count" / "component.yaml"
    copy.write_text("name: Word count\nimplementation: [\n")
    with pytest.raises(BuildError, match=r"dist/components/word_count/component.yaml: does not"):
        compile_all(project)
