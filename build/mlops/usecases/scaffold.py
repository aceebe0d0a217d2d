"""`make usecase NAME=x DATA=path LABEL=column [TASK=...]`: a new use case folder from a CSV
table, that `make run USECASE=x` runs as written, to a served model.

pipelines/usecases/<name>/
  settings.yaml   the overlay: data source and label, the task, metrics and thresholds
                  derived from the data (beat the majority class or the mean), serving port,
                  trigger folders
  schema.pbtxt    inferred with TFDV (validate_data.infer_schema): label absent at serving,
                  drift and skew comparators on every feature at the settings' thresholds
  transform.py    a starting TFT module: numeric features imputed and standardised, strings
                  through vocabularies, the label encoded for the task
  README.md       what was inferred, and what to curate next
Nothing is written when the table, the label or the task is wrong."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from string import Template

import yaml

from mlops.core.errors import BuildError
from mlops.core.paths import REPO
from mlops.core.settings import USECASES_DIR, load_raw, usecases
from mlops.usecases import profile as profiling

TEMPLATE = Path(__file__).parent / "templates" / "transform.py.tmpl"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")  # a folder, a Python package part, a model name
DEFAULT_NULL_MARKERS = ["", "NA", "N/A", "?", "null"]
FIRST_PORT = 8501
VOCAB_SIZE = 1000
OOV_BUCKETS = 1


def _label_body(task: str, kind: str, values: set[str]) -> tuple[str, str]:
    """(the _label function's body, a note for the docstring)."""
    tf_only = "    import tensorflow as tf\n\n"
    dense = tf_only + "    value, _ = _dense(x, tf.zeros([], x.dtype))\n"
    if task == "regression":
        return dense + "    return tf.cast(value, tf.float32)", "its value as a float"
    if task == "binary" and kind in ("int", "float") and {float(v) for v in values} == {0, 1}:
        return dense + "    return tf.cast(value, tf.int64)", "0 or 1 as it is"
    # Classes through a vocabulary named like the label: train_model takes the class names
    # from it; a value unseen in training maps to -1, which training refuses by name.
    if kind == "string":
        text = tf_only + "    value, _ = _dense(x, '')\n    text = tf.strings.strip(value)"
    elif kind == "int":
        text = dense + "    text = tf.strings.as_string(value)"
    else:
        text = dense + "    text = tf.strings.as_string(tf.cast(value, tf.int64))"
    text = text.replace(
        tf_only, "    import tensorflow as tf\n    import tensorflow_transform as tft\n\n"
    )
    body = (
        f"{text}\n    return tft.compute_and_apply_vocabulary(\n"
        "        text, num_oov_buckets=0, default_value=-1, vocab_filename=LABEL_KEY\n    )"
    )
    return body, "class ids through a vocabulary named like the label (class names kept)"


def _evaluation(task: str, prof: profiling.Profile) -> tuple[dict, dict]:
    """(model.evaluation, triggers.degradation) defaults for the task: thresholds a model must
    meet to be blessed are what a trivial model scores on this data (the majority class, the
    mean), so a blessed model has learnt something."""
    if task == "binary":
        evaluation = {
            "metrics": ["ExampleCount", "AUC", "BinaryAccuracy", "Precision", "Recall"],
            "thresholds": {"AUC": {"lower": 0.55}},
            "change_thresholds": {"AUC": {"direction": "higher", "absolute": -0.01}},
            "metric_options": {"AUC": {"num_thresholds": 1000}},
        }
        degradation = {
            "metric": "binary_accuracy",
            "threshold": round(profiling.majority_share(prof), 4),
        }
    elif task == "multiclass":
        share = round(profiling.majority_share(prof), 4)
        evaluation = {
            # AUC, Precision and Recall per class id and macro-averaged (TFMA's binarize and
            # aggregate), plus the confusion matrix evaluate_model always adds.
            "metrics": ["ExampleCount", "SparseCategoricalAccuracy", "AUC", "Precision", "Recall"],
            "thresholds": {"SparseCategoricalAccuracy": {"lower": share}},
            "change_thresholds": {
                "SparseCategoricalAccuracy": {"direction": "higher", "absolute": -0.01}
            },
        }
        degradation = {"metric": "accuracy", "threshold": share}
    else:
        variance, mad = profiling.label_spread(prof)
        evaluation = {
            "metrics": ["ExampleCount", "MeanSquaredError", "MeanAbsoluteError"],
            "thresholds": {"MeanSquaredError": {"upper": round(variance, 6)}},
            "change_thresholds": {"MeanSquaredError": {"direction": "lower", "relative": 0.05}},
        }
        degradation = {"metric": "mae", "threshold": round(mad, 6)}
    evaluation["slices"] = [[]]
    return evaluation, degradation


def _ports(root: Path) -> dict[str, int]:
    ports = {}
    for name in usecases(root):
        overlay = yaml.safe_load((root / USECASES_DIR / name / "settings.yaml").read_text()) or {}
        port = (overlay.get("serving") or {}).get("port")
        if isinstance(port, int):
            ports[name] = port
    return ports


def _port_for(root: Path, name: str) -> int:
    """A replaced use case keeps its port; a new one gets the next after every other's."""
    ports = _ports(root)
    return ports.get(name) or max(ports.values(), default=FIRST_PORT - 1) + 1


def _relative(root: Path, path: Path) -> str:
    path = path.resolve()
    try:
        return str(path.relative_to(root.resolve()))
    except ValueError:
        return str(path)


def scaffold(
    root: Path,
    name: str,
    data: Path,
    label: str,
    task: str | None = None,
    force: bool = False,
    say=print,
) -> Path:
    if not NAME.match(name):
        raise BuildError(f"NAME={name!r}: use lower-case letters, digits and '_', a letter first")
    folder = root / USECASES_DIR / name
    if folder.exists() and not force:
        raise BuildError(f"{folder}: already exists (FORCE=1 replaces it)")
    data = Path(data)
    if not data.is_absolute():
        data = (root / data) if (root / data).exists() else data.resolve()
    markers = tuple(DEFAULT_NULL_MARKERS)
    prof = profiling.read_profile(data, label, markers)
    inferred, why = profiling.infer_task(prof)
    if task is None:
        task = inferred
        say(f"[usecase] task: {task} (inferred: {why}; TASK= to choose another)")
    else:
        profiling.check_task(prof, task)
        say(f"[usecase] task: {task} (given; the data suggests {inferred}: {why})")
    column = prof.label_column
    say(
        f"[usecase] {prof.rows} rows; label {label!r} ({column.kind}, missing in "
        f"{column.missing} rows: those are not trained or evaluated on)"
    )
    shared = load_raw(root / "settings.yaml", usecase="")  # the shared defaults only
    validation = (shared.get("data") or {}).get("validation") or {}
    drift = validation.get("drift") or {}

    with tempfile.TemporaryDirectory(dir=root / USECASES_DIR.parent) as tmp:
        staging = Path(tmp) / name
        staging.mkdir()
        _write_schema(
            root, staging / "schema.pbtxt", data, label, task, column.kind, markers, drift
        )
        _write_transform(staging / "transform.py", name, _relative(root, data), label, task, prof)
        evaluation, degradation = _evaluation(task, prof)
        overlay = {
            "data": {
                "source": _relative(root, data),
                "label": label,
                "null_markers": list(markers),
                "schema": str(USECASES_DIR / name / "schema.pbtxt"),
            },
            "model": {
                "name": name,
                "task": task,
                "label_key": label,
                "transform_module": str(USECASES_DIR / name / "transform.py"),
                "evaluation": evaluation,
            },
            "serving": {"port": _port_for(root, name)},
            "triggers": {
                "new_data": {"prefix": f"data/incoming/{name}"},
                "degradation": {"labels": f"data/labels/{name}", **degradation},
            },
        }
        header = (
            f"# Use case {name}: {task} on {label!r} of {_relative(root, data)}, written by\n"
            "# `make usecase`. Merged over the project's settings.yaml; edit freely.\n"
        )
        (staging / "settings.yaml").write_text(header + yaml.safe_dump(overlay, sort_keys=False))
        _write_readme(staging / "README.md", name, prof, task, why, evaluation)
        if folder.exists():
            shutil.rmtree(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), folder)  # whole or not at all
    say(f"[usecase] wrote {_relative(root, folder)}/: `make run USECASE={name}` runs it")
    return folder


