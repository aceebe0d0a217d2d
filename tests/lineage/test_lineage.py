"""The lineage store: recording runs from task records, and the questions it answers (runs,
images, an artifact's lineage, which data trained a model, a registry's serving model);
then a real local run of the sample pipeline in Docker, observed and recorded."""

import hashlib
import json

import pytest
import yaml

from mlops.cli import main
from mlops.core.errors import BuildError
from mlops.lineage import render
from mlops.lineage import store as lineage
from mlops.lineage.recording import recorded_run
from mlops.lineage.store import LineageError, LineageStore
from mlops.local_runs.runner import ArtifactRecord, TaskRecord

DIGEST = "sha256:" + "ab" * 32


def digest_of(text):
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def task(name, inputs=(), outputs=(), parameters=None, image=None, status="SUCCESS", **kw):
    """A finished task record as local_run's observer hands it over."""
    image = image or f"localhost:5000/mlops/{name}:c0ffee@{digest_of(name)}"
    tagged, digest = image.split("@")
    return TaskRecord(
        task=name,
        component=f"comp-{name}",
        image_ref=image,
        image_digest=f"{tagged.rsplit(':', 1)[0]}@{digest}",  # as RepoDigests spell it
        image_id=digest_of("config of " + name),
        input_parameters=parameters or {},
        input_artifacts=[ArtifactRecord(n, t, u) for n, t, u in inputs],
        output_artifacts=[ArtifactRecord(n, t, u, {"by": name}) for n, t, u in outputs],
        started_at=kw.pop("started_at", 100.0),
        ended_at=kw.pop("ended_at", 101.0),
        status=status,
        **kw,
    )


def record_run(db, records, parameters, fail=None):
    """Records `records` as one run through the recorder, as run_package does."""
    with recorded_run(db, "ct-pipeline", "dist/ct/workflow.tar.gz", "/runs", parameters, {}) as r:
        for record in records:
            r.task_started(record)
            r.task_finished(record)
        if fail:
            raise fail
        r.outputs = {"ok": True}
    return r.run_id


@pytest.fixture
def ct_run(tmp_path):
    """A continuous-training run: extract -> transform -> train -> evaluate."""
    root = tmp_path / "runs"
    examples, graph = f"{root}/extract-data/examples", f"{root}/transform/transform_graph"
    transformed, model = f"{root}/transform/transformed", f"{root}/train/model"
    (root / "extract-data" / "examples").mkdir(parents=True)
    (root / "extract-data" / "examples" / "part-0").write_text("rows")
    records = [
        task(
            "extract-data",
            outputs=[("examples", "system.Dataset", examples)],
            parameters={"source": "/data/taxi.csv", "splits": '{"train": 2}'},
            started_at=10.0,
        ),
        task(
            "transform",
            inputs=[("examples", "system.Dataset", examples)],
            outputs=[
                ("transform_graph", "system.Artifact", graph),
                ("transformed", "system.Dataset", transformed),
            ],
            started_at=20.0,
        ),
        task(
            "train",
            inputs=[
                ("examples", "system.Dataset", transformed),
                ("transform_graph", "system.Artifact", graph),
            ],
            outputs=[("model", "system.Model", model)],
            parameters={"epochs": 3},
            started_at=30.0,
        ),
        task(
            "evaluate",
            inputs=[("model", "system.Model", model), ("examples", "system.Dataset", examples)],
            outputs=[("blessing", "system.Artifact", f"{root}/evaluate/blessing")],
            started_at=40.0,
        ),
    ]
    db = tmp_path / "lineage.sqlite"
    run_id = record_run(db, records, {"source": "/data/taxi.csv"})
    uris = {"examples": examples, "transformed": transformed, "model": model, "graph": graph}
    return db, run_id, records, uris


