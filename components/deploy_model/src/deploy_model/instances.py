"""TensorFlow Serving's REST request body (row format) checked against a model's raw feature
spec, and turned into the inputs of its signatures:

- serving_default: each instance `{feature: value, ...}` becomes a serialized tf.Example of
  the raw features (JSON null: the feature is absent, as an empty CSV cell is); an instance
  may also be a serialized example, `{"b64": "..."}` or `{"examples": {"b64": "..."}}`.
- serving_raw: one dense tensor per raw feature; every value must be there.

Every problem raises BadRequest naming the instance and the feature."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

SIGNATURES = ("serving_default", "serving_raw")
_INT64 = (-(2**63), 2**63 - 1)


class BadRequest(ValueError):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class PredictRequest:
    signature: str
    instances: list[Any]  # as received (for the request log)


def parse_body(body: bytes) -> PredictRequest:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadRequest(f"malformed JSON body: {e}") from None
    if not isinstance(payload, dict):
        raise BadRequest(f"the body must be a JSON object, not {_json_type(payload)}")
    if "inputs" in payload and "instances" not in payload:
        raise BadRequest("columnar 'inputs' is not supported; send row format 'instances'")
    unknown = sorted(set(payload) - {"instances", "signature_name"})
    if unknown:
        raise BadRequest(f"unknown key(s) in the body: {', '.join(map(repr, unknown))}")
    if "instances" not in payload:
        raise BadRequest("the body has no 'instances' list")
    instances = payload["instances"]
    if not isinstance(instances, list):
        raise BadRequest(f"'instances' must be a list, not {_json_type(instances)}")
    if not instances:
        raise BadRequest("'instances' is empty: nothing to predict")
    signature = payload.get("signature_name", "serving_default")
    if signature not in SIGNATURES:
        raise BadRequest(
            f"signature_name {signature!r} is not served; use one of {', '.join(SIGNATURES)}"
        )
    return PredictRequest(signature, instances)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _check_value(where: str, value: Any, dtype: str) -> None:
    kind = _json_type(value)
    if dtype == "int64":
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok and not _INT64[0] <= value <= _INT64[1]:
            raise BadRequest(f"{where}: {value} is out of the int64 range")
    elif dtype == "float32":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise BadRequest(f"{where}: {json.dumps(value)[:60]} is {kind}, but the feature is {dtype}")


def _serialized_example(instance: Any) -> bytes | None:
    """The bytes of a b64 instance, or None when the instance is a feature dict."""
    if not isinstance(instance, dict):
        return None
    holder = instance
    if set(instance) == {"examples"} and isinstance(instance["examples"], dict):
        holder = instance["examples"]
    if set(holder) != {"b64"}:
        return None
    if not isinstance(holder["b64"], str):
        raise BadRequest("'b64' must be a base64 string")
    try:
        return base64.b64decode(holder["b64"], validate=True)
    except (binascii.Error, ValueError) as e:
        raise BadRequest(f"'b64' is not valid base64: {e}") from None


def _check_example(index: int, serialized: bytes) -> None:
    # Checked here: TensorFlow's own parse error on such bytes fails to format its message.
    from google.protobuf.message import DecodeError
    from tensorflow.core.example import example_pb2

    try:
        example_pb2.Example.FromString(serialized)
    except DecodeError:
        raise BadRequest(f"instances[{index}]: b64 is not a serialized tf.Example") from None


def check_instances(request: PredictRequest, spec: dict[str, dict]) -> list[dict[str, Any] | bytes]:
    """Each instance checked against spec ({feature: {"dtype": ...}}): a feature dict, or
    (serving_default only) the bytes of a serialized example."""
    checked: list[dict[str, Any] | bytes] = []
    for i, instance in enumerate(request.instances):
        serialized = _serialized_example(instance)
        if serialized is not None:
            if request.signature != "serving_default":
                raise BadRequest(f"instances[{i}]: b64 examples go to serving_default only")
            _check_example(i, serialized)
            checked.append(serialized)
            continue
        if not isinstance(instance, dict):
            raise BadRequest(
                f"instances[{i}]: expected an object of features, not {_json_type(instance)}"
            )
        for name in instance:
            if name not in spec:
                raise BadRequest(
                    f"instances[{i}]: unknown feature {name!r}; the model's features are "
                    f"{', '.join(sorted(spec))}"
                )
        for name, entry in spec.items():
            if name not in instance:
                raise BadRequest(
                    f"instances[{i}]: missing feature {name!r} (send null for an absent value)"
                )
            value = instance[name]
            if value is None:
                if request.signature == "serving_raw":
                    raise BadRequest(
                        f"instances[{i}].{name} is null: serving_raw needs every value "
                        "(serving_default takes null as an absent value)"
                    )
                continue
            _check_value(f"instances[{i}].{name}", value, entry["dtype"])
        checked.append(instance)
    return checked


def to_example(instance: dict[str, Any], spec: dict[str, dict]) -> bytes:
    """A serialized tf.Example of the raw features; null values are left out."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    features = example.features.feature
    for name, value in instance.items():
        if value is None:
            continue
        dtype = spec[name]["dtype"]
        if dtype == "int64":
            features[name].int64_list.value.append(value)
        elif dtype == "float32":
            features[name].float_list.value.append(float(value))
        else:
            features[name].bytes_list.value.append(value.encode())
    return example.SerializeToString()


def to_inputs(
    signature: str, checked: list[dict[str, Any] | bytes], spec: dict[str, dict]
) -> dict[str, Any]:
    """The keyword arguments of the signature's concrete function."""
    import tensorflow as tf

    if signature == "serving_default":
        examples = [c if isinstance(c, bytes) else to_example(c, spec) for c in checked]
        return {"examples": tf.constant(examples, dtype=tf.string)}
    dtypes = {"int64": tf.int64, "float32": tf.float32, "string": tf.string}
    return {
        name: tf.constant([c[name] for c in checked], dtype=dtypes[entry["dtype"]])
        for name, entry in spec.items()
    }
