"""The tooling's rooms (build/mlops): each sub-package says what it owns, imports flow one way
(cli -> verbs -> concerns -> core), and no package reaches into another's private names.
Read from the sources with `ast`, so a function-level import counts as much as a top one."""

import ast
from pathlib import Path

import pytest

from mlops.core.paths import REPO

PACKAGE = REPO / "build" / "mlops"

# What each room may import besides itself. The order is the architecture: a room sees only
# rooms listed before it. `cli` may import any room; `testing` and `bench` sit at the top
# because they drive the others.
ALLOWED = {
    "core": set(),
    "ci": {"core"},
    "deploy": {"core", "ci"},
    "lineage": {"core"},
    "local_runs": {"core", "ci", "lineage"},
    "serving": {"core", "ci"},
    "ct": {"core", "ci", "lineage", "local_runs", "serving"},
    "triggers": {"core", "deploy", "lineage", "local_runs", "ct"},
    "monitoring": {"core", "lineage", "serving", "triggers"},
    "ui": {"core", "lineage", "monitoring"},
    "usecases": {"core"},
    "testing": {"core", "ci", "local_runs"},
    "bench": {"core", "ci", "lineage", "local_runs", "serving", "ct", "testing"},
}
TOP_MODULES = {"__init__", "__main__", "cli"}


def _rooms() -> list[str]:
    """Every folder of the package holding Python files (a room without __init__.py too)."""
    return sorted({p.parent.name for p in PACKAGE.glob("*/*.py")})


def _room_of(module: str) -> str | None:
    """mlops.<room>.x -> room; mlops.cli -> 'cli'; anything outside mlops -> None."""
    parts = module.split(".")
    if parts[0] != "mlops":
        return None
    return parts[1] if len(parts) > 1 else "mlops"


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, names imported from it, line) for every import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, [a.name for a in node.names], node.lineno))
    return found


def _sources(folder: Path) -> list[Path]:
    """The tooling's Python files; the scaffold's templates are text, not modules."""
    return sorted(p for p in folder.rglob("*.py") if "templates" not in p.relative_to(folder).parts)


def _room_files(room: str) -> list[Path]:
    return _sources(PACKAGE / room)


def test_the_rooms_are_the_ones_the_architecture_names():
    assert _rooms() == sorted(ALLOWED)
    assert {p.stem for p in PACKAGE.glob("*.py")} == TOP_MODULES


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_each_room_opens_with_a_one_line_docstring(room):
    doc = ast.get_docstring(ast.parse((PACKAGE / room / "__init__.py").read_text()))
    assert doc and "\n" not in doc.strip(), f"mlops.{room}: one line saying what it owns"


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_imports_flow_one_way(room):
    wrong = []
    for path in _room_files(room):
        for module, _, line in _imports(path):
            target = _room_of(module)
            if target is None or target == room:
                continue
            if target not in ALLOWED[room]:
                wrong.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert wrong == [], f"mlops.{room} may import only {sorted(ALLOWED[room])}"


def test_the_allowed_imports_have_no_cycle():
    order: list[str] = []
    pending = dict(ALLOWED)
    while pending:
        ready = [r for r, deps in pending.items() if deps <= set(order)]
        assert ready, f"a cycle among {sorted(pending)}"
        order += sorted(ready)
        for r in ready:
            del pending[r]


def test_no_room_imports_the_command_line():
    wrong = [
        f"{path.relative_to(REPO)}:{line}"
        for room in ALLOWED
        for path in _room_files(room)
        for module, names, line in _imports(path)
        if module in ("mlops.cli", "mlops.__main__") or (module == "mlops" and "cli" in names)
    ]
    assert wrong == []


def test_no_module_imports_another_rooms_private_names():
    """A leading underscore is a room's own business: used elsewhere, it must be made public
    (or moved) first. Tests may reach in; the tooling may not."""
    wrong = []
    for path in _sources(PACKAGE):
        here = path.relative_to(PACKAGE).parts[0]
        for module, names, line in _imports(path):
            room = _room_of(module)
            if room is None or room == here:
                continue
            private = [n for n in names if n.startswith("_")]
            private += [p for p in module.split(".") if p.startswith("_") and p != "__main__"]
            if private:
                wrong.append(f"{path.relative_to(REPO)}:{line}: {module} {private}")
    assert wrong == []


def test_the_checks_see_a_wrong_import(tmp_path):
    """The rule itself can fail: a core module importing a room above it is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from mlops.ct.ct_run import run\n    from mlops.ci import _x\n")
    found = _imports(bad)
    assert [(m, n) for m, n, _ in found] == [("mlops.ct.ct_run", ["run"]), ("mlops.ci", ["_x"])]
    assert _room_of("mlops.ct.ct_run") == "ct" and "ct" not in ALLOWED["core"]
