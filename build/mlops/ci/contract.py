"""The contract check: each component.yaml loads with kfp, sets its image, and agrees with the
command-line interface of its Python entrypoint both ways.

Convention (the scaffold follows it): the container command is `python -m <module>`, the
module defines `build_parser() -> argparse.ArgumentParser`, and every input and output is
passed as `--flag {inputValue|inputPath|outputPath: name}`, optional inputs inside an
`{if: {cond: {isPresent: name}, then: [...]}}` block."""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from typing import Any

from mlops.ci.components import ComponentDir

_PLACEHOLDERS = ("inputValue", "inputPath", "outputPath")
_PARAM_TYPES = {"String": (None, str), "Integer": (int,), "Float": (float,), "Boolean": None}


@dataclass(frozen=True)
class Passed:
    """One `--flag {placeholder: name}` pair of the component's command line."""

    flag: str
    kind: str  # inputValue | inputPath | outputPath | constant
    name: str
    conditional: bool  # inside an if/isPresent block


def command_line_pairs(
    tokens: list[Any], conditional: bool = False
) -> tuple[list[Passed], list[str]]:
    """The flag/placeholder pairs of a command line, and problems with its shape."""
    pairs: list[Passed] = []
    problems: list[str] = []
    previous: Any = None
    for token in tokens:
        if isinstance(token, dict) and "if" in token:
            branch = token["if"] or {}
            for key in ("then", "else"):
                sub, sub_problems = command_line_pairs(branch.get(key) or [], True)
                pairs += sub
                problems += sub_problems
        elif (
            isinstance(token, str)
            and isinstance(previous, str)
            and previous.startswith("--")
            and not token.startswith("--")
        ):
            # A constant value, e.g. `--executor-output "{{$.outputs.output_file}}"`.
            pairs.append(Passed(previous, "constant", token, conditional))
        elif isinstance(token, dict):
            kind = next((k for k in _PLACEHOLDERS if k in token), None)
            if kind is None:
                problems.append(f"unsupported placeholder {token}")
            elif not (isinstance(previous, str) and previous.startswith("--")):
                problems.append(f"{{{kind}: {token[kind]}}} is not preceded by a --flag")
            else:
                pairs.append(Passed(previous, kind, str(token[kind]), conditional))
        previous = token
    return pairs, problems


def entrypoint_module(container: dict) -> str | None:
    command = container.get("command") or []
    if (
        len(command) >= 3
        and isinstance(command[0], str)
        and command[0].rsplit("/", 1)[-1] in ("python", "python3")
        and command[1] == "-m"
        and isinstance(command[2], str)
    ):
        return command[2]
    return None


def load_parser(component: ComponentDir, module_name: str) -> argparse.ArgumentParser:
    """Imports the entrypoint from the component's src/ and calls its build_parser(). The
    modules this import added are dropped again, so components with the same module names do
    not see each other's code; modules imported before (by a test, say) stay untouched."""
    src = str(component.path / "src")
    top = module_name.split(".")[0]
    already = {m for m in sys.modules if m == top or m.startswith(top + ".")}
    if already:
        loaded = sys.modules.get(module_name)
        origin = getattr(loaded, "__file__", "") or ""
        if not origin.startswith(src):
            # Another component's package of the same name is loaded: import ours afresh.
            for name in already:
                del sys.modules[name]
            already = set()
    sys.path.insert(0, src)
    try:
        module = importlib.import_module(module_name)
        if not hasattr(module, "build_parser"):
            raise AttributeError(f"{module_name} defines no build_parser()")
        return module.build_parser()
    finally:
        sys.path.remove(src)
        for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
            if name not in already:
                del sys.modules[name]


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {
        flag: action
        for action in parser._actions  # argparse has no public accessor for its actions
        if not isinstance(action, argparse._HelpAction)
        for flag in action.option_strings
        if flag.startswith("--")
    }


