"""Which files the UI may serve, and listing them: only under the project's local runs
(dist/local_runs) and a local model registry. Every path is resolved (symlinks followed,
`..` removed) before it is checked, so nothing outside those folders is ever read."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

MAX_LISTED = 500  # files listed per artifact; a larger folder says how many more there are
# Shown as text in the browser whatever their extension says (logs, records, schemas).
TEXT_SUFFIXES = {
    ".log", ".txt", ".json", ".jsonl", ".pbtxt", ".md", ".csv", ".yaml", ".yml", ".py", ".cfg",
}  # fmt: skip


class NotServed(LookupError):
    """A path the UI does not serve (outside the allowed folders, or absent)."""


@dataclass(frozen=True)
class Listed:
    relative: str  # the path below the listed folder, with /
    size: int


def allowed_roots(root: Path, registry: str | None) -> list[Path]:
    roots = [root / "dist" / "local_runs"]
    if registry and "://" not in registry:
        roots.append(Path(registry))
    return [r.resolve() for r in roots]


def inside(path: Path, roots: list[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved == r or resolved.is_relative_to(r) for r in roots)


def checked(path: Path | str, roots: list[Path], below: Path | None = None) -> Path:
    """`path` resolved, when it exists inside one of `roots` (and inside `below`, e.g. the
    artifact whose file it is); NotServed otherwise."""
    if "://" in str(path):
        raise NotServed(f"{path}: not a local path")
    resolved = Path(path).resolve()
    if not inside(resolved, roots):
        raise NotServed(f"{path}: outside the folders the UI serves")
    if below is not None and not (
        resolved == below.resolve() or resolved.is_relative_to(below.resolve())
    ):
        raise NotServed(f"{path}: outside {below}")
    if not resolved.exists():
        raise NotServed(f"{path}: no such file")
    return resolved


def below(base: Path, relative: str) -> Path:
    """base/relative, refusing absolute parts (they would replace base)."""
    if relative.startswith("/") or "\\" in relative:
        raise NotServed(f"{relative}: not a relative path")
    return base / relative


def listing(folder: Path, roots: list[Path], limit: int = MAX_LISTED) -> tuple[list[Listed], int]:
    """The files under `folder` (itself, when a file) that may be served, in path order,
    at most `limit` of them; and how many there are in all."""
    if not inside(folder, roots) or not folder.exists():
        return [], 0
    if folder.is_file():
        return [Listed(folder.name, folder.stat().st_size)], 1
    files = sorted(p for p in folder.rglob("*") if p.is_file() and inside(p, roots))
    shown = [Listed(str(p.relative_to(folder)), p.stat().st_size) for p in files[:limit]]
    return shown, len(files)


def mimetype(path: Path) -> str:
    if is_html(path):
        return "text/html; charset=utf-8"
    if path.suffix in TEXT_SUFFIXES or not path.suffix and _looks_textual(path):
        return "text/plain; charset=utf-8"
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def _looks_textual(path: Path) -> bool:
    """A small file without a suffix (a BLESSED marker, a decision) that decodes as text."""
    try:
        if path.stat().st_size > 1 << 16:
            return False
        path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return True


def is_html(path: Path) -> bool:
    """An HTML report: a .html file, or a suffix-less one (a KFP HTML artifact) starting so."""
    if path.suffix in (".html", ".htm"):
        return True
    if path.suffix or not path.is_file():
        return False
    with path.open("rb") as f:
        head = f.read(512).lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))
