"""The pages and the small JSON answers a page polls while a run goes. Read-only: every route
answers GET, and nothing here writes the store, the runs or the registry."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, jsonify, render_template, send_file, url_for
from markupsafe import Markup

from mlops.ui import files, graph, models
from mlops.ui.data import NotFound, Project, now

pages = Blueprint("pages", __name__)


def project() -> Project:
    return current_app.config["PROJECT"]


def _send(path: Path):
    response = send_file(path, mimetype=files.mimetype(path), conditional=True, max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@pages.route("/")
def runs():
    found = project().runs()
    running = any(r["status"] == "RUNNING" for r in found)
    return render_template("runs.html", runs=found, running=running, now=now())


@pages.route("/favicon.ico")
def favicon():
    return "", 204  # no icon; a report page asks for one


@pages.route("/runs/<run_id>")
def run(run_id: str):
    found = project().run(run_id)

    def link(task: str) -> str:
        return url_for("pages.step", run_id=found["id"], task=task)

    drawing = Markup(graph.svg(graph.build(found), found["status"], link))
    state = project().state(found["id"])
    return render_template("run.html", run=found, dag=drawing, state=state, now=now())


@pages.route("/runs/<run_id>/report")
def report(run_id: str):
    found = project().run(run_id)
    if found["report"] is None:
        abort(404, f"run {found['id']} has no report.html")
    return _send(found["report"])


@pages.route("/runs/<run_id>/steps/<task>")
def step(run_id: str, task: str):
    found, execution = project().step(run_id, task)
    state = project().state(found["id"]) if found["status"] == "RUNNING" else None
    return render_template("step.html", run=found, step=execution, state=state, now=now())


@pages.route("/runs/<run_id>/steps/<task>/log")
def step_log(run_id: str, task: str):
    _, execution = project().step(run_id, task)
    if execution["log"] is None:
        abort(404, f"step {task} of run {run_id} has no log file")
    return _send(execution["log"])


@pages.route("/artifacts/<int:artifact_id>")
def artifact(artifact_id: int):
    found = project().artifact(artifact_id)
    return render_template("artifact.html", artifact=found)


@pages.route("/artifacts/<int:artifact_id>/files/<path:relative>")
def artifact_file(artifact_id: int, relative: str):
    found = project().artifact(artifact_id)
    return _send(project().file_of(found, relative))


@pages.route("/models")
def model_list():
    p = project()
    with p.store() as store:
        found = [
            models.detail(p.root, p.env, u, store, live=False)
            for u in models.usecases(p.root, p.env)
        ]
    return render_template("models.html", usecases=found)


@pages.route("/models/<key>")
def model(key: str):
    p = project()
    usecase = models.find(p.root, p.env, key)
    if usecase is None:
        abort(404, f"no use case {key!r}")
    with p.store() as store:
        models.detail(p.root, p.env, usecase, store)
    return render_template("model.html", usecase=usecase)


@pages.route("/decisions")
def decisions():
    return render_template("decisions.html", decisions=project().decisions())


@pages.route("/api/runs")
def runs_state():
    return jsonify(project().runs_state())


@pages.route("/api/runs/<run_id>")
def run_state(run_id: str):
    return jsonify(project().state(run_id))


@pages.app_errorhandler(NotFound)
@pages.app_errorhandler(files.NotServed)
def not_found(error):
    return render_template("error.html", message=str(error)), 404


@pages.app_errorhandler(404)
def missing(error):
    return render_template("error.html", message=error.description), 404
