"""Puts this component's src/ on the import path, as the image's PYTHONPATH does (and
transform_data's, whose run makes the test data); the fixtures, shared by the tests of the
session: one taxi model trained on 1,500 rows (binary), and the synthetic problems of
synthetic_data.py through TFT (multiclass, regression, a string label)."""

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

# TF 2.16 defaults to Keras 3; TFT 1.16 and TFMA 0.47 need Keras 2 (as the base image sets).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic_data  # noqa: E402
import train_model_testing as tmt  # noqa: E402  (needs the path above)

ROWS = 1500  # 1,000 train and 500 eval rows


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    """The helper module, for test modules (which cannot import conftest)."""
    return SimpleNamespace(tmt=tmt, synthetic=synthetic_data)


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


@pytest.fixture(scope="session")
def flowers_data(tmp_path_factory) -> SimpleNamespace:
    """Three species (240 train, 90 eval rows), the label through a vocabulary "species"."""
    return synthetic_data.flowers(tmp_path_factory.mktemp("flowers"))


@pytest.fixture(scope="session")
def linear_data(tmp_path_factory) -> SimpleNamespace:
    """y = 3 x1 - 2 x2 + a group's offset + noise (240 train, 90 eval rows)."""
    return synthetic_data.linear(tmp_path_factory.mktemp("linear"))