def test_a_recorded_run_lists_and_shows_its_tasks_images_and_artifacts(ct_run):
    db, run_id, records, uris = ct_run
    with LineageStore(db) as store:
        [run] = store.runs()
        assert (run["id"], run["status"], run["pipeline"]) == (run_id, "SUCCEEDED", "ct-pipeline")
        assert run["parameters"] == {"source": "/data/taxi.csv"}
        assert run["outputs"] == {"ok": True}
        shown = store.run(run_id[:12])
    assert [t["task"] for t in shown["tasks"]] == ["extract-data", "transform", "train", "evaluate"]
    train = shown["tasks"][2]
    assert train["image_ref"] == records[2].image_ref
    assert train["image_digest"] == records[2].image_digest
    assert train["input_parameters"] == {"epochs": 3}
    assert [(a["event_name"], a["uri"]) for a in train["inputs"]] == [
        ("examples", uris["transformed"]),
        ("transform_graph", uris["graph"]),
    ]
    assert [(a["event_name"], a["type"]) for a in train["outputs"]] == [("model", "system.Model")]


def test_a_consumer_does_not_overwrite_what_the_producer_recorded(ct_run):
    db, _, _, uris = ct_run
    with LineageStore(db) as store:
        examples = store.artifact(uris["examples"])
    # evaluate read the examples under the same input name, without metadata.
    assert examples["metadata"] == {"by": "extract-data"}
    assert examples["name"] == "examples"
    assert examples["fingerprint"] == "sha256:" + hashlib.sha256(b"part-0\0rows\0").hexdigest()


def test_runs_are_found_by_image_digest_or_reference_prefix(ct_run, tmp_path):
    db, run_id, records, _ = ct_run
    other = record_run(
        db, [task("extract-data", image="localhost:5000/mlops/other:1@" + DIGEST)], {}
    )
    with LineageStore(db) as store:
        by_digest = store.runs_using_image(records[2].image_ref.partition("@")[2])
        assert [(r["id"], r["tasks"]) for r in by_digest] == [(run_id, ["train"])]
        assert [r["id"] for r in store.runs_using_image(DIGEST)] == [other]
        assert [r["id"] for r in store.runs_using_image("localhost:5000/mlops/")] == [other, run_id]
        assert store.runs_using_image("localhost:5000/mlops/other:1")[0]["id"] == other
        # a prefix of the registry digest, which has no tag
        assert [r["id"] for r in store.runs_using_image("localhost:5000/mlops/other@")] == [other]
        assert store.runs_using_image("sha256:" + "00" * 32) == []


def test_an_artifact_is_found_by_id_with_every_step_that_made_or_took_it(ct_run):
    db, run_id, _, uris = ct_run
    with LineageStore(db) as store:
        examples = store.artifact(uris["examples"])
        assert store.artifact_by_id(examples["id"]) == examples
        uses = store.uses_of(examples["id"])
        with pytest.raises(LineageError, match="no artifact 9999"):
            store.artifact_by_id(9999)
    assert [(u["kind"], u["task"], u["name"], u["run_id"]) for u in uses] == [
        ("OUTPUT", "extract-data", "examples", run_id),
        ("INPUT", "transform", "examples", run_id),
        ("INPUT", "evaluate", "examples", run_id),
    ]


def test_the_lineage_of_a_model_walks_up_to_the_data_parameters(ct_run):
    db, run_id, _, uris = ct_run
    with LineageStore(db) as store:
        tree = store.lineage(uris["model"] + "/")  # the same artifact, spelled as a folder
    train = tree["produced_by"]
    assert (train["task"], train["run"]["id"]) == ("train", run_id)
    assert train["run"]["parameters"] == {"source": "/data/taxi.csv"}
    transform = next(i for i in train["inputs"] if i["name"] == "examples")["produced_by"]
    assert transform["task"] == "transform"
    [examples] = transform["inputs"]
    assert examples["artifact"]["uri"] == uris["examples"]
    assert examples["produced_by"]["task"] == "extract-data"
    assert examples["produced_by"]["parameters"]["source"] == "/data/taxi.csv"
    assert examples["produced_by"]["inputs"] == []


