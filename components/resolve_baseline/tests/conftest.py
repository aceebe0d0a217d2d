"""Puts this component's src/ on the import path, as the image's PYTHONPATH does, and this
folder (registry_files.py: registries as deploy_model lays them out); fixture: the Cloud
Storage emulator."""

import sys
from pathlib import Path

import pytest

from mlops.testing import fixtures

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

gcs_emulator = fixtures.gcs_emulator  # the session's emulator, defined once


@pytest.fixture
def gcs(gcs_emulator, monkeypatch):
    """A storage client on the emulator; STORAGE_EMULATOR_HOST set for the code under test."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    return storage.Client(project="test", credentials=AnonymousCredentials())
