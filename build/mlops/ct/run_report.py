"""The end of a CT run: a text summary for the terminal and one HTML page beside the run's
artifacts, built from what the steps wrote (their metrics, validation summary, slice metrics,
blessing and deployment records) and embedding the steps' own reports (data validation and
model evaluation), so that statistics, anomalies and evaluation are on one page."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from mlops_runtime.charts import human

SUMMARY_METRICS = 6  # columns of the summary's slice table: the task's first metrics


def _artifact(record, name: str):
    if record is None:
        return None
    return next((a for a in record.output_artifacts if a.name == name), None)


def _json(record, artifact: str, filename: str) -> dict[str, Any] | None:
    found = _artifact(record, artifact)
    if found is None:
        return None
    path = Path(found.uri) / filename
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def facts(result) -> dict[str, Any]:
    """What the summary and the report show, read from the steps' outputs."""
    steps = {r.task: r for r in result.steps}
    extract, validate = steps.get("extract-data"), steps.get("validate-data")
    train, evaluate = steps.get("train-model"), steps.get("evaluate-model")
    deploy = steps.get("deploy-model")
    rows = (_artifact(extract, "metrics").metadata if _artifact(extract, "metrics") else {}) or {}
    validation = _json(validate, "anomalies", "summary.json")
    if validation is None and result.failed_task == "validate-data":
        found = sorted(Path(result.run_dir).glob("*/validate-data/anomalies/summary.json"))
        validation = json.loads(found[-1].read_text()) if found else None
    training = _artifact(train, "metrics")
    return {
        "rows": {k[len("rows_") :]: v for k, v in rows.items() if k.startswith("rows_")},
        "without_label": {
            k[len("label_missing_") :]: v for k, v in rows.items() if k.startswith("label_missing_")
        },
        "validation": validation,
        "validation_report": _report_path(validate, "report", result.run_dir, "validate-data"),
        "training": dict(training.metadata) if training else None,
        "training_report": _report_path(train, "report", result.run_dir, "train-model"),
        "slices": _json(evaluate, "evaluation", "slice_metrics.json"),
        "blessing": _json(evaluate, "blessing", "blessing.json"),
        "evaluation_report": _report_path(evaluate, "report", result.run_dir, "evaluate-model"),
        "deployment": _json(deploy, "deployment", "deployment.json"),
    }


def _report_path(record, name: str, run_dir: Path, task: str) -> Path | None:
    found = _artifact(record, name)
    if found is not None and Path(found.uri).is_file():
        return Path(found.uri)
    # A failed step records no outputs, but it may have written its report before failing.
    written = sorted(Path(run_dir).glob(f"*/{task}/{name}"))
    return written[-1] if written and written[-1].is_file() else None


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) >= 2:
        value = int(value)  # a count (KFP metadata turns every number into a float)
    return "-" if value is None else human(value)


def summary_metrics(slices: dict[str, Any] | None) -> list[str]:
    """The metrics the summary shows: the evaluation's own (so each task shows its metrics),
    the example count first, scalar values only (a confusion matrix is for the report)."""
    entries = (slices or {}).get("slices") or []
    if not entries:
        return []
    candidate = entries[0].get("candidate") or {}
    names = [k for k, v in candidate.items() if isinstance(v, int | float)]

    def rank(name: str) -> int:
        # The count, then whole-output metrics, then averages, then per-class variants.
        if name == "example_count":
            return 0
        return 1 if "/" not in name else 2 if "average" in name else 3

    names.sort(key=rank)  # stable: the evaluation's own order within each rank
    return names[:SUMMARY_METRICS]


SUMMARY_SLICES = 3  # the console shows the overall slice and this many of the weakest


def _weakest(entries: list[dict], metric: str, higher_is_better: bool) -> list[dict]:
    """The slices whose value of `metric` is worst (the report lists them all)."""
    valued = [e for e in entries if isinstance((e.get("candidate") or {}).get(metric), float | int)]
    valued.sort(key=lambda e: e["candidate"][metric], reverse=not higher_is_better)
    return valued[:SUMMARY_SLICES]


