"""Puts this component's src/ on the import path, as the image's PYTHONPATH does; and the
fixtures of its tests: raw Examples made from a few hundred rows of the taxi CSV
(mlops.testing.raw_examples)."""

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlops.testing.raw_examples import feature_types, read_taxi_rows, to_example, write_examples

# TF 2.16 defaults to Keras 3; TFT 1.16 and TFMA 0.47 need Keras 2 (as the base image sets).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

REPO = Path(__file__).resolve().parents[3]
TAXI_MODULE = REPO / "pipelines" / "usecases" / "taxi" / "transform.py"
RAW_SCHEMA = Path(__file__).parent / "fixtures" / "raw_schema.pbtxt"
# One worker: the machine is shared; the data is tiny.
TEST_BEAM_ARGS = "--runner=DirectRunner --direct_num_workers=1"


@pytest.fixture(scope="session")
def raw_schema_text() -> str:
    return RAW_SCHEMA.read_text()


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    """The helpers above, for test modules (which cannot import conftest)."""
    return SimpleNamespace(
        read_taxi_rows=read_taxi_rows,
        to_example=to_example,
        write_examples=write_examples,
        feature_types=feature_types,
        REPO=REPO,
        TAXI_MODULE=TAXI_MODULE,
        TEST_BEAM_ARGS=TEST_BEAM_ARGS,
    )
