"""The data gate's rules on hand-built schemas, statistics and anomalies (no Beam run): the
thresholds each comparator gets, the environments, the counts and the decision, and how
validate() lays out its sections and notes."""

from __future__ import annotations

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from validate_data import validation as v
from validate_data.stats import InputError, TypeProblem

# Distinct values, so that a threshold put on the wrong comparator shows.
THRESHOLDS = v.Thresholds(0.11, 0.22, 0.33, 0.44)

SCHEMA = """
default_environment: "TRAINING"
default_environment: "SERVING"
feature { name: "fare" type: FLOAT
  drift_comparator { infinity_norm { threshold: 0.9 } }
  skew_comparator { jensen_shannon_divergence { threshold: 0.9 } } }
feature { name: "company" type: BYTES
  drift_comparator { jensen_shannon_divergence { threshold: 0.9 } }
  skew_comparator { infinity_norm { threshold: 0.9 } } }
feature { name: "hour" type: INT int_domain { is_categorical: true }
  drift_comparator { jensen_shannon_divergence { threshold: 0.9 } } }
feature { name: "flag" type: INT bool_domain { }
  skew_comparator { jensen_shannon_divergence { threshold: 0.9 } } }
feature { name: "miles" type: INT }
feature { name: "tips" type: INT not_in_environment: "SERVING"
  drift_comparator { jensen_shannon_divergence { threshold: 0.9 } }
  skew_comparator { jensen_shannon_divergence { threshold: 0.9 } } }
"""


def _schema(text: str = SCHEMA):
    return text_format.Parse(text, schema_pb2.Schema())


def _feature(schema, name):
    return next(f for f in schema.feature if f.name == name)


def _measure(feature="a", kind="drift", value=0.2, threshold=0.1):
    return v.Measurement(feature, kind, "L_INFTY", value, threshold)


def _anomalies(features=(), dataset=False, missing=False):
    a = anomalies_pb2.Anomalies()
    for name in features:
        a.anomaly_info[name].short_description = "x"
    if dataset:
        a.dataset_anomaly_info.description = "x"
    a.data_missing = missing
    return a


def _stats(counts: dict[str, int], n: int = 100):
    """Statistics of one categorical feature `company` with these value counts."""
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    d = stats.datasets.add(num_examples=n)
    f = d.features.add(type=statistics_pb2.FeatureNameStatistics.STRING)
    f.path.step.append("company")
    s = f.string_stats
    s.common_stats.num_non_missing = n
    s.common_stats.min_num_values = s.common_stats.max_num_values = 1
    s.common_stats.avg_num_values = 1
    s.unique = len(counts)
    for rank, (label, count) in enumerate(counts.items()):
        s.rank_histogram.buckets.add(low_rank=rank, high_rank=rank, label=label, sample_count=count)
        s.top_values.add(value=label, frequency=count)
    return stats


COMPANY_SCHEMA = """
default_environment: "TRAINING"
default_environment: "SERVING"
feature { name: "company" type: BYTES presence { min_fraction: 1 min_count: 1 }
  value_count { min: 1 max: 1 }
  drift_comparator { infinity_norm { threshold: 0.5 } }
  skew_comparator { infinity_norm { threshold: 0.5 } } }
"""


def test_a_measurement_exceeds_only_above_its_threshold():
    assert not _measure(value=0.1, threshold=0.1).exceeded
    assert _measure(value=0.1000001, threshold=0.1).exceeded
    assert not _measure(value=0.05, threshold=0.1).exceeded


def test_anomalies_count_each_feature_the_dataset_and_missing_data():
    def count(a):
        return v.Section("train", "TRAINING", None, a).anomaly_count()

    assert count(_anomalies()) == 0
    assert count(_anomalies(["a", "b"])) == 2
    assert count(_anomalies(dataset=True)) == 1
    assert count(_anomalies(missing=True)) == 1
    assert count(_anomalies(["a", "b", "c"], dataset=True, missing=True)) == 5


