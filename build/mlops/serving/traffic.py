"""`make promote`, `make rollback` and `make ramp`: deploy_model's own promote/rollback/ramp
modes, run on the host from the component's source against the registry in settings.yaml, so
that the commands, the pipeline step and the canary analysis (mlops.monitoring.canary_check)
share one implementation. The prediction service follows the registry's serving.json, so it
switches by itself; with serving.target vertex the mode also moves the endpoint's traffic."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlops.core.errors import BuildError

MODES = ("promote", "rollback", "ramp")


def command(
    model, mode: str, *, percent: int | None = None, expect_canary: int | None = None
) -> list[str]:
    """deploy_model's command line for the mode. percent: the canary's share (ramp only);
    expect_canary: act only while that version is the canary."""
    if mode not in MODES:
        raise BuildError(f"mode {mode!r}: use one of {', '.join(MODES)}")
    if (mode == "ramp") != (percent is not None):
        raise BuildError(f"mode {mode!r}: a percent goes with ramp, and only with ramp")
    if percent is not None and not 1 <= percent <= 99:
        raise BuildError(f"ramp to {percent}%: expected 1 to 99 (100 is a promote)")
    serving = model.serving
    args = [
        sys.executable, "-m", "deploy_model.main",
        "--mode", mode,
        "--registry", serving.registry,
        "--model-name", model.name,
        "--target", serving.target,
    ]  # fmt: skip
    if percent is not None:
        args += ["--canary-percent", str(percent)]
    if expect_canary is not None:
        args += ["--expect-canary", str(expect_canary)]
    vertex = serving.vertex or {}
    for key in ("project", "location", "endpoint", "serving_image", "api_endpoint"):
        if vertex.get(key):
            args += [f"--vertex-{key.replace('_', '-')}", str(vertex[key])]
    return args


def change(
    root: Path, model, mode: str, *, percent: int | None = None, expect_canary: int | None = None
) -> str:
    """Runs the mode; returns what it printed (deploy_model's JSON record). A refusal (nothing
    to promote, another canary than expected...) is an error with deploy_model's own
    message."""
    env = dict(os.environ)
    paths = [str(root / "components" / "deploy_model" / "src"), str(root / "build" / "base")]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
    args = command(model, mode, percent=percent, expect_canary=expect_canary)
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise BuildError(f"{mode}: {message[-1] if message else 'failed'}")
    return done.stdout.strip()
