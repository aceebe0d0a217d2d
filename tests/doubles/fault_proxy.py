"""A loopback HTTP proxy in front of a real server (here gcp-storage-emulator) that answers
chosen requests with an error status instead of forwarding them: how the tests make Cloud
Storage answer 5xx to the real client."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


class FaultProxy:
    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.faults: list[dict] = []  # {method, path_prefix, status, times}
        self.seen: list[tuple[str, str, int]] = []  # (method, path, status answered)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status = proxy._fault_for(self.command, self.path)
                if status:
                    payload = b'{"error": {"code": %d, "message": "injected"}}' % status
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                else:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    r = requests.request(
                        self.command,
                        proxy.upstream + self.path,
                        headers=headers,
                        data=body,
                        allow_redirects=False,
                        timeout=30,
                    )
                    status = r.status_code
                    self.send_response(status)
                    for k, v in r.headers.items():
                        if k.lower() not in (
                            "transfer-encoding",
                            "content-encoding",
                            "connection",
                            "content-length",
                        ):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(r.content)))
                    self.end_headers()
                    self.wfile.write(r.content)
                with proxy._lock:
                    proxy.seen.append((self.command, self.path, status))

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

            def log_message(self, *args):  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def inject(self, method: str, path_prefix: str, status: int, times: int) -> None:
        with self._lock:
            self.faults.append(
                {"method": method, "path_prefix": path_prefix, "status": status, "times": times}
            )

    def _fault_for(self, method: str, path: str) -> int | None:
        with self._lock:
            for fault in self.faults:
                if (
                    fault["times"] > 0
                    and fault["method"] == method
                    and path.startswith(fault["path_prefix"])
                ):
                    fault["times"] -= 1
                    return fault["status"]
        return None

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