def test_any_anomaly_stops_and_none_continues_with_the_figures():
    clean = v.Section("train", "TRAINING", _stats({"a": 60, "b": 40}, n=100), _anomalies())
    clean.measurements = [
        _measure("b", "drift", 0.3),
        _measure("a", "drift", 0.5),
        _measure("a", "skew", 0.05),
        _measure("c", "drift", 0.1),  # at the threshold: not over
        _measure("d", "skew", 0.2),
    ]
    serving = v.Section("serving", "SERVING", _stats({"a": 1}, n=7), _anomalies())
    passed = v.Result([clean, serving], THRESHOLDS)
    assert passed.decision == v.CONTINUE
    assert passed.features_over("drift") == ["a", "b"]
    assert passed.features_over("skew") == ["d"]
    assert len(passed.measurements()) == 5
    assert passed.metrics() == {
        "anomalies": 0,
        "drifted_features": 2,
        "skewed_features": 1,
        "passed": 1,
        "anomalies_train": 0,
        "examples_train": 100,
        "anomalies_serving": 0,
    }
    broken = v.Section("eval", "TRAINING", None, _anomalies(["fare"], missing=True))
    stopped = v.Result([clean, broken], THRESHOLDS)
    assert stopped.decision == v.STOP
    assert stopped.anomaly_count() == 2
    assert stopped.metrics() == {
        "anomalies": 2,
        "drifted_features": 2,
        "skewed_features": 1,
        "passed": 0,
        "anomalies_train": 0,
        "examples_train": 100,
        "anomalies_eval": 2,
    }


def test_statistics_without_a_dataset_count_no_examples():
    assert v._num_examples(statistics_pb2.DatasetFeatureStatisticsList()) == 0
    assert v._num_examples(_stats({"a": 1}, n=42)) == 42


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "--schema is empty: pass the schema's text (pbtxt)"),
        ("  \n ", "--schema is empty: pass the schema's text (pbtxt)"),
        ('default_environment: "TRAINING"', "--schema declares no features"),
    ],
)
def test_a_bad_schema_names_what_is_wrong(text, message):
    with pytest.raises(InputError) as e:
        v.parse_schema(text)
    assert str(e.value) == message


def _parse_error(text: str) -> str:
    try:
        text_format.Parse(text, schema_pb2.Schema())
    except text_format.ParseError as e:
        return f"--schema does not parse as a tensorflow_metadata Schema in text format: {e}"
    raise AssertionError(f"{text!r} parses")


def test_a_schema_path_in_place_of_its_text_gets_a_hint():
    hint = " (--schema takes the schema's text, not a path to it)"
    for path in ("schema.pbtxt", " s.txt\n", "s.pb"):
        with pytest.raises(InputError) as e:
            v.parse_schema(path)
        assert str(e.value) == _parse_error(path) + hint
    for text in ("not a schema", 'feature { name: "a" }\nschema.pbtxt', "feature {"):
        with pytest.raises(InputError) as e:
            v.parse_schema(text)
        assert str(e.value) == _parse_error(text)


def test_a_good_schema_parses():
    schema = v.parse_schema(SCHEMA)
    assert [f.name for f in schema.feature] == ["fare", "company", "hour", "flag", "miles", "tips"]


def test_which_features_are_categorical():
    schema = _schema()
    assert [f.name for f in schema.feature if v._categorical(f)] == ["company", "hour", "flag"]
    plain_int = _schema('feature { name: "n" type: INT int_domain { min: 0 } }').feature[0]
    assert not v._categorical(plain_int)


ENVIRONMENT_CASES = [
    "",
    'in_environment: "SERVING"',  # adds, does not restrict: still in TRAINING
    'in_environment: "TRAINING"',
    'not_in_environment: "SERVING"',  # the label
    'not_in_environment: "TRAINING"',  # a serving-only feature
    'in_environment: "SERVING" not_in_environment: "SERVING"',  # in_environment wins
]


