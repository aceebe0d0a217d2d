"""`make mutation`: mutmut over the modules that decide, each against its own fast tests,
written to bench/results/mutation.json with every surviving mutant listed.

mutmut names a mutant after the module path of its file relative to where it runs, and the
tests import `mlops.x` and `evaluate_model.x` rather than `build.mlops.x`; so each module runs
in a scratch project (.local/mutation/<name>/) whose top level holds the module's package (a
link) beside links to everything else of the checkout, with a pyproject.toml of its own."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.core.errors import BuildError

RESULT = Path("bench") / "results" / "mutation.json"
# Reviewed survivors that no test can kill: the same behaviour written another way.
EQUIVALENT = Path(__file__).with_name("mutation_equivalent.json")
TARGET = 0.85
NOT_DOCKER = "not docker and not browser"


@dataclass(frozen=True)
class Target:
    name: str
    package: str  # the folder (relative to the checkout) that is importable as its last part
    module: str  # the mutated file, relative to the package's parent
    tests: tuple[str, ...]  # test files, relative to the checkout
    functions: tuple[str, ...] = ()  # only these functions (default: every one)
    copy: tuple[str, ...] = field(default=())  # extra folders the tests need inside mutants/


_MLOPS = "build/mlops"
TARGETS = (
    Target(
        "blessing",
        "components/evaluate_model/src/evaluate_model",
        "evaluate_model/blessing.py",
        ("components/evaluate_model/tests/test_blessing.py",),
        copy=("components/evaluate_model/tests",),
    ),
    Target(
        "data_gate",
        "components/validate_data/src/validate_data",
        "validate_data/validation.py",
        ("components/validate_data/tests/test_validation_rules.py",),
        copy=("components/validate_data/tests",),
    ),
    Target(
        "registry",
        "components/deploy_model/src/deploy_model",
        "deploy_model/registry.py",
        ("components/deploy_model/tests/test_registry.py",),
        # the serving state and its changes; pushing versions is storage
        functions=(
            "empty_state",
            "previous_stable",
            "Registry.read_serving",
            "Registry.update",
            "Registry.deploy",
            "Registry.check_canary",
            "Registry.promote",
            "Registry.ramp",
            "Registry.rollback",
        ),
        copy=("components/deploy_model/tests",),
    ),
    Target(
        "drift",
        _MLOPS,
        "mlops/triggers/drift.py",
        ("tests/triggers/test_drift_trigger.py", "tests/triggers/test_drift_decision_exact.py"),
    ),
    Target(
        "degradation",
        _MLOPS,
        "mlops/monitoring/degradation.py",
        ("tests/monitoring/test_degradation.py", "tests/monitoring/test_degradation_decision.py"),
        functions=("_decide", "version_verdict"),
    ),
    Target(
        "canary",
        _MLOPS,
        "mlops/monitoring/canary.py",
        (
            "tests/monitoring/test_canary_analysis.py",
            "tests/monitoring/test_canary_decision_exact.py",
        ),
    ),
    Target("spec_rewrite", _MLOPS, "mlops/ci/spec_rewrite.py", ("tests/ci/test_spec_rewrite.py",)),
    Target(
        "fingerprint", _MLOPS, "mlops/ci/build_inputs.py", ("tests/ci/test_build_inputs.py",)
    ),
)

# mutmut's exit codes per mutant (mutmut.stats.status_by_exit_code), folded into four counts.
_KILLED = {1, 3, 37, -11, -9}
_SURVIVED = {0}
_TIMEOUT = {36, 24, -24, 152, 255}
_NO_TESTS = {5, 33}


def status_of(code: int | None) -> str:
    if code in _KILLED:
        return "killed"
    if code in _SURVIVED:
        return "survived"
    if code in _TIMEOUT:
        return "timeout"
    if code in _NO_TESTS:
        return "no_tests"
    return "not_checked" if code is None else "suspicious"


def function_of(mutant: str) -> str:
    """`mlops.ci.x.x_render__mutmut_3` -> `render`; a method `xǁCǁm__mutmut_1` -> `C.m`."""
    mangled = mutant.rpartition(".")[2].partition("__mutmut_")[0]
    if "ǁ" in mangled:
        _, cls, method = mangled.split("ǁ")
        return f"{cls}.{method}"
    if not mangled.startswith("x_"):
        raise ValueError(f"not a mutmut mutant name: {mutant!r}")
    return mangled[2:]


def mutant_glob(target: Target, function: str) -> str:
    """mutmut's name pattern for the mutants of a function (`name` or `Class.name`)."""
    dotted = target.module.removesuffix(".py").replace("/", ".")
    cls, _, name = function.rpartition(".")
    mangled = f"xǁ{cls}ǁ{name}" if cls else f"x_{name}"
    return f"{dotted}.{mangled}__mutmut_*"


