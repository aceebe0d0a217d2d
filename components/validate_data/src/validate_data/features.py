"""The report's view of each feature: its distribution in every dataset validated (the
splits, the drift reference, the serving statistics), taken from the TFDV statistics (the
standard histogram of a numeric feature, the top values of a categorical one), with its
anomalies and its drift and skew distances against their thresholds. Features with an
anomaly or a distance over its threshold come first, the farthest over first."""

from __future__ import annotations

from dataclasses import dataclass, field

from validate_data.validation import Measurement, Result

NUMERIC, CATEGORICAL = "numeric", "categorical"
REFERENCE = "drift reference"
TOP_VALUES = 10


@dataclass
class FeatureView:
    name: str
    kind: str | None = None  # NUMERIC | CATEGORICAL; None: in no statistics
    # {dataset: [(low, high, count)]} for numeric, {dataset: {value: share}} for categorical
    histograms: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)
    top_values: dict[str, dict[str, float]] = field(default_factory=dict)
    present: dict[str, tuple[float, int]] = field(default_factory=dict)  # share, examples
    anomalies: list[tuple[str, str, str]] = field(default_factory=list)  # section, short, long
    measurements: list[Measurement] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.anomalies) or any(m.exceeded for m in self.measurements)

    def worst(self) -> float:
        """The largest distance as a multiple of its threshold (0 when none measured)."""
        ratios = [m.value / m.threshold if m.threshold else m.value for m in self.measurements]
        return max(ratios, default=0.0)


def _name(f) -> str:
    return ".".join(f.path.step) or f.name


def _common(f):
    for kind in ("num_stats", "string_stats", "bytes_stats"):
        if f.HasField(kind):
            stats = getattr(f, kind)
            return stats.common_stats
    return None


def _standard_histogram(num_stats) -> list[tuple[float, float, float]]:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    standard = statistics_pb2.Histogram.HistogramType.STANDARD
    for h in num_stats.histograms:
        if h.type == standard:
            return [(b.low_value, b.high_value, b.sample_count) for b in h.buckets]
    return []


def _shares(string_stats, common) -> dict[str, float]:
    """The commonest values and their share of the feature's values."""
    total = (common.tot_num_values or common.num_non_missing) if common else 0
    if string_stats.top_values:
        pairs = [(v.value, v.frequency) for v in string_stats.top_values]
    else:
        pairs = [(b.label, b.sample_count) for b in string_stats.rank_histogram.buckets]
    if not total:
        total = sum(count for _, count in pairs) or 1.0
    return {value: count / total for value, count in pairs[:TOP_VALUES]}


def _datasets(result: Result) -> list[tuple[str, object]]:
    """(label, DatasetFeatureStatistics) of each dataset that has statistics, in the order
    the chart shows them: the splits, the drift reference, the serving statistics."""
    found = []
    for section in result.sections:
        if section.name != "serving" and section.statistics is not None:
            if section.statistics.datasets:
                found.append((section.name, section.statistics.datasets[0]))
    if result.reference is not None and result.reference.datasets:
        found.append((REFERENCE, result.reference.datasets[0]))
    for section in result.sections:
        if section.name == "serving" and section.statistics is not None:
            if section.statistics.datasets:
                found.append(("serving", section.statistics.datasets[0]))
    return found


def views(result: Result) -> list[FeatureView]:
    """Every feature of the statistics or the anomalies, flagged ones first."""
    by_name: dict[str, FeatureView] = {}

    def view(name: str) -> FeatureView:
        return by_name.setdefault(name, FeatureView(name))

    for label, dataset in _datasets(result):
        for f in dataset.features:
            v = view(_name(f))
            common = _common(f)
            if common is not None and dataset.num_examples:
                v.present[label] = (common.num_non_missing / dataset.num_examples,
                                    int(dataset.num_examples))  # fmt: skip
            if f.HasField("num_stats"):
                v.kind = v.kind or NUMERIC
                v.histograms[label] = _standard_histogram(f.num_stats)
            elif f.HasField("string_stats"):
                v.kind = v.kind or CATEGORICAL
                v.top_values[label] = _shares(f.string_stats, common)
    for section in result.sections:
        a = section.anomalies
        for name in sorted(a.anomaly_info):
            info = a.anomaly_info[name]
            for reason in list(info.reason) or [info]:
                view(name).anomalies.append(
                    (section.name, reason.short_description, reason.description)
                )
        for m in section.measurements:
            view(m.feature).measurements.append(m)
    return sorted(by_name.values(), key=lambda v: (not v.flagged, -v.worst(), v.name))
