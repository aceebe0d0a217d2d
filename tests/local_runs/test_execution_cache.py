"""Execution caching in local runs (mlops.local_runs.cache), with real containers of the sample
components through kfp.local's DockerRunner: a hit reuses the earlier execution's outputs and is
recorded as cached; each part of the key misses; a data file rewritten in place misses; deleted
outputs miss; stale executions miss; a step that opted out always runs; CACHE=0 runs everything
and still feeds the cache; FROM= reruns a step and its downstream steps."""

import re

import pytest

from mlops.core.errors import BuildError
from mlops.lineage.store import LineageStore
from mlops.local_runs.cache import CachePolicy

PIPELINE = """
from kfp import dsl

from pipelines.component_store import default_store

store = default_store()
hello = store.load_component("hello")
word_count = store.load_component("word_count")
IMAGE = hello.component_spec.implementation.container.image
COPY = (
    "import os, shutil, sys; os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True); "
    "shutil.copy(sys.argv[1], sys.argv[2])"
)


@dsl.container_component
def copy_file(path: str, copy: dsl.Output[dsl.Dataset]):
    # Reads data named by a parameter, as extract_data reads its source.
    return dsl.ContainerSpec(
        image=IMAGE,
        command=["python", "-c", COPY],
        args=[path, copy.path],
    )


@dsl.pipeline(name="cache-demo")
def cache_pipeline(path: str, message: str = "a b c", min_length: int = 1) -> int:
    copied = copy_file(path=path)
    hi = hello(message=message, repeat=1)
    word_count(text=hi.outputs["text"], min_length=min_length)
    counted = word_count(text=copied.outputs["copy"], min_length=1)
    # State that is no input (a registry, say): never served from the cache.
    copy_file(path=path).set_caching_options(False)
    return counted.outputs["words"]
"""

CACHEABLE = {"copy-file", "hello", "word-count", "word-count-2"}


@pytest.fixture(scope="module")
def package(built_project_factory):
    _, packages = built_project_factory("cache", {"cache_pipeline": PIPELINE})
    return packages["cache_pipeline"]


class Records:
    def __init__(self):
        self.by_task = {}

    def task_started(self, record):
        self.by_task[record.task] = record

    def task_finished(self, record):
        pass


@pytest.fixture
def run(package, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "words.txt").write_text("one two three four\n")
    db = tmp_path / "lineage.sqlite"
    count = iter(range(100))

    def run_once(cache=None, from_step=None, **arguments):
        from mlops.local_runs.runner import run_package

        records = Records()
        arguments = {"path": str(data / "words.txt"), **arguments}
        outputs = run_package(
            package, tmp_path / f"run{next(count)}", arguments, db, [records],
            mounts=[data], cache=cache, from_step=from_step,
        )  # fmt: skip
        return outputs, records.by_task

    run_once.data, run_once.db = data, db
    return run_once


def cached(records) -> set[str]:
    return {task for task, r in records.items() if r.cached}


@pytest.mark.docker
def test_a_second_identical_run_reuses_every_cacheable_step_and_records_it(run, capsys):
    first_outputs, first = run()
    assert cached(first) == set()
    assert first["hello"].cache_note == ["no earlier execution of this step"]
    outputs, second = run()
    assert outputs == first_outputs == {"Output": 4}
    assert cached(second) == CACHEABLE
    assert not second["copy-file-2"].cached  # opted out in the pipeline definition
    assert second["copy-file-2"].cache_note == [
        "caching is off for this step in the pipeline definition"
    ]
    for task in CACHEABLE:
        assert second[task].cached_from is not None
        assert second[task].output_artifacts[0].uri == first[task].output_artifacts[0].uri
    assert "4 of 5 steps from the cache" in capsys.readouterr().out
    with LineageStore(run.db) as store:
        latest = store.run("latest")
        tasks = {t["task"]: t for t in latest["tasks"]}
        original = store.execution(tasks["hello"]["cached_from"])
    assert latest["status"] == "SUCCEEDED"
    assert tasks["hello"]["status"] == "SUCCESS" and tasks["copy-file-2"]["cached_from"] is None
    assert original["run_id"] != latest["id"] and original["cached_from"] is None
    assert tasks["hello"]["cache_note"][0].startswith(f"reuses execution {original['id']} ")


