"""A small double of the BigQuery v2 REST API on loopback, driven by the real
google-cloud-bigquery client: jobs.insert / jobs.get / jobs.getQueryResults for queries,
tables.get and tabledata.list (with startIndex, maxResults and page tokens) for reading.
It runs no SQL: each query text it knows maps to a result (a schema and rows)."""

from __future__ import annotations

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

_PREFIX = "/bigquery/v2/projects/"


def _cell(value: Any) -> Any:
    if value is None:
        return {"v": None}
    if isinstance(value, list):
        return {"v": [_cell(v) for v in value]}
    if isinstance(value, bool):
        return {"v": "true" if value else "false"}
    return {"v": str(value)}


class BigQueryDouble:
    """tables: {"project.dataset.table": (fields, rows)}; queries: {sql: (fields, rows)}.
    fields as the REST API gives them ({"name", "type", "mode"}), rows as lists of values."""

    def __init__(self) -> None:
        self.tables: dict[str, tuple[list[dict], list[list[Any]]]] = {}
        self.queries: dict[str, tuple[list[dict], list[list[Any]]]] = {}
        self.jobs: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> BigQueryDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- the API ------------------------------------------------------------------------

    def _insert_job(self, project: str, body: dict) -> tuple[int, dict]:
        query = body.get("configuration", {}).get("query", {}).get("query", "")
        if query not in self.queries:
            return 400, _error(400, f"Syntax error: the double knows no query {query!r}")
        job_id = body.get("jobReference", {}).get("jobId") or uuid.uuid4().hex
        table_id = f"anon{job_id.replace('-', '_')}"
        self.tables[f"{project}._anonymous.{table_id}"] = self.queries[query]
        job = {
            "kind": "bigquery#job",
            "id": f"{project}:US.{job_id}",
            "jobReference": {"projectId": project, "jobId": job_id, "location": "US"},
            "configuration": {
                "query": {
                    **body["configuration"]["query"],
                    "destinationTable": {
                        "projectId": project,
                        "datasetId": "_anonymous",
                        "tableId": table_id,
                    },
                },
                "jobType": "QUERY",
            },
            "status": {"state": "DONE"},
            "statistics": {"creationTime": "1700000000000", "query": {}},
        }
        self.jobs[job_id] = job
        return 200, job

    def _table(self, project: str, dataset: str, table: str) -> tuple[int, dict]:
        key = f"{project}.{dataset}.{table}"
        if key not in self.tables:
            return 404, _error(404, f"Not found: Table {project}:{dataset}.{table}")
        fields, rows = self.tables[key]
        return 200, {
            "kind": "bigquery#table",
            "id": f"{project}:{dataset}.{table}",
            "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
            "schema": {"fields": fields},
            "numRows": str(len(rows)),
            "type": "TABLE",
        }

    def _rows(self, key: str, params: dict[str, list[str]]) -> tuple[list[dict], str | None]:
        fields, rows = self.tables[key]
        start = int((params.get("pageToken") or params.get("startIndex") or ["0"])[0])
        end = len(rows)
        if "maxResults" in params:
            end = min(end, start + int(params["maxResults"][0]))
        page = [{"f": [_cell(v) for v in row]} for row in rows[start:end]]
        return page, (str(end) if end < len(rows) and "maxResults" in params else None)

    def _query_results(self, project: str, job_id: str, params) -> tuple[int, dict]:
        job = self.jobs.get(job_id)
        if job is None:
            return 404, _error(404, f"Not found: Job {project}:{job_id}")
        dest = job["configuration"]["query"]["destinationTable"]
        key = f"{dest['projectId']}.{dest['datasetId']}.{dest['tableId']}"
        fields, rows = self.tables[key]
        page, token = self._rows(key, params)
        body = {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": job["jobReference"],
            "jobComplete": True,
            "schema": {"fields": fields},
            "totalRows": str(len(rows)),
            "rows": page,
        }
        if token:
            body["pageToken"] = token
        return 200, body

    def handle(self, method: str, url: str, body: dict) -> tuple[int, dict]:
        parsed = urlparse(url)
        params = parse_qs(parsed.query)
        with self._lock:
            self.requests.append((method, parsed.path))
        if not parsed.path.startswith(_PREFIX):
            return 404, _error(404, f"no such path {parsed.path}")
        parts = parsed.path[len(_PREFIX) :].split("/")
        with self._lock:
            if method == "POST" and len(parts) == 2 and parts[1] == "jobs":
                return self._insert_job(parts[0], body)
            if method == "GET" and len(parts) == 3 and parts[1] == "jobs":
                job = self.jobs.get(parts[2])
                return (200, job) if job else (404, _error(404, f"Not found: Job {parts[2]}"))
            if method == "GET" and len(parts) == 3 and parts[1] == "queries":
                return self._query_results(parts[0], parts[2], params)
            if method == "GET" and len(parts) in (5, 6) and parts[1] == "datasets":
                status, table = self._table(parts[0], parts[2], parts[4])
                if status != 200 or len(parts) == 5:
                    return status, table
                if parts[5] == "data":
                    page, token = self._rows(f"{parts[0]}.{parts[2]}.{parts[4]}", params)
                    data = {"kind": "bigquery#tableDataList", "totalRows": table["numRows"]}
                    data["rows"] = page
                    if token:
                        data["pageToken"] = token
                    return 200, data
        return 404, _error(404, f"the double does not serve {method} {parsed.path}")

    def _handler(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw.strip() else {}
                status, answer = double.handle(method, self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def _error(code: int, message: str) -> dict:
    reason = {400: "invalidQuery", 404: "notFound"}.get(code, "backendError")
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "reason": reason}],
            "status": re.sub(r"\s", "_", {404: "NOT FOUND"}.get(code, "INVALID ARGUMENT")),
        }
    }