def _type_problem(decl: dict, action: argparse.Action) -> str | None:
    kinds = _PARAM_TYPES.get(str(decl.get("type", "String")))
    if kinds is None:  # artifacts and booleans: any string-valued option will do
        return None
    if action.type not in kinds:
        shown = getattr(action.type, "__name__", repr(action.type))
        declared, flag = decl.get("type", "String"), action.option_strings[0]
        return f"is {declared} in component.yaml, but {flag} parses as {shown}"
    return None


def check(component: ComponentDir) -> list[str]:
    """Every way the component's spec and entrypoint disagree, each naming the file."""
    from kfp import components as kfp_components

    where = str(component.spec_path)
    problems: list[str] = []
    try:
        kfp_components.load_component_from_file(where)
    except Exception as e:  # kfp raises many types for a bad spec
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else ""
        problems.append(f"kfp cannot load it: {type(e).__name__}: {first_line}")
    spec = component.spec
    if not str(spec.get("name") or "").strip():
        problems.append("name is missing")
    container = component.container
    if not str(container.get("image") or "").strip():
        problems.append("implementation.container.image is not set")
    module_name = entrypoint_module(container)
    if module_name is None:
        problems.append("implementation.container.command must start with `python -m <module>`")
        return [f"{where}: {p}" for p in problems]

    inputs = {str(i.get("name")): i for i in spec.get("inputs") or []}
    outputs = {str(o.get("name")): o for o in spec.get("outputs") or []}
    for name in set(inputs) & set(outputs):
        problems.append(f"{name!r} is both an input and an output")
    pairs, shape = command_line_pairs(
        list(container.get("command") or []) + list(container.get("args") or [])
    )
    problems += shape
    try:
        options = _options(load_parser(component, module_name))
    except Exception as e:
        problems.append(f"cannot read the CLI of {module_name}: {type(e).__name__}: {e}")
        return [f"{where}: {p}" for p in problems]

    constants = [p for p in pairs if p.kind == "constant"]
    pairs = [p for p in pairs if p.kind != "constant"]
    passed_names = {p.name for p in pairs}
    for name in inputs:
        if name not in passed_names:
            problems.append(f"input {name!r} is declared but never passed to {module_name}")
    for name in outputs:
        if name not in passed_names:
            problems.append(f"output {name!r} is declared but never passed to {module_name}")
    passed_flags: dict[str, Passed] = {}
    for p in constants:
        if p.flag not in options:
            problems.append(f"passes {p.flag} ({p.name!r}), which {module_name} does not accept")
        passed_flags.setdefault(p.flag, p)
    for p in pairs:
        declared = outputs if p.kind == "outputPath" else inputs
        if p.name not in declared:
            kind = "output" if p.kind == "outputPath" else "input"
            problems.append(f"{p.flag} passes {kind} {p.name!r}, which is not declared")
        if p.flag not in options:
            problems.append(f"passes {p.flag} ({p.name!r}), which {module_name} does not accept")
            continue
        passed_flags.setdefault(p.flag, p)
        if p.kind == "inputValue" and p.name in inputs:
            if problem := _type_problem(inputs[p.name], options[p.flag]):
                problems.append(f"input {p.name!r} {problem}")
    # Each option once, under its first long flag (an option may have several).
    actions = {id(a): a for a in options.values()}.values()
    for action in sorted(actions, key=lambda a: a.option_strings[0]):
        flag = next(f for f in action.option_strings if f.startswith("--"))
        passed = next((passed_flags[f] for f in action.option_strings if f in passed_flags), None)
        if passed is None:
            needs = "requires" if action.required else "accepts"
            problems.append(f"{module_name} {needs} {flag}, which component.yaml never passes")
        elif action.required and passed.conditional:
            problems.append(
                f"{module_name} requires {flag}, but component.yaml passes it only when "
                f"{passed.name!r} is present"
            )
    return [f"{where}: {p}" for p in problems]


def check_all(components: list[ComponentDir]) -> list[str]:
    return [problem for c in components for problem in check(c)]
