"""Synthetic tables of known structure, one per task, for the use case tests and benchmarks:
each label depends on the features by a rule a model can learn and a linear model cannot
fully, with missing cells written as "NA" or "?" and a few rows without a label.

Deterministic for a seed, so a test can know in advance what a good model scores."""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

TASK_LABELS = {"binary": "churned", "multiclass": "species", "regression": "price"}
SPECIES = ("setosa", "versicolor", "virginica")


def _row(rng: random.Random, task: str) -> dict[str, object]:
    size = rng.uniform(0, 10)
    weight = rng.gauss(5, 2)
    colour = rng.choice(("red", "green", "blue", "grey"))
    age = rng.randint(1, 60)
    noise = rng.gauss(0, 0.6)
    colour_effect = {"red": 1.5, "green": -1.0, "blue": 0.5, "grey": 0.0}[colour]
    # Linear terms plus a wave in size and a bowl in weight: a linear model cannot follow
    # those, a network (or trees) can.
    curved = 2.0 * math.sin(1.3 * size) + 0.25 * (weight - 5) ** 2
    score = 0.5 * size - 0.3 * weight + colour_effect + 0.03 * age + curved + noise
    if task == "binary":
        label: object = "yes" if score > 3.0 else "no"
    elif task == "multiclass":
        label = SPECIES[0] if score < 2.0 else SPECIES[1] if score < 4.1 else SPECIES[2]
    else:
        label = round(20 + 3 * size + 4 * colour_effect + 2 * curved + noise, 3)
    return {
        "size": round(size, 3),
        "weight": round(weight, 3),
        "colour": colour,
        "age": age,
        TASK_LABELS[task]: label,
    }


def write_table(path: Path, task: str, rows: int = 600, seed: int = 7) -> Path:
    """A CSV of `rows` rows for `task`; about 3% of feature cells are "NA" or "?" and 1% of
    labels are missing."""
    rng = random.Random(seed)
    label = TASK_LABELS[task]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["size", "weight", "colour", "age", label])
        writer.writeheader()
        for _ in range(rows):
            row = _row(rng, task)
            for key in ("weight", "colour", "age"):
                if rng.random() < 0.03:
                    row[key] = rng.choice(("NA", "?"))
            if rng.random() < 0.01:
                row[label] = "NA"
            writer.writerow(row)
    return path
