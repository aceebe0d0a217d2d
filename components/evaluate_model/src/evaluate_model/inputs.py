"""Checks of the component's artifact inputs before any Beam pipeline is built: the models
(candidate and explicit baseline) and the eval split of the Examples. Each problem raises
InputError naming the input and what is wrong.

No TensorFlow at import time (the contract check imports main, which imports this)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_runtime import examples

EVAL_SPLIT = "eval"
SIDECAR = "mlops_model.json"
# The signatures of the model contract that TFMA uses: predictions from serialized raw
# examples, and the label from the transform graph (preprocessing_function_names).
REQUIRED_SIGNATURES = ("serving_default", "transform_features")


class InputError(ValueError):
    """An input of the component is unusable; the message says which and why."""


@dataclass(frozen=True)
class ModelInput:
    """A model artifact that passed the checks: a SavedModel folder and its sidecar."""

    path: Path
    sidecar: dict[str, Any]
    signatures: tuple[str, ...]


def check_model(path: str | Path, input_name: str) -> ModelInput:
    """The folder at path is a SavedModel with the contract's signatures; its sidecar
    (mlops_model.json), when there, is a JSON object."""
    root = Path(path)
    if not root.is_dir():
        raise InputError(f"{input_name}: {path} is not a folder")
    pb = root / "saved_model.pb"
    if not pb.is_file():
        present = sorted(p.name for p in root.iterdir())[:10]
        raise InputError(
            f"{input_name}: {path} is not a SavedModel (no saved_model.pb; it holds: "
            f"{', '.join(present) or 'nothing'})"
        )
    signatures = _signatures(pb, input_name)
    missing = [s for s in REQUIRED_SIGNATURES if s not in signatures]
    if missing:
        raise InputError(
            f"{input_name}: the SavedModel at {path} lacks the signature(s) "
            f"{', '.join(missing)} (it has: {', '.join(signatures) or 'none'}); the model "
            "contract requires serving_default and transform_features"
        )
    sidecar: dict[str, Any] = {}
    sidecar_path = root / SIDECAR
    if sidecar_path.is_file():
        try:
            sidecar = json.loads(sidecar_path.read_text())
        except json.JSONDecodeError as e:
            raise InputError(f"{input_name}: {sidecar_path} is not valid JSON: {e}") from e
        if not isinstance(sidecar, dict):
            raise InputError(f"{input_name}: {sidecar_path} holds no JSON object")
    return ModelInput(root, sidecar, signatures)


def _signatures(pb: Path, input_name: str) -> tuple[str, ...]:
    """The signature names of a saved_model.pb, read from the proto (loading the model would
    take seconds; TFMA loads it anyway)."""
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString(pb.read_bytes())
    except DecodeError as e:
        raise InputError(f"{input_name}: {pb} does not parse as a SavedModel: {e}") from e
    names: set[str] = set()
    for graph in proto.meta_graphs:
        names.update(graph.signature_def.keys())
    return tuple(sorted(names))


def check_eval_split(uri: str) -> str:
    """The file pattern of the eval split of the Examples at uri, which must have data."""
    problem = examples.layout_problem(uri, (EVAL_SPLIT,))
    if problem:
        raise InputError(f"examples: {problem}")
    return examples.file_pattern(uri, EVAL_SPLIT)
