"""Tests for pipelines.component_store (real files, real HTTP server, no mocks)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops.core.paths import REPO
from pipelines.component_store import (
    ComponentLoadError,
    ComponentNotFoundError,
    ComponentRef,
    ComponentStore,
    default_store,
)

COMPONENT_TEMPLATE = """\
name: {spec_name}
description: {description}
inputs:
- {{name: {input_name}, type: String}}
outputs:
- {{name: greeting, type: Artifact}}
implementation:
  container:
    image: localhost:5000/mlops/hello:latest
    command: [python, -m, hello.main]
    args: [--{input_name}, {{inputValue: {input_name}}}, --greeting, {{outputPath: greeting}}]
"""


def write_component(
    root: Path,
    folder: str,
    spec_name: str = "Hello",
    description: str = "Says hello.",
    input_name: str = "message",
) -> Path:
    path = root / folder / "component.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        COMPONENT_TEMPLATE.format(
            spec_name=spec_name, description=description, input_name=input_name
        ),
        encoding="utf-8",
    )
    return path


def input_names(component) -> list:
    return list(component.component_spec.inputs or {})


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass  # keep pytest output clean


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple]:
    """Serve a tmp dir over real HTTP on 127.0.0.1; yields (directory, base URL)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield served, f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# -- loading by name -------------------------------------------------------------------------


def test_load_component_by_name(tmp_path: Path) -> None:
    write_component(tmp_path, "hello")
    store = ComponentStore(local_search_paths=[tmp_path])

    component = store.load_component("hello")

    assert component.name == "hello"  # kfp sanitizes the spec name "Hello"
    assert input_names(component) == ["message"]
    assert list(component.component_spec.outputs) == ["greeting"]


def test_first_search_path_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_component(first, "hello", spec_name="First", input_name="from_first")
    write_component(second, "hello", spec_name="Second", input_name="from_second")
    write_component(second, "only_second", spec_name="Only Second")

    store = ComponentStore(local_search_paths=[first, second])

    assert input_names(store.load_component("hello")) == ["from_first"]
    assert store.load_component("only_second").name == "only-second"


def test_local_paths_searched_before_url_prefixes(tmp_path: Path, http_root) -> None:
    served, base_url = http_root
    write_component(served, "hello", input_name="from_url")
    local = tmp_path / "local"
    write_component(local, "hello", input_name="from_disk")

    store = ComponentStore(local_search_paths=[local], url_search_prefixes=[base_url + "/"])

    assert input_names(store.load_component("hello")) == ["from_disk"]


def test_rewritten_component_is_loaded_fresh(tmp_path: Path) -> None:
    write_component(tmp_path, "hello", input_name="before")
    store = ComponentStore(local_search_paths=[tmp_path])
    assert input_names(store.load_component("hello")) == ["before"]

    write_component(tmp_path, "hello", input_name="after")

    assert input_names(store.load_component("hello")) == ["after"]


def test_load_component_from_file_passthrough(tmp_path: Path) -> None:
    path = write_component(tmp_path, "hello")
    component = ComponentStore().load_component_from_file(path)
    assert input_names(component) == ["message"]


# -- list / search ---------------------------------------------------------------------------


def test_list_returns_sorted_refs_and_skips_folders_without_component(tmp_path: Path) -> None:
    write_component(tmp_path, "train_model", spec_name="Train Model", description="Fits it.")
    hello = write_component(tmp_path, "hello", spec_name="Hello", description="Says hello.")
    (tmp_path / "not_a_component").mkdir()
    (tmp_path / "not_a_component" / "README.md").write_text("nothing here\n")
    (tmp_path / "stray_file.yaml").write_text("name: stray\n")

    refs = ComponentStore(local_search_paths=[tmp_path]).list()

    assert [ref.name for ref in refs] == ["hello", "train_model"]
    assert refs[0] == ComponentRef(
        name="hello", spec_name="Hello", description="Says hello.", location=str(hello)
    )
    assert refs[1].spec_name == "Train Model"
    with pytest.raises(AttributeError):
        refs[0].name = "changed"  # frozen


