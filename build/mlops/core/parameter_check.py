"""Run parameters checked against the compiled pipeline before anything runs or is submitted
(a local run, a KFP run or recurring run, a Vertex AI job, a trigger's run): every required
parameter has a value, no value is for an undeclared name, and each value has its declared
type, converted where the conversion is lossless (8 for a double, 8.0 for an integer, a JSON
text for a list or a mapping). Otherwise one BuildError names where each bad value came from
(the settings key, when known), the value and the type the pipeline expects."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.core import yaml_text
from mlops.core.errors import BuildError

# What the pipeline's parameter is, in the words of an error message.
TYPE_WORDS = {
    "NUMBER_INTEGER": "an integer",
    "NUMBER_DOUBLE": "a number",
    "STRING": "a string",
    "BOOLEAN": "a boolean (true or false, unquoted)",
    "LIST": "a list (or its JSON text)",
    "STRUCT": "a mapping (or its JSON text)",
}


class ParameterError(BuildError):
    """Run parameters that the compiled pipeline (and the KFP API server) would refuse."""


class RunParameters(dict):
    """A run's parameter values, with where each came from: name -> e.g.
    "settings.yaml (environment local, use case taxi): model.train.epochs"."""

    def __init__(self, values: Mapping[str, Any] = (), origins: Mapping[str, str] | None = None):
        super().__init__(values)
        self.origins = dict(origins or {})


@dataclass(frozen=True)
class Declared:
    type: str  # the IR's parameterType, e.g. NUMBER_INTEGER
    required: bool  # neither isOptional nor a defaultValue


def spec_of(ir_text: str) -> dict:
    """The PipelineSpec of a compiled pipeline's YAML (a second document, the platform spec,
    says nothing about parameters)."""
    return next(iter(yaml_text.load_all(ir_text)), None) or {}


def declared(spec: dict) -> dict[str, Declared]:
    """The root's parameters: root.inputDefinitions.parameters of the IR."""
    parameters = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    return {
        name: Declared(
            type=str(p.get("parameterType") or "PARAMETER_TYPE_ENUM_UNSPECIFIED"),
            required=not p.get("isOptional") and "defaultValue" not in p,
        )
        for name, p in parameters.items()
    }


_REFUSED = object()


def _converted(kind: str, value: Any) -> Any:
    """`value` as the Python type kfp.local and the KFP API server take for `kind`, or
    _REFUSED. The server's rules (kubeflow/pipelines 2.5.0,
    backend/src/apiserver/template/v2_template.go, validatePipelineJobInputs): a number for
    NUMBER_INTEGER and NUMBER_DOUBLE, a string for STRING, a bool for BOOLEAN, a list for LIST,
    a struct for STRUCT; anything else (a JSON null too) is 400. kfp.local (kfp 2.13,
    dsl/types/type_utils.py) wants the exact Python type (an int is not a float there), so a
    value is converted where nothing is lost: an int to a float, a whole float to an int, a
    JSON text to its list or mapping. A fraction for an integer is refused although the server
    takes any number: the step's own argument parsing would fail on it, after the run started.
    A bool is never a number (Python's bool is an int; JSON's is not)."""
    if kind == "NUMBER_INTEGER":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _REFUSED
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            return _REFUSED
        return int(value)
    if kind == "NUMBER_DOUBLE":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _REFUSED
        return float(value) if math.isfinite(value) else _REFUSED
    if kind == "STRING":
        return value if isinstance(value, str) else _REFUSED
    if kind == "BOOLEAN":
        return value if isinstance(value, bool) else _REFUSED
    if kind in ("LIST", "STRUCT"):
        wanted = list if kind == "LIST" else dict
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return _REFUSED
        if kind == "LIST" and isinstance(value, tuple):
            value = list(value)
        return value if isinstance(value, wanted) else _REFUSED
    return _REFUSED  # unspecified or TASK_FINAL_STATUS: no run can give a value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check(spec: dict, arguments: Mapping[str, Any], where: str | None = None) -> RunParameters:
    """`arguments` checked against the compiled pipeline `spec` and converted; raises
    ParameterError naming every problem. Origins come from `arguments` when it is a
    RunParameters; `where` names the run in the error (default: the pipeline's name)."""
    origins = getattr(arguments, "origins", {})
    inputs = declared(spec)
    pipeline = where or (spec.get("pipelineInfo") or {}).get("name") or "the pipeline"
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name, value in arguments.items():
        origin = origins.get(name, name)
        if name not in inputs:
            takes = ", ".join(sorted(inputs)) or "no parameters"
            given = f"{origins[name]}: " if name in origins else ""
            problems.append(f"{given}{pipeline} has no parameter {name} (it takes: {takes})")
            continue
        parameter = inputs[name]
        if value is None and not parameter.required:
            continue  # left to the pipeline's default: the server refuses a null
        converted = None if value is None else _converted(parameter.type, value)
        if converted is None or converted is _REFUSED:
            word = TYPE_WORDS.get(parameter.type, f"of type {parameter.type}, which no run sets")
            problems.append(
                f"{origin} is {_shown(value)}; the pipeline's parameter {name} is {word}"
            )
            continue
        values[name] = converted
    missing = sorted(n for n, p in inputs.items() if p.required and n not in arguments)
    if missing:
        problems.append(f"{pipeline}: no value for the parameters {missing}")
    if problems:
        raise ParameterError("\n  ".join(problems))
    return RunParameters(values, origins)


def check_package(package: Path, arguments: Mapping[str, Any]) -> RunParameters:
    """check() against a compiled package (workflow.tar.gz) or pipeline YAML."""
    from mlops.core.pipeline_package import read_package

    package = Path(package)
    text = read_package(package) if package.name.endswith(".tar.gz") else package.read_text()
    return check(spec_of(text), arguments)
