"""A loopback proxy in front of gcp-storage-emulator that enforces what the emulator ignores
and Cloud Storage enforces: an upload with ifGenerationMatch=N succeeds only when the
object's generation is N (0: the object must not exist), else 412 Precondition Failed.
It records the preconditions it saw, so tests can check the client sends them."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import requests

_METADATA = re.compile(rb"\r\n\r\n(\{.*?\})\r\n--", re.S)


class PreconditionProxy:
    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.preconditions: list[tuple[str, str, int]] = []  # (object, ifGenerationMatch, status)
        self._lock = threading.Lock()  # checks and uploads in turn, as the service is atomic
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    status, headers, content = proxy._forward(self, body)
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in (
                        "transfer-encoding",
                        "content-encoding",
                        "connection",
                        "content-length",
                    ):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _current_generation(self, bucket: str, name: str) -> int:
        r = requests.get(
            f"{self.upstream}/storage/v1/b/{bucket}/o/{quote(name, safe='')}", timeout=30
        )
        return int(r.json()["generation"]) if r.status_code == 200 else 0

    def _forward(self, handler, body: bytes):
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query)
        wanted = query.get("ifGenerationMatch", [None])[0]
        if handler.command == "POST" and parts.path.startswith("/upload/") and wanted is not None:
            bucket = parts.path.split("/b/", 1)[1].split("/", 1)[0]
            name = query.get("name", [None])[0]
            if name is None and (m := _METADATA.search(body)):
                name = json.loads(m.group(1))["name"]
            if self._current_generation(bucket, name) != int(wanted):
                self.preconditions.append((name, wanted, 412))
                message = {"error": {"code": 412, "message": "Precondition Failed"}}
                return 412, {"Content-Type": "application/json"}, json.dumps(message).encode()
            self.preconditions.append((name, wanted, 200))
        headers = {k: v for k, v in handler.headers.items() if k.lower() != "host"}
        r = requests.request(
            handler.command,
            self.upstream + handler.path,
            headers=headers,
            data=body,
            allow_redirects=False,
            timeout=30,
        )
        return r.status_code, dict(r.headers), r.content

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
