"""Cache keys without an engine: content fingerprints (a file rewritten in place changes, a copy
elsewhere does not; globs; gs:// prefixes on the storage emulator), the key's parts and the
words that explain a miss, and the decisions an ExecutionCache takes on a real lineage store."""

import os
import shutil
import time

import pytest

from mlops.lineage.store import LineageStore
from mlops.local_runs.cache import CachePolicy, ExecutionCache, differences, key_of
from mlops.local_runs.fingerprints import (
    FingerprintError,
    Fingerprints,
    names_content,
    short,
)
from mlops.local_runs.runner import ArtifactRecord, TaskRecord


def test_a_file_rewritten_in_place_gets_a_new_fingerprint_and_a_copy_the_same(tmp_path):
    prints = Fingerprints()
    data = tmp_path / "a" / "data.csv"
    data.parent.mkdir()
    data.write_text("x,y\n1,2\n")
    before = prints.local(data)
    copy = tmp_path / "b" / "data.csv"
    copy.parent.mkdir()
    shutil.copy(data, copy)
    assert prints.local(copy) == before  # content, not place
    data.write_text("x,y\n1,3\n")  # same size, same path
    os.utime(data, ns=(time.time_ns(), time.time_ns() + 1000))
    assert prints.local(data) != before


def test_a_folder_is_fingerprinted_by_relative_paths_and_contents(tmp_path):
    prints = Fingerprints()
    for root in ("one", "two"):
        (tmp_path / root / "Split-train").mkdir(parents=True)
        (tmp_path / root / "Split-train" / "part-0").write_bytes(b"rows")
    assert prints.local(tmp_path / "one") == prints.local(tmp_path / "two")
    (tmp_path / "two" / "Split-train" / "part-0").rename(tmp_path / "two" / "Split-train" / "p1")
    assert prints.local(tmp_path / "one") != prints.local(tmp_path / "two")  # a renamed file


def test_a_glob_is_fingerprinted_by_what_it_matches(tmp_path):
    prints = Fingerprints()
    (tmp_path / "a.csv").write_text("1")
    pattern = str(tmp_path / "*.csv")
    one = prints.of_value(pattern)
    (tmp_path / "b.csv").write_text("2")
    assert prints.of_value(pattern) != one
    with pytest.raises(FingerprintError, match="matches no file"):
        prints.of_value(str(tmp_path / "*.parquet"))


def test_gs_prefixes_are_fingerprinted_from_the_listing(gcs):
    bucket = gcs.create_bucket("fingerprints")
    bucket.blob("spans/1/data.csv").upload_from_string("a,b\n1,2\n")
    prints = Fingerprints()
    one = prints.of_value("gs://fingerprints/spans/1")
    assert one.startswith("gcs-md5:") and prints.of_value("gs://fingerprints/spans/1") == one
    bucket.blob("spans/1/data.csv").upload_from_string("a,b\n1,3\n")  # rewritten in place
    assert prints.of_value("gs://fingerprints/spans/1") != one
    with pytest.raises(FingerprintError, match="gs://fingerprints/none: no such object"):
        prints.of_value("gs://fingerprints/none")


def test_only_absolute_existing_paths_and_gs_uris_name_content(tmp_path):
    (tmp_path / "f.csv").write_text("1")
    assert names_content(str(tmp_path / "f.csv"))
    assert names_content(str(tmp_path / "*.csv"))
    assert names_content("gs://bucket/data.csv")
    for value in ("f.csv", str(tmp_path / "missing.csv"), 3, '{"a": 1}', "a\nb", ""):
        assert not names_content(value)


def test_differences_say_which_part_of_the_key_changed():
    before = {
        "image": "sha256:" + "a" * 64,
        "command": ["python", "-m", "x"],
        "parameter epochs": 8,
        "parameter schema": "feature {\n name: 'a' }",
        "input examples": "sha256:" + "1" * 64,
    }
    after = {
        **before,
        "image": "sha256:" + "b" * 64,
        "command": ["python", "-m", "y"],
        "parameter epochs": 4,
        "input examples": "sha256:" + "2" * 64,
        "parameter label": "tips",
    }
    assert differences(before, after) == [
        "the command or its arguments changed",
        "image digest changed: aaaaaaaaaaaa… → bbbbbbbbbbbb…",
        "input examples: content 111111111111… → 222222222222…",
        "parameter epochs: 8 → 4",
        "parameter label: (absent) → 'tips'",
    ]
    assert differences(before, dict(before)) == []
    assert key_of(before) == key_of(dict(reversed(before.items())))  # order does not matter
    assert key_of(before) != key_of(after)
    assert short(None) == "none"


def _record(task, examples, epochs=8):
    return TaskRecord(
        task=task,
        component=f"comp-{task}",
        image_ref="r/x:1@sha256:" + "c" * 64,
        input_parameters={"epochs": epochs},
        input_artifacts=[ArtifactRecord("examples", "system.Dataset", str(examples))],
        started_at=time.time(),
    )


class _Output:
    """What kfp.local hands over for an output artifact."""

    def __init__(self, uri):
        from kfp import dsl

        self.artifact = dsl.Model(name="model", uri=str(uri), metadata={"k": 1})


def test_a_cache_on_a_lineage_store_hits_misses_and_explains(tmp_path):
    examples = tmp_path / "examples"
    examples.mkdir()
    (examples / "part").write_text("rows")
    model = tmp_path / "run1" / "model"
    model.mkdir(parents=True)
    (model / "saved_model.pb").write_text("weights")
    with LineageStore(tmp_path / "l.sqlite") as store:
        cache = ExecutionCache(CachePolicy(), store, "p")
        args = {"task_caching": True, "command": ["t"], "image_id": "sha256:1", "component": "t"}
        first = cache.decide(_record("train", examples), **args)
        assert (first.word, first.reasons) == ("miss", ["no earlier execution of this step"])
        run_id = store.start_run("p", {})
        record = _record("train", examples)
        record.cache_key, record.cache_parts = first.key, first.parts
        execution = store.start_execution(run_id, record)
        record.status, record.ended_at = "SUCCESS", time.time()
        record.outputs_spec = cache.outputs_spec({"model": _Output(model).artifact, "loss": 0.5})
        store.finish_execution(execution, record)

        hit = cache.decide(_record("train", examples), **args)
        assert hit.word == "hit" and hit.hit["id"] == execution
        assert hit.reasons[0].startswith(f"reuses execution {execution} (run {run_id}, ")

        other = cache.decide(_record("train", examples, epochs=4), **args)
        assert other.word == "miss"
        assert other.reasons == [f"since execution {execution}: parameter epochs: 8 → 4"]

        opted_out = cache.decide(_record("train", examples), **{**args, "task_caching": False})
        assert (opted_out.word, opted_out.key) == ("off", None)

        (model / "saved_model.pb").write_text("tampered")
        changed = cache.decide(_record("train", examples), **args)
        assert changed.word == "miss"
        (reason,) = changed.reasons
        assert reason.startswith(f"execution {execution} (run {run_id}, ")
        assert reason.endswith(f" ago): its output model changed since ({model})")
        assert store.clear_cache() == 1
        assert cache.decide(_record("train", examples), **args).reasons == [
            "no earlier execution of this step"
        ]
