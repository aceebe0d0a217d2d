"""The drift trigger (mlops.triggers.drift): a validate-only run on each new span decides
whether to retrain. Unit tests with trigger_fakes.FakeStart, then one Docker test with REAL
validate_pipeline runs through kfp.local (the training run it triggers goes to the KFP
double, to keep the test within a minute or two)."""

from __future__ import annotations

import csv
import random
import shutil
from pathlib import Path

import pytest
import yaml
from trigger_fakes import FakeStart, summary, trigger_project, write_span

from mlops.core.paths import REPO
from mlops.lineage.store import DEFAULT_DB, LineageStore
from mlops.testing.projects import repo_settings
from mlops.triggers.drift import check_span, classify


def drift_decisions(root):
    with LineageStore(root / DEFAULT_DB) as store:
        return store.decisions("drift")


@pytest.fixture
def root(tmp_path):
    return trigger_project(tmp_path / "project")


def test_a_drifted_span_starts_training_with_the_checks_own_statistics(root):
    path = write_span(root, "day1.csv")
    start = FakeStart(root, verdicts={"day1.csv": summary(drifted=["fare", "payment_type"])})
    decision = check_span(root, str(path), start=start)
    assert decision.decision == "retrain"
    check, training = start.calls
    assert check["pipeline"] == "validate_pipeline" and check["data"] == str(path)
    assert training["pipeline"] == "ct_pipeline" and training["data"] == str(path)
    # The drift reference of the training run: the statistics the check computed on the span.
    assert training["previous_statistics"] == decision.details["check_statistics"]
    assert training["previous_statistics"].endswith("/statistics")
    assert "drift in fare, payment_type" in training["reason"]
    [recorded] = drift_decisions(root)
    assert recorded["decision"] == "retrain" and recorded["run_id"] == decision.run_id
    with LineageStore(root / DEFAULT_DB) as store:
        assert store.run(recorded["run_id"])["pipeline"] == "ct_pipeline"
    assert recorded["details"]["drifted_features"] == ["fare", "payment_type"]
    assert recorded["details"]["check_run"] != recorded["run_id"]
    assert "fare (jensen_shannon_divergence 0.400 > 0.15)" in recorded["reason"]


def test_an_undrifted_span_is_recorded_and_starts_nothing(root):
    path = write_span(root, "day1.csv")
    start = FakeStart(root)
    decision = check_span(root, str(path), start=start)
    assert decision.decision == "no_drift" and decision.run_id is None
    assert start.pipelines() == ["validate_pipeline"]
    [recorded] = drift_decisions(root)
    assert recorded["details"]["measurements"][0]["feature"] == "fare"


def test_schema_anomalies_are_a_failed_check_even_beside_drift(root):
    path = write_span(root, "day1.csv")
    bad = summary(
        drifted=["fare"],
        other=[{"section": "eval", "feature": "company", "anomaly": "Unexpected data type"}],
    )
    start = FakeStart(root, verdicts={"day1.csv": bad})
    decision = check_span(root, str(path), start=start)
    assert decision.decision == "failed"
    assert "eval: company: Unexpected data type" in decision.reason
    assert start.pipelines() == ["validate_pipeline"]


def test_retrain_on_drift_false_records_the_drift_only(tmp_path):
    root = trigger_project(tmp_path / "p", **{"triggers.drift.retrain_on_drift": False})
    path = write_span(root, "day1.csv")
    start = FakeStart(root, verdicts={"day1.csv": summary(drifted=["fare"])})
    decision = check_span(root, str(path), start=start)
    assert decision.decision == "drift_not_retrained"
    assert "retrain_on_drift is false" in decision.reason
    assert start.pipelines() == ["validate_pipeline"]


def test_a_failed_check_run_is_a_failed_check_with_its_reason(root):
    path = write_span(root, "garbage.csv")
    start = FakeStart(root, fail_checks={"garbage.csv"})
    decision = check_span(root, str(path), start=start)
    assert decision.decision == "failed"
    assert "failed at extract-data: exit code 1: not a CSV" in decision.reason


def test_a_non_local_target_is_a_failed_check_naming_it(tmp_path):
    root = trigger_project(tmp_path / "p", **{"environments.local.deploy.target": "kfp"})
    start = FakeStart(root)
    decision = check_span(root, str(write_span(root, "d.csv")), start=start)
    assert decision.decision == "failed" and "deploy.target 'kfp'" in decision.reason
    assert start.calls == []


def test_classify_separates_drift_from_other_anomalies():
    found = summary(
        drifted=["fare"],
        other=[{"section": "train", "feature": "tips", "anomaly": "Out-of-range values"}],
    )
    drifted, measurements, other = classify(found)
    assert drifted == ["fare"]
    assert [m["feature"] for m in measurements] == ["fare"]
    assert other == [{"section": "train", "feature": "tips", "anomaly": "Out-of-range values"}]


# --- real validate-only runs in Docker ---------------------------------------------------------

COMPONENTS = ("extract_data", "validate_data")
MODEL = "drift_taxi"
ROWS = 1500


