"""What the model takes, read from the transform output rather than hard-coded: every
transformed feature but the label, sorted into categorical ids (integers with a domain that TFT
recorded for vocabularies and buckets) and numeric values (floats; integers without a domain).
And the raw features a serving request carries (the raw spec minus the raw label)."""

from __future__ import annotations

from dataclasses import dataclass

from train_model.inputs import InputError


@dataclass(frozen=True)
class FeatureLayout:
    """The model's inputs (what a model_module's build_model receives as `layout`)."""

    label_key: str
    categorical: dict[str, int]  # transformed name -> number of ids (domain max + 1)
    numeric: tuple[str, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(sorted(self.categorical)) + self.numeric


def model_inputs(layout: FeatureLayout, transformed: dict) -> dict:
    """What every model is called with, in training and in the serving signatures alike: one
    [batch, 1] tensor per input, int64 ids for the categorical, float32 for the numeric."""
    import tensorflow as tf

    inputs = {k: tf.reshape(transformed[k], [-1, 1]) for k in layout.keys}
    for k in layout.numeric:
        inputs[k] = tf.cast(inputs[k], tf.float32)  # no-op for floats; ints without a domain
    return inputs


def layout(tft_output, label_key: str) -> FeatureLayout:
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import schema_pb2

    spec = tft_output.transformed_feature_spec()
    if label_key not in spec:
        raise InputError(
            f"label_key: {label_key!r} is not a transformed feature (there are: "
            f"{', '.join(sorted(spec))})"
        )
    domains = tft_output.transformed_domains()
    categorical, numeric = {}, []
    for name in sorted(spec):
        if name == label_key:
            continue
        feature = spec[name]
        # One value per example: what the deep and wide parts take.
        if not isinstance(feature, tf.io.FixedLenFeature) or list(feature.shape) not in ([], [1]):
            raise InputError(
                f"transform_graph: transformed feature {name!r} is {feature}; the model takes "
                "one value per example (a FixedLenFeature of shape [] or [1])"
            )
        domain = domains.get(name)
        if feature.dtype == tf.int64 and isinstance(domain, schema_pb2.IntDomain):
            if domain.min != 0 or domain.max < 0:
                raise InputError(
                    f"transform_graph: transformed feature {name!r} has ids in "
                    f"[{domain.min}, {domain.max}]; categorical ids must start at 0 (a "
                    "vocabulary's default_value -1 for unseen values: give it num_oov_buckets=1 "
                    "in the preprocessing_fn instead)"
                )
            categorical[name] = int(domain.max) + 1
        elif feature.dtype in (tf.float32, tf.int64):
            numeric.append(name)
        else:
            raise InputError(
                f"transform_graph: transformed feature {name!r} is a {feature.dtype.name}; the "
                "model takes numbers or integer ids (make it one in the preprocessing_fn)"
            )
    if not categorical and not numeric:
        raise InputError(f"transform_graph: no transformed feature besides {label_key!r}")
    return FeatureLayout(label_key, categorical, tuple(numeric))


def serving_raw_spec(tft_output, raw_label_keys: tuple[str, ...]) -> dict:
    """The raw feature spec of serving requests: the raw spec without the raw label(s)."""
    spec = dict(tft_output.raw_feature_spec())
    for key in raw_label_keys:
        spec.pop(key, None)
    return spec


def raw_label_keys(tft_output, label_key: str) -> tuple[str, ...]:
    """The raw features only the label is computed from (e.g. a tip, not the fare, which
    fare_xf needs too): without one of them the transform's outputs lose the label and nothing
    else. Found by asking TFT which outputs remain when each raw feature is left out (it prunes
    the outputs of absent inputs), so no raw name is hard-coded."""
    raw_spec = tft_output.raw_feature_spec()
    full = _transformed_keys(tft_output, raw_spec)
    if label_key not in full:
        return ()
    sources = []
    for key in sorted(raw_spec):
        rest = {k: v for k, v in raw_spec.items() if k != key}
        if full - _transformed_keys(tft_output, rest) == {label_key}:
            sources.append(key)
    return tuple(sources)


def _transformed_keys(tft_output, raw_spec) -> set[str]:
    import tensorflow as tf

    # Traced once per raw feature: AutoGraph (which TFT's layer does not need) would convert
    # TFT's and Keras' code anew in every fresh process (about 5 s on a 15k-row sample).
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def transform(serialized):
        return tft_output.transform_raw_features(tf.io.parse_example(serialized, raw_spec))

    return set(transform.get_concrete_function().structured_outputs)
