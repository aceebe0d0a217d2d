"""Validation of the statistics against the schema (per split, in the TRAINING environment),
drift against a previous run's statistics and skew against serving statistics (on the
train split), with the schema's comparators and the pipeline's thresholds; and the
decision that follows."""

from __future__ import annotations

from dataclasses import dataclass, field

from validate_data.stats import InputError, TypeProblem

TRAINING, SERVING = "TRAINING", "SERVING"
CONTINUE, STOP = "continue", "stop"


@dataclass(frozen=True)
class Thresholds:
    drift_numeric_jsd: float = 0.1
    drift_categorical_linf: float = 0.1
    skew_numeric_jsd: float = 0.1
    skew_categorical_linf: float = 0.1


@dataclass(frozen=True)
class Measurement:
    """One drift or skew distance the comparators measured, against its threshold."""

    feature: str
    kind: str  # drift | skew
    measure: str  # JENSEN_SHANNON_DIVERGENCE | L_INFTY | ...
    value: float
    threshold: float

    @property
    def exceeded(self) -> bool:
        return self.value > self.threshold


@dataclass
class Section:
    """What was validated: one split of the examples, or the serving statistics."""

    name: str  # the split, or "serving"
    environment: str | None
    statistics: object | None  # DatasetFeatureStatisticsList; None: could not be computed
    anomalies: object  # tensorflow_metadata Anomalies
    notes: list[str] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)

    def anomaly_count(self) -> int:
        a = self.anomalies
        return len(a.anomaly_info) + int(a.HasField("dataset_anomaly_info")) + int(a.data_missing)


@dataclass
class Result:
    sections: list[Section]
    thresholds: Thresholds
    notes: list[str] = field(default_factory=list)
    reference: object | None = None  # the drift reference's DatasetFeatureStatisticsList

    def measurements(self) -> list[Measurement]:
        return [m for s in self.sections for m in s.measurements]

    def anomaly_count(self) -> int:
        return sum(s.anomaly_count() for s in self.sections)

    def features_over(self, kind: str) -> list[str]:
        return sorted({m.feature for m in self.measurements() if m.kind == kind and m.exceeded})

    @property
    def decision(self) -> str:
        return STOP if self.anomaly_count() else CONTINUE

    def metrics(self) -> dict[str, float]:
        metrics = {
            "anomalies": self.anomaly_count(),
            "drifted_features": len(self.features_over("drift")),
            "skewed_features": len(self.features_over("skew")),
            "passed": int(self.decision == CONTINUE),
        }
        for s in self.sections:
            metrics[f"anomalies_{s.name}"] = s.anomaly_count()
            if s.statistics is not None and s.name != "serving":
                metrics[f"examples_{s.name}"] = _num_examples(s.statistics)
        return metrics


def _num_examples(stats) -> int:
    return int(stats.datasets[0].num_examples) if stats.datasets else 0


