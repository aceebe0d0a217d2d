"""How metrics are named: one string per TFMA metric key, in eval_config's thresholds and in
every output (slice_metrics.json, blessing.json, the Metrics artifact, the report).

    <name>                     a metric over the whole output: auc (binary), mean_squared_error,
                               sparse_categorical_accuracy, example_count
    <name>/class_id=<i>        a multiclass metric binarized on class i (one vs rest)
    <name>/top_k=<k>           binarized on "the label is among the k highest predictions"
    <name>/k=<k>               binarized on the k-th highest prediction
    <name>/macro_average       the average of the per-class values (all classes, or
                               aggregate.class_weights); also micro_average,
                               weighted_macro_average

In eval_config the <name> is the metric's class name ("AUC/macro_average",
"Precision/class_id=2"); in the outputs it is TFMA's value name ("auc/macro_average",
"precision/class_id=2"). The suffix is a "variant": a TFMA sub key (binarization) or
aggregation type.

No TensorFlow or TFMA at import time (the contract check imports main)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from evaluate_model.inputs import InputError

CLASS_ID, TOP_K, K = "class_id", "top_k", "k"
AGGREGATIONS = ("macro_average", "micro_average", "weighted_macro_average")
_NUMBERED = re.compile(r"^(class_id|top_k|k)=(\d+)$")
SUFFIXES = "class_id=<i>, top_k=<k>, k=<k>, " + ", ".join(AGGREGATIONS)


@dataclass(frozen=True, order=True)
class Variant:
    """A binarization (class_id / top_k / k with its number) or an aggregation (value None)."""

    kind: str
    value: int | None = None

    def __str__(self) -> str:
        return self.kind if self.value is None else f"{self.kind}={self.value}"

    @property
    def is_aggregate(self) -> bool:
        return self.kind in AGGREGATIONS

    @property
    def per_class(self) -> bool:
        return self.kind == CLASS_ID

    def sort_key(self) -> tuple[int, int]:
        kinds = (CLASS_ID, TOP_K, K, *AGGREGATIONS)
        return (kinds.index(self.kind), self.value or 0)


def parse_variant(text: str, where: str) -> Variant:
    if text in AGGREGATIONS:
        return Variant(text)
    match = _NUMBERED.match(text)
    if not match:
        raise InputError(f"{where}: unknown metric suffix {text!r}; known: {SUFFIXES}")
    kind, value = match.group(1), int(match.group(2))
    if kind != CLASS_ID and value < 1:
        raise InputError(f"{where}: {kind} is {value}; expected 1 or more")
    return Variant(kind, value)


def split_ref(ref: str, where: str) -> tuple[str, Variant | None]:
    """ "AUC/macro_average" -> ("AUC", Variant("macro_average")); "AUC" -> ("AUC", None)."""
    name, slash, suffix = ref.partition("/")
    if not name:
        raise InputError(f"{where}: {ref!r} names no metric before '/'")
    if not slash:
        return name, None
    return name, parse_variant(suffix, f"{where} ({ref!r})")


def key_name(name: str, variant: Variant | None) -> str:
    return name if variant is None else f"{name}/{variant}"


def variant_of(metric_key) -> Variant | None:
    """The variant of a TFMA MetricKey proto (metrics_for_slice_pb2.MetricKey)."""
    if metric_key.HasField("aggregation_type"):
        for kind in AGGREGATIONS:
            if getattr(metric_key.aggregation_type, kind):
                return Variant(kind)
    if metric_key.HasField("sub_key"):
        sub = metric_key.sub_key
        # class_id 0 is a set wrapper with the default value: HasField, not truthiness.
        for kind in (CLASS_ID, TOP_K, K):
            if sub.HasField(kind):
                return Variant(kind, int(getattr(sub, kind).value))
    return None


def name_of(metric_key) -> str:
    """The output name of a TFMA MetricKey proto: "auc", "precision/class_id=0", ..."""
    return key_name(metric_key.name, variant_of(metric_key))