def _write_schema(root, out, data, label, task, label_kind, markers, drift) -> None:
    args = [
        sys.executable, "-m", "validate_data.infer_schema",
        "--data", str(data), "--out", str(out), "--label", label,
        "--null-markers", json.dumps(list(markers)),
        "--numeric-jsd", str(drift.get("numeric_jsd", 0.1)),
        "--categorical-linf", str(drift.get("categorical_linf", 0.1)),
    ]  # fmt: skip
    if task != "regression" and label_kind in ("int", "float"):
        args += ["--categorical", label]
    src = REPO / "components" / "validate_data" / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}:{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=root)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise BuildError(f"{data}: the schema could not be inferred:\n{tail}")


def _write_transform(out: Path, name: str, data: str, label: str, task: str, prof) -> None:
    body, note = _label_body(task, prof.label_column.kind, set(prof.label_column.values))
    doc = "\n".join(
        [
            textwrap.fill(
                f"The TensorFlow Transform preprocessing_fn of use case {name}, as `make usecase` "
                f"wrote it from {data}. Edit it: it is this use case's feature engineering, "
                "versioned with it.",
                width=92,
            ),
            "",
            "- numeric features: missing values imputed with the train split's mean, then "
            "z-scores;",
            '- string features: missing values as "", then ids through a vocabulary of the '
            "train split",
            f"  (top {VOCAB_SIZE} values, {OOV_BUCKETS} out-of-vocabulary bucket);",
            textwrap.fill(
                f"- the label `{label}` for a {task} task: {note}.",
                width=92,
                subsequent_indent="  ",
            ),
            "Transformed features are named after their raw column with `_xf` appended; the "
            "label keeps",
            "its name. The label is absent at serving: then it is left out.",
        ]
    )
    text = Template(TEMPLATE.read_text()).substitute(
        doc=doc,
        label_key=label,
        raw_label=label,
        task=task,
        numeric=repr(prof.features("numeric")),
        strings=repr(prof.features("string")),
        vocab_size=VOCAB_SIZE,
        oov_buckets=OOV_BUCKETS,
        label_body=body,
    )
    out.write_text(text)


