"""`make usecase`: a use case folder from a CSV table, the task inferred or checked against the
label, and nothing written when the table, the label or the task is wrong."""

import shutil
import subprocess
import sys

import pytest
import yaml

from mlops.core.errors import BuildError
from mlops.core.model_settings import load_model_settings
from mlops.core.paths import REPO
from mlops.core.pipeline_parameters import settings_values
from mlops.testing.tables import write_table
from mlops.usecases.scaffold import scaffold


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(
        REPO / "pipelines", root / "pipelines", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "settings.yaml", root / "settings.yaml")
    return root


def _table(root, task, text=None):
    path = root / "data" / f"{task}.csv"
    if text is None:
        return write_table(path, task, rows=300)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "task, label, inferred",
    [("binary", "churned", "binary"), ("multiclass", "species", "multiclass"),
     ("regression", "price", "regression")],
)  # fmt: skip
def test_each_task_is_inferred_and_the_use_case_loads(project, task, label, inferred):
    said = []
    folder = scaffold(project, f"uc_{task}", _table(project, task), label, say=said.append)
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md", "schema.pbtxt", "settings.yaml", "transform.py"
    ]  # fmt: skip
    assert said[0].startswith(f"[usecase] task: {inferred} (inferred: ")
    model = load_model_settings(project, "local", usecase=f"uc_{task}")
    assert (model.name, model.task, model.label_key) == (f"uc_{task}", inferred, label)
    values = settings_values(project, "local", usecase=f"uc_{task}")
    assert values["label"] == label and values["null_markers"].startswith('["", "NA"')
    assert values["check_label_classes"] is (task != "regression")
    assert f'LABEL_KEY = "{label}"' in values["transform_module"]
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--line-length",
         "100", "--select", "E,F,W,I,B,UP", str(folder / "transform.py")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert ruff.returncode == 0, ruff.stdout  # what a use case author starts from is clean
    schema = values["schema"]
    assert 'not_in_environment: "SERVING"' in schema and "drift_comparator" in schema


def test_thresholds_are_what_a_trivial_model_scores(project):
    text = "x,y\n" + "".join(f"{i},{'a' if i % 4 else 'b'}\n" for i in range(40))
    scaffold(project, "lopsided", _table(project, "lopsided", text), "y", say=lambda _: None)
    overlay = yaml.safe_load((project / "pipelines/usecases/lopsided/settings.yaml").read_text())
    assert overlay["model"]["task"] == "binary"
    assert overlay["triggers"]["degradation"] == {
        "labels": "data/labels/lopsided", "metric": "binary_accuracy", "threshold": 0.75
    }  # fmt: skip
    numbers = "x,y\n" + "".join(f"{i},{v}\n" for i, v in enumerate([1.0, 2.0, 3.0, 6.0] * 10))
    scaffold(project, "spread", _table(project, "spread", numbers), "y", say=lambda _: None)
    overlay = yaml.safe_load((project / "pipelines/usecases/spread/settings.yaml").read_text())
    assert overlay["model"]["task"] == "regression"  # 4 float values: not classes
    # Mean 3: variance (4+1+0+9)/4 = 3.5, mean absolute deviation (2+1+0+3)/4 = 1.5.
    assert overlay["model"]["evaluation"]["thresholds"] == {"MeanSquaredError": {"upper": 3.5}}
    assert overlay["triggers"]["degradation"]["threshold"] == 1.5


def test_each_new_use_case_is_served_on_its_own_port(project):
    ports = []
    for name in ("first", "second"):
        scaffold(project, name, _table(project, "binary"), "churned", say=lambda _: None)
        ports.append(load_model_settings(project, "local", usecase=name).serving.port)
    taxi = load_model_settings(project, "local", usecase="taxi").serving.port
    assert len({taxi, *ports}) == 3 and ports[1] == ports[0] + 1
    scaffold(project, "first", _table(project, "binary"), "churned", force=True, say=print)
    assert load_model_settings(project, "local", usecase="first").serving.port == ports[0]


@pytest.mark.parametrize(
    "text, label, task, message",
    [
        ("a,b\n1,x\n", "tips", None, "LABEL='tips' is not a column (columns: ['a', 'b'])"),
        ("a,b\n1,NA\n2,?\n", "b", None, "the label 'b' is missing in every row"),
        ("a,b\n1,x\n2,y\n", "b", "regression", "regression needs numbers, the label has text"),
        ("a,b\n1,x\n2,y\n3,z\n", "b", "binary", "binary needs 2 distinct values, it has 3"),
        ("a,b\n1,0.5\n2,1.5\n", "b", "multiclass", "fractional values: use regression"),
        ("a,b\n1,x\n", "b", "ranking", "TASK='ranking': expected one of binary"),
        ("a,b\n", "b", None, "no data rows, only a header"),
    ],
)
def test_bad_input_is_named_and_nothing_is_written(project, text, label, task, message):
    with pytest.raises(BuildError) as caught:
        scaffold(project, "bad", _table(project, "bad", text), label, task, say=lambda _: None)
    assert message in str(caught.value)
    assert not (project / "pipelines" / "usecases" / "bad").exists()


def test_an_existing_use_case_is_kept_without_force(project):
    with pytest.raises(BuildError, match="usecases/taxi: already exists"):
        scaffold(project, "taxi", _table(project, "binary"), "churned")
    assert load_model_settings(project, "local", usecase="taxi").name == "taxi_big_tipper"
    with pytest.raises(BuildError, match="NAME='Bad-Name'"):
        scaffold(project, "Bad-Name", _table(project, "binary"), "churned")
