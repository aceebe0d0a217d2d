"""Rewriting `implementation.container.image` in component.yaml files.

Only the characters of the image value change: comments, key order and formatting stay as
they were. Several files are written as one transaction: all land or none does; the target is
the file itself (CI's `make update-specs`) or a pinned copy (dist/components, `make build`)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from mlops.core.errors import BuildError

_PLAIN_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@")


def _child(node: yaml.Node, key: str, path: Path, where: str) -> yaml.Node:
    if not isinstance(node, yaml.MappingNode):
        raise BuildError(f"{path}: {where} is not a mapping")
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v
    raise BuildError(f"{path}: {where}.{key} is missing")


def image_span(text: str, path: Path) -> tuple[int, int]:
    """The character span of the image value in the YAML text."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        raise BuildError(f"{path}: does not parse as YAML: {e}") from e
    if root is None:
        raise BuildError(f"{path}: is empty")
    node = _child(root, "implementation", path, "(top level)")
    node = _child(node, "container", path, "implementation")
    node = _child(node, "image", path, "implementation.container")
    if not isinstance(node, yaml.ScalarNode):
        raise BuildError(f"{path}: implementation.container.image is not a string")
    return node.start_mark.index, node.end_mark.index


def _render(image: str) -> str:
    # A plain scalar when YAML reads it back unchanged, else a JSON string (valid YAML).
    if image and set(image) <= _PLAIN_SAFE and yaml.safe_load(image) == image:
        return image
    return json.dumps(image)


def with_image(text: str, image: str, path: Path) -> str:
    """text with its image value replaced; checks that nothing else changed meaning."""
    start, end = image_span(text, path)
    new_text = text[:start] + _render(image) + text[end:]
    before, after = yaml.safe_load(text), yaml.safe_load(new_text)
    before["implementation"]["container"]["image"] = image
    if before != after:  # defensive: the span logic must never alter other content
        raise BuildError(f"{path}: rewriting the image would change other content")
    return new_text


def read_image(path: Path) -> str:
    text = path.read_text()
    start, end = image_span(text, path)
    return str(yaml.safe_load(text[start:end]))


def rewrite_images(images: Mapping[Path, str]) -> list[Path]:
    """Sets the image of every given component.yaml in place, all or nothing (what CI does in
    its workspace). Returns the files that changed."""
    return write_specs([(path, path, image) for path, image in images.items()])


def write_specs(writes: Sequence[tuple[Path, Path, str]]) -> list[Path]:
    """For each (source, target, image): target gets source's text with its image set. The
    target is the source itself (in place) or a copy elsewhere (dist/components); all land or
    none does.

    Every new text is computed and staged beside its target first, so that bad input fails
    before any file changes; the staged files then replace the targets (a reader sees the old
    file or the new one, never half of it), and if any replacement fails the ones already
    replaced are restored. Returns the targets that changed."""
    originals: dict[Path, str | None] = {}  # None: the target did not exist
    staged: dict[Path, Path] = {}
    try:
        for source, target, image in writes:
            new_text = with_image(source.read_text(), image, source)
            old_text = target.read_text() if target.is_file() else None
            if new_text == old_text:
                continue
            originals[target] = old_text
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".component.yaml.", dir=target.parent)
            with os.fdopen(fd, "w") as f:
                f.write(new_text)
            os.chmod(tmp, source.stat().st_mode & 0o777)
            staged[target] = Path(tmp)
        replaced: list[Path] = []
        try:
            for target, tmp in staged.items():
                os.replace(tmp, target)
                replaced.append(target)
        except OSError as e:
            for done in replaced:
                if originals[done] is None:
                    done.unlink()
                else:
                    done.write_text(originals[done])
            raise BuildError(
                f"{target}: could not be replaced ({e}); no component.yaml changed"
            ) from e
        return replaced
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
