"""Small models of the model contract for each task, with no training: fixed weights, so that
a test computes the same predictions with NumPy and checks TFMA's metrics against them.

Each is a SavedModel with serving_default (serialized raw tf.Example -> {"outputs": ...}) and
transform_features (raw tf.Example -> the label feature, as a TFT graph would give it) and a
mlops_model.json of the task contract:
- multiclass: raw label `species` (strings) -> `species_id` int64 through a fixed vocabulary
  (as tft.compute_and_apply_vocabulary), outputs [n, K] softmax;
- regression: raw label `target` -> `target_value` float32, outputs [n, 1].
The raw rows have two numeric features x1, x2 and a string feature `group` to slice by."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlops.testing import raw_examples

CLASSES = ("setosa", "versicolor", "virginica")
SCHEMA = "\n".join(
    f'feature {{ name: "{name}" type: {kind} }}'
    for name, kind in (
        ("x1", "FLOAT"),
        ("x2", "FLOAT"),
        ("group", "BYTES"),
        ("species", "BYTES"),
        ("target", "FLOAT"),
    )
)
# A multiclass model that separates the classes well, and one that does not.
GOOD_WEIGHTS = (np.array([[3.0, 0.0, -3.0], [0.0, 2.0, 0.0]]), np.array([0.0, -1.0, 0.0]))
POOR_WEIGHTS = (np.array([[0.3, 0.0, -0.3], [0.5, -0.2, 0.0]]), np.array([0.1, 0.0, -0.1]))


def rows(n: int, seed: int = 3) -> list[dict]:
    """Raw rows: the class follows x1 (low, middle, high) with some noise; the target is
    linear in x1, x2 with noise."""
    rng = np.random.default_rng(seed)
    result = []
    for i in range(n):
        x1, x2 = rng.normal(size=2)
        score = x1 + rng.normal(scale=0.6)
        species = CLASSES[0] if score > 0.5 else (CLASSES[2] if score < -0.5 else CLASSES[1])
        target = 2.0 * x1 - x2 + 1.0 + rng.normal(scale=0.3)
        result.append(
            {
                "x1": f"{x1:.6f}",
                "x2": f"{x2:.6f}",
                "group": "ab"[i % 2],
                "species": species,
                "target": f"{target:.6f}",
            }
        )
    return result


def write_examples(uri: Path, eval_rows: list[dict]) -> Path:
    return raw_examples.write_examples(uri, {"eval": eval_rows}, SCHEMA)


def features(rs: list[dict]) -> np.ndarray:
    """[n, 2] float32, as the model parses them."""
    return np.array([[float(r["x1"]), float(r["x2"])] for r in rs], np.float32)


def softmax_predictions(rs: list[dict], weights=GOOD_WEIGHTS) -> np.ndarray:
    w, b = weights
    logits = features(rs) @ w.astype(np.float32) + b.astype(np.float32)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def class_ids(rs: list[dict]) -> np.ndarray:
    return np.array([CLASSES.index(r["species"]) for r in rs])


def linear_predictions(rs: list[dict], w=(2.0, -1.0), b: float = 1.0) -> np.ndarray:
    return features(rs) @ np.array(w, np.float32) + np.float32(b)


def targets(rs: list[dict]) -> np.ndarray:
    return np.array([float(r["target"]) for r in rs], np.float32)


def _save(module, path: Path, sidecar: dict) -> Path:
    import tensorflow as tf

    tf.saved_model.save(
        module,
        str(path),
        signatures={"serving_default": module.serve, "transform_features": module.transform},
    )
    (path / "mlops_model.json").write_text(json.dumps(sidecar))
    return path


def write_multiclass_model(path: Path, weights=GOOD_WEIGHTS) -> Path:
    import tensorflow as tf

    spec = {
        "x1": tf.io.FixedLenFeature([1], tf.float32),
        "x2": tf.io.FixedLenFeature([1], tf.float32),
    }
    w, b = (tf.constant(a, tf.float32) for a in weights)

    class Multiclass(tf.Module):
        def __init__(self):
            super().__init__()
            self.vocabulary = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(CLASSES), tf.range(len(CLASSES), dtype=tf.int64)
                ),
                default_value=-1,
            )

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples):
            p = tf.io.parse_example(examples, spec)
            x = tf.concat([p["x1"], p["x2"]], axis=1)
            return {"outputs": tf.nn.softmax(tf.matmul(x, w) + b)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def transform(self, examples):
            p = tf.io.parse_example(
                examples, {**spec, "species": tf.io.FixedLenFeature([], tf.string)}
            )
            return {"species_id": self.vocabulary.lookup(p["species"]), "x1": p["x1"]}

    sidecar = {"task": "multiclass", "label_key": "species_id", "classes": list(CLASSES)}
    return _save(Multiclass(), path, sidecar)


def write_regression_model(path: Path, w=(2.0, -1.0), b: float = 1.0) -> Path:
    import tensorflow as tf

    spec = {
        "x1": tf.io.FixedLenFeature([1], tf.float32),
        "x2": tf.io.FixedLenFeature([1], tf.float32),
    }
    weights = tf.constant([[w[0]], [w[1]]], tf.float32)

    class Regression(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples):
            p = tf.io.parse_example(examples, spec)
            x = tf.concat([p["x1"], p["x2"]], axis=1)
            return {"outputs": tf.matmul(x, weights) + b}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def transform(self, examples):
            p = tf.io.parse_example(examples, {"target": tf.io.FixedLenFeature([], tf.float32)})
            return {"target_value": p["target"]}

    sidecar = {"task": "regression", "label_key": "target_value", "classes": None}
    return _save(Regression(), path, sidecar)


def binary_labels(rs: list[dict]) -> np.ndarray:
    return np.array([r["species"] == CLASSES[0] for r in rs], np.int64)


def write_binary_model(path: Path, w=(1.5, 0.3), b: float = -0.5) -> Path:
    """binary: raw label `species` -> `is_setosa` int64 (1 for the first class), outputs
    [n, 1] sigmoid."""
    import tensorflow as tf

    spec = {
        "x1": tf.io.FixedLenFeature([1], tf.float32),
        "x2": tf.io.FixedLenFeature([1], tf.float32),
    }
    weights = tf.constant([[w[0]], [w[1]]], tf.float32)

    class Binary(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples):
            p = tf.io.parse_example(examples, spec)
            x = tf.concat([p["x1"], p["x2"]], axis=1)
            return {"outputs": tf.sigmoid(tf.matmul(x, weights) + b)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def transform(self, examples):
            p = tf.io.parse_example(examples, {"species": tf.io.FixedLenFeature([], tf.string)})
            return {"is_setosa": tf.cast(tf.equal(p["species"], CLASSES[0]), tf.int64)}

    sidecar = {"task": "binary", "label_key": "is_setosa", "classes": ["0", "1"]}
    return _save(Binary(), path, sidecar)
