"""The compiled pipeline's format: dist/<pipeline>/workflow.tar.gz, the IR YAML inside a
tarball, as kfp.Client.upload_pipeline accepts it. `ci` writes it; deploys and runs read it."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

from mlops.core import yaml_text

PACKAGE = "workflow.tar.gz"
IR_NAME = "pipeline.yaml"


def write_package(ir_bytes: bytes, target: Path) -> None:
    """Writes the package whole or not at all (a temporary file, then a rename). The bytes
    depend on the IR alone (no time or file name in the gzip header), so writing the same IR
    again gives the same package, as a bucket that refuses changed content needs."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_target = target.with_suffix(".tmp")
    with (
        open(tmp_target, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        info = tarfile.TarInfo(IR_NAME)
        info.size = len(ir_bytes)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(ir_bytes))
    tmp_target.replace(target)


def read_package(package: Path) -> str:
    """The IR YAML inside a workflow.tar.gz."""
    with tarfile.open(package, "r:gz") as tar:
        member = tar.getmember(IR_NAME)
        return tar.extractfile(member).read().decode()


def images_of(ir: dict) -> tuple[str, ...]:
    """The container images a compiled pipeline's executors run."""
    executors = (ir.get("deploymentSpec") or {}).get("executors") or {}
    return tuple(sorted({e["container"]["image"] for e in executors.values() if "container" in e}))


def ir_documents(ir_text: str) -> list[dict]:
    """The documents of a compiled pipeline's YAML (the spec, then the platform spec if any)."""
    return [d for d in yaml_text.load_all(ir_text) if d is not None]