@pytest.mark.docker
def test_a_changed_parameter_misses_and_says_which(run):
    run()
    _, records = run(min_length=2)
    assert cached(records) == {"copy-file", "hello", "word-count-2"}
    assert records["word-count"].cache_decision == "miss"
    (note,) = records["word-count"].cache_note  # the only part of the key that changed
    assert re.fullmatch(r"since execution \d+: parameter min_length: 1 → 2", note)


@pytest.mark.docker
def test_a_data_file_rewritten_in_place_misses_and_so_does_what_reads_its_copy(run):
    run()
    (run.data / "words.txt").write_text("one two three four five\n")  # same path
    outputs, records = run()
    assert outputs == {"Output": 5}
    assert not records["copy-file"].cached and not records["word-count-2"].cached
    assert cached(records) == {"hello", "word-count"}
    assert any(
        r.startswith("since execution") and "content of parameter path: content" in r
        for r in records["copy-file"].cache_note
    )
    assert any("input text: content" in r for r in records["word-count-2"].cache_note)


@pytest.mark.docker
def test_outputs_that_are_gone_are_a_miss(run):
    import shutil
    from pathlib import Path

    _, first = run()
    shutil.rmtree(Path(first["hello"].output_artifacts[0].uri).parent)
    _, records = run()
    assert not records["hello"].cached
    assert any("its output text is gone" in r for r in records["hello"].cache_note)
    # hello ran again and wrote the same text: what reads it still hits.
    assert records["word-count"].cached


@pytest.mark.docker
def test_executions_older_than_the_limit_are_not_reused(run):
    import time

    run()
    time.sleep(0.5)
    _, records = run(cache=CachePolicy(max_age_s=0.2))
    assert cached(records) == set()
    assert any("older than cache.max_age_s" in r for r in records["hello"].cache_note)


@pytest.mark.docker
def test_cache_off_runs_everything_and_still_feeds_the_cache(run):
    _, off = run(cache=CachePolicy(enabled=False))
    assert cached(off) == set()
    assert off["hello"].cache_note == ["caching is off for this run (CACHE=0)"]
    _, records = run()
    assert cached(records) == CACHEABLE


@pytest.mark.docker
def test_from_a_step_reruns_it_and_its_downstream_steps_and_reuses_the_rest(run):
    with pytest.raises(BuildError, match="FROM=word-count: no successful run of cache-demo"):
        run(from_step="word-count")
    _, first = run(cache=CachePolicy(enabled=False))
    with pytest.raises(BuildError, match="FROM=nope: is no step of the pipeline"):
        run(from_step="nope")
    _, records = run(from_step="hello")
    assert {t for t, r in records.items() if not r.cached} == {"hello", "word-count", "copy-file-2"}
    assert records["copy-file"].cached_from == first["copy-file"].cached_from or (
        records["copy-file"].output_artifacts[0].uri == first["copy-file"].output_artifacts[0].uri
    )
    assert "upstream of FROM=hello" in records["copy-file"].cache_note[0]
    assert records["hello"].cache_note == ["runs again: at or downstream of FROM=hello"]


@pytest.mark.docker
def test_from_a_step_whose_upstream_outputs_are_gone_is_a_named_error(run):
    import shutil
    from pathlib import Path

    _, first = run()
    shutil.rmtree(Path(first["copy-file"].output_artifacts[0].uri).parent)
    with pytest.raises(BuildError, match="copy-file of run .* cannot be reused: its output copy"):
        run(from_step="word-count")
