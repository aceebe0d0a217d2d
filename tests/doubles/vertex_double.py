"""A test double of the Vertex AI v1 REST API (plus the one GCS call the SDK makes on submit).

Vertex AI cannot be reached here (no Google Cloud project, no network), so the deploy code is
tested by pointing the real google-cloud-aiplatform client (REST transport) at this loopback
server. It serves exactly the endpoints the SDK calls in `mlops.deploy.vertex_deploy`'s flows
(Vertex AI
Pipelines) and in `components/deploy_model`'s `vertex` module (Model Registry and online
prediction endpoints), shaped after `aiplatform_v1/services/{pipeline,schedule,model,endpoint}
_service/transports/rest_base.py`.

Pipelines:

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

Model Registry and endpoints (`models`, `endpoints`, `operations` hold the state):
- POST   .../models:upload            -> Operation (UploadModelResponse: model, modelVersionId)
- GET    .../models/{id}[@{version or alias}]   (no suffix: the version aliased "default")
- GET    .../models?filter=display_name="..."   (one entry per model: its default version)
- POST   .../models/{id}@{version}:mergeVersionAliases   ("-alias" removes one)
- POST   .../endpoints[?endpointId=]  -> Operation (Endpoint)
- GET    .../endpoints/{id},  GET .../endpoints?filter=display_name="..."
- PATCH  .../endpoints/{id}?updateMask=...     (Endpoint.update: traffic_split, labels, ...)
- POST   .../endpoints/{id}:deployModel   -> Operation (DeployModelResponse)
- POST   .../endpoints/{id}:undeployModel -> Operation (UndeployModelResponse)
- GET    .../{models,endpoints}/{id}/operations/{op}, .../operations/{op}   (LRO polling; the
  SDK's REST operations client asks under /ui/ rather than /v1/, both are served)

As the real API does, an upload with `parentModel` adds version N+1 to that model (404 if it does
not exist), `versionAliases` move from the versions that had them ("default" always exists on
one version), and each version lists the endpoints it is deployed to (`deployedModels`). The
double rejects what the real API rejects and the tests rely on: a traffic split whose keys are not
deployed models (or "0", the model being deployed) or whose values do not sum to 100, deploying a
model version that does not exist or without machine resources, undeploying an ID that is not
deployed, or one that would keep traffic; with `artifact_check`, a model folder without a model.
Operations take effect when they are done: at once (`op_polls=0`) or after that many polls;
`fail_operation` makes the next matching operation end with an error and no effect.

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

What the pipelines side refuses, as the real service does (the source beside each rule; R is
https://cloud.google.com/vertex-ai/docs/reference/rest/v1/, SDK is google/cloud/aiplatform/
of google-cloud-aiplatform 1.165 in the venv):
- A pipelineJobId that is not a lowercase letter then up to 127 of [a-z0-9-]: 400
  INVALID_ARGUMENT (R projects.locations.pipelineJobs/create, "valid characters are
  /[a-z][0-9]-/"; SDK constants/pipeline.py _VALID_NAME_PATTERN, at most 128). An ID already
  taken: 409 ALREADY_EXISTS (google.rpc.Code, R .../Code: "the entity that a client attempted
  to create already exists").
- A job without pipelineSpec, or without runtimeConfig.gcsOutputDirectory when the spec has no
  defaultPipelineRoot (R projects.locations.pipelineJobs#RuntimeConfig "Required"; SDK
  utils/pipeline_utils.py "Pipeline root must be specified"); a parameterValues name the spec's
  root inputDefinitions do not declare (SDK utils/pipeline_utils.py "is not found in the
  pipeline job input definitions"); a displayName over 128 characters (SDK utils/__init__.py
  validate_display_name; R Schedule.displayName "up to 128 characters"); labels other than
  lowercase keys and values of at most 63 of [a-z0-9_-] (R PipelineJob.labels): 400.
- A schedule without displayName, cron, createPipelineJobRequest or a positive
  maxConcurrentRunCount (R projects.locations.schedules, fields marked Required), whose
  createPipelineJobRequest.parent is not the schedule's own parent (same page: "parent field
  is required (format: projects/{project}/locations/{location})"), whose job would be refused
  as above, or whose cron is not five unix-cron fields in range (minute 0-59, hour 0-23, day
  1-31, month 1-12 or JAN-DEC, weekday 0-7 or SUN-SAT; *, lists, ranges, /steps), optionally
  after "TZ=" or "CRON_TZ=" and an IANA time zone (R Schedule.cron; aiplatform_v1/types/
  schedule.py): 400 INVALID_ARGUMENT. Quartz's ?, L, W and # are not unix cron: refused.
- With `project` set, a request naming another project: 403 PERMISSION_DENIED, as Google APIs
  answer for a project the caller cannot use "(or it may not exist)". With `location` set
  (the region of the regional endpoint https://{location}-aiplatform.googleapis.com that
  aiplatform.init's location selects, SDK initializer.py get_client_options), a request for
  another location: 400 INVALID_ARGUMENT.
- State-dependent refusals are 400 FAILED_PRECONDITION rather than INVALID_ARGUMENT (google.rpc
  .Code: "the system is not in a state required for the operation"): undeploying a model that
  still holds traffic.
- Answers leave out fields at their zero value (empty lists, maps and strings, 0, false), as
  proto3 JSON does (https://protobuf.dev/programming-guides/json/: "fields set to the default
  value are omitted"), so that no caller relies on a field the real API leaves out.
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
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
DEPLOYMENT_RESOURCES_TYPES = {
    "DEPLOYMENT_RESOURCES_TYPE_UNSPECIFIED": 0,
    "DEDICATED_RESOURCES": 1,
    "AUTOMATIC_RESOURCES": 2,
    "SHARED_RESOURCES": 3,
}
_API_TYPES = "type.googleapis.com/google.cloud.aiplatform.v1."
# Label keys and values as the real API accepts them (international letters left out).
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
_ALIAS = re.compile(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]")
# R projects.locations.pipelineJobs/create (pipelineJobId); SDK constants/pipeline.py.
_JOB_ID = re.compile(r"[a-z][-a-z0-9]{0,127}")
_MAX_DISPLAY_NAME = 128  # SDK utils/__init__.py validate_display_name; R Schedule.displayName
# Unix cron fields (module doc): (name, lowest, highest, names usable in place of numbers).
_MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
_DAYS = "SUN MON TUE WED THU FRI SAT".split()
_CRON_FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(_MONTHS)}),
    ("day of week", 0, 7, {d: i for i, d in enumerate(_DAYS)}),
)
_CRON_TZ = re.compile(r"^(?:CRON_TZ|TZ)=(?P<zone>\S+)\s+(?P<rest>.*)$")

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
    ("POST", re.compile(_PARENT + r"/models:upload"), "upload_model"),
    ("GET", re.compile(_PARENT + r"/models"), "list_models"),
    (
        "GET",
        re.compile(_PARENT + r"/models/(?P<id>[^/:@%]+)(?:(?:@|%40)(?P<version>[^/:]+))?"),
        "get_model",
    ),
    (
        "POST",
        re.compile(
            _PARENT + r"/models/(?P<id>[^/:@%]+)(?:@|%40)(?P<version>[^/:]+):mergeVersionAliases"
        ),
        "merge_version_aliases",
    ),
    ("POST", re.compile(_PARENT + r"/endpoints"), "create_endpoint"),
    ("GET", re.compile(_PARENT + r"/endpoints"), "list_endpoints"),
    ("GET", re.compile(_PARENT + r"/endpoints/(?P<id>[^/:]+)"), "get_endpoint"),
    ("PATCH", re.compile(_PARENT + r"/endpoints/(?P<id>[^/:]+)"), "update_endpoint"),
    ("POST", re.compile(_PARENT + r"/endpoints/(?P<id>[^/:]+):deployModel"), "deploy_model"),
    ("POST", re.compile(_PARENT + r"/endpoints/(?P<id>[^/:]+):undeployModel"), "undeploy_model"),
    (
        "GET",
        re.compile(
            r"/(?:v1|ui)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
            r"(?P<owner>/(?:models|endpoints)/[^/:]+)?/operations/(?P<op>[^/:]+)"
        ),
        "get_operation",
    ),
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


@dataclass
class _Operation:
    name: str
    kind: str  # the route handler that started it, e.g. "deploy_model"
    metadata: dict
    effect: Callable[[], dict] | None  # applied when done; returns the response
    polls_left: int
    error: dict | None = None
    response: dict | None = None

    @property
    def done(self) -> bool:
        return self.effect is None


@dataclass
class _OpFault:
    kind: str
    code: int
    message: str
    remaining: int | None


class _HttpError(Exception):
    def __init__(self, status: int, message: str, code_name: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code_name = code_name or _STATUS_NAMES.get(status, "UNKNOWN")


def _omit_zero(view: dict) -> dict:
    """The top-level fields of a resource as proto3 JSON writes them: zero values left out
    (module doc). Maps and Structs inside keep their entries."""
    return {k: v for k, v in view.items() if v not in (None, "", 0, False, [], {})}


def cron_problem(cron: str) -> str | None:
    """Why Vertex AI would refuse this schedule cron, or None (R projects.locations.schedules
    #Schedule.cron; aiplatform_v1/types/schedule.py: unix cron, optional CRON_TZ=/TZ=)."""
    text = cron.strip()
    tz = _CRON_TZ.match(text)
    if tz:
        try:
            ZoneInfo(tz["zone"])
        except (ZoneInfoNotFoundError, ValueError):
            return f"{tz['zone']!r} is not an IANA time zone"
        text = tz["rest"]
    fields = text.split()
    if len(fields) != 5:
        return f"{len(fields)} fields, not 5 (minute hour day-of-month month day-of-week)"
    for value, (what, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in value.split(","):
            problem = _cron_item_problem(item.upper(), low, high, names)
            if problem:
                return f"{what} {value!r}: {problem}"
    return None


def _cron_item_problem(item: str, low: int, high: int, names: dict[str, int]) -> str | None:
    span, slash, step = item.partition("/")
    if slash and not (step.isdigit() and int(step) >= 1):
        return f"step {step!r} is not a positive number"
    if span == "*":
        return None
    bounds = span.split("-")
    if len(bounds) > 2:
        return f"{span!r} is not a number or a range"
    numbers = []
    for bound in bounds:
        number = names.get(bound, int(bound) if bound.isdigit() else None)
        if number is None:
            return f"{bound!r} is not a number"
        if not low <= number <= high:
            return f"{number} is out of range {low}-{high}"
        numbers.append(number)
    if len(numbers) == 2 and numbers[0] > numbers[1]:
        return f"range {span!r} runs backwards"
    return None


@dataclass
class VertexDouble:
    """The fake API. Use as a context manager or call `start`/`stop`."""

    run_s: float = 0.3
    outcome: Callable[[dict], str] = field(default=lambda job: "SUCCEEDED")
    page_size: int = 50  # default page size of the list call, small values exercise paging
    bucket_status: int = 403  # answer to the SDK's pipeline_root bucket lookup (module doc)
    op_polls: int = 0  # polls of a long-running operation that answer "not done" first
    # Checks an uploaded model's artifactUri, as the real API reads the folder: returns why it
    # holds no model (the upload is answered 400 with that), or None. None: no check.
    artifact_check: Callable[[str], str | None] | None = None
    # None: any. Else the one project the caller may use, and the region of the regional
    # endpoint this double plays (module doc).
    project: str | None = None
    location: str | None = None

    def __post_init__(self) -> None:
        self.jobs: dict[str, _Job] = {}
        self.schedules: dict[str, dict] = {}
        self.models: dict[str, dict[str, dict]] = {}  # model name -> version id -> version
        self.endpoints: dict[str, dict] = {}
        self.operations: dict[str, _Operation] = {}
        self._op_faults: list[_OpFault] = []
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

    def fail_operation(
        self,
        kind: str,
        *,
        code: int = 9,
        message: str = "injected operation failure",
        times: int | None = 1,
    ) -> None:
        """The next `times` long-running operations of this kind ("upload_model",
        "create_endpoint", "deploy_model", "undeploy_model") end with this google.rpc error
        (code 9: FAILED_PRECONDITION) and no effect; times=None: all of them, until `clear`."""
        with self._lock:
            self._op_faults.append(_OpFault(kind, code, message, times))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._op_faults.clear()

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

    def model_versions(self, display_name: str) -> list[dict]:
        """Every version of the models of that display name, oldest first (copies)."""
        with self._lock:
            return [
                json.loads(json.dumps(version))
                for versions in self.models.values()
                for version in versions.values()
                if version["displayName"] == display_name
            ]

    def endpoints_named(self, display_name: str) -> list[dict]:
        """The endpoints of that display name (copies)."""
        with self._lock:
            return [
                json.loads(json.dumps(e))
                for e in self.endpoints.values()
                if e["displayName"] == display_name
            ]

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
            payload = {"error": {"code": e.status, "message": e.message, "status": e.code_name}}
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
                self._check_parent(match.groupdict())
                with self._lock:
                    return 200, getattr(self, "_" + handler)(request, ints, **match.groupdict())
        with self._lock:
            self.unhandled.append(request)
        raise _HttpError(404, f"double does not serve {request.method} {request.path}")

    def _check_parent(self, names: dict[str, str | None]) -> None:
        """The project and location of the request's resource name: 403 for another project,
        400 for another region than the regional endpoint's (SDK initializer.py
        get_client_options: {location}-aiplatform.googleapis.com)."""
        project, location = names.get("project"), names.get("location")
        if project is not None and self.project is not None and project != self.project:
            raise _HttpError(
                403,
                f"Permission denied on resource project {project} (or it may not exist)",
            )
        if location is not None and self.location is not None and location != self.location:
            raise _HttpError(
                400,
                f"Location {location} does not match the endpoint's region {self.location}: "
                f"use {location}-aiplatform.googleapis.com",
            )

    # -- endpoints (called with the lock held) ---------------------------------------------------

    @staticmethod
    def _check_display_name(value: object, what: str, required: bool) -> None:
        if required and not value:
            raise _HttpError(400, f"{what} is required")
        if isinstance(value, str) and len(value) > _MAX_DISPLAY_NAME:
            raise _HttpError(
                400, f"{what} has {len(value)} characters; at most {_MAX_DISPLAY_NAME}"
            )

    def _check_job(self, job: dict, what: str) -> None:
        """A PipelineJob the service would run: R projects.locations.pipelineJobs
        (#RuntimeConfig gcsOutputDirectory Required, labels); SDK utils/pipeline_utils.py
        (pipeline root, parameters declared by the spec)."""
        spec = job.get("pipelineSpec")
        if not spec:
            raise _HttpError(400, f"{what}.pipeline_spec is required")
        self._check_display_name(job.get("displayName"), f"{what}.display_name", False)
        self._check_labels(job.get("labels"), f"{what}.labels")
        runtime = job.get("runtimeConfig") or {}
        root = runtime.get("gcsOutputDirectory") or spec.get("defaultPipelineRoot")
        if not root:
            raise _HttpError(400, f"{what}.runtime_config.gcs_output_directory is required")
        if not str(root).startswith("gs://"):
            raise _HttpError(400, f"{what}: pipeline root {root!r} is not a gs:// folder")
        declared = (spec.get("root") or {}).get("inputDefinitions", {}).get("parameters", {})
        unknown = sorted(set(runtime.get("parameterValues") or {}) - set(declared))
        if unknown:
            raise _HttpError(
                400,
                f"{what}: the pipeline parameters {unknown} are not found in the pipeline "
                "job input definitions",
            )

    def _create_job(self, request: Request, ints: bool, project: str, location: str) -> dict:
        job_id = (request.query.get("pipelineJobId") or [f"job-{next(self._ids)}"])[0]
        if not _JOB_ID.fullmatch(job_id):
            raise _HttpError(
                400,
                f"pipeline_job_id {job_id!r}: at most 128 of lowercase letters, digits and "
                "'-', starting with a letter",
            )
        name = f"projects/{project}/locations/{location}/pipelineJobs/{job_id}"
        if name in self.jobs:  # google.rpc.Code ALREADY_EXISTS: HTTP 409
            raise _HttpError(409, f"PipelineJob {name} already exists")
        body = request.body or {}
        self._check_job(body, "pipeline_job")
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
        return _omit_zero(view)

    def _create_schedule(self, request: Request, ints: bool, project: str, location: str) -> dict:
        body = request.body or {}
        # R projects.locations.schedules#Schedule: the fields marked Required, the cron, and
        # createPipelineJobRequest.parent "projects/{project}/locations/{location}".
        for required in ("displayName", "cron", "createPipelineJobRequest"):
            if not body.get(required):
                raise _HttpError(400, f"schedule.{required} is required")
        self._check_display_name(body["displayName"], "schedule.display_name", True)
        problem = cron_problem(str(body["cron"]))
        if problem:
            raise _HttpError(400, f"schedule.cron {body['cron']!r}: {problem}")
        count = str(body.get("maxConcurrentRunCount") or "0")  # int64: a string in JSON
        if not count.isdigit() or int(count) < 1:
            raise _HttpError(400, "schedule.max_concurrent_run_count must be a positive number")
        create = body["createPipelineJobRequest"]
        parent = f"projects/{project}/locations/{location}"
        if create.get("parent") != parent:
            raise _HttpError(
                400,
                f"schedule.create_pipeline_job_request.parent {create.get('parent')!r} is not "
                f"the schedule's parent {parent!r}",
            )
        self._check_job(
            create.get("pipelineJob") or {}, "schedule.create_pipeline_job_request.pipeline_job"
        )
        name = f"{parent}/schedules/{next(self._ids)}"
        self.schedules[name] = dict(
            body, name=name, state="ACTIVE", createTime=_now(), updateTime=_now()
        )
        return self._schedule_view(name, ints)

    def _schedule_view(self, name: str, ints: bool) -> dict:
        view = dict(self.schedules[name])
        if ints:
            view["state"] = SCHEDULE_STATES[view["state"]]
        return _omit_zero(view)

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
        return _omit_zero(answer)

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

    # -- long-running operations -----------------------------------------------------------------

    def _start_operation(
        self, owner: str, kind: str, metadata_type: str, effect: Callable[[], dict]
    ) -> dict:
        """An Operation for a validated request; `effect` carries it out when it is done."""
        name = f"{owner}/operations/{next(self._ids)}"
        metadata = {
            "@type": _API_TYPES + metadata_type,
            "genericMetadata": {"createTime": _now(), "updateTime": _now()},
        }
        op = _Operation(name, kind, metadata, effect, self.op_polls)
        fault = next((f for f in self._op_faults if f.kind == kind), None)
        if fault is not None:
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._op_faults.remove(fault)
            op.effect = lambda: self._fail(fault.code, fault.message)
        self.operations[name] = op
        return self._operation_view(op)

    @staticmethod
    def _fail(code: int, message: str) -> dict:
        raise _OperationFailed(code, message)

    def _operation_view(self, op: _Operation) -> dict:
        if op.effect is not None and op.polls_left <= 0:
            try:
                op.response = op.effect()
            except _OperationFailed as e:
                op.error = {"code": e.code, "message": e.message}
            except _HttpError as e:  # the state changed under a running operation
                op.error = {"code": 9, "message": e.message}
            op.effect = None
        op.polls_left -= 1
        view: dict = {"name": op.name, "metadata": op.metadata, "done": op.done}
        if op.error is not None:
            view["error"] = op.error
        elif op.response is not None:
            view["response"] = op.response
        return _omit_zero(view)

    def _get_operation(
        self,
        request: Request,
        ints: bool,
        project: str,
        location: str,
        op: str,
        owner: str | None = None,
    ) -> dict:
        name = f"projects/{project}/locations/{location}{owner or ''}/operations/{op}"
        if name not in self.operations:
            raise _HttpError(404, f"Operation {name} not found")
        return self._operation_view(self.operations[name])

    # -- Model Registry --------------------------------------------------------------------------

    @staticmethod
    def _check_labels(labels: dict, what: str) -> None:
        for key, value in (labels or {}).items():
            if not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(str(value)):
                raise _HttpError(400, f"{what}: invalid label {key!r}: {value!r}")

    def _model_version(self, ref: str) -> dict:
        """A version from "projects/.../models/{id}[@{version id or alias}]"."""
        name, _, tag = ref.partition("@")
        versions = self.models.get(name)
        if versions is None:
            raise _HttpError(404, f"Model {name} not found")
        tag = tag or "default"
        if tag in versions:
            return versions[tag]
        for version in versions.values():
            if tag in version.get("versionAliases", []):
                return version
        raise _HttpError(404, f"Model {ref} not found: no version or alias {tag!r}")

    def _model_view(self, version: dict, ints: bool) -> dict:
        view = json.loads(json.dumps(version))
        if ints:
            view["supportedDeploymentResourcesTypes"] = [
                DEPLOYMENT_RESOURCES_TYPES[t] for t in view["supportedDeploymentResourcesTypes"]
            ]
        return _omit_zero(view)

    @staticmethod
    def _endpoint_view(endpoint: dict) -> dict:
        view = json.loads(json.dumps(endpoint))
        view["deployedModels"] = [_omit_zero(m) for m in view["deployedModels"]]
        return _omit_zero(view)

    def _upload_model(self, request: Request, ints: bool, project: str, location: str) -> dict:
        body = request.body or {}
        model = body.get("model") or {}
        if not model.get("displayName"):
            raise _HttpError(400, "model.display_name is required")
        if not (model.get("containerSpec") or {}).get("imageUri"):
            raise _HttpError(400, "model.container_spec.image_uri is required")
        artifact_uri = model.get("artifactUri", "")
        if artifact_uri and not artifact_uri.startswith("gs://"):
            raise _HttpError(400, f"model.artifact_uri must be a gs:// URI: {artifact_uri!r}")
        self._check_labels(model.get("labels"), "model.labels")
        if artifact_uri and self.artifact_check is not None:
            problem = self.artifact_check(artifact_uri)
            if problem:
                raise _HttpError(400, f"model.artifact_uri {artifact_uri}: {problem}")
        parent = f"projects/{project}/locations/{location}"
        parent_model = body.get("parentModel")
        if parent_model:
            if not parent_model.startswith(parent + "/models/") or "@" in parent_model:
                raise _HttpError(400, f"parent_model {parent_model!r} is not a model of {parent}")
            if parent_model not in self.models:
                raise _HttpError(404, f"Model {parent_model} (parent_model) not found")
            name = parent_model
        else:
            name = f"{parent}/models/{body.get('modelId') or next(self._ids)}"
            if name in self.models:
                raise _HttpError(409, f"Model {name} already exists")

        def effect() -> dict:
            versions = self.models.setdefault(name, {})
            version_id = str(len(versions) + 1)
            aliases = list(model.get("versionAliases") or [])
            if not versions and "default" not in aliases:
                aliases.append("default")  # the first version is the default one
            for other in versions.values():  # an alias names one version: it moves
                other["versionAliases"] = [a for a in other["versionAliases"] if a not in aliases]
                other["versionUpdateTime"] = _now()
            first = next(iter(versions.values()), None)
            versions[version_id] = dict(
                model,
                name=name,
                versionId=version_id,
                versionAliases=aliases,
                createTime=first["createTime"] if first else _now(),
                updateTime=_now(),
                versionCreateTime=_now(),
                versionUpdateTime=_now(),
                supportedDeploymentResourcesTypes=["DEDICATED_RESOURCES", "SHARED_RESOURCES"],
                deployedModels=[],
            )
            return {
                "@type": _API_TYPES + "UploadModelResponse",
                "model": name,
                "modelVersionId": version_id,
            }

        return self._start_operation(name, "upload_model", "UploadModelOperationMetadata", effect)

    def _merge_version_aliases(
        self,
        request: Request,
        ints: bool,
        project: str,
        location: str,
        id: str,
        version: str,
    ) -> dict:
        name = f"projects/{project}/locations/{location}/models/{id}"
        target = self._model_version(f"{name}@{version}")
        changes = (request.body or {}).get("versionAliases") or []
        if not changes:
            raise _HttpError(400, "version_aliases is required")
        for change in changes:
            alias = change.removeprefix("-")
            if not _ALIAS.fullmatch(alias) or alias.isdigit():
                raise _HttpError(400, f"version_aliases: {alias!r} is not a valid alias")
            if change == "-default":
                raise _HttpError(400, "the default alias cannot be removed, only moved")
        for change in changes:
            if change.startswith("-"):
                alias = change[1:]
                target["versionAliases"] = [a for a in target["versionAliases"] if a != alias]
                continue
            for other in self.models[name].values():  # an alias names one version: it moves
                if other is not target and change in other["versionAliases"]:
                    other["versionAliases"].remove(change)
                    other["versionUpdateTime"] = _now()
            if change not in target["versionAliases"]:
                target["versionAliases"].append(change)
        target["versionUpdateTime"] = _now()
        return self._model_view(target, ints)

    def _get_model(
        self,
        request: Request,
        ints: bool,
        project: str,
        location: str,
        id: str,
        version: str | None = None,
    ) -> dict:
        name = f"projects/{project}/locations/{location}/models/{id}"
        return self._model_view(self._model_version(f"{name}@{version or ''}"), ints)

    def _list_models(self, request: Request, ints: bool, project: str, location: str) -> dict:
        parent = f"projects/{project}/locations/{location}/"
        defaults = [self._model_version(n) for n in self.models if n.startswith(parent)]
        page, token = self._page(request, defaults)
        answer: dict = {"models": [self._model_view(m, ints) for m in page]}
        if token:
            answer["nextPageToken"] = token
        return _omit_zero(answer)

    def _page(self, request: Request, resources: list[dict]) -> tuple[list[dict], str]:
        """The page of `resources` (filtered by display name as asked) and the next token."""
        flt = (request.query.get("filter") or [""])[0]
        if flt:
            match = _FILTER.match(flt)
            if not match:
                raise _HttpError(400, f"double does not understand filter {flt!r}")
            wanted = re.sub(r"\\(.)", r"\1", match["value"])
            resources = [r for r in resources if r.get("displayName") == wanted]
        size = int((request.query.get("pageSize") or [self.page_size])[0]) or self.page_size
        start = int((request.query.get("pageToken") or ["0"])[0] or 0)
        token = str(start + size) if start + size < len(resources) else ""
        return resources[start : start + size], token

    # -- endpoints --------------------------------------------------------------------------------

    def _endpoint(self, project: str, location: str, id: str) -> dict:
        name = f"projects/{project}/locations/{location}/endpoints/{id}"
        if name not in self.endpoints:
            raise _HttpError(404, f"Endpoint {name} not found")
        return self.endpoints[name]

    def _create_endpoint(self, request: Request, ints: bool, project: str, location: str) -> dict:
        body = request.body or {}
        if not body.get("displayName"):
            raise _HttpError(400, "endpoint.display_name is required")
        self._check_labels(body.get("labels"), "endpoint.labels")
        endpoint_id = (request.query.get("endpointId") or [str(next(self._ids))])[0]
        name = f"projects/{project}/locations/{location}/endpoints/{endpoint_id}"
        if name in self.endpoints:
            raise _HttpError(409, f"Endpoint {name} already exists")
        if body.get("deployedModels") or body.get("trafficSplit"):
            raise _HttpError(400, "a new endpoint has no deployed models nor traffic split")

        def effect() -> dict:
            self.endpoints[name] = dict(
                body,
                name=name,
                deployedModels=[],
                trafficSplit={},
                etag=str(next(self._ids)),
                createTime=_now(),
                updateTime=_now(),
            )
            view = self._endpoint_view(self.endpoints[name])
            return dict(view, **{"@type": _API_TYPES + "Endpoint"})

        return self._start_operation(
            name, "create_endpoint", "CreateEndpointOperationMetadata", effect
        )

    def _get_endpoint(
        self, request: Request, ints: bool, project: str, location: str, id: str
    ) -> dict:
        return self._endpoint_view(self._endpoint(project, location, id))

    def _list_endpoints(self, request: Request, ints: bool, project: str, location: str) -> dict:
        parent = f"projects/{project}/locations/{location}/"
        endpoints = [e for n, e in self.endpoints.items() if n.startswith(parent)]
        page, token = self._page(request, endpoints)
        answer: dict = {"endpoints": [self._endpoint_view(e) for e in page]}
        if token:
            answer["nextPageToken"] = token
        return _omit_zero(answer)

    @staticmethod
    def _check_split(split: dict, ids: set[str], what: str) -> dict[str, int]:
        """A traffic split the real API accepts: known IDs, whole non-negative percentages
        summing to 100 (or nothing, when no model is to get traffic)."""
        unknown = sorted(set(split) - ids)
        if unknown:
            raise _HttpError(400, f"{what}: {unknown} are not deployed models of the endpoint")
        values = {k: int(v) for k, v in split.items()}
        if any(v < 0 or v != split[k] for k, v in values.items()):
            raise _HttpError(400, f"{what}: percentages must be whole and not negative: {split}")
        if values and sum(values.values()) != 100:
            raise _HttpError(400, f"{what}: percentages must sum to 100: {split}")
        return {k: v for k, v in values.items() if v}

    def _update_endpoint(
        self, request: Request, ints: bool, project: str, location: str, id: str
    ) -> dict:
        endpoint = self._endpoint(project, location, id)
        body = request.body or {}
        mask = (request.query.get("updateMask") or [""])[0]
        fields = [f.strip() for f in mask.split(",") if f.strip()]
        if not fields:
            raise _HttpError(400, "update_mask is required")
        camel = {
            "traffic_split": "trafficSplit",
            "display_name": "displayName",
            "description": "description",
            "labels": "labels",
        }
        changes = {}
        for field_name in fields:
            key = camel.get(field_name, field_name)
            if key not in camel.values():
                raise _HttpError(400, f"update_mask: field {field_name!r} cannot be updated")
            changes[key] = body.get(key)
        if "trafficSplit" in changes:
            ids = {m["id"] for m in endpoint["deployedModels"]}
            split = self._check_split(changes["trafficSplit"] or {}, ids, "traffic_split")
            if ids and not split:
                raise _HttpError(400, "traffic_split: deployed models need 100% of the traffic")
            changes["trafficSplit"] = split
        if "displayName" in changes and not changes["displayName"]:
            raise _HttpError(400, "endpoint.display_name is required")
        self._check_labels(changes.get("labels"), "endpoint.labels")
        endpoint.update(changes, updateTime=_now(), etag=str(next(self._ids)))
        return self._endpoint_view(endpoint)

    def _deploy_model(
        self, request: Request, ints: bool, project: str, location: str, id: str
    ) -> dict:
        endpoint = self._endpoint(project, location, id)
        body = request.body or {}
        wanted = dict(body.get("deployedModel") or {})
        version = self._model_version(wanted.get("model") or "")  # 404 when it does not exist
        dedicated = wanted.get("dedicatedResources") or {}
        if not (dedicated.get("machineSpec") or {}).get("machineType"):
            raise _HttpError(
                400,
                f"Model {version['name']}@{version['versionId']} supports only dedicated "
                "resources: deployed_model.dedicated_resources.machine_spec.machine_type is "
                "required",
            )
        ids = {m["id"] for m in endpoint["deployedModels"]}
        split = self._check_split(body.get("trafficSplit") or {}, ids | {"0"}, "traffic_split")
        if not split and not ids:
            split = {"0": 100}  # the first deployed model takes all the traffic

        def effect() -> dict:
            live = {m["id"] for m in endpoint["deployedModels"]}
            if not set(split) - {"0"} <= live:
                raise _OperationFailed(9, "the endpoint's deployed models changed meanwhile")
            deployed_id = str(next(self._ids))
            deployed = dict(
                wanted,
                id=deployed_id,
                model=version["name"],
                modelVersionId=version["versionId"],
                displayName=wanted.get("displayName") or version["displayName"],
                createTime=_now(),
            )
            endpoint["deployedModels"].append(deployed)
            if split:
                endpoint["trafficSplit"] = {
                    (deployed_id if k == "0" else k): v for k, v in split.items()
                }
            endpoint.update(updateTime=_now(), etag=str(next(self._ids)))
            version["deployedModels"].append(
                {"endpoint": endpoint["name"], "deployedModelId": deployed_id}
            )
            return {"@type": _API_TYPES + "DeployModelResponse", "deployedModel": deployed}

        return self._start_operation(
            endpoint["name"], "deploy_model", "DeployModelOperationMetadata", effect
        )

    def _undeploy_model(
        self, request: Request, ints: bool, project: str, location: str, id: str
    ) -> dict:
        endpoint = self._endpoint(project, location, id)
        body = request.body or {}
        deployed_id = str(body.get("deployedModelId") or "")
        ids = {m["id"] for m in endpoint["deployedModels"]}
        if deployed_id not in ids:
            raise _HttpError(
                404, f"DeployedModel {deployed_id!r} is not deployed on {endpoint['name']}"
            )
        remaining = ids - {deployed_id}
        if body.get("trafficSplit"):
            split = self._check_split(body["trafficSplit"], ids, "traffic_split")
        else:
            split = dict(endpoint["trafficSplit"])
        if remaining and split.get(deployed_id):  # a refusal of the state: google.rpc.Code
            raise _HttpError(
                400,
                f"DeployedModel {deployed_id} still has {split[deployed_id]}% of the traffic: "
                "give it 0% first or pass a traffic_split without it",
                "FAILED_PRECONDITION",
            )

        def effect() -> dict:
            model = next((m for m in endpoint["deployedModels"] if m["id"] == deployed_id), None)
            if model is None:
                raise _OperationFailed(5, f"DeployedModel {deployed_id} is no longer deployed")
            endpoint["deployedModels"].remove(model)
            endpoint["trafficSplit"] = {k: v for k, v in split.items() if k != deployed_id}
            endpoint.update(updateTime=_now(), etag=str(next(self._ids)))
            version = self.models[model["model"]][model["modelVersionId"]]
            version["deployedModels"] = [
                d
                for d in version["deployedModels"]
                if (d["endpoint"], d["deployedModelId"]) != (endpoint["name"], deployed_id)
            ]
            return {"@type": _API_TYPES + "UndeployModelResponse"}

        return self._start_operation(
            endpoint["name"], "undeploy_model", "UndeployModelOperationMetadata", effect
        )


class _OperationFailed(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
