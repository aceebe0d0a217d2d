"""The eval_config input: settings.yaml's model.evaluation parses into what TFMA is given, and
each malformed field is refused with its name. Also the TFMA EvalConfig built from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from evaluate_model import config, tfma_config
from evaluate_model.inputs import InputError


def _parse(value) -> config.EvalSettings:
    return config.parse(json.dumps(value))


def test_settings_section_parses(helpers):
    s = _parse(helpers.EVAL_CONFIG)
    assert s.label_key == "big_tipper"
    assert s.metrics == tuple(helpers.EVAL_CONFIG["metrics"])
    assert s.metric_names == {
        "ExampleCount": "example_count",
        "AUC": "auc",
        "BinaryAccuracy": "binary_accuracy",
        "Calibration": "calibration",
        "Precision": "precision",
        "Recall": "recall",
    }
    assert s.slices == ((), ("trip_start_hour",), ("payment_type",))
    assert s.thresholds == (
        config.ValueThreshold("AUC", lower=0.75),
        config.ValueThreshold("BinaryAccuracy", lower=0.7),
    )
    assert s.change_thresholds == (config.ChangeThreshold("AUC", "higher", absolute=-0.01),)


USECASES = Path(__file__).resolve().parents[3] / "pipelines" / "usecases"


@pytest.mark.parametrize("usecase", sorted(p.parent.name for p in USECASES.glob("*/settings.yaml")))
def test_each_use_cases_evaluation_settings_parse(usecase):
    """What the pipeline passes: mlops.core.model_settings turns a use case's model.evaluation
    and model.label_key into this JSON."""
    import yaml

    model = yaml.safe_load((USECASES / usecase / "settings.yaml").read_text())["model"]
    section = {**model["evaluation"], "label_key": model["label_key"]}
    s = config.parse(json.dumps(section, sort_keys=True))
    assert s.label_key == model["label_key"] and s.thresholds
    assert set(s.metric_names) >= set(model["evaluation"]["thresholds"])


def test_overall_slice_is_always_there_and_first():
    s = _parse({"metrics": ["AUC"], "slices": [["payment_type"]]})
    assert s.slices == ((), ("payment_type",))


def test_a_metric_named_only_by_a_threshold_is_computed():
    s = _parse({"metrics": ["AUC"], "thresholds": {"Recall": {"lower": 0.1, "upper": 0.9}}})
    assert s.metrics == ("AUC", "Recall")
    assert s.metric_names["Recall"] == "recall"
    assert s.thresholds[0].describe() == ">= 0.1 and <= 0.9"


def test_no_metrics_means_the_task_defaults_later():
    s = _parse({"thresholds": {"AUC/macro_average": {"lower": 0.6}}})
    assert s.default_metrics and s.metrics == ("AUC",)
    assert s.key_of("AUC/macro_average") == "auc/macro_average"
    assert s.binarize is None and s.aggregate is None


def test_binarize_and_aggregate_parse():
    s = _parse(
        {
            "metrics": ["Precision"],
            "binarize": {"class_ids": [0, 2], "top_k_list": [1]},
            "aggregate": {"macro_average": True, "micro_average": False, "class_weights": {"2": 3}},
        }
    )
    assert [str(v) for v in s.binarize.variants()] == ["class_id=0", "class_id=2", "top_k=1"]
    assert [str(v) for v in s.aggregate.variants()] == ["macro_average"]
    assert s.aggregate.class_weights == {2: 3.0}
    assert _parse({"metrics": ["AUC"], "binarize": {}}).binarize.variants() == ()


def test_keras_metric_names_are_accepted():
    # Not a TFMA class name (TFMA's is BinaryCrossEntropy): tf.keras' own.
    s = _parse({"metrics": ["BinaryCrossentropy"]})
    assert s.metric_names == {"BinaryCrossentropy": "binary_crossentropy"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "eval_config: empty"),
        ('{"metrics": ["AUC"],', "eval_config: not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"metrics": ["AUC"], "threshold": {}}', "unknown key(s) 'threshold'"),
        ('{"metrics": ["AUCC"]}', "unknown metric 'AUCC'"),
        ('{"metrics": ["auc"]}', "did you mean AUC?"),
        ('{"metrics": "AUC"}', "eval_config.metrics is 'AUC'"),
        ('{"metrics": ["AUC", "AUC"]}', "lists AUC more than once"),
        (
            '{"metrics": ["AUC"], "thresholds": {"AUC/macro": {"lower": 0.5}}}',
            "unknown metric suffix 'macro'",
        ),
        (
            '{"metrics": ["AUC"], "thresholds": {"AUC/top_k=0": {"lower": 0.5}}}',
            "eval_config.thresholds.AUC/top_k=0 ('AUC/top_k=0'): top_k is 0; expected 1 or more",
        ),
        ('{"binarize": {"class_id": [0]}}', "eval_config.binarize: unknown key(s) class_id"),
        ('{"binarize": {"class_ids": [0, -1]}}', "eval_config.binarize.class_ids is [0, -1]"),
        (
            '{"binarize": {"top_k_list": [1, 1]}}',
            "eval_config.binarize.top_k_list lists a value twice",
        ),
        ('{"binarize": [0, 1]}', "eval_config.binarize is [0, 1]"),
        ('{"aggregate": {"macro": true}}', "eval_config.aggregate: unknown key(s) macro"),
        ('{"aggregate": {"macro_average": "yes"}}', "eval_config.aggregate.macro_average is 'yes'"),
        (
            '{"aggregate": {"class_weights": {"setosa": 1}}}',
            "eval_config.aggregate.class_weights: key 'setosa' is not a class id",
        ),
        ('{"metrics": ["AUC"], "slices": ["trip_start_hour"]}', "eval_config.slices is"),
        ('{"metrics": ["AUC"], "label_key": ""}', "eval_config.label_key is ''"),
        (
            '{"metrics": ["AUC"], "thresholds": {"AUC": {"lower": "0.7"}}}',
            "eval_config.thresholds.AUC.lower is '0.7'; expected a finite number",
        ),
        (
            '{"metrics": ["AUC"], "thresholds": {"AUC": {"min": 0.7}}}',
            "eval_config.thresholds.AUC is {'min': 0.7}",
        ),
        (
            '{"metrics": ["AUC"], "thresholds": {"AUC": {"lower": 0.9, "upper": 0.1}}}',
            "lower 0.9 is above upper 0.1",
        ),
        (
            '{"metrics": ["AUC"], "thresholds": {"Accuracyy": {"lower": 0.5}}}',
            "unknown metric 'Accuracyy'",
        ),
        (
            '{"metrics": ["AUC"], "change_thresholds": {"AUC": {"direction": "up", '
            '"absolute": 0}}}',
            "eval_config.change_thresholds.AUC.direction is 'up'",
        ),
        (
            '{"metrics": ["AUC"], "change_thresholds": {"AUC": {"direction": "higher"}}}',
            "eval_config.change_thresholds.AUC: needs absolute or relative",
        ),
        (
            '{"metrics": ["AUC"], "metric_options": {"Recall": {"top_k": 1}}}',
            "eval_config.metric_options.Recall: not a metric of eval_config.metrics (AUC)",
        ),
        (
            '{"metrics": ["AUC"], "metric_options": {"AUC": 1000}}',
            "eval_config.metric_options.AUC is 1000; expected an object",
        ),
    ],
)
def test_malformed_eval_config_is_refused_by_name(text, expected):
    with pytest.raises(InputError) as e:
        config.parse(text)
    assert expected in str(e.value)


def test_tfma_config_puts_thresholds_on_the_overall_slice_only(helpers):
    import tensorflow_model_analysis as tfma

    s = _parse(helpers.EVAL_CONFIG)
    with_baseline = tfma_config.build(s, "big_tipper", with_baseline=True)
    assert [m.name for m in with_baseline.model_specs] == ["candidate", "baseline"]
    assert [m.is_baseline for m in with_baseline.model_specs] == [False, True]
    for spec in with_baseline.model_specs:
        assert spec.label_key == "big_tipper"
        assert list(spec.preprocessing_function_names) == ["transform_features"]
        assert spec.signature_name == "serving_default"
    assert [list(x.feature_keys) for x in with_baseline.slicing_specs] == [
        [],
        ["trip_start_hour"],
        ["payment_type"],
    ]
    assert not with_baseline.options.include_default_metrics.value
    metrics = {m.class_name: m for m in with_baseline.metrics_specs[0].metrics}
    auc = metrics["AUC"]
    assert not auc.HasField("threshold")  # that would apply to every slice
    (per_slice,) = auc.per_slice_thresholds
    assert list(per_slice.slicing_specs) == [tfma.SlicingSpec()]
    assert per_slice.threshold.value_threshold.lower_bound.value == 0.75
    change = per_slice.threshold.change_threshold
    assert change.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert change.absolute.value == -0.01
    assert not metrics["Precision"].per_slice_thresholds

    first = tfma_config.build(s, "big_tipper", with_baseline=False)
    assert [m.name for m in first.model_specs] == ["candidate"]
    first_auc = next(m for m in first.metrics_specs[0].metrics if m.class_name == "AUC")
    assert first_auc.per_slice_thresholds[0].threshold.HasField("value_threshold")
    assert not first_auc.per_slice_thresholds[0].threshold.HasField("change_threshold")


def test_metric_options_reach_the_metric_config():
    import json

    s = _parse({"metrics": ["AUC", "Recall"], "metric_options": {"AUC": {"num_thresholds": 1000}}})
    metrics = {m.class_name: m for m in tfma_config.build(s, "y", False).metrics_specs[0].metrics}
    assert json.loads(metrics["AUC"].config) == {"num_thresholds": 1000}
    assert metrics["Recall"].config == ""
