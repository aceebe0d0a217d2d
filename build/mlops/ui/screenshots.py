"""`make screenshots`: PNGs of the UI's pages and the run report of the latest run in the
lineage store (or the run named), for the README, taken by headless Chromium."""

from __future__ import annotations

import contextlib
from pathlib import Path

from mlops.core.errors import BuildError
from mlops.ui import browser
from mlops.ui.app import create_app, running

MAX_HEIGHT = 2400  # px: a long page (a report, many runs) is cut, the README shows its top
SIZE_JS = "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"


def pages(app, run_id: str) -> list[tuple[str, str]]:
    """(file name, path) of each page to take, for one run."""
    project = app.config["PROJECT"]
    run = project.run(run_id)
    tasks = {t["task"]: t for t in run["tasks"]}
    step = next((t for t in ("train-model", "evaluate-model") if t in tasks), None) or (
        run["tasks"][0]["task"] if run["tasks"] else None
    )
    found = [("runs.png", "/"), ("run.png", f"/runs/{run['id']}")]
    if run["report"] is not None:
        found.insert(0, ("report.png", f"/runs/{run['id']}/report"))
    if step:
        found.append(("step.png", f"/runs/{run['id']}/steps/{step}"))
    reports = [
        a for t in run["tasks"] for a in t["outputs"] if a["type"] == "system.HTML"
    ]  # an evaluation or validation report shown on its artifact page
    if reports:
        found.append(("artifact.png", f"/artifacts/{reports[-1]['id']}"))
    usecase = _usecase_of(app, run.get("model"))
    if usecase:
        found.append(("model.png", f"/models/{usecase}"))
    found.append(("decisions.png", "/decisions"))
    return found


def _usecase_of(app, model: str | None) -> str | None:
    from mlops.ui import models

    project = app.config["PROJECT"]
    usecases = models.usecases(project.root, project.env)
    return next((u.key for u in usecases if u.model == model), None)


def take(
    root: Path, out: Path, run_id: str = "latest", db: Path | None = None, chromium=None
) -> list[Path]:
    """Writes one full-page PNG per page into `out`; returns their paths. `chromium`: a
    Playwright browser already open (else Debian's Chromium is started)."""
    app = create_app(root, db)
    if not app.config["PROJECT"].db.is_file():
        raise BuildError(f"{app.config['PROJECT'].db}: no lineage store; `make run` first")
    shots = pages(app, run_id)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    opened = contextlib.nullcontext(chromium) if chromium else browser.chromium()
    with running(app) as url, opened as chromium:
        page = chromium.new_page(viewport=browser.VIEWPORT)
        for name, path in shots:
            answer = page.goto(url + path, wait_until="load")
            if answer is None or answer.status != 200:
                status = answer.status if answer else "no answer"
                raise BuildError(f"{url}{path}: {status}")
            target = out / name
            width, height = page.evaluate(SIZE_JS)
            clip = {"x": 0, "y": 0, "width": width, "height": min(height, MAX_HEIGHT)}
            page.screenshot(path=str(target), full_page=True, clip=clip)
            written.append(target)
            print(f"[screenshots] {target} ({path})", flush=True)
        page.close()
    return written
