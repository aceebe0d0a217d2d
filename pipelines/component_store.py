"""A KFP v1-style ComponentStore built on the kfp v2 component loaders.

kfp 1.x shipped ``kfp.components.ComponentStore``; kfp 2 dropped it. Pipelines in this repo
load every component through this module so that component lookup (search paths, URL
prefixes, error messages) lives in one place.

A component named ``NAME`` lives at ``<local_search_path>/NAME/component.yaml`` or at
``<url_search_prefix>NAME/component.yaml``.
"""

from __future__ import annotations

import builtins
import difflib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import requests
import yaml
from kfp import components as kfp_components
from kfp.dsl.yaml_component import YamlComponent

__all__ = [
    "COMPONENT_FILE_NAME",
    "ComponentLoadError",
    "ComponentNotFoundError",
    "ComponentRef",
    "ComponentStore",
    "default_store",
]

COMPONENT_FILE_NAME = "component.yaml"
# Where the build writes the digest-pinned copies (mlops.ci.pinned_specs.PINNED_DIR).
PINNED_SEARCH_PATH = PurePosixPath("dist", "components")

# HTTP statuses that mean "no component under this prefix", so the search moves on.
# Anything else (5xx, 401, connection failures) is a real problem and is raised.
_NOT_FOUND_STATUSES = frozenset({404, 410})

PathLike = str | os.PathLike[str]


class ComponentNotFoundError(LookupError):
    """No search location has a component with the requested name."""

    def __init__(self, name: str, locations: Sequence[str], suggestions: Sequence[str]) -> None:
        self.name = name
        self.locations = list(locations)
        self.suggestions = list(suggestions)
        if self.locations:
            where = "not found in " + ", ".join(self.locations)
        else:
            where = "not found (no search locations configured)"
        message = f"component {name!r} {where}"
        if self.suggestions:
            message += f" ; did you mean: {', '.join(self.suggestions)}?"
        super().__init__(message)


class ComponentLoadError(ValueError):
    """kfp could not load a component file (bad YAML or an invalid component spec)."""

    def __init__(self, location: str, cause: BaseException) -> None:
        self.location = location
        self.cause = cause
        # KeyError/AttributeError messages from kfp are terse (e.g. "'pipelineInfo'"), so the
        # exception type is kept in the message to make them intelligible.
        super().__init__(
            f"failed to load component from {location}: {type(cause).__name__}: {cause}"
        )


@dataclass(frozen=True)
class ComponentRef:
    """A component found under a local search path."""

    name: str  # folder name, i.e. what load_component() takes
    spec_name: str  # the ``name:`` field of component.yaml
    description: str  # "" when the spec has none
    location: str  # path (or URL) of component.yaml


def _load_or_wrap(location: str, load: Callable[[], YamlComponent]) -> YamlComponent:
    """Call a kfp loader, turning its parse/validation errors into ComponentLoadError."""
    try:
        return load()
    except OSError:
        # Missing files and network failures (requests' exceptions are OSErrors) are not
        # spec problems; callers decide what they mean.
        raise
    except Exception as exc:  # kfp raises YAMLError, ValueError, KeyError, TypeError, ...
        raise ComponentLoadError(location, exc) from exc


def _validate_name(name: str) -> str:
    """Return the normalized relative name, or raise ValueError."""
    if not isinstance(name, str):
        raise ValueError(f"component name must be a string, got {type(name).__name__}")
    if not name.strip():
        raise ValueError("component name must not be empty")
    if os.path.isabs(name) or name.startswith(("/", "\\")):
        raise ValueError(f"component name must be a relative folder name, got {name!r}")
    if ".." in name:
        raise ValueError(f"component name must not contain '..', got {name!r}")
    normalized = PurePosixPath(name.replace("\\", "/")).as_posix()
    if normalized == ".":
        raise ValueError(f"component name must name a folder, got {name!r}")
    return normalized


def _normalize_for_matching(name: str) -> str:
    return name.lower().replace("-", "_")


def _near_matches(name: str, known: Iterable[str]) -> list[str]:
    """Close matches for ``name``, ignoring case and '-' vs '_'."""
    by_normalized: dict[str, str] = {}
    for candidate in known:
        by_normalized.setdefault(_normalize_for_matching(candidate), candidate)
    matches = difflib.get_close_matches(_normalize_for_matching(name), list(by_normalized))
    return [by_normalized[m] for m in matches]


