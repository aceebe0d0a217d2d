"""The TFMA run and what it wrote, read back as plain data: the metrics per slice of the
candidate, the baseline and their difference (named as metric_keys.py says: "auc",
"precision/class_id=2", "auc/macro_average"), the candidate's confusion matrix per slice
(multiclass: TFMA's; binary: at the decision threshold), each model's confusion counts at
thresholds for the ROC and precision-recall curves (binary, and per class of a multiclass
model), and TFMA's validation (its failures with slice, metric, value and bound). The
blessing and the report work from this.

TFMA and TensorFlow are imported inside the functions (the contract check imports main)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluate_model.metric_keys import name_of
from evaluate_model.tfma_config import BASELINE, CANDIDATE

OVERALL = "Overall"
NO_PREDICTION = -1  # TFMA's predicted class id when no class clears the matrix's threshold
DECISION_THRESHOLD = 0.5  # a binary model predicts class 1 above it (as BinaryAccuracy does)


def predicted_name(class_id: int, class_name=str) -> str:
    return "(no prediction)" if class_id == NO_PREDICTION else class_name(class_id)


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of (actual class id, predicted class id). Multiclass: the predicted class is the
    highest prediction (at TFMA's default threshold 0), NO_PREDICTION when none clears the
    threshold; binary: class 1 when the score is above the threshold (Curve.matrix)."""

    actual: tuple[int, ...]  # row class ids
    predicted: tuple[int, ...]  # column class ids
    counts: tuple[tuple[float, ...], ...]  # counts[row][column]
    threshold: float = 0.0

    def to_json(self, class_name=str) -> dict[str, Any]:
        return {
            "actual": [class_name(i) for i in self.actual],
            "predicted": [predicted_name(i, class_name) for i in self.predicted],
            "actual_class_ids": list(self.actual),
            "predicted_class_ids": list(self.predicted),
            "counts": [list(row) for row in self.counts],
            "threshold": self.threshold,
        }


@dataclass(frozen=True)
class Curve:
    """A binary score's confusion counts at ascending thresholds (TFMA's ConfusionMatrixPlot):
    at each, the examples scored above it are predicted positive."""

    thresholds: tuple[float, ...]
    tp: tuple[float, ...]
    fp: tuple[float, ...]
    tn: tuple[float, ...]
    fn: tuple[float, ...]

    def roc(self) -> tuple[list[float], list[float]]:
        """(false positive rates, true positive rates)."""
        fpr = [fp / (fp + tn) if fp + tn else 0.0 for fp, tn in zip(self.fp, self.tn, strict=True)]
        tpr = [tp / (tp + fn) if tp + fn else 0.0 for tp, fn in zip(self.tp, self.fn, strict=True)]
        return fpr, tpr

    def precision_recall(self) -> tuple[list[float], list[float]]:
        """(recalls, precisions), at the thresholds where something is predicted positive."""
        points = [
            (tp / (tp + fn) if tp + fn else 0.0, tp / (tp + fp))
            for tp, fp, fn in zip(self.tp, self.fp, self.fn, strict=True)
            if tp + fp
        ]
        return [r for r, _ in points], [p for _, p in points]

    def matrix(self, threshold: float = DECISION_THRESHOLD) -> ConfusionMatrix:
        """The confusion matrix at the threshold nearest to `threshold`: rows actual 0, 1."""
        i = min(range(len(self.thresholds)), key=lambda j: abs(self.thresholds[j] - threshold))
        counts = ((self.tn[i], self.fp[i]), (self.fn[i], self.tp[i]))
        return ConfusionMatrix((0, 1), (0, 1), counts, float(self.thresholds[i]))


