"""mlops.deploy.caching: the package a deploy submits, with settings.yaml's `cache.enabled`."""

import yaml

from mlops.core.pipeline_package import read_package, write_package
from mlops.deploy import caching

PLATFORM = {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {"exec-say": {}}}}}}


def compiled_ir() -> str:
    """A pipeline with an opted-out step, a nested pipeline and an exit handler, and a
    platform spec as its second YAML document (as kfp-kubernetes adds one)."""
    from kfp import compiler, dsl

    @dsl.container_component
    def say(msg: str):
        return dsl.ContainerSpec(image="alpine", command=["echo"], args=[msg])

    @dsl.pipeline(name="inner")
    def inner(msg: str):
        say(msg=msg).set_caching_options(False)

    @dsl.pipeline(name="outer")
    def outer(msg: str = "hi"):
        say(msg=msg)
        inner(msg=msg)
        with dsl.ExitHandler(say(msg="bye")):
            say(msg=msg)

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pipeline.yaml"
        compiler.Compiler().compile(outer, str(path))
        return path.read_text() + "---\n" + yaml.safe_dump(PLATFORM)


def test_task_caching_reads_every_dag():
    spec = caching.spec_of(compiled_ir())
    every = caching.task_caching(spec)
    assert every["say"] is True and every["inner"] is True
    assert every["comp-inner/say"] is False
    assert every["exit-handler-1"] is False  # a DAG task: no option, protobuf's false
    steps = caching.task_caching(spec, steps_only=True)
    assert "inner" not in steps and "exit-handler-1" not in steps and "say" in steps
    # The KFP API's form of a spec with a platform spec.
    assert caching.task_caching({"pipeline_spec": spec, "platform_spec": PLATFORM}) == every


def test_without_caching_turns_every_task_off_and_keeps_the_platform_spec():
    text = compiled_ir()
    spec, platform = yaml.safe_load_all(caching.without_caching(text))
    assert set(caching.task_caching(spec).values()) == {False}
    assert len(caching.task_caching(spec)) == len(caching.task_caching(caching.spec_of(text)))
    assert platform == PLATFORM
    original = next(yaml.safe_load_all(text))
    original_tasks = original["root"]["dag"]["tasks"]
    for name, task in spec["root"]["dag"]["tasks"].items():  # nothing but the option changes
        assert {k: v for k, v in task.items() if k != "cachingOptions"} == {
            k: v for k, v in original_tasks[name].items() if k != "cachingOptions"
        }


def test_prepare_leaves_the_compiled_package_as_it_is(tmp_path):
    text = compiled_ir()
    package = tmp_path / "dist" / "p" / "workflow.tar.gz"
    write_package(text.encode(), package)
    compiled = package.read_bytes()

    enabled = caching.prepare(package, text, True, tmp_path / "deploy")
    assert (enabled.package, enabled.ir_text, enabled.enable_caching) == (package, text, None)
    assert not (tmp_path / "deploy").exists()
    assert enabled.steps_off() == ["comp-inner/say"]
    assert enabled.summary() == "step caching on, except comp-inner/say"

    disabled = caching.prepare(package, text, False, tmp_path / "deploy")
    assert disabled.package == tmp_path / "deploy" / "workflow.tar.gz"
    assert read_package(disabled.package) == disabled.ir_text
    assert set(caching.task_caching(caching.spec_of(disabled.ir_text)).values()) == {False}
    assert disabled.enable_caching is False
    assert disabled.describe() == {
        "enabled": False,
        "steps_without_cache": ["comp-exit-handler-1/say-3", "comp-inner/say", "say", "say-2"],
    }
    assert package.read_bytes() == compiled
    # Written again, the same bytes: a bucket that refuses changed content takes it again.
    first = disabled.package.read_bytes()
    caching.prepare(package, text, False, tmp_path / "deploy")
    assert disabled.package.read_bytes() == first
