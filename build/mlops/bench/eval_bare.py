"""The bare limit of evaluate_model, for `make bench BENCH=scale`: the candidate and the
baseline SavedModels scoring the eval split in batches (their serving_default signature, the
label from the candidate's transform_features), then the binary metrics of the use case's
evaluation per slice with NumPy (ExampleCount, AUC on `num_thresholds` buckets,
BinaryAccuracy, Calibration, Precision and Recall at 0.5). No Beam, no TFMA: what reading,
scoring and counting the same rows costs on this machine.

    python -m mlops.bench.eval_bare --examples DIR --eval-config JSON --candidate DIR
        [--baseline DIR] [--out metrics.json]"""

from __future__ import annotations

import argparse
import glob
import json
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

BATCH = 4096
DEFAULT_THRESHOLDS = 10000  # TFMA's AUC default


def binary_metrics(labels: np.ndarray, scores: np.ndarray, thresholds: int) -> dict[str, float]:
    """The metrics of one slice of one model, from its labels (0/1) and scores (P(1))."""
    labels = labels.astype(bool)
    count = len(labels)
    predicted = scores >= 0.5
    tp = float(np.sum(predicted & labels))
    fp = float(np.sum(predicted & ~labels))
    fn = float(np.sum(~predicted & labels))
    # AUC from the positives' and negatives' score histograms (trapezoids over the buckets)
    buckets = np.clip((scores * thresholds).astype(np.int64), 0, thresholds - 1)
    pos = np.bincount(buckets[labels], minlength=thresholds)[::-1].cumsum()
    neg = np.bincount(buckets[~labels], minlength=thresholds)[::-1].cumsum()
    tpr = np.concatenate([[0.0], pos / pos[-1]]) if pos[-1] else None
    fpr = np.concatenate([[0.0], neg / neg[-1]]) if neg[-1] else None
    auc = float(np.trapz(tpr, fpr)) if tpr is not None and fpr is not None else float("nan")
    positives = float(labels.sum())
    return {
        "example_count": float(count),
        "auc": auc,
        "binary_accuracy": float(np.mean(predicted == labels)) if count else float("nan"),
        "calibration": float(scores.sum() / positives) if positives else float("nan"),
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
    }


def sliced(
    slices: list[list[str]], columns: dict[str, np.ndarray], count: int
) -> dict[str, np.ndarray]:
    """Slice name -> the row indices in it: [] is every row, [c] one slice per value of c."""
    out = {}
    for spec in slices:
        if not spec:
            out["overall"] = np.arange(count)
            continue
        keys = np.stack([columns[c] for c in spec], axis=1)
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, key in enumerate(map(tuple, keys.tolist())):
            groups[key].append(i)
        for key, rows in groups.items():
            name = " & ".join(f"{c}={v}" for c, v in zip(spec, key, strict=True))
            out[name] = np.asarray(rows)
    return out


def _first_values(parsed, spec_dtype) -> np.ndarray:
    """A VarLen feature's first value per row (missing: an empty value)."""
    import tensorflow as tf

    dense = tf.sparse.to_dense(parsed, default_value=b"" if spec_dtype == tf.string else 0)
    values = dense.numpy()[:, 0] if dense.shape[1] else np.zeros(dense.shape[0])
    return values.astype(str) if spec_dtype == tf.string else values


def score(
    files: list[str], label_key: str, slice_columns: list[str], models: dict[str, Path]
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    """Every row of the files scored by each model: scores per model, labels, slice columns."""
    import tensorflow as tf

    loaded = {name: tf.saved_model.load(str(path)) for name, path in models.items()}
    candidate = next(iter(loaded.values()))
    sidecar = json.loads((next(iter(models.values())) / "mlops_model.json").read_text())
    dtypes = {k: v["dtype"] for k, v in sidecar["raw_feature_spec"].items()}
    spec = {c: tf.io.VarLenFeature(tf.dtypes.as_dtype(dtypes[c])) for c in slice_columns}
    scores: dict[str, list] = {name: [] for name in loaded}
    labels, columns = [], {c: [] for c in slice_columns}
    data = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(BATCH)
    for batch in data:
        for name, model in loaded.items():
            out = model.signatures["serving_default"](examples=batch)["outputs"]
            scores[name].append(out.numpy().reshape(-1))
        label = candidate.signatures["transform_features"](examples=batch)[label_key]
        labels.append(label.numpy().reshape(-1))
        parsed = tf.io.parse_example(batch, spec)
        for c in slice_columns:
            columns[c].append(_first_values(parsed[c], spec[c].dtype))
    return (
        {k: np.concatenate(v) for k, v in scores.items()},
        np.concatenate(labels),
        {c: np.concatenate(v) for c, v in columns.items()},
    )


def evaluate(
    examples: str, eval_config: dict, models: dict[str, Path]
) -> dict[str, dict[str, dict[str, float]]]:
    """model -> slice -> metrics."""
    files = sorted(glob.glob(os.path.join(examples, "Split-eval", "data_tfrecord-*.gz")))
    if not files:
        raise SystemExit(f"eval_bare: {examples}/Split-eval holds no data_tfrecord-*.gz")
    slices = eval_config.get("slices") or [[]]
    slice_columns = sorted({c for spec in slices for c in spec})
    options = (eval_config.get("metric_options") or {}).get("AUC") or {}
    thresholds = int(options.get("num_thresholds", DEFAULT_THRESHOLDS))
    started = time.monotonic()
    scores, labels, columns = score(files, eval_config["label_key"], slice_columns, models)
    scored = time.monotonic()
    rows = sliced(slices, columns, len(labels))
    result = {
        name: {s: binary_metrics(labels[i], model_scores[i], thresholds) for s, i in rows.items()}
        for name, model_scores in scores.items()
    }
    print(
        f"eval_bare: {len(labels)} rows; models loaded and rows scored in "
        f"{scored - started:.1f} s, metrics of {len(rows)} slices in "
        f"{time.monotonic() - scored:.1f} s",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", required=True)
    parser.add_argument("--eval-config", required=True)
    parser.add_argument("--candidate", required=True)
    parser.add_argument("--baseline", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    models = {"candidate": Path(args.candidate)}
    if args.baseline:
        models["baseline"] = Path(args.baseline)
    result = evaluate(args.examples, json.loads(args.eval_config), models)
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    overall = {m: r["overall"] for m, r in result.items()}
    print(f"eval_bare: {len(next(iter(result.values())))} slices; overall {overall}")


if __name__ == "__main__":
    main()