def _write_csv(path: Path, rows: list[dict], fields=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields or list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def docker_project(tmp_path_factory):
    from mlops.ci.compile import compile_all
    from mlops.ci.spec_rewrite import rewrite_images
    from mlops.testing.component_testing import build_image

    root = tmp_path_factory.mktemp("drift")
    for folder in ("components", "pipelines"):
        shutil.copytree(
            REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__", "tests")
        )
    shutil.copy(REPO / "requirements.lock", root)
    with (REPO / "data" / "chicago_taxi" / "data.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    # The file is ordered (by area and time): random samples are the same distribution.
    random.Random(0).shuffle(rows)
    settings = repo_settings()
    settings["model"]["name"] = MODEL
    settings["triggers"]["new_data"]["prefix"] = "incoming"
    settings["pipelines"]["validate_pipeline"] = {
        "parameters": {"beam_args": '["--runner=DirectRunner", "--direct_num_workers=1"]'}
    }
    (root / "settings.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    images = {name: build_image(name) for name in COMPONENTS}
    rewrite_images({root / "components" / n / "component.yaml": i for n, i in images.items()})
    compile_all(root)
    return {"root": root, "rows": rows, "settings": settings}


def _serve_a_model_trained_on(root: Path, baseline) -> None:
    """What a CT run on the baseline leaves, without training: the registry serves version 1,
    copied from a model the baseline run produced (a train-model execution in its lineage),
    so drift_reference finds the baseline's validate-data statistics."""
    import json

    from mlops.local_runs.runner import ArtifactRecord, TaskRecord

    model_uri = str(root / "dist" / "fake_model")
    version = root / ".local" / "model_registry" / MODEL / "1"
    version.mkdir(parents=True)
    (version / "version.json").write_text(json.dumps({"source_uri": model_uri}))
    (version.parent / "serving.json").write_text(json.dumps({"stable": 1, "canary": None}))
    with LineageStore(root / DEFAULT_DB) as store:
        record = TaskRecord("train-model", "comp-train-model", "img", started_at=2e9)
        execution = store.start_execution(baseline.run_id, record)
        record.status = "SUCCESS"
        record.output_artifacts = [ArtifactRecord("model", "system.Model", model_uri)]
        store.finish_execution(execution, record)


@pytest.mark.docker
def test_real_checks_drifted_starts_training_clean_does_not_bad_input_fails(
    docker_project, kfp_api, monkeypatch
):
    from mlops.core.deploy_settings import load_deploy_settings
    from mlops.ct import ct_run
    from mlops.deploy.kfp_deploy import KfpDeployer
    from mlops.monitoring import status
    from mlops.triggers.runs import start_run
    from mlops.triggers.watcher import Watcher

    root, rows = docker_project["root"], docker_project["rows"]
    # An environment on the KFP double for the training run; the ct_pipeline version of this
    # "commit" deployed there as `make deploy` would.
    settings = dict(docker_project["settings"])
    settings["environments"] = {
        **settings["environments"],
        "kfpdouble": {"deploy": {"target": "kfp", "kfp": {"host": kfp_api.host}, "retries": 2}},
    }
    (root / "settings.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    monkeypatch.setenv("COMMIT_SHA", "c0ffee" * 6 + "abcd")
    kfp = KfpDeployer(load_deploy_settings(root, "kfpdouble"))
    pipeline_id, _ = kfp.pipeline("ct_pipeline", "the CT pipeline")
    kfp.version(
        pipeline_id, root / "dist" / "ct_pipeline" / "workflow.tar.gz", "c0ffee" * 6 + "abcd"
    )

    # The serving model's training data: a real check of the baseline gives its statistics.
    baseline = start_run(
        root,
        "validate_pipeline",
        "baseline",
        data=str(_write_csv(root / "baseline" / "b.csv", rows[:ROWS])),
    )
    assert baseline.status == "SUCCEEDED"
    assert Path(baseline.details["previous_statistics"]).name == "no_statistics"
    _serve_a_model_trained_on(root, baseline)
    reference = ct_run.drift_reference(
        root, str(root / ".local/model_registry"), MODEL, root / DEFAULT_DB
    )
    assert reference.name == "statistics" and baseline.details["run_dir"] in str(reference)

    incoming = root / "incoming"
    _write_csv(incoming / "clean.csv", rows[ROWS : 2 * ROWS])
    drifted = [
        dict(r, fare=str(float(r["fare"] or 0) * 2))
        for r in rows[2 * ROWS : 4 * ROWS]
        if r["payment_type"] != "Cash"
    ][:ROWS]
    _write_csv(incoming / "drifted.csv", drifted)
    renamed = [{("fare_usd" if k == "fare" else k): v for k, v in r.items()} for r in rows[:300]]
    _write_csv(incoming / "other_header.csv", renamed)
    (incoming / "garbage.csv").write_bytes(random.Random(7).randbytes(4096))

    def start(root, pipeline, reason, **kwargs):
        if pipeline == "ct_pipeline":
            kwargs["env"] = "kfpdouble"  # the training run: to the KFP double
        return start_run(root, pipeline, reason, **kwargs)

    watcher = Watcher(root, start=start, settle_s=0.0)
    found = {Path(d.span).name: d for d in watcher.poll_once()}
    assert {k: d.decision for k, d in found.items()} == {
        "clean.csv": "no_drift",
        "drifted.csv": "retrain",
        "garbage.csv": "failed",
        "other_header.csv": "failed",
    }, {k: d.reason for k, d in found.items()}

    # Drift: fares doubled and no cash payments, measured against the baseline's statistics.
    retrain = found["drifted.csv"]
    assert {"fare", "payment_type"} <= set(retrain.details["drifted_features"])
    [run] = kfp_api.runs.values()
    assert run["run_id"] == retrain.run_id
    parameters = run["runtime_config"]["parameters"]
    assert parameters["source"] == str(incoming / "drifted.csv")
    assert parameters["previous_statistics_uri"] == retrain.details["check_statistics"]
    assert parameters["model_name"] == MODEL
    clean = found["clean.csv"]
    assert all(m["value"] <= m["threshold"] for m in clean.details["measurements"])
    assert clean.details["measurements"], "drift was measured against the baseline"
    assert "fare" in found["other_header.csv"].reason  # the schema's column is missing
    assert "garbage.csv" in str(found["garbage.csv"].span)

    # Nothing twice: a second poll and a restarted watcher find every span seen.
    assert watcher.poll_once() == []
    assert Watcher(root, start=start, settle_s=0.0).poll_once() == []
    assert len(kfp_api.runs) == 1
    answer = status.gather(root)
    assert answer["span_counts"] == {"claimed": 0, "done": 2, "failed": 2}
    text = status.render(answer)
    assert retrain.run_id in text and "no_drift" in text and "drift in" in text


def test_classify_counts_drift_strictly_above_its_threshold_and_only_drift():
    at, over, skew = (
        {"feature": "a", "comparison": "drift", "value": 0.15, "threshold": 0.15},
        {"feature": "b", "comparison": "drift", "value": 0.16, "threshold": 0.15},
        {"feature": "c", "comparison": "skew", "value": 0.9, "threshold": 0.15},
    )
    no_value = {"feature": "d", "comparison": "drift", "threshold": 0.5}
    no_threshold = {"feature": "e", "comparison": "drift", "value": 0.99}
    found = {"measurements": [at, over, skew, no_value, no_threshold]}
    assert classify(found) == ([], [over], [])
    assert classify({"measurements": [{**no_threshold, "value": 1.01}]})[1] != []
    assert classify({}) == ([], [], [])


def test_the_drift_reason_lists_each_measurement(root):
    path = write_span(root, "day1.csv")
    found = summary(drifted=["fare", "tips"])
    found["measurements"][1].pop("measure")
    start = FakeStart(root, verdicts={"day1.csv": found})
    decision = check_span(root, str(path), start=start, span_key="k1")
    assert decision.reason.startswith(
        "drift in fare, tips: fare (jensen_shannon_divergence 0.400 > 0.15), "
        "tips (distance 0.400 > 0.15): training run "
    )
    assert (decision.span, decision.details["span_key"], decision.details["data"]) == (
        str(path),
        "k1",
        str(path),
    )
    [recorded] = drift_decisions(root)
    assert recorded["details"]["span"] == str(path) and recorded["details"]["span_key"] == "k1"
    assert decision.to_dict() == {
        "kind": "drift",
        "decision": "retrain",
        "reason": decision.reason,
        "run_id": decision.run_id,
        "span": str(path),
        "details": decision.details,
        "decision_id": recorded["id"],
    }


def test_a_decision_is_recorded_at_the_time_given(root):
    from mlops.triggers.drift import Decision, record

    decision = record(root, Decision("drift", "no_drift", "fine", span="s"), at=1234.5)
    [recorded] = drift_decisions(root)
    assert recorded["at"] == 1234.5 and recorded["id"] == decision.decision_id
    assert recorded["details"] == {"span": "s"} and not decision.failed


def test_settings_that_do_not_load_are_a_failed_check(tmp_path, capsys):
    root = trigger_project(tmp_path / "p", **{"triggers.drift.retrain_on_drift": "maybe"})
    start = FakeStart(root)
    decision = check_span(root, "s.csv", start=start)
    assert decision.decision == "failed" and decision.failed
    assert decision.reason.startswith("the drift check cannot run: ")
    assert start.calls == []
    assert capsys.readouterr().out == f"[drift] s.csv: failed: {decision.reason}\n"


def test_check_outputs_reads_the_run_as_the_lineage_store_has_it(root):
    from mlops.triggers.drift import check_outputs

    path = write_span(root, "day1.csv")
    decision = check_span(root, str(path), start=FakeStart(root))
    found = check_outputs(root, decision.details["check_run"])
    assert found == {
        "status": "SUCCEEDED",
        "failed_task": None,
        "reason": None,
        "summary": summary(),
        "statistics": decision.details["check_statistics"],
    }
