"""The new-data trigger (mlops.triggers.watcher): each new span gets exactly one drift check, across
polls, restarts, duplicate events and concurrent watchers; Cloud Storage events on the real
client against gcp-storage-emulator; bad input and bad settings recorded, never repeated.
The run starter is trigger_fakes.FakeStart (the real one: test_trigger_runs, and the Docker
test of test_drift_trigger)."""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import threading
import time
import uuid

import pytest
from trigger_fakes import FakeStart, summary, trigger_project, write_span

from mlops.core.errors import BuildError
from mlops.lineage.store import DEFAULT_DB, LineageStore
from mlops.triggers.watcher import Span, SpanStore, Watcher, handle_gcs_event, list_spans


def decisions(root, kind=None):
    with LineageStore(root / DEFAULT_DB) as store:
        return store.decisions(kind)


def spans(root):
    with SpanStore(root / DEFAULT_DB) as store:
        return store.spans()


@pytest.fixture
def root(tmp_path):
    return trigger_project(tmp_path / "project")


def test_a_new_file_starts_exactly_one_check_and_a_second_poll_none(root):
    start = FakeStart(root)
    path = write_span(root, "day1.csv")
    watcher = Watcher(root, start=start)
    first = watcher.poll_once()
    assert [d.decision for d in first] == ["no_drift"]
    assert start.calls == [
        {
            "pipeline": "validate_pipeline",
            "reason": f"drift check of new span {path}",
            "data": str(path),
            "env": None,
            "previous_statistics": None,
        }
    ]
    assert watcher.poll_once() == []
    assert len(start.calls) == 1
    [row] = spans(root)
    assert row["uri"] == str(path) and row["state"] == "done" and row["decision"] == "no_drift"
    assert row["check_run"] == first[0].details["check_run"]
    kinds = [(d["kind"], d["decision"]) for d in decisions(root)]
    assert kinds == [("drift", "no_drift"), ("new_data", "check")]  # newest first
    new_data = decisions(root, "new_data")[0]
    assert new_data["run_id"] == row["check_run"]  # the run the new-data trigger started
    assert new_data["details"]["span"] == str(path)


def test_a_restarted_watcher_repeats_nothing(root):
    start = FakeStart(root)
    write_span(root, "day1.csv")
    write_span(root, "day2.csv")
    Watcher(root, start=start).poll_once()
    assert len(start.calls) == 2
    again = FakeStart(root)  # a new process: new objects on the same state
    assert Watcher(root, start=again).poll_once() == []
    assert again.calls == []


def test_a_replaced_file_is_a_new_span_and_an_unsettled_one_waits(root):
    start = FakeStart(root)
    path = write_span(root, "day1.csv")
    watcher = Watcher(root, start=start)
    watcher.poll_once()
    write_span(root, "day1.csv", "a,b\n1,2\n3,4\n", age_s=30)  # replaced: new size and mtime
    path.write_text("a,b\n1,2\n3,4\n5,6\n")  # being written right now: not settled yet
    assert watcher.poll_once() == []
    old = time.time() - 30
    os.utime(path, (old, old))
    assert [d.decision for d in watcher.poll_once()] == ["no_drift"]
    assert len(start.calls) == 2
    versions = {row["version"] for row in spans(root)}
    assert len(versions) == 2 and all(v.startswith("size=") for v in versions)


def test_files_outside_the_pattern_are_not_spans_and_partitions_need_their_marker(tmp_path):
    root = trigger_project(tmp_path / "p", **{"triggers.new_data.pattern": "dt=*/"})
    write_span(root, "loose.csv")
    write_span(root, "dt=2024-01-01/part-0.csv")
    write_span(root, "dt=2024-01-02/part-0.csv")
    write_span(root, "dt=2024-01-02/_SUCCESS", "")
    found = list_spans(str(root / "incoming"), "dt=*/")
    assert [(s.uri, s.partition) for s in found] == [
        (str(root / "incoming" / "dt=2024-01-02"), True)
    ]
    start = FakeStart(root)
    Watcher(root, start=start).poll_once()
    # The runs read the partition's files, not its marker (an empty file is no CSV).
    assert [c["data"] for c in start.calls] == [str(root / "incoming" / "dt=2024-01-02/[!_]*")]
    import glob

    assert glob.glob(start.calls[0]["data"]) == [str(root / "incoming/dt=2024-01-02/part-0.csv")]
    assert spans(root)[0]["uri"] == str(root / "incoming" / "dt=2024-01-02")


