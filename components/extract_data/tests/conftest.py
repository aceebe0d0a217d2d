"""Puts this component's src/ on the import path, as the image's PYTHONPATH does, and this
folder too (for the BigQuery double); fixtures: a sample of the taxi data, the Cloud Storage
emulator and the BigQuery double."""

import os
import sys
from pathlib import Path

import pytest

# TF 2.16 defaults to Keras 3; TFT 1.16 and TFMA 0.47 need Keras 2 (as the base image sets).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from extract_data_testing import taxi_rows, write_csv  # noqa: E402 (after the path)

from mlops.testing import fixtures


@pytest.fixture
def taxi_csv(tmp_path) -> Path:
    """The first 300 taxi trips, with row ids, in a CSV file."""
    header, rows = taxi_rows(300)
    return write_csv(tmp_path / "data" / "taxi.csv", header, rows)


gcs_emulator = fixtures.gcs_emulator  # the session's emulator, defined once


@pytest.fixture
def gcs(gcs_emulator, monkeypatch):
    """A storage client on the emulator; STORAGE_EMULATOR_HOST set for the code under test.
    There are no Google credentials here: Beam would look for them with retries for half a
    minute before connecting anonymously, so it is told there are none."""
    from apache_beam.internal.gcp import auth
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    monkeypatch.setattr(auth._Credentials, "_get_service_credentials", staticmethod(lambda o: None))
    monkeypatch.setattr(auth._Credentials, "_credentials_init", False)
    return storage.Client(project="test", credentials=AnonymousCredentials())


@pytest.fixture
def bigquery(monkeypatch):
    """The BigQuery double on loopback; BIGQUERY_EMULATOR_HOST points the component at it."""
    from bigquery_double import BigQueryDouble

    with BigQueryDouble() as double:
        monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", double.endpoint)
        yield double