def parse_schema(text: str):
    """The Schema in `text` (pbtxt), or an InputError naming where it does not parse."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    if not text or not text.strip():
        raise InputError("--schema is empty: pass the schema's text (pbtxt)")
    schema = schema_pb2.Schema()
    try:
        text_format.Parse(text, schema)
    except text_format.ParseError as e:
        hint = ""
        first = text.strip()
        if "\n" not in first and first.endswith((".pbtxt", ".txt", ".pb")):
            hint = " (--schema takes the schema's text, not a path to it)"
        raise InputError(
            f"--schema does not parse as a tensorflow_metadata Schema in text format: {e}{hint}"
        ) from e
    if not schema.feature:
        raise InputError("--schema declares no features")
    return schema


def _categorical(feature) -> bool:
    from tensorflow_metadata.proto.v0 import schema_pb2

    return (
        feature.type == schema_pb2.BYTES
        or feature.HasField("bool_domain")
        or (feature.type == schema_pb2.INT and feature.int_domain.is_categorical)
    )


def _in_environment(feature, environment: str, defaults) -> bool:
    """TFDV's rule (validate_statistics): a feature that lists the environment in
    in_environment is in it, else one that lists it in not_in_environment is not, else it is
    in the schema's default environments. So in_environment adds environments and does not
    restrict: a serving-only feature says not_in_environment: "TRAINING"."""
    if environment in feature.in_environment:
        return True
    if environment in feature.not_in_environment:
        return False
    return environment in defaults


def apply_thresholds(schema, thresholds: Thresholds) -> dict[str, list[str]]:
    """Sets the pipeline's thresholds on the comparators the schema declares, in place:
    Jensen-Shannon divergence for numeric features, L-infinity distance for categorical
    ones (the other of the two is cleared). A feature without a comparator is not compared.
    Skew comparators of features absent in SERVING (the label) are dropped. Returns the
    features compared, by kind."""
    compared: dict[str, list[str]] = {"drift": [], "skew": []}
    serving_defined = SERVING in schema.default_environment
    for feature in schema.feature:
        for kind, jsd, linf in (
            ("drift", thresholds.drift_numeric_jsd, thresholds.drift_categorical_linf),
            ("skew", thresholds.skew_numeric_jsd, thresholds.skew_categorical_linf),
        ):
            name = f"{kind}_comparator"
            if not feature.HasField(name):
                continue
            if (
                kind == "skew"
                and serving_defined
                and not _in_environment(feature, SERVING, schema.default_environment)
            ):
                feature.ClearField(name)
                continue
            comparator = getattr(feature, name)
            if _categorical(feature):
                comparator.ClearField("jensen_shannon_divergence")
                comparator.infinity_norm.threshold = linf
            else:
                comparator.ClearField("infinity_norm")
                comparator.jensen_shannon_divergence.threshold = jsd
            compared[kind].append(feature.name)
    return compared


def environment_for(schema, wanted: str) -> str | None:
    if wanted in schema.default_environment:
        return wanted
    if not schema.default_environment:
        return None  # no environments: every feature is expected everywhere
    raise InputError(
        f"--schema defines the environments {list(schema.default_environment)} but not "
        f"{wanted}, which validate_data uses"
    )


def _measurements(anomalies) -> list[Measurement]:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    names = anomalies_pb2.DriftSkewInfo.Measurement.Type
    found = []
    for info in anomalies.drift_skew_info:
        feature = ".".join(info.path.step)
        for kind, measurements in (
            ("drift", info.drift_measurements),
            ("skew", info.skew_measurements),
        ):
            for m in measurements:
                found.append(Measurement(feature, kind, names.Name(m.type), m.value, m.threshold))
    return found


def type_anomalies(problems: list[TypeProblem]):
    """Anomalies recording examples that could not be decoded against the schema."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    anomalies = anomalies_pb2.Anomalies()
    for feature in dict.fromkeys(p.feature for p in problems):
        mine = [p for p in problems if p.feature == feature]
        info = anomalies.anomaly_info[feature]
        info.path.step.append(feature)
        info.severity = anomalies_pb2.AnomalyInfo.ERROR
        info.short_description = "Unexpected data type"
        info.description = (
            f"Values of feature {feature!r} are {mine[0].found}, expected {mine[0].expected}: "
            + "; ".join(str(p) for p in mine)
            + ". The examples cannot be decoded, so no statistics were computed for this split."
        )
        reason = info.reason.add()
        reason.type = anomalies_pb2.AnomalyInfo.UNEXPECTED_DATA_TYPE
        reason.short_description = info.short_description
        reason.description = info.description
    return anomalies


def validate(
    schema,
    statistics: dict,
    problems: dict[str, list[TypeProblem]],
    splits: list[str],
    thresholds: Thresholds,
    previous=None,
    serving=None,
    compare_split: str | None = None,
) -> Result:
    """statistics: {split: DatasetFeatureStatisticsList}; problems: the splits that could
    not be decoded. Drift and skew are measured on compare_split (train by default)."""
    import tensorflow_data_validation as tfdv

    compared = apply_thresholds(schema, thresholds)
    environment = environment_for(schema, TRAINING)
    compare_split = compare_split or ("train" if "train" in splits else splits[0])
    result = Result([], thresholds, reference=previous)
    for kind, control in (("drift", previous), ("skew", serving)):
        if control is not None and not compared[kind]:
            result.notes.append(
                f"{kind}: the schema declares no {kind}_comparator, so no feature was compared"
            )
    for split in splits:
        if split in problems:
            section = Section(split, environment, None, type_anomalies(problems[split]))
            if split == compare_split and (previous is not None or serving is not None):
                section.notes.append("drift and skew not measured: no statistics")
            result.sections.append(section)
            continue
        comparing = split == compare_split
        anomalies = tfdv.validate_statistics(
            statistics[split],
            schema,
            environment=environment,
            previous_statistics=previous if comparing else None,
            serving_statistics=serving if comparing else None,
        )
        section = Section(split, environment, statistics[split], anomalies)
        section.measurements = _measurements(anomalies)
        if comparing and previous is not None:
            section.notes.append("drift measured against the previous statistics")
        if comparing and serving is not None:
            section.notes.append("skew measured against the serving statistics")
        result.sections.append(section)
    if serving is not None:
        serving_env = environment_for(schema, SERVING) if schema.default_environment else None
        anomalies = tfdv.validate_statistics(serving, schema, environment=serving_env)
        section = Section("serving", serving_env, serving, anomalies)
        section.notes.append("the serving statistics, validated against the schema")
        result.sections.append(section)
    return result
