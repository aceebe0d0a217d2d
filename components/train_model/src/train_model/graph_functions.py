"""Keras's train and test functions traced without AutoGraph.

tf_keras wraps its step functions in a tf.function that AutoGraph converts, and a fresh
process spends 10-15 s converting Keras's own Python source before the first batch (measured
on a 15k-row sample, 2 cores: 8 epochs 22 s with AutoGraph, 6 s without, same AUC). The model
has no data-dependent Python control flow, so a plain trace builds the same graph. Every
component run is a fresh process, so this was paid on every run.

Keras's own make_*_function logic (step counters, distribution) is kept: only the tf.function
it creates is asked for autograph=False, while it creates it."""

from __future__ import annotations

import contextlib
import functools


@contextlib.contextmanager
def _plain_tf_function(module):
    original = module.function

    @functools.wraps(original)
    def function(*args, **kwargs):
        kwargs["autograph"] = False
        return original(*args, **kwargs)

    module.function = function
    try:
        yield
    finally:
        module.function = original


def without_autograph(model):
    """model, whose fit/evaluate/predict trace their step functions as plain graphs."""
    from tf_keras.src.engine import training

    for name in ("make_train_function", "make_test_function", "make_predict_function"):
        original = getattr(model, name)

        def make(force=False, _original=original):
            with _plain_tf_function(training.tf):
                return _original(force=force)

        setattr(model, name, make)
    return model
