"""Tiny SavedModels with the model contract's signatures, built with tf.Module, on the raw
features fare, trip_miles, trip_start_hour and payment_type. Small and fast, for the
service's tests:

- make_model: binary, a logistic function whose fare weight differs per version;
- make_task_model: per task (binary, multiclass: softmax over 3 classes, regression: a
  linear value), each with its formula in plain Python (task_expected);
- make_failing_model: binary, loads and warms up, then fails every prediction with a fare
  above 0 (a missing file read at prediction time: a 500, as a broken model gives)."""

from __future__ import annotations

import json
from pathlib import Path

# One fare weight per version, so the answering version shows in the prediction.
WEIGHTS = {1: 0.05, 2: 0.15, 3: 0.30}

RAW_FEATURE_SPEC = {
    "fare": {"dtype": "float32"},
    "trip_miles": {"dtype": "float32"},
    "trip_start_hour": {"dtype": "int64"},
    "payment_type": {"dtype": "string"},
}

ROWS = [
    {"fare": 12.5, "trip_miles": 3.1, "trip_start_hour": 14, "payment_type": "Credit Card"},
    {"fare": 40.0, "trip_miles": 15.2, "trip_start_hour": 2, "payment_type": "Cash"},
    {"fare": None, "trip_miles": 0.4, "trip_start_hour": 23, "payment_type": None},
    {"fare": 5, "trip_miles": 1, "trip_start_hour": 0, "payment_type": "Cash"},
]


def make_model(path: Path, weight: float) -> Path:
    import tensorflow as tf

    def score(self, fare, trip_miles, trip_start_hour, payment_type):
        z = (
            self.weight * fare
            + 0.05 * trip_miles
            + 0.01 * tf.cast(trip_start_hour, tf.float32)
            + tf.where(tf.equal(payment_type, "Cash"), 0.3, 0.0)
            - 1.0
        )
        return tf.sigmoid(z)[:, None]

    sidecar = {
        "model_name_hint": "tiny",
        "label_key": "big_tipper",
        "raw_feature_spec": RAW_FEATURE_SPEC,
        "hyperparameters": {"weight": weight},
        "created_at": "2024-01-01T00:00:00+00:00",
    }
    return _save(path, score, weight, sidecar)


def _save(path: Path, score, weight: float, sidecar: dict) -> Path:
    """A SavedModel whose signatures answer {"outputs": score(features)}, plus the sidecar."""
    import tensorflow as tf

    class Tiny(tf.Module):
        def __init__(self):
            super().__init__()
            self.weight = tf.Variable(weight, dtype=tf.float32)

        def _score(self, fare, trip_miles, trip_start_hour, payment_type):
            return score(self, fare, trip_miles, trip_start_hour, payment_type)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serving_default(self, examples):
            parsed = tf.io.parse_example(
                examples,
                {
                    "fare": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
                    "trip_miles": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
                    "trip_start_hour": tf.io.FixedLenFeature([], tf.int64, default_value=0),
                    "payment_type": tf.io.FixedLenFeature([], tf.string, default_value=""),
                },
            )
            return {"outputs": self._score(**parsed)}

        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.float32, name="fare"),
                tf.TensorSpec([None], tf.float32, name="trip_miles"),
                tf.TensorSpec([None], tf.int64, name="trip_start_hour"),
                tf.TensorSpec([None], tf.string, name="payment_type"),
            ]
        )
        def serving_raw(self, fare, trip_miles, trip_start_hour, payment_type):
            return {"outputs": self._score(fare, trip_miles, trip_start_hour, payment_type)}

    module = Tiny()
    tf.saved_model.save(
        module,
        str(path),
        signatures={"serving_default": module.serving_default, "serving_raw": module.serving_raw},
    )
    (Path(path) / "mlops_model.json").write_text(json.dumps(sidecar))
    return Path(path)


IRIS = ["setosa", "versicolor", "virginica"]
DROP = "<drop>"  # an override value that removes the sidecar field


