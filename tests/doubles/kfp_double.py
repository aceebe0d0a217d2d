"""A test double of the Kubeflow Pipelines (KFP) v2beta1 REST API.

The real KFP API server cannot run on these machines: it needs Kubernetes (and MySQL, Argo and
the rest of a KFP deployment). So code that talks to KFP is tested by pointing the REAL
`kfp.Client(host=double.host)` (kfp 2.13, kfp-server-api 2.4.0) at this loopback server, an
in-memory, thread-safe imitation of the API server's HTTP interface. Paths, methods, query
parameters, request bodies and response JSON follow the generated client
(`kfp_server_api/api/*.py`, `kfp_server_api/models/*.py`) and the API server's sources
(`backend/src/apiserver/server/*.go`): snake_case field names (protojson `UseProtoNames`),
enums as names, zero values omitted (an empty list answer has no list and no total_size, a
recurring run's false no_catchup is absent, a run without parameters has no runtime_config),
timestamps as RFC 3339 at whole seconds, unfinished runs' `finished_at` at the epoch. It
behaves as a single-user deployment (`multi_user: false`, namespaces ignored) and, like the
real server, starts with an experiment named "Default".

It is as strict as the API server (kubeflow/pipelines at tag 2.5.0, the server of kfp 2.13;
each check cites its source file beside it): a run's or recurring run's parameters are checked
against the pipeline's declared inputs (400); a run naming a missing version, or another
pipeline's, is 500; lists page, sort and filter as the server's list options do (page tokens
hold the next row's sort value and the criteria, ties order by id, sort_by is lower-cased,
filter keys outside the server's maps are refused, listing runs of an unknown experiment is
404); a recurring run's cron is parsed seconds-first by robfig/cron v1.2.0's rules. Where
server versions differ, `KfpApiDouble(server_version=...)` plays one of SERVER_VERSIONS: an
uploaded package the template parser refuses is 500 before 2.17 and 400 from 2.17.

Endpoints (all under /apis/v2beta1):

- GET    /healthz
- POST   /experiments                   GET /experiments (filter, page_size, page_token, sort_by)
- GET    /experiments/{id}              DELETE /experiments/{id}
- POST   /experiments/{id}:archive      POST /experiments/{id}:unarchive
- POST   /pipelines  (a pipeline without a version)          GET /pipelines (list, as above)
- POST   /pipelines/upload?name=&description=  (multipart `uploadfile`: pipeline + 1st version)
- POST   /pipelines/upload_version?name=&pipelineid=&description=  (multipart `uploadfile`)
- POST   /pipelines/create  (pipeline and version from JSON; the version needs `pipeline_spec`
  or a `package_url.pipeline_url` this process can open)
- GET    /pipelines/{id}                DELETE /pipelines/{id}[?cascade=true]
- GET    /pipelines/names/{name}
- POST   /pipelines/{id}/versions       GET /pipelines/{id}/versions (list, as above)
- GET    /pipelines/{id}/versions/{vid} DELETE /pipelines/{id}/versions/{vid}
- POST   /runs                          GET /runs (?experiment_id=, list as above)
- GET    /runs/{id}                     DELETE /runs/{id}
- POST   /runs/{id}:archive | :unarchive | :terminate | :retry
- POST   /recurringruns                 GET /recurringruns (?experiment_id=, list as above;
  the list key is `recurringRuns`, as the real proto names it)
- GET    /recurringruns/{id}            DELETE /recurringruns/{id}
- POST   /recurringruns/{id}:enable | :disable

Errors: the gRPC-gateway endpoints answer `{"error", "code", "message", "details": []}` with the
HTTP status of the gRPC code (NOT_FOUND 404, ALREADY_EXISTS 409, INVALID_ARGUMENT and
FAILED_PRECONDITION 400, INTERNAL 500); the two multipart upload endpoints, which the real server
serves outside the gateway, answer `{"error_message", "error_details"}` (409 on a duplicate
name, 400 on a file that is no archive or YAML, 500 or 400 by server version on a package the
template parser refuses). A 500 the server gives for a refusal carries the cause's kind in its
message as the server's error types print it ("Invalid input error:", "InvalidInputError:",
"ResourceNotFoundError:"). Unknown paths answer 404.

Pipeline packages: `.yaml`/`.yml`/`.json` by name, else a zip or gzipped tarball by content (its
`pipeline.yaml`, else its first member, which must be YAML); anything else is 400. The YAML must
be a KFP PipelineSpec (schemaVersion 2.1.0, non-empty pipelineInfo.name matching
^[a-z0-9][a-z0-9-]{0,127}$ and root, no unknown top-level field; an optional second document is
the platform spec) or an Argo Workflow (KFP v1). A
version's `pipeline_spec` is the parsed spec, or `{"pipeline_spec", "platform_spec"}` when the
package has a platform spec, as the real server returns it.

Runs go PENDING -> RUNNING -> a final state by time elapsed since creation (`pending_s`, then
`running_s`; 0.1 s + 0.2 s by default). The final state comes from the `run_outcome` hook,
called once the run has been RUNNING for `running_s` with a copy of the run (API JSON):

    double.run_outcome = lambda run: (
        "FAILED" if run.get("runtime_config", {}).get("parameters", {}).get("fail")
        else "SUCCEEDED")

It returns "SUCCEEDED" (also for None), "FAILED", "SKIPPED" or "CANCELED", or a tuple
`(state, error_message)`; returning "RUNNING" keeps the run running and asks again at the next
look (a run that never ends, for timeout tests). States advance when the run is looked at
(GET/list through the API, or the `runs` attribute). `set_run_state(run_id, state)` forces a
state. Recurring runs never fire on their own; `trigger_recurring_run(id)` starts one run from
a recurring run, as the scheduler would.

Test controls:

- `inject(method=, path_prefix=, status=503, times=1, body=None, delay_s=0)`: the next `times`
  requests (None: all, until `clear_injections()`) whose method matches (None: any) and whose
  path starts with `path_prefix` are answered `status` without being processed (the request is
  read and recorded, nothing is created). `status=None` with `delay_s` only delays the request,
  which is then processed normally.
- `clock`: the time source of created_at and the like (default time.time); rows made within
  one second tie and order by id, so tests that need an order set a clock that ticks.
- `requests`: every request received, as (method, path) without the query string, in order;
  `request_log` has the same as dicts with the query, the JSON body (None for uploads) and the
  status answered.
- State, as API JSON dicts by id: `experiments`, `pipelines`, `versions`, `runs`,
  `recurring_runs`; `packages` holds each version's pipeline YAML text as uploaded.
- `spec_run_by(resource)`: the PipelineSpec a run or recurring run executes: its inline
  `pipeline_spec`, else its version's. The real server answers a run made from a version
  with the reference only, and runs that version's stored spec (CreateRun's
  fetchTemplateFromPipelineSpec in backend/src/apiserver/resource/resource_manager.go).
"""

from __future__ import annotations

import base64
import copy
import io
import json
import re
import tarfile
import threading
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

API_PREFIX = "/apis/v2beta1"
EPOCH = "1970-01-01T00:00:00Z"
DEFAULT_SERVICE_ACCOUNT = "pipeline-runner"
DEFAULT_EXPERIMENT_NAME = "Default"
DEFAULT_EXPERIMENT_DESCRIPTION = (
    "All runs created without specifying an experiment will be grouped here."
)
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200

# gRPC status codes and the HTTP status gRPC-gateway answers for them.
INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION = 3, 5, 6, 9
UNIMPLEMENTED, INTERNAL = 12, 13
_GRPC_TO_HTTP = {3: 400, 5: 404, 6: 409, 9: 400, 12: 501, 13: 500}
_HTTP_TO_GRPC = {
    400: 3,
    401: 16,
    403: 7,
    404: 5,
    409: 6,
    429: 8,
    499: 1,
    500: 13,
    501: 12,
    502: 14,
    503: 14,
    504: 4,
}

TERMINAL_STATES = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"}
_OUTCOME_STATES = TERMINAL_STATES | {"RUNNING", "PENDING"}

# Filter operations, by name and by proto number (kfp.Client sends numbers).
_OPERATIONS = {
    1: "EQUALS",
    2: "NOT_EQUALS",
    3: "GREATER_THAN",
    5: "GREATER_THAN_EQUALS",
    6: "LESS_THAN",
    7: "LESS_THAN_EQUALS",
    8: "IN",
    9: "IS_SUBSTRING",
}

