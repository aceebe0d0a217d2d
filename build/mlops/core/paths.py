"""Where the checkout is: the root of the repository this tooling belongs to."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[3]  # build/mlops/core/paths.py
