"""The questions of `make lineage Q=...`: each answered from the store, with its renderer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops.lineage.render import (
    render_decisions,
    render_lineage,
    render_run,
    render_runs,
    render_training_data,
)
from mlops.lineage.store import LineageError, LineageStore, serving_training_data


def ask(db: Path, question: str, params: dict[str, Any]):
    """One question of `python -m mlops lineage` against the store at `db`: returns the
    answer and the function that renders it as text. `params` holds the question's
    arguments by name (runs: limit, pipeline; run: run_id; image; artifact: uri;
    training-data: uri, step; serving-data: registry_root, model_name, slot; decisions:
    kind, limit; runs may name a `model`: one use case's)."""
    db = Path(db)
    if not db.is_file():
        raise LineageError(f"{db}: no lineage store yet; `make run` records every local run")
    p = params
    with LineageStore(db) as store:
        if question == "runs":
            return store.runs(p["limit"], p.get("pipeline"), p.get("model")), render_runs
        if question == "run":
            return store.run(p["run_id"]), render_run
        if question == "image":
            return store.runs_using_image(p["image"]), render_runs
        if question == "artifact":
            return store.lineage(p["uri"]), render_lineage
        if question == "training-data":
            return store.training_data(p["uri"], p.get("step")), render_training_data
        if question == "serving-data":
            answer = serving_training_data(
                store, p["registry_root"], p["model_name"], p.get("slot", "stable")
            )
            return answer, render_training_data
        if question == "decisions":
            return store.decisions(p.get("kind"), p["limit"]), render_decisions
    raise LineageError(f"unknown lineage question {question!r}")
