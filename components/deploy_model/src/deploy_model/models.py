"""One loaded model version: the SavedModel's serving signatures, its raw feature spec and its
task (from the mlops_model.json sidecar; without one, the spec comes from the serving_raw
signature's inputs and the task is binary). A version counts as loaded only after one warm-up
call answered with its task's output shape (one value per example, or one probability per
class for multiclass)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from deploy_model.inputs import SIDECAR
from deploy_model.instances import SIGNATURES, to_inputs
from deploy_model.tasks import DEFAULT_TASK, ModelTask, task_from_sidecar

_ZERO = {"int64": 0, "float32": 0.0, "string": ""}


class LoadedModel:
    def __init__(
        self,
        version: int,
        path: Path,
        module: Any,
        raw_feature_spec: dict,
        task: ModelTask = DEFAULT_TASK,
    ):
        self.version = version
        self.path = path
        self._module = module  # keeps the signatures' variables alive
        self.raw_feature_spec = raw_feature_spec
        self.task = task
        self.signatures = {s: module.signatures[s] for s in SIGNATURES if s in module.signatures}
        self.in_flight = 0  # requests running on this object (status, tests)
        self._lock = threading.Lock()

    def predict(self, signature: str, checked: list) -> list[list[float]]:
        """Predictions of the checked instances (see instances.check_instances)."""
        fn = self.signatures.get(signature)
        if fn is None:
            from deploy_model.instances import BadRequest

            raise BadRequest(f"version {self.version} has no signature {signature!r}")
        with self._lock:
            self.in_flight += 1
        try:
            outputs = fn(**to_inputs(signature, checked, self.raw_feature_spec))["outputs"]
            return outputs.numpy().tolist()
        finally:
            with self._lock:
                self.in_flight -= 1


def _spec_from_signature(module: Any) -> dict[str, dict]:
    import tensorflow as tf

    names = {tf.int64: "int64", tf.float32: "float32", tf.string: "string"}
    fn = module.signatures.get("serving_raw")
    if fn is None:
        raise ValueError(f"no {SIDECAR} and no serving_raw signature to read the features from")
    return {name: {"dtype": names[t.dtype]} for name, t in fn.structured_input_signature[1].items()}


def load_model(path: Path, version: int) -> LoadedModel:
    """Loads and warms up one version; raises with the reason when it cannot serve."""
    import tensorflow as tf

    path = Path(path)
    module = tf.saved_model.load(str(path))
    if "serving_default" not in module.signatures:
        raise ValueError(f"{path}: the SavedModel has no serving_default signature")
    sidecar = path / SIDECAR
    if sidecar.is_file():
        content = json.loads(sidecar.read_text())
        spec = content["raw_feature_spec"]
        task = task_from_sidecar(content, str(sidecar))
    else:
        spec = _spec_from_signature(module)
        task = DEFAULT_TASK
    model = LoadedModel(version, path, module, spec, task)
    warm = model.predict("serving_default", [{k: _ZERO[v["dtype"]] for k, v in spec.items()}])
    problem = task.output_problem(warm)
    if problem:
        raise ValueError(
            f"{path}: serving_default of this {task.task} model answered {str(warm)[:200]}: "
            f"{problem}"
        )
    return model