def selected(target: Target, mutant: str) -> bool:
    return not target.functions or function_of(mutant) in target.functions


def changed_lines(diff: str) -> tuple[str, str]:
    """The original and the mutated text of the lines a mutant changes (one line each for
    mutmut's operators; joined when a mutant spans more)."""
    lines = diff.splitlines()
    removed = [x[1:].strip() for x in lines if x.startswith("-") and not x.startswith("---")]
    added = [x[1:].strip() for x in lines if x.startswith("+") and not x.startswith("+++")]
    return " ".join(removed), " ".join(added)


def function_span(source: str, function: str) -> tuple[int, int]:
    """First and last line of a function (`name` or `Class.name`) in a module's source."""
    cls, _, name = function.rpartition(".")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and cls and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == name:
                    return item.lineno, item.end_lineno or item.lineno
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not cls:
            if node.name == name:
                return node.lineno, node.end_lineno or node.lineno
    raise ValueError(f"no function {function!r} in the module")


def _diff_line(diff: str) -> int | None:
    """The line of the first changed line counted from the function's first line (1), from
    the hunk header of mutmut's diff of the function."""
    hunk = None
    for line in diff.splitlines():
        if line.startswith("@@"):
            hunk = int(line.split()[1].split(",")[0].lstrip("-"))
            continue
        if hunk is None or line.startswith(("---", "+++")):
            continue
        if line.startswith("-"):
            return hunk
        if not line.startswith("+"):
            hunk += 1
    return None


def line_of(source: str, function: str, original: str, diff: str = "") -> int:
    """The line of the module where the mutated text stands: where the diff says when the
    source agrees, else the first line of the function holding the text (its first line
    when the text is not found)."""
    first, last = function_span(source, function)
    lines = source.splitlines()
    offset = _diff_line(diff)
    if offset is not None and first + offset - 1 <= last:
        there = lines[first + offset - 2].strip()
        if there and original.startswith(there):
            return first + offset - 1
    wanted = original.split(" ")[0] if original else ""
    for number in range(first, last + 1):
        if original and lines[number - 1].strip() == original:
            return number
    for number in range(first, last + 1):
        if wanted and lines[number - 1].strip().startswith(wanted):
            return number
    return first


def load_equivalent(path: Path = EQUIVALENT) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    entries = json.loads(path.read_text())
    for i, e in enumerate(entries):
        missing = {"module", "function", "original", "mutant", "reason"} - set(e)
        if missing:
            raise BuildError(f"{path}: entry {i} lacks {sorted(missing)}")
    return entries


def equivalence(reviewed: list[dict[str, str]], name: str, survivor: dict[str, Any]) -> str | None:
    """The reviewed reason when this survivor is a known equivalent mutant, else None. An
    entry's optional `context` (a line of the diff) tells apart the same change made twice in
    one function."""
    for e in reviewed:
        if (e["module"], e["function"], e["original"], e["mutant"]) == (
            name,
            survivor["function"],
            survivor["original"],
            survivor["mutant"],
        ) and e.get("context", "") in survivor.get("diff", ""):
            return e["reason"]
    return None


