"""The mutation runner's reading of mutmut's results and its report, on hand-written mutmut
output (mutmut itself runs in `make mutation`, not here)."""

import json
import tomllib

import pytest

from mlops.bench import mutation as mu
from mlops.core.errors import BuildError

TARGET = mu.Target("demo", "build/mlops", "mlops/demo/rules.py", ("tests/test_rules.py",))
SOURCE = '''"""rules"""


def gate(value, bound):
    if value > bound:
        return "stop"
    return "go"


class Box:
    def size(self):
        return 3
'''
DIFF = """--- mlops/demo/rules.py
+++ mlops/demo/rules.py
@@ -1,4 +1,4 @@
 def gate(value, bound):
-    if value > bound:
+    if value >= bound:
         return "stop"
     return "go"
"""


def test_exit_codes_fold_into_the_counts():
    assert [mu.status_of(c) for c in (1, 3, 0, 36, -24, 33, 5, None, 99)] == [
        "killed",
        "killed",
        "survived",
        "timeout",
        "timeout",
        "no_tests",
        "no_tests",
        "not_checked",
        "suspicious",
    ]


def test_mutant_names_give_the_function_or_method():
    assert mu.function_of("mlops.demo.rules.x_gate__mutmut_12") == "gate"
    assert mu.function_of("mlops.demo.rules.x__decide__mutmut_3") == "_decide"
    assert mu.function_of("mlops.demo.rules.xǁBoxǁsize__mutmut_1") == "Box.size"
    with pytest.raises(ValueError, match="not a mutmut mutant name"):
        mu.function_of("mlops.demo.rules.gate")


def test_only_the_functions_asked_for_are_selected():
    only = mu.Target("d", "build/mlops", "mlops/demo/rules.py", (), functions=("_decide",))
    assert mu.mutant_glob(only, "_decide") == "mlops.demo.rules.x__decide__mutmut_*"
    assert mu.selected(only, "mlops.demo.rules.x__decide__mutmut_1")
    assert not mu.selected(only, "mlops.demo.rules.x_gate__mutmut_1")
    assert mu.selected(TARGET, "mlops.demo.rules.x_gate__mutmut_1")
    assert mu.mutant_glob(only, "Box.size") == "mlops.demo.rules.xǁBoxǁsize__mutmut_*"


def test_the_changed_line_and_where_it_stands():
    assert mu.changed_lines(DIFF) == ("if value > bound:", "if value >= bound:")
    assert mu.line_of(SOURCE, "gate", "if value > bound:") == 5
    assert mu.line_of(SOURCE, "gate", "if value > bound:", DIFF) == 5
    assert mu.line_of(SOURCE, "Box.size", "return 3") == 12
    # the same text twice: the diff's hunk says which
    twice = "def f(x):\n    for k in x:\n        if k:\n            continue\n        continue\n"
    hunk = (
        "--- a\n+++ a\n@@ -2,4 +2,4 @@\n     for k in x:\n         if k:\n"
        "             continue\n-        continue\n+        break"
    )
    assert mu.line_of(twice, "f", "continue", hunk) == 5
    assert mu.line_of(twice, "f", "continue") == 4
    # text not found as a whole line: the function's first line
    assert mu.line_of(SOURCE, "gate", "") == 4
    with pytest.raises(ValueError, match="no function 'nope'"):
        mu.function_span(SOURCE, "nope")


