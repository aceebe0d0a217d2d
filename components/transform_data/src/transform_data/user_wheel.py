"""The pipeline author's module as a wheel, for Beam runners whose workers run elsewhere
(Dataflow): passed as --extra_package, the workers pip-install it before running, so the
preprocessing_fn that Beam pickled by reference imports there too (TFX does the same)."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def build(files: tuple[Path, ...], out_dir: Path) -> Path:
    """A py3-none-any wheel holding the given .py files as top-level modules."""
    contents = {f.name: f.read_bytes() for f in files}
    digest = hashlib.sha256(b"".join(k.encode() + v for k, v in sorted(contents.items())))
    dist, version = f"user_module_{digest.hexdigest()[:12]}", "0.0.0"
    info = f"{dist}-{version}.dist-info"
    contents[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
        "Summary: preprocessing module of a transform_data step\n"
    ).encode()
    contents[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: transform_data\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = "".join(
        f"{name},{_record_hash(data)},{len(data)}\n" for name, data in contents.items()
    )
    contents[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in contents.items():
            z.writestr(name, data)
    return wheel