def test_which_data_trained_the_model(ct_run):
    db, run_id, _, uris = ct_run
    with LineageStore(db) as store:
        answer = store.training_data(uris["model"])
        by_step = store.training_data(uris["model"], step="extract-data")
        with pytest.raises(LineageError, match="no task 'split'"):
            store.training_data(uris["model"], step="split")
        with pytest.raises(LineageError, match="no such artifact"):
            store.training_data("/nowhere/model")
    assert answer["produced_by"] == "train" and answer["type"] == "system.Model"
    [source] = answer["sources"]
    assert source["task"] == "extract-data" and source["run_id"] == run_id
    assert source["parameters"] == {"source": "/data/taxi.csv", "splits": '{"train": 2}'}
    # the examples reached the model through transform (and directly, via evaluate: not here)
    assert [a["uri"] for a in source["artifacts"]] == [uris["examples"]]
    assert by_step["sources"] == answer["sources"]


def write_registry(root, name, serving, versions):
    (root / name).mkdir(parents=True)
    (root / name / "serving.json").write_text(json.dumps(serving))
    for version, source in versions.items():
        (root / name / str(version)).mkdir()
        info = {"version": version, "source_uri": source}
        (root / name / str(version) / "version.json").write_text(json.dumps(info))


def test_which_data_trained_the_model_a_registry_serves(ct_run, tmp_path):
    db, _, _, uris = ct_run
    registry = tmp_path / "registry"
    other = record_run(
        db,
        [
            task(
                "extract-data",
                outputs=[("examples", "system.Dataset", "/r2/ex")],
                parameters={"source": "/data/new.csv"},
            ),
            task(
                "train",
                inputs=[("examples", "system.Dataset", "/r2/ex")],
                outputs=[("model", "system.Model", "/r2/model")],
            ),
        ],
        {"source": "/data/new.csv"},
    )
    write_registry(
        registry,
        "taxi",
        {"stable": 1, "canary": {"version": 2, "traffic_percent": 10}},
        {1: uris["model"], 2: "/r2/model"},
    )
    with LineageStore(db) as store:
        stable = lineage.serving_training_data(store, registry, "taxi")
        canary = lineage.serving_training_data(store, registry, "taxi", "canary")
        write_registry(registry, "empty", {"stable": None, "canary": None}, {})
        with pytest.raises(LineageError, match="no stable version"):
            lineage.serving_training_data(store, registry, "empty")
    assert (stable["version"], stable["source_uri"]) == (1, uris["model"])
    assert stable["sources"][0]["parameters"]["source"] == "/data/taxi.csv"
    assert canary["version"] == 2 and canary["run"]["id"] == other
    assert canary["sources"][0]["parameters"] == {"source": "/data/new.csv"}


def test_a_failing_task_records_the_run_as_failed_naming_the_task(tmp_path):
    db = tmp_path / "lineage.sqlite"
    failed = task(
        "train",
        status="FAILURE",
        exit_code=1,
        log_tail=["Traceback (most recent call last):", "ValueError: no rows", ""],
    )
    with pytest.raises(RuntimeError, match="Inner task failed"):
        record_run(db, [task("extract-data"), failed], {}, RuntimeError("Inner task failed"))
    with LineageStore(db) as store:
        [run] = store.runs()
        [_, train] = store.run(run["id"])["tasks"]
    assert run["status"] == "FAILED" and run["failed_task"] == "train"
    assert run["reason"] == "task train FAILURE, exit code 1: ValueError: no rows"
    assert train["status"] == "FAILURE" and train["log_tail"][1] == "ValueError: no rows"


def test_an_error_outside_any_task_is_the_reason(tmp_path):
    db = tmp_path / "lineage.sqlite"
    with pytest.raises(ValueError):
        record_run(db, [task("extract-data")], {}, ValueError("bad argument"))
    with LineageStore(db) as store:
        [run] = store.runs()
    assert (run["status"], run["failed_task"], run["reason"]) == ("FAILED", None, "bad argument")


