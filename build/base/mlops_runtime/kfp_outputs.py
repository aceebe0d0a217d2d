"""Outputs a container component reports to Kubeflow Pipelines beyond files at its output
paths: artifact metadata (for example the values of a Metrics artifact), written as
ExecutorOutput JSON to the path that `{{$.outputs.output_file}}` resolves to. The launcher
on a cluster and kfp.local both read that file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_artifact_metadata(
    executor_output: str, outputs: dict[str, tuple[str, dict[str, Any]]]
) -> None:
    """outputs: {output name: (artifact uri or path, metadata)}. Merges with what is there."""
    path = Path(executor_output)
    data = json.loads(path.read_text()) if path.is_file() else {}
    artifacts = data.setdefault("artifacts", {})
    for name, (uri, metadata) in outputs.items():
        artifacts[name] = {"artifacts": [{"name": name, "uri": str(uri), "metadata": metadata}]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def write_metrics(executor_output: str, name: str, path: str, metrics: dict[str, float]) -> None:
    """A Metrics output: the values as artifact metadata (what the KFP UI shows) and as JSON
    at the artifact's own path (what later steps and people can read)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(metrics, indent=2) + "\n")
    write_artifact_metadata(executor_output, {name: (path, dict(metrics))})
