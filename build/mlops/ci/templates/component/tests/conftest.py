"""Puts this component's src/ on the import path, as the image's PYTHONPATH does."""

import os
import sys
from pathlib import Path

# TF 2.16 defaults to Keras 3; TFT 1.16 and TFMA 0.47 need Keras 2 (as the base image sets).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