def test_a_tasks_log_file_is_recorded_as_it_starts_and_a_kill_is_the_reason(tmp_path):
    db = tmp_path / "lineage.sqlite"
    killed = task("train", status="RUNNING", ended_at=None, log_path="/runs/logs/train.log")
    with (
        pytest.raises(RuntimeError),
        recorded_run(db, "ct-pipeline", None, "/runs", {}, {}) as recorder,
    ):
        recorder.task_started(killed)
        with LineageStore(db) as store:  # a reader while the task runs: the UI, tail -f
            running = store.run("latest")["tasks"][0]
        assert (running["status"], running["log_path"]) == ("RUNNING", "/runs/logs/train.log")
        killed.status, killed.exit_code, killed.ended_at = "FAILURE", 137, 105.0
        killed.error = "killed by SIGKILL (exit code 137): out of memory"
        recorder.task_finished(killed)
        raise RuntimeError("Inner task failed")
    with LineageStore(db) as store:
        run = store.run("latest")
    assert run["tasks"][0]["log_path"] == "/runs/logs/train.log"
    assert run["reason"] == (
        "task train FAILURE, exit code 137: killed by SIGKILL (exit code 137): out of memory"
    )
    assert "log /runs/logs/train.log" in render.render_run(run)


def test_a_store_written_before_log_files_gains_the_column(tmp_path):
    import sqlite3

    db = tmp_path / "old.sqlite"
    old = lineage.SCHEMA.replace(",\n    log_path TEXT", "")
    assert "log_path" not in old
    with sqlite3.connect(db) as connection:
        connection.executescript(old)
    with LineageStore(db) as store:
        run_id = store.start_run("p", {})
        store.start_execution(run_id, task("extract-data", log_path="/l/extract-data.log"))
        [execution] = store.run(run_id)["tasks"]
    assert execution["log_path"] == "/l/extract-data.log"


def test_decisions_are_kept_newest_first_and_by_kind(tmp_path):
    with LineageStore(tmp_path / "lineage.sqlite") as store:
        store.record_decision("trigger", "skip", "no new data", at=1.0)
        store.record_decision("trigger", "run", "drift 0.3 > 0.1", run_id="r1", at=2.0)
        store.record_decision("deploy", "canary", "blessed", details={"version": 2}, at=3.0)
        triggers = store.decisions("trigger")
        everything = store.decisions()
    assert [(d["decision"], d["reason"], d["run_id"]) for d in triggers] == [
        ("run", "drift 0.3 > 0.1", "r1"),
        ("skip", "no new data", None),
    ]
    assert [d["kind"] for d in everything] == ["deploy", "trigger", "trigger"]
    assert everything[0]["details"] == {"version": 2}


def test_fingerprints_only_small_local_contents(tmp_path):
    small, big = tmp_path / "small", tmp_path / "big"
    small.write_bytes(b"x" * 10)
    big.write_bytes(b"x" * 100)
    assert lineage.fingerprint(str(small), limit=50) == (
        "sha256:" + hashlib.sha256(b"x" * 10 + b"\0").hexdigest()
    )
    assert lineage.fingerprint(str(big), limit=50) is None
    assert lineage.fingerprint("gs://bucket/model") is None
    assert lineage.normalize_uri("/gcs/bucket/model/") == "gs://bucket/model"


