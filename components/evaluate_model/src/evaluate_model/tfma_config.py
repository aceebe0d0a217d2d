"""The TFMA EvalConfig of an evaluation, built from the checked EvalSettings and the metric
plan of the model's task: the candidate (and the baseline, is_baseline), each predicting from
serialized raw examples (serving_default) and getting the label from the model's transform
graph (transform_features); one slicing spec per slice; one MetricsSpec per variant of the
plan (plain, each binarization, each aggregation), so that a threshold bounds exactly the key
it names (TFMA applies a MetricConfig's threshold to every key of its spec); value
thresholds, and change thresholds when there is a baseline, on the overall slice; for a
classifier, the confusion matrices at thresholds (ConfusionMatrixPlot) the report draws its
ROC and precision-recall curves from.

TFMA is imported inside the function: the contract check imports main, which imports this."""

from __future__ import annotations

import json

from evaluate_model.config import EvalSettings
from evaluate_model.metric_keys import CLASS_ID, split_ref
from evaluate_model.plan import MetricPlan, SpecPlan, resolve
from evaluate_model.task import BINARY, BINARY_TASK, MULTICLASS

CANDIDATE = "candidate"
BASELINE = "baseline"
SIGNATURE = "serving_default"
PREPROCESSING_FUNCTIONS = ("transform_features",)
# The report's ROC and precision-recall curves and the binary confusion matrix: TFMA's
# confusion matrices at thresholds 0, 0.01, ..., 1 (0.5, the decision threshold, among them),
# of a binary model and of each class a multiclass model is binarized on.
CURVES = "ConfusionMatrixPlot"
CURVE_THRESHOLDS = 100


def build(
    settings: EvalSettings, label_key: str, with_baseline: bool, plan: MetricPlan | None = None
):
    """The tfma.EvalConfig (plan: the binary one of settings when not given). Thresholds go
    to the overall slice only (per_slice_thresholds): a plain MetricConfig.threshold would
    apply to every slice, and a small slice would then fail the model on noise."""
    import tensorflow_model_analysis as tfma

    plan = plan or resolve(settings, BINARY_TASK)

    def model_spec(name: str, is_baseline: bool):
        return tfma.ModelSpec(
            name=name,
            signature_name=SIGNATURE,
            label_key=label_key,
            preprocessing_function_names=list(PREPROCESSING_FUNCTIONS),
            is_baseline=is_baseline,
            # The model's signatures are all TFMA calls: loading it as a generic SavedModel
            # skips the Keras revival (and TFMA's probe load that picks the type), seconds
            # per model in every run.
            model_type=tfma.constants.TF_GENERIC,
        )

    model_specs = [model_spec(CANDIDATE, False)]
    if with_baseline:
        model_specs.append(model_spec(BASELINE, True))

    config = tfma.EvalConfig(
        model_specs=model_specs,
        slicing_specs=[tfma.SlicingSpec(feature_keys=list(s)) for s in settings.slices],
        metrics_specs=[_metrics_spec(spec, settings, plan, with_baseline) for spec in plan.specs],
    )
    # Only the configured metrics: TFMA's defaults would add the model's compiled Keras
    # metrics, which differ between models and are not what the thresholds speak of.
    config.options.include_default_metrics.value = False
    return config


def _with_curves(spec: SpecPlan, plan: MetricPlan) -> bool:
    if CURVES in spec.metrics:
        return False  # the eval_config asked for it already
    if plan.task.task == BINARY:
        return spec.variant is None
    return (
        plan.task.task == MULTICLASS
        and spec.variant is not None
        and (spec.variant.kind == CLASS_ID)
    )


def _metrics_spec(spec: SpecPlan, settings: EvalSettings, plan: MetricPlan, with_baseline: bool):
    import tensorflow_model_analysis as tfma

    def bounds(t, name: str) -> bool:  # does threshold t name this spec's variant of name?
        return split_ref(t.metric, "eval_config") == (name, spec.variant)

    metrics = []
    for name in spec.metrics:
        options = settings.metric_options.get(name)
        metric = tfma.MetricConfig(
            class_name=name, config=json.dumps(options, sort_keys=True) if options else ""
        )
        threshold = tfma.MetricThreshold()
        for t in settings.thresholds:
            if bounds(t, name):
                value = tfma.GenericValueThreshold()
                if t.lower is not None:
                    value.lower_bound.value = t.lower
                if t.upper is not None:
                    value.upper_bound.value = t.upper
                threshold.value_threshold.CopyFrom(value)
        if with_baseline:  # without a baseline, a change has nothing to be measured against
            for t in settings.change_thresholds:
                if bounds(t, name):
                    change = tfma.GenericChangeThreshold(
                        direction=(
                            tfma.MetricDirection.HIGHER_IS_BETTER
                            if t.direction == "higher"
                            else tfma.MetricDirection.LOWER_IS_BETTER
                        )
                    )
                    if t.absolute is not None:
                        change.absolute.value = t.absolute
                    if t.relative is not None:
                        change.relative.value = t.relative
                    threshold.change_threshold.CopyFrom(change)
        if threshold.HasField("value_threshold") or threshold.HasField("change_threshold"):
            metric.per_slice_thresholds.add(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)
        metrics.append(metric)
    if _with_curves(spec, plan):
        metrics.append(
            tfma.MetricConfig(
                class_name=CURVES, config=json.dumps({"num_thresholds": CURVE_THRESHOLDS})
            )
        )

    result = tfma.MetricsSpec(metrics=metrics)
    variant = spec.variant
    if variant is None:
        return result
    if variant.is_aggregate:
        setattr(result.aggregate, variant.kind, True)
        # Averaging over all classes needs the classes: TFMA takes them from the weights.
        for class_id, weight in plan.class_weights.items():
            result.aggregate.class_weights[class_id] = weight
    else:
        field = {"class_id": "class_ids", "top_k": "top_k_list", "k": "k_list"}[variant.kind]
        getattr(result.binarize, field).values.append(variant.value)
    return result
