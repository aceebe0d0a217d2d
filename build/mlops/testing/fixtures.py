"""Pytest fixtures shared by the repository's test folders (tests/ and each component's
tests/): a conftest imports the ones it needs, so each is defined once. Test-only: nothing
outside the tests imports this module."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory):
    """host:port of a gcp-storage-emulator (in memory) for this session: the real Cloud
    Storage client talks to it through STORAGE_EMULATOR_HOST."""
    from mlops.testing.gcs_emulator import GcsEmulator

    emulator = GcsEmulator(tmp_path_factory.mktemp("gcs") / "emulator.log")
    yield emulator.address
    emulator.stop()