@dataclass(frozen=True)
class SliceResult:
    features: dict[str, Any]  # {} for the overall slice, else {"hour": 3}
    candidate: dict[str, float]  # metric key name -> value
    baseline: dict[str, float] | None = None
    diff: dict[str, float] | None = None  # candidate - baseline
    # the candidate's: multiclass TFMA's, binary at DECISION_THRESHOLD
    confusion_matrix: ConfusionMatrix | None = None
    # {model name: {class id (None: a binary model's score): Curve}}
    curves: dict[str, dict[int | None, Curve]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return slice_name(self.features)

    def to_json(self, class_name=str) -> dict[str, Any]:
        result = {
            "slice": self.name,
            "features": self.features,
            "candidate": finite(self.candidate),
            "baseline": finite(self.baseline),
            "diff": finite(self.diff),
        }
        if self.confusion_matrix is not None:
            result["confusion_matrix"] = self.confusion_matrix.to_json(class_name)
        return result


def finite(values: dict[str, float] | None) -> dict[str, float | None] | None:
    """NaN (e.g. recall on a slice without positives) as None: JSON has no NaN."""
    if values is None:
        return None
    return {k: (v if math.isfinite(v) else None) for k, v in values.items()}


@dataclass(frozen=True)
class Failure:
    """A threshold TFMA found broken."""

    slice: str
    metric: str  # TFMA's metric name, e.g. "auc"
    kind: str  # "value" | "change"
    value: float  # the candidate's value, or for "change" its difference to the baseline
    bound: dict[str, Any]  # {"lower": x, "upper": y} or {"direction", "absolute", "relative"}
    message: str = ""


@dataclass(frozen=True)
class Evaluation:
    slices: list[SliceResult]
    validation_ok: bool
    failures: list[Failure] = field(default_factory=list)
    no_thresholds: bool = False  # TFMA found no threshold to check (and so fails validation)
    missing_slices: list[str] = field(default_factory=list)  # threshold slices with no data

    def overall(self) -> SliceResult:
        for s in self.slices:
            if not s.features:
                return s
        return SliceResult({}, {})


def slice_name(features: dict[str, Any]) -> str:
    if not features:
        return OVERALL
    return " & ".join(f"{k}={v}" for k, v in features.items())


def run_tfma(
    eval_config,
    candidate: Path,
    baseline: Path | None,
    data_location: str,
    output_path: Path,
    beam_args: list[str],
) -> None:
    """tfma.run_model_analysis over the files at data_location; output in output_path."""
    import tensorflow_model_analysis as tfma
    from apache_beam.options.pipeline_options import PipelineOptions

    models = [
        tfma.default_eval_shared_model(
            eval_saved_model_path=str(candidate), eval_config=eval_config, model_name=CANDIDATE
        )
    ]
    if baseline is not None:
        models.append(
            tfma.default_eval_shared_model(
                eval_saved_model_path=str(baseline), eval_config=eval_config, model_name=BASELINE
            )
        )
    output_path.mkdir(parents=True, exist_ok=True)
    tfma.run_model_analysis(
        eval_shared_model=models if baseline is not None else models[0],
        eval_config=eval_config,
        data_location=data_location,
        file_format="tfrecords",
        output_path=str(output_path),
        pipeline_options=PipelineOptions(beam_args),
    )


def run_batched(
    eval_config,
    candidate: Path,
    baseline: Path | None,
    data_location: str,
    output_path: Path,
    slicing: tuple[tuple[str, ...], ...],
    label_key: str,
):
    """The same output as run_tfma, from the models scored in batches and TFMA's combiners
    computed with NumPy (batched.py); raises batched.Unsupported before reading any data
    when the EvalConfig needs what only TFMA's pipeline computes. Returns the scored arrays
    (scoring.Scored)."""
    from evaluate_model import batched, scoring

    batched.computations(eval_config, baseline is not None)
    models = {CANDIDATE: candidate, **({BASELINE: baseline} if baseline is not None else {})}
    columns = tuple(sorted({c for s in slicing for c in s}))
    scored = scoring.score(models, data_location, label_key, columns)
    locations = {name: str(path) for name, path in models.items()}
    batched.evaluate(eval_config, scored, slicing, output_path, data_location, locations)
    return scored


def _slice_features(slice_key) -> dict[str, Any]:
    features: dict[str, Any] = {}
    for k in slice_key.single_slice_keys:
        kind = k.WhichOneof("kind")
        value = getattr(k, kind) if kind else None
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        features[k.column] = value
    return features


def _scalar(value) -> float | None:
    """The number in a MetricValue; None for plots, matrices and other structured values."""
    kind = value.WhichOneof("type")
    if kind == "double_value":
        return float(value.double_value.value)
    if kind == "bounded_value":
        return float(value.bounded_value.value.value)
    return None


def _confusion_matrices(output_path: Path, num_classes: int) -> dict[tuple, ConfusionMatrix]:
    """The candidate's multiclass confusion matrix per slice key (as _slice_features items),
    with a row and a column for each of the num_classes classes, seen in the slice or not."""
    import tensorflow_model_analysis as tfma

    result = {}
    for record in tfma.load_plots(str(output_path)):
        if record.HasField("cross_slice_key"):
            continue
        for kv in record.plot_keys_and_values:
            if kv.key.model_name not in ("", CANDIDATE) or kv.key.output_name:
                continue
            if not kv.value.HasField("multi_class_confusion_matrix_at_thresholds"):
                continue
            matrices = kv.value.multi_class_confusion_matrix_at_thresholds.matrices
            if not matrices:
                continue
            # The argmax matrix (threshold 0) when metric_options asked for several.
            chosen = next((m for m in matrices if m.threshold == 0.0), matrices[0])
            cells = {
                (e.actual_class_id, e.predicted_class_id): e.num_weighted_examples
                for e in chosen.entries
            }
            actual = sorted({a for a, _ in cells} | set(range(num_classes)))
            # Every actual class is also a column, so that the diagonal is complete.
            predicted = sorted({p for _, p in cells} | set(actual))
            if NO_PREDICTION in predicted:  # last: it is no class
                predicted = [p for p in predicted if p != NO_PREDICTION] + [NO_PREDICTION]
            counts = tuple(tuple(cells.get((a, p), 0.0) for p in predicted) for a in actual)
            key = tuple(_slice_features(record.slice_key).items())
            result[key] = ConfusionMatrix(
                tuple(actual), tuple(predicted), counts, float(chosen.threshold)
            )
    return result


def _curves(output_path: Path, with_baseline: bool) -> dict[tuple, dict]:
    """Each model's Curve per slice key and class id (None for a binary model's score)."""
    import tensorflow_model_analysis as tfma

    models = (CANDIDATE, BASELINE) if with_baseline else (CANDIDATE,)
    result: dict[tuple, dict[str, dict[int | None, Curve]]] = {}
    for record in tfma.load_plots(str(output_path)):
        if record.HasField("cross_slice_key"):
            continue
        for kv in record.plot_keys_and_values:
            model = kv.key.model_name or CANDIDATE
            if model not in models or kv.key.output_name:
                continue
            if not kv.value.HasField("confusion_matrix_at_thresholds"):
                continue
            class_id = None
            if kv.key.HasField("sub_key"):
                if not kv.key.sub_key.HasField("class_id"):
                    continue  # top_k and k binarizations: no class of their own
                class_id = int(kv.key.sub_key.class_id.value)
            matrices = kv.value.confusion_matrix_at_thresholds.matrices
            rows = sorted(matrices, key=lambda m: m.threshold)
            if not rows:
                continue
            curve = Curve(
                tuple(m.threshold for m in rows),
                tuple(m.true_positives for m in rows),
                tuple(m.false_positives for m in rows),
                tuple(m.true_negatives for m in rows),
                tuple(m.false_negatives for m in rows),
            )
            key = tuple(_slice_features(record.slice_key).items())
            result.setdefault(key, {}).setdefault(model, {})[class_id] = curve
    return result


def read_results(
    output_path: Path,
    slice_order: tuple[tuple[str, ...], ...],
    with_baseline: bool,
    num_classes: int = 0,
) -> Evaluation:
    """The metrics, plots and validation TFMA wrote to output_path. Slices come in the
    configured order (the overall slice first), then by value. num_classes: a multiclass
    model's, for confusion matrices with every class."""
    import tensorflow_model_analysis as tfma

    matrices = _confusion_matrices(output_path, num_classes)
    curves = _curves(output_path, with_baseline)
    slices = []
    for record in tfma.load_metrics(str(output_path)):
        if record.HasField("cross_slice_key"):
            continue
        candidate: dict[str, float] = {}
        baseline: dict[str, float] = {}
        diff: dict[str, float] = {}
        for kv in record.metric_keys_and_values:
            key = kv.key
            if key.output_name:
                continue  # the contract's models have one output
            number = _scalar(kv.value)
            if number is None:
                continue
            name = name_of(key)
            if key.is_diff:
                diff[name] = number
            elif with_baseline and key.model_name == BASELINE:
                baseline[name] = number
            elif key.model_name in ("", CANDIDATE):
                candidate[name] = number
        features = _slice_features(record.slice_key)
        key = tuple(features.items())
        slice_curves = curves.get(key, {})
        matrix = matrices.get(key)
        binary = slice_curves.get(CANDIDATE, {}).get(None)
        if matrix is None and binary is not None:
            matrix = binary.matrix()
        slices.append(
            SliceResult(
                features,
                dict(sorted(candidate.items())),
                dict(sorted(baseline.items())) if with_baseline else None,
                dict(sorted(diff.items())) if with_baseline else None,
                matrix,
                slice_curves,
            )
        )
    order = {tuple(s): i for i, s in enumerate(slice_order)}
    slices.sort(
        key=lambda s: (
            order.get(tuple(s.features), len(order)),
            tuple(s.features),
            tuple(_sortable(v) for v in s.features.values()),
        )
    )

    validation = tfma.load_validation_result(str(output_path))
    failures = []
    for per_slice in validation.metric_validations_per_slice:
        name = slice_name(_slice_features(per_slice.slice_key))
        for f in per_slice.failures:
            threshold = f.metric_threshold
            if threshold.HasField("change_threshold"):
                kind, bound = "change", _change_bound(threshold.change_threshold)
            else:
                kind, bound = "value", _value_bound(threshold.value_threshold)
            failures.append(
                Failure(
                    slice=name,
                    metric=name_of(f.metric_key),
                    kind=kind,
                    value=float(f.metric_value.double_value.value),
                    bound=bound,
                    message=f.message.strip(),
                )
            )
    missing_slices = [
        OVERALL if not s.feature_keys else ", ".join(s.feature_keys)
        for s in validation.missing_slices
    ]
    return Evaluation(
        slices=slices,
        validation_ok=bool(validation.validation_ok),
        failures=failures,
        no_thresholds=bool(validation.missing_thresholds),
        missing_slices=missing_slices,
    )


def _sortable(value: Any) -> tuple[int, Any]:
    # Numbers before strings, so that mixed types never compare.
    if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
        return (0, value)
    return (1, str(value))


def _value_bound(t) -> dict[str, Any]:
    bound: dict[str, Any] = {}
    if t.HasField("lower_bound"):
        bound["lower"] = t.lower_bound.value
    if t.HasField("upper_bound"):
        bound["upper"] = t.upper_bound.value
    return bound


def _change_bound(t) -> dict[str, Any]:
    import tensorflow_model_analysis as tfma

    higher = t.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    bound: dict[str, Any] = {"direction": "higher" if higher else "lower"}
    if t.HasField("absolute"):
        bound["absolute"] = t.absolute.value
    if t.HasField("relative"):
        bound["relative"] = t.relative.value
    return bound
