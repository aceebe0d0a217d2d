"""The readable report: one self-contained HTML page (no scripts, no external resources, as
the Kubeflow Pipelines UI shows a system.HTML artifact in a sandboxed frame; the charts are
inline SVG). The verdict and why, every threshold with its outcome, and per slice the metrics
of the candidate beside the baseline's, as charts with the thresholds drawn and in numbers;
then what the model's task adds: for a classifier the confusion matrix of the overall slice
(class names from the model's sidecar; a binary model's at the decision threshold) and its
ROC and precision-recall curves (a multiclass model's per class, with the per-class metrics),
for a regression model the mean prediction against the mean label, and predicted against
actual with the residuals on a sample of eval examples."""

from __future__ import annotations

import math
from html import escape

from mlops_runtime.charts import human

from evaluate_model.blessing import FAIL, IGNORED, PASS, Blessing
from evaluate_model.config import EvalSettings
from evaluate_model.evaluate import Evaluation, SliceResult, predicted_name
from evaluate_model.metric_keys import CLASS_ID, K, key_name
from evaluate_model.plan import MetricPlan
from evaluate_model.sample import Sample
from evaluate_model.task import BINARY, MULTICLASS, REGRESSION
from evaluate_model.tfma_config import BASELINE, CANDIDATE

_STYLE = """
body { font-family: sans-serif; font-size: 14px; margin: 1em 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { display: inline-block; padding: 4px 12px; border-radius: 4px; font-weight: bold; }
.blessed { background: #d6f5d6; color: #135713; }
.not-blessed { background: #fbd3d3; color: #8a1111; }
tr.fail td { background: #fdecec; } tr.ignored td { color: #777; }
td.worse { color: #8a1111; } td.better { color: #135713; } .note { color: #555; }
td.diagonal { background: #e6f2e6; font-weight: bold; }
"""


def _fmt(value: float | None) -> str:
    return human(value)  # NaN, e.g. recall on a slice without positives: "n/a"


def _signed(value: float | None) -> str:
    return human(value, signed=True)


def _td(text, cls: str = "") -> str:
    return f'<td class="{cls}">{escape(str(text))}</td>' if cls else f"<td>{escape(str(text))}</td>"


def _table(headers: list[str], rows: list[str], head_rows: str = "") -> str:
    head = head_rows or "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _thresholds(blessing: Blessing) -> str:
    if not blessing.checks:
        return "<p>No thresholds are configured.</p>"
    rows = []
    for c in blessing.checks:
        result = {PASS: "pass", FAIL: "FAIL", IGNORED: "ignored"}[c.status]
        rows.append(
            f'<tr class="{c.status}">'
            + _td(c.metric)
            + _td(c.kind)
            + _td(c.rule)
            + _td(c.slice)
            + _td(_fmt(c.candidate), "num")
            + _td(_fmt(c.baseline), "num")
            + _td(_signed(c.diff), "num")
            + _td(result)
            + _td(c.note)
            + "</tr>"
        )
    return _table(
        ["metric", "kind", "rule", "slice", "candidate", "baseline", "change", "result", "note"],
        rows,
    )


def _per_class_key(key: str) -> bool:
    suffix = key.partition("/")[2]
    return suffix.startswith(f"{CLASS_ID}=") or suffix.startswith(f"{K}=")


def _slice_metric_names(
    settings: EvalSettings, evaluation: Evaluation, plan: MetricPlan | None
) -> list[str]:
    if plan is not None:
        wanted = plan.keys()
    else:
        wanted = [settings.metric_names[m] for m in settings.metrics]
    present = {k for s in evaluation.slices for k in s.candidate}
    names = [n for n in wanted if n in present] + sorted(present - set(wanted))
    # Per-class values have their own table: one column per class and metric is unreadable.
    return [n for n in names if not _per_class_key(n)]


def _threshold_lines(
    settings: EvalSettings, key: str, overall: SliceResult, with_baseline: bool
) -> list[tuple[str, float]]:
    """The bounds the thresholds put on metric `key` of the overall slice, as values: a
    change threshold's is the baseline's value moved by it."""
    lines = []
    for t in settings.thresholds:
        if settings.key_of(t.metric) == key:
            if t.lower is not None:
                lines.append(("lower bound", t.lower))
            if t.upper is not None:
                lines.append(("upper bound", t.upper))
    base = (overall.baseline or {}).get(key)
    if with_baseline and base is not None and math.isfinite(base):
        for t in settings.change_thresholds:
            if settings.key_of(t.metric) == key:
                if t.absolute is not None:
                    moved = f" {human(t.absolute, signed=True)}" if t.absolute else ""
                    lines.append((f"baseline{moved}", base + t.absolute))
                if t.relative is not None:
                    moved = human(t.relative, "%", signed=True)
                    lines.append((f"baseline {moved}", base * (1 + t.relative)))
    return lines


