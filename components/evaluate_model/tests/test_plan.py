"""What is computed per task (plan.py) and the TFMA config built from it: the task's default
metrics, multiclass variants (per class, top k, averages) and the threshold keys that name
them, and each misnamed key refused by name. Also the task read from the model's sidecar."""

from __future__ import annotations

import json

import pytest
from evaluate_model import config, plan, task, tfma_config
from evaluate_model.inputs import InputError

IRIS = task.ModelTask(task.MULTICLASS, ("setosa", "versicolor", "virginica"))
REGRESSION = task.ModelTask(task.REGRESSION, None)


def _plan(value: dict, model_task: task.ModelTask = IRIS) -> plan.MetricPlan:
    return plan.resolve(config.parse(json.dumps(value)), model_task)


def _refused(value: dict, model_task: task.ModelTask = IRIS) -> str:
    with pytest.raises(InputError) as e:
        _plan(value, model_task)
    return str(e.value)


def test_defaults_per_task():
    binary = _plan({}, task.BINARY_TASK)
    assert binary.keys() == [
        "example_count", "auc", "binary_accuracy", "calibration", "precision", "recall",
    ]  # fmt: skip
    assert [s.variant for s in binary.specs] == [None]

    regression = _plan({}, REGRESSION)
    assert regression.keys() == [
        "example_count", "mean_squared_error", "mean_absolute_error", "mean_prediction",
        "mean_label", "calibration",
    ]  # fmt: skip

    multiclass = _plan({})
    keys = multiclass.keys()
    assert keys[:2] == ["example_count", "sparse_categorical_accuracy"]
    for name in ("precision", "recall", "auc"):
        assert [k for k in keys if k.startswith(name + "/")] == [
            f"{name}/class_id=0", f"{name}/class_id=1", f"{name}/class_id=2",
            f"{name}/macro_average",
        ]  # fmt: skip
    assert "multi_class_confusion_matrix_plot" not in keys  # a plot, not a number
    whole = multiclass.specs[0]
    assert whole.variant is None and "MultiClassConfusionMatrixPlot" in whole.metrics
    assert "Precision" not in whole.metrics  # a binary metric is never computed on [n, K]
    assert multiclass.class_weights == {0: 1.0, 1: 1.0, 2: 1.0}


def test_listed_metrics_replace_the_defaults_and_get_the_variants():
    p = _plan(
        {
            "metrics": ["SparseCategoricalAccuracy", "Recall"],
            "binarize": {"top_k_list": [1]},
            "aggregate": {"macro_average": True, "micro_average": True},
        }
    )
    assert p.keys() == [
        "sparse_categorical_accuracy", "recall/top_k=1", "recall/macro_average",
        "recall/micro_average",
    ]  # fmt: skip
    # The confusion matrix is always there for a multiclass model (the report shows it).
    assert "MultiClassConfusionMatrixPlot" in p.metrics


def test_a_threshold_on_a_variant_adds_it_for_its_metric_only():
    p = _plan(
        {
            "metrics": ["Precision", "Recall"],
            "binarize": {},
            "thresholds": {"Recall/class_id=2": {"lower": 0.5}},
        }
    )
    assert p.keys() == ["precision/macro_average", "recall/class_id=2", "recall/macro_average"]


def test_tfma_config_bounds_exactly_the_named_key():
    import tensorflow_model_analysis as tfma

    s = config.parse(
        json.dumps(
            {
                "thresholds": {"AUC/macro_average": {"lower": 0.7}},
                "change_thresholds": {
                    "Recall/class_id=1": {"direction": "higher", "absolute": -0.05}
                },
            }
        )
    )
    p = plan.resolve(s, IRIS)
    built = tfma_config.build(s, "species_id", with_baseline=True, plan=p)
    bounded = {}
    for spec in built.metrics_specs:
        if spec.HasField("aggregate"):
            assert spec.aggregate.macro_average
            assert dict(spec.aggregate.class_weights) == {0: 1.0, 1: 1.0, 2: 1.0}
            variant = "macro_average"
        elif spec.HasField("binarize"):
            (class_id,) = spec.binarize.class_ids.values
            variant = f"class_id={class_id}"
        else:
            variant = None
        for m in spec.metrics:
            if m.per_slice_thresholds:
                (t,) = m.per_slice_thresholds
                assert list(t.slicing_specs) == [tfma.SlicingSpec()]
                bounded[(m.class_name, variant)] = t.threshold
    assert set(bounded) == {("AUC", "macro_average"), ("Recall", "class_id=1")}
    assert bounded[("AUC", "macro_average")].value_threshold.lower_bound.value == 0.7
    assert bounded[("Recall", "class_id=1")].change_threshold.absolute.value == -0.05
    # TFMA derives the same keys: the threshold bounds auc/macro_average only.
    from tensorflow_model_analysis.metrics import metric_specs

    keys = metric_specs.metric_thresholds_from_metrics_specs(built.metrics_specs, built)
    from evaluate_model.metric_keys import name_of

    assert sorted(name_of(k.to_proto()) + (" diff" if k.is_diff else "") for k in keys) == [
        "auc/macro_average",
        "recall/class_id=1 diff",
    ]


