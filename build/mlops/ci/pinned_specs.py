"""The digest-pinned specs: dist/components/<name>/component.yaml is components/<name>/
component.yaml with its image set to the pushed image, REGISTRY/NAMESPACE/NAME:SHA@sha256:...

`make build` writes them there, so a local build leaves the checkout's tracked files as they
were; pipelines.component_store.default_store() finds them before components/, so the
pipelines compile from them. CI's `make update-specs` also rewrites components/ in place, in
its workspace (Figure 7 of the reference architecture, step 6). components/ stays the source
of truth: the contract check reads it, and a copy always equals its source but for the image."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from mlops.ci import spec_rewrite
from mlops.ci.components import SPEC_FILE, ComponentDir

PINNED_DIR = Path("dist") / "components"  # default_store() searches the same folder first


def pinned_path(root: Path, name: str) -> Path:
    return root / PINNED_DIR / name / SPEC_FILE


def spec_in_use(root: Path, name: str) -> Path:
    """The spec the pipelines compile with: the pinned copy when the build wrote one."""
    pinned = pinned_path(root, name)
    return pinned if pinned.is_file() else root / "components" / name / SPEC_FILE


def _drop_orphans(root: Path, names: set[str]) -> list[Path]:
    # A copy of a component removed from components/ would let a pipeline still load it.
    folder = root / PINNED_DIR
    if not folder.is_dir():
        return []
    orphans = [p for p in sorted(folder.iterdir()) if p.is_dir() and p.name not in names]
    for orphan in orphans:
        shutil.rmtree(orphan)
    return orphans


def write(
    root: Path, pins: Sequence[tuple[ComponentDir, str]], in_place: bool = False
) -> list[Path]:
    """Writes each component's pinned copy (and, in place, its component.yaml too), all files
    or none; copies of components that are gone are removed. Returns the files that changed."""
    writes = [(c.spec_path, pinned_path(root, c.name), image) for c, image in pins]
    if in_place:
        writes += [(c.spec_path, c.spec_path, image) for c, image in pins]
    changed = spec_rewrite.write_specs(writes)
    _drop_orphans(root, {c.name for c, _ in pins})
    return changed


def follow_sources(root: Path) -> tuple[list[Path], list[Path]]:
    """Brings each pinned copy in line with its component.yaml when that was edited since the
    build, keeping the pinned image, as a spec pinned in place keeps it (`make compile` and
    `make run-dev` without a rebuild); removes the copies whose component is gone. Returns
    (the copies rewritten, the folders removed)."""
    folder = root / PINNED_DIR
    if not folder.is_dir():
        return [], []
    stale, names = [], set()
    for pinned in sorted(folder.glob(f"*/{SPEC_FILE}")):
        source = root / "components" / pinned.parent.name / SPEC_FILE
        if not source.is_file():
            continue
        names.add(pinned.parent.name)
        image = spec_rewrite.read_image(pinned)
        if spec_rewrite.with_image(source.read_text(), image, source) != pinned.read_text():
            stale.append((source, pinned, image))
    return spec_rewrite.write_specs(stale), _drop_orphans(root, names)
