"""The readable report: one self-contained HTML page (no scripts, no external resources, as
the Kubeflow Pipelines UI shows a system.HTML artifact in a sandboxed frame; the charts are
inline SVG). The decision; then per feature, flagged ones first, its distribution in train and
eval beside the drift reference (and serving data) with its distances against their
thresholds and its anomalies; then per split the anomalies, distances and statistics."""

from __future__ import annotations

from html import escape

from mlops_runtime.charts import human

from validate_data.features import CATEGORICAL, NUMERIC, FeatureView, views
from validate_data.validation import CONTINUE, Result, Section

MEASURES = {
    "JENSEN_SHANNON_DIVERGENCE": "Jensen-Shannon divergence",
    "L_INFTY": "L-infinity distance",
    "NORMALIZED_ABSOLUTE_DIFFERENCE": "normalized absolute difference",
}

_STYLE = """
body { font-family: sans-serif; font-size: 14px; margin: 1em 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.2em; margin-top: 1.6em; } h3 { font-size: 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.decision { display: inline-block; padding: 4px 12px; border-radius: 4px; font-weight: bold; }
.continue { background: #d6f5d6; color: #135713; } .stop { background: #fbd3d3; color: #8a1111; }
tr.bad td { background: #fdecec; } .note { color: #555; }
section.feature { border-left: 4px solid #ddd; padding: 0 0 0 12px; margin: 1em 0 1.6em; }
section.feature.flagged { border-left-color: #c0392b; }
.badge { display: inline-block; font-size: 0.8em; padding: 1px 6px; border-radius: 3px;
  margin-left: 6px; background: #eee; color: #444; font-weight: normal; }
.badge.bad { background: #fbd3d3; color: #8a1111; }
p.over { color: #8a1111; font-weight: bold; } p.within { color: #135713; }
"""


