"""The contract check: component.yaml against its entrypoint's CLI, both ways."""

import pytest

from mlops.ci import contract
from mlops.ci.components import discover
from mlops.core.paths import REPO


def _component(project, name="hello"):
    return next(c for c in discover(project) if c.name == name)


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


@pytest.fixture
def spec(project):
    return project / "components" / "hello" / "component.yaml"


@pytest.fixture
def main_py(project):
    return project / "components" / "hello" / "src" / "hello" / "main.py"


def test_the_sample_components_agree(project):
    assert contract.check_all(discover(project)) == []


def test_the_repository_components_agree():
    repo = REPO
    assert contract.check_all(discover(repo)) == []


def test_an_input_the_entrypoint_does_not_accept(project, spec):
    _edit(spec, "- --repeat\n", "- --times\n")
    problems = contract.check(_component(project))
    assert any("passes --times ('repeat'), which hello.main does not accept" in p for p in problems)
    assert any("accepts --repeat, which component.yaml never passes" in p for p in problems)
    assert all(p.startswith(str(spec)) for p in problems)


def test_a_required_option_the_spec_never_passes(project, main_py):
    _edit(
        main_py,
        "    return parser\n",
        '    parser.add_argument("--mode", required=True)\n    return parser\n',
    )
    assert contract.check(_component(project)) == [
        f"{_component(project).spec_path}: hello.main requires --mode, "
        "which component.yaml never passes"
    ]


def test_a_declared_output_never_passed(project, spec):
    _edit(spec, "- {name: length, type: Integer", "- {name: size, type: Integer")
    problems = contract.check(_component(project))
    assert any("output 'size' is declared but never passed" in p for p in problems)
    assert any("--length passes output 'length', which is not declared" in p for p in problems)


def test_a_type_mismatch(project, spec):
    _edit(
        spec,
        "{name: repeat, type: Integer, default: '1'",
        "{name: repeat, type: Float, default: '1.0'",
    )
    problems = contract.check(_component(project))
    assert any(
        "input 'repeat' is Float in component.yaml, but --repeat parses as int" in p
        for p in problems
    )


def test_a_required_option_passed_only_when_present(project, spec):
    _edit(spec, "{name: message, type: String,", "{name: message, type: String, optional: true,")
    _edit(
        spec,
        "    - --message\n    - {inputValue: message}\n",
        "    - if:\n        cond: {isPresent: message}\n"
        "        then: [--message, {inputValue: message}]\n",
    )
    problems = contract.check(_component(project))
    assert any(
        "requires --message, but component.yaml passes it only when 'message' is present" in p
        for p in problems
    )


def test_the_image_must_be_set(project, spec):
    _edit(spec, "image: localhost:5999/t/hello:dev", "image: ''")
    assert any(
        "implementation.container.image is not set" in p
        for p in contract.check(_component(project))
    )


def test_the_command_must_name_a_module(project, spec):
    _edit(spec, "command: [python, -m, hello.main]", "command: [sh, -c, run.sh]")
    assert any(
        "must start with `python -m <module>`" in p for p in contract.check(_component(project))
    )


def test_an_entrypoint_without_build_parser(project, main_py):
    _edit(main_py, "def build_parser()", "def make_parser()")
    assert any(
        "hello.main defines no build_parser()" in p for p in contract.check(_component(project))
    )


def test_a_spec_kfp_cannot_load(project, spec):
    _edit(spec, "type: Artifact,", "kind: Artifact,")
    assert any("kfp cannot load it" in p for p in contract.check(_component(project)))


def test_entrypoints_with_one_module_name_do_not_leak(project):
    # Both checks import a module named `hello.main`; the second must see its own code.
    other = project / "components" / "word_count"
    (other / "src" / "hello").mkdir()
    (other / "src" / "hello" / "__init__.py").write_text("")
    (other / "src" / "hello" / "main.py").write_text(
        "import argparse\n\ndef build_parser():\n    return argparse.ArgumentParser()\n"
    )
    _edit(
        other / "component.yaml",
        "command: [python, -m, word_count.main]",
        "command: [python, -m, hello.main]",
    )
    assert contract.check(_component(project, "hello")) == []
    problems = contract.check(_component(project, "word_count"))
    assert any("passes --text ('text'), which hello.main does not accept" in p for p in problems)
    assert contract.check(_component(project, "hello")) == []


def test_the_check_leaves_modules_imported_before_it_alone(project, monkeypatch):
    # Beam pickles classes by module: a test that imported a component's code must keep
    # the same module objects after the contract check ran.
    import sys

    monkeypatch.syspath_prepend(str(project / "components" / "hello" / "src"))
    import hello.main

    before = sys.modules["hello.main"]
    try:
        assert contract.check(_component(project)) == []
        assert sys.modules["hello.main"] is before is hello.main
    finally:
        for name in [m for m in sys.modules if m == "hello" or m.startswith("hello.")]:
            del sys.modules[name]