def _slice_charts(
    settings: EvalSettings, evaluation: Evaluation, with_baseline: bool, names: list[str]
) -> str:
    """A chart per metric: each slice's candidate beside its baseline, the overall slice's
    thresholds drawn."""
    from mlops_runtime import charts

    slices = evaluation.slices
    overall = evaluation.overall()
    parts = []
    for n in names:
        if n == "example_count":
            continue
        series = {"candidate": [s.candidate.get(n) for s in slices]}
        if with_baseline:
            series["baseline"] = [(s.baseline or {}).get(n) for s in slices]
        lines = _threshold_lines(settings, n, overall, with_baseline)
        parts.append(
            charts.slice_bars(f"{n} per slice", [s.name for s in slices], series, lines, x_label=n)
        )
    return "\n".join(parts)


def _slices(
    settings: EvalSettings, evaluation: Evaluation, with_baseline: bool, plan: MetricPlan | None
) -> str:
    if not evaluation.slices:
        return "<p>TFMA wrote no metrics.</p>"
    names = _slice_metric_names(settings, evaluation, plan)
    # Which way is better, for colouring differences: from the change thresholds if any.
    higher = {
        settings.key_of(t.metric): t.direction == "higher" for t in settings.change_thresholds
    }
    if with_baseline:
        head = (
            '<tr><th rowspan="2">slice</th>'
            + "".join(f'<th colspan="3">{escape(n)}</th>' for n in names)
            + "</tr><tr>"
            + "".join("<th>candidate</th><th>baseline</th><th>change</th>" for _ in names)
            + "</tr>"
        )
    else:
        head = "<tr><th>slice</th>" + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr>"
    rows = []
    for s in evaluation.slices:
        cells = [_td(s.name)]
        for n in names:
            cells.append(_td(_fmt(s.candidate.get(n)), "num"))
            if with_baseline:
                diff = (s.diff or {}).get(n)
                cls = "num"
                if diff and n in higher:
                    cls += " better" if (diff > 0) == higher[n] else " worse"
                cells.append(_td(_fmt((s.baseline or {}).get(n)), "num"))
                cells.append(_td(_signed(diff), cls))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<p class="note">Thresholds apply to the overall slice; they are drawn across every '
        "slice for comparison.</p>\n"
        + _slice_charts(settings, evaluation, with_baseline, names)
        + "\n<h3>In numbers</h3>\n"
        + _table([], rows, head)
    )


def _cells(s: SliceResult, key: str, with_baseline: bool) -> list[str]:
    cells = [_td(_fmt(s.candidate.get(key)), "num")]
    if with_baseline:
        cells.append(_td(_fmt((s.baseline or {}).get(key)), "num"))
        cells.append(_td(_signed((s.diff or {}).get(key)), "num"))
    return cells


def _grouped_head(first: list[str], names: list[str], with_baseline: bool) -> str:
    lead = "".join(
        f'<th rowspan="2">{escape(h)}</th>' if with_baseline else f"<th>{escape(h)}</th>"
        for h in first
    )
    if not with_baseline:
        return "<tr>" + lead + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr>"
    return (
        "<tr>"
        + lead
        + "".join(f'<th colspan="3">{escape(n)}</th>' for n in names)
        + "</tr><tr>"
        + "".join("<th>candidate</th><th>baseline</th><th>change</th>" for _ in names)
        + "</tr>"
    )


def _per_class(plan: MetricPlan, evaluation: Evaluation, with_baseline: bool) -> str:
    """Overall slice: one row per binarized class, then one per average."""
    overall = evaluation.overall()
    per_class = plan.variants(CLASS_ID)
    averages = plan.variants("aggregate")
    names: list[str] = []
    for variant, metrics in per_class + averages:
        # Only metrics with values (a metric undefined everywhere is no column).
        names += [
            n for n in metrics if n not in names and key_name(n, variant) in overall.candidate
        ]
    if not names:
        return "<p>No per-class metrics were computed (eval_config.binarize and aggregate).</p>"
    rows = []
    for variant, _ in per_class:
        cells = [_td(variant.value), _td(plan.task.class_name(variant.value))]
        for n in names:
            cells += _cells(overall, key_name(n, variant), with_baseline)
        rows.append("<tr>" + "".join(cells) + "</tr>")
    for variant, _ in averages:
        cells = [_td(""), _td(variant.kind.replace("_", " "))]
        for n in names:
            cells += _cells(overall, key_name(n, variant), with_baseline)
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = _grouped_head(["class id", "class"], names, with_baseline)
    return (
        '<p class="note">Each class against the rest (its predicted probability as a binary '
        "score), on the overall slice; an average is over the classes. The keys are "
        "<code>metric/class_id=i</code> and <code>metric/macro_average</code> in "
        "slice_metrics.json and in thresholds.</p>" + _table([], rows, head)
    )