def test_the_cli_answers_from_the_store(ct_run, tmp_path, capsys):
    db, run_id, _, uris = ct_run
    base = ["--root", str(tmp_path), "lineage", "--db", str(db)]
    assert main([*base, "training-data", uris["model"]]) == 0
    text = capsys.readouterr().out
    assert "data from extract-data" in text and '"source": "/data/taxi.csv"' in text
    assert main([*base, "--json", "run", "latest"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == run_id and len(shown["tasks"]) == 4
    assert main([*base, "artifact", uris["model"]]) == 0
    assert "produced by train" in capsys.readouterr().out
    assert main([*base, "run", "nope"]) == 2
    assert "no run with id 'nope'" in capsys.readouterr().err
    assert main(["--root", str(tmp_path), "lineage", "runs"]) == 2
    assert "no lineage store yet" in capsys.readouterr().err


# --- a real local run in Docker ------------------------------------------------------------


class Collector:
    def __init__(self):
        self.events = []
        self.last = {}

    def task_started(self, record):
        self.events.append(("started", record.task, record.status))

    def task_finished(self, record):
        self.events.append(("finished", record.task, record.status))
        self.last[record.task] = record


@pytest.fixture(scope="module")
def compiled_hello(built_project_factory):
    """The sample project built into the session registry and compiled, once per module."""
    root, packages = built_project_factory("lin")
    return root, packages["hello_pipeline"]


def image_in_spec(root, component):
    spec = yaml.safe_load((root / "components" / component / "component.yaml").read_text())
    return spec["implementation"]["container"]["image"]


@pytest.mark.docker
def test_a_local_run_is_observed_and_recorded(compiled_hello, tmp_path):
    from mlops.local_runs.runner import run_package

    root, package = compiled_hello
    collector = Collector()
    outputs = run_package(
        package, tmp_path / "runs", {"message": "one two three"}, None, [collector]
    )
    assert outputs == {"Output": 9}
    assert collector.events == [
        ("started", "hello", "RUNNING"),
        ("finished", "hello", "SUCCESS"),
        ("started", "word-count", "RUNNING"),
        ("finished", "word-count", "SUCCESS"),
    ]
    hello, count = collector.last["hello"], collector.last["word-count"]
    for record, component in ((hello, "hello"), (count, "word_count")):
        assert record.image_ref == image_in_spec(root, component)
        assert record.image_digest.endswith("@" + record.image_ref.partition("@")[2])
        assert record.image_id.startswith("sha256:") and record.exit_code == 0
        assert record.peak_memory_bytes > 0 and record.peak_rss_bytes > 0
        assert record.started_at <= record.ended_at
    assert hello.input_parameters == {"message": "one two three", "repeat": 3}
    assert any("wrote 42 characters" in line for line in hello.log_tail)
    [text] = hello.output_artifacts
    assert count.input_artifacts == [text] and text.name == "text"
    assert (tmp_path / "runs").as_posix() in text.uri
    assert count.output_parameters == {"words": 9}

    # Recorded in the project's own store, and the lineage walks back to hello's parameters.
    with LineageStore(root / lineage.DEFAULT_DB) as store:
        run = store.run("latest")
        summary = next(a for a in run["tasks"][1]["outputs"] if a["event_name"] == "summary")
        tree = store.lineage(summary["uri"])
        data = store.training_data(summary["uri"])
    assert run["status"] == "SUCCEEDED" and run["outputs"] == {"Output": 9}
    assert [t["task"] for t in run["tasks"]] == ["hello", "word-count"]
    assert run["tasks"][0]["peak_rss_bytes"] == hello.peak_rss_bytes
    assert tree["produced_by"]["task"] == "word-count"
    [text_input] = tree["produced_by"]["inputs"]
    assert text_input["artifact"]["uri"] == text.uri
    assert text_input["produced_by"]["parameters"]["message"] == "one two three"
    assert [s["task"] for s in data["sources"]] == ["hello"]


@pytest.mark.docker
def test_a_failing_step_records_the_run_as_failed(compiled_hello, tmp_path):
    from mlops.local_runs.runner import run_package

    root, package = compiled_hello
    db = tmp_path / "lineage.sqlite"
    with pytest.raises(BuildError, match="the local run failed"):
        run_package(package, tmp_path / "runs", {"message": "x", "repeat": 0}, db)
    with LineageStore(db) as store:
        run = store.run("latest")
    assert (run["status"], run["failed_task"]) == ("FAILED", "hello")
    assert run["reason"].startswith("task hello FAILURE, exit code 1: ValueError: --repeat")
    assert [(t["task"], t["status"]) for t in run["tasks"]] == [("hello", "FAILURE")]
