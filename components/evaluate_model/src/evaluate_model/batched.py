"""The batched evaluation: TFMA's results without TFMA's per-example work. TFMA's metrics are
combiners (per-example accumulators: example counts, calibration histograms, confusion
matrices at thresholds, sums of labels, predictions and errors) followed by derived
computations (AUC from the histogram, precision from a matrix, macro averages, ...). Its
cost is the combiners' Python per example, per slice and per model. Here the combiners'
accumulators are computed with NumPy from arrays of the whole eval split, scored in batches
(scoring.py); everything after them is TFMA's own code: its computations for the EvalConfig,
its derived metrics, diff metrics against the baseline, validation against the thresholds
and the writer's protos. The output folder is the one TFMA writes (metrics, plots,
validations, eval_config.json), so read_results and tfma.load_eval_result read either.

Combiners without a NumPy form here (a metric outside DEFAULT and the tasks' metrics, example
weights, top_k or micro averages) raise Unsupported: the caller runs TFMA instead.

TFMA 0.47 is pinned (requirements.lock); a few of its private helpers are used as they are."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from evaluate_model.scoring import Scored


class Unsupported(Exception):
    """This EvalConfig needs a combiner that only TFMA's Beam pipeline computes."""


def _class_id(key) -> int | None:
    sub = key.sub_key
    if sub is None:
        return None
    if sub.top_k is not None or sub.k is not None or sub.class_id is None:
        raise Unsupported(f"metric {key.name}: sub key {sub}")
    return int(sub.class_id)