def summarise(
    target: Target,
    exit_codes: dict[str, int | None],
    diffs: dict[str, str],
    source: str,
    reviewed: list[dict[str, str]],
) -> dict[str, Any]:
    """One module's entry of mutation.json from mutmut's exit code per mutant and the diffs
    of the survivors."""
    counts = dict.fromkeys(("killed", "survived", "timeout", "no_tests", "other"), 0)
    survivors = []
    for mutant, code in sorted(exit_codes.items(), key=lambda kv: _order(kv[0])):
        if not selected(target, mutant):
            continue
        status = status_of(code)
        counts[status if status in counts else "other"] += 1
        if status in ("survived", "no_tests"):
            function = function_of(mutant)
            original, mutated = changed_lines(diffs.get(mutant, ""))
            entry = {
                "mutant": mutant.rpartition(".")[2],
                "status": status,
                "file": target.module,
                "function": function,
                "line": line_of(source, function, original, diffs.get(mutant, "")),
                "original": original,
                "mutant_line": mutated,
                "diff": diffs.get(mutant, ""),
            }
            reason = equivalence(
                reviewed, target.name, {**entry, "mutant": mutated}
            )
            if reason:
                entry["equivalent"] = reason
            survivors.append(entry)
    total = sum(counts.values())
    detected = counts["killed"] + counts["timeout"]
    equivalent = sum(1 for s in survivors if "equivalent" in s)
    return {
        "module": target.module,
        "functions": list(target.functions) or "all",
        "tests": list(target.tests),
        **counts,
        "total": total,
        "kill_ratio": round(detected / total, 4) if total else None,
        "equivalent": equivalent,
        "kill_ratio_without_equivalent": (
            round(detected / (total - equivalent), 4) if total - equivalent else None
        ),
        "survivors": survivors,
    }


def _order(mutant: str) -> tuple[str, int]:
    head, _, number = mutant.rpartition("__mutmut_")
    return head, int(number) if number.isdigit() else 0


def _pytest_section(root: Path, mutants: Path) -> dict[str, Any]:
    """The checkout's pytest settings with the import path pointed at the scratch copy: the
    mutated package first (mutmut's own path entry), the rest of the checkout after it."""
    ini = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    paths = [str(root / "build" / "base"), str(root), str(mutants / "tests" / "doubles")]
    return {**ini, "pythonpath": paths, "testpaths": []}


def _toml(tables: dict[str, dict[str, Any]]) -> str:
    # Strings, booleans and lists of strings only, for which JSON's spelling is TOML's.
    out = []
    for table, values in tables.items():
        out.append(f"[{table}]")
        out += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
        out.append("")
    return "\n".join(out)