def _slice_lines(slices: dict[str, Any] | None) -> list[str]:
    metrics = summary_metrics(slices)
    if not metrics:
        return []
    baseline = slices.get("baseline")
    entries = slices.get("slices") or []
    overall = [e for e in entries if e.get("slice") == "Overall"]
    others = [e for e in entries if e.get("slice") != "Overall"]
    headline = next((m for m in metrics if m != "example_count"), metrics[0])
    lower = any(k in headline for k in ("error", "loss", "calibration"))
    shown = overall + _weakest(others, headline, higher_is_better=not lower)
    lines = [
        "  metrics per slice (candidate"
        + (f" vs serving version {baseline['version']})" if baseline else ")")
        + ": " + ", ".join(metrics)
    ]  # fmt: skip
    for entry in shown:
        candidate = entry.get("candidate") or {}
        values = []
        for metric in metrics:
            value = candidate.get(metric)
            if metric == "example_count" and isinstance(value, float) and value.is_integer():
                value = int(value)  # a slice of 1 example is a count, not a rate
            text = _fmt(value)
            diff = (entry.get("diff") or {}).get(metric)
            if baseline and diff is not None and metric != "example_count":
                text += f" ({human(diff, signed=True) if diff else '±0'})"
            values.append(f"{text:<14}")
        lines.append(f"    {entry.get('slice', '?'):<32} " + " ".join(values).rstrip())
    hidden = len(entries) - len(shown)
    if hidden > 0:
        lines.append(f"    ... {hidden} more slices in the report (weakest by {headline} shown)")
    return lines