def _table(headers: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _td(text, num: bool = False) -> str:
    return f'<td class="num">{escape(str(text))}</td>' if num else f"<td>{escape(str(text))}</td>"


def _anomalies(section: Section) -> str:
    a = section.anomalies
    rows = []
    if a.data_missing:
        rows.append([_td("(dataset)"), _td("Data missing"), _td("The statistics hold no data.")])
    if a.HasField("dataset_anomaly_info"):
        info = a.dataset_anomaly_info
        for reason in list(info.reason) or [info]:
            rows.append([_td("(dataset)"), _td(reason.short_description), _td(reason.description)])
    for name in sorted(a.anomaly_info):
        info = a.anomaly_info[name]
        reasons = list(info.reason) or [info]
        for reason in reasons:
            rows.append([_td(name), _td(reason.short_description), _td(reason.description)])
    if not rows:
        return "<p>No anomalies.</p>"
    return _table(["feature", "anomaly", "description"], rows)


def _measurements(section: Section) -> str:
    if not section.measurements:
        return ""
    ordered = sorted(section.measurements, key=lambda m: (m.kind, not m.exceeded, m.feature))
    rows = [
        [
            _td(m.feature),
            _td(m.kind),
            _td(m.measure),
            _td(human(m.value), True),
            _td(human(m.threshold), True),
            _td("over the threshold" if m.exceeded else "ok"),
        ]
        for m in ordered
    ]
    classes = ["bad" if m.exceeded else "" for m in ordered]
    title = "<h3>Drift and skew</h3>"
    return title + _table(
        ["feature", "comparison", "measure", "distance", "threshold", ""], rows, classes
    )


def _common(f):
    if f.HasField("num_stats"):
        return f.num_stats.common_stats
    if f.HasField("string_stats"):
        return f.string_stats.common_stats
    if f.HasField("bytes_stats"):
        return f.bytes_stats.common_stats
    return None


def _statistics(section: Section) -> str:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    stats = section.statistics
    if stats is None or not stats.datasets:
        return "<p>No statistics.</p>"
    dataset = stats.datasets[0]
    total = dataset.num_examples
    types = statistics_pb2.FeatureNameStatistics.Type
    rows = []
    for f in sorted(dataset.features, key=lambda f: ".".join(f.path.step) or f.name):
        name = ".".join(f.path.step) or f.name
        common = _common(f)
        present = human(common.num_non_missing / total, "%") if common and total else "-"
        if f.HasField("num_stats"):
            n = f.num_stats
            summary = (
                f"mean {human(n.mean)}, std {human(n.std_dev)}, min {human(n.min)}, "
                f"median {human(n.median)}, max {human(n.max)}, zeros {human(n.num_zeros)}"
            )
        elif f.HasField("string_stats"):
            s = f.string_stats
            top = ", ".join(f"{v.value} ({human(v.frequency)})" for v in list(s.top_values)[:3])
            summary = f"{human(s.unique)} unique; top: {top}"
        else:
            summary = ""
        rows.append([_td(name), _td(types.Name(f.type)), _td(present, True), _td(summary)])
    return f"<p>{human(total)} examples.</p>" + _table(
        ["feature", "type", "present", "summary"], rows
    )


def _measurement(m) -> str:
    measure = MEASURES.get(m.measure, m.measure)
    verdict = "over" if m.exceeded else "within"
    return (
        f"<p class='{verdict}'>{m.kind}: {escape(measure)} {human(m.value)}, {verdict} the "
        f"threshold {human(m.threshold)}</p>"
    )


def _chart(v: FeatureView) -> str:
    from mlops_runtime import charts

    datasets = ", ".join(v.histograms or v.top_values)
    title = f"{v.name}: {datasets}"
    if v.kind == NUMERIC:
        return charts.histograms(title, v.histograms, x_label=v.name)
    if v.kind == CATEGORICAL:
        return charts.top_values(title, v.top_values)
    return "<p class='note'>No statistics of this feature.</p>"


def _feature(v: FeatureView) -> str:
    badges = []
    if v.anomalies:
        badges.append("<span class='badge bad'>anomaly</span>")
    for kind in ("drift", "skew"):
        if any(m.kind == kind and m.exceeded for m in v.measurements):
            badges.append(f"<span class='badge bad'>{kind}</span>")
    kind = f"<span class='badge'>{v.kind or 'no statistics'}</span>"
    parts = [
        f"<section class='feature{' flagged' if v.flagged else ''}' "
        f"data-feature='{escape(v.name, quote=True)}'>",
        f"<h3>{escape(v.name)} {kind}{''.join(badges)}</h3>",
    ]
    parts += [_measurement(m) for m in sorted(v.measurements, key=lambda m: m.kind)]
    if v.anomalies:
        parts.append(
            "<ul>"
            + "".join(
                f"<li>{escape(section)}: <b>{escape(short)}</b> {escape(long)}</li>"
                for section, short, long in v.anomalies
            )
            + "</ul>"
        )
    parts.append(_chart(v))
    if v.present:
        parts.append(
            "<p class='note'>Present in "
            + "; ".join(
                f"{escape(label)} {human(share, '%')} of {human(examples)} examples"
                for label, (share, examples) in v.present.items()
            )
            + ".</p>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def _features(result: Result) -> str:
    found = views(result)
    if not found:
        return ""
    flagged = [v.name for v in found if v.flagged]
    compared = "the drift reference" if result.reference is not None else "no drift reference"
    intro = (
        f"<h2>Features</h2><p class='note'>Each feature's values in train and eval beside "
        f"{compared} (the data the serving model was trained on) and any serving data: a "
        "histogram of a numeric feature, the commonest values of a categorical one, each "
        "bar a share of that data's values. "
        + (
            f"First the {len(flagged)} with an anomaly or a distance over its threshold: "
            f"{escape(', '.join(flagged))}."
            if flagged
            else "No feature has an anomaly or a distance over its threshold."
        )
        + "</p>"
    )
    return intro + "\n".join(_feature(v) for v in found)


def render(result: Result, title: str = "Data validation") -> str:
    decision = result.decision
    t = result.thresholds
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>Decision: <span class='decision {decision}'>{decision}</span> &mdash; "
        f"{result.anomaly_count()} anomalies; drifted features: "
        f"{escape(', '.join(result.features_over('drift')) or 'none')}; skewed features: "
        f"{escape(', '.join(result.features_over('skew')) or 'none')}.</p>",
        "<p class='note'>"
        + (
            "The data may go on to the transformation."
            if decision == CONTINUE
            else "The pipeline stops before the transformation: fix the data or, when the "
            "change is expected, the use case's schema (pipelines/usecases/NAME/schema.pbtxt)."
        )
        + "</p>",
        f"<p class='note'>Thresholds: drift Jensen-Shannon divergence (numeric) "
        f"{human(t.drift_numeric_jsd)}, L-infinity distance (categorical) "
        f"{human(t.drift_categorical_linf)}; skew {human(t.skew_numeric_jsd)} and "
        f"{human(t.skew_categorical_linf)}.</p>",
    ]
    for note in result.notes:
        parts.append(f"<p class='note'>{escape(note)}</p>")
    parts.append(_features(result))
    for section in result.sections:
        heading = "Serving statistics" if section.name == "serving" else f"Split {section.name}"
        env = f" (environment {section.environment})" if section.environment else ""
        parts.append(
            f"<h2>{escape(heading)}{escape(env)}: {section.anomaly_count()} anomalies</h2>"
        )
        for note in section.notes:
            parts.append(f"<p class='note'>{escape(note)}</p>")
        parts.append("<h3>Anomalies</h3>" + _anomalies(section))
        parts.append(_measurements(section))
        parts.append("<h3>Statistics</h3>" + _statistics(section))
    parts.append("</body></html>\n")
    return "\n".join(parts)