def test_the_summary_counts_ratios_and_lists_survivors_with_reviewed_equivalents():
    codes = {
        "mlops.demo.rules.x_gate__mutmut_1": 1,
        "mlops.demo.rules.x_gate__mutmut_2": 0,
        "mlops.demo.rules.x_gate__mutmut_10": 36,
        "mlops.demo.rules.xǁBoxǁsize__mutmut_1": 0,
        "mlops.demo.rules.xǁBoxǁsize__mutmut_2": 33,
    }
    box_diff = "--- a\n+++ b\n@@ -1 +1 @@\n def size(self):\n-    return 3\n+    return 4"
    diffs = {
        "mlops.demo.rules.x_gate__mutmut_2": DIFF,
        "mlops.demo.rules.xǁBoxǁsize__mutmut_1": box_diff,
        "mlops.demo.rules.xǁBoxǁsize__mutmut_2": box_diff,
    }
    reviewed = [
        {
            "module": "demo",
            "function": "gate",
            "original": "if value > bound:",
            "mutant": "if value >= bound:",
            "reason": "values are integers and bound is never reached",
        }
    ]
    m = mu.summarise(TARGET, codes, diffs, SOURCE, reviewed)
    assert (m["killed"], m["survived"], m["timeout"], m["no_tests"], m["total"]) == (1, 2, 1, 1, 5)
    assert m["kill_ratio"] == 0.4
    assert m["equivalent"] == 1
    assert m["kill_ratio_without_equivalent"] == 0.5
    first = m["survivors"][0]
    assert (first["mutant"], first["file"], first["function"], first["line"]) == (
        "x_gate__mutmut_2",
        "mlops/demo/rules.py",
        "gate",
        5,
    )
    assert first["equivalent"] == "values are integers and bound is never reached"
    assert [(s["function"], s["status"], s["line"]) for s in m["survivors"][1:]] == [
        ("Box.size", "survived", 12),
        ("Box.size", "no_tests", 12),
    ]
    assert all("equivalent" not in s for s in m["survivors"][1:])
    # a context line the diff lacks: not that reviewed mutant
    elsewhere = [{**reviewed[0], "context": "return 'go'"}]
    assert "equivalent" not in mu.summarise(TARGET, codes, diffs, SOURCE, elsewhere)["survivors"][0]


def test_functions_outside_the_selection_are_not_counted():
    only = mu.Target("d", "build/mlops", "mlops/demo/rules.py", (), functions=("gate",))
    codes = {"mlops.demo.rules.x_gate__mutmut_1": 1, "mlops.demo.rules.xǁBoxǁsize__mutmut_1": 0}
    m = mu.summarise(only, codes, {}, SOURCE, [])
    assert (m["total"], m["killed"], m["survivors"], m["functions"]) == (1, 1, [], ["gate"])


def test_a_reviewed_entry_lacking_a_field_is_named(tmp_path):
    path = tmp_path / "eq.json"
    path.write_text(json.dumps([{"module": "demo", "function": "gate", "original": "x"}]))
    with pytest.raises(BuildError, match=r"entry 0 lacks \['mutant', 'reason'\]"):
        mu.load_equivalent(path)
    assert mu.load_equivalent(tmp_path / "none.json") == []


def test_every_reviewed_equivalent_names_a_known_module():
    names = {t.name for t in mu.TARGETS}
    assert {e["module"] for e in mu.load_equivalent()} <= names


def test_the_scratch_project_links_the_package_at_the_top(tmp_path):
    root = tmp_path / "repo"
    (root / "build" / "mlops" / "demo").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "settings.yaml").write_text("x: 1\n")
    (root / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\npythonpath = ["build"]\naddopts = "-p no:cacheprovider"\n'
    )
    scratch = tmp_path / "scratch"
    mu.prepare(root, TARGET, scratch)
    assert (scratch / "mlops").resolve() == (root / "build" / "mlops").resolve()
    assert (scratch / "settings.yaml").resolve() == (root / "settings.yaml").resolve()
    config = tomllib.loads((scratch / "pyproject.toml").read_text())
    assert config["tool"]["mutmut"]["source_paths"] == ["mlops"]
    assert config["tool"]["mutmut"]["only_mutate"] == ["mlops/demo/rules.py"]
    assert config["tool"]["mutmut"]["pytest_add_cli_args_test_selection"] == [
        "tests/test_rules.py"
    ]
    ini = config["tool"]["pytest"]["ini_options"]
    assert ini["addopts"] == "-p no:cacheprovider"
    # the checkout's build/ must not come before the mutated copy
    assert str(root / "build") not in ini["pythonpath"]