def summary_text(result) -> str:
    f = facts(result)
    lines = [f"[run] ===== continuous training: {result.status} in {result.seconds:.0f}s ====="]
    for r in result.steps:
        # Where the step's whole output is: under this run, or the reused execution's.
        log = ""
        if r.log_path:
            path = Path(r.log_path)
            inside = path.is_relative_to(result.run_dir)
            log = f"  {path.relative_to(result.run_dir) if inside else path}"
        if r.cached:
            lines.append(f"  {r.task:<16} CACHED   (execution {r.cached_from}){log}")
            continue
        took = f"{r.seconds:.1f}s" if r.seconds is not None else "-"
        rss = f"{r.peak_rss_bytes / 2**20:.0f} MB" if r.peak_rss_bytes else "-"
        lines.append(f"  {r.task:<16} {r.status:<8} {took:>7}  peak RSS {rss:>7}{log}")
    if f["rows"]:
        lines.append(
            "  rows per split: " + ", ".join(f"{k} {_fmt(v)}" for k, v in f["rows"].items())
        )
    if f["without_label"]:
        lines.append(
            "  rows without a label (not trained or evaluated on): "
            + ", ".join(f"{k} {_fmt(v)}" for k, v in f["without_label"].items())
        )
    validation = f["validation"]
    if validation is not None:
        anomalies = validation.get("anomalies") or []
        listed = "; ".join(f"{a.get('feature')}: {a.get('anomaly')}" for a in anomalies[:5])
        lines.append(
            f"  data validation: {validation.get('decision')}, {len(anomalies)} anomalies"
            + (f" ({listed})" if listed else "")
            + f", drift reference {result.previous_statistics}"
        )
    lines += _slice_lines(f["slices"])
    blessing = f["blessing"]
    if blessing is not None:
        verdict = "BLESSED" if blessing.get("blessed") else "NOT BLESSED"
        reasons = "; ".join(blessing.get("reasons") or [])
        against = blessing.get("baseline_version")
        lines.append(
            f"  blessing: {verdict}"
            + (f" against serving version {against}" if against else " (no baseline)")
            + (f": {reasons}" if reasons else "")
        )
    deployment = f["deployment"]
    if deployment is not None:
        if deployment.get("skipped"):
            lines.append(f"  deployment: skipped ({deployment.get('skipped')})")
        elif deployment.get("unchanged"):
            lines.append(
                f"  deployment: unchanged, the same content as version "
                f"{deployment.get('version')} ({deployment.get('role')}); nothing pushed"
            )
        else:
            lines.append(
                f"  deployment: version {deployment.get('version')}; stable "
                f"{deployment.get('stable')}, canary {json.dumps(deployment.get('canary'))}"
            )
    if result.service.get("url"):
        lines.append(f"  served at {result.service['url']} ({result.service['action']})")
    if result.failed_task:
        lines.append(f"  STOPPED at {result.failed_task}: {result.reason}")
    if result.lineage_run:
        lines.append(f"  lineage run {result.lineage_run} (python -m mlops lineage run latest)")
    if any(r.log_path for r in result.steps):
        lines.append(f"  step logs (a file per step): {Path(result.run_dir) / 'logs'}/")
    lines.append(f"  report: {result.report}")
    return "\n".join(lines)


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left}th{background:#f3f3f3}.ok{color:#060}.bad{color:#b00;font-weight:bold}
iframe{width:100%;height:600px;border:1px solid #ccc}code{background:#f6f6f6}
"""
# A step's status as the timeline colours it (mlops_runtime.charts.STATE_COLOURS).
_STATES = {"SUCCESS": "ok", "FAILURE": "failed", "ERROR": "failed"}


def _text(value: Any) -> str:
    """A value for people: numbers through human(), a mapping as "key value" pairs (never
    a JSON blob), nothing as a dash."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        return "; ".join(f"{k} {_text(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value) or "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return human(value)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_text(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _embed(title: str, path: Path | None) -> str:
    if path is None:
        return f"<h2>{html.escape(title)}</h2><p>Not produced in this run.</p>"
    doc = html.escape(path.read_text(), quote=True)
    return (
        f"<h2>{html.escape(title)}</h2><p>From <code>{html.escape(str(path))}</code></p>"
        f'<iframe srcdoc="{doc}"></iframe>'
    )


def _timeline(steps) -> str:
    """The steps over the run's time: when each started and how long it took."""
    from mlops_runtime import charts

    timed = [r for r in steps if r.started_at]
    if not timed:
        return ""
    start = min(r.started_at for r in timed)
    spans = []
    for r in sorted(timed, key=lambda r: r.started_at):
        end = r.ended_at if r.ended_at is not None else r.started_at
        state = "cached" if r.cached else _STATES.get(r.status, "other")
        spans.append(charts.Span(r.task, r.started_at - start, end - start, state))
    return charts.timeline("Steps over time", spans)


def _steps(steps) -> str:
    rows = [
        [
            r.task,
            "CACHED" if r.cached else r.status,
            human(r.seconds, "s") if r.seconds is not None else None,
            human(r.peak_rss_bytes, "B") if r.peak_rss_bytes else None,
            r.image_digest or r.image_ref,
            "; ".join(r.cache_note) or None,
        ]
        for r in steps
    ]
    return _timeline(steps) + _table(
        ["step", "status", "time", "peak memory (RSS)", "image", "cache"], rows
    )


def _training(metrics: dict[str, Any]) -> str:
    """The training metrics, train and eval side by side, then the run's own numbers."""
    names: list[str] = []
    other: list[str] = []
    for key in metrics:
        split, _, name = key.partition("_")
        if split not in ("train", "eval") or not name:
            other.append(key)
        elif name not in names:
            names.append(name)
    rows = [
        [n.replace("_", " "), metrics.get(f"train_{n}"), metrics.get(f"eval_{n}")] for n in names
    ]
    units = {"training_seconds": "s"}
    facts = [[k.replace("_", " "), human(metrics[k], units.get(k))] for k in other]
    return _table(["metric", "train", "eval"], rows) + (_table(["", ""], facts) if facts else "")


def render(result) -> str:
    f = facts(result)
    status_class = "ok" if result.status == "SUCCEEDED" else "bad"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>CT run {html.escape(str(result.lineage_run))}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Continuous training run</h1>",
        f"<p class='{status_class}'>{result.status} in {human(result.seconds, 's')}"
        + (
            f": stopped at {html.escape(result.failed_task or '?')}: "
            f"{html.escape(result.reason or '')}"
            if result.failed_task
            else ""
        )
        + "</p>",
        _table(
            ["", ""],
            [
                ["data", result.arguments.get("source")],
                ["drift reference", result.previous_statistics],
                ["lineage run", result.lineage_run],
                ["served at", result.service.get("url")],
            ],
        ),
        "<h2>Steps</h2>",
        _steps(result.steps),
    ]
    if f["rows"]:
        parts += [
            "<h2>Data</h2>",
            _table(
                ["split", "rows", "rows without a label (dropped)"],
                [[k, v, f["without_label"].get(k, "-")] for k, v in f["rows"].items()],
            ),
        ]
    if f["training"]:
        parts += ["<h2>Training</h2>", _training(f["training"])]
    blessing = f["blessing"]
    if blessing is not None:
        verdict = "BLESSED" if blessing.get("blessed") else "NOT BLESSED"
        parts.append(
            f"<h2>Blessing: <span class='{'ok' if blessing.get('blessed') else 'bad'}'>"
            f"{verdict}</span></h2><ul>"
            + "".join(f"<li>{html.escape(r)}</li>" for r in blessing.get("reasons") or [])
            + "</ul>"
        )
    deployment = f["deployment"]
    if deployment is not None:
        parts += [
            "<h2>Deployment</h2>",
            _table(["", ""], [[k.replace("_", " "), v] for k, v in sorted(deployment.items())]),
        ]
    parts.append(_embed("Data validation (statistics, anomalies, drift)", f["validation_report"]))
    parts.append(_embed("Model training (metrics per epoch)", f["training_report"]))
    parts.append(_embed("Model evaluation (per slice, thresholds)", f["evaluation_report"]))
    parts.append("</body></html>")
    return "\n".join(parts)


def write(result, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result))
    return path
