"""`python -m mlops status`: the serving model and the data that trained it (registry +
lineage), the last runs, the spans seen and the trigger decisions, as text and as JSON."""

from __future__ import annotations

import json

from trigger_fakes import FakeStart, summary, trigger_project, write_span

from mlops.lineage.store import DEFAULT_DB, LineageStore
from mlops.local_runs.runner import ArtifactRecord, TaskRecord
from mlops.monitoring import status
from mlops.triggers.watcher import Watcher


def _serving_model(root, data: str) -> str:
    """A CT run's lineage (extract-data -> train-model) and a registry serving its model as
    stable version 1, with a canary version 2 from the same model."""
    model_uri = str(root / "runs" / "model")
    examples = str(root / "runs" / "examples")
    with LineageStore(root / DEFAULT_DB) as store:
        run_id = store.start_run("continuous-training", {"source": data})
        extract = TaskRecord("extract-data", "comp-extract-data", "img", {"source": data})
        x = store.start_execution(run_id, extract)
        extract.status = "SUCCESS"
        extract.output_artifacts = [ArtifactRecord("examples", "system.Dataset", examples)]
        store.finish_execution(x, extract)
        train = TaskRecord("train-model", "comp-train-model", "img", started_at=1.0)
        train.input_artifacts = [ArtifactRecord("examples", "system.Dataset", examples)]
        x = store.start_execution(run_id, train)
        train.status = "SUCCESS"
        train.output_artifacts = [ArtifactRecord("model", "system.Model", model_uri)]
        store.finish_execution(x, train)
        store.finish_run(run_id, "SUCCEEDED")
    registry = root / ".local" / "model_registry" / "taxi_big_tipper"
    for version in ("1", "2"):
        (registry / version).mkdir(parents=True)
        (registry / version / "version.json").write_text(json.dumps({"source_uri": model_uri}))
    (registry / "serving.json").write_text(
        json.dumps({"stable": 1, "canary": {"version": 2, "traffic_percent": 10}})
    )
    return run_id


def test_status_shows_serving_runs_spans_and_decisions(tmp_path, capsys):
    root = trigger_project(tmp_path / "project")
    trained = _serving_model(root, "/data/taxi.csv")
    start = FakeStart(
        root,
        verdicts={"drifted.csv": summary(drifted=["fare"])},
        fail_checks={"garbage.csv"},
    )
    write_span(root, "drifted.csv")
    write_span(root, "garbage.csv")
    Watcher(root, start=start).poll_once()
    training_run = next(c for c in start.calls if c["pipeline"] == "ct_pipeline")
    assert training_run["data"].endswith("drifted.csv")

    answer = status.gather(root)
    serving = answer["serving"]
    assert (serving["stable"], serving["canary"], serving["canary_percent"]) == (1, 2, 10)
    assert serving["stable_trained_on"]["run_id"] == trained
    assert serving["stable_trained_on"]["sources"][0]["data"] == "/data/taxi.csv"
    assert answer["span_counts"] == {"claimed": 0, "done": 1, "failed": 1}
    kinds = sorted((d["kind"], d["decision"]) for d in answer["decisions"])
    assert kinds == [
        ("drift", "failed"),
        ("drift", "retrain"),
        ("new_data", "check"),
        ("new_data", "check"),
    ]
    retrain = next(d for d in answer["decisions"] if d["decision"] == "retrain")
    pipelines = {r["id"]: r["pipeline"] for r in answer["runs"]}
    assert pipelines[retrain["run_id"]] == "ct_pipeline"  # the decision beside its run

    text = status.render(answer)
    assert "stable version 1" in text and "trained on /data/taxi.csv" in text
    assert "canary version 2 (10% of traffic)" in text
    assert "drifted.csv  done  retrain: drift in fare" in text
    assert "garbage.csv  failed  failed: the drift check run" in text
    assert f"run {retrain['run_id']}" in text

    from mlops import cli

    capsys.readouterr()  # the watcher's progress lines
    assert cli.main(["--root", str(root), "status", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["span_counts"]["failed"] == 1 and printed["serving"]["stable"] == 1
    assert cli.main(["--root", str(root), "status"]) == 0
    assert "Last decisions" in capsys.readouterr().out


def test_status_before_any_model_or_run(tmp_path):
    root = trigger_project(tmp_path / "project")
    answer = status.gather(root)
    assert "no serving state" in answer["serving"]["error"]
    assert answer["runs"] == [] and answer["spans"] == [] and answer["decisions"] == []
    text = status.render(answer)
    assert "(no runs)" in text and "(no spans)" in text and "(no decisions)" in text
