"""The UI's Flask application and its server on loopback. Everything a page needs (styles,
script) is served from this package: the pages work with no network."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from flask import Flask, request

from mlops.lineage.store import DEFAULT_DB
from mlops.ui import fmt, models
from mlops.ui.data import Project

HOST = "127.0.0.1"  # loopback only: the UI has no authentication
DEFAULT_PORT = 8600
# Pages load nothing from elsewhere; a reference to a CDN would be refused (and logged).
POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'"
)
# The project's own files (reports, logs, artifacts' files) go out as they are.
FILE_ENDPOINTS = {"pages.report", "pages.step_log", "pages.artifact_file"}


def create_app(root: Path, db: Path | None = None, env: str | None = None) -> Flask:
    """The UI over the project at `root`: its lineage store (default .local/lineage.sqlite),
    its use cases' model registries and its run folders."""
    from mlops.ui.views import pages

    root = Path(root).resolve()
    app = Flask(__name__)
    app.config["PROJECT"] = Project(
        root=root,
        db=Path(db) if db else root / DEFAULT_DB,
        env=env,
        registries=models.registries(root, env),
    )
    app.jinja_env.filters.update(fmt.FILTERS)
    app.jinja_env.filters["rel"] = lambda path: fmt.relative(path, root)
    app.register_blueprint(pages)

    @app.after_request
    def headers(response):
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.endpoint not in FILE_ENDPOINTS:
            response.headers["Content-Security-Policy"] = POLICY
        return response

    return app


def serve(app: Flask, port: int = DEFAULT_PORT) -> None:
    """Serves until Ctrl-C."""
    from werkzeug.serving import make_server

    server = make_server(HOST, port, app, threaded=True)
    print(f"[ui] http://{HOST}:{server.server_port}/ (read-only; Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@contextlib.contextmanager
def running(app: Flask) -> Iterator[str]:
    """The app served on a free loopback port in a thread, for a browser: yields its URL.
    Requests are not logged (a screenshot or a test says what failed)."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs) -> None:
            pass

    server = make_server(HOST, 0, app, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=server.serve_forever, name="ui", daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
