"""A plain HTTP client for the prediction service's tests (one connection per call)."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit


def call(url: str, method: str = "GET", body=None, headers: dict | None = None, raw=False):
    """(status, JSON answer, response headers). body: a dict (sent as JSON) or bytes."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        data = json.dumps(body).encode() if isinstance(body, dict | list) else body
        conn.request(method, parts.path, body=data, headers=headers or {})
        resp = conn.getresponse()
        payload = resp.read()
        return resp.status, (payload if raw else json.loads(payload)), dict(resp.getheaders())
    finally:
        conn.close()


def declared_length_only(url: str, length: int):
    """A POST that declares `length` bytes and sends none: the server must answer from the
    header alone (413), without waiting for the body."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest("POST", parts.path)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read()), dict(resp.getheaders())
    finally:
        conn.close()
