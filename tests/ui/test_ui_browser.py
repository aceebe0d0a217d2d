"""The UI in a real browser: headless Chromium (Debian's, through Playwright) walks every page
of a project written with the real lineage store API, follows a run while it goes, and takes
the screenshots `make screenshots` takes. The same walk runs over a real e2e run in
tests/ct/test_ct_e2e.py."""

from __future__ import annotations

import pytest

from mlops.lineage.store import LineageStore
from mlops.testing.ui_pages import walk
from mlops.ui import browser
from mlops.ui.app import create_app, running

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium():
    with browser.chromium() as found:
        yield found


def test_every_page_loads_with_its_heading_charts_and_no_console_error(ui_project, chromium):
    app = create_app(ui_project.root)
    with running(app) as url:
        result = walk(chromium, url, ["/", "/models", "/decisions"])
    assert result.problems() == []
    runs = ui_project.runs
    paths = set(result.pages)
    # The links between run, step, artifact and model pages were followed.
    assert {f"/runs/{r}" for r in runs.values()} <= paths
    assert f"/runs/{runs['first']}/steps/train-model" in paths
    assert f"/runs/{runs['first']}/report" in paths
    assert {f"/artifacts/{a}" for a in ui_project.artifacts.values()} <= paths
    assert "/models/default" in paths
    # Each run page draws its graph; the reports embedded in artifact pages draw theirs.
    graph = result.pages[f"/runs/{runs['first']}"].charts
    assert graph and graph[0]["tag"] == "svg" and graph[0]["height"] > 300
    report = result.pages[f"/artifacts/{ui_project.artifacts['evaluation_report']}"].charts
    assert [c["width"] for c in report if c["tag"] == "svg"][-1] == 240  # inside the iframe
    assert set(result.files.values()) == {200}


def test_the_walk_sees_a_broken_page(ui_project, chromium):
    """The checks can fail: a page that errors in the console, draws an empty chart and asks
    another host for something is caught."""
    from flask import Flask

    bad = Flask("bad")
    bad.add_url_rule("/", "home", lambda: (
        "<h1>Runs</h1><svg width='0' height='0'></svg><img src='http://192.0.2.1/x.png'>"
        "<script>console.error('boom')</script><a href='/gone'>gone</a>"
    ))  # fmt: skip
    with running(bad) as url:
        result = walk(chromium, url, ["/"])
    problems = result.problems()
    assert "/gone: 404" in problems
    assert any(p.startswith("/gone: heading 'Not Found'") for p in problems)  # no known kind
    assert "/: svg 0x0" in problems
    assert any(p.startswith("console: ") and "boom" in p for p in problems)
    assert any(p.startswith("offsite: ") and "192.0.2.1" in p for p in problems)


def test_a_running_runs_page_follows_it_to_its_end(make_ui_project, chromium):
    project = make_ui_project()
    run_id = project.runs["running"]
    with running(create_app(project.root)) as url:
        page = chromium.new_page()
        page.goto(f"{url}/runs/{run_id}")
        assert page.locator("h1 .status").inner_text() == "RUNNING"
        assert page.locator(".following").is_visible()
        with LineageStore(project.db) as store:
            store.db.execute(
                "UPDATE executions SET status = 'SUCCESS', ended_at = started_at + 5"
                " WHERE run_id = ? AND status = 'RUNNING'",
                (run_id,),
            )
            store.db.commit()
            store.finish_run(run_id, "SUCCEEDED")
        # The page polls, sees the change and reloads itself: no one touches it.
        page.locator("h1 .status.succeeded").wait_for(timeout=20_000)
        assert page.locator("svg.dag g.node.running").count() == 0
        assert not page.locator(".following").is_visible()
        page.close()


def test_screenshots_are_taken_of_the_report_and_every_kind_of_page(ui_project, chromium, tmp_path):
    from PIL import Image

    from mlops.ui.screenshots import take

    written = take(
        ui_project.root, tmp_path / "shots", run_id=ui_project.runs["second"], chromium=chromium
    )
    names = sorted(p.name for p in written)
    assert names == sorted([
        "report.png", "runs.png", "run.png", "step.png", "artifact.png", "model.png",
        "decisions.png",
    ])  # fmt: skip
    for path in written:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width >= 1400 and image.height >= 600