@pytest.mark.parametrize("declared", ENVIRONMENT_CASES)
def test_a_features_environments_are_tfdvs(declared):
    """_in_environment agrees with TFDV's validate_statistics: a feature expected in an
    environment and absent from the data is flagged there, and only there."""
    import tensorflow_data_validation as tfdv

    schema = _schema(
        'default_environment: "TRAINING" default_environment: "SERVING" '
        'feature { name: "a" type: FLOAT } '
        'feature { name: "x" type: FLOAT presence { min_fraction: 1 min_count: 1 } '
        f"{declared} }}"
    )
    without_x = text_format.Parse(
        'datasets { num_examples: 2 features { path { step: "a" } type: FLOAT '
        "num_stats { common_stats { num_non_missing: 2 min_num_values: 1 max_num_values: 1 "
        "avg_num_values: 1 tot_num_values: 2 } } } }",
        statistics_pb2.DatasetFeatureStatisticsList(),
    )
    x = schema.feature[1]
    for environment in ("TRAINING", "SERVING"):
        anomalies = tfdv.validate_statistics(without_x, schema, environment=environment)
        expected = "x" in anomalies.anomaly_info
        assert v._in_environment(x, environment, schema.default_environment) is expected, (
            environment
        )


def test_a_feature_outside_the_default_environments_is_in_none():
    f = schema_pb2.Feature(name="x")
    assert v._in_environment(f, "SERVING", ["TRAINING", "SERVING"])
    assert not v._in_environment(f, "SERVING", ["TRAINING"])
    assert v._in_environment(schema_pb2.Feature(in_environment=["SERVING"]), "SERVING", [])


def test_thresholds_go_on_the_comparator_of_each_feature_kind():
    schema = _schema()
    compared = v.apply_thresholds(schema, THRESHOLDS)
    # tips is not in SERVING: its skew comparator is dropped, its drift one kept.
    assert compared == {
        "drift": ["fare", "company", "hour", "tips"],
        "skew": ["fare", "company", "flag"],
    }
    fare, company, hour = (_feature(schema, n) for n in ("fare", "company", "hour"))
    flag, miles, tips = (_feature(schema, n) for n in ("flag", "miles", "tips"))
    assert not fare.drift_comparator.HasField("infinity_norm")
    assert fare.drift_comparator.jensen_shannon_divergence.threshold == pytest.approx(0.11)
    assert fare.skew_comparator.jensen_shannon_divergence.threshold == pytest.approx(0.33)
    assert not company.drift_comparator.HasField("jensen_shannon_divergence")
    assert company.drift_comparator.infinity_norm.threshold == pytest.approx(0.22)
    assert company.skew_comparator.infinity_norm.threshold == pytest.approx(0.44)
    assert not company.skew_comparator.HasField("jensen_shannon_divergence")
    assert hour.drift_comparator.infinity_norm.threshold == pytest.approx(0.22)
    assert not hour.drift_comparator.HasField("jensen_shannon_divergence")
    assert flag.skew_comparator.infinity_norm.threshold == pytest.approx(0.44)
    assert not flag.HasField("drift_comparator")
    assert not miles.HasField("drift_comparator") and not miles.HasField("skew_comparator")
    assert not tips.HasField("skew_comparator")
    assert tips.drift_comparator.jensen_shannon_divergence.threshold == pytest.approx(0.11)


def test_without_a_serving_environment_the_label_keeps_its_skew_comparator():
    schema = _schema(SCHEMA.replace('default_environment: "SERVING"', ""))
    compared = v.apply_thresholds(schema, THRESHOLDS)
    assert compared["skew"] == ["fare", "company", "flag", "tips"]
    tips = _feature(schema, "tips")
    assert tips.skew_comparator.jensen_shannon_divergence.threshold == pytest.approx(0.33)


def test_the_environment_is_the_one_wanted_none_or_a_named_error():
    assert v.environment_for(_schema(), "SERVING") == "SERVING"
    assert v.environment_for(_schema(), "TRAINING") == "TRAINING"
    assert v.environment_for(_schema('feature { name: "a" }'), "TRAINING") is None
    other = _schema('default_environment: "SERVING" feature { name: "a" }')
    with pytest.raises(InputError, match=r"\['SERVING'\] but not TRAINING"):
        v.environment_for(other, "TRAINING")


def test_measurements_are_read_per_feature_and_kind():
    a = anomalies_pb2.Anomalies()
    info = a.drift_skew_info.add()
    info.path.step.extend(["trip", "fare"])
    info.drift_measurements.add(
        type=anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY, value=0.4, threshold=0.2
    )
    info.skew_measurements.add(
        type=anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE,
        value=0.01,
        threshold=0.1,
    )
    assert v._measurements(a) == [
        v.Measurement("trip.fare", "drift", "L_INFTY", pytest.approx(0.4), pytest.approx(0.2)),
        v.Measurement(
            "trip.fare",
            "skew",
            "JENSEN_SHANNON_DIVERGENCE",
            pytest.approx(0.01),
            pytest.approx(0.1),
        ),
    ]


