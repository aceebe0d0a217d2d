"""A throw-away distribution registry (Debian's docker-registry) on a free loopback port with
storage of its own: for tests and benchmarks that must start from an empty registry."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import requests

from mlops.core.errors import BuildError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_answers(url: str, proc: subprocess.Popen, seconds: float = 30) -> None:
    """Waits until a server started as proc answers HTTP at url (any status)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise BuildError(f"{url} did not answer within {seconds:.0f} s")
        time.sleep(0.2)


class LocalRegistry:
    def __init__(self, workdir: Path):
        if shutil.which("docker-registry") is None:
            raise BuildError("docker-registry is not installed; run `make setup` first")
        self.workdir = workdir
        self.port = free_port()
        self.address = f"localhost:{self.port}"
        self._proc: subprocess.Popen | None = None

    def start(self) -> LocalRegistry:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "config.yml"
        config.write_text(
            "version: 0.1\nlog: {level: warn}\n"
            f"storage: {{filesystem: {{rootdirectory: {self.workdir / 'data'}}}, "
            "delete: {enabled: true}}\n"
            f"http: {{addr: 127.0.0.1:{self.port}}}\n"
        )
        log = (self.workdir / "registry.log").open("w")
        self._proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=log, stderr=log
        )
        try:
            wait_until_answers(f"http://{self.address}/v2/", self._proc)
        except BuildError:
            self.stop()
            raise BuildError(
                f"registry did not start; see {self.workdir / 'registry.log'}"
            ) from None
        return self

    def stop(self, docker_client=None) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
            self._proc = None
        if docker_client is not None:  # untag every local image that points here
            for image in docker_client.images.list():
                for tag in image.tags:
                    if tag.startswith(f"{self.address}/"):
                        docker_client.images.remove(tag)