@pytest.mark.parametrize(
    "value, model_task, expected",
    [
        (
            {"thresholds": {"AUC": {"lower": 0.7}}},
            IRIS,
            "eval_config.thresholds.AUC: AUC is a binary metric; on a multiclass model name a "
            "class or an average",
        ),
        ({"thresholds": {"AUC": {"lower": 0.7}}}, IRIS, "'AUC/class_id=0'"),
        (
            {"thresholds": {"AUC/class_id=3": {"lower": 0.7}}},
            IRIS,
            "eval_config.thresholds.AUC/class_id=3: class id 3 is not a class of this model "
            "(ids 0..2)",
        ),
        (
            {"change_thresholds": {"Recall/top_k=4": {"direction": "higher", "absolute": 0}}},
            IRIS,
            "eval_config.change_thresholds.Recall/top_k=4: 4 is not a rank",
        ),
        (
            {"thresholds": {"SparseCategoricalAccuracy/macro_average": {"lower": 0.7}}},
            IRIS,
            "SparseCategoricalAccuracy is computed over all classes at once; name it without",
        ),
        (
            {"thresholds": {"MultiClassConfusionMatrixPlot": {"lower": 0.7}}},
            IRIS,
            "MultiClassConfusionMatrixPlot is a plot or matrix, not a number to bound",
        ),
        (
            {"binarize": {"class_ids": [0, 5]}},
            IRIS,
            "eval_config.binarize.class_ids: class id 5 is not a class of this model",
        ),
        (
            {"aggregate": {"macro_average": True, "class_weights": {"7": 1}}},
            IRIS,
            "eval_config.aggregate.class_weights: class id 7",
        ),
        (
            {"metrics": ["Precision"], "binarize": {}, "aggregate": {}},
            IRIS,
            "Precision is a binary metric, computed on a multiclass model per class or averaged",
        ),
        (
            {"metric_options": {"F1Score": {"thresholds": [0.5]}}},
            IRIS,
            "eval_config.metric_options.F1Score: not a metric computed for this multiclass model",
        ),
        (
            {"thresholds": {"AUC/macro_average": {"lower": 0.7}}},
            task.BINARY_TASK,
            "names a class or average, which only multiclass models have; this model's task is "
            "binary",
        ),
        (
            {"binarize": {"class_ids": [0]}},
            REGRESSION,
            "eval_config.binarize: applies to multiclass models; this model's task is regression",
        ),
    ],
)
def test_misnamed_keys_are_refused_by_name(value, model_task, expected):
    assert expected in _refused(value, model_task)


@pytest.mark.parametrize(
    "sidecar, expected",
    [
        ({"label_key": "big_tipper"}, task.BINARY_TASK),  # made before tasks: binary
        ({"task": "binary", "classes": ["no", "yes"]}, task.ModelTask("binary", ("no", "yes"))),
        ({"task": "regression", "classes": None}, REGRESSION),
        ({"task": "multiclass", "classes": list(IRIS.classes)}, IRIS),
    ],
)
def test_task_from_sidecar(sidecar, expected):
    assert task.from_sidecar(sidecar, "model") == expected


@pytest.mark.parametrize(
    "sidecar, expected",
    [
        ({"task": "ranking"}, "model: mlops_model.json has task 'ranking'; expected one of"),
        ({"task": "multiclass"}, "has classes None; a multiclass model needs a list"),
        ({"task": "multiclass", "classes": ["a", "a"]}, "names a class twice"),
        ({"task": "binary", "classes": ["a", "b", "c"]}, "a binary model has two classes"),
    ],
)
def test_bad_sidecar_task_is_refused(sidecar, expected):
    with pytest.raises(InputError) as e:
        task.from_sidecar(sidecar, "model")
    assert expected in str(e.value)


def test_a_baseline_of_another_task_or_classes_is_not_comparable():
    assert task.incompatibility(IRIS, IRIS) is None
    assert "a binary model, the candidate a multiclass" in task.incompatibility(
        IRIS, task.BINARY_TASK
    )
    other = task.ModelTask(task.MULTICLASS, ("a", "b", "c"))
    assert "classes" in task.incompatibility(IRIS, other)
    assert IRIS.class_name(2) == "virginica" and IRIS.class_name(-1) == "-1"