def _confusion(plan: MetricPlan, evaluation: Evaluation) -> str:
    matrix = evaluation.overall().confusion_matrix
    if matrix is None:
        return "<p>TFMA wrote no confusion matrix.</p>"
    name = plan.task.class_name
    head = (
        "<tr><th>actual \\ predicted</th>"
        + "".join(f"<th>{escape(predicted_name(p, name))}</th>" for p in matrix.predicted)
        + "<th>total</th></tr>"
    )
    rows = []
    for a, counts in zip(matrix.actual, matrix.counts, strict=True):
        cells = [f"<th>{escape(name(a))}</th>"]
        for p, count in zip(matrix.predicted, counts, strict=True):
            cells.append(_td(_fmt(count), "num diagonal" if a == p else "num"))
        cells.append(_td(_fmt(sum(counts)), "num"))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<p class="note">Overall slice, the candidate: rows are the actual class, columns the '
        "class with the highest predicted probability; per slice in slice_metrics.json.</p>"
        + _table([], rows, head)
    )


def _confusion_chart(plan: MetricPlan, evaluation: Evaluation) -> str:
    from mlops_runtime import charts

    matrix = evaluation.overall().confusion_matrix
    if matrix is None:
        return ""
    name = plan.task.class_name
    where = (
        f"predicted: probability above {human(matrix.threshold)}"
        if plan.task.task == BINARY
        else "predicted: highest probability"
    )
    return charts.confusion_matrix(
        f"Confusion matrix, overall slice ({where})",
        [name(a) for a in matrix.actual],
        [predicted_name(p, name) for p in matrix.predicted],
        matrix.counts,
    )


def _by_id(item) -> tuple[bool, int]:
    class_id = item[0]
    return (class_id is None, class_id or 0)


def _curves(plan: MetricPlan, evaluation: Evaluation) -> str:
    """ROC and precision-recall curves of the overall slice: a binary model's score, the
    baseline's beside it; a multiclass model's each class against the rest."""
    from mlops_runtime import charts

    overall = evaluation.overall()
    roc, pr = {}, {}
    if plan.task.task == BINARY:
        for model, values in ((CANDIDATE, overall.candidate), (BASELINE, overall.baseline)):
            curve = overall.curves.get(model, {}).get(None)
            if curve is None:
                continue
            auc = (values or {}).get("auc")
            label = model + (f" (AUC {human(auc)})" if auc is not None else "")
            roc[label], pr[label] = curve.roc(), curve.precision_recall()
    else:
        for class_id, curve in sorted(overall.curves.get(CANDIDATE, {}).items(), key=_by_id):
            if class_id is None:
                continue
            label = plan.task.class_name(class_id)
            auc = overall.candidate.get(f"auc/{CLASS_ID}={class_id}")
            label += f" (AUC {human(auc)})" if auc is not None else ""
            roc[label], pr[label] = curve.roc(), curve.precision_recall()
    if not roc:
        return "<p>TFMA wrote no curves.</p>"
    whose = (
        "the candidate, each class against the rest"
        if plan.task.task == MULTICLASS
        else ("the candidate" + (" and the baseline" if len(roc) > 1 else ""))
    )
    return (
        f'<p class="note">Overall slice, {whose}: TFMA\'s confusion counts at thresholds '
        "0, 0.01, ..., 1 of the predicted probability.</p>\n"
        + charts.roc_curves("ROC curve, overall slice", roc)
        + "\n"
        + charts.precision_recall_curves("Precision-recall curve, overall slice", pr)
    )


def _sample_charts(sample: Sample | None) -> str:
    from mlops_runtime import charts

    if sample is None or not sample.actual:
        return "<p>No eval examples were scored.</p>"
    n = human(len(sample.actual))
    return (
        f'<p class="note">The candidate on the first {n} eval examples, scored with its '
        "serving signature (TFMA keeps no per-example values).</p>\n"
        + charts.predicted_vs_actual(
            f"Predicted against actual, {n} eval examples", sample.actual, sample.predicted
        )
        + "\n"
        + charts.residuals(f"Residuals, {n} eval examples", sample.residuals)
    )


