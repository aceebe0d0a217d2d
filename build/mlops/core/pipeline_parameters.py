"""A pipeline's run parameters from settings.yaml for one environment: one source of truth.

Every value the shared components take is derived from the settings sections that own it
(`data`, `model`, `serving`); a pipeline receives the ones it declares as inputs, and
`pipelines.<module>.parameters` overrides any of them for that pipeline. So the CT pipeline,
the validate-only pipeline and a new pipeline an ML engineer composes all read the same
settings, locally (`make run`) and on a cluster (`make deploy`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlops.core import parameter_check, settings
from mlops.core.errors import BuildError
from mlops.core.parameter_check import RunParameters
from mlops.core.settings import load_raw


def _local_path(root: Path, value: str) -> str:
    """A settings path: gs:// and bq:// as they are, a relative path under the repository."""
    if "://" in value:
        return value
    return str((root / value).resolve())


def _read_text(root: Path, where: str, value: str | None) -> str:
    if not value:
        raise BuildError(f"{root / 'settings.yaml'}: {where} is missing")
    path = root / value
    if not path.is_file():
        raise BuildError(f"{root / 'settings.yaml'}: {where} {value!r}: no such file ({path})")
    return path.read_text()


def settings_values(
    root: Path, env: str | None = None, data: str | None = None, usecase: str | None = None
) -> dict[str, Any]:
    """Every parameter value the settings define; `data` replaces data.source (make run DATA=)."""
    from mlops.core.model_settings import load_model_settings

    raw = load_raw(root / "settings.yaml", env, usecase)
    data_settings = raw.get("data") or {}
    model = load_model_settings(root, env, usecase)
    validation = data_settings.get("validation") or {}
    drift = validation.get("drift") or {}
    skew = validation.get("skew") or {}
    source = data or data_settings.get("source")
    if not source:
        raise BuildError(f"{root / 'settings.yaml'}: data.source is missing")
    model_raw = raw.get("model") or {}
    label = data_settings.get("label")
    if not isinstance(label, str) or not label:
        raise BuildError(f"{root / 'settings.yaml'}: data.label is missing (the raw label column)")
    null_markers = data_settings.get("null_markers", [""])
    if not isinstance(null_markers, list) or not all(isinstance(m, str) for m in null_markers):
        raise BuildError(
            f"{root / 'settings.yaml'}: data.null_markers is {null_markers!r}; expected a list "
            'of strings, e.g. ["", "NA", "?"]'
        )
    values: dict[str, Any] = {
        "source": _local_path(root, str(source)),
        "splits": json.dumps(data_settings.get("splits") or {"train": 2, "eval": 1}),
        "schema": _read_text(root, "data.schema", data_settings.get("schema")),
        "label": label,
        "null_markers": json.dumps(null_markers),
        # Unseen eval classes can be named only where the raw column is the class itself.
        "check_label_classes": model.task != "regression" and label == model.label_key,
        "task": model.task,
        "label_key": model.label_key,
        "model_module": _read_text(root, "model.module", model.module) if model.module else "",
        "transform_module": _read_text(
            root, "model.transform_module", model_raw.get("transform_module")
        ),
        "drift_numeric_jsd": float(drift.get("numeric_jsd", 0.1)),
        "drift_categorical_linf": float(drift.get("categorical_linf", 0.1)),
        "skew_numeric_jsd": float(skew.get("numeric_jsd", 0.1)),
        "skew_categorical_linf": float(skew.get("categorical_linf", 0.1)),
        "hidden_units": model.train["hidden_units"],
        "learning_rate": model.train["learning_rate"],
        "epochs": model.train["epochs"],
        "batch_size": model.train["batch_size"],
        "tuning_max_trials": model.tuning["max_trials"],
        "tuning_epochs_per_trial": model.tuning["epochs_per_trial"],
        "eval_config": model.eval_config_json(),
        "registry": model.serving.registry,
        "model_name": model.name,
        "canary_percent": model.serving.canary_percent,
    }
    return values


