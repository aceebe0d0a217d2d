"""The `eval_config` input: settings.yaml's `model.evaluation` section as JSON, parsed and
checked into an EvalSettings. Every problem raises InputError naming the field and value.

    {"label_key": "label",
     "metrics": ["ExampleCount", "AUC", "BinaryAccuracy", "Calibration", "Precision", "Recall"],
     "slices": [[], ["hour"], ["segment"]],
     "thresholds": {"AUC": {"lower": 0.75}},
     "change_thresholds": {"AUC": {"direction": "higher", "absolute": -0.01}},
     "metric_options": {"AUC": {"num_thresholds": 1000}},
     "binarize": {"class_ids": [0, 1, 2]},          (multiclass models only)
     "aggregate": {"macro_average": true}}          (multiclass models only)

Metric names are class names of TFMA metrics (tfma.metrics) or of tf.keras metrics; no
`metrics` means the defaults of the model's task (plan.py). A metric that only a threshold
names is computed too. Threshold keys may carry a variant suffix ("AUC/macro_average",
"Precision/class_id=2": metric_keys.py); whether it fits the model's task is checked once the
model's task is known (plan.py). Thresholds apply to the overall slice. `metric_options`
passes keyword arguments to a metric's TFMA class (its MetricConfig config), e.g. fewer AUC
thresholds than TFMA's 10,000."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from evaluate_model.inputs import InputError
from evaluate_model.metric_keys import AGGREGATIONS, Variant, key_name, split_ref

KEYS = (
    "label_key",
    "metrics",
    "slices",
    "thresholds",
    "change_thresholds",
    "metric_options",
    "binarize",
    "aggregate",
)
DIRECTIONS = ("higher", "lower")
BINARIZE_KEYS = ("class_ids", "top_k_list", "k_list")


@dataclass(frozen=True)
class ValueThreshold:
    metric: str  # as configured: a class name with an optional variant, "AUC/macro_average"
    lower: float | None = None
    upper: float | None = None

    def describe(self) -> str:
        parts = []
        if self.lower is not None:
            parts.append(f">= {self.lower:g}")
        if self.upper is not None:
            parts.append(f"<= {self.upper:g}")
        return " and ".join(parts)


@dataclass(frozen=True)
class ChangeThreshold:
    """direction "higher": the candidate's metric minus the baseline's must be >= absolute
    (and that difference over the baseline's value >= relative); "lower": <= (TFMA's rule)."""

    metric: str
    direction: str
    absolute: float | None = None
    relative: float | None = None

    def describe(self) -> str:
        op = ">=" if self.direction == "higher" else "<="
        parts = []
        if self.absolute is not None:
            parts.append(f"candidate - baseline {op} {self.absolute:g}")
        if self.relative is not None:
            parts.append(f"(candidate - baseline) / baseline {op} {self.relative:g}")
        return " and ".join(parts)


@dataclass(frozen=True)
class Binarize:
    """Multiclass binarization (TFMA BinarizationOptions): one variant per entry."""

    class_ids: tuple[int, ...] = ()
    top_k_list: tuple[int, ...] = ()
    k_list: tuple[int, ...] = ()

    def variants(self) -> tuple[Variant, ...]:
        return (
            *(Variant("class_id", i) for i in self.class_ids),
            *(Variant("top_k", k) for k in self.top_k_list),
            *(Variant("k", k) for k in self.k_list),
        )


@dataclass(frozen=True)
class Aggregate:
    """Multiclass aggregation (TFMA AggregationOptions): one variant per kind that is true;
    class_weights {class id: weight}, default every class weighing 1."""

    kinds: tuple[str, ...] = ()  # of metric_keys.AGGREGATIONS
    class_weights: dict[int, float] | None = None

    def variants(self) -> tuple[Variant, ...]:
        return tuple(Variant(k) for k in self.kinds)


@dataclass(frozen=True)
class EvalSettings:
    label_key: str | None
    metrics: tuple[str, ...]  # class names, configured ones first, then threshold-only ones
    slices: tuple[tuple[str, ...], ...]  # () is the overall slice, always first
    thresholds: tuple[ValueThreshold, ...] = ()
    change_thresholds: tuple[ChangeThreshold, ...] = ()
    metric_names: dict[str, str] = field(default_factory=dict)  # class name -> TFMA key name
    metric_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # class -> kwargs
    # No `metrics` configured: the task's defaults, then the threshold-only ones above.
    default_metrics: bool = False
    binarize: Binarize | None = None  # None: the defaults (plan.py)
    aggregate: Aggregate | None = None  # None: the defaults (plan.py)

    def key_of(self, metric: str) -> str:
        """The output name of a configured metric reference: "AUC/macro_average" ->
        "auc/macro_average"."""
        name, variant = split_ref(metric, "eval_config")
        return key_name(self.metric_names[name], variant)


def parse(text: str) -> EvalSettings:
    """Parses and checks the eval_config JSON (metric names against TFMA and tf.keras)."""
    if not text or not text.strip():
        raise InputError("eval_config: empty; pass settings.yaml's model.evaluation as JSON")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(
            f"eval_config: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
        ) from e
    if not isinstance(raw, dict):
        raise InputError(f"eval_config: expected a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise InputError(
            f"eval_config: unknown key(s) {', '.join(map(repr, unknown))}; known: {', '.join(KEYS)}"
        )

    label_key = raw.get("label_key")
    if label_key is not None and (not isinstance(label_key, str) or not label_key.strip()):
        raise InputError(f"eval_config.label_key is {label_key!r}; expected a feature name")

    metrics = raw.get("metrics", [])
    if not isinstance(metrics, list) or not all(isinstance(m, str) and m for m in metrics):
        raise InputError(
            f"eval_config.metrics is {metrics!r}; expected a list of metric class names"
        )
    duplicates = sorted({m for m in metrics if metrics.count(m) > 1})
    if duplicates:
        raise InputError(f"eval_config.metrics lists {', '.join(duplicates)} more than once")

    slices = _slices(raw.get("slices", [[]]))
    thresholds = _value_thresholds(raw.get("thresholds") or {})
    change_thresholds = _change_thresholds(raw.get("change_thresholds") or {})

    names = list(metrics)
    for t in (*thresholds, *change_thresholds):
        kind = "thresholds" if isinstance(t, ValueThreshold) else "change_thresholds"
        name, _ = split_ref(t.metric, f"eval_config.{kind}.{t.metric}")
        if name not in names:
            names.append(name)
    raw_options = raw.get("metric_options") or {}
    # Without configured metrics the task's defaults apply: options may name one of them.
    metric_options = _metric_options(raw_options, names if metrics else None)
    metric_names = resolve_metric_names([*names, *(n for n in metric_options if n not in names)])
    return EvalSettings(
        label_key=label_key,
        metrics=tuple(names),
        slices=slices,
        thresholds=thresholds,
        change_thresholds=change_thresholds,
        metric_names=metric_names,
        metric_options=metric_options,
        default_metrics=not metrics,
        binarize=_binarize(raw["binarize"]) if "binarize" in raw else None,
        aggregate=_aggregate(raw["aggregate"]) if "aggregate" in raw else None,
    )


def _int_list(where: str, value: Any, minimum: int) -> tuple[int, ...]:
    ok = isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value
    )
    if not ok:
        raise InputError(f"{where} is {value!r}; expected a list of integers >= {minimum}")
    if len(set(value)) != len(value):
        raise InputError(f"{where} lists a value twice: {value!r}")
    return tuple(value)


def _binarize(value: Any) -> Binarize:
    where = "eval_config.binarize"
    if not isinstance(value, dict):
        raise InputError(
            f"{where} is {value!r}; expected {{class_ids: [...], top_k_list: [...], "
            "k_list: [...]}} (any of them; {} for none)"
        )
    unknown = sorted(set(value) - set(BINARIZE_KEYS))
    if unknown:
        raise InputError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(BINARIZE_KEYS)}"
        )
    return Binarize(
        class_ids=_int_list(f"{where}.class_ids", value.get("class_ids", []), 0),
        top_k_list=_int_list(f"{where}.top_k_list", value.get("top_k_list", []), 1),
        k_list=_int_list(f"{where}.k_list", value.get("k_list", []), 1),
    )


def _aggregate(value: Any) -> Aggregate:
    where = "eval_config.aggregate"
    known = (*AGGREGATIONS, "class_weights")
    if not isinstance(value, dict):
        raise InputError(
            f"{where} is {value!r}; expected {{macro_average: true, ...}} ({{}} for none)"
        )
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}")
    for kind in AGGREGATIONS:
        if kind in value and not isinstance(value[kind], bool):
            raise InputError(f"{where}.{kind} is {value[kind]!r}; expected true or false")
    weights = None
    if "class_weights" in value:
        raw = value["class_weights"]
        if not isinstance(raw, dict) or not raw:
            raise InputError(
                f"{where}.class_weights is {raw!r}; expected {{class id: weight, ...}}"
            )
        weights = {}
        for class_id, weight in raw.items():
            if not str(class_id).isdigit():
                raise InputError(
                    f"{where}.class_weights: key {class_id!r} is not a class id (0, 1, ...)"
                )
            weight = _number(f"{where}.class_weights.{class_id}", weight)
            if weight < 0:
                raise InputError(f"{where}.class_weights.{class_id} is {weight:g}; expected >= 0")
            weights[int(class_id)] = weight
    return Aggregate(tuple(k for k in AGGREGATIONS if value.get(k)), weights)


def _metric_options(raw: Any, names: list[str] | None) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict):
        raise InputError(f"eval_config.metric_options is {raw!r}; expected {{Metric: {{...}}}}")
    for name, options in raw.items():
        if names is not None and name not in names:
            raise InputError(
                f"eval_config.metric_options.{name}: not a metric of eval_config.metrics "
                f"({', '.join(names)})"
            )
        if not isinstance(options, dict):
            raise InputError(
                f"eval_config.metric_options.{name} is {options!r}; expected an object of "
                "the metric's keyword arguments"
            )
    return {name: dict(options) for name, options in raw.items()}


def _slices(value: Any) -> tuple[tuple[str, ...], ...]:
    ok = isinstance(value, list) and all(
        isinstance(s, list) and all(isinstance(f, str) and f for f in s) for s in value
    )
    if not ok:
        raise InputError(
            f"eval_config.slices is {value!r}; expected a list of feature-name lists "
            "([] for the whole eval split)"
        )
    result: list[tuple[str, ...]] = [()]  # thresholds apply to the overall slice: always there
    for s in value:
        key = tuple(s)
        if len(set(key)) != len(key):
            raise InputError(f"eval_config.slices: {s!r} names a feature twice")
        if key not in result:
            result.append(key)
    return tuple(result)


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{where} is {value!r}; expected a finite number")
    return float(value)


def _mapping(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{where} is {value!r}; expected a mapping of metric: bounds")
    return value


def _value_thresholds(value: Any) -> tuple[ValueThreshold, ...]:
    result = []
    for metric, bounds in _mapping("eval_config.thresholds", value).items():
        where = f"eval_config.thresholds.{metric}"
        bounds = _mapping(where, bounds)
        unknown = sorted(set(bounds) - {"lower", "upper"})
        if unknown or not bounds:
            raise InputError(f"{where} is {bounds!r}; expected {{lower: x}}, {{upper: x}} or both")
        lower = _number(f"{where}.lower", bounds["lower"]) if "lower" in bounds else None
        upper = _number(f"{where}.upper", bounds["upper"]) if "upper" in bounds else None
        if lower is not None and upper is not None and lower > upper:
            raise InputError(f"{where}: lower {lower:g} is above upper {upper:g}")
        result.append(ValueThreshold(metric, lower, upper))
    return tuple(result)


def _change_thresholds(value: Any) -> tuple[ChangeThreshold, ...]:
    result = []
    for metric, spec in _mapping("eval_config.change_thresholds", value).items():
        where = f"eval_config.change_thresholds.{metric}"
        spec = _mapping(where, spec)
        unknown = sorted(set(spec) - {"direction", "absolute", "relative"})
        if unknown:
            raise InputError(
                f"{where}: unknown key(s) {', '.join(unknown)}; expected direction and "
                "absolute and/or relative"
            )
        direction = spec.get("direction")
        if direction not in DIRECTIONS:
            raise InputError(
                f"{where}.direction is {direction!r}; expected one of {', '.join(DIRECTIONS)}"
            )
        if "absolute" not in spec and "relative" not in spec:
            raise InputError(f"{where}: needs absolute or relative (or both)")
        absolute = _number(f"{where}.absolute", spec["absolute"]) if "absolute" in spec else None
        relative = _number(f"{where}.relative", spec["relative"]) if "relative" in spec else None
        result.append(ChangeThreshold(metric, direction, absolute, relative))
    return tuple(result)


def resolve_metric_names(class_names: list[str]) -> dict[str, str]:
    """{class name: the name of its values in TFMA's output}, for TFMA metrics and tf.keras
    metrics; an unknown class name raises InputError."""
    import tensorflow_model_analysis as tfma
    import tf_keras
    from tensorflow_model_analysis.metrics import metric_specs, metric_types

    registered = metric_types.registered_metrics()
    result = {}
    for name in class_names:
        keras_cls = getattr(tf_keras.metrics, name, None)
        is_keras = isinstance(keras_cls, type) and issubclass(keras_cls, tf_keras.metrics.Metric)
        if name not in registered and not is_keras:
            close = sorted(n for n in registered if n.lower() == name.lower())
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise InputError(
                f"eval_config: unknown metric {name!r}{hint}; use the class name of a TFMA "
                "metric (tfma.metrics, e.g. AUC, BinaryAccuracy, ExampleCount, Calibration) "
                "or of a tf.keras metric"
            )
        instance = metric_specs.metric_instance(tfma.MetricConfig(class_name=name))
        result[name] = instance.name
    return result
