"""The TFMA EvalConfig of an evaluation, built from the checked EvalSettings: the candidate (and
the baseline, is_baseline), each predicting from serialized raw examples (serving_default) and
getting the label from the model's transform graph (transform_features); one slicing spec per
slice; value thresholds, and change thresholds when there is a baseline, on the overall slice.

TFMA is imported inside the function: the contract check imports main, which imports this."""

from __future__ import annotations

import json

from evaluate_model.config import EvalSettings

CANDIDATE = "candidate"
BASELINE = "baseline"
SIGNATURE = "serving_default"
PREPROCESSING_FUNCTIONS = ("transform_features",)


def build(settings: EvalSettings, label_key: str, with_baseline: bool):
    """The tfma.EvalConfig. Thresholds go to the overall slice only (per_slice_thresholds):
    a plain MetricConfig.threshold would apply to every slice, and a small slice would then
    fail the model on noise."""
    import tensorflow_model_analysis as tfma

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

    metrics = []
    for name in settings.metrics:
        options = settings.metric_options.get(name)
        metric = tfma.MetricConfig(
            class_name=name, config=json.dumps(options, sort_keys=True) if options else ""
        )
        threshold = tfma.MetricThreshold()
        for t in settings.thresholds:
            if t.metric == name:
                value = tfma.GenericValueThreshold()
                if t.lower is not None:
                    value.lower_bound.value = t.lower
                if t.upper is not None:
                    value.upper_bound.value = t.upper
                threshold.value_threshold.CopyFrom(value)
        if with_baseline:  # without a baseline, a change has nothing to be measured against
            for t in settings.change_thresholds:
                if t.metric == name:
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

    config = tfma.EvalConfig(
        model_specs=model_specs,
        slicing_specs=[tfma.SlicingSpec(feature_keys=list(s)) for s in settings.slices],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
    )
    # Only the configured metrics: TFMA's defaults would add the model's compiled Keras
    # metrics, which differ between models and are not what the thresholds speak of.
    config.options.include_default_metrics.value = False
    return config
