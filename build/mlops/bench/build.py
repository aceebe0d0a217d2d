"""`make bench`: the build benchmark -> bench/results/build.json.

In a copy of this repository (its git-tracked files), against a registry of its own:
1. cold: `mlops build --no-cache`, every image (the ML base image too) built from nothing and
   pushed to an empty registry;
2. no change: `make ci` (unit tests, lint, images, push, update-specs, compile) on a new
   commit with nothing changed, and the build part alone;
3. one component changed: `make ci` after editing one source file.
All from one run, so the ratios compare like with like on a noisy machine."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mlops.ci import engine
from mlops.ci.build_state import STATE_FILE
from mlops.ci.components import discover
from mlops.core.errors import BuildError
from mlops.testing.local_registry import LocalRegistry

TARGET_NO_CHANGE_RATIO = 0.05


def _copy_repository(root: Path, dest: Path) -> None:
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, files):
        source = root / rel
        if source.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)


def _timed(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> float:
    started = time.monotonic()
    with log.open("w") as out:
        result = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise BuildError(f"bench step failed: {' '.join(command)}; see {log}")
    return seconds


def _actions(project: Path) -> dict[str, str]:
    state = json.loads((project / STATE_FILE).read_text())
    return {name: c["action"] for name, c in state["components"].items()}


def run(root: Path) -> Path:
    work = root / "bench" / "work" / time.strftime("build-%Y%m%d-%H%M%S")
    project = work / "project"
    project.mkdir(parents=True)
    _copy_repository(root, project)
    client = engine.client()
    registry = LocalRegistry(work / "registry").start()
    venv = Path(sys.executable).parents[1]
    env = {
        **os.environ,
        "REGISTRY": registry.address,
        "PYTHONPATH": f"{project / 'build'}:{project / 'build' / 'base'}:{project}",
    }
    make = ["make", "--no-print-directory", f"VENV={venv}"]
    mlops = [sys.executable, "-m", "mlops", "--root", str(project)]
    figures: dict[str, float] = {}
    try:
        print(f"[bench] cold build (no cache, empty registry {registry.address}): minutes")
        figures["cold_build_s"] = _timed(
            [*mlops, "build", "--no-cache"],
            project,
            {**env, "COMMIT_SHA": "bench1"},
            work / "cold.log",
        )
        assert set(_actions(project).values()) == {"built"}, _actions(project)

        print("[bench] no-change make ci")
        figures["no_change_ci_s"] = _timed(
            [*make, "ci"], project, {**env, "COMMIT_SHA": "bench2"}, work / "no-change.log"
        )
        no_change_actions = _actions(project)
        print("[bench] no-change build steps alone")
        figures["no_change_build_s"] = _timed(
            [*mlops, "build"],
            project,
            {**env, "COMMIT_SHA": "bench3"},
            work / "no-change-build.log",
        )

        print("[bench] one-component make ci")
        changed = discover(project)[0].name  # any one real step: the first in the catalogue
        main_py = project / "components" / changed / "src" / changed / "main.py"
        main_py.write_text(main_py.read_text() + "\n# changed by the benchmark\n")
        figures["one_component_ci_s"] = _timed(
            [*make, "ci"], project, {**env, "COMMIT_SHA": "bench4"}, work / "one-component.log"
        )
        one_component_actions = _actions(project)
    finally:
        registry.stop(client)
        client.images.prune(filters={"dangling": True})
    cold = figures["cold_build_s"]
    result = {
        "benchmark": "build",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "components": sorted(no_change_actions),
        "seconds": {k: round(v, 2) for k, v in figures.items()},
        "ratio_to_cold_build": {
            k: round(v / cold, 4) for k, v in figures.items() if k != "cold_build_s"
        },
        "images_rebuilt": {
            "no_change": sorted(k for k, v in no_change_actions.items() if v == "built"),
            "one_component": sorted(k for k, v in one_component_actions.items() if v == "built"),
        },
        "target": {
            "no_change_ci_ratio_at_most": TARGET_NO_CHANGE_RATIO,
            "met": figures["no_change_ci_s"] / cold <= TARGET_NO_CHANGE_RATIO,
        },
        "notes": "cold = `mlops build --no-cache` (ML base image + components, empty registry); "
        "no_change/one_component = `make ci` (unit tests, lint, images, push, update-specs, "
        "compile); no_change_build = the build steps alone.",
    }
    out = root / "bench" / "results" / "build.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return out
