"""The pipeline author's own model: the `model_module` input, Python source text (or the path of
a .py file, as transform_data's `module`), defining

    build_model(layout, task, num_classes, hyperparameters) -> a tf_keras Model

(the contract is in component.yaml and the README). Loading it and checking what it builds
raise InputError naming model_module and the problem.

Importing the source is lazy (load); nothing here imports TensorFlow at import time."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from train_model import tasks
from train_model.graph_functions import without_autograph
from train_model.inputs import InputError

ENTRY = "build_model"
INPUT = "model_module"


@dataclass(frozen=True)
class UserModel:
    build_model: Callable
    path: Path  # the file it was imported from (where its tracebacks point)


def read_source(module: str) -> tuple[str, Path | None]:
    """(source, path): a value ending in .py without a line break that names an existing file
    is read from there; anything else is the source itself."""
    value = module.strip()
    if value.endswith(".py") and "\n" not in value:
        path = Path(value)
        if path.is_file():
            return path.read_text(), path.resolve()
        raise InputError(f"{INPUT}: {value!r} looks like a path to a .py file, but no such file")
    return module, None


def check_source(module: str) -> tuple[str, Path | None]:
    """The source compiles (a cheap check, before TensorFlow loads anything)."""
    source, path = read_source(module)
    try:
        compile(source, str(path or f"<{INPUT}>"), "exec")
    except SyntaxError as e:
        line = (e.text or "").strip()
        raise InputError(
            f"{INPUT}: syntax error at line {e.lineno}: {e.msg}" + (f"\n    {line}" if line else "")
        ) from e
    return source, path


def load(module: str) -> UserModel:
    """Imports the module and returns its build_model. Source text is written to a file named
    after its content (tracebacks then show its lines); a given file's folder goes on sys.path
    so that it may import modules beside it. The module's own name is unique either way, so it
    can never hide (or be hidden by) an installed module."""
    source, path = check_source(module)
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    name = f"user_model_{digest}"
    if name in sys.modules:  # the same source, loaded before in this process
        mod = sys.modules[name]
        path = Path(mod.__file__)
    else:
        if path is None:
            path = Path(tempfile.mkdtemp(prefix="model-module-")) / f"{name}.py"
            path.write_text(source)
        elif str(path.parent) not in sys.path:
            sys.path.append(str(path.parent))  # after installed packages: none is shadowed
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod  # as an import does: its dataclasses, pickling look it up
        try:
            spec.loader.exec_module(mod)
        except Exception as e:
            del sys.modules[name]
            raise InputError(f"{INPUT}: fails to import: {_failure(e, path)}") from e
    fn = getattr(mod, ENTRY, None)
    if not callable(fn):
        defined = sorted(k for k, v in vars(mod).items() if callable(v) and not k.startswith("_"))
        what = "no build_model" if fn is None else f"build_model as a {type(fn).__name__}"
        raise InputError(
            f"{INPUT}: defines {what}; it needs a function build_model(layout, task, "
            f"num_classes, hyperparameters) (it defines: {', '.join(defined) or 'no functions'})"
        )
    return UserModel(fn, path)


def _failure(e: BaseException, path: Path) -> str:
    """The exception, and the last line of the module's own code it passed through."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if Path(f.filename) == path]
    where = f" (line {frames[-1].lineno}: {frames[-1].line})" if frames else ""
    return f"{type(e).__name__}: {e}{where}"


def build(
    user: UserModel,
    layout,
    task: str,
    num_classes: int | None,
    hyperparameters: dict,
    learning_rate: float,
) -> tuple:
    """(model, needs_autograph): the module's model, checked on a batch of two examples of
    zeros (outputs of the task's shape), compiled: with Adam(learning_rate), the task's loss
    and metrics if build_model left it uncompiled; else with its own optimizer and loss and the
    task's metrics. needs_autograph: its code has Python control flow over tensors."""
    import tensorflow as tf
    import tf_keras as keras

    path = user.path
    try:
        model = user.build_model(layout, task, num_classes, dict(hyperparameters))
    except Exception as e:
        raise InputError(f"{INPUT}: build_model raised {_failure(e, path)}") from e
    if not isinstance(model, keras.Model):
        kind = f"{type(model).__module__}.{type(model).__qualname__}"
        hint = " (a Keras 3 model: build it with tf_keras)" if kind.startswith("keras.") else ""
        raise InputError(
            f"{INPUT}: build_model returned a {kind}{hint}, not a tf_keras Model "
            "(import tf_keras as keras: TFT's layer and the export need Keras 2)"
        )
    probe = {k: tf.zeros([2, 1], tf.int64) for k in layout.categorical}
    probe.update({k: tf.zeros([2, 1], tf.float32) for k in layout.numeric})
    try:
        out = model(probe, training=False)
    except Exception as e:
        raise InputError(
            f"{INPUT}: the model build_model returned fails on a batch of its inputs "
            f"({', '.join(layout.keys)}; [batch, 1] each): {_failure(e, path)}"
        ) from e
    units = tasks.output_units(task, num_classes)
    if not isinstance(out, tf.Tensor) or out.shape.as_list() != [2, units]:
        got = list(out.shape) if isinstance(out, tf.Tensor) else type(out).__name__
        raise InputError(
            f"{INPUT}: the model's output for 2 examples is {got}; task {task} needs one "
            f"tensor of shape [batch, {units}]"
            + (" (the class probabilities)" if task == tasks.MULTICLASS else "")
        )
    needs_autograph = not _traces_without_autograph(model, probe)
    if not needs_autograph:
        without_autograph(model)
    if model._is_compiled:  # tf_keras's own flag; the public API has none
        tasks.recompile_with_task_metrics(model, task)
    else:
        tasks.compile_model(model, task, learning_rate)
    return model, needs_autograph


def _traces_without_autograph(model, probe: dict) -> bool:
    """Whether the model's call traces as a plain graph (training and not): then Keras's step
    functions skip AutoGraph too (graph_functions: 20-30 s less per run on 2 cores); a model
    with Python control flow over tensors keeps AutoGraph, slower but correct."""
    import tensorflow as tf

    specs = {k: tf.TensorSpec([None, 1], v.dtype, name=k) for k, v in probe.items()}
    for training in (False, True):
        traced = tf.function(lambda x, t=training: model(x, training=t), autograph=False)
        try:
            traced.get_concrete_function(specs)
        except Exception:  # what fails here works with AutoGraph, or fails there, named
            return False
    return True