def test_list_reports_first_search_path_for_duplicates(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first_file = write_component(first, "hello")
    write_component(second, "hello")
    write_component(second, "bye", spec_name="Bye")

    refs = ComponentStore(local_search_paths=[first, second, tmp_path / "missing"]).list()

    assert [ref.name for ref in refs] == ["bye", "hello"]
    assert refs[1].location == str(first_file)


def test_list_raises_naming_unparseable_file(tmp_path: Path) -> None:
    write_component(tmp_path, "hello")
    bad = tmp_path / "broken" / "component.yaml"
    bad.parent.mkdir()
    bad.write_text("name: broken\n  inputs: [\n")

    with pytest.raises(ComponentLoadError, match="broken") as excinfo:
        ComponentStore(local_search_paths=[tmp_path]).list()
    assert str(bad) in str(excinfo.value)


def test_search_matches_name_spec_name_and_description_case_insensitively(
    tmp_path: Path,
) -> None:
    write_component(tmp_path, "extract_data", spec_name="Extract Data", description="Reads CSV.")
    write_component(tmp_path, "train", spec_name="Trainer", description="Fits a Keras model.")
    write_component(tmp_path, "hello", spec_name="Hello", description="Says hello.")
    store = ComponentStore(local_search_paths=[tmp_path])

    assert [ref.name for ref in store.search("EXTRACT")] == ["extract_data"]  # folder name
    assert [ref.name for ref in store.search("trainer")] == ["train"]  # spec name only
    assert [ref.name for ref in store.search("keras")] == ["train"]  # description
    assert [ref.name for ref in store.search("s")] == ["extract_data", "hello", "train"]
    assert store.search("nothing matches this") == []


# -- errors ----------------------------------------------------------------------------------


def test_missing_component_names_locations_and_near_match(tmp_path: Path) -> None:
    components = tmp_path / "components"
    write_component(components, "extract_data")
    write_component(components, "train_model")
    store = ComponentStore(local_search_paths=[components])

    with pytest.raises(ComponentNotFoundError) as excinfo:
        store.load_component("extract_dat")

    error = excinfo.value
    assert isinstance(error, LookupError)
    message = str(error)
    assert "'extract_dat'" in message
    assert str(components) in message
    assert "did you mean: extract_data?" in message
    assert error.suggestions == ["extract_data"]


def test_url_prefixes_get_trailing_slash() -> None:
    store = ComponentStore(url_search_prefixes=["http://example.invalid/c", "http://x.invalid/"])
    assert store.url_search_prefixes == ["http://example.invalid/c/", "http://x.invalid/"]


def test_near_match_normalizes_case_and_dashes(tmp_path: Path) -> None:
    write_component(tmp_path, "extract_data")

    with pytest.raises(ComponentNotFoundError, match="did you mean: extract_data"):
        ComponentStore(local_search_paths=[tmp_path]).load_component("Extract-Data")


def test_missing_component_without_near_match(tmp_path: Path) -> None:
    write_component(tmp_path, "hello")

    with pytest.raises(ComponentNotFoundError) as excinfo:
        ComponentStore(local_search_paths=[tmp_path]).load_component("zzzzzz")
    assert "did you mean" not in str(excinfo.value)
    assert excinfo.value.suggestions == []


def test_bad_yaml_raises_component_load_error_naming_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken" / "component.yaml"
    bad.parent.mkdir()
    bad.write_text("name: broken\n  inputs: [\n")

    with pytest.raises(ComponentLoadError) as excinfo:
        ComponentStore(local_search_paths=[tmp_path]).load_component("broken")

    assert isinstance(excinfo.value, ValueError)
    assert str(bad) in str(excinfo.value)
    assert excinfo.value.location == str(bad)


def test_invalid_spec_raises_component_load_error(tmp_path: Path) -> None:
    bad = tmp_path / "no_impl" / "component.yaml"
    bad.parent.mkdir()
    bad.write_text("name: No Implementation\ndescription: missing everything\n")

    with pytest.raises(ComponentLoadError, match="no_impl"):
        ComponentStore(local_search_paths=[tmp_path]).load_component("no_impl")


@pytest.mark.parametrize("name", ["", "   ", "/etc/passwd", "../outside", "a/../../b", ".."])
def test_invalid_names_are_rejected(tmp_path: Path, name: str) -> None:
    store = ComponentStore(local_search_paths=[tmp_path])
    with pytest.raises(ValueError):
        store.load_component(name)


def test_invalid_name_is_not_a_load_or_lookup_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as excinfo:
        ComponentStore(local_search_paths=[tmp_path]).load_component("../x")
    assert not isinstance(excinfo.value, (ComponentLoadError, LookupError))


# -- URL prefixes (real HTTP server) ---------------------------------------------------------


def test_load_component_over_url(http_root) -> None:
    served, base_url = http_root
    write_component(served / "components", "hello", input_name="from_http")
    # No trailing '/': the store must add it.
    store = ComponentStore(url_search_prefixes=[base_url + "/components"])

    component = store.load_component("hello")

    assert component.name == "hello"
    assert input_names(component) == ["from_http"]


def test_later_url_prefix_used_when_earlier_lacks_component(http_root) -> None:
    served, base_url = http_root
    write_component(served / "b", "hello", input_name="from_b")
    (served / "a").mkdir()

    store = ComponentStore(url_search_prefixes=[base_url + "/a/", base_url + "/b/"])

    assert input_names(store.load_component("hello")) == ["from_b"]


def test_missing_url_component_raises_not_found(tmp_path: Path, http_root) -> None:
    served, base_url = http_root
    write_component(served, "hello")
    local = tmp_path / "local"
    local.mkdir()
    prefix = base_url + "/"

    with pytest.raises(ComponentNotFoundError) as excinfo:
        ComponentStore(local_search_paths=[local], url_search_prefixes=[prefix]).load_component(
            "nope"
        )
    message = str(excinfo.value)
    assert "'nope'" in message
    assert prefix in message
    assert str(local) in message


def test_bad_yaml_over_url_raises_component_load_error_naming_url(http_root) -> None:
    served, base_url = http_root
    (served / "broken").mkdir()
    (served / "broken" / "component.yaml").write_text("name: broken\n  inputs: [\n")

    with pytest.raises(ComponentLoadError) as excinfo:
        ComponentStore(url_search_prefixes=[base_url]).load_component("broken")
    assert f"{base_url}/broken/component.yaml" in str(excinfo.value)


def test_load_component_from_url_passthrough(http_root) -> None:
    served, base_url = http_root
    write_component(served, "hello")
    component = ComponentStore().load_component_from_url(f"{base_url}/hello/component.yaml")
    assert input_names(component) == ["message"]


# -- default store ---------------------------------------------------------------------------


def test_default_store_uses_components_under_root(tmp_path: Path) -> None:
    write_component(tmp_path / "components", "hello")
    store = default_store(tmp_path)
    assert store.local_search_paths == [tmp_path / "dist" / "components", tmp_path / "components"]
    assert store.load_component("hello").name == "hello"  # a fresh clone: no dist/ yet


def test_default_store_finds_the_pinned_copy_first(tmp_path: Path) -> None:
    from mlops.ci.pinned_specs import PINNED_DIR

    write_component(tmp_path / "components", "hello")
    write_component(tmp_path / "components", "bye")
    pinned = write_component(tmp_path / PINNED_DIR, "hello", input_name="pinned_message")
    store = default_store(tmp_path)
    assert input_names(store.load_component("hello")) == ["pinned_message"]
    assert input_names(store.load_component("bye")) == ["message"]  # not pinned: the source
    assert {r.name: r.location for r in store.list()} == {
        "bye": str(tmp_path / "components" / "bye" / "component.yaml"),
        "hello": str(pinned),
    }


def test_default_store_defaults_to_repo_root() -> None:
    repo_root = REPO
    assert default_store().local_search_paths == [
        repo_root / "dist" / "components",
        repo_root / "components",
    ]
