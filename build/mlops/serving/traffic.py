"""`make promote` and `make rollback`: deploy_model's own promote/rollback modes, run on the
host from the component's source against the registry in settings.yaml, so that the commands
and the pipeline step share one implementation. The prediction service follows the registry's
serving.json, so it switches by itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlops.core.errors import BuildError

MODES = ("promote", "rollback")


def command(model, mode: str) -> list[str]:
    if mode not in MODES:
        raise BuildError(f"mode {mode!r}: use one of {', '.join(MODES)}")
    serving = model.serving
    args = [
        sys.executable, "-m", "deploy_model.main",
        "--mode", mode,
        "--registry", serving.registry,
        "--model-name", model.name,
        "--target", serving.target,
    ]  # fmt: skip
    vertex = serving.vertex or {}
    for key in ("project", "location", "endpoint", "serving_image", "api_endpoint"):
        if vertex.get(key):
            args += [f"--vertex-{key.replace('_', '-')}", str(vertex[key])]
    return args


def change(root: Path, model, mode: str) -> str:
    """Runs the mode; returns what it printed. A refusal (nothing to promote...) is an error
    with deploy_model's own message."""
    env = dict(os.environ)
    paths = [str(root / "components" / "deploy_model" / "src"), str(root / "build" / "base")]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
    done = subprocess.run(command(model, mode), env=env, capture_output=True, text=True)
    if done.returncode:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise BuildError(f"{mode}: {message[-1] if message else 'failed'}")
    return done.stdout.strip()
