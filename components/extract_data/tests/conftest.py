"""Puts this component's src/ on the import path, as the image's PYTHONPATH does, and this
folder too (for the BigQuery double); fixtures: a sample of the taxi data, the Cloud Storage
emulator and the BigQuery double."""

import csv
import os
import sys
from pathlib import Path

import pytest

# TF 2.16 defaults to Keras 3; TFT 1.16 and TFMA 0.47 need Keras 2 (as the base image sets).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[3]
TAXI = REPO / "data" / "chicago_taxi" / "data.csv"
# One in-process worker: the machine is shared, and the tests' data is tiny.
BEAM_ARGS = '["--runner=DirectRunner", "--direct_num_workers=1"]'


def taxi_rows(n: int, start: int = 0) -> tuple[list[str], list[list[str]]]:
    """The header and rows [start, start + n) of the taxi sample, with a row_id column."""
    with TAXI.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [row for i, row in enumerate(reader) if start <= i < start + n]
    return ["row_id", *header], [[str(start + i), *row] for i, row in enumerate(rows)]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def taxi_csv(tmp_path) -> Path:
    """The first 300 taxi trips, with row ids, in a CSV file."""
    header, rows = taxi_rows(300)
    return write_csv(tmp_path / "data" / "taxi.csv", header, rows)


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory):
    """host:port of a gcp-storage-emulator (in memory) for this session."""
    from cicd.gcs_emulator import GcsEmulator

    emulator = GcsEmulator(tmp_path_factory.mktemp("gcs") / "emulator.log")
    yield emulator.address
    emulator.stop()


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
