"""The training report: one self-contained HTML page (no scripts, no external resources: the
KFP UI shows a system.HTML artifact in a sandboxed frame; the charts are inline SVG). The
task and label, the final metrics of train and eval side by side, each metric per epoch on
train and eval (loss first, then the task's), the hyperparameters and, after a search, its
trials."""

from __future__ import annotations

from html import escape
from typing import Any

from mlops_runtime.charts import human

STYLE = """
body { font-family: sans-serif; font-size: 14px; margin: 1em 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #e6f2e6; font-weight: bold; } .note { color: #555; }
"""
SPLITS = ("train", "eval")
RUN_FACTS = {
    "epochs_run": ("epochs", None),
    "training_seconds": ("training time", "s"),
    "tuning_trials": ("tuning trials", None),
}


def _td(value: Any, unit: str | None = None) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="num">{escape(human(value, unit))}</td>'
    return f"<td>{escape(human(value))}</td>"


def _table(headers: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def final_metrics(metrics: dict[str, float]) -> str:
    """One row per metric, its train and eval values side by side."""
    names: list[str] = []
    for key in metrics:
        split, _, name = key.partition("_")
        if split in SPLITS and name and name not in names:
            names.append(name)
    rows = [
        f"<tr><th>{escape(name.replace('_', ' '))}</th>"
        + "".join(_td(metrics.get(f"{split}_{name}")) for split in SPLITS)
        + "</tr>"
        for name in names
    ]
    return _table(["metric", *SPLITS], rows)


def per_epoch(history: dict) -> str:
    """A line chart per metric of the history: loss first, train and eval in each."""
    from mlops_runtime import charts

    train, eval_ = history.get("train") or {}, history.get("eval") or {}
    names = [n for n in ("loss",) if n in train or n in eval_]
    names += sorted(n for n in {*train, *eval_} if n not in names)
    if not names:
        return "<p>No per-epoch history was recorded.</p>"
    parts = []
    for name in names:
        series = {}
        if name in train:
            series["train"] = train[name]
        if name in eval_:
            series["eval"] = eval_[name]
        label = name.replace("_", " ")
        parts.append(charts.epochs(f"{label} per epoch", series, y_label=label))
    return "\n".join(parts)


def _hyperparameters(hp: dict) -> str:
    rows = [
        f"<tr><th>{escape(k.replace('_', ' '))}</th>{_td(v)}</tr>"
        for k, v in hp.items()
        if k != "tuning"
    ]
    return _table(["hyperparameter", "value"], rows)


def _trials(tuning: dict | None) -> str:
    if not tuning:
        return ""
    rows = []
    for t in tuning.get("trials") or []:
        values = t.get("hyperparameters") or {}
        best = t.get("trial_id") == tuning.get("best_trial_id")
        rows.append(
            f"<tr{' class=best' if best else ''}><td>{escape(str(t.get('trial_id')))}</td>"
            + _td(values.get("hidden_units"))
            + _td(values.get("learning_rate"))
            + _td(t.get("score"))
            + f"<td>{escape(str(t.get('status', '')))}</td></tr>"
        )
    objective = f"{tuning.get('objective')} ({tuning.get('direction')})"
    return (
        f"<h2>Search</h2><p class='note'>Keras Tuner's random search, objective "
        f"{escape(objective)}, epochs per trial: {human(tuning.get('epochs_per_trial'))}; the "
        "best trial's values trained the model (the training time includes the search).</p>"
        + _table(["trial", "hidden units", "learning rate", "score", "status"], rows)
    )


def render(result, model_name: str | None = None) -> str:
    """result: train.TrainResult."""
    found = result.labels
    metrics = result.metrics
    facts = [
        ("task", found.task),
        ("label", found.label_key),
        *([("model", model_name)] if model_name else []),
        *([("classes", ", ".join(found.classes))] if found.classes else []),
    ]
    facts += [(label, human(metrics[k], unit)) for k, (label, unit) in RUN_FACTS.items()
              if k in metrics]  # fmt: skip
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in facts)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Model training</title>
<style>{STYLE}</style></head><body>
<h1>Model training</h1>
<table>{rows}</table>
<h2>Final metrics</h2>
<p class="note">The trained model on each split, a fresh pass after the last epoch.</p>
{final_metrics(metrics)}
<h2>Per epoch</h2>
<p class="note">Keras' running values during each epoch on train; eval after each epoch.</p>
{per_epoch(result.history)}
<h2>Hyperparameters</h2>
{_hyperparameters(result.hyperparameters)}
{_trials(result.hyperparameters.get("tuning"))}
</body></html>
"""
