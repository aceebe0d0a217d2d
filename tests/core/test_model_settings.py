"""The model and serving sections of settings.yaml: the repository's values, and bad values
named with their field."""

from pathlib import Path

import pytest
import yaml

from mlops.core.errors import BuildError
from mlops.core.model_settings import load_model_settings
from mlops.core.paths import REPO
from mlops.testing.projects import repo_settings


def test_the_repository_settings():
    settings = load_model_settings(REPO, "local")
    assert settings.name == "taxi_big_tipper"
    assert settings.train["hidden_units"] == "64,32" and settings.train["epochs"] >= 1
    assert settings.serving.registry == str(REPO / ".local" / "model_registry")
    assert settings.serving.model_url("m") == "http://127.0.0.1:8501/v1/models/m"
    assert 0 <= settings.serving.canary_percent <= 100
    evaluation = yaml.safe_load(settings.eval_config_json())
    assert evaluation["label_key"] == "big_tipper" and "AUC" in evaluation["thresholds"]
    assert (settings.task, settings.label_key, settings.module) == ("binary", "big_tipper", None)


def _project(tmp_path: Path, model: dict, serving: dict) -> Path:
    """The repository's settings with the taxi use case merged in, in one file."""
    base = repo_settings()
    base["model"].update(model)
    base["serving"].update(serving)
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump(base))
    return tmp_path


@pytest.mark.parametrize(
    "model, serving, problem",
    [
        ({"name": "9lives"}, {}, "model.name is '9lives'"),
        ({"train": {"hidden_units": "wide"}}, {}, "model.train.hidden_units is 'wide'"),
        (
            {"train": {"hidden_units": "8", "learning_rate": 0.1, "epochs": 0, "batch_size": 8}},
            {},
            "model.train.epochs is 0; expected an integer at least 1",
        ),
        ({"tuning": {"max_trials": -1}}, {}, "model.tuning.max_trials is -1"),
        ({"evaluation": None}, {}, "model.evaluation: missing"),
        ({"task": "ranking"}, {}, "model.task is 'ranking'; expected one of binary, multiclass"),
        ({"label_key": None}, {}, "model.label_key: missing"),
        (
            {"evaluation": {"label_key": "other"}},
            {},
            "model.evaluation.label_key is 'other' but model.label_key is 'big_tipper'",
        ),
        ({"module": "nope.py"}, {}, "model.module 'nope.py': no such file"),
        ({}, {"canary_percent": 150}, "serving.canary_percent is 150; expected an integer"),
        ({}, {"target": "sagemaker"}, "serving.target is 'sagemaker'; use one of local, vertex"),
        ({}, {"target": "vertex"}, "serving.registry must be gs://"),
        ({}, {"registry": None}, "serving.registry: missing"),
    ],
)
def test_bad_values_are_named(tmp_path, model, serving, problem):
    root = _project(tmp_path, model, serving)
    with pytest.raises(BuildError) as e:
        load_model_settings(root, "local")
    assert problem in str(e.value)
    assert str(root / "settings.yaml") in str(e.value) and "'local'" in str(e.value)
