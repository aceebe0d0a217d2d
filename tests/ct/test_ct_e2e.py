"""The CT pipeline end to end, as `make run` runs it (mlops.ct.ct_run): compiled from pipelines/,
every step in its component's real image through kfp.local's DockerRunner, on a reduced taxi
sample, ending with the model served by the prediction service in its own container.

Runs on one project: the first (no serving model: judged on value thresholds, deployed as
stable, served); a second on the same data (training reused from the step cache, drift
measured against the first run's statistics, the same model judged against the serving one
and recorded as unchanged); two around a rollback, each evaluated against the baseline the
registry serves then: one whose gate must refuse (settings that ask the candidate to beat the
serving model, which is the same model), and one started by the degradation check with its
real start (the live predictions labelled wrong); a last on drifted data, which stops at
validation with the reason and leaves serving as it was. After them, in file order, the web
UI over these runs in a real browser."""

import csv
import json
import shutil
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from mlops_runtime.charts import human

from mlops.core.paths import REPO
from mlops.testing.html_text import texts
from mlops.testing.projects import repo_settings

COMPONENTS = (
    "extract_data",
    "validate_data",
    "transform_data",
    "train_model",
    "resolve_baseline",
    "evaluate_model",
    "deploy_model",
)
ROWS = 2400
MODEL = "e2e_taxi"  # not the name `make run` serves, so its service is left alone


def _write_csv(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _taxi_rows() -> list[dict]:
    with (REPO / "data" / "chicago_taxi" / "data.csv").open(newline="") as f:
        return list(csv.DictReader(f))[:ROWS]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from mlops.ci.compile import compile_all
    from mlops.ci.spec_rewrite import rewrite_images
    from mlops.testing.component_testing import build_image
    from mlops.testing.local_registry import free_port

    root = tmp_path_factory.mktemp("ct").resolve()
    shutil.copytree(
        REPO / "components", root / "components", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(
        REPO / "pipelines", root / "pipelines", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "requirements.lock", root)
    _write_csv(root / "data" / "chicago_taxi" / "data.csv", _taxi_rows())
    settings = repo_settings()
    settings["model"]["name"] = MODEL
    # Absolute, as a trigger passes it: the run the degradation check starts on data.source
    # then has the parameters of the runs started here, and reuses their steps.
    settings["data"]["source"] = str(root / "data" / "chicago_taxi" / "data.csv")
    settings["serving"]["port"] = free_port()
    settings["pipelines"]["ct_pipeline"] = {
        # One in-process worker: small data, a shared machine.
        "parameters": {"beam_args": '["--runner=DirectRunner", "--direct_num_workers=1"]'}
    }
    (root / "settings.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    images = {name: build_image(name) for name in COMPONENTS}
    rewrite_images({root / "components" / n / "component.yaml": i for n, i in images.items()})
    compile_all(root)
    yield {"root": root, "images": images, "settings": settings}
    from mlops.serving import service as serving

    serving.stop(MODEL)


def _serving_json(root: Path) -> dict:
    return json.loads((root / ".local" / "model_registry" / MODEL / "serving.json").read_text())


def _run(project, data=None):
    from mlops.ct import ct_run

    return ct_run.run(project["root"], data=data, service_image=project["images"]["deploy_model"])


def _instances(spec: dict, rows: list[dict]) -> list[dict]:
    """JSON rows as a client sends them: typed values, null for an empty cell."""
    cast = {"int64": int, "float32": float, "string": str}
    return [
        {k: (cast[v["dtype"]](r[k]) if r.get(k, "") != "" else None) for k, v in spec.items()}
        for r in rows
    ]


def _examples(spec: dict, rows: list[dict]) -> list[bytes]:
    import tensorflow as tf

    out = []
    for r in rows:
        features = {}
        for k, v in spec.items():
            if r.get(k, "") == "":
                continue
            if v["dtype"] == "int64":
                features[k] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(r[k])]))
            elif v["dtype"] == "float32":
                features[k] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(r[k])]))
            else:
                features[k] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[r[k].encode()]))
        example = tf.train.Example(features=tf.train.Features(feature=features))
        out.append(example.SerializeToString())
    return out


