"""A step's headline: what it found or decided, in a few words, for the line that says the
step ended. Read from what any KFP step reports, whatever the component or the data: its
output parameters (a decision, a blessing, a version) and its artifacts' metadata (the values
of a Metrics artifact: rows per split, anomalies and drift, the model's metrics), by the names
those values have, never by a dataset's column or label."""

from __future__ import annotations

import re
from typing import Any

from mlops_runtime.charts import human

ROWS = re.compile(r"^rows_(?P<a>\w+)$|^(?P<b>\w+)_rows$")  # rows_train, train_rows
LABEL_MISSING = "label_missing_"
# The metrics a task is judged by, most telling first (Keras's and TFMA's names): AUC for a
# binary classifier, accuracy for a multi-class one, the error for a regression.
PREFERRED = (
    "auc",
    "sparse_categorical_accuracy",
    "accuracy",
    "root_mean_squared_error",
    "mean_squared_error",
    "mean_absolute_error",
    "binary_accuracy",
)
SHOWN_METRICS = 2
HELD_OUT = "eval_"  # metrics per split (train_auc, eval_auc): the held-out split's
BASELINE = "baseline_"  # a metric of the model compared against (evaluation)
# Values that count or time something: not the model's quality.
COUNT_SUFFIXES = ("_count", "examples", "_seconds", "_trials", "_run", "_rows", "_features")
COUNT_PREFIXES = ("rows_", "examples_", "label_", "anomalies", "passed")
PARAMETER_CHARS = 40  # a longer output parameter (a path, a JSON value) is not a headline


def number(value: Any) -> str:
    """4,096 for a count (KFP's metadata holds every number as a float), 0.948 for a rate."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return human(int(value) if float(value).is_integer() else value)


def _plural(count: float, word: str, words: str | None = None) -> str:
    return f"{number(count)} {word if count == 1 else words or word + 's'}"


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "1.0", "yes")


def _is_count(name: str) -> bool:
    return name.endswith(COUNT_SUFFIXES) or name.startswith(COUNT_PREFIXES)


def _numbers(metadata: dict[str, Any]) -> dict[str, float]:
    return {
        k: v for k, v in metadata.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _rows(values: dict[str, float]) -> list[str]:
    splits = []
    for name, value in values.items():
        match = ROWS.match(name)
        split = match and (match.group("a") or match.group("b"))
        if split and split != "total":
            splits.append((split, value))
    if not splits:
        return []
    order = {"train": 0, "eval": 1}  # the usual reading order; other splits after, by name
    splits.sort(key=lambda s: (order.get(s[0], 2), s[0]))
    parts = [" + ".join(f"{number(v)} {split}" for split, v in splits) + " rows"]
    missing = sum(v for k, v in values.items() if k.startswith(LABEL_MISSING))
    if missing:
        parts.append(f"{number(missing)} without a label")
    return parts


def _findings(values: dict[str, float]) -> list[str]:
    parts = []
    if "anomalies" in values:
        parts.append(_plural(values["anomalies"], "anomaly", "anomalies"))
    if "drifted_features" in values:
        parts.append(_plural(values["drifted_features"], "drifted feature"))
    if values.get("skewed_features"):
        parts.append(_plural(values["skewed_features"], "skewed feature"))
    return parts


def _quality(values: dict[str, float], fallback: bool) -> list[str]:
    held_out = {k[len(HELD_OUT) :]: v for k, v in values.items() if k.startswith(HELD_OUT)}
    if held_out:
        candidates, prefix, baseline = held_out, "eval ", {}
    else:
        candidates = {k: v for k, v in values.items() if not k.startswith(BASELINE)}
        baseline = {k[len(BASELINE) :]: v for k, v in values.items() if k.startswith(BASELINE)}
        prefix = ""
    names = [n for n in PREFERRED if n in candidates]
    if not names and fallback:
        names = sorted(n for n in candidates if not _is_count(n) and n != "loss")
    parts = []
    for name in names[:SHOWN_METRICS]:
        text = f"{name} {number(candidates[name])}"
        if name in baseline:
            text += f" (baseline {number(baseline[name])})"
        parts.append(text)
    if parts:
        parts[0] = prefix + parts[0]
    return parts


def _metrics(metadata: dict[str, Any]) -> list[str]:
    values = _numbers(metadata)
    counted = _rows(values) + _findings(values)
    return counted + _quality(values, fallback=not counted)


def _deployment(metadata: dict[str, Any], version: Any) -> str:
    version = metadata.get("version", version)
    reason = str(metadata.get("reason") or "")
    if _truthy(metadata.get("skipped")):
        reason = reason.removeprefix("skipped: ").removeprefix("skipped")
        return "nothing deployed" + (f": {reason}" if reason else "")
    if _truthy(metadata.get("unchanged")):
        return f"unchanged: the content of version {number(version)}"
    return f"deployed version {number(version)}" + (f" ({reason})" if reason else "")


def parts(record) -> list[str]:
    """The pieces of a record's headline, most telling first."""
    params = dict(record.output_parameters or {})
    found: list[str] = []
    if "blessed" in params:
        found.append("BLESSED" if _truthy(params.pop("blessed")) else "NOT BLESSED")
    if "decision" in params:
        found.append(f"decision: {params.pop('decision')}")
    deployment = next(
        (
            a.metadata
            for a in record.output_artifacts
            if "skipped" in (a.metadata or {}) or "unchanged" in (a.metadata or {})
        ),
        None,
    )
    if deployment is not None:
        found.append(_deployment(deployment, params.pop("version", "")))
    elif "version" in params:
        version = params.pop("version")
        found.append(f"version {number(version)}" if version not in ("", None) else "no version")
    for artifact in record.output_artifacts:
        if artifact.type.endswith("Metrics"):
            found += _metrics(artifact.metadata or {})
    for name, value in sorted(params.items()):
        text = number(value)
        if value not in ("", None) and len(text) <= PARAMETER_CHARS and "\n" not in text:
            found.append(f"{name} {text}")
    return found


def headline(record) -> str:
    return ", ".join(parts(record))
