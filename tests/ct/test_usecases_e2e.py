"""Every task end to end through the real images, as `make run USECASE=x` runs it: the example
use cases churn (binary, string labels), species (multi-class) and price (regression), on
reduced copies of their tables (missing cells as NA and ?, a few rows without a label), each
ending with its model blessed against the bars `make usecase` set from the data (the majority
class, the mean) and served, answering requests in its task's shape."""

import csv
import json
import shutil
import urllib.request

import pytest
import yaml

from mlops.core.paths import REPO

pytestmark = pytest.mark.docker

COMPONENTS = (
    "extract_data",
    "validate_data",
    "transform_data",
    "train_model",
    "resolve_baseline",
    "evaluate_model",
    "deploy_model",
)
ROWS = 900
USECASES = {"churn": "binary", "species": "multiclass", "price": "regression"}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from mlops.ci.compile import compile_all
    from mlops.ci.spec_rewrite import rewrite_images
    from mlops.testing.component_testing import build_image
    from mlops.testing.local_registry import free_port

    root = tmp_path_factory.mktemp("usecases")
    for folder in ("components", "pipelines"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("settings.yaml", "requirements.lock"):
        shutil.copy(REPO / name, root / name)
    for name in USECASES:
        lines = (REPO / "data" / "samples" / f"{name}.csv").read_text().splitlines(keepends=True)
        target = root / "data" / "samples" / f"{name}.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(lines[: ROWS + 1]))
        overlay_path = root / "pipelines" / "usecases" / name / "settings.yaml"
        overlay = yaml.safe_load(overlay_path.read_text())
        # Names and ports of their own: `make run`'s services on this machine stay alone.
        overlay["model"]["name"] = f"e2e_{name}"
        overlay["serving"]["port"] = free_port()
        overlay_path.write_text(yaml.safe_dump(overlay, sort_keys=False))
    images = {name: build_image(name) for name in COMPONENTS}
    rewrite_images({root / "components" / n / "component.yaml": i for n, i in images.items()})
    compile_all(root)
    yield {"root": root, "images": images}
    from mlops.serving import service as serving

    for name in USECASES:
        serving.stop(f"e2e_{name}")


def _rows(root, name: str, count: int) -> list[dict]:
    with (root / "data" / "samples" / f"{name}.csv").open(newline="") as f:
        return list(csv.DictReader(f))[:count]


def _instances(spec: dict, rows: list[dict]) -> list[dict]:
    """JSON rows as a client sends them: typed values, null for a missing cell."""
    cast = {"int64": int, "float32": float, "string": str}
    missing = {"", "NA", "?"}
    return [
        {k: (None if r[k] in missing else cast[v["dtype"]](r[k])) for k, v in spec.items()}
        for r in rows
    ]


@pytest.mark.parametrize("name", list(USECASES))
def test_each_task_runs_to_a_served_model(project, name):
    from mlops.core.settings import selected_usecase
    from mlops.ct import ct_run, run_report

    root, task = project["root"], USECASES[name]
    with selected_usecase(name):
        result = ct_run.run(root, service_image=project["images"]["deploy_model"])
    assert result.status == "SUCCEEDED"
    facts = run_report.facts(result)
    dropped = facts["without_label"]
    assert facts["rows"]["train"] + facts["rows"]["eval"] + sum(dropped.values()) == ROWS
    assert sum(dropped.values()) > 0  # the tables leave about 1% of labels out
    assert facts["blessing"]["blessed"] is True, facts["blessing"]
    overall = facts["slices"]["slices"][0]["candidate"]
    registry = root / ".local" / "model_registry" / f"e2e_{name}"
    sidecar = json.loads((registry / "1" / "mlops_model.json").read_text())
    assert sidecar["task"] == task

    rows = [r for r in _rows(root, name, 40) if r[sidecar["label_key"]] not in ("NA", "")]
    body = {"instances": _instances(sidecar["raw_feature_spec"], rows)}
    request = urllib.request.Request(
        result.service["url"] + ":predict", data=json.dumps(body).encode()
    )
    with urllib.request.urlopen(request) as answer:
        served = json.loads(answer.read())
    predictions = served["predictions"]
    assert len(predictions) == len(rows)
    labels = [r[sidecar["label_key"]] for r in rows]
    if task == "regression":
        assert "classes" not in served and all(len(p) == 1 for p in predictions)
        errors = [(p[0] - float(y)) ** 2 for p, y in zip(predictions, labels, strict=True)]
        # The served answers beat predicting the mean (the label's variance: the MSE bar).
        variance = _threshold(root, name, "MeanSquaredError")
        assert overall["mean_squared_error"] < variance
        assert sum(errors) / len(errors) < variance
        return
    classes = sidecar["classes"]
    assert sorted(classes) == sorted({*labels})  # the class names the model keeps
    assert [c["class"] for c in served["classes"]] == [
        classes[c["class_id"]] for c in served["classes"]
    ]
    if task == "multiclass":
        assert all(len(p) == len(classes) for p in predictions)
        assert all(sum(p) == pytest.approx(1.0, abs=1e-4) for p in predictions)
    right = sum(c["class"] == y for c, y in zip(served["classes"], labels, strict=True))
    majority = max(labels.count(c) for c in set(labels))
    assert right > majority  # better than always answering the most frequent class


def _threshold(root, name: str, metric: str) -> float:
    overlay = yaml.safe_load((root / "pipelines" / "usecases" / name / "settings.yaml").read_text())
    return overlay["model"]["evaluation"]["thresholds"][metric]["upper"]