def test_undecodable_examples_become_one_anomaly_per_feature():
    problems = [
        TypeProblem("train", "f1", 3, "fare", "FLOAT", "BYTES", "'x'"),
        TypeProblem("train", "f1", 9, "company", "BYTES", "FLOAT", "1.0"),
        TypeProblem("train", "f2", 0, "fare", "FLOAT", "BYTES", "'y'"),
    ]
    a = v.type_anomalies(problems)
    assert sorted(a.anomaly_info) == ["company", "fare"]
    fare = a.anomaly_info["fare"]
    assert list(fare.path.step) == ["fare"]
    assert fare.severity == anomalies_pb2.AnomalyInfo.ERROR
    assert fare.short_description == "Unexpected data type"
    assert fare.description == (
        "Values of feature 'fare' are BYTES, expected FLOAT: "
        "f1 record 3: feature 'fare' holds BYTES 'x', expected FLOAT; "
        "f2 record 0: feature 'fare' holds BYTES 'y', expected FLOAT"
        ". The examples cannot be decoded, so no statistics were computed for this split."
    )
    assert [r.type for r in fare.reason] == [anomalies_pb2.AnomalyInfo.UNEXPECTED_DATA_TYPE]
    assert fare.reason[0].short_description == "Unexpected data type"
    assert fare.reason[0].description == fare.description
    assert "expected BYTES" in a.anomaly_info["company"].description


def test_validate_measures_drift_and_skew_on_the_train_split():
    train = _stats({"a": 50, "b": 50})
    previous = _stats({"a": 90, "b": 10})  # L-infinity 0.4 against train
    serving = _stats({"a": 48, "b": 52})
    result = v.validate(
        _schema(COMPANY_SCHEMA),
        {"train": train, "eval": _stats({"a": 90, "b": 10})},
        {},
        ["train", "eval"],
        v.Thresholds(drift_categorical_linf=0.3, skew_categorical_linf=0.3),
        previous=previous,
        serving=serving,
    )
    assert [(s.name, s.environment) for s in result.sections] == [
        ("train", "TRAINING"),
        ("eval", "TRAINING"),
        ("serving", "SERVING"),
    ]
    train_section, eval_section, serving_section = result.sections
    assert train_section.statistics is train and serving_section.statistics is serving
    assert train_section.notes == [
        "drift measured against the previous statistics",
        "skew measured against the serving statistics",
    ]
    assert eval_section.notes == [] and eval_section.measurements == []
    assert serving_section.notes == ["the serving statistics, validated against the schema"]
    drift = [m for m in train_section.measurements if m.kind == "drift"]
    skew = [m for m in train_section.measurements if m.kind == "skew"]
    assert [(m.feature, m.measure) for m in drift] == [("company", "L_INFTY")]
    assert drift[0].value == pytest.approx(0.4) and drift[0].threshold == pytest.approx(0.3)
    assert skew[0].value == pytest.approx(0.02) and not skew[0].exceeded
    assert result.features_over("drift") == ["company"]
    assert result.reference is previous
    assert result.decision == v.STOP  # the drift is an anomaly of the train split
    assert train_section.anomaly_count() == 1 and eval_section.anomaly_count() == 0


def test_validate_compares_the_split_asked_for_and_notes_undecodable_ones():
    problem = TypeProblem("train", "f", 0, "company", "BYTES", "FLOAT", "1.0")
    result = v.validate(
        _schema(COMPANY_SCHEMA),
        {"eval": _stats({"a": 50, "b": 50})},
        {"train": [problem]},
        ["train", "eval"],
        v.Thresholds(),
        previous=_stats({"a": 50, "b": 50}),
    )
    train_section, eval_section = result.sections
    assert train_section.statistics is None
    assert train_section.notes == ["drift and skew not measured: no statistics"]
    assert list(train_section.anomalies.anomaly_info) == ["company"]
    assert eval_section.notes == []  # train was the split to compare
    assert result.notes == []
    assert result.decision == v.STOP

    other = v.validate(
        _schema(COMPANY_SCHEMA),
        {"train": _stats({"a": 50, "b": 50}), "eval": _stats({"a": 50, "b": 50})},
        {},
        ["train", "eval"],
        v.Thresholds(),
        previous=_stats({"a": 50, "b": 50}),
        compare_split="eval",
    )
    assert other.sections[0].notes == []
    assert other.sections[1].notes == ["drift measured against the previous statistics"]
    assert other.decision == v.CONTINUE
    assert [m.kind for m in other.measurements()] == ["drift"]


