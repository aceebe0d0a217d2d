"""Puts this component's src/ on the import path, as the image's PYTHONPATH does (and
transform_data's, whose run makes the test data); the fixtures: one taxi model trained on
1,500 rows, shared by the tests of the session."""

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

# TF 2.16 defaults to Keras 3; TFT 1.16 and TFMA 0.47 need Keras 2 (as the base image sets).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import train_model_testing as tmt  # noqa: E402  (needs the path above)

ROWS = 1500  # 1,000 train and 500 eval rows


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    """The helper module, for test modules (which cannot import conftest)."""
    return SimpleNamespace(tmt=tmt)


@pytest.fixture(scope="session")
def taxi_data(tmp_path_factory) -> SimpleNamespace:
    return tmt.transform_taxi(tmp_path_factory.mktemp("taxi_data"), ROWS)


@pytest.fixture(scope="session")
def taxi_model(tmp_path_factory, taxi_data) -> SimpleNamespace:
    return tmt.train(
        taxi_data,
        tmp_path_factory.mktemp("taxi_model"),
        hidden_units="32,16",
        learning_rate=0.003,
        epochs=5,
        batch_size=32,
        model_name="taxi_big_tipper",
    )
