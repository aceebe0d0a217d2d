"""The commit being built: COMMIT_SHA (as Cloud Build passes it) or `git rev-parse HEAD`."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from mlops.core.errors import BuildError


def commit_sha(root: Path) -> str:
    sha = os.environ.get("COMMIT_SHA", "").strip()
    if not sha:
        try:
            sha = subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True, text=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError) as e:
            raise BuildError(
                f"{root}: no commit to tag images with: set COMMIT_SHA or commit first ({e})"
            ) from e
    # Docker tags: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", sha):
        raise BuildError(f"COMMIT_SHA {sha!r} is not usable as an image tag")
    return sha
