"""The TFMA run and what it wrote, read back as plain data: the metrics per slice of the
candidate, the baseline and their difference, and TFMA's validation (its failures with slice,
metric, value and bound). The blessing and the report work from this.

TFMA and TensorFlow are imported inside the functions (the contract check imports main)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluate_model.tfma_config import BASELINE, CANDIDATE

OVERALL = "Overall"


@dataclass(frozen=True)
class SliceResult:
    features: dict[str, Any]  # {} for the overall slice, else {"trip_start_hour": 3}
    candidate: dict[str, float]  # TFMA metric name -> value
    baseline: dict[str, float] | None = None
    diff: dict[str, float] | None = None  # candidate - baseline

    @property
    def name(self) -> str:
        return slice_name(self.features)

    def to_json(self) -> dict[str, Any]:
        return {
            "slice": self.name,
            "features": self.features,
            "candidate": finite(self.candidate),
            "baseline": finite(self.baseline),
            "diff": finite(self.diff),
        }


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


def read_results(
    output_path: Path, slice_order: tuple[tuple[str, ...], ...], with_baseline: bool
) -> Evaluation:
    """The metrics and validation TFMA wrote to output_path. Slices come in the configured
    order (the overall slice first), then by value."""
    import tensorflow_model_analysis as tfma

    slices = []
    for record in tfma.load_metrics(str(output_path)):
        if record.HasField("cross_slice_key"):
            continue
        candidate: dict[str, float] = {}
        baseline: dict[str, float] = {}
        diff: dict[str, float] = {}
        for kv in record.metric_keys_and_values:
            key = kv.key
            if key.output_name or key.HasField("sub_key"):
                continue  # one output, no top-k or class sub-keys in this contract
            number = _scalar(kv.value)
            if number is None:
                continue
            if key.is_diff:
                diff[key.name] = number
            elif with_baseline and key.model_name == BASELINE:
                baseline[key.name] = number
            elif key.model_name in ("", CANDIDATE):
                candidate[key.name] = number
        slices.append(
            SliceResult(
                _slice_features(record.slice_key),
                dict(sorted(candidate.items())),
                dict(sorted(baseline.items())) if with_baseline else None,
                dict(sorted(diff.items())) if with_baseline else None,
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
                    metric=f.metric_key.name,
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
