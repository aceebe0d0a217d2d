"""Rewriting `implementation.container.image` in component.yaml files.

Only the characters of the image value change: comments, key order and formatting stay as
they were. Several files are rewritten as one transaction: all land or none does."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
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
    """Sets the image of every given component.yaml, all or nothing.

    Every new text is computed and staged beside its file first, so that bad input fails
    before any file changes; the staged files then replace the originals, and if any
    replacement fails the ones already replaced are restored. Returns the files that changed.
    """
    originals: dict[Path, str] = {}
    staged: dict[Path, Path] = {}
    try:
        for path, image in images.items():
            text = path.read_text()
            new_text = with_image(text, image, path)
            if new_text == text:
                continue
            originals[path] = text
            fd, tmp = tempfile.mkstemp(prefix=".component.yaml.", dir=path.parent)
            with os.fdopen(fd, "w") as f:
                f.write(new_text)
            os.chmod(tmp, path.stat().st_mode & 0o777)
            staged[path] = Path(tmp)
        replaced: list[Path] = []
        try:
            for path, tmp in staged.items():
                os.replace(tmp, path)
                replaced.append(path)
        except OSError as e:
            for path in replaced:
                path.write_text(originals[path])
            raise BuildError(
                f"{path}: could not be replaced ({e}); no component.yaml changed"
            ) from e
        return replaced
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