def _binary_inputs(key, scored: Scored, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, predictions) as TFMA's to_label_prediction_example_weight gives them to a
    binary combiner: the model's output, or class_id's probability against the rest."""
    labels = scored.labels[key.model_name][rows].reshape(len(rows), -1)
    predictions = scored.predictions[key.model_name][rows]
    class_id = _class_id(key)
    if class_id is None:
        if predictions.shape[1] != 1 or labels.shape[1] != 1:
            raise Unsupported(f"metric {key.name}: a multi-output model without a class id")
        return labels[:, 0].astype(np.float64), predictions[:, 0].astype(np.float64)
    return (labels[:, 0] == class_id).astype(np.float64), predictions[:, class_id].astype(
        np.float64
    )


def _histogram(combiner, key, scored, rows):
    from tensorflow_model_analysis.metrics import calibration_histogram as ch

    labels, predictions = _binary_inputs(key, scored, rows)
    index = (predictions - combiner._left) / combiner._range * combiner._num_buckets + 1
    index = np.clip(index, 0, combiner._num_buckets + 1).astype(np.int64)
    n = combiner._num_buckets + 2
    examples = np.bincount(index, minlength=n)
    weighted_labels = np.bincount(index, weights=labels, minlength=n)
    weighted_predictions = np.bincount(index, weights=predictions, minlength=n)
    return [
        ch.Bucket(
            int(i), float(weighted_labels[i]), float(weighted_predictions[i]), float(examples[i])
        )  # fmt: skip
        for i in np.flatnonzero(examples)
    ]


def _confusion(combiner, key, scored, rows):
    from tensorflow_model_analysis.contrib.aggregates import binary_confusion_matrices as bcm

    counter = combiner._binary_confusion_matrices
    labels, predictions = _binary_inputs(key, scored, rows)
    accumulator = {}
    for threshold in counter._thresholds:
        if counter._enable_fractional_labels:
            positive = labels == 1.0
        else:
            positive = labels > threshold
        predicted = predictions > threshold
        tp = float(np.sum(positive & predicted))
        fn = float(np.sum(positive & ~predicted))
        fp = float(np.sum(~positive & predicted))
        tn = float(np.sum(~positive & ~predicted))
        accumulator[threshold] = bcm._ThresholdEntry(bcm.Matrix(tp, tn, fp, fn), [], [], [], [])
    return accumulator


def _sums(combiner, key, scored, rows):
    from tensorflow_model_analysis.metrics import calibration

    labels, predictions = _binary_inputs(key, scored, rows)
    result = calibration._WeightedLabelsPredictionsExamples()
    result.total_weighted_labels = float(np.sum(labels))
    result.total_weighted_predictions = float(np.sum(predictions))
    result.total_weighted_examples = float(len(rows))
    return result


def _regression_error(combiner, key, scored, rows):
    labels, predictions = _binary_inputs(key, scored, rows)
    kind = type(combiner).__name__
    errors = (
        np.abs(labels - predictions)
        if kind == "_MeanAbsoluteErrorCombiner"
        else (labels - predictions) ** 2
    )
    errors = errors[~np.isnan(errors)]
    return float(errors.sum() / len(errors)) if len(errors) else float("nan")


def _multiclass_matrices(combiner, key, scored, rows):
    from tensorflow_model_analysis.metrics import multi_class_confusion_matrix_metrics as mc

    predictions = scored.predictions[key.model_name][rows]
    labels = scored.labels[key.model_name][rows].reshape(len(rows), -1)
    actual = np.argmax(labels, axis=1) if labels.shape[1] > 1 else labels[:, 0].astype(np.int64)
    best = np.argmax(predictions, axis=1)
    top = predictions[np.arange(len(rows)), best]
    result = mc.Matrices()
    for threshold in combiner._thresholds:
        predicted = np.where(top <= threshold, mc.NO_PREDICTED_CLASS_ID, best)
        pairs, counts = np.unique(np.stack([actual, predicted], axis=1), axis=0,
                                  return_counts=True)  # fmt: skip
        result[threshold] = {
            mc.MatrixEntryKey(int(a), int(p)): float(c)
            for (a, p), c in zip(pairs, counts, strict=True)
        }
    return result


def _keras(combiner, keys, scored, rows) -> dict:
    """tf.keras metrics of the whole output (SparseCategoricalAccuracy, ...): one update
    with the slice's arrays, as TFMA's wrapper updates them per batch."""
    combiner.setup()  # _check made sure it is one output, plain, unweighted
    labels = scored.labels[combiner._model_name][rows].reshape(len(rows), -1)
    predictions = scored.predictions[combiner._model_name][rows]
    result = {}
    for metric in combiner._metrics[""]:
        metric.reset_states()
        if len(rows):
            metric.update_state(labels.astype(np.float32), predictions.astype(np.float32))
        value = metric.result().numpy()
        for key in keys:
            if key.name == metric.name:
                result[key] = float(value)
    return result


_SINGLE = {
    "_CalibrationHistogramCombiner": _histogram,
    "_BinaryConfusionMatrixCombiner": _confusion,
    "_WeightedLabelsPredictionsExamplesCombiner": _sums,
    "_MeanSquaredErrorCombiner": _regression_error,
    "_MeanAbsoluteErrorCombiner": _regression_error,
    "_MultiClassConfusionMatrixCombiner": _multiclass_matrices,
}


def _combiner_output(computation, scored: Scored, rows: np.ndarray) -> dict:
    combiner = computation.combiner
    kind = type(combiner).__name__
    if kind == "_ExampleCountCombiner":
        if combiner._example_weighted:
            raise Unsupported("a weighted example count")
        return {computation.keys[0]: float(len(rows))}
    if kind == "_CompilableMetricsCombiner":
        return _keras(combiner, computation.keys, scored, rows)
    if computation.preprocessors:
        raise Unsupported(f"{kind} with preprocessors")
    if kind not in _SINGLE:
        raise Unsupported(f"TFMA combiner {kind}")
    key = computation.keys[0]
    return {key: _SINGLE[kind](combiner, key, scored, rows)}


def computations(eval_config, with_baseline: bool):
    """(the EvalConfig with TFMA's defaults, TFMA's computations for it): raises Unsupported
    before any data is read when a combiner has no NumPy form."""
    from tensorflow_model_analysis.evaluators import metrics_plots_and_validations_evaluator
    from tensorflow_model_analysis.metrics import metric_specs
    from tensorflow_model_analysis.utils import config_util

    config = config_util.update_eval_config_with_defaults(eval_config, has_baseline=with_baseline)
    if config.cross_slicing_specs or config.options.min_slice_size.value > 1:
        raise Unsupported("cross slices or a minimum slice size")
    separated = metrics_plots_and_validations_evaluator._filter_and_separate_computations(
        metric_specs.to_computations(config.metrics_specs, eval_config=config)
    )
    if separated.cross_slice_computations or separated.ci_derived_computations:
        raise Unsupported("cross-slice or confidence-interval metrics")
    for c in separated.non_derived_computations:
        _check(c)
    return config, separated


def _check(computation) -> None:
    """Raises Unsupported unless _combiner_output computes this combiner as TFMA does."""
    combiner = computation.combiner
    kind = type(combiner).__name__
    if kind not in {*_SINGLE, "_ExampleCountCombiner", "_CompilableMetricsCombiner"}:
        raise Unsupported(f"TFMA combiner {kind}")
    if getattr(combiner, "_example_weighted", False):
        raise Unsupported(f"{kind}: example weights")
    if getattr(combiner, "_aggregation_type", None) is not None:
        raise Unsupported(f"{kind}: an aggregation inside its combiner (micro average)")
    if kind == "_CompilableMetricsCombiner":
        if combiner._sub_key is not None or combiner._output_names != [""]:
            raise Unsupported("a tf.keras metric on a binarized output or several outputs")
        if any(combiner._loss_configs):
            raise Unsupported("a tf.keras loss")
    elif kind != "_ExampleCountCombiner":
        if computation.preprocessors:
            raise Unsupported(f"{kind} with preprocessors")
        for key in computation.keys:
            _class_id(key)  # top_k and k binarizations: TFMA's
    if kind == "_CalibrationHistogramCombiner" and not combiner._prediction_based_bucketing:
        raise Unsupported("a label-bucketed calibration histogram")
    if kind == "_BinaryConfusionMatrixCombiner" and combiner._example_id_key:
        raise Unsupported("confusion matrices with example ids")


def _single_valued(rows: np.ndarray) -> bool:
    return len(np.unique(rows)) == len(rows)


def _single_valued_slices(scored: Scored, columns: tuple[str, ...]) -> list:
    """slices() when no example has two values of these columns: with arrays, not per row."""
    codes, uniques = [], []
    for column in columns:
        rows, values = scored.features[column]
        unique, inverse = np.unique(values, return_inverse=True)
        code = np.full(scored.count, -1, np.int64)
        code[rows] = inverse
        codes.append(code)
        uniques.append(unique.tolist())
    stacked = np.stack(codes, axis=1)
    present = np.flatnonzero((stacked >= 0).all(axis=1))
    if not len(present):
        return []
    combos, inverse = np.unique(stacked[present], axis=0, return_inverse=True)
    order = np.argsort(inverse.reshape(-1), kind="stable")
    bounds = np.cumsum(np.bincount(inverse.reshape(-1), minlength=len(combos)))[:-1]
    result = []
    for combo, rows in zip(combos, np.split(present[order], bounds), strict=True):
        key = tuple((c, uniques[i][j]) for i, (c, j) in enumerate(zip(columns, combo, strict=True)))
        result.append((key, rows))
    return result


def slices(scored: Scored, slicing: tuple[tuple[str, ...], ...]) -> list[tuple[tuple, np.ndarray]]:
    """[(TFMA slice key, the rows in it)]: the overall slice, then each configured slice's
    values. An example is in the slice of each of its values (every combination for several
    features), in none when a feature is missing, as TFMA's slicer does."""
    result: list[tuple[tuple, np.ndarray]] = []
    for columns in slicing:
        if not columns:
            result.append(((), np.arange(scored.count)))
            continue
        if all(_single_valued(scored.features[c][0]) for c in columns):
            result += _single_valued_slices(scored, tuple(sorted(columns)))
            continue
        per_row: list[dict[int, list]] = []
        for column in sorted(columns):
            rows, values = scored.features[column]
            by_row: dict[int, list] = {}
            for r, v in zip(rows.tolist(), values.tolist(), strict=True):
                by_row.setdefault(r, []).append(v)
            per_row.append(by_row)
        members: dict[tuple, list[int]] = {}
        common = set(per_row[0]).intersection(*per_row[1:])
        for r in sorted(common):
            for combination in itertools.product(*(sorted(set(p[r])) for p in per_row)):
                key = tuple(zip(sorted(columns), combination, strict=True))
                members.setdefault(key, []).append(r)
        for key in sorted(members, key=repr):
            result.append((key, np.array(members[key], dtype=np.int64)))
    return result