# API field names accepted in `filter` predicates and `sort_by`, per resource, and the field of
# the answered JSON they address: the server's API-to-column maps (backend/src/apiserver/model/
# experiment.go, pipeline.go, pipeline_version.go, run.go, job.go at 2.5.0), whose keys are the
# only ones it takes; any other key is refused (400). Columns the double does not answer
# (namespace, status, ...) read as empty.
_FIELDS = {
    "experiments": {
        "id": "experiment_id",
        "experiment_id": "experiment_id",
        "name": "display_name",
        "display_name": "display_name",
        "created_at": "created_at",
        "last_run_created_at": "last_run_created_at",
        "description": "description",
        "namespace": "namespace",
        "storage_state": "storage_state",
    },
    "pipelines": {
        "id": "pipeline_id",
        "pipeline_id": "pipeline_id",
        "name": "display_name",
        "display_name": "display_name",
        "created_at": "created_at",
        "description": "description",
        "namespace": "namespace",
    },
    "versions": {
        "id": "pipeline_version_id",
        "pipeline_version_id": "pipeline_version_id",
        "name": "display_name",
        "display_name": "display_name",
        "created_at": "created_at",
        "status": "status",
        "description": "description",
        "pipeline_spec": "pipeline_spec",
    },
    "runs": {
        "run_id": "run_id",
        "id": "run_id",
        "display_name": "display_name",
        "name": "display_name",
        "created_at": "created_at",
        "finished_at": "finished_at",
        "description": "description",
        "scheduled_at": "scheduled_at",
        "storage_state": "storage_state",
        "status": "conditions",
        "namespace": "namespace",
        "experiment_id": "experiment_id",
        "state": "state",
        "state_history": "state_history",
        "runtime_details": "runtime_details",
        "recurring_run_id": "recurring_run_id",
    },
    "recurring_runs": {
        "id": "recurring_run_id",
        "recurring_run_id": "recurring_run_id",
        "name": "display_name",
        "display_name": "display_name",
        "created_at": "created_at",
        "updated_at": "updated_at",
        "description": "description",
    },
}
_ID_FIELD = {
    "experiments": "experiment_id",
    "pipelines": "pipeline_id",
    "versions": "pipeline_version_id",
    "runs": "run_id",
    "recurring_runs": "recurring_run_id",
}

_PIPELINE_SPEC_FIELDS = {
    "pipelineInfo",
    "deploymentSpec",
    "sdkVersion",
    "schemaVersion",
    "components",
    "root",
    "defaultPipelineRoot",
}

# The API servers the double can play, and the behaviours that differ between them.
SERVER_VERSIONS = ("2.5.0", "2.17.0")


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch_seconds(value: Any) -> float:
    """A timestamp (RFC 3339 string, or seconds) as seconds since the epoch."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value or EPOCH).replace("Z", "+00:00")
    return datetime.fromisoformat(text).timestamp()


def _is_zero(value: Any) -> bool:
    return value is None or (not isinstance(value, bool | int | float) and value in ("", [], {}))


def _drop_empty(resource: dict) -> dict:
    """The gateway's marshaller leaves out proto3 zero values, so an empty list, a total_size
    of 0 and a no_catchup of false are absent (grpc-gateway v1.16 runtime.JSONPb{OrigName:
    true} over golang/protobuf 1.5 jsonpb: a scalar or map field is written only when set;
    go.mod and backend/src/apiserver/main.go at 2.5.0)."""
    return {k: v for k, v in resource.items() if not _is_zero(v) and v != 0}


class ApiError(Exception):
    """An error answer. `upload=True` answers in the upload endpoints' format."""

    def __init__(self, code: int, message: str, *, upload: bool = False, status: int = 0):
        super().__init__(message)
        self.code = code
        self.message = message
        self.upload = upload
        self.status = status or _GRPC_TO_HTTP.get(code, 500)

    def body(self) -> dict:
        if self.upload:
            return {"error_message": self.message, "error_details": self.message}
        return {"error": self.message, "code": self.code, "message": self.message, "details": []}


@dataclass
class Injection:
    """A fault armed with `KfpApiDouble.inject`."""

    method: str | None
    path_prefix: str
    status: int | None
    times: int | None
    body: Any = None
    delay_s: float = 0.0
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return path.startswith(self.path_prefix)


# -- pipeline packages ---------------------------------------------------------------------------


def _is_yaml_name(name: str) -> bool:
    return name.lower().endswith((".yaml", ".yml"))


def _pick_archive_member(names: list[str], kind: str) -> str:
    if "pipeline.yaml" in names:
        return "pipeline.yaml"
    if not names:
        raise ApiError(INVALID_ARGUMENT, f"Error extracting pipeline from the {kind} file.")
    if not _is_yaml_name(names[0]):
        raise ApiError(
            INVALID_ARGUMENT,
            f"Error extracting pipeline from the {kind} file. Expecting a pipeline YAML file "
            f"inside the {kind}. Got: {names[0]}",
        )
    return names[0]