def _degraded_then_retrained(project, url: str, second) -> dict:
    """Live predictions of the stable version, labels that make it degraded, then the
    degradation check with its real start: a local CT run. Returns the run's deployment
    record. The run reuses the second run's evaluation against version 1."""
    from mlops.lineage import store as lineage
    from mlops.monitoring import degradation
    from mlops.serving import service as serving

    root, registry = project["root"], project["root"] / ".local" / "model_registry"
    # The service follows serving.json by itself: wait until it routes to version 1.
    deadline = time.monotonic() + 60
    while ((serving.status(url) or {}).get("routing") or {}).get("stable") != "1":
        assert time.monotonic() < deadline, serving.status(url)
        time.sleep(0.5)
    rows = _taxi_rows()[:60]
    spec = json.loads((registry / MODEL / "1" / "mlops_model.json").read_text())
    body = json.dumps({"instances": _instances(spec["raw_feature_spec"], rows)}).encode()
    request = urllib.request.Request(
        url + ":predict", data=body, headers={"X-Request-Id": "e2e-degraded"}
    )
    with urllib.request.urlopen(request) as answer:
        served = json.loads(answer.read())
    assert served["model_version"] == "1"
    wrong = [0 if p[0] > 0.5 else 1 for p in served["predictions"]]
    labels = root / "data" / "labels" / "taxi" / "labels.csv"
    labels.parent.mkdir(parents=True, exist_ok=True)
    labels.write_text(
        "request_id,index,label\n" + "".join(f"e2e-degraded,{i},{y}\n" for i, y in enumerate(wrong))
    )
    # The e2e's images are local tags, not the registry digests `make build` pins: the service
    # image is the one the e2e built, as its other runs pass it.
    original = serving.deploy_model_image
    serving.deploy_model_image = lambda _root: project["images"]["deploy_model"]
    try:
        check = degradation.check(root)
    finally:
        serving.deploy_model_image = original
    assert check.decision == "retrain", check.reason
    assert check.reason.startswith(
        "binary_accuracy of version 1 is 0 over the last 60 labelled predictions, below the "
        "threshold 0.75 by 0.75"
    )
    assert check.reason.endswith(
        f": retraining on {root / 'data' / 'chicago_taxi' / 'data.csv'} (run succeeded)"
    )
    assert check.figures["run"]["status"] == "SUCCEEDED" and check.run_id
    with lineage.LineageStore(root / ".local" / "lineage.sqlite") as store:
        [decision] = store.decisions("degradation")
        run = store.run(check.run_id)
    assert (decision["decision"], decision["run_id"]) == ("retrain", check.run_id)
    assert decision["details"]["model_version"] == "1" and decision["details"]["value"] == 0
    assert run["status"] == "SUCCEEDED" and run["pipeline_root"] == str(
        check.figures["run"]["details"]["run_dir"]
    )
    tasks = {t["task"]: t for t in run["tasks"]}
    assert all(t["status"] == "SUCCESS" for t in tasks.values()) and len(tasks) == 7
    # Its evaluation is the second run's against version 1 (not the one against version 2).
    evaluation = tasks["evaluate-model"]
    assert evaluation["cached_from"] is not None
    earlier = next(r for r in second.steps if r.task == "evaluate-model")
    assert {a["uri"] for a in evaluation["outputs"]} == {
        lineage.normalize_uri(a.uri) for a in earlier.output_artifacts
    }
    blessing = next(a for a in evaluation["outputs"] if Path(a["uri"]).name == "blessing")
    assert (
        json.loads((Path(blessing["uri"]) / "blessing.json").read_text())["baseline_version"] == 1
    )
    outputs = tasks["deploy-model"]["outputs"]
    deploy = next(a for a in outputs if Path(a["uri"]).name == "deployment")
    # Held: a second check starts no second run for the same version.
    again = degradation.check(root)
    assert again.decision == "held" and again.run_id == check.run_id
    return json.loads((Path(deploy["uri"]) / "deployment.json").read_text())