def _write_readme(out: Path, name: str, prof, task: str, why: str, evaluation: dict) -> None:
    rows = "\n".join(
        f"| `{c.name}` | {c.kind} | {c.missing} |" + (" label |" if c.name == prof.label else " |")
        for c in prof.columns.values()
    )
    out.write_text(
        f"# Use case `{name}`\n\n"
        f"Written by `make usecase` from `{prof.path.name}` ({prof.rows} rows). Task: **{task}** "
        f"({why}).\n\n"
        "| column | kind | missing | |\n|---|---|---|---|\n"
        f"{rows}\n\n"
        "Blessing thresholds (what a trivial model scores on this data): "
        f"`{json.dumps(evaluation['thresholds'])}`.\n\n"
        "Next: curate `schema.pbtxt` (domains, categorical codes, bounds), adapt `transform.py`, "
        "add slices to `settings.yaml`, then `make run USECASE=" + name + "`.\n"
    )


def infer_schema(root: Path, force: bool = False, say=print) -> Path:
    """`make schema`: a first schema for the current use case, from its data.source, with its
    label and null markers (an existing schema is kept unless `force`)."""
    from mlops.core.model_settings import load_model_settings

    raw = load_raw(root / "settings.yaml")
    data_settings = raw.get("data") or {}
    source, schema, label = (data_settings.get(k) for k in ("source", "schema", "label"))
    if not (source and schema and label):
        raise BuildError(
            f"{root / 'settings.yaml'}: data.source, data.schema and data.label are needed"
        )
    out = root / schema
    if out.exists() and not force:
        raise BuildError(
            f"{out} exists: it is the curated schema, kept as it is. FORCE=1 replaces it with a "
            "newly inferred one, to curate again."
        )
    task = load_model_settings(root).task
    data = Path(source) if Path(source).is_absolute() else root / source
    markers = tuple(data_settings.get("null_markers") or [""])
    prof = profiling.read_profile(data, label, markers)
    drift = (data_settings.get("validation") or {}).get("drift") or {}
    if out.exists():
        out.unlink()
    _write_schema(root, out, data, label, task, prof.label_column.kind, markers, drift)
    say(f"[schema] wrote {_relative(root, out)}: curate it, then commit it")
    return out