def read_pipeline_file(filename: str, data: bytes) -> str:
    """The pipeline YAML inside an uploaded file: YAML or JSON by the file's name, else a zip or
    a gzipped tarball by its first bytes; anything else is 400 (ReadPipelineFile in
    backend/src/apiserver/server/util.go at 2.5.0)."""
    lower = filename.lower()
    try:
        if lower.endswith((".yaml", ".yml", ".json")):
            return data.decode()
        if data[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = [i.filename for i in archive.infolist() if not i.is_dir()]
                return archive.read(_pick_archive_member(names, "zip")).decode()
        if len(data) > 2 and data[:2] == b"\x1f\x8b":
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                members = [m for m in tar.getmembers() if m.isfile()]
                chosen = _pick_archive_member([m.name for m in members], "tarball")
                extracted = tar.extractfile(chosen)
                assert extracted is not None
                return extracted.read().decode()
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as e:
        raise ApiError(
            INVALID_ARGUMENT, f"Error extracting pipeline from the archive file: {e}"
        ) from e
    except UnicodeDecodeError as e:
        raise ApiError(INVALID_ARGUMENT, "The pipeline file is not UTF-8 text") from e
    raise ApiError(
        INVALID_ARGUMENT,
        "Invalid input error: Unexpected pipeline file format. Support .zip, .tar.gz, .json or "
        "YAML",
    )


def parse_pipeline_spec(text: str) -> Any:
    """Validate pipeline YAML like the server's template parser; return the API `pipeline_spec`."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise ApiError(INVALID_ARGUMENT, f"Failed to parse the pipeline YAML: {e}") from e
    if not docs or not isinstance(docs[0], dict):
        raise ApiError(INVALID_ARGUMENT, "unknown template format: the pipeline is empty")
    first = docs[0]
    if first.get("kind") == "Workflow" and str(first.get("apiVersion", "")).startswith("argo"):
        return first  # a KFP v1 (Argo Workflow) pipeline
    if "pipelineSpec" in first:  # a PipelineJob
        first = first["pipelineSpec"]
    if not isinstance(first, dict) or not {"pipelineInfo", "root"} & set(first):
        raise ApiError(INVALID_ARGUMENT, "unknown template format")
    unknown = set(first) - _PIPELINE_SPEC_FIELDS
    if unknown:
        raise ApiError(
            INVALID_ARGUMENT, f"invalid v2 pipeline spec: unknown field {sorted(unknown)[0]!r}"
        )
    if str(first.get("schemaVersion")) != "2.1.0":
        raise ApiError(
            INVALID_ARGUMENT,
            "KFP only supports schema version 2.1.0, but the pipeline spec has version "
            f"{first.get('schemaVersion')}",
        )
    if not (first.get("pipelineInfo") or {}).get("name"):
        raise ApiError(INVALID_ARGUMENT, "invalid v2 pipeline spec: name is empty")
    if not first.get("root"):
        raise ApiError(INVALID_ARGUMENT, "invalid v2 pipeline spec: root component is empty")
    platform = next((d for d in docs[1:] if isinstance(d, dict) and "platforms" in d), None)
    if platform is not None:
        return {"pipeline_spec": first, "platform_spec": platform}
    return first


_PIPELINE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")


def check_pipeline_name(spec: Any) -> None:
    """A v2 pipeline's name must suit ML Metadata: CreatePipelineVersion and
    CreatePipelineAndPipelineVersion check it with common.ValidatePipelineName
    (backend/src/apiserver/resource/resource_manager.go, common/utils.go at 2.5.0)."""
    if not isinstance(spec, dict) or spec.get("kind") == "Workflow":
        return
    name = _spec_documents(spec)[0]["pipelineInfo"]["name"]
    if len(name) > 128:
        raise ApiError(INVALID_ARGUMENT, "pipeline's name must contain no more than 128 characters")
    if not _PIPELINE_NAME.match(name):
        raise ApiError(
            INVALID_ARGUMENT,
            "pipeline's name must contain only lowercase alphanumeric characters or '-' and must "
            "start with alphanumeric characters",
        )


# JSON kinds (google.protobuf.Value) each declared parameter type takes.
_PARAMETER_KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "NUMBER_DOUBLE": ("double or integer", lambda v: type(v) in (int, float)),
    "NUMBER_INTEGER": ("double or integer", lambda v: type(v) in (int, float)),
    "STRING": ("string", lambda v: isinstance(v, str)),
    "BOOLEAN": ("bool", lambda v: isinstance(v, bool)),
    "LIST": ("list", lambda v: isinstance(v, list)),
    "STRUCT": ("struct", lambda v: isinstance(v, dict)),
}


def check_pipeline_job_inputs(spec: Any, parameters: dict) -> None:
    """The run's parameters against the root's declared inputs, as the server checks them for
    a run (RunWorkflow) and a recurring run (ScheduledWorkflow) before creating anything:
    validatePipelineJobInputs in backend/src/apiserver/template/v2_template.go at 2.5.0. A
    required parameter missing, a value of another JSON kind (any number passes for an
    integer) or an undeclared name is INVALID_ARGUMENT (400). Argo (v1) pipelines are not
    checked."""
    if not isinstance(spec, dict) or spec.get("kind") == "Workflow":
        return
    root = _spec_documents(spec)[0].get("root") or {}
    declared = (root.get("inputDefinitions") or {}).get("parameters") or {}
    for name in sorted(declared):
        parameter = declared[name] or {}
        if name not in parameters:
            if not parameter.get("isOptional") and "defaultValue" not in parameter:
                raise ApiError(
                    INVALID_ARGUMENT,
                    f"invalid pipeline job inputs: Invalid input error: parameter {name} is not "
                    "optional, yet has neither default value nor user provided value",
                )
            continue
        kind = parameter.get("parameterType") or "PARAMETER_TYPE_ENUM_UNSPECIFIED"
        if kind == "PARAMETER_TYPE_ENUM_UNSPECIFIED":
            problem = f"input parameter {name} has unspecified type"
        elif kind == "TASK_FINAL_STATUS":
            problem = (
                f"input parameter {name} requires type TASK_FINAL_STATUS, which is invalid "
                "for root component"
            )
        elif kind not in _PARAMETER_KINDS:
            problem = f"input parameter {name} requires type unknown"
        elif _PARAMETER_KINDS[kind][1](parameters[name]):
            continue
        else:
            problem = (
                f"input parameter {name} requires type {_PARAMETER_KINDS[kind][0]}, but the "
                "parameter value is not of the value type"
            )
        raise ApiError(
            INVALID_ARGUMENT, f"invalid pipeline job inputs: Invalid input error: {problem}"
        )
    extra = sorted(set(parameters) - set(declared))
    if extra:
        raise ApiError(
            INVALID_ARGUMENT,
            "invalid pipeline job inputs: Invalid input error: parameter(s) provided are not "
            f"required by pipeline: {', '.join(extra)}",
        )


def _parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    match = re.search(r'boundary="?([^";]+)"?', content_type or "")
    if not match or "multipart/form-data" not in content_type:
        raise ApiError(INVALID_ARGUMENT, "Failed to read pipeline from file", upload=True)
    delimiter = b"--" + match.group(1).encode()
    parts: dict[str, tuple[str | None, bytes]] = {}
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n")
        head, _, content = chunk.partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        disposition = next(
            (
                line
                for line in head.decode("utf-8", "replace").split("\r\n")
                if line.lower().startswith("content-disposition")
            ),
            "",
        )
        name = re.search(r'(?:^|[;\s])name="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        if name:
            parts[name.group(1)] = (filename.group(1) if filename else None, content)
    return parts


# A recurring run's cron is parsed by robfig/cron v1.2.0's cron.Parse (api_converter.go's
# toModelJob at 2.5.0; the version from go.mod): seconds first, then minute, hour, day of
# month, month and an optional day of week, so five fields mean "second minute hour dom
# month" and "0 3 * * *" fires at minute 3 of every hour. Fields out of range, names it does
# not know and Quartz's L, W and # are refused (robfig/cron parser.go, spec.go at v1.2.0).
_CRON_BOUNDS = (
    (0, 59, {}),
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (
        1,
        12,
        dict(
            zip(
                "jan feb mar apr may jun jul aug sep oct nov dec".split(), range(1, 13), strict=True
            )
        ),
    ),
    (0, 6, dict(zip("sun mon tue wed thu fri sat".split(), range(7), strict=True))),
)
_CRON_DESCRIPTORS = {
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
}
_GO_DURATION = re.compile(r"^[-+]?(\d+(\.\d*)?(ns|us|µs|ms|s|m|h))+$|^0$")


def _cron_int(expr: str, names: dict[str, int]) -> int:
    if expr.lower() in names:
        return names[expr.lower()]
    if not re.fullmatch(r"[-+]?\d+", expr):
        raise ValueError(
            f'Failed to parse int from {expr}: strconv.Atoi: parsing "{expr}": invalid syntax'
        )
    if int(expr) < 0:
        raise ValueError(f"Negative number ({int(expr)}) not allowed: {expr}")
    return int(expr)


def _cron_range(expr: str, low: int, high: int, names: dict[str, int]) -> None:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    if low_and_high[0] in ("*", "?"):
        start, end = low, high
    else:
        start = _cron_int(low_and_high[0], names)
        if len(low_and_high) > 2:
            raise ValueError(f"Too many hyphens: {expr}")
        end = _cron_int(low_and_high[1], names) if len(low_and_high) == 2 else start
    step = 1
    if len(range_and_step) > 2:
        raise ValueError(f"Too many slashes: {expr}")
    if len(range_and_step) == 2:
        step = _cron_int(range_and_step[1], {})
        if len(low_and_high) == 1:  # "N/step" means "N-max/step"
            end = high
    if start < low:
        raise ValueError(f"Beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise ValueError(f"End of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise ValueError(f"Beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ValueError(f"Step of range should be a positive number: {expr}")


def cron_error(cron: str) -> str | None:
    """robfig/cron v1.2.0 cron.Parse's error for `cron`, or None when it parses."""
    if not cron:
        return "Empty spec string"
    if cron.startswith("@"):
        if cron in _CRON_DESCRIPTORS:
            return None
        if cron.startswith("@every "):
            ok = _GO_DURATION.match(cron.removeprefix("@every "))
            return None if ok else f"Failed to parse duration {cron}: time: invalid duration"
        return f"Unrecognized descriptor: {cron}"
    fields = cron.split()
    if not 5 <= len(fields) <= 6:
        return f"Expected 5 to 6 fields, found {len(fields)}: {cron}"
    fields += ["*"] * (6 - len(fields))  # the optional day of week
    try:
        for field, (low, high, names) in zip(fields, _CRON_BOUNDS, strict=True):
            for expr in field.split(","):
                _cron_range(expr, low, high, names)
    except ValueError as e:
        return str(e)
    return None


def _validate_cron(cron: str) -> None:
    error = cron_error(cron)
    if error is not None:
        raise ApiError(
            INVALID_ARGUMENT,
            "Invalid input error: Schedule cron is not a supported "
            f"format(https://godoc.org/github.com/robfig/cron). Error: {error}",
        )


# -- the double ------------------------------------------------------------------------------------


class KfpApiDouble:
    """The fake KFP API server. Use as a context manager, or call `start()` / `stop()`."""

    def __init__(
        self,
        *,
        pending_s: float = 0.1,
        running_s: float = 0.2,
        run_outcome: Callable[[dict], Any] | None = None,
        default_experiment: bool = True,
        server_version: str = SERVER_VERSIONS[0],
        clock: Callable[[], float] = time.time,
    ) -> None:
        if server_version not in SERVER_VERSIONS:
            raise ValueError(f"server_version {server_version!r}: one of {SERVER_VERSIONS}")
        self.server_version = server_version
        self.clock = clock
        self.pending_s = pending_s
        self.running_s = running_s
        self.run_outcome = run_outcome
        self.experiments: dict[str, dict] = {}
        self.pipelines: dict[str, dict] = {}
        self.versions: dict[str, dict] = {}
        self._runs: dict[str, dict] = {}
        self.recurring_runs: dict[str, dict] = {}
        self.packages: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []
        self.request_log: list[dict] = []
        self._injections: list[Injection] = []
        self._order: dict[str, int] = {}
        self._run_clock: dict[str, float] = {}
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        if default_experiment:
            self._add_experiment(DEFAULT_EXPERIMENT_NAME, DEFAULT_EXPERIMENT_DESCRIPTION)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> KfpApiDouble:
        if self._server is not None:
            return self
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stalls

            def _serve(self) -> None:
                double._serve(self)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="kfp-api-double",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> KfpApiDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        """The URL to give `kfp.Client(host=...)`."""
        if self._server is None:
            raise RuntimeError("KfpApiDouble is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- test controls -----------------------------------------------------------------------------

    def inject(
        self,
        method: str | None = None,
        path_prefix: str = "/",
        status: int | None = 503,
        times: int | None = 1,
        body: Any = None,
        delay_s: float = 0.0,
    ) -> Injection:
        """Answer the next `times` matching requests with `status` (see the module docstring)."""
        injection = Injection(method, path_prefix, status, times, body, delay_s)
        with self._lock:
            self._injections.append(injection)
        return injection

    def clear_injections(self) -> None:
        with self._lock:
            self._injections.clear()

    @property
    def runs(self) -> dict[str, dict]:
        """Runs by id, their states brought up to date first."""
        with self._lock:
            for run in self._runs.values():
                self._advance(run)
            return self._runs

    def spec_run_by(self, resource: dict) -> dict:
        """The PipelineSpec a run or recurring run (API JSON) executes (module docstring)."""
        with self._lock:
            reference = resource.get("pipeline_version_reference") or {}
            if reference.get("pipeline_version_id"):
                spec = self._version(reference["pipeline_version_id"])["pipeline_spec"]
            elif reference.get("pipeline_id"):
                latest = self._latest_version(reference["pipeline_id"])
                if latest is None:
                    raise KeyError(f"pipeline {reference['pipeline_id']} has no version")
                spec = latest["pipeline_spec"]
            else:
                spec = resource["pipeline_spec"]
            return copy.deepcopy(_spec_documents(spec)[0])

    def set_run_state(self, run_id: str, state: str, error_message: str | None = None) -> None:
        """Force a run's state (a terminal state also sets `finished_at`)."""
        with self._lock:
            self._set_state(self._runs[run_id], state, error_message)

    def trigger_recurring_run(self, recurring_run_id: str) -> dict:
        """Start one run of a recurring run, as the scheduler would; return the run."""
        with self._lock:
            rr = self.recurring_runs[recurring_run_id]
            body = {
                "display_name": f"{rr['display_name']}-{uuid.uuid4().hex[:8]}",
                "experiment_id": rr.get("experiment_id"),
                "runtime_config": copy.deepcopy(rr.get("runtime_config") or {}),
                "service_account": rr.get("service_account"),
            }
            for key in ("pipeline_version_reference", "pipeline_spec"):
                if key in rr:
                    body[key] = copy.deepcopy(rr[key])
            run = self._create_run_from(body)
            run["recurring_run_id"] = recurring_run_id
            return copy.deepcopy(run)

    # -- HTTP plumbing -----------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        method = handler.command.upper()
        split = urlsplit(handler.path)
        path = split.path
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        content_type = handler.headers.get("Content-Type") or ""
        entry: dict[str, Any] = {"method": method, "path": path, "query": query, "body": None}
        if raw and "json" in content_type:
            try:
                entry["body"] = json.loads(raw)
            except ValueError:
                entry["body"] = raw.decode("utf-8", "replace")
        with self._lock:
            self.requests.append((method, path))
            self.request_log.append(entry)
            injection = next((i for i in self._injections if i.matches(method, path)), None)
            if injection is not None:
                injection.hits += 1
                if injection.times is not None:
                    injection.times -= 1
                    if injection.times <= 0:
                        self._injections.remove(injection)
        if injection is not None and injection.delay_s:
            time.sleep(injection.delay_s)
        if injection is not None and injection.status is not None:
            status = injection.status
            payload = injection.body
            if payload is None:
                try:
                    phrase = HTTPStatus(status).phrase
                except ValueError:
                    phrase = ""
                message = f"injected fault: {status} {phrase}".strip()
                payload = {
                    "error": message,
                    "code": _HTTP_TO_GRPC.get(status, 2),
                    "message": message,
                    "details": [],
                }
        else:
            status, payload = self._dispatch(method, path, query, content_type, raw)
        entry["status"] = status
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _dispatch(
        self, method: str, path: str, query: dict, content_type: str, raw: bytes
    ) -> tuple[int, Any]:
        route = path.removeprefix(API_PREFIX) if path.startswith(API_PREFIX + "/") else None
        matched_path = False
        for route_method, pattern, name in _ROUTES:
            match = pattern.fullmatch(route) if route is not None else None
            if match is None:
                continue
            matched_path = True
            if route_method != method:
                continue
            params = {k: unquote(v) for k, v in match.groupdict().items()}
            try:
                with self._lock:
                    result = getattr(self, name)(params, query, content_type, raw)
                return 200, result
            except ApiError as e:
                return e.status, e.body()
            except Exception as e:  # a bug in the double or in a hook: answer 500, loudly
                error = ApiError(INTERNAL, f"{type(e).__name__}: {e}")
                return 500, error.body()
        if matched_path:
            return 501, ApiError(UNIMPLEMENTED, "Method Not Allowed").body()
        return 404, ApiError(NOT_FOUND, "Not Found").body()

    # -- helpers -----------------------------------------------------------------------------------

    def _now(self) -> str:
        """Now, at whole seconds as the database keeps it: rows made within one second tie on
        created_at, and lists order them by id. Tests set `clock` to separate them."""
        return _timestamp(self.clock())

    def _new_id(self) -> str:
        new = str(uuid.uuid4())
        self._order[new] = len(self._order)
        return new

    @staticmethod
    def _json_body(raw: bytes) -> dict:
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError as e:
            raise ApiError(INVALID_ARGUMENT, f"invalid JSON body: {e}") from e
        if not isinstance(body, dict):
            raise ApiError(INVALID_ARGUMENT, "the JSON body must be an object")
        return body

    def _list(self, kind: str, items: list[dict], query: dict) -> tuple[list[dict], int, str]:
        """Filter, sort and page `items` as the server's list options do
        (backend/src/apiserver/list/list.go and server/list_request_util.go at 2.5.0):

        - sort_by is lower-cased, then "field", "field asc" or "field desc" with a field of
          the resource's map; rows tie-break on their id (a UUID), in the sort's direction;
        - a page token is base64 JSON holding the sort field and direction, the filter, and
          the sort value and id of the first row of the next page (the store reads
          page_size + 1 rows: experiment_store.go); the next page starts at that row, so rows
          created or deleted between pages do not shift it;
        - a token with a sort_by or filter must match them, else 400; a token alone uses its
          own;
        - total_size counts every row the filter keeps."""
        token = query.get("page_token") or ""
        sort_by = query.get("sort_by") or ""
        filter_json = query.get("filter") or ""
        try:
            page_size = int(query.get("page_size") or 0)
        except ValueError as e:
            raise ApiError(INVALID_ARGUMENT, "page_size must be an integer") from e
        if page_size < 0:
            raise ApiError(
                INVALID_ARGUMENT,
                f"Invalid input error: The page size should be greater than 0. Got {page_size}",
            )
        page_size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        start: tuple[Any, str] | None = None
        if token:
            try:
                state = json.loads(base64.b64decode(token.encode(), validate=True))
                options = (state["SortByFieldName"], state["IsDesc"], state["Filter"])
                start = (state["SortByFieldValue"], state["KeyFieldValue"])
            except (ValueError, KeyError, TypeError) as e:
                raise ApiError(
                    INVALID_ARGUMENT, f"InvalidInputError: Invalid package token: {e}"
                ) from e
            if (sort_by or filter_json) and options != self._list_options(
                kind, sort_by, filter_json
            ):
                raise ApiError(
                    INVALID_ARGUMENT,
                    "Invalid input error: page token does not match the supplied sort by and/or "
                    "filtering criteria. Either specify the same criteria or leave the latter "
                    "empty if page token is specified",
                )
        else:
            options = self._list_options(kind, sort_by, filter_json)
        sort_field, descending, predicates = options
        checks = [_predicate(field, operation, value) for field, operation, value in predicates]
        id_field = _ID_FIELD[kind]

        def key(item: dict) -> tuple[Any, str]:
            return (_sort_value(sort_field, item.get(sort_field)), item[id_field])

        selected = sorted(
            (i for i in items if all(check(i) for check in checks)), key=key, reverse=descending
        )
        total = len(selected)
        if start is not None:
            start_key = (_sort_value(sort_field, start[0]), start[1])
            selected = [
                i for i in selected if (key(i) <= start_key if descending else key(i) >= start_key)
            ]
        page = selected[:page_size]
        next_token = ""
        if len(selected) > page_size:
            following = selected[page_size]
            state = {
                "SortByFieldName": sort_field,
                "SortByFieldValue": _sort_value(sort_field, following.get(sort_field)),
                "KeyFieldName": "UUID",
                "KeyFieldValue": following[id_field],
                "IsDesc": descending,
                "ModelName": kind,
                "Filter": predicates,
            }
            next_token = base64.b64encode(json.dumps(state).encode()).decode()
        return [copy.deepcopy(i) for i in page], total, next_token

    def _list_options(self, kind: str, sort_by: str, filter_json: str) -> tuple[str, bool, list]:
        """(sort field, descending, predicates) of a list request (list.go's NewOptions)."""
        fields = _FIELDS[kind]
        words = sort_by.lower().split()
        if len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise ApiError(
                INVALID_ARGUMENT,
                f"Invalid input error: Received invalid sort by format {sort_by!r}. Supported "
                'format: "field_name", "field_name desc", or "field_name asc"',
            )
        sort_field = "created_at"
        if words:
            if words[0] not in fields:
                raise ApiError(
                    INVALID_ARGUMENT,
                    f"Invalid input error: Invalid sorting field: {words[0]!r} on listable type "
                    f"{kind}",
                )
            sort_field = fields[words[0]]
        descending = len(words) == 2 and words[1] == "desc"
        return sort_field, descending, self._parse_filter(filter_json, fields)

    @staticmethod
    def _parse_filter(filter_json: str, fields: dict[str, str]) -> list:
        """[[field, operation, value]] of a filter; a key outside the resource's map is refused
        (replaceMapKeys in backend/src/apiserver/filter/filter.go at 2.5.0)."""
        if not filter_json:
            return []
        try:
            spec = json.loads(filter_json)
            raw_predicates = spec.get("predicates") or []
        except (ValueError, AttributeError) as e:
            raise ApiError(INVALID_ARGUMENT, f"Invalid filter {filter_json!r}: {e}") from e
        predicates = []
        for raw in raw_predicates:
            operation = raw.get("operation")
            operation = _OPERATIONS.get(operation, operation)
            if operation not in _OPERATIONS.values():
                raise ApiError(INVALID_ARGUMENT, f"Invalid filter operation {operation!r}")
            key = raw.get("key", "")
            if key not in fields:
                raise ApiError(
                    INVALID_ARGUMENT,
                    f"Invalid input error: no support for filtering on unrecognized field {key!r}",
                )
            value: Any = None
            for name in (
                "string_value",
                "stringValue",
                "int_value",
                "intValue",
                "long_value",
                "longValue",
                "timestamp_value",
                "timestampValue",
            ):
                if name in raw:
                    value = raw[name]
            for name in (
                "string_values",
                "stringValues",
                "int_values",
                "intValues",
                "long_values",
                "longValues",
            ):
                if name in raw:
                    value = list((raw[name] or {}).get("values") or [])
            if value is None:
                raise ApiError(INVALID_ARGUMENT, f"Filter predicate on {key!r} has no value")
            predicates.append([fields[key], operation, value])
        return predicates

    # -- experiments -------------------------------------------------------------------------------

    def _add_experiment(self, name: str, description: str = "") -> dict:
        experiment = _drop_empty(
            {
                "experiment_id": self._new_id(),
                "display_name": name,
                "description": description,
                "created_at": self._now(),
                "storage_state": "AVAILABLE",
                "last_run_created_at": EPOCH,
            }
        )
        self.experiments[experiment["experiment_id"]] = experiment
        return experiment

    def _experiment(self, experiment_id: str) -> dict:
        if experiment_id not in self.experiments:
            raise ApiError(NOT_FOUND, f"Experiment {experiment_id} not found")
        return self.experiments[experiment_id]

    def _healthz(self, params: dict, query: dict, content_type: str, raw: bytes) -> dict:
        return {
            "commit_sha": "kfp-api-double",
            "tag_name": self.server_version,
            "multi_user": False,
        }

    def _create_experiment(self, params: dict, query: dict, content_type: str, raw: bytes):
        body = self._json_body(raw)
        name = body.get("display_name") or ""
        if not name:
            raise ApiError(INVALID_ARGUMENT, "Experiment name is empty. Please specify a name")
        if any(e["display_name"] == name for e in self.experiments.values()):
            raise ApiError(
                ALREADY_EXISTS,
                f"Failed to create a new experiment. The name {name} already exists. "
                "Please specify a new name",
            )
        return copy.deepcopy(self._add_experiment(name, body.get("description") or ""))

    def _list_experiments(self, params: dict, query: dict, content_type: str, raw: bytes):
        page, total, token = self._list("experiments", list(self.experiments.values()), query)
        return _drop_empty({"experiments": page, "total_size": total, "next_page_token": token})

    def _get_experiment(self, params: dict, query: dict, content_type: str, raw: bytes):
        return copy.deepcopy(self._experiment(params["experiment_id"]))

    def _delete_experiment(self, params: dict, query: dict, content_type: str, raw: bytes):
        self._experiment(params["experiment_id"])
        del self.experiments[params["experiment_id"]]
        return {}

    def _archive_experiment(self, params: dict, query: dict, content_type: str, raw: bytes):
        experiment = self._experiment(params["experiment_id"])
        state = "ARCHIVED" if params["action"] == "archive" else "AVAILABLE"
        experiment["storage_state"] = state
        if state == "ARCHIVED":
            for run in self._runs.values():
                if run.get("experiment_id") == experiment["experiment_id"]:
                    run["storage_state"] = "ARCHIVED"
        return {}

    # -- pipelines and versions --------------------------------------------------------------------

    def _pipeline(self, pipeline_id: str) -> dict:
        if pipeline_id not in self.pipelines:
            raise ApiError(NOT_FOUND, f"Pipeline {pipeline_id} not found")
        return self.pipelines[pipeline_id]

    def _version(self, version_id: str) -> dict:
        if version_id not in self.versions:
            raise ApiError(NOT_FOUND, f"PipelineVersion {version_id} not found")
        return self.versions[version_id]

    def _add_pipeline(self, name: str, description: str, *, upload: bool = False) -> dict:
        if not name:
            raise ApiError(
                INVALID_ARGUMENT,
                "Failed create to a pipeline due to empty name. Please specify a valid name",
                upload=upload,
            )
        if any(p["display_name"] == name for p in self.pipelines.values()):
            message = (
                "Failed to create a pipeline and a pipeline version. The pipeline already exists."
                if upload
                else f"Failed to create a new pipeline. The name {name} already exist. "
                "Please specify a new name"
            )
            raise ApiError(ALREADY_EXISTS, message, upload=upload)
        pipeline = _drop_empty(
            {
                "pipeline_id": self._new_id(),
                "display_name": name,
                "description": description,
                "created_at": self._now(),
            }
        )
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        return pipeline

    def _check_version_name(self, pipeline_id: str, name: str, *, upload: bool = False) -> None:
        if not name:
            raise ApiError(
                INVALID_ARGUMENT, "Pipeline version name is empty. Please specify a valid name"
            )
        for version in self.versions.values():
            if version["pipeline_id"] == pipeline_id and version["display_name"] == name:
                message = (
                    "Failed to create a pipeline version. The pipeline version already exists."
                    if upload
                    else f"Failed to create a new pipeline version. The name {name} already "
                    "exist. Please specify a new name"
                )
                raise ApiError(ALREADY_EXISTS, message, upload=upload)

    def _add_version(
        self, pipeline_id: str, name: str, description: str, text: str, spec: Any, **extra: Any
    ) -> dict:
        version = _drop_empty(
            {
                "pipeline_id": pipeline_id,
                "pipeline_version_id": self._new_id(),
                "display_name": name,
                "description": description,
                "created_at": self._now(),
                **extra,
                "pipeline_spec": spec,
            }
        )
        self.versions[version["pipeline_version_id"]] = version
        self.packages[version["pipeline_version_id"]] = text
        return version

    def _spec_from_version_body(self, version: dict) -> tuple[str, Any]:
        """The YAML and spec of a version posted as JSON: inline spec or a package URL."""
        if version.get("pipeline_spec"):
            spec = version["pipeline_spec"]
            text = yaml.safe_dump_all(_spec_documents(spec), sort_keys=False)
            parsed = parse_pipeline_spec(text)
            check_pipeline_name(parsed)
            return text, parsed
        url = ((version.get("package_url") or {}).get("pipeline_url")) or ""
        if not url:
            raise ApiError(
                INVALID_ARGUMENT, "Failed to create a pipeline version: package_url is empty"
            )
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                data = response.read()
        except OSError as e:
            raise ApiError(INVALID_ARGUMENT, f"error fetching pipeline spec from {url}: {e}") from e
        text = read_pipeline_file(urlsplit(url).path, data)
        parsed = parse_pipeline_spec(text)
        check_pipeline_name(parsed)
        return text, parsed

    def _create_pipeline(self, params: dict, query: dict, content_type: str, raw: bytes):
        body = self._json_body(raw)
        if isinstance(body.get("pipeline"), dict):  # the request message form
            body = body["pipeline"]
        pipeline = self._add_pipeline(body.get("display_name") or "", body.get("description", ""))
        return copy.deepcopy(pipeline)

    def _create_pipeline_and_version(
        self, params: dict, query: dict, content_type: str, raw: bytes
    ):
        body = self._json_body(raw)
        pipeline_body = body.get("pipeline") or {}
        version_body = body.get("pipeline_version") or {}
        text, spec = self._spec_from_version_body(version_body)
        name = pipeline_body.get("display_name") or ""
        pipeline = self._add_pipeline(name, pipeline_body.get("description", ""))
        self._add_version(
            pipeline["pipeline_id"],
            version_body.get("display_name") or name,
            version_body.get("description") or pipeline_body.get("description", ""),
            text,
            spec,
        )
        return copy.deepcopy(pipeline)

    def _upload_template(self, text: str, what: str) -> Any:
        """The uploaded pipeline parsed as CreatePipelineVersion parses it. Its refusal
        (INVALID_ARGUMENT) is answered 500 by servers before 2.17, whose upload handler
        answers 500 for every error but a duplicate name, and 400 from 2.17, whose handler
        answers INVALID_ARGUMENT with 400 (writeErrorToResponse calls in
        backend/src/apiserver/server/pipeline_upload_server.go at 2.5.0 and at 2.17.0)."""
        try:
            spec = parse_pipeline_spec(text)
            check_pipeline_name(spec)
            return spec
        except ApiError as e:
            if _release(self.server_version) >= (2, 17):
                raise ApiError(INVALID_ARGUMENT, e.message, upload=True) from e
            raise ApiError(
                INTERNAL,
                f"Failed to create {what}: Failed to create {what} due to template creation "
                f"error: InvalidInputError: {e.message}",
                upload=True,
            ) from e

    def _upload_pipeline(self, params: dict, query: dict, content_type: str, raw: bytes):
        filename, text = self._read_upload(content_type, raw)
        name = query.get("name") or query.get("display_name") or _base_name(filename)
        description = query.get("description", "")
        spec = self._upload_template(text, "a pipeline and a pipeline version")
        pipeline = self._add_pipeline(name, description, upload=True)
        self._add_version(pipeline["pipeline_id"], name, description, text, spec)
        return copy.deepcopy(pipeline)

    def _upload_pipeline_version(self, params: dict, query: dict, content_type: str, raw: bytes):
        filename, text = self._read_upload(content_type, raw)
        pipeline_id = query.get("pipelineid") or ""
        if not pipeline_id or pipeline_id not in self.pipelines:
            raise ApiError(INVALID_ARGUMENT, "Failed to create a pipeline version", upload=True)
        name = query.get("name") or query.get("display_name") or _base_name(filename)
        spec = self._upload_template(text, "a pipeline version")
        self._check_version_name(pipeline_id, name, upload=True)
        version = self._add_version(
            pipeline_id,
            name,
            query.get("description", ""),
            text,
            spec,
            code_source_url=query.get("code_source_url", ""),
        )
        return copy.deepcopy(version)

    @staticmethod
    def _read_upload(content_type: str, raw: bytes) -> tuple[str, str]:
        parts = _parse_multipart(content_type, raw)
        if "uploadfile" not in parts:
            raise ApiError(INVALID_ARGUMENT, "Failed to read pipeline from file", upload=True)
        filename, data = parts["uploadfile"]
        try:
            return filename or "", read_pipeline_file(filename or "", data)
        except ApiError as e:
            raise ApiError(INVALID_ARGUMENT, e.message, upload=True) from e

    def _list_pipelines(self, params: dict, query: dict, content_type: str, raw: bytes):
        page, total, token = self._list("pipelines", list(self.pipelines.values()), query)
        return _drop_empty({"pipelines": page, "total_size": total, "next_page_token": token})

    def _get_pipeline(self, params: dict, query: dict, content_type: str, raw: bytes):
        return copy.deepcopy(self._pipeline(params["pipeline_id"]))

    def _get_pipeline_by_name(self, params: dict, query: dict, content_type: str, raw: bytes):
        for pipeline in self.pipelines.values():
            if pipeline["display_name"] == params["name"]:
                return copy.deepcopy(pipeline)
        raise ApiError(NOT_FOUND, f"Pipeline with name {params['name']} not found")

    def _delete_pipeline(self, params: dict, query: dict, content_type: str, raw: bytes):
        pipeline_id = self._pipeline(params["pipeline_id"])["pipeline_id"]
        versions = [v for v, d in self.versions.items() if d["pipeline_id"] == pipeline_id]
        if versions and query.get("cascade", "").lower() != "true":
            raise ApiError(
                FAILED_PRECONDITION,
                f"Failed to delete pipeline with id {pipeline_id} as it has existing pipeline "
                f"versions (e.g. {versions[0]})",
            )
        for version_id in versions:
            del self.versions[version_id]
            self.packages.pop(version_id, None)
        del self.pipelines[pipeline_id]
        return {}

    def _create_pipeline_version(self, params: dict, query: dict, content_type: str, raw: bytes):
        pipeline_id = self._pipeline(params["pipeline_id"])["pipeline_id"]
        body = self._json_body(raw)
        if isinstance(body.get("pipeline_version"), dict):
            body = body["pipeline_version"]
        name = body.get("display_name") or ""
        self._check_version_name(pipeline_id, name)
        text, spec = self._spec_from_version_body(body)
        extra = {k: body[k] for k in ("package_url", "code_source_url") if body.get(k)}
        version = self._add_version(
            pipeline_id, name, body.get("description", ""), text, spec, **extra
        )
        return copy.deepcopy(version)

    def _list_pipeline_versions(self, params: dict, query: dict, content_type: str, raw: bytes):
        pipeline_id = params["pipeline_id"]
        items = [v for v in self.versions.values() if v["pipeline_id"] == pipeline_id]
        page, total, token = self._list("versions", items, query)
        return _drop_empty(
            {"pipeline_versions": page, "total_size": total, "next_page_token": token}
        )

    def _get_pipeline_version(self, params: dict, query: dict, content_type: str, raw: bytes):
        return copy.deepcopy(self._version(params["pipeline_version_id"]))

    def _delete_pipeline_version(self, params: dict, query: dict, content_type: str, raw: bytes):
        version_id = self._version(params["pipeline_version_id"])["pipeline_version_id"]
        del self.versions[version_id]
        self.packages.pop(version_id, None)
        return {}

    # -- runs --------------------------------------------------------------------------------------

    def _resolve_source(self, body: dict, what: str) -> tuple[dict, Any]:
        """The pipeline source of a run or recurring run to create, and the spec it runs.

        A version reference is looked up as fetchPipelineVersionFromPipelineSpec does, and
        CreateRun and CreateJob answer its failure INTERNAL (500): a missing version, a version
        of another pipeline than the one named, a pipeline without versions
        (backend/src/apiserver/resource/resource_manager.go at 2.5.0 and at 2.17.0). A recurring
        run naming only a pipeline keeps that reference (the scheduler runs the latest version
        at each trigger) and is checked against the latest version, whose absence is NOT_FOUND.
        An inline spec must parse (400)."""
        reference = body.get("pipeline_version_reference") or {}
        version_id = reference.get("pipeline_version_id") or body.get("pipeline_version_id")
        pipeline_id = reference.get("pipeline_id") or ""
        failed = f"Failed to create {what}"
        if version_id:
            prefix = (
                f"{failed}: InternalServerError: {failed} due to error fetching manifest: Failed "
                "to fetch a template due to error retrieving pipeline version: Failed to fetch a "
                f"pipeline version and its manifest from pipeline version {version_id}: "
            )
            if version_id not in self.versions:
                raise ApiError(
                    INTERNAL,
                    f"{prefix}ResourceNotFoundError: PipelineVersion {version_id} not found",
                )
            version = self.versions[version_id]
            if pipeline_id and pipeline_id != version["pipeline_id"]:
                raise ApiError(
                    INTERNAL,
                    f"{prefix}Invalid input error: Pipeline version {version_id} belongs to "
                    f"pipeline {version['pipeline_id']} (not {pipeline_id})",
                )
            source = {
                "pipeline_version_reference": {
                    "pipeline_id": version["pipeline_id"],
                    "pipeline_version_id": version_id,
                }
            }
            return source, version["pipeline_spec"]
        if pipeline_id:
            latest = self._latest_version(pipeline_id)
            if latest is None:
                missing = f"ResourceNotFoundError: PipelineVersion {pipeline_id} not found"
                if what == "a recurring run":
                    raise ApiError(NOT_FOUND, f"{failed}: {missing}")
                raise ApiError(
                    INTERNAL,
                    f"{failed}: InternalServerError: {failed} due to error fetching manifest: "
                    f"Failed to fetch a pipeline version and its manifest from pipeline "
                    f"{pipeline_id}: {missing}",
                )
            if what == "a recurring run":
                return {"pipeline_version_reference": {"pipeline_id": pipeline_id}}, latest[
                    "pipeline_spec"
                ]
            source = {
                "pipeline_version_reference": {
                    "pipeline_id": pipeline_id,
                    "pipeline_version_id": latest["pipeline_version_id"],
                }
            }
            return source, latest["pipeline_spec"]
        spec = body.get("pipeline_spec")
        if spec:
            if not isinstance(spec, dict):
                raise ApiError(INVALID_ARGUMENT, "pipeline_spec must be an object")
            parse_pipeline_spec(yaml.safe_dump_all(_spec_documents(spec)))
            return {"pipeline_spec": copy.deepcopy(spec)}, spec
        raise ApiError(
            INVALID_ARGUMENT,
            f"{failed}: Invalid input error: Failed to fetch a template with an empty pipeline "
            "spec manifest",
        )

    def _latest_version(self, pipeline_id: str) -> dict | None:
        """GetLatestPipelineVersion: the newest by creation second; ties, which the server
        leaves to the database, go to the last created here."""
        versions = [v for v in self.versions.values() if v["pipeline_id"] == pipeline_id]
        if not versions:
            return None
        return max(
            versions,
            key=lambda v: (_epoch_seconds(v["created_at"]), self._order[v["pipeline_version_id"]]),
        )

    @staticmethod
    def _runtime_config(body: dict) -> dict:
        """A run's runtime_config as answered: absent when it holds neither parameters nor a
        pipeline root (toApiRun, toApiRecurringRun in backend/src/apiserver/server/
        api_converter.go at 2.5.0)."""
        config = body.get("runtime_config") or {}
        return _drop_empty(
            {
                "parameters": copy.deepcopy(config.get("parameters") or {}),
                "pipeline_root": config.get("pipeline_root") or "",
            }
        )

    def _experiment_for(self, body: dict) -> str:
        experiment_id = body.get("experiment_id") or ""
        if not experiment_id:
            defaults = [
                e for e in self.experiments.values() if e["display_name"] == DEFAULT_EXPERIMENT_NAME
            ]
            if not defaults:  # the server makes its default experiment when it is missing
                # (GetValidExperimentNamespacePair in resource/resource_manager.go at 2.5.0)
                return self._add_experiment(
                    DEFAULT_EXPERIMENT_NAME, DEFAULT_EXPERIMENT_DESCRIPTION
                )["experiment_id"]
            return defaults[0]["experiment_id"]
        return self._experiment(experiment_id)["experiment_id"]

    def _create_run_from(self, body: dict) -> dict:
        if not body.get("display_name"):
            raise ApiError(INVALID_ARGUMENT, "Failed to create a run: the run name is empty")
        experiment_id = self._experiment_for(body)
        source, spec = self._resolve_source(body, "a run")
        runtime_config = self._runtime_config(body)
        check_pipeline_job_inputs(spec, runtime_config.get("parameters") or {})
        now = self._now()
        run = _drop_empty(
            {
                "experiment_id": experiment_id,
                "run_id": self._new_id(),
                "display_name": body["display_name"],
                "storage_state": "AVAILABLE",
                "description": body.get("description", ""),
                **source,
                "runtime_config": runtime_config,
                "service_account": body.get("service_account") or DEFAULT_SERVICE_ACCOUNT,
                "created_at": now,
                "scheduled_at": now,
                "finished_at": EPOCH,
                "state": "PENDING",
                "state_history": [{"update_time": now, "state": "PENDING"}],
            }
        )
        self._runs[run["run_id"]] = run
        self._run_clock[run["run_id"]] = time.monotonic()
        self.experiments[experiment_id]["last_run_created_at"] = now
        return run

    def _run(self, run_id: str) -> dict:
        if run_id not in self._runs:
            raise ApiError(NOT_FOUND, f"Run {run_id} not found")
        run = self._runs[run_id]
        self._advance(run)
        return run

    def _set_state(self, run: dict, state: str, error_message: str | None = None) -> None:
        now = self._now()
        run["state"] = state
        entry: dict[str, Any] = {"update_time": now, "state": state}
        if state == "FAILED":
            error = {"code": 2, "message": error_message or "the pipeline run failed"}
            run["error"] = error
            entry["error"] = error
        else:
            run.pop("error", None)
        run.setdefault("state_history", []).append(entry)
        if state in TERMINAL_STATES:
            run["finished_at"] = now
            self._run_clock.pop(run["run_id"], None)

    def _advance(self, run: dict) -> None:
        """Move a run along PENDING -> RUNNING -> final state by elapsed time."""
        started = self._run_clock.get(run["run_id"])
        if started is None or run["state"] in TERMINAL_STATES:
            return
        elapsed = time.monotonic() - started
        if run["state"] == "PENDING" and elapsed >= self.pending_s:
            self._set_state(run, "RUNNING")
        if run["state"] != "RUNNING" or elapsed < self.pending_s + self.running_s:
            return
        outcome = self.run_outcome(copy.deepcopy(run)) if self.run_outcome else None
        message = None
        if isinstance(outcome, tuple):
            outcome, message = outcome
        state = str(outcome or "SUCCEEDED").upper()
        if state not in _OUTCOME_STATES:
            raise ValueError(f"run_outcome returned {outcome!r}; expected one of {_OUTCOME_STATES}")
        if state in TERMINAL_STATES:
            self._set_state(run, state, message)

    def _create_run(self, params: dict, query: dict, content_type: str, raw: bytes):
        return copy.deepcopy(self._create_run_from(self._json_body(raw)))

    def _of_experiment(self, items: list[dict], query: dict, what: str) -> list[dict]:
        """The items of the query's experiment, which must exist: listing runs or recurring
        runs first fetches the experiment's namespace (listRuns in run_server.go, listJobs in
        job_server.go, GetNamespaceFromExperimentId in resource/resource_manager.go at 2.5.0),
        so an unknown experiment is NOT_FOUND, not an empty list."""
        experiment_id = query.get("experiment_id")
        if not experiment_id:
            return items
        if experiment_id not in self.experiments:
            raise ApiError(
                NOT_FOUND,
                f"Failed to list {what} due to error fetching namespace for experiment "
                f"{experiment_id}. Try filtering based on namespace: Failed to fetch namespace "
                f"from experiment {experiment_id}: ResourceNotFoundError: Experiment "
                f"{experiment_id} not found",
            )
        return [r for r in items if r.get("experiment_id") == experiment_id]

    def _list_runs(self, params: dict, query: dict, content_type: str, raw: bytes):
        items = self._of_experiment(list(self.runs.values()), query, "runs")
        page, total, token = self._list("runs", items, query)
        return _drop_empty({"runs": page, "total_size": total, "next_page_token": token})

    def _get_run(self, params: dict, query: dict, content_type: str, raw: bytes):
        return copy.deepcopy(self._run(params["run_id"]))

    def _delete_run(self, params: dict, query: dict, content_type: str, raw: bytes):
        self._run(params["run_id"])
        del self._runs[params["run_id"]]
        self._run_clock.pop(params["run_id"], None)
        return {}

    def _run_action(self, params: dict, query: dict, content_type: str, raw: bytes):
        run = self._run(params["run_id"])
        action = params["action"]
        if action in ("archive", "unarchive"):
            run["storage_state"] = "ARCHIVED" if action == "archive" else "AVAILABLE"
        elif action == "terminate":
            if run["state"] not in TERMINAL_STATES:
                self._set_state(run, "CANCELED")
        else:  # retry
            if run["state"] not in ("FAILED", "CANCELED"):
                raise ApiError(
                    FAILED_PRECONDITION,
                    f"Failed to retry run {run['run_id']}: it is in state {run['state']}",
                )
            run["finished_at"] = EPOCH
            self._set_state(run, "PENDING")
            self._run_clock[run["run_id"]] = time.monotonic()
        return {}

    # -- recurring runs ----------------------------------------------------------------------------

    def _recurring_run(self, recurring_run_id: str) -> dict:
        if recurring_run_id not in self.recurring_runs:
            raise ApiError(NOT_FOUND, f"RecurringRun {recurring_run_id} not found")
        return self.recurring_runs[recurring_run_id]

    def _create_recurring_run(self, params: dict, query: dict, content_type: str, raw: bytes):
        body = self._json_body(raw)
        if not body.get("display_name"):
            raise ApiError(INVALID_ARGUMENT, "The recurring run name is empty")
        # toModelJob's checks (backend/src/apiserver/server/api_converter.go at 2.5.0): a
        # max_concurrency left out is 0, refused like any value outside 1..10.
        try:
            max_concurrency = int(body.get("max_concurrency") or 0)
        except (TypeError, ValueError) as e:
            raise ApiError(INVALID_ARGUMENT, f"invalid max_concurrency: {e}") from e
        if not 1 <= max_concurrency <= 10:
            raise ApiError(
                INVALID_ARGUMENT,
                "Invalid input error: Max concurrency of a recurring run must be at least 1 and "
                f"at most 10. Received {max_concurrency}",
            )
        trigger = body.get("trigger") or {}
        cron = (trigger.get("cron_schedule") or {}).get("cron")
        interval = (trigger.get("periodic_schedule") or {}).get("interval_second")
        if cron is not None:
            _validate_cron(cron)
        elif interval is not None:
            if int(interval) < 1:
                raise ApiError(
                    INVALID_ARGUMENT,
                    f"Invalid input error: Found invalid period schedule interval {interval}. "
                    "Set at interval to least 1 second",
                )
        else:
            raise ApiError(
                INVALID_ARGUMENT,
                "Failed to create a recurring run: a cron or a periodic schedule is required",
            )
        experiment_id = self._experiment_for(body)
        source, spec = self._resolve_source(body, "a recurring run")
        runtime_config = self._runtime_config(body)
        check_pipeline_job_inputs(spec, runtime_config.get("parameters") or {})
        enabled = body.get("mode") != "DISABLE"
        now = self._now()
        recurring_run = _drop_empty(
            {
                "recurring_run_id": self._new_id(),
                "display_name": body["display_name"],
                "description": body.get("description", ""),
                **source,
                "runtime_config": runtime_config,
                "service_account": body.get("service_account") or DEFAULT_SERVICE_ACCOUNT,
                "max_concurrency": str(max_concurrency),  # int64: a JSON string
                "trigger": copy.deepcopy(trigger),
                "mode": "ENABLE" if enabled else "DISABLE",
                "created_at": now,
                "updated_at": now,
                "status": "ENABLED" if enabled else "DISABLED",
                "no_catchup": bool(body.get("no_catchup")),
                "experiment_id": experiment_id,
            }
        )
        self.recurring_runs[recurring_run["recurring_run_id"]] = recurring_run
        return copy.deepcopy(recurring_run)

    def _list_recurring_runs(self, params: dict, query: dict, content_type: str, raw: bytes):
        items = self._of_experiment(list(self.recurring_runs.values()), query, "recurring runs")
        page, total, token = self._list("recurring_runs", items, query)
        return _drop_empty({"recurringRuns": page, "total_size": total, "next_page_token": token})

    def _get_recurring_run(self, params: dict, query: dict, content_type: str, raw: bytes):
        return copy.deepcopy(self._recurring_run(params["recurring_run_id"]))

    def _delete_recurring_run(self, params: dict, query: dict, content_type: str, raw: bytes):
        self._recurring_run(params["recurring_run_id"])
        del self.recurring_runs[params["recurring_run_id"]]
        return {}

    def _recurring_run_action(self, params: dict, query: dict, content_type: str, raw: bytes):
        recurring_run = self._recurring_run(params["recurring_run_id"])
        enable = params["action"] == "enable"
        recurring_run["mode"] = "ENABLE" if enable else "DISABLE"
        recurring_run["status"] = "ENABLED" if enable else "DISABLED"
        recurring_run["updated_at"] = self._now()
        return {}


def _spec_documents(spec: dict) -> list[dict]:
    """The YAML documents of an API `pipeline_spec` (spec, or spec and platform spec)."""
    if "pipeline_spec" in spec and "platform_spec" in spec:
        return [spec["pipeline_spec"], spec["platform_spec"]]
    return [spec]


def _base_name(filename: str) -> str:
    name = filename.rsplit("/", 1)[-1]
    for suffix in (".tar.gz", ".tgz", ".zip", ".yaml", ".yml"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _sort_value(field: str, value: Any) -> Any:
    """A row's value in the sort column: seconds for timestamps (the database stores
    CreatedAtInSec and the like), text otherwise."""
    if field.endswith("_at"):
        return int(_epoch_seconds(value))
    if isinstance(value, bool | int | float):
        return str(value)
    return "" if value is None else json.dumps(value) if isinstance(value, dict | list) else value


def _predicate(field: str, operation: str, value: Any) -> Callable[[dict], bool]:
    is_time = field.endswith("_at")

    def normalize(v: Any) -> Any:
        if is_time:
            return _epoch_seconds(v)
        if isinstance(v, bool | int | float):
            return v
        return "" if v is None else str(v)

    def check(item: dict) -> bool:
        actual = normalize(item.get(field))
        if operation == "IN":
            return actual in [normalize(v) for v in value]
        expected = normalize(value)
        if isinstance(expected, str) and not isinstance(actual, str):
            actual = str(actual)
        if operation == "IS_SUBSTRING":
            return str(expected) in str(actual)
        if operation == "EQUALS":
            return actual == expected
        if operation == "NOT_EQUALS":
            return actual != expected
        if operation == "GREATER_THAN":
            return actual > expected
        if operation == "GREATER_THAN_EQUALS":
            return actual >= expected
        if operation == "LESS_THAN":
            return actual < expected
        return actual <= expected  # LESS_THAN_EQUALS

    return check


_EXPERIMENT = r"/experiments/(?P<experiment_id>[^/:]+)"
_PIPELINE = r"/pipelines/(?P<pipeline_id>[^/:]+)"
_VERSION = _PIPELINE + r"/versions/(?P<pipeline_version_id>[^/:]+)"
_RUN = r"/runs/(?P<run_id>[^/:]+)"
_RECURRING_RUN = r"/recurringruns/(?P<recurring_run_id>[^/:]+)"
_ROUTES: list[tuple[str, re.Pattern, str]] = [
    (method, re.compile(pattern), name)
    for method, pattern, name in [
        ("GET", r"/healthz", "_healthz"),
        ("POST", r"/experiments", "_create_experiment"),
        ("GET", r"/experiments", "_list_experiments"),
        ("GET", _EXPERIMENT, "_get_experiment"),
        ("DELETE", _EXPERIMENT, "_delete_experiment"),
        ("POST", _EXPERIMENT + r":(?P<action>archive|unarchive)", "_archive_experiment"),
        ("POST", r"/pipelines/upload", "_upload_pipeline"),
        ("POST", r"/pipelines/upload_version", "_upload_pipeline_version"),
        ("POST", r"/pipelines/create", "_create_pipeline_and_version"),
        ("POST", r"/pipelines", "_create_pipeline"),
        ("GET", r"/pipelines", "_list_pipelines"),
        ("GET", r"/pipelines/names/(?P<name>[^/]+)", "_get_pipeline_by_name"),
        ("GET", _PIPELINE, "_get_pipeline"),
        ("DELETE", _PIPELINE, "_delete_pipeline"),
        ("POST", _PIPELINE + "/versions", "_create_pipeline_version"),
        ("GET", _PIPELINE + "/versions", "_list_pipeline_versions"),
        ("GET", _VERSION, "_get_pipeline_version"),
        ("DELETE", _VERSION, "_delete_pipeline_version"),
        ("POST", r"/runs", "_create_run"),
        ("GET", r"/runs", "_list_runs"),
        ("GET", _RUN, "_get_run"),
        ("DELETE", _RUN, "_delete_run"),
        ("POST", _RUN + r":(?P<action>archive|unarchive|terminate|retry)", "_run_action"),
        ("POST", r"/recurringruns", "_create_recurring_run"),
        ("GET", r"/recurringruns", "_list_recurring_runs"),
        ("GET", _RECURRING_RUN, "_get_recurring_run"),
        ("DELETE", _RECURRING_RUN, "_delete_recurring_run"),
        ("POST", _RECURRING_RUN + r":(?P<action>enable|disable)", "_recurring_run_action"),
    ]
]