class ComponentStore:
    """Finds and loads components from local folders and URL prefixes (KFP v1 API)."""

    def __init__(
        self,
        local_search_paths: Sequence[PathLike] | None = None,
        url_search_prefixes: Sequence[str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> None:
        """Local paths are searched first, in order, then URL prefixes.

        ``auth`` is a ``(user, password)`` tuple passed to requests for URL loads.
        """
        if isinstance(local_search_paths, (str, os.PathLike)):
            # A bare string would otherwise be iterated character by character.
            raise TypeError("local_search_paths must be a sequence of paths, not a single path")
        if isinstance(url_search_prefixes, str):
            raise TypeError("url_search_prefixes must be a sequence of strings, not a string")
        self.local_search_paths: list[Path] = [Path(p) for p in (local_search_paths or [])]
        self.url_search_prefixes: list[str] = [
            p if p.endswith("/") else p + "/" for p in (url_search_prefixes or [])
        ]
        self.auth = auth

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(local_search_paths={[str(p) for p in self.local_search_paths]}"
            f", url_search_prefixes={self.url_search_prefixes})"
        )

    # -- loading ---------------------------------------------------------------------------

    def load_component(self, name: str) -> YamlComponent:
        """Load component ``name`` from the first search location that has it.

        Nothing is cached: CI may rewrite component.yaml between calls, so each call reads
        the file (or URL) again.

        Raises:
            ValueError: ``name`` is empty, absolute or contains '..'.
            ComponentNotFoundError: no search location has the component.
            ComponentLoadError: the component file exists but kfp cannot load it.
        """
        name = _validate_name(name)
        for search_path in self.local_search_paths:
            path = search_path / name / COMPONENT_FILE_NAME
            if path.is_file():
                return self.load_component_from_file(str(path))
        for prefix in self.url_search_prefixes:
            url = f"{prefix}{name}/{COMPONENT_FILE_NAME}"
            try:
                return self.load_component_from_url(url)
            except requests.HTTPError as exc:
                response = exc.response
                if response is not None and response.status_code in _NOT_FOUND_STATUSES:
                    continue
                raise
        raise ComponentNotFoundError(
            name, self._searched_locations(), _near_matches(name, self._local_names())
        )

    def load_component_from_file(self, path: PathLike) -> YamlComponent:
        """Load a component from a file path (kfp v2 loader; kfp errors -> ComponentLoadError)."""
        path_str = os.fspath(path)
        return _load_or_wrap(path_str, lambda: kfp_components.load_component_from_file(path_str))

    def load_component_from_url(
        self, url: str, auth: tuple[str, str] | None = None
    ) -> YamlComponent:
        """Load a component from a URL, using the store's ``auth`` unless one is given."""
        auth = auth if auth is not None else self.auth
        return _load_or_wrap(url, lambda: kfp_components.load_component_from_url(url, auth=auth))

    # -- discovery -------------------------------------------------------------------------

    def list(self) -> builtins.list[ComponentRef]:
        """Every component directly under the local search paths, sorted by name.

        URL prefixes cannot be enumerated over plain HTTP, so they are not listed. When a
        name exists in several search paths only the one load_component() would use is
        returned. Folders without component.yaml are skipped.

        Raises:
            ComponentLoadError: a component.yaml does not parse or is not a valid spec.
        """
        refs = [self._describe(name, path) for name, path in self._iter_local()]
        return sorted(refs, key=lambda ref: ref.name)

    def search(self, query: str) -> builtins.list[ComponentRef]:
        """Components whose name, spec_name or description contains ``query`` (any case).

        Unlike kfp v1, which printed matches, this returns them and has no side effects.
        """
        needle = query.casefold()
        return [
            ref
            for ref in self.list()
            if needle in ref.name.casefold()
            or needle in ref.spec_name.casefold()
            or needle in ref.description.casefold()
        ]

    # -- helpers ---------------------------------------------------------------------------

    def _searched_locations(self) -> builtins.list[str]:
        return [os.path.join(str(p), "") for p in self.local_search_paths] + list(
            self.url_search_prefixes
        )

    def _iter_local(self) -> Iterator[tuple[str, Path]]:
        """(name, component.yaml path) pairs, first search path winning on duplicates."""
        seen = set()
        for search_path in self.local_search_paths:
            if not search_path.is_dir():
                continue
            for folder in sorted(search_path.iterdir()):
                component_file = folder / COMPONENT_FILE_NAME
                if folder.name in seen or not component_file.is_file():
                    continue
                seen.add(folder.name)
                yield folder.name, component_file

    def _local_names(self) -> builtins.list[str]:
        # Names only: suggestions for a missing component must not fail because some
        # unrelated component.yaml is broken, so nothing is parsed here.
        return [name for name, _ in self._iter_local()]

    def _describe(self, name: str, path: Path) -> ComponentRef:
        location = str(path)
        text = path.read_text(encoding="utf-8")
        # Validate with kfp so list() surfaces broken specs the same way load_component does.
        component = _load_or_wrap(location, lambda: kfp_components.load_component_from_text(text))
        # kfp sanitizes the name ("Hello World" -> "hello-world"); the raw field is what
        # people search for. kfp v2 IR files have no top-level name, so fall back to kfp's.
        raw = next(yaml.safe_load_all(text), None)
        raw = raw if isinstance(raw, dict) else {}
        spec = component.component_spec
        spec_name = raw.get("name") if isinstance(raw.get("name"), str) else spec.name
        description = raw.get("description")
        if not isinstance(description, str):
            description = spec.description or ""
        return ComponentRef(
            name=name, spec_name=spec_name, description=description, location=location
        )


def default_store(root: PathLike | None = None) -> ComponentStore:
    """Store searching ``<root>/dist/components``, then ``<root>/components``: the build writes
    each component.yaml pinned to its image by digest into dist/components (and leaves the
    checkout's files alone), so pipelines use the pinned copies once there are any. root
    defaults to $MLOPS_ROOT, which the build sets while it compiles another checkout's
    pipelines, else to this repository's root."""
    if root is None:
        root = os.environ.get("MLOPS_ROOT") or Path(__file__).resolve().parent.parent
    repo_root = Path(root)
    return ComponentStore(
        local_search_paths=[repo_root / PINNED_SEARCH_PATH, repo_root / "components"]
    )