def pipeline_inputs(package: Path) -> dict[str, bool]:
    """The compiled pipeline's parameters: name -> whether it has a default."""
    from kfp import components

    from mlops.core.pipeline_package import read_package

    spec = components.load_component_from_text(read_package(package))
    return {
        name: spec_input.optional for name, spec_input in (spec.component_spec.inputs or {}).items()
    }


# The settings key each of settings_values' parameters comes from, for error messages.
SETTINGS_KEYS = {
    "source": "data.source",
    "splits": "data.splits",
    "schema": "data.schema",
    "label": "data.label",
    "null_markers": "data.null_markers",
    "check_label_classes": "model.task",  # with data.label and model.label_key
    "task": "model.task",
    "label_key": "model.label_key",
    "model_module": "model.module",
    "transform_module": "model.transform_module",
    "drift_numeric_jsd": "data.validation.drift.numeric_jsd",
    "drift_categorical_linf": "data.validation.drift.categorical_linf",
    "skew_numeric_jsd": "data.validation.skew.numeric_jsd",
    "skew_categorical_linf": "data.validation.skew.categorical_linf",
    "hidden_units": "model.train.hidden_units",
    "learning_rate": "model.train.learning_rate",
    "epochs": "model.train.epochs",
    "batch_size": "model.train.batch_size",
    "tuning_max_trials": "model.tuning.max_trials",
    "tuning_epochs_per_trial": "model.tuning.epochs_per_trial",
    "eval_config": "model.evaluation",
    "registry": "serving.registry",
    "model_name": "model.name",
    "canary_percent": "serving.canary_percent",
}


def for_pipeline(
    root: Path,
    pipeline: str,
    package: Path,
    env: str | None = None,
    data: str | None = None,
    extra: dict[str, Any] | None = None,
    usecase: str | None = None,
) -> RunParameters:
    """The arguments of one run: the settings' values the pipeline declares, then
    `pipelines.<pipeline>.parameters`, then `extra` (values only a run knows), checked
    against the compiled pipeline's declared types (mlops.core.parameter_check) and converted
    where lossless. Each value keeps the settings key it came from; a required parameter that
    nothing provides, or a value of the wrong type, is a ParameterError naming it."""
    from mlops.core.pipeline_package import read_package

    raw = load_raw(root / "settings.yaml", env, usecase)
    spec = parameter_check.spec_of(read_package(package))
    declared = {name: not p.required for name, p in parameter_check.declared(spec).items()}
    overrides = ((raw.get("pipelines") or {}).get(pipeline) or {}).get("parameters") or {}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise parameter_check.ParameterError(
            f"{root / 'settings.yaml'}: pipelines.{pipeline}.parameters has {unknown}, which "
            f"{pipeline} does not take (it takes: {', '.join(sorted(declared))})"
        )
    values = settings_values(root, env, data, usecase) if _needs_settings(declared) else {}
    origin = settings.origins(root, raw["env"], "" if raw["usecase"] is None else raw["usecase"])
    arguments = {k: v for k, v in values.items() if k in declared}
    origins = {k: origin(SETTINGS_KEYS[k]) for k in arguments if k in SETTINGS_KEYS}
    if data and "source" in arguments:
        origins["source"] = f"DATA={data}"
    arguments.update(overrides)
    origins.update({k: origin(f"pipelines.{pipeline}.parameters.{k}") for k in overrides})
    supplied = {k: v for k, v in (extra or {}).items() if k in declared}
    arguments.update(supplied)
    origins.update({k: f"{k} (supplied by the run)" for k in supplied})
    return parameter_check.check(spec, RunParameters(arguments, origins), where=pipeline)


_SETTINGS_PARAMETERS = {"source", "schema", "eval_config", "registry", "model_name"}


def _needs_settings(declared: dict[str, bool]) -> bool:
    # A pipeline that takes none of the shared components' inputs (the hello sample) needs no
    # data or model settings, so a project without them can still run it.
    return bool(_SETTINGS_PARAMETERS & set(declared))


def takes_settings(package: Path) -> bool:
    """Whether the compiled pipeline takes a use case's data or model settings."""
    return _needs_settings(pipeline_inputs(package))