@pytest.mark.docker
def test_three_runs_first_second_and_drifted(project):
    import tensorflow as tf

    from mlops.core.errors import BuildError
    from mlops.lineage import store as lineage

    root = project["root"]
    registry = root / ".local" / "model_registry"

    # 1. The first run: every step, blessed on value thresholds, stable, served.
    first = _run(project)
    assert first.status == "SUCCEEDED"
    steps = {r.task: r for r in first.steps}
    # In start order; resolve-baseline depends on nothing and starts whenever a CPU is free.
    order = [task for task in steps if task != "resolve-baseline"]
    assert order[0] == "extract-data" and set(order[1:3]) == {"validate-data", "transform-data"}
    assert order[3:] == ["train-model", "evaluate-model", "deploy-model"]
    assert steps["resolve-baseline"].ended_at <= steps["evaluate-model"].started_at
    # Validation and transformation both start after extraction; training after both.
    for upstream, downstream in (
        ("extract-data", "validate-data"), ("extract-data", "transform-data"),
        ("validate-data", "train-model"), ("transform-data", "train-model"),
    ):  # fmt: skip
        assert steps[upstream].ended_at <= steps[downstream].started_at
    assert all(r.status == "SUCCESS" and r.peak_rss_bytes for r in first.steps)
    assert Path(first.previous_statistics).name == "no_statistics"
    facts = __import__("mlops.ct.run_report", fromlist=["facts"]).facts(first)
    assert facts["rows"]["train"] + facts["rows"]["eval"] == ROWS
    assert facts["validation"]["decision"] == "continue"
    assert facts["blessing"]["blessed"] is True and facts["blessing"]["baseline_version"] is None
    overall = next(s for s in facts["slices"]["slices"] if s["slice"] == "Overall")
    assert overall["candidate"]["auc"] > 0.75  # the settings' value threshold
    assert facts["deployment"]["version"] == 1
    assert _serving_json(root)["stable"] == 1 and _serving_json(root)["canary"] is None
    report = first.report.read_text()
    assert texts(report, "p", "ok") == [f"SUCCEEDED in {human(first.seconds, 's')}"]
    assert texts(report, "span", "ok") == ["BLESSED"]  # the blessing's verdict
    assert texts(report, "li") == facts["blessing"]["reasons"]

    # The service answers as the same SavedModel does in-process, on the same raw rows.
    rows = _taxi_rows()[:8]
    spec = json.loads((registry / MODEL / "1" / "mlops_model.json").read_text())
    spec = spec["raw_feature_spec"]
    body = json.dumps({"instances": _instances(spec, rows)}).encode()
    url = first.service["url"] + ":predict"
    with urllib.request.urlopen(urllib.request.Request(url, data=body)) as answer:
        served = json.loads(answer.read())
    assert served["model_version"] == "1"
    model = tf.saved_model.load(str(registry / MODEL / "1"))
    local = model.signatures["serving_default"](examples=tf.constant(_examples(spec, rows)))
    expected = local["outputs"].numpy().reshape(-1).tolist()
    got = [p[0] for p in served["predictions"]]
    assert got == pytest.approx(expected, abs=1e-5)

    # Lineage: which data trained the serving model.
    with lineage.LineageStore(root / ".local" / "lineage.sqlite") as store:
        answer = lineage.serving_training_data(store, registry, MODEL)
    assert str(root / "data" / "chicago_taxi" / "data.csv") in json.dumps(answer)

    # 2. The same data again: extraction, transformation and training come from the step
    # cache (the model is the very artifact of the first run); validation runs again (its
    # drift reference is now the first run's statistics), the baseline is read from the
    # registry again (version 1), and the evaluation runs against it. The candidate is the
    # stable version already: deployment records "unchanged" and creates no version.
    second = _run(project)
    assert second.status == "SUCCEEDED"
    assert second.previous_statistics.endswith("validate-data/statistics")
    steps = {r.task: r for r in second.steps}
    assert {t for t, r in steps.items() if r.cached} == {
        "extract-data", "transform-data", "train-model"
    }  # fmt: skip
    assert any("input previous_statistics: content" in n for n in steps["validate-data"].cache_note)
    assert any("input baseline_model: content" in n for n in steps["evaluate-model"].cache_note)
    assert steps["resolve-baseline"].cache_decision == "off"  # reads the registry every run
    assert steps["train-model"].output_artifacts[0].uri == (
        next(r for r in first.steps if r.task == "train-model").output_artifacts[0].uri
    )
    facts = __import__("mlops.ct.run_report", fromlist=["facts"]).facts(second)
    assert facts["blessing"]["baseline_version"] == 1 and facts["blessing"]["blessed"] is True
    overall = next(s for s in facts["slices"]["slices"] if s["slice"] == "Overall")
    assert overall["diff"]["auc"] == pytest.approx(0.0, abs=1e-9)  # the same model
    deployment = facts["deployment"]
    assert (deployment["unchanged"], deployment["version"], deployment["role"]) == (
        True, 1, "stable"
    )  # fmt: skip
    state = _serving_json(root)
    assert state["stable"] == 1 and state["canary"] is None
    assert sorted(p.name for p in (registry / MODEL).iterdir() if p.is_dir()) == ["1"]

    # A rollback between two runs changes the evaluation: a version 2 (another model: version
    # 1's files and one more) becomes stable, a run evaluates against it; after
    # `make rollback` the next run evaluates against version 1 again.
    other = registry / MODEL / "2"
    shutil.copytree(registry / MODEL / "1", other)
    (other / "assets.extra").mkdir()
    (other / "assets.extra" / "note.txt").write_text("another model\n")
    info = json.loads((other / "version.json").read_text())
    (other / "version.json").write_text(json.dumps({**info, "version": 2, "content_digest": None}))
    promoted = {**state, "stable": 2, "history": [*state["history"], {**state["history"][-1],
                "action": "promote", "stable": 2}]}  # fmt: skip
    (registry / MODEL / "serving.json").write_text(json.dumps(promoted))
    # This run's gate must refuse: its settings ask a candidate to beat the serving model's
    # AUC by 0.02, and the candidate (version 1's model) scores exactly what version 2 (the
    # same SavedModel) scores on the same evaluation split, a difference of 0.
    strict = yaml.safe_load((root / "settings.yaml").read_text())
    strict["model"]["evaluation"]["change_thresholds"] = {
        "AUC": {"direction": "higher", "absolute": 0.02}
    }
    (root / "settings.yaml").write_text(yaml.safe_dump(strict, sort_keys=False))
    try:
        against_two = _run(project)
    finally:
        (root / "settings.yaml").write_text(yaml.safe_dump(project["settings"], sort_keys=False))
    assert against_two.status == "SUCCEEDED"  # a refusal is the gate working, not a failure
    steps = {r.task: r for r in against_two.steps}
    assert not steps["evaluate-model"].cached
    two = __import__("mlops.ct.run_report", fromlist=["facts"]).facts(against_two)
    assert two["blessing"]["baseline_version"] == 2 and two["blessing"]["blessed"] is False
    [failed] = two["blessing"]["failed_thresholds"]  # that threshold only: the values pass
    assert (failed["slice"], failed["metric_key"], failed["kind"]) == ("Overall", "auc", "change")
    assert failed["candidate_value"] == pytest.approx(failed["baseline_value"], abs=1e-9)
    assert failed["candidate_value"] > 0.75
    [reason] = two["blessing"]["reasons"]
    assert reason.startswith("AUC on Overall changed by ") and reason.endswith(
        f" against the baseline (version 2: {failed['baseline_value']:.4g} -> "
        f"{failed['candidate_value']:.4g}); the change threshold requires candidate - "
        "baseline >= 0.02"
    )
    report = against_two.report.read_text()
    assert texts(report, "span", "bad") == ["NOT BLESSED"]
    assert texts(report, "li") == two["blessing"]["reasons"]
    # Not blessed: nothing pushed, serving as it was (version 2, no canary).
    assert two["deployment"]["skipped"] is True and two["deployment"]["reason"].startswith(
        "skipped: "
    )
    assert (_serving_json(root)["stable"], _serving_json(root)["canary"]) == (2, None)
    assert sorted(p.name for p in (registry / MODEL).iterdir() if p.is_dir()) == ["1", "2"]
    from mlops.core.model_settings import load_model_settings
    from mlops.serving import traffic

    traffic.change(root, load_model_settings(root), "rollback")  # stable back to version 1
    assert _serving_json(root)["stable"] == 1

    # The degradation check starts the next run with its real default start: version 1's
    # live predictions, labelled with the opposite of each answer, have a binary accuracy
    # of 0, below the threshold 0.75 (settings: triggers.degradation).
    deployment = _degraded_then_retrained(project, first.service["url"], second)
    assert deployment["unchanged"] is True and deployment["version"] == 1
    state = _serving_json(root)
    assert state["stable"] == 1

    # 3. Drifted data (fares doubled, no cash payments): stops at validation, serving as is.
    drifted = [
        dict(r, fare=str(float(r["fare"] or 0) * 2))
        for r in _taxi_rows()
        if r["payment_type"] != "Cash"
    ]
    path = _write_csv(root / "new_data" / "drifted.csv", drifted)
    with pytest.raises(BuildError, match=r"stopped at validate-data: the data is not fit.*drift"):
        _run(project, data=str(path))
    assert _serving_json(root) == state
    with lineage.LineageStore(root / ".local" / "lineage.sqlite") as store:
        latest = store.run("latest")
    assert latest["status"] == "FAILED" and latest["failed_task"] == "validate-data"
    # The transformation beside it finished, as on a cluster; nothing after them started.
    tasks = {t["task"]: t["status"] for t in latest["tasks"]}
    assert tasks["validate-data"] == "FAILURE" and tasks["transform-data"] == "SUCCESS"
    assert not {"train-model", "evaluate-model", "deploy-model"} & set(tasks)
    assert sorted(root.glob("dist/local_runs/ct_pipeline/*/report.html"))[-1].is_file()


