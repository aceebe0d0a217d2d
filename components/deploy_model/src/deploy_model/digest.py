"""The content digest of a model folder: what makes two models the same model, whatever their
path or registry version. sha256 over every file's relative path and bytes, in sorted path
order, leaving out the registry's own record (version.json), so a candidate artifact and the
version pushed from it have the same digest."""

from __future__ import annotations

import hashlib
from pathlib import Path

VERSION_INFO = "version.json"
_CHUNK = 1 << 20


def content_digest(folder: str | Path, ignore: frozenset[str] = frozenset()) -> str:
    """The digest, sha256:<hex>, of folder's files but version.json (and the relative paths
    in ignore)."""
    root = Path(folder)
    skip = {VERSION_INFO, *ignore}
    files = sorted(
        (p.relative_to(root).as_posix(), p)
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).as_posix() not in skip
    )
    h = hashlib.sha256()
    for rel, path in files:
        # Path and length first, so no two different folders feed the same byte stream.
        name = rel.encode()
        h.update(len(name).to_bytes(8, "big") + name)
        h.update(path.stat().st_size.to_bytes(8, "big"))
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    return f"sha256:{h.hexdigest()}"
