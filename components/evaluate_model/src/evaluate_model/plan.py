"""What is computed for a model of a task: the eval_config's metrics (or the task's defaults),
and for a multiclass model the variants of each metric (per class, top k, averaged), checked
against the model's classes. Each threshold's metric must be one that is computed, named as
metric_keys.py says; every problem raises InputError naming the eval_config field.

Multiclass metrics are of two kinds:
- over the whole [n, K] output (ExampleCount, SparseCategoricalAccuracy and the other
  tf.keras *Categorical* metrics, CategoricalCrossEntropy, MultiClassConfusionMatrixPlot):
  computed once, named without a suffix;
- binary metrics (AUC, Precision, Recall, BinaryAccuracy, Calibration, ...): a binary metric
  on a K-class output means nothing by itself, so they are computed per variant only:
  binarized (class_id, top_k, k) and aggregated (macro_average, ...). By default every class
  and the macro average; eval_config's binarize / aggregate replace those defaults ({} for
  none). A threshold on a variant not otherwise computed adds it, for its metric."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evaluate_model.config import Aggregate, Binarize, EvalSettings, resolve_metric_names
from evaluate_model.inputs import InputError
from evaluate_model.metric_keys import CLASS_ID, SUFFIXES, Variant, key_name, split_ref
from evaluate_model.task import BINARY, MULTICLASS, REGRESSION, ModelTask

DEFAULT_METRICS = {
    BINARY: ("ExampleCount", "AUC", "BinaryAccuracy", "Calibration", "Precision", "Recall"),
    MULTICLASS: (
        "ExampleCount",
        "SparseCategoricalAccuracy",
        "Precision",
        "Recall",
        "AUC",
        "MultiClassConfusionMatrixPlot",
    ),
    # Calibration is mean prediction / mean label: with the pair, whether the model is biased.
    REGRESSION: (
        "ExampleCount",
        "MeanSquaredError",
        "MeanAbsoluteError",
        "MeanPrediction",
        "MeanLabel",
        "Calibration",
    ),
}
CONFUSION_MATRIX = "MultiClassConfusionMatrixPlot"
# Metrics of the whole multiclass output (not binarized); tf.keras' *Categorical* metrics too.
WHOLE_OUTPUT = frozenset(
    {
        "ExampleCount",
        "WeightedExampleCount",
        "CategoricalCrossEntropy",
        CONFUSION_MATRIX,
        "MultiClassConfusionMatrixAtThresholds",
    }
)


def is_whole_output(class_name: str) -> bool:
    return class_name in WHOLE_OUTPUT or "Categorical" in class_name


def is_structured(class_name: str) -> bool:
    """A plot or matrix, not a number: no threshold can bound it."""
    return class_name.endswith("Plot") or class_name.endswith("AtThresholds")


@dataclass(frozen=True)
class SpecPlan:
    """One TFMA MetricsSpec: metrics computed plainly (variant None) or in one variant."""

    variant: Variant | None
    metrics: tuple[str, ...]  # class names


@dataclass(frozen=True)
class MetricPlan:
    task: ModelTask
    metrics: tuple[str, ...]  # every computed class name, in display order
    metric_names: dict[str, str]  # class name -> TFMA value name
    specs: tuple[SpecPlan, ...]
    class_weights: dict[int, float] = field(default_factory=dict)  # for aggregated variants

    def keys(self) -> list[str]:
        """Every computed number's output name, in display order (metric, then variant);
        plots and matrices are left out."""
        result = []
        for name in self.metrics:
            for spec in self.specs:
                if name in spec.metrics and not is_structured(name):
                    result.append(key_name(self.metric_names[name], spec.variant))
        return result

    def variants(self, kind: str) -> list[tuple[Variant, tuple[str, ...]]]:
        """[(variant, TFMA names of its numeric metrics)] of the specs whose variant is of
        kind ("class_id", "aggregate" for any aggregation, ...)."""
        result = []
        for spec in self.specs:
            v = spec.variant
            if v is not None and (v.kind == kind or (kind == "aggregate" and v.is_aggregate)):
                names = tuple(self.metric_names[n] for n in spec.metrics if not is_structured(n))
                result.append((v, names))
        return result


def resolve(settings: EvalSettings, task: ModelTask) -> MetricPlan:
    names: list[str] = list(DEFAULT_METRICS[task.task]) if settings.default_metrics else []
    names += [n for n in settings.metrics if n not in names]
    if task.task == MULTICLASS and CONFUSION_MATRIX not in names:
        names.append(CONFUSION_MATRIX)  # the report's confusion matrix
    unknown_options = sorted(set(settings.metric_options) - set(names))
    if unknown_options:
        raise InputError(
            f"eval_config.metric_options.{unknown_options[0]}: not a metric computed for this "
            f"{task.task} model ({', '.join(names)})"
        )
    missing = [n for n in names if n not in settings.metric_names]
    known = {**settings.metric_names, **(resolve_metric_names(missing) if missing else {})}
    metric_names = {n: known[n] for n in names}
    refs = _threshold_refs(settings)
    for where, ref in refs:
        name, _ = split_ref(ref, where)
        if is_structured(name):
            raise InputError(f"{where}: {name} is a plot or matrix, not a number to bound")

    if task.task != MULTICLASS:
        for option in ("binarize", "aggregate"):
            if getattr(settings, option) is not None:
                raise InputError(
                    f"eval_config.{option}: applies to multiclass models; this model's task "
                    f"is {task.task}"
                )
        for where, ref in refs:
            if split_ref(ref, where)[1] is not None:
                raise InputError(
                    f"{where}: {ref!r} names a class or average, which only multiclass models "
                    f"have; this model's task is {task.task}: name the metric alone"
                )
        return MetricPlan(task, tuple(names), metric_names, (SpecPlan(None, tuple(names)),))
    return _multiclass(settings, task, names, metric_names, refs)


def _threshold_refs(settings: EvalSettings) -> list[tuple[str, str]]:
    return [(f"eval_config.thresholds.{t.metric}", t.metric) for t in settings.thresholds] + [
        (f"eval_config.change_thresholds.{t.metric}", t.metric) for t in settings.change_thresholds
    ]


def _multiclass(
    settings: EvalSettings,
    task: ModelTask,
    names: list[str],
    metric_names: dict[str, str],
    refs: list[tuple[str, str]],
) -> MetricPlan:
    k = task.num_classes
    binarize = settings.binarize or Binarize(class_ids=tuple(range(k)))
    aggregate = settings.aggregate or Aggregate(kinds=("macro_average",))
    for class_id in binarize.class_ids:
        _check_class(class_id, k, "eval_config.binarize.class_ids")
    for where, values in (("top_k_list", binarize.top_k_list), ("k_list", binarize.k_list)):
        for value in values:
            _check_rank(value, k, f"eval_config.binarize.{where}")
    for class_id in aggregate.class_weights or {}:
        _check_class(class_id, k, "eval_config.aggregate.class_weights")
    base = [*binarize.variants(), *aggregate.variants()]

    variants = {n: [] if is_whole_output(n) else list(base) for n in names}
    for where, ref in refs:
        name, variant = split_ref(ref, where)
        if is_whole_output(name):
            if variant is not None:
                raise InputError(
                    f"{where}: {name} is computed over all classes at once; name it without "
                    f"a suffix ({name!r})"
                )
            continue
        if variant is None:
            suggestions = ", ".join(
                repr(key_name(name, v)) for v in (base or [Variant("macro_average")])[:3]
            )
            raise InputError(
                f"{where}: {name} is a binary metric; on a multiclass model name a class or "
                f"an average ({SUFFIXES}), e.g. {suggestions}"
            )
        if variant.kind == CLASS_ID:
            _check_class(variant.value, k, where)
        elif not variant.is_aggregate:
            _check_rank(variant.value, k, where)
        if variant not in variants[name]:
            variants[name].append(variant)
    empty = [n for n in names if not is_whole_output(n) and not variants[n]]
    if empty:
        raise InputError(
            f"eval_config: {', '.join(empty)} is a binary metric, computed on a multiclass "
            "model per class or averaged, but binarize and aggregate are both empty"
        )

    every = sorted({v for vs in variants.values() for v in vs}, key=Variant.sort_key)
    specs = [SpecPlan(None, tuple(n for n in names if is_whole_output(n)))]
    specs += [SpecPlan(v, tuple(n for n in names if v in variants[n])) for v in every]
    weights = aggregate.class_weights or {i: 1.0 for i in range(k)}
    return MetricPlan(task, tuple(names), metric_names, tuple(specs), weights)


def _check_class(class_id: Any, k: int, where: str) -> None:
    if not 0 <= class_id < k:
        raise InputError(
            f"{where}: class id {class_id} is not a class of this model (ids 0..{k - 1})"
        )


def _check_rank(value: Any, k: int, where: str) -> None:
    if not 1 <= value <= k:
        raise InputError(f"{where}: {value} is not a rank of this model's {k} classes (1..{k})")