def make_task_model(path: Path, kind: str, **overrides) -> Path:
    """A model of the task `kind`: binary (p = sigmoid(0.2 fare - 2)), multiclass (softmax of
    three logits, classes IRIS), regression (a linear value). Keyword arguments override the
    sidecar's fields (DROP removes one)."""
    import tensorflow as tf

    def score(self, fare, trip_miles, trip_start_hour, payment_type):
        hour = tf.cast(trip_start_hour, tf.float32)
        cash = tf.where(tf.equal(payment_type, "Cash"), 1.0, 0.0)
        if kind == "binary":
            return tf.sigmoid(self.weight * fare - 2.0)[:, None]
        if kind == "multiclass":
            return tf.nn.softmax(tf.stack([0.1 * fare, 0.2 * trip_miles, 0.05 * hour + cash], 1))
        return (2.0 * fare + trip_miles + 0.1 * hour + cash)[:, None]

    content = {
        "label_key": "label",
        "raw_feature_spec": RAW_FEATURE_SPEC,
        "task": kind,
        "classes": {"binary": ["0", "1"], "multiclass": IRIS, "regression": None}[kind],
        **overrides,
    }
    return _save(path, score, 0.2, {k: v for k, v in content.items() if v != DROP})


def task_expected(task: str, row: dict) -> list[float]:
    """make_task_model's output row for one raw row, in plain Python (absent: 0 / "")."""
    import math

    fare = row.get("fare") or 0.0
    miles = row.get("trip_miles") or 0.0
    hour = row.get("trip_start_hour") or 0
    cash = 1.0 if row.get("payment_type") == "Cash" else 0.0
    if task == "binary":
        return [1 / (1 + math.exp(-(0.2 * fare - 2.0)))]
    if task == "multiclass":
        z = [0.1 * fare, 0.2 * miles, 0.05 * hour + cash]
        e = [math.exp(v - max(z)) for v in z]
        return [v / sum(e) for v in e]
    return [2 * fare + miles + 0.1 * hour + cash]


def expected(weight: float, row: dict) -> float:
    """The model's formula in plain Python (absent values are 0 / "")."""
    import math

    fare = row.get("fare") or 0.0
    z = (
        weight * fare
        + 0.05 * (row.get("trip_miles") or 0.0)
        + 0.01 * (row.get("trip_start_hour") or 0)
        + (0.3 if row.get("payment_type") == "Cash" else 0.0)
        - 1.0
    )
    return 1 / (1 + math.exp(-z))


def in_process(model_dir: Path, rows: list[dict], signature: str = "serving_default"):
    """Predictions of the SavedModel called in this process on the same raw rows."""
    import tensorflow as tf
    from deploy_model.instances import to_inputs

    module = tf.saved_model.load(str(model_dir))
    spec = json.loads((Path(model_dir) / "mlops_model.json").read_text())["raw_feature_spec"]
    out = module.signatures[signature](**to_inputs(signature, rows, spec))["outputs"]
    return out.numpy().tolist()


def make_failing_model(path: Path) -> Path:
    import tensorflow as tf

    class Failing(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serving_default(self, examples):
            spec = {"fare": tf.io.FixedLenFeature([], tf.float32, default_value=0.0)}
            fare = tf.io.parse_example(examples, spec)["fare"]

            def fail():
                # A path built from the input, so that no graph optimisation reads it early.
                name = tf.strings.join(["/nonexistent/asset-", tf.strings.as_string(tf.size(fare))])
                return tf.strings.to_number(tf.io.read_file(name)) + fare

            value = tf.cond(tf.reduce_any(fare > 0), fail, lambda: fare)
            return {"outputs": tf.sigmoid(value)[:, None]}

    module = Failing()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serving_default})
    sidecar = {"label_key": "big_tipper", "raw_feature_spec": {"fare": {"dtype": "float32"}}}
    (Path(path) / "mlops_model.json").write_text(json.dumps(sidecar))
    return Path(path)
