"""The serving SavedModel of the shared model contract: the Keras model with TFT's transform
layer inside (tracked on the model so its vocabulary assets are saved with it) and three
signatures, plus the sidecar mlops_model.json.

- serving_default: `examples` (serialized raw tf.Examples, no label needed) -> `outputs`
- serving_raw: one dense rank-1 input per raw feature (JSON-friendly) -> `outputs`
  (`outputs`: float32 [N, 1] P(class 1) for binary, [N, K] class probabilities for
  multiclass, [N, 1] the value for regression)
- transform_features: `examples` (raw tf.Examples with the label's raw features) -> every
  transformed feature, the label included (TFMA's preprocessing_function_names)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from train_model.features import FeatureLayout, model_inputs
from train_model.inputs import InputError

SIDECAR = "mlops_model.json"
SIGNATURES = ("serving_default", "serving_raw", "transform_features")
OUTPUT_KEY = "outputs"


def _dense_to_raw(value, feature):
    """A dense [batch] tensor of a raw feature -> what parse_example would have produced for
    it, which is what the transform layer was traced with."""
    import tensorflow as tf

    if isinstance(feature, tf.io.FixedLenFeature):
        return value if list(feature.shape) == [] else tf.reshape(value, [-1, 1])
    rows = tf.shape(value, out_type=tf.int64)[0]
    if isinstance(feature, tf.io.VarLenFeature):
        indices = tf.stack([tf.range(rows), tf.zeros([rows], tf.int64)], axis=1)
        return tf.SparseTensor(indices, value, tf.stack([rows, tf.constant(1, tf.int64)]))
    return tf.RaggedTensor.from_tensor(tf.reshape(value, [-1, 1]))


def check_raw_spec(spec: dict) -> None:
    """serving_raw takes one value per example: a raw feature of any other shape cannot be
    one of its inputs."""
    import tensorflow as tf

    for name, feature in spec.items():
        scalar = isinstance(feature, tf.io.VarLenFeature | tf.io.RaggedFeature) or (
            isinstance(feature, tf.io.FixedLenFeature) and list(feature.shape) in ([], [1])
        )
        if not scalar:
            raise InputError(
                f"transform_graph: raw feature {name!r} is {feature}; serving_raw takes one "
                "value per example (FixedLen of shape [] or [1], or VarLen)"
            )


def export(
    model,
    tft_output,
    layout: FeatureLayout,
    serving_spec: dict,
    model_dir: str,
    sidecar: dict,
    autograph: bool = False,
) -> None:
    """autograph: whether the signatures convert Python control flow of the model's code
    (a model_module's may have some); the default model traces faster without."""
    import tensorflow as tf

    check_raw_spec(serving_spec)
    full_spec = tft_output.raw_feature_spec()
    model.tft_layer = tft_output.transform_features_layer()

    def predict(raw_features):
        transformed = model.tft_layer(raw_features)
        outputs = model(model_inputs(layout, transformed), training=False)
        return {OUTPUT_KEY: tf.cast(outputs, tf.float32)}  # no-op unless mixed precision

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name="examples")], autograph=autograph
    )
    def serve_examples(examples):
        return predict(tf.io.parse_example(examples, serving_spec))

    raw_inputs = {
        name: tf.TensorSpec([None], feature.dtype, name=name)
        for name, feature in sorted(serving_spec.items())
    }

    @tf.function(input_signature=[raw_inputs], autograph=autograph)
    def serve_raw(features):
        return predict({k: _dense_to_raw(v, serving_spec[k]) for k, v in features.items()})

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name="examples")], autograph=False
    )
    def transform_features(examples):
        transformed = model.tft_layer(tf.io.parse_example(examples, full_spec))
        return {k: v for k, v in transformed.items() if isinstance(v, tf.Tensor)}

    signatures = {
        "serving_default": serve_examples.get_concrete_function(),
        "serving_raw": serve_raw.get_concrete_function(),
        "transform_features": transform_features.get_concrete_function(),
    }
    model.save(model_dir, save_format="tf", signatures=signatures, save_traces=False)
    write_sidecar(model_dir, sidecar)


def sidecar(
    model_name: str | None,
    task: str,
    label_key: str,
    classes: list[str] | None,
    serving_spec: dict,
    raw_label_keys: tuple[str, ...],
    hyperparameters: dict,
) -> dict:
    """classes: the class names in id order (output column k is classes[k] for multiclass;
    binary's one output is P(classes[1])); None for regression."""
    return {
        "model_name_hint": model_name,
        "task": task,
        "label_key": label_key,
        "classes": classes,
        "raw_feature_spec": {
            name: {"dtype": feature.dtype.name} for name, feature in sorted(serving_spec.items())
        },
        "raw_label_keys": list(raw_label_keys),
        "signatures": list(SIGNATURES),
        "hyperparameters": hyperparameters,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_sidecar(model_dir: str, data: dict) -> None:
    Path(model_dir, SIDECAR).write_text(json.dumps(data, indent=2) + "\n")
