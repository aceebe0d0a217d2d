"""The Makefile's verbs: listed by `make help`, and set-up that skips what is there."""

import subprocess

import pytest

from mlops.core.paths import REPO

VERBS = [
    "help",
    "setup",
    "test",
    "lint",
    "ci",
    "images",
    "push",
    "update-specs",
    "compile",
    "run",
    "component",
    "bench",
    "mutation",
    "ui",
    "screenshots",
    "browser",
]


def test_help_lists_the_verbs():
    out = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True).stdout
    listed = {line.split()[1] for line in out.splitlines() if line.strip().startswith("make ")}
    assert set(VERBS) <= listed


def test_component_needs_a_name():
    result = subprocess.run(["make", "-s", "component"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode != 0
    assert "usage: make component NAME=my_step" in result.stderr


@pytest.mark.docker
def test_a_second_setup_skips_everything(docker_client):
    # The session fixture has set everything up already: this call must only find it.
    result = subprocess.run(
        ["make", "-s", "setup"], cwd=REPO, capture_output=True, text=True, check=True
    )
    log = result.stderr
    assert "virtual environment: up to date" in log
    assert "docker engine: running" in log
    assert "registry localhost:5000: running" in log
    assert "python:3.11-slim-bookworm: present" in log
    for doing in ("starting", "installing", "creating", "bootstrapping"):
        assert doing not in log
