"""Puts this component's src/ on the import path, as the image's PYTHONPATH does, and this
folder too (for the test helpers); fixtures: tiny SavedModels that follow the model contract,
a registry holding them, and the Cloud Storage emulator."""

import os
import sys
from pathlib import Path

import pytest

from mlops.testing import fixtures

# TF 2.16 defaults to Keras 3; the project's models are Keras 2 (as the base image sets).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory) -> dict[int, Path]:
    """Model artifacts (SavedModel + mlops_model.json) for versions 1-3 of the tiny model."""
    from tiny_model import WEIGHTS, make_model

    root = tmp_path_factory.mktemp("models")
    return {v: make_model(root / f"model_w{v}", w) for v, w in WEIGHTS.items()}


@pytest.fixture
def registry_root(tmp_path) -> Path:
    return tmp_path / "registry"


gcs_emulator = fixtures.gcs_emulator  # the session's emulator, defined once


@pytest.fixture
def gcs(gcs_emulator, monkeypatch):
    """A storage client on the emulator, through a proxy that enforces ifGenerationMatch
    (the emulator ignores it; Cloud Storage enforces it); STORAGE_EMULATOR_HOST points the
    code under test at the proxy. Returns (client, proxy)."""
    from gcs_precondition_proxy import PreconditionProxy
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    proxy = PreconditionProxy(gcs_emulator)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.address)
    client = storage.Client(project="test", credentials=AnonymousCredentials())
    yield client, proxy
    proxy.stop()
