"""TensorFlow Serving's REST API over the stdlib's ThreadingHTTPServer:

    GET  /v1/models/NAME                        model status (every loaded version)
    GET  /v1/models/NAME/versions/N             one version's status
    POST /v1/models/NAME:predict                routed to stable or canary
    POST /v1/models/NAME/versions/N:predict     that version

A prediction answers {"predictions": [...], "classes"?: [...], "model_version", "request_id"}:
predictions are serving_default's rows as the model gives them; classification models add
`classes`, one {class_id, class, probability} per prediction (deploy_model.tasks).

Answers are JSON; errors are {"error": "..."} with a 4xx (the client's fault) or 5xx status,
and the server keeps serving. A body over the size limit is refused (413) from its
Content-Length, without reading it."""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from deploy_model.holder import ModelHolder, NotFound, Unavailable
from deploy_model.instances import BadRequest, check_instances, parse_body
from deploy_model.request_log import RequestLog

PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?(?::(?P<verb>\w+))?$"
)
DEFAULT_MAX_BODY = 10 * 1024 * 1024


class PredictionServer(ThreadingHTTPServer):
    daemon_threads = True  # a client holding a keep-alive connection must not block shutdown
    request_queue_size = 128  # load tests open many connections at once

    def __init__(
        self,
        address: tuple[str, int],
        holder: ModelHolder,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        request_log: RequestLog | None = None,
    ):
        self.holder = holder
        self.model_name = holder.registry.model_name
        self.max_body_bytes = max_body_bytes
        self.request_log = request_log
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections
    # Headers and body go out in two writes: with Nagle's algorithm the second waits for the
    # client's delayed ACK (40 ms per request).
    disable_nagle_algorithm = True
    server: PredictionServer
    server_version = "deploy_model-serve"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would cost more than the prediction; errors are logged

    # -- plumbing ---------------------------------------------------------------------------
    def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        if not self._body_read and (self.headers.get("Content-Length") or "0").strip() != "0":
            # An unread body would be taken for the next request on this connection.
            self.close_connection = True
        self._send(status, {"error": message})

    def _route(self) -> tuple[str | None, int | None, str | None] | None:
        """(name, version, verb) of a known path, after answering 404 for others."""
        self._body_read = False  # one handler object serves every request of a connection
        match = PATH.match(self.path.split("?", 1)[0])
        if not match:
            self._error(404, f"no such path {self.path!r}; try /v1/models/{self.server.model_name}")
            return None
        name, version, verb = match["name"], match["version"], match["verb"]
        if name != self.server.model_name:
            self._error(
                404,
                f"Servable not found: model {name!r} (this server serves "
                f"{self.server.model_name!r})",
            )
            return None
        if version is not None and not version.isdigit():
            self._error(404, f"version {version!r} is not a version number")
            return None
        if verb is not None and verb != "predict":
            self._error(404, f"':{verb}' is not supported; use ':predict'")
            return None
        return name, None if version is None else int(version), verb

    def _read_body(self) -> bytes | None:
        self._body_read = False
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._error(411, "send the body with a Content-Length (chunked is not supported)")
            return None
        raw = self.headers.get("Content-Length")
        if raw is None:
            self._body_read = True  # no body to read
            self._error(411, "Content-Length is required")
            return None
        try:
            length = int(raw)
            if length < 0:
                raise ValueError
        except ValueError:
            self._error(400, f"Content-Length {raw!r} is not a byte count")
            return None
        if length > self.server.max_body_bytes:
            self._error(
                413, f"body of {length} bytes is over the limit of {self.server.max_body_bytes}"
            )
            return None
        body = self.rfile.read(length)
        self._body_read = True
        return body

    # -- verbs ------------------------------------------------------------------------------
    def do_GET(self) -> None:
        route = self._route()
        if route is None:
            return
        _, version, verb = route
        if verb:
            self._error(405, "use POST for :predict")
            return
        try:
            self._send(200, self.server.holder.status(version))
        except NotFound as e:
            self._error(404, str(e))

    def do_POST(self) -> None:
        route = self._route()
        if route is None:
            return
        _, version, verb = route
        if verb != "predict":
            self._error(405, "POST goes to :predict; GET reads the status")
            return
        body = self._read_body()
        if body is None:
            return
        request_id = self.headers.get("X-Request-Id") or uuid.uuid4().hex
        started = time.perf_counter()
        model = None
        try:
            request = parse_body(body)
            model = self.server.holder.choose(version)
            checked = check_instances(request, model.raw_feature_spec)
            predictions = model.predict(request.signature, checked)
        except BadRequest as e:
            self._failed(model, request_id, started, e.status, str(e))
            return
        except NotFound as e:
            self._failed(model, request_id, started, 404, str(e))
            return
        except Unavailable as e:
            self._failed(model, request_id, started, 503, str(e))
            return
        except Exception as e:
            import tensorflow as tf

            if isinstance(e, tf.errors.InvalidArgumentError):
                message = f"the model rejected the input: {e.message.splitlines()[0]}"
                self._failed(model, request_id, started, 400, message)
                return
            print(f"[serve] {request_id}: {type(e).__name__}: {e}", file=sys.stderr)
            message = f"prediction failed: {type(e).__name__}: {e}"
            self._failed(model, request_id, started, 500, message)
            return
        answer: dict[str, Any] = {"predictions": predictions}
        classes = model.task.classes_of(predictions)
        if classes is not None:
            answer["classes"] = classes
        if self.server.request_log is not None:
            # Before answering: an answered request is in the log (when sampled).
            self.server.request_log.record(
                request_id,
                model.version,
                request.instances,
                predictions,
                task=model.task.task,
                predicted=model.task.predicted(predictions, classes),
                latency_ms=(time.perf_counter() - started) * 1000,
            )
        answer.update(model_version=str(model.version), request_id=request_id)
        self._send(200, answer, {"X-Model-Version": str(model.version), "X-Request-Id": request_id})

    def _failed(self, model, request_id: str, started: float, status: int, message: str) -> None:
        """An error answer; logged (when sampled) against the version the split chose, if it
        got that far: the canary analysis compares the versions' error rates."""
        if model is not None and self.server.request_log is not None:
            latency_ms = (time.perf_counter() - started) * 1000
            self.server.request_log.record_failure(
                request_id, model.version, status, latency_ms, message
            )
        self._error(status, message)

    def _not_allowed(self) -> None:
        if self._route() is not None:
            self._error(405, f"{self.command} is not allowed; GET the status, POST to :predict")

    do_PUT = do_DELETE = do_PATCH = _not_allowed