def evaluate(eval_config, scored: Scored, slicing, output_path: Path, data_location: str,
             model_locations: dict[str, str]) -> None:  # fmt: skip
    """Writes TFMA's output files for eval_config to output_path, from the scored arrays."""
    import tensorflow as tf
    from tensorflow_model_analysis.evaluators import metrics_plots_and_validations_evaluator as ev
    from tensorflow_model_analysis.evaluators import metrics_validator
    from tensorflow_model_analysis.metrics import metric_types
    from tensorflow_model_analysis.utils import model_util
    from tensorflow_model_analysis.writers import eval_config_writer
    from tensorflow_model_analysis.writers import metrics_plots_and_validations_writer as writer

    config, separated = computations(eval_config, len(model_locations) > 1)
    if len(model_locations) == 1:  # TFMA's keys name no model when there is one
        (only,) = model_locations
        scored.labels[""], scored.predictions[""] = scored.labels[only], scored.predictions[only]
    baseline_spec = model_util.get_baseline_model_spec(config)
    baseline = baseline_spec.name if baseline_spec else None
    validations = writer.CombineValidations(config)
    validation = validations.create_accumulator()
    output_path.mkdir(parents=True, exist_ok=True)
    metrics_file = str(output_path / "metrics-00000-of-00001.tfrecord")
    plots_file = str(output_path / "plots-00000-of-00001.tfrecord")
    with tf.io.TFRecordWriter(metrics_file) as m_out, tf.io.TFRecordWriter(plots_file) as p_out:
        for slice_key, rows in slices(scored, slicing):
            values: dict = {}
            for c in separated.non_derived_computations:
                values.update(_combiner_output(c, scored, rows))
            for c in separated.derived_computations:
                values.update(c.result(values))
            if baseline:
                diffs = {}
                for k, v in values.items():
                    if ev._is_private_metrics(k) or k.is_diff or k.model_name == baseline:
                        continue
                    b = k.make_baseline_key(baseline)
                    if b in values and ev._is_metric_diffable(v):
                        diffs[k.make_diff_key()] = v - values[b]
                values.update(diffs)
            values = {k: v for k, v in values.items() if not ev._is_private_metrics(k)}
            metrics = {
                k: v
                for k, v in values.items()
                if not isinstance(k, (metric_types.PlotKey, metric_types.AttributionsKey))
            }
            plots = {k: v for k, v in values.items() if isinstance(k, metric_types.PlotKey)}
            m_out.write(
                writer.convert_slice_metrics_to_proto(
                    (slice_key, metrics), None
                ).SerializeToString()
            )
            if plots:
                p_out.write(
                    writer.convert_slice_plots_to_proto(
                        (slice_key, plots), None
                    ).SerializeToString()
                )
            validation = validations.add_input(
                validation, metrics_validator.validate_metrics((slice_key, metrics), config)
            )
    result = validations.extract_output(validation)
    with tf.io.TFRecordWriter(str(output_path / "validations.tfrecord")) as v_out:
        v_out.write(result.SerializeToString())
    (output_path / "attributions-00000-of-00001.tfrecord").write_bytes(b"")
    (output_path / f"{eval_config_writer.EVAL_CONFIG_FILE}.json").write_text(
        eval_config_writer._serialize_eval_run(
            config, data_location, "tfrecords", model_locations
        )  # fmt: skip
    )
    del baseline_spec