def test_without_train_the_first_split_is_compared_and_missing_comparators_noted():
    schema = _schema(
        'default_environment: "TRAINING" default_environment: "SERVING" '
        'feature { name: "company" type: BYTES }'
    )
    result = v.validate(
        schema,
        {"eval": _stats({"a": 50, "b": 50}), "test": _stats({"a": 50, "b": 50})},
        {},
        ["eval", "test"],
        v.Thresholds(),
        previous=_stats({"a": 50, "b": 50}),
        serving=_stats({"a": 50, "b": 50}),
    )
    assert result.notes == [
        "drift: the schema declares no drift_comparator, so no feature was compared",
        "skew: the schema declares no skew_comparator, so no feature was compared",
    ]
    assert result.sections[0].notes == [
        "drift measured against the previous statistics",
        "skew measured against the serving statistics",
    ]
    assert result.sections[1].notes == []
    assert result.measurements() == []


def test_serving_statistics_without_environments_are_validated_with_none():
    schema = _schema("\n".join(x for x in COMPANY_SCHEMA.splitlines() if "environment" not in x))
    result = v.validate(
        schema,
        {"train": _stats({"a": 50, "b": 50})},
        {},
        ["train"],
        v.Thresholds(),
        serving=_stats({"a": 50, "b": 50}),
    )
    assert [(s.name, s.environment) for s in result.sections] == [
        ("train", None),
        ("serving", None),
    ]
    assert result.decision == v.CONTINUE
    assert result.notes == []


def test_train_is_compared_wherever_it_stands_and_the_result_keeps_its_inputs():
    thresholds = v.Thresholds(drift_categorical_linf=0.3)
    previous = _stats({"a": 90, "b": 10})
    result = v.validate(
        _schema(COMPANY_SCHEMA),
        {"eval": _stats({"a": 90, "b": 10}), "train": _stats({"a": 50, "b": 50})},
        {},
        ["eval", "train"],
        thresholds,
        previous=previous,
    )
    assert [s.name for s in result.sections] == ["eval", "train"]
    assert result.sections[0].notes == [] and result.sections[0].measurements == []
    assert result.sections[1].notes == ["drift measured against the previous statistics"]
    assert result.thresholds == thresholds and result.reference is previous


def test_undecodable_splits_other_than_the_compared_one_get_no_note():
    problem = TypeProblem("eval", "f", 0, "company", "BYTES", "FLOAT", "1.0")
    stats = {"train": _stats({"a": 50, "b": 50})}
    args = (_schema(COMPANY_SCHEMA), stats, {"eval": [problem]}, ["train", "eval"], v.Thresholds())
    result = v.validate(*args, previous=_stats({"a": 50, "b": 50}))
    eval_section = result.sections[1]
    assert (eval_section.name, eval_section.environment, eval_section.notes) == (
        "eval",
        "TRAINING",
        [],
    )
    alone = v.validate(_schema(COMPANY_SCHEMA), {}, {"train": [problem]}, ["train"], v.Thresholds())
    assert alone.sections[0].notes == []  # nothing to compare against: nothing missed


def test_the_splits_are_validated_in_the_training_environment():
    # A serving-only feature is absent from the examples, and rightly so.
    schema = _schema(
        COMPANY_SCHEMA + 'feature { name: "request_id" type: BYTES presence { min_count: 1 } '
        'not_in_environment: "TRAINING" }\n'
    )
    result = v.validate(
        schema, {"train": _stats({"a": 50, "b": 50})}, {}, ["train"], v.Thresholds()
    )
    assert result.sections[0].anomaly_count() == 0 and result.decision == v.CONTINUE