# After the runs above (pytest runs a module's tests in file order): the module's project now
# holds five finished runs, their artifacts, reports and the registry they changed.
@pytest.mark.docker
@pytest.mark.browser
def test_the_ui_shows_the_e2e_runs_in_a_browser(project):
    from mlops.lineage.store import LineageStore
    from mlops.testing.ui_pages import walk
    from mlops.ui import browser
    from mlops.ui.app import create_app, running

    root = project["root"]
    with LineageStore(root / ".local" / "lineage.sqlite") as store:
        runs = store.runs()
        steps = {(r["id"], t["task"]) for r in runs for t in store.run(r["id"])["tasks"]}
        artifacts = [a for (a,) in store.db.execute("SELECT id FROM artifacts")]
    assert len(runs) >= 5  # the runs of the test above
    with running(create_app(root)) as url, browser.chromium() as chromium:
        result = walk(chromium, url, ["/", "/models", "/decisions"])
    # Every page answered with its heading, every chart drawn, no console error, nothing
    # asked of another host: the reports of each run included.
    assert result.problems() == []
    assert {f"/runs/{r['id']}" for r in runs} <= set(result.pages)
    assert {f"/runs/{r}/steps/{t}" for r, t in steps} <= set(result.pages)
    assert {f"/artifacts/{a}" for a in artifacts} <= set(result.pages)
    with_report = {
        f"/runs/{r['id']}/report"
        for r in runs
        if (Path(r["pipeline_root"]) / "report.html").is_file()
    }
    assert len(with_report) == len(runs) and with_report <= set(result.pages)
    # The run graphs draw a box per step; the model page is the e2e model's.
    first = min(runs, key=lambda r: r["started_at"])
    assert result.pages[f"/runs/{first['id']}"].charts[0]["height"] > 300
    assert result.pages["/models/default"].heading.startswith(f"Model {MODEL}")
