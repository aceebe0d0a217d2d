"""A test double of the Vertex AI v1 REST API (plus the one GCS call the SDK makes on submit).

Vertex AI Pipelines cannot run here (no Google Cloud project, no network), so the deploy code is
tested by pointing the real google-cloud-aiplatform client (REST transport) at this loopback
server. It serves exactly the endpoints the SDK calls in `cicd.vertex_deploy`'s flows, shaped
after `aiplatform_v1/services/{pipeline,schedule}_service/transports/rest_base.py`:

- POST   /v1/projects/{p}/locations/{l}/pipelineJobs?pipelineJobId=...  (PipelineJob.submit)
- GET    /v1/projects/{p}/locations/{l}/pipelineJobs/{id}                (state polling)
- POST   /v1/projects/{p}/locations/{l}/schedules                        (create_schedule)
- GET    /v1/projects/{p}/locations/{l}/schedules?filter=...&pageToken=  (PipelineJobSchedule.list)
- DELETE /v1/projects/{p}/locations/{l}/schedules/{id}   -> a long-running Operation, already done
- GET    /storage/v1/b/{bucket}   (see below; the storage client is sent here by setting
  STORAGE_EMULATOR_HOST to `url`)

Before creating the job, `PipelineJob.submit` makes a best-effort "get or create the
pipeline_root bucket" step whose every error it logs and ignores. When the bucket exists the SDK
goes on to check its owner through Cloud Resource Manager over gRPC, which no loopback double
can intercept and which offline spends about a minute in retries. So the bucket lookup answers
403 (as it does for a CI account without storage.buckets.get), which ends that step at once;
`bucket_status` changes the answer.

Anything else is answered 404 and recorded in `unhandled`, so a test can assert the SDK made no
call this double does not know about.

Behaviour:
- Jobs go PIPELINE_STATE_PENDING -> RUNNING -> a final state, by elapsed time since creation
  (`run_s`). The final state comes from the `outcome` hook (given the job as posted, returns
  "SUCCEEDED", "FAILED" or "CANCELLED"); the default always succeeds.
- `inject(status, times=N, method=..., path=...)` makes the next N matching requests answer
  `status` with a Google-style error body (times=None: every matching request, until `clear`);
  with `lost_answer=True` the request takes effect first, as when an answer is lost on the way.
- `requests` logs every request (method, path, query, JSON body, status answered).
- Enums are answered as integers when the client asks for `$alt=json;enum-encoding=int` (the
  REST transport always does), as names otherwise, as the real API does.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PIPELINE_STATES = {
    "PIPELINE_STATE_UNSPECIFIED": 0,
    "PIPELINE_STATE_QUEUED": 1,
    "PIPELINE_STATE_PENDING": 2,
    "PIPELINE_STATE_RUNNING": 3,
    "PIPELINE_STATE_SUCCEEDED": 4,
    "PIPELINE_STATE_FAILED": 5,
    "PIPELINE_STATE_CANCELLING": 6,
    "PIPELINE_STATE_CANCELLED": 7,
    "PIPELINE_STATE_PAUSED": 8,
}
SCHEDULE_STATES = {"STATE_UNSPECIFIED": 0, "ACTIVE": 1, "PAUSED": 2, "COMPLETED": 3}

# google.rpc.Code names for the HTTP statuses a test is likely to inject.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_PARENT = r"/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
_ROUTES = [
    ("POST", re.compile(_PARENT + r"/pipelineJobs"), "create_job"),
    ("GET", re.compile(_PARENT + r"/pipelineJobs/(?P<id>[^/:]+)"), "get_job"),
    ("POST", re.compile(_PARENT + r"/schedules"), "create_schedule"),
    ("GET", re.compile(_PARENT + r"/schedules"), "list_schedules"),
    ("DELETE", re.compile(_PARENT + r"/schedules/(?P<id>[^/:]+)"), "delete_schedule"),
    ("GET", re.compile(r"/storage/v1/b/(?P<bucket>[^/]+)"), "get_bucket"),
]
# The filter PipelineJobSchedule.list sends for one display name; the real API accepts a richer
# grammar (AIP-160), this double only what the deploy code uses and rejects the rest with 400.
_FILTER = re.compile(r'^\s*(?:display_name|displayName)\s*=\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*$')


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: dict | None
    status: int = 0


@dataclass
class _Fault:
    status: int
    remaining: int | None  # None: persistent
    method: str | None
    path: re.Pattern | None
    lost_answer: bool

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or bool(self.path.search(path))
        )


@dataclass
class _Job:
    resource: dict
    created: float
    outcome: str


class _HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class VertexDouble:
    """The fake API. Use as a context manager or call `start`/`stop`."""

    run_s: float = 0.3
    outcome: Callable[[dict], str] = field(default=lambda job: "SUCCEEDED")
    page_size: int = 50  # default page size of the list call, small values exercise paging
    bucket_status: int = 403  # answer to the SDK's pipeline_root bucket lookup (module doc)

    def __post_init__(self) -> None:
        self.jobs: dict[str, _Job] = {}
        self.schedules: dict[str, dict] = {}
        self.requests: list[Request] = []
        self.unhandled: list[Request] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1000)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> VertexDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                double._handle(self)

            do_POST = do_DELETE = do_PATCH = do_GET

            def log_message(self, format: str, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> VertexDouble:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "double not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- test controls --------------------------------------------------------------------------

    def inject(
        self,
        status: int,
        *,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
        lost_answer: bool = False,
    ) -> None:
        """Answer the next `times` requests matching method and path (a regex) with `status`;
        if lost_answer, after carrying them out."""
        pattern = re.compile(path) if path is not None else None
        with self._lock:
            self._faults.append(_Fault(status, times, method, pattern, lost_answer))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def calls(self, method: str, path_pattern: str) -> list[Request]:
        """Logged requests with this method whose path matches the regex."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.method == method and re.search(path_pattern, r.path) is not None
            ]

    def schedules_named(self, display_name: str) -> list[dict]:
        with self._lock:
            return [s for s in self.schedules.values() if s.get("displayName") == display_name]

    # -- HTTP plumbing --------------------------------------------------------------------------

    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(http.path)
        query = parse_qs(parts.query)
        length = int(http.headers.get("Content-Length") or 0)
        raw = http.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = Request(http.command, parts.path, query, body)
        ints = "enum-encoding=int" in ",".join(query.get("$alt", []))
        with self._lock:
            self.requests.append(request)
            fault = next((f for f in self._faults if f.matches(http.command, parts.path)), None)
            if fault is not None and fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
        try:
            if fault is not None and not fault.lost_answer:
                raise _HttpError(fault.status, f"injected fault {fault.status}")
            status, payload = self._route(request, ints)
            if fault is not None:
                raise _HttpError(fault.status, f"injected fault {fault.status} (answer lost)")
        except _HttpError as e:
            status = e.status
            payload = {
                "error": {
                    "code": e.status,
                    "message": e.message,
                    "status": _STATUS_NAMES.get(e.status, "UNKNOWN"),
                }
            }
        request.status = status
        data = json.dumps(payload).encode()
        http.send_response(status)
        http.send_header("Content-Type", "application/json; charset=UTF-8")
        http.send_header("Content-Length", str(len(data)))
        http.end_headers()
        http.wfile.write(data)

    def _route(self, request: Request, ints: bool) -> tuple[int, dict]:
        for method, pattern, handler in _ROUTES:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                with self._lock:
                    return 200, getattr(self, "_" + handler)(request, ints, **match.groupdict())
        with self._lock:
            self.unhandled.append(request)
        raise _HttpError(404, f"double does not serve {request.method} {request.path}")

    # -- endpoints (called with the lock held) ---------------------------------------------------

    def _create_job(self, request: Request, ints: bool, project: str, location: str) -> dict:
        job_id = (request.query.get("pipelineJobId") or [f"job-{next(self._ids)}"])[0]
        name = f"projects/{project}/locations/{location}/pipelineJobs/{job_id}"
        if name in self.jobs:
            raise _HttpError(409, f"PipelineJob {name} already exists")
        body = request.body or {}
        if not body.get("pipelineSpec"):
            raise _HttpError(400, "pipeline_spec is required")
        resource = dict(body, name=name, createTime=_now(), updateTime=_now())
        outcome = self.outcome(resource)
        if outcome not in ("SUCCEEDED", "FAILED", "CANCELLED"):
            raise ValueError(f"outcome hook returned {outcome!r}")
        self.jobs[name] = _Job(resource, time.monotonic(), outcome)
        return self._job_view(name, ints)

    def _get_job(self, request: Request, ints: bool, project: str, location: str, id: str) -> dict:
        name = f"projects/{project}/locations/{location}/pipelineJobs/{id}"
        if name not in self.jobs:
            raise _HttpError(404, f"PipelineJob {name} not found")
        return self._job_view(name, ints)

    def _job_view(self, name: str, ints: bool) -> dict:
        job = self.jobs[name]
        elapsed = time.monotonic() - job.created
        if elapsed < self.run_s / 3:
            state = "PIPELINE_STATE_PENDING"
        elif elapsed < self.run_s:
            state = "PIPELINE_STATE_RUNNING"
        else:
            state = f"PIPELINE_STATE_{job.outcome}"
        view = dict(job.resource, state=PIPELINE_STATES[state] if ints else state)
        if state == "PIPELINE_STATE_FAILED":
            view["error"] = {"code": 9, "message": "The DAG failed because some tasks failed."}
        if state == "PIPELINE_STATE_CANCELLED":
            view["error"] = {"code": 1, "message": "The pipeline was cancelled."}
        return view

    def _create_schedule(self, request: Request, ints: bool, project: str, location: str) -> dict:
        body = request.body or {}
        for required in (
            "displayName",
            "cron",
            "createPipelineJobRequest",
            "maxConcurrentRunCount",
        ):
            if not body.get(required):
                raise _HttpError(400, f"schedule.{required} is required")
        name = f"projects/{project}/locations/{location}/schedules/{next(self._ids)}"
        self.schedules[name] = dict(
            body, name=name, state="ACTIVE", createTime=_now(), updateTime=_now()
        )
        return self._schedule_view(name, ints)

    def _schedule_view(self, name: str, ints: bool) -> dict:
        view = dict(self.schedules[name])
        if ints:
            view["state"] = SCHEDULE_STATES[view["state"]]
        return view

    def _list_schedules(self, request: Request, ints: bool, project: str, location: str) -> dict:
        parent = f"projects/{project}/locations/{location}/"
        names = [n for n in self.schedules if n.startswith(parent)]
        flt = (request.query.get("filter") or [""])[0]
        if flt:
            match = _FILTER.match(flt)
            if not match:
                raise _HttpError(400, f"double does not understand filter {flt!r}")
            wanted = re.sub(r"\\(.)", r"\1", match["value"])
            names = [n for n in names if self.schedules[n].get("displayName") == wanted]
        size = int((request.query.get("pageSize") or [self.page_size])[0]) or self.page_size
        start = int((request.query.get("pageToken") or ["0"])[0] or 0)
        page = names[start : start + size]
        answer: dict = {"schedules": [self._schedule_view(n, ints) for n in page]}
        if start + size < len(names):
            answer["nextPageToken"] = str(start + size)
        return answer

    def _delete_schedule(
        self,
        request: Request,
        ints: bool,
        project: str,
        location: str,
        id: str,
    ) -> dict:
        name = f"projects/{project}/locations/{location}/schedules/{id}"
        if name not in self.schedules:
            raise _HttpError(404, f"Schedule {name} not found")
        del self.schedules[name]
        # The real API answers an Operation that is usually still running (the SDK then polls
        # .../operations/{id}); this one is done at once, with the Empty response the SDK unpacks.
        return {
            "name": f"{name}/operations/{next(self._ids)}",
            "done": True,
            "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
        }

    def _get_bucket(self, request: Request, ints: bool, bucket: str) -> dict:
        if self.bucket_status != 200:
            raise _HttpError(self.bucket_status, f"caller may not get bucket {bucket}")
        return {"kind": "storage#bucket", "id": bucket, "name": bucket}