def _claim(db, key, results):
    with SpanStore(db) as store:
        results.put(store.claim(Span(key, "size=1,mtime_ns=1"), "poll"))


def test_two_concurrent_claims_one_wins(root):
    db = root / DEFAULT_DB
    SpanStore(db).close()  # the table exists: both processes race on the insert only
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [context.Process(target=_claim, args=(db, "/data/x.csv", results)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert sorted(results.get(timeout=5) for _ in workers) == [False, False, False, True]


def test_two_watchers_polling_at_once_start_one_check(root):
    start = FakeStart(root, delay_s=0.3)  # the first check is still running when both look
    write_span(root, "day1.csv")
    barrier = threading.Barrier(2)
    out = []

    def poll():
        watcher = Watcher(root, start=start)
        barrier.wait()
        out.append(watcher.poll_once())

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(start.calls) == 1
    assert sorted(len(o) for o in out) == [0, 1]


def test_a_crash_mid_run_leaves_the_span_claimed_until_retried(root):
    path = write_span(root, "day1.csv")
    [span] = list_spans(str(root / "incoming"), "*.csv")
    dead = multiprocessing.get_context("fork").Process(target=lambda: None)
    dead.start()
    dead.join()
    with SpanStore(root / DEFAULT_DB) as store:  # what a watcher killed mid-check leaves
        assert store.claim(span, "poll", owner=f"{os.uname().nodename}:{dead.pid}")
    start = FakeStart(root)
    assert Watcher(root, start=start).poll_once() == []
    assert start.calls == []
    from mlops.monitoring import status

    answer = status.gather(root)
    [row] = answer["spans"]
    assert row["state"] == "claimed" and row["stale"] is True
    assert "owner gone" in status.render(answer)
    decision = Watcher(root, start=start).retry(str(path))
    assert decision.decision == "no_drift" and len(start.calls) == 1
    [row] = spans(root)
    assert row["state"] == "done" and row["attempts"] == 2
    with pytest.raises(BuildError, match="no claimed or failed span"):
        Watcher(root, start=start).retry(str(path))  # done spans are not re-run


def test_bad_input_is_a_failed_check_the_watcher_goes_on_and_never_repeats_it(root):
    start = FakeStart(
        root,
        verdicts={
            "other_header.csv": summary(
                other=[{"section": "train", "feature": "fare", "anomaly": "Column dropped"}]
            )
        },
        fail_checks={"garbage.csv"},
    )
    write_span(root, "garbage.csv", "\x00\x01\x02binary")
    write_span(root, "other_header.csv", "x,y\n1,2\n")
    write_span(root, "good.csv")
    watcher = Watcher(root, start=start)
    found = {d.span.rsplit("/", 1)[-1]: d for d in watcher.poll_once()}
    assert {k: d.decision for k, d in found.items()} == {
        "garbage.csv": "failed",
        "other_header.csv": "failed",
        "good.csv": "no_drift",
    }
    assert "failed at extract-data" in found["garbage.csv"].reason
    assert "fare: Column dropped" in found["other_header.csv"].reason
    assert start.pipelines() == ["validate_pipeline"] * 3  # no training for bad data
    states = {row["uri"].rsplit("/", 1)[-1]: row["state"] for row in spans(root)}
    assert states == {"garbage.csv": "failed", "other_header.csv": "failed", "good.csv": "done"}
    assert Watcher(root, start=start).poll_once() == [] and len(start.calls) == 3


def test_a_check_that_raises_fails_the_span_not_the_watcher(root):
    def broken(*args, **kwargs):
        raise RuntimeError("docker engine gone")

    write_span(root, "day1.csv")
    [decision] = Watcher(root, start=broken).poll_once()
    assert decision.decision == "failed" and "docker engine gone" in decision.reason
    assert spans(root)[0]["state"] == "failed"


@pytest.mark.parametrize(
    "change, named",
    [
        ({"triggers.new_data.poll_s": -1}, "triggers.new_data.poll_s is -1"),
        ({"triggers.new_data.prefix": None}, "triggers.new_data.prefix is None"),
        ({"triggers.drift.retrain_on_drift": "yes"}, "triggers.drift.retrain_on_drift is 'yes'"),
        ({"data.validation.drift.numeric_jsd": None}, "data.validation.drift.numeric_jsd is miss"),
        ({"data.validation.drift.categorical_linf": 2}, "categorical_linf is 2; expected a number"),
    ],
)
def test_bad_settings_are_a_failed_decision_naming_the_setting_and_nothing_is_claimed(
    tmp_path, change, named
):
    root = trigger_project(tmp_path / "p", **change)
    write_span(root, "day1.csv")
    start = FakeStart(root)
    watcher = Watcher(root, start=start)
    [decision] = watcher.poll_once()
    assert decision.decision == "failed" and named in decision.reason
    assert start.calls == [] and spans(root) == []
    assert watcher.poll_once() == []  # the same problem is recorded once per watcher
    assert [d["reason"] for d in decisions(root, "new_data")] == [decision.reason]


def test_the_cli_once_processes_and_exits(root, capsys, monkeypatch):
    from mlops import cli
    from mlops.triggers import runs as trigger_runs

    start = FakeStart(root)
    monkeypatch.setattr(trigger_runs, "start_run", start)
    write_span(root, "day1.csv")
    assert cli.main(["--root", str(root), "watch", "--once"]) == 0
    assert "1 new spans processed" in capsys.readouterr().out
    assert cli.main(["--root", str(root), "watch", "--once"]) == 0
    assert len(start.calls) == 1


# --- Cloud Storage: the real client on gcp-storage-emulator ------------------------------


@pytest.fixture
def gcs_root(tmp_path, gcs):
    bucket = gcs.create_bucket(f"incoming-{uuid.uuid4().hex[:12]}")
    root = trigger_project(
        tmp_path / "p", **{"triggers.new_data.prefix": f"gs://{bucket.name}/new"}
    )
    return root, bucket


def finalize_event(blob) -> dict:
    """The data of a google.cloud.storage.object.v1.finalized CloudEvent, from the object's
    real metadata as the emulator stores it."""
    blob.reload()
    return {
        "kind": "storage#object",
        "id": f"{blob.bucket.name}/{blob.name}/{blob.generation}",
        "bucket": blob.bucket.name,
        "name": blob.name,
        "generation": str(blob.generation),
        "metageneration": str(blob.metageneration),
        "contentType": blob.content_type,
        "size": str(blob.size),
        "md5Hash": blob.md5_hash,
        "crc32c": blob.crc32c,
        "timeCreated": blob.time_created.isoformat(),
        "updated": blob.updated.isoformat(),
    }


def pubsub_envelope(event: dict) -> dict:
    """A Pub/Sub push of a Cloud Storage notification (JSON_API_V1 payload)."""
    return {
        "message": {
            "data": base64.b64encode(json.dumps(event).encode()).decode(),
            "attributes": {
                "eventType": "OBJECT_FINALIZE",
                "bucketId": event["bucket"],
                "objectId": event["name"],
                "objectGeneration": event["generation"],
                "payloadFormat": "JSON_API_V1",
            },
            "messageId": "1",
        },
        "subscription": "projects/p/subscriptions/new-data",
    }


def test_a_finalize_event_starts_one_check_duplicates_and_polls_none(gcs_root):
    root, bucket = gcs_root
    blob = bucket.blob("new/day1.csv")
    blob.upload_from_string("a,b\n1,2\n", content_type="text/csv")
    event = finalize_event(blob)
    start = FakeStart(root)
    first = handle_gcs_event(event, root, start=start)
    assert first.decision == "no_drift"
    assert [c["data"] for c in start.calls] == [f"gs://{bucket.name}/new/day1.csv"]
    # The same event again, the same object through Pub/Sub, and a poll of the prefix: the
    # same span (URI + generation), so no second check.
    assert handle_gcs_event(event, root, start=start).decision == "duplicate"
    assert handle_gcs_event(pubsub_envelope(event), root, start=start).decision == "duplicate"
    assert Watcher(root, start=start).poll_once() == []
    assert len(start.calls) == 1
    [row] = spans(root)
    assert row["version"] == f"generation={blob.generation}" and row["source"] == "event"
    # A new generation of the same name is new data.
    blob.upload_from_string("a,b\n1,2\n3,4\n", content_type="text/csv")
    second = handle_gcs_event(pubsub_envelope(finalize_event(blob)), root, start=start)
    assert second.decision == "no_drift" and len(start.calls) == 2
    duplicates = [d for d in decisions(root, "new_data") if d["decision"] == "duplicate"]
    assert len(duplicates) == 2


def test_a_poll_of_the_bucket_then_the_event_share_the_claim(gcs_root):
    root, bucket = gcs_root
    blob = bucket.blob("new/day2.csv")
    blob.upload_from_string("a,b\n5,6\n", content_type="text/csv")
    start = FakeStart(root)
    assert [d.decision for d in Watcher(root, start=start).poll_once()] == ["no_drift"]
    assert handle_gcs_event(finalize_event(blob), root, start=start).decision == "duplicate"
    assert len(start.calls) == 1


def test_objects_outside_the_prefix_or_pattern_are_skipped_and_recorded(gcs_root):
    root, bucket = gcs_root
    start = FakeStart(root)
    outside = bucket.blob("elsewhere/day1.csv")
    outside.upload_from_string("a\n1\n")
    other = bucket.blob("new/readme.txt")
    other.upload_from_string("notes")
    nested = bucket.blob("new/sub/day1.csv")
    nested.upload_from_string("a\n1\n")
    reasons = [
        handle_gcs_event(finalize_event(b), root, start=start) for b in (outside, other, nested)
    ]
    assert [d.decision for d in reasons] == ["skipped"] * 3
    assert "is outside triggers.new_data.prefix" in reasons[0].reason
    assert "does not match triggers.new_data.pattern '*.csv'" in reasons[1].reason
    deleted = handle_gcs_event(
        {"type": "google.cloud.storage.object.v1.deleted", "data": finalize_event(other)},
        root,
        start=start,
    )
    assert deleted.decision == "skipped"
    assert start.calls == [] and spans(root) == []
    assert len([d for d in decisions(root, "new_data") if d["decision"] == "skipped"]) == 4


def test_an_event_with_bad_settings_is_a_failed_decision_naming_the_setting(gcs_root):
    root, bucket = gcs_root
    import yaml

    settings = yaml.safe_load((root / "settings.yaml").read_text())
    settings["data"]["validation"]["drift"]["numeric_jsd"] = 0
    (root / "settings.yaml").write_text(yaml.safe_dump(settings))
    blob = bucket.blob("new/day3.csv")
    blob.upload_from_string("a\n1\n")
    start = FakeStart(root)
    decision = handle_gcs_event(finalize_event(blob), root, start=start)
    assert decision.decision == "failed"
    assert "data.validation.drift.numeric_jsd is 0; expected a number above 0" in decision.reason
    assert start.calls == [] and spans(root) == []


def test_one_watcher_process_watches_every_use_cases_data(tmp_path):
    """make watch ALL=1: each use case's prefix is polled with that use case's settings, and
    its spans start checks with them."""
    from mlops.triggers.watcher import watch_usecases

    root = trigger_project(tmp_path / "project")
    settings = root / "settings.yaml"
    settings.write_text(settings.read_text() + "usecase: first\n")
    for name in ("first", "second"):
        folder = root / "pipelines" / "usecases" / name
        folder.mkdir(parents=True)
        (folder / "settings.yaml").write_text(f"triggers: {{new_data: {{prefix: in/{name}}}}}\n")
        write_span(root, f"../in/{name}/day1.csv")
    seen = []

    class Recording(FakeStart):
        def __call__(self, root, pipeline, reason, **kw):
            seen.append((os.environ.get("USECASE"), kw.get("data")))
            return super().__call__(root, pipeline, reason, **kw)

    start = Recording(root)
    processed = watch_usecases(
        root, ["first", "second"], once=True, watcher_factory=lambda r: Watcher(r, start=start)
    )
    assert processed == 2
    assert sorted(seen) == [
        ("first", str(root / "in" / "first" / "day1.csv")),
        ("second", str(root / "in" / "second" / "day1.csv")),
    ]
    assert "USECASE" not in os.environ  # restored after each use case
