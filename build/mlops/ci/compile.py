"""`make compile`: each pipeline in pipelines/ compiled with kfp.compiler and packed as
dist/<pipeline>/workflow.tar.gz — the IR YAML inside a tarball, which
kfp.Client.upload_pipeline accepts.

A pipeline module is any pipelines/*_pipeline.py; it defines one @dsl.pipeline function. Its
components come from the ComponentStore, which finds the digest-pinned copies in
dist/components (mlops.ci.pinned_specs) before components/."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlops.ci import pinned_specs
from mlops.core.errors import BuildError
from mlops.core.pipeline_package import IR_NAME, PACKAGE, images_of, write_package


@dataclass(frozen=True)
class CompiledPipeline:
    name: str  # the module stem: dist/<name>/
    package: Path
    images: tuple[str, ...]


def pipeline_modules(root: Path) -> list[Path]:
    return sorted((root / "pipelines").glob("*_pipeline.py"))


def _load_pipeline(path: Path, root: Path):
    from kfp.dsl import graph_component

    # Imported afresh under a private name: the module loads its components through the
    # ComponentStore at import time, and must see the specs (pinned or not) as they are now.
    module_name = f"_mlops_compile_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    added = str(root) not in sys.path
    if added:
        sys.path.insert(0, str(root))
    previous_root = os.environ.get("MLOPS_ROOT")
    os.environ["MLOPS_ROOT"] = str(root)  # pipelines.component_store.default_store() reads it
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise BuildError(f"{path}: cannot be imported: {type(e).__name__}: {e}") from e
    finally:
        if added:
            sys.path.remove(str(root))
        if previous_root is None:
            os.environ.pop("MLOPS_ROOT", None)
        else:
            os.environ["MLOPS_ROOT"] = previous_root
    found = [
        v
        for k, v in vars(module).items()
        if isinstance(v, graph_component.GraphComponent) and not k.startswith("_")
    ]
    if len(found) != 1:
        names = ", ".join(getattr(f, "name", "?") for f in found) or "none"
        raise BuildError(f"{path}: must define exactly one @dsl.pipeline function (found: {names})")
    return found[0]


def compile_pipeline(path: Path, root: Path, out_dir: Path) -> CompiledPipeline:
    import yaml
    from kfp import compiler

    pipeline = _load_pipeline(path, root)
    with tempfile.TemporaryDirectory() as tmp:
        ir_path = Path(tmp) / IR_NAME
        try:
            compiler.Compiler().compile(pipeline_func=pipeline, package_path=str(ir_path))
        except Exception as e:
            raise BuildError(f"{path}: kfp cannot compile it: {type(e).__name__}: {e}") from e
        ir_bytes = ir_path.read_bytes()
    target = out_dir / path.stem / PACKAGE
    write_package(ir_bytes, target)
    return CompiledPipeline(path.stem, target, images_of(yaml.safe_load(ir_bytes)))


def compile_all(root: Path, out_dir: Path | None = None) -> list[CompiledPipeline]:
    out_dir = out_dir or root / "dist"
    modules = pipeline_modules(root)
    if not modules:
        raise BuildError(f"{root / 'pipelines'}: no *_pipeline.py to compile")
    followed, removed = pinned_specs.follow_sources(root)
    for path in followed:
        print(
            f"[compile] {path.relative_to(root)}: follows its component.yaml, edited since "
            "the build (the image stays the one last built)",
            flush=True,
        )
    for path in removed:
        print(f"[compile] {path.relative_to(root)}: removed, its component is gone", flush=True)
    results = []
    for path in modules:
        result = compile_pipeline(path, root, out_dir)
        print(
            f"[compile] {path.relative_to(root)} -> {result.package.relative_to(root)} "
            f"({len(result.images)} images)",
            flush=True,
        )
        results.append(result)
    return results
