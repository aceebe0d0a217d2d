"""The readable report: one self-contained HTML page (no scripts, no external resources, as
the Kubeflow Pipelines UI shows a system.HTML artifact in a sandboxed frame). The verdict and
why, every threshold with its outcome, and per slice the metrics of the candidate beside the
baseline's and the difference."""

from __future__ import annotations

import math
from html import escape

from evaluate_model.blessing import FAIL, IGNORED, PASS, Blessing
from evaluate_model.config import EvalSettings
from evaluate_model.evaluate import Evaluation

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
"""


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if not math.isfinite(value):
        return "n/a"  # e.g. recall on a slice without positives
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4f}"


def _signed(value: float | None) -> str:
    if value is None:
        return "–"
    if not math.isfinite(value):
        return "n/a"
    return f"{value:+.4f}" if value != int(value) else f"{int(value):+d}"


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


def _slices(settings: EvalSettings, evaluation: Evaluation, with_baseline: bool) -> str:
    if not evaluation.slices:
        return "<p>TFMA wrote no metrics.</p>"
    names: list[str] = []
    wanted = [settings.metric_names[m] for m in settings.metrics]
    present = {k for s in evaluation.slices for k in s.candidate}
    names = [n for n in wanted if n in present] + sorted(present - set(wanted))
    # Which way is better, for colouring differences: from the change thresholds if any.
    higher = {
        settings.metric_names[t.metric]: t.direction == "higher" for t in settings.change_thresholds
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
    return _table([], rows, head)


def render(
    settings: EvalSettings,
    evaluation: Evaluation,
    blessing: Blessing,
    candidate_uri: str,
    data_location: str,
) -> str:
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
<tr><th>baseline</th><td>{baseline}</td></tr>
<tr><th>eval data</th><td>{escape(data_location)}</td></tr>
<tr><th>TFMA validation</th><td>{"passed" if evaluation.validation_ok else "failed"}</td></tr>
</table>
<h2>Thresholds</h2>
<p class="note">Thresholds apply to the overall slice. A value threshold bounds the candidate's
metric; a change threshold bounds the candidate's metric minus the baseline's.</p>
{_thresholds(blessing)}
<h2>Metrics per slice</h2>
{_slices(settings, evaluation, with_baseline)}
</body></html>
"""
