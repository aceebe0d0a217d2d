"""`make bench BENCH=quality` -> bench/results/quality.json: for each use case, the CT
pipeline's model beside reference models fitted on the same split.

Each use case runs end to end as `make run USECASE=x` does (mlops.ct.ct_run, after one
`make build`). The references (scikit-learn) are fitted on the same rows the model trained
on and scored on the rows it was evaluated on: the transform step's own output (its
Split-train and Split-eval), so features, label encoding and split are exactly the model's.
Categorical ids are one-hot encoded for the linear model. References: the majority class or
the mean; logistic or linear (ridge) regression; histogram gradient boosting. The model's
figure is evaluate_model's (TFMA, overall slice). Target: at least the linear reference on
every use case; the gap to gradient boosting is reported as a ratio (1.0: as good)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from mlops.core.errors import BuildError
from mlops.core.settings import selected_usecase

USECASES = ("taxi", "churn", "species", "price")
# The figure compared per task, as evaluate_model names it, and whether higher is better.
PRIMARY = {
    "binary": ("auc", True),
    "multiclass": ("sparse_categorical_accuracy", True),
    "regression": ("mean_squared_error", False),
}


def read_split(folder: Path) -> list[dict[str, Any]]:
    """The transformed tf.Examples of one split folder, as {feature: its one value}."""
    import tensorflow as tf

    rows = []
    files = sorted(str(p) for p in folder.glob("*.gz"))
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        row = {}
        for name, feature in example.features.feature.items():
            kind = feature.WhichOneof("kind")
            values = getattr(feature, kind).value if kind else []
            row[name] = values[0] if len(values) else None
        rows.append(row)
    return rows


def matrices(train: list[dict], evaluate: list[dict], label: str):
    """(X_train, y_train, X_eval, y_eval): integer features one-hot, float features as they
    are (the transform module already scaled and imputed them)."""
    import numpy as np
    from sklearn.preprocessing import OneHotEncoder

    names = sorted(k for k in train[0] if k != label)
    ints = [n for n in names if isinstance(train[0][n], int)]
    floats = [n for n in names if n not in ints]

    def numeric(rows):
        return np.array([[r[n] or 0.0 for n in floats] for r in rows], dtype=np.float64)

    encoder = OneHotEncoder(handle_unknown="ignore")
    encoder.fit([[r[n] for n in ints] for r in train] if ints else [[0]] * len(train))

    def encoded(rows):
        if not ints:
            return np.zeros((len(rows), 0))
        return encoder.transform([[r[n] for n in ints] for r in rows]).toarray()

    def x(rows):
        return np.hstack([numeric(rows), encoded(rows)])

    return x(train), [r[label] for r in train], x(evaluate), [r[label] for r in evaluate]


def references(task: str, x_train, y_train, x_eval, y_eval) -> dict[str, float]:
    from sklearn import dummy, ensemble, linear_model, metrics

    if task == "regression":
        models = {
            "mean": dummy.DummyRegressor(strategy="mean"),
            "linear": linear_model.Ridge(alpha=1.0),
            "gradient_boosting": ensemble.HistGradientBoostingRegressor(random_state=0),
        }
        return {
            name: float(metrics.mean_squared_error(y_eval, m.fit(x_train, y_train).predict(x_eval)))
            for name, m in models.items()
        }
    models = {
        "majority": dummy.DummyClassifier(strategy="most_frequent"),
        "linear": linear_model.LogisticRegression(max_iter=2000),
        "gradient_boosting": ensemble.HistGradientBoostingClassifier(random_state=0),
    }
    scores = {}
    for name, model in models.items():
        model.fit(x_train, y_train)
        if task == "binary":
            scores[name] = float(metrics.roc_auc_score(y_eval, model.predict_proba(x_eval)[:, 1]))
        else:
            scores[name] = float(metrics.accuracy_score(y_eval, model.predict(x_eval)))
    return scores


def compare(task: str, model: float, refs: dict[str, float]) -> dict[str, Any]:
    """The model beside its references: meets the linear target, and its quality as a ratio
    of gradient boosting's (for an error, boosting's error over the model's)."""
    _, higher = PRIMARY[task]
    gb, linear = refs["gradient_boosting"], refs["linear"]
    ratio = model / gb if higher else gb / model
    return {
        "at_least_linear": model >= linear if higher else model <= linear,
        "ratio_to_gradient_boosting": round(ratio, 4),
    }


def _artifact(result, task: str, name: str) -> Path:
    record = next(r for r in result.steps if r.task == task)
    return Path(next(a for a in record.output_artifacts if a.name == name).uri)


def measure(root: Path, usecase: str) -> dict[str, Any]:
    from mlops.core.model_settings import load_model_settings
    from mlops.ct import ct_run

    with selected_usecase(usecase):
        model = load_model_settings(root)
        started = time.monotonic()
        result = ct_run.run(root)
        seconds = time.monotonic() - started
    metric, _ = PRIMARY[model.task]
    slices = json.loads(
        (_artifact(result, "evaluate-model", "evaluation") / "slice_metrics.json").read_text()
    )
    overall = slices["slices"][0]["candidate"]
    if metric not in overall:
        raise BuildError(f"use case {usecase}: the evaluation has no {metric} ({sorted(overall)})")
    examples = _artifact(result, "transform-data", "transformed_examples")
    train, evaluate = read_split(examples / "Split-train"), read_split(examples / "Split-eval")
    refs = references(model.task, *matrices(train, evaluate, model.label_key))
    return {
        "task": model.task,
        "metric": metric,
        "rows": {"train": len(train), "eval": len(evaluate)},
        "model": round(float(overall[metric]), 4),
        "references": {k: round(v, 4) for k, v in refs.items()},
        **compare(model.task, float(overall[metric]), refs),
        "pipeline_s": round(seconds, 1),
    }


def run(root: Path, usecases: tuple[str, ...] | None = None) -> Path:
    """Every use case of USECASES, or those BENCH_USECASES names (comma-separated); the
    figures of use cases not measured this time stay as the last run wrote them."""
    names = os.environ.get("BENCH_USECASES", "")
    usecases = usecases or tuple(n for n in names.split(",") if n) or USECASES
    build = subprocess.run(["make", "--no-print-directory", "build"], cwd=root, env=os.environ)
    if build.returncode != 0:
        raise BuildError("make build failed: the quality bench runs the built images")
    out = root / "bench" / "results" / "quality.json"
    figures = json.loads(out.read_text())["usecases"] if out.is_file() else {}
    for usecase in usecases:
        print(f"[bench] quality: use case {usecase}", flush=True)
        figures[usecase] = measure(root, usecase)
        print(f"[bench] {usecase}: {json.dumps(figures[usecase])}", flush=True)
    result = {
        "benchmark": "quality",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "usecases": figures,
        "target": "the model at least the linear reference's metric on every use case",
        "met": all(f["at_least_linear"] for f in figures.values()),
        "notes": __doc__.split("\n\n", 1)[1].replace("\n", " "),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return out
