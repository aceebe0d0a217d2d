"""gcp-storage-emulator (in memory) on a free loopback port: the real google-cloud-storage
client talks to it when STORAGE_EMULATOR_HOST is its address. For tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mlops.testing.local_registry import free_port, wait_until_answers


class GcsEmulator:
    def __init__(self, log: Path):
        self.port = free_port()
        self.address = f"http://127.0.0.1:{self.port}"
        binary = Path(sys.executable).parent / "gcp-storage-emulator"
        self._log = log.open("w")
        self._proc = subprocess.Popen(
            [str(binary), "start", "--host", "127.0.0.1", "--port", str(self.port), "--in-memory"],
            stdout=self._log,
            stderr=self._log,
        )
        wait_until_answers(self.address, self._proc)

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(10)
        self._log.close()
