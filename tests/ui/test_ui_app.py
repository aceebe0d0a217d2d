"""The web UI's pages through Flask's test client, over a project written with the real
lineage store API (tests/ui/conftest.py): what each page shows, the links between them, the
run's graph, following a run, and the files it serves and refuses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlops.lineage.store import LineageStore
from mlops.ui import graph
from mlops.ui.app import create_app


def text(response) -> str:
    assert response.status_code == 200, response.data[-2000:]
    return response.get_data(as_text=True)


def rows(page: str, marker: str) -> list[str]:
    return [r for r in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S) if marker in r]


def test_the_runs_page_says_what_started_each_run_and_how_it_went(client, ui_project):
    page = text(client.get("/"))
    runs = ui_project.runs
    expected = {
        "first": ("SUCCEEDED", "a person"),
        "check": ("SUCCEEDED", "new data"),
        "second": ("SUCCEEDED", "drift"),
        "drifted": ("FAILED", "a person"),
        "running": ("RUNNING", "degradation"),
    }
    for role, (status, cause) in expected.items():
        [row] = rows(page, f'/runs/{runs[role]}"')
        assert f">{status}<" in row and f">{cause}<" in row, role
    [first] = rows(page, f'/runs/{runs["first"]}"')
    assert "2 min 28 s" in first  # 147.5 s: from 09:00:00 to deploy-model's end
    assert "data/taxi.csv" in first and str(ui_project.root) not in first  # relative
    [drifted] = rows(page, f'/runs/{runs["drifted"]}"')
    assert "validate-data: drift in fare" in drifted
    assert 'data-follow="/api/runs"' in page  # a run is going: the list follows it


def test_a_run_page_draws_its_graph_from_the_compiled_pipeline(client, ui_project):
    run_id = ui_project.runs["drifted"]
    page = text(client.get(f"/runs/{run_id}"))
    svg = re.search(r"<svg class=\"dag\".*?</svg>", page, re.S).group(0)
    assert re.search(r'width="\d{3,}" height="\d{3,}"', svg)
    found = re.findall(r'<g class="node (\w+)" data-task="([\w-]+)"', svg)
    states = {task: css for css, task in found}
    assert states == {
        "extract-data": "success",
        "importer": "importer",
        "resolve-baseline": "success",
        "validate-data": "failed",
        "transform-data": "success",
        "train-model": "skipped",  # never started: the run stopped at validation
        "evaluate-model": "skipped",
        "deploy-model": "skipped",
    }
    assert svg.count('class="edge"') == sum(len(up) for up in ui_project.dag.values())
    # Each step that ran links to its page; one that did not run has no page.
    assert f'href="/runs/{run_id}/steps/validate-data"' in svg
    assert f"/runs/{run_id}/steps/train-model" not in svg
    assert "drift in fare" in page  # why it stopped


def test_a_run_page_shows_each_steps_time_memory_cache_and_links(client, ui_project):
    run_id = ui_project.runs["second"]
    page = text(client.get(f"/runs/{run_id}"))
    [extract] = rows(page, f'/runs/{run_id}/steps/extract-data"')
    assert ">CACHED<" in extract and "hit: <a href" in extract
    assert f'href="/runs/{ui_project.runs["first"]}/steps/extract-data"' in extract  # reused
    [train] = rows(page, f'/runs/{run_id}/steps/train-model"')
    assert "1 min 1 s" in train and "300 MB" in train and ">miss<" in train
    assert ">SUCCESS<" in train
    assert f'href="/artifacts/{ui_project.artifacts["model2"]}"' in train
    # The started-by line names the drift decision; the report is linked.
    assert "drift in fare: 0.41 &gt; 0.15" in page
    assert f'href="/runs/{run_id}/report"' in page
    assert "the graph of the run" in page


def test_the_graph_falls_back_to_the_artifacts_when_the_package_no_longer_matches(ui_project):
    with LineageStore(ui_project.db) as store:
        run = store.run(ui_project.runs["first"])
    run["package"] = str(ui_project.root / "nowhere.tar.gz")
    drawn = graph.build(run)
    assert not drawn.from_spec and "importer" not in drawn.nodes
    assert ("transform-data", "train-model") in drawn.edges
    assert ("extract-data", "evaluate-model") in drawn.edges  # through the examples
    assert ("train-model", "deploy-model") in drawn.edges
    # The layers: extract first, deploy last, train below transform.
    depth = graph.depths(drawn)
    assert depth["extract-data"] == 0 and depth["train-model"] > depth["transform-data"]
    assert depth["deploy-model"] == max(depth.values())


def test_a_step_page_shows_its_log_parameters_and_artifacts(client, ui_project):
    run_id = ui_project.runs["first"]
    page = text(client.get(f"/runs/{run_id}/steps/train-model"))
    assert "<h1>Step train-model" in page
    assert "Epoch 8/8" in page  # the whole log file, not the tail kept in the store
    assert f'href="/runs/{run_id}/steps/train-model/log"' in page
    log = client.get(f"/runs/{run_id}/steps/train-model/log")
    assert log.status_code == 200 and log.mimetype == "text/plain"
    assert "loss: 0.12" in log.get_data(as_text=True)
    assert "transformed_examples" in page and "model_name" in page
    assert f'href="/artifacts/{ui_project.artifacts["model"]}"' in page
    # Without a log file: the lines the lineage store kept.
    drifted = text(client.get(f"/runs/{ui_project.runs['drifted']}/steps/validate-data"))
    assert "drift in fare: 0.41 &gt; 0.15" in drifted and "no log file" in drifted


def test_a_cached_step_links_the_execution_it_reused(client, ui_project):
    page = text(client.get(f"/runs/{ui_project.runs['second']}/steps/extract-data"))
    assert f'href="/runs/{ui_project.runs["first"]}/steps/extract-data"' in page
    assert "hit: same inputs" in page


def test_an_artifact_page_shows_its_producer_users_lineage_and_files(client, ui_project):
    runs, artifacts = ui_project.runs, ui_project.artifacts
    page = text(client.get(f"/artifacts/{artifacts['model']}"))
    assert "<h1>Artifact train-model › model" in page
    assert f'href="/runs/{runs["first"]}/steps/train-model"' in page  # made by
    assert f'href="/runs/{runs["first"]}/steps/evaluate-model"' in page  # used by
    assert f'href="/runs/{runs["first"]}/steps/transform-data"' in page  # lineage, upward
    assert f'href="/artifacts/{artifacts["examples"]}"' in page
    listed = re.findall(rf'href="/artifacts/{artifacts["model"]}/files/([^"]+)"', page)
    assert listed == ["mlops_model.json", "saved_model.pb"]
    served = client.get(f"/artifacts/{artifacts['model']}/files/mlops_model.json")
    assert served.status_code == 200 and served.get_json() is None  # shown as text
    assert served.get_data(as_text=True) == '{"task": "binary"}'
    # The examples were reused by the second run: the page says so.
    examples = text(client.get(f"/artifacts/{artifacts['examples']}"))
    assert "Reused from the step cache by" in examples and runs["second"] in examples


def test_an_html_report_is_shown_on_its_artifact_page(client, ui_project):
    artifact = ui_project.artifacts["evaluation_report"]
    page = text(client.get(f"/artifacts/{artifact}"))
    assert f'<iframe class="report" title="report" src="/artifacts/{artifact}/files/report"' in page
    with LineageStore(ui_project.db) as store:
        uri = Path(store.artifact_by_id(artifact)["uri"])
        run_dir = Path(store.run(ui_project.runs["first"])["pipeline_root"])
    # The very files: this artifact's report, the first run's own report.
    report = client.get(f"/artifacts/{artifact}/files/report")
    assert report.mimetype == "text/html" and report.data == uri.read_bytes()
    assert b"<h1>Model evaluation</h1>" in report.data  # evaluate-model's, not another step's
    run_report = client.get(f"/runs/{ui_project.runs['first']}/report")
    assert run_report.status_code == 200
    assert run_report.data == (run_dir / "report.html").read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/artifacts/{examples}/files/escape",  # a symlink out of the run folder
        "/artifacts/{examples}/files/../../../../../../secret.txt",
        "/artifacts/{examples}/files/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/artifacts/{examples}/files//etc/passwd",
        "/artifacts/{reference}/files/NO_STATISTICS",  # .local/no_statistics: not served
        "/artifacts/{model}/files/nothing-here",
    ],
)
def test_nothing_outside_the_run_folders_and_the_registry_is_served(client, ui_project, path):
    answer = client.get(path.format(**ui_project.artifacts), follow_redirects=True)
    assert answer.status_code == 404
    assert b"not for the UI" not in answer.data and b"first run" not in answer.data


def test_an_artifact_outside_the_served_folders_says_so(client, ui_project):
    page = text(client.get(f"/artifacts/{ui_project.artifacts['reference']}"))
    assert "outside the folders the UI serves" in page
    examples = text(client.get(f"/artifacts/{ui_project.artifacts['examples']}"))
    assert "Split-train/data-0.gz" in examples and "escape" not in examples


def test_the_models_page_shows_versions_traffic_training_data_and_live_metrics(client, ui_project):
    listing = text(client.get("/models"))
    [row] = rows(listing, ui_project.model)
    assert "version 1" in row and "version 2 (10% of requests)" in row
    page = text(client.get("/models/default"))
    [v2] = rows(page, 'class="role canary"')
    [v1] = rows(page, 'class="role stable"')
    assert "90%" in v1 and "10%" in v2
    assert f"/runs/{ui_project.runs['first']}/steps/train-model" in v1  # trained by
    assert f"/runs/{ui_project.runs['second']}/steps/train-model" in v2
    assert "data/taxi.csv" in v1 and f"/artifacts/{ui_project.artifacts['examples']}" in v1
    assert "0.941" in v1 and "0.942" in v2  # the versions' evaluation AUC, for people
    # Live metrics: 60 labelled predictions of version 1, 54 right.
    [live] = rows(page, "<td>1</td><td>stable</td>")
    assert "<td>60</td>" in live and "<td>0.9</td>" in live and ">ok<" in live


def test_the_decisions_page_links_the_runs_each_decision_started(client, ui_project):
    page = text(client.get("/decisions"))
    [drift] = [r for r in rows(page, ">retrain<") if "<td>drift</td>" in r]
    assert f'href="/runs/{ui_project.runs["second"]}"' in drift
    assert f'href="/runs/{ui_project.runs["check"]}"' in drift  # the check run it read
    [ok] = rows(page, ">ok<")
    assert "binary_accuracy 0.9 at or above 0.75" in ok


def test_unknown_runs_steps_artifacts_and_use_cases_are_404_with_the_reason(client, ui_project):
    assert b"no run with id" in client.get("/runs/nope").data
    assert client.get("/runs/nope").status_code == 404
    step = client.get(f"/runs/{ui_project.runs['first']}/steps/nope")
    assert step.status_code == 404 and b"has no step" in step.data
    assert client.get("/artifacts/99999").status_code == 404
    assert client.get("/models/nope").status_code == 404
    assert client.get(f"/runs/{ui_project.runs['drifted']}/report").status_code == 404


def test_pages_load_nothing_from_another_host(client, ui_project):
    for path in ("/", f"/runs/{ui_project.runs['first']}", "/models/default", "/decisions"):
        answer = client.get(path)
        assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
        assert not re.search(r'(src|href)="(https?:)?//', answer.get_data(as_text=True)), path


def test_a_running_run_is_followed_until_it_ends(make_ui_project):
    """The page of a running run polls /api/runs/<id>; its token changes when a step or the
    run does, which is when the page reloads."""
    project = make_ui_project()
    client = create_app(project.root).test_client()
    run_id = project.runs["running"]
    page = text(client.get(f"/runs/{run_id}"))
    first = client.get(f"/api/runs/{run_id}").get_json()
    assert f'data-follow="/api/runs/{run_id}" data-token="{first["token"]}"' in page
    assert first["running"] is True and first["steps"]["validate-data"] == "RUNNING"
    assert client.get(f"/api/runs/{run_id}").get_json()["token"] == first["token"]
    assert 'class="node running"' in page and 'class="node pending"' in page
    step = text(client.get(f"/runs/{run_id}/steps/validate-data"))  # a step page follows too
    assert f'data-follow="/api/runs/{run_id}" data-token="{first["token"]}"' in step
    with LineageStore(project.db) as store:
        store.db.execute(
            "UPDATE executions SET status = 'SUCCESS', ended_at = started_at + 5"
            " WHERE run_id = ? AND task = 'validate-data'",
            (run_id,),
        )
        store.db.commit()
    step_done = client.get(f"/api/runs/{run_id}").get_json()
    assert step_done["token"] != first["token"] and step_done["running"] is True
    with LineageStore(project.db) as store:
        store.finish_run(run_id, "FAILED", "transform-data", "stopped")
    ended = client.get(f"/api/runs/{run_id}").get_json()
    assert ended["running"] is False and ended["status"] == "FAILED"
    assert "data-follow" not in text(client.get(f"/runs/{run_id}"))


def test_without_a_lineage_store_the_pages_say_so_and_create_nothing(make_ui_project):
    project = make_ui_project()
    project.db.unlink()
    client = create_app(project.root).test_client()
    assert "No runs recorded yet" in text(client.get("/"))
    assert "No trigger decisions yet" in text(client.get("/decisions"))
    assert client.get("/runs/latest").status_code == 404
    assert not project.db.exists()