def prepare(root: Path, target: Target, scratch: Path) -> None:
    """The scratch project: the package linked at the top, the checkout's other entries
    linked beside it, and the configuration of mutmut and pytest."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    package = Path(target.package).name
    for entry in root.iterdir():
        if entry.name not in {".git", ".local", ".venv", "pyproject.toml", package}:
            (scratch / entry.name).symlink_to(entry)
    (scratch / package).symlink_to(root / target.package)
    mutants = scratch / "mutants"
    only = [f"{package}/{target.module.partition('/')[2]}"]
    mutmut = {
        "source_paths": [package],
        "only_mutate": only,
        "also_copy": list(target.copy),
        "pytest_add_cli_args": ["-m", NOT_DOCKER, "-q", "-p", "no:warnings"],
        "pytest_add_cli_args_test_selection": list(target.tests),
        "use_git_change_detection": False,
    }
    (scratch / "pyproject.toml").write_text(
        _toml({"tool.mutmut": mutmut, "tool.pytest.ini_options": _pytest_section(root, mutants)})
    )


def _env(root: Path, target: Target) -> dict[str, str]:
    # The checkout's build/ stays off the path when the mutated package is mlops itself.
    paths = [root / "build" / "base", root]
    if not target.package == _MLOPS:
        paths.insert(0, root / "build")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(map(str, paths)),
        "TF_USE_LEGACY_KERAS": "1",
        # The scratch copy is no checkout: the tests' guard against changed tracked files
        # must not see the edits made to the real checkout while mutants run.
        "GIT_CEILING_DIRECTORIES": str(root / ".local" / "mutation"),
    }


def run_target(root: Path, target: Target, reviewed: list[dict[str, str]]) -> dict[str, Any]:
    scratch = root / ".local" / "mutation" / target.name
    prepare(root, target, scratch)
    env = _env(root, target)
    mutmut = [sys.executable, "-m", "mutmut"]
    names = [mutant_glob(target, f) for f in target.functions]
    started = time.monotonic()
    done = subprocess.run(
        [*mutmut, "run", "--max-children", str(os.cpu_count() or 2), *names],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = round(time.monotonic() - started, 1)
    meta = scratch / "mutants" / f"{Path(target.package).name}/{_rel(target)}.meta"
    if done.returncode != 0 or not meta.is_file():
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise BuildError(f"mutmut failed on {target.name} ({target.module}):\n{tail}")
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    wanted = [m for m, c in codes.items() if selected(target, m) and status_of(c) != "killed"]
    diffs = _diffs(mutmut, scratch, env, f"{Path(target.package).name}/{_rel(target)}", wanted)
    source = (root / target.package / _rel(target)).read_text()
    return {**summarise(target, codes, diffs, source, reviewed), "seconds": seconds}


# `mutmut show NAME` prints one diff per process start; this asks mutmut's own diff function
# for all of them at once.
_DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
path, names = sys.argv[1], sys.argv[2:]
print(json.dumps({n: get_diff_for_mutant(n, path=path) for n in names}))
"""


def _diffs(
    mutmut: list[str], scratch: Path, env: dict[str, str], path: str, names: list[str]
) -> dict[str, str]:
    if not names:
        return {}
    done = subprocess.run(
        [mutmut[0], "-c", _DIFFS, path, *names], cwd=scratch, env=env, capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BuildError(f"mutmut's diffs of {path} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def _rel(target: Target) -> str:
    return target.module.partition("/")[2]


def _mutmut_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mutmut")
    except PackageNotFoundError:
        raise BuildError(
            "mutmut is not installed in this environment; `make venv` installs the lock"
        ) from None


def run(root: Path, names: list[str] | None = None, out: Path | None = None) -> dict[str, Any]:
    """Runs the named modules (default: all) and writes the report; a run of some modules
    keeps the other modules' last results."""
    known = {t.name: t for t in TARGETS}
    unknown = sorted(set(names or ()) - set(known))
    if unknown:
        raise BuildError(f"unknown mutation targets {unknown}; known: {', '.join(known)}")
    tool = _mutmut_version()
    reviewed = load_equivalent()
    path = out or root / RESULT
    modules: dict[str, Any] = {}
    for name in names or known:
        try:
            modules[name] = run_target(root, known[name], reviewed)
        except BuildError as e:  # the other modules still run; the error is in the report
            modules[name] = {"module": known[name].module, "error": str(e)}
            print(f"[mutation] {name}: {e}", flush=True)
            continue
        print(f"[mutation] {name}: {_line(modules[name])}", flush=True)
    if names and path.is_file():  # read now: another run may have written meanwhile
        modules = {**json.loads(path.read_text()).get("modules", {}), **modules}
    modules = {n: modules[n] for n in known if n in modules}
    below = [
        n for n, m in modules.items() if (m.get("kill_ratio_without_equivalent") or 0) < TARGET
    ]
    result = {
        "tool": f"mutmut {tool}",
        "target_kill_ratio": TARGET,
        "kill_ratio": "(killed + timeout) / total; without_equivalent leaves out reviewed "
        "equivalent survivors (build/mlops/bench/mutation_equivalent.json)",
        "below_target": below,
        "modules": modules,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _line(m: dict[str, Any]) -> str:
    return (
        f"{m['killed']} killed, {m['survived']} survived, {m['timeout']} timeout, "
        f"{m['no_tests']} untested of {m['total']}: {m['kill_ratio']:.0%} "
        f"({m['equivalent']} equivalent), {m['seconds']} s"
    )

