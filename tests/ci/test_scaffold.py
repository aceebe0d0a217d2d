"""`make component NAME=x`: the new folder passes the contract check and its own tests."""

import subprocess
import sys

import pytest

from mlops.ci import contract
from mlops.ci.components import discover
from mlops.ci.scaffold import scaffold
from mlops.core.errors import BuildError


def test_a_new_component_passes_the_contract_check_and_its_tests(project):
    path = scaffold(project, "score_rows")
    assert sorted(p.name for p in path.iterdir()) == [
        ".dockerignore",
        "Dockerfile",
        "component.yaml",
        "src",
        "tests",
    ]
    component = next(c for c in discover(project) if c.name == "score_rows")
    assert component.spec_name == "Score rows"
    assert component.container["image"] == "localhost:5999/t/score_rows:dev"
    assert contract.check(component) == []
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--import-mode=importlib",
            str(path / "tests"),
        ],
        capture_output=True,
        text=True,
        cwd=project,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout


def test_the_new_component_is_ruff_clean(project):
    path = scaffold(project, "score_rows")
    ruff = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--isolated",
            "--line-length",
            "100",
            "--select",
            "E,F,W,I,B,UP",
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout


@pytest.mark.parametrize("name", ["", "Hello", "9lives", "has-dash", "class", "trailing_", "a/b"])
def test_names_that_cannot_be_a_package_and_an_image(project, name):
    with pytest.raises(BuildError, match="component name"):
        scaffold(project, name)


def test_an_existing_folder_is_not_overwritten(project):
    with pytest.raises(BuildError, match="components/hello: already exists"):
        scaffold(project, "hello")
