"""Reading and checking the component's inputs: the Model artifact (a SavedModel folder with
the mlops_model.json sidecar) and evaluate_model's blessing. Each problem raises InputError
naming the input and what is wrong. No TensorFlow here (the contract check imports main)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy_model.tasks import task_from_sidecar

SIDECAR = "mlops_model.json"
DTYPES = ("int64", "float32", "string")


class InputError(ValueError):
    """An input of the component is unusable; the message says which and why."""


def read_sidecar(model_dir: Path, what: str = "model") -> dict[str, Any]:
    path = Path(model_dir) / SIDECAR
    try:
        sidecar = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{what}: {model_dir} has no {SIDECAR} (the model contract)") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{what}: {path} is not JSON: {e}") from e
    spec = sidecar.get("raw_feature_spec") if isinstance(sidecar, dict) else None
    if not isinstance(spec, dict) or not spec:
        raise InputError(f"{what}: {path} has no raw_feature_spec (feature -> {{dtype}})")
    for name, entry in spec.items():
        dtype = entry.get("dtype") if isinstance(entry, dict) else None
        if dtype not in DTYPES:
            raise InputError(
                f"{what}: {path}: raw_feature_spec[{name!r}].dtype is {dtype!r}; "
                f"expected one of {', '.join(DTYPES)}"
            )
    try:
        task_from_sidecar(sidecar, f"{what}: {path}")  # the service would refuse it
    except ValueError as e:
        raise InputError(str(e)) from None
    return sidecar


def check_model(model_dir: str | None) -> Path:
    """The Model artifact's folder: a SavedModel at its root plus the sidecar."""
    if not model_dir:
        raise InputError("model: required for --mode deploy (the Model artifact to deploy)")
    path = Path(model_dir)
    if not path.is_dir():
        raise InputError(f"model: {model_dir} is not a folder")
    if not (path / "saved_model.pb").is_file():
        raise InputError(f"model: {model_dir} has no saved_model.pb at its root")
    read_sidecar(path)
    return path


@dataclass(frozen=True)
class Blessing:
    blessed: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)  # blessing.json, when there

    @property
    def metrics(self) -> dict[str, Any]:
        metrics = self.details.get("metrics")
        return metrics if isinstance(metrics, dict) else {}


def read_blessing(blessing_dir: str | None) -> Blessing:
    """evaluate_model's verdict: a BLESSED or NOT_BLESSED file in the folder. No blessing
    input, or no BLESSED file, means not blessed: the gate fails closed."""
    if not blessing_dir:
        return Blessing(False, "not blessed: no blessing input")
    path = Path(blessing_dir)
    if not path.is_dir():
        return Blessing(False, f"not blessed: blessing {blessing_dir} is not a folder")
    details: dict[str, Any] = {}
    if (path / "blessing.json").is_file():
        try:
            details = json.loads((path / "blessing.json").read_text())
        except json.JSONDecodeError as e:
            raise InputError(f"blessing: {path / 'blessing.json'} is not JSON: {e}") from e
        if not isinstance(details, dict):
            details = {"value": details}
    blessed, not_blessed = (path / "BLESSED").exists(), (path / "NOT_BLESSED").exists()
    if blessed and not_blessed:
        raise InputError(f"blessing: {blessing_dir} holds both BLESSED and NOT_BLESSED")
    if blessed:
        return Blessing(True, "blessed", details)
    if not_blessed:
        return Blessing(False, "not blessed: evaluate_model wrote NOT_BLESSED", details)
    return Blessing(False, f"not blessed: no BLESSED file in {blessing_dir}", details)