def _regression(evaluation: Evaluation, with_baseline: bool) -> str:
    present = {k for s in evaluation.slices for k in s.candidate}
    if not {"mean_label", "mean_prediction"} <= present:
        return "<p>MeanLabel and MeanPrediction were not computed.</p>"
    keys = [k for k in ("mean_label", "mean_prediction", "calibration") if k in present]
    rows = []
    for s in evaluation.slices:
        cells = [_td(s.name)]
        for k in keys:
            cells += _cells(s, k, with_baseline)
        label, prediction = s.candidate.get("mean_label"), s.candidate.get("mean_prediction")
        bias = prediction - label if label is not None and prediction is not None else None
        cells.append(_td(_signed(bias), "num"))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = _grouped_head(["slice"], keys, with_baseline)
    # The bias column has no baseline sub-columns: it spans both header rows.
    span = ' rowspan="2"' if with_baseline else ""
    head = head.replace("</tr>", f"<th{span}>prediction - label (candidate)</th></tr>", 1)
    return (
        '<p class="note">An unbiased model predicts the label on average: mean prediction '
        "close to mean label, calibration (their ratio) close to 1.</p>" + _table([], rows, head)
    )


def _task_sections(
    plan: MetricPlan | None,
    evaluation: Evaluation,
    with_baseline: bool,
    sample: Sample | None = None,
) -> str:
    if plan is None or not evaluation.slices:
        return ""
    if plan.task.task == MULTICLASS:
        classes = ", ".join(plan.task.classes or ())
        return (
            f"<h2>Per class</h2>\n<p>{plan.task.num_classes} classes: {escape(classes)}</p>\n"
            + _per_class(plan, evaluation, with_baseline)
            + "\n<h2>Confusion matrix</h2>\n"
            + _confusion_chart(plan, evaluation)
            + _confusion(plan, evaluation)
            + "\n<h2>ROC and precision-recall curves</h2>\n"
            + _curves(plan, evaluation)
        )
    if plan.task.task == REGRESSION:
        return (
            "<h2>Mean prediction against mean label</h2>\n"
            + _regression(evaluation, with_baseline)
            + "\n<h2>Predicted against actual</h2>\n"
            + _sample_charts(sample)
        )
    return (
        "<h2>Confusion matrix</h2>\n"
        + (_confusion_chart(plan, evaluation) or "<p>TFMA wrote no confusion matrix.</p>")
        + "\n<h2>ROC and precision-recall curves</h2>\n"
        + _curves(plan, evaluation)
    )


def render(
    settings: EvalSettings,
    evaluation: Evaluation,
    blessing: Blessing,
    candidate_uri: str,
    data_location: str,
    plan: MetricPlan | None = None,
    sample: Sample | None = None,
) -> str:
    """plan: what was computed for the model's task (None: the metrics of settings);
    sample: a regression model's predictions on eval examples."""
    verdict = "BLESSED" if blessing.blessed else "NOT BLESSED"
    cls = "blessed" if blessing.blessed else "not-blessed"
    reasons = "".join(f"<li>{escape(r)}</li>" for r in blessing.reasons)
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in blessing.notes)
    if blessing.baseline:
        b = blessing.baseline
        version = f"version {b.version}" if b.version is not None else "no version number"
        baseline = f"{escape(version)} ({escape(b.source)})"
    else:
        baseline = "none (first model: change thresholds are ignored)"
    with_baseline = blessing.baseline is not None
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Model evaluation: {verdict}</title>
<style>{_STYLE}</style></head><body>
<h1>Model evaluation</h1>
<p><span class="verdict {cls}">{verdict}</span></p>
<ul>{reasons}</ul>
{notes}
<table>
<tr><th>candidate</th><td>{escape(candidate_uri)}</td></tr>
<tr><th>task</th><td>{escape(plan.task.task if plan else "binary")}</td></tr>
<tr><th>baseline</th><td>{baseline}</td></tr>
<tr><th>eval data</th><td>{escape(data_location)}</td></tr>
<tr><th>TFMA validation</th><td>{"passed" if evaluation.validation_ok else "failed"}</td></tr>
</table>
<h2>Thresholds</h2>
<p class="note">Thresholds apply to the overall slice. A value threshold bounds the candidate's
metric; a change threshold bounds the candidate's metric minus the baseline's.</p>
{_thresholds(blessing)}
<h2>Metrics per slice</h2>
{_slices(settings, evaluation, with_baseline, plan)}
{_task_sections(plan, evaluation, with_baseline, sample)}
</body></html>
"""
