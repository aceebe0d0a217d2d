"""Reading and checking the component's inputs before any Beam pipeline is built: the
preprocessing module, the raw-data schema and the Examples splits. Each problem raises
InputError with a message that names the input and what is wrong.

No TensorFlow at import time (the contract check imports main, which imports this)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlops_runtime import examples


class InputError(ValueError):
    """An input of the component is unusable; the message says which and why."""


def read_module_source(module: str) -> tuple[str, Path | None]:
    """(source, path) of the `module` input: a path to a .py file when the value ends in .py
    and that file exists, else the Python source itself (path None)."""
    value = module.strip()
    if not value:
        raise InputError("module: empty; pass the Python source defining preprocessing_fn")
    if value.endswith(".py") and "\n" not in value:
        path = Path(value)
        if path.is_file():
            return path.read_text(), path.resolve()
        raise InputError(f"module: {value!r} looks like a path to a .py file, but no such file")
    return module, None


@dataclass(frozen=True)
class UserModule:
    """The pipeline author's module, importable by name from `folder` in this process and
    in local Beam workers (PYTHONPATH); `files` are what remote workers need shipped."""

    name: str
    folder: Path
    files: tuple[Path, ...]
    preprocessing_fn: Callable


def load_user_module(module: str, workdir: Path | None = None) -> UserModule:
    """Imports the `module` input (source text or .py path) and returns its preprocessing_fn.

    Beam pickles the preprocessing_fn by reference (module and name), so the module must be
    importable wherever the pipeline runs: source text is written to a file named after its
    content (user_preprocessing_<hash>.py) in workdir (a new temporary folder if None), and
    that folder, or the folder of a given .py file (whose sibling modules it may import, as
    TFX module files do), goes on sys.path and on PYTHONPATH for worker processes."""
    source, path = read_module_source(module)
    origin = str(path) if path else "<module input>"
    try:
        compile(source, origin, "exec")
    except SyntaxError as e:
        line = (e.text or "").strip()
        raise InputError(
            f"module {origin}: syntax error at line {e.lineno}: {e.msg}"
            + (f"\n    {line}" if line else "")
        ) from e
    if path is None:
        name = f"user_preprocessing_{hashlib.sha256(source.encode()).hexdigest()[:12]}"
        if name in sys.modules:  # the same source, loaded before in this process
            path = Path(sys.modules[name].__file__)
        else:
            folder = Path(workdir or tempfile.mkdtemp(prefix="user-module-"))
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{name}.py"
            path.write_text(source)
        folder = path.parent
        files: tuple[Path, ...] = (path,)
    else:
        folder, name = path.parent, path.stem
        files = tuple(sorted(folder.glob("*.py")))
        _refuse_shadowing(files, origin)
    _add_to_python_path(str(folder))
    importlib.invalidate_caches()
    try:
        mod = importlib.import_module(name)
    except Exception as e:
        raise InputError(f"module {origin}: fails to import: {type(e).__name__}: {e}") from e
    fn = getattr(mod, "preprocessing_fn", None)
    if fn is None:
        defined = sorted(k for k, v in vars(mod).items() if callable(v) and not k.startswith("__"))
        raise InputError(
            f"module {origin}: defines no preprocessing_fn (it defines: "
            f"{', '.join(defined) or 'no functions'})"
        )
    if not callable(fn):
        raise InputError(
            f"module {origin}: preprocessing_fn is a {type(fn).__name__}, not a function"
        )
    return UserModule(name, folder, files, fn)


def _refuse_shadowing(files: tuple[Path, ...], origin: str) -> None:
    """The folder of a module file goes on the workers' PYTHONPATH, ahead of the installed
    packages: none of its modules may bear the name of a module Python already finds."""
    for f in files:
        try:
            spec = importlib.util.find_spec(f.stem)
        except (ImportError, ValueError):
            continue
        found = spec.origin if spec else None
        if found and (found in ("built-in", "frozen") or Path(found).resolve() != f):
            raise InputError(
                f"module {origin}: {f.name} beside it has the name of the module {f.stem!r} "
                f"({found}), which it would hide from Beam's workers; rename it or move the "
                "module to a folder of its own"
            )


def _add_to_python_path(folder: str) -> None:
    if folder not in sys.path:
        sys.path.append(folder)  # after installed packages: a clash shows as a taken name
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if folder not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([folder, *parts])


def parse_schema(text: str):
    """The schema_pb2.Schema of the `schema` input (pbtxt text), with at least one feature."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    value = text.strip()
    if not value:
        raise InputError("schema: empty; pass the raw-data schema as pbtxt text")
    schema = schema_pb2.Schema()
    try:
        text_format.Parse(value, schema)
    except text_format.ParseError as e:
        hint = ""
        if "\n" not in value and value.endswith((".pbtxt", ".txt", ".pb")):
            hint = " (it looks like a path: pass the schema file's content, not its path)"
        raise InputError(
            f"schema: does not parse as a tensorflow_metadata Schema in text format{hint}: {e}"
        ) from e
    if not schema.feature and not schema.sparse_feature:
        raise InputError("schema: parses, but declares no features")
    try:
        from tensorflow_transform.tf_metadata import schema_utils

        schema_utils.schema_as_feature_spec(schema)
    except Exception as e:
        raise InputError(
            f"schema: cannot be turned into a feature spec: {type(e).__name__}: {e}"
        ) from e
    return schema


def check_splits(uri: str, splits: tuple[str, ...] = examples.SPLITS) -> None:
    """Every split has data files in the Examples layout under uri."""
    problem = examples.layout_problem(uri, splits)
    if problem:
        raise InputError(f"examples: {problem}")
