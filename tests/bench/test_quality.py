"""mlops.bench.quality's pure parts: the reference models on a split, and the comparison."""

import random

import pytest

from mlops.bench import quality


def _rows(n, seed, task):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        x, colour = rng.gauss(0, 1), rng.randint(0, 2)
        if task == "regression":
            label = 3.0 * x + colour + rng.gauss(0, 0.1)
        else:
            label = int(x + 0.5 * colour > 0.5)
        rows.append({"x_xf": x, "colour_xf": colour, "y": label})
    return rows


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_references_on_a_learnable_split(task):
    train, evaluate = _rows(400, 1, task), _rows(200, 2, task)
    x_train, y_train, x_eval, y_eval = quality.matrices(train, evaluate, "y")
    assert x_train.shape == (400, 1 + 3)  # the float as it is, the ids one-hot
    refs = quality.references(task, x_train, y_train, x_eval, y_eval)
    if task == "binary":
        assert refs["majority"] == pytest.approx(0.5)  # a constant score: AUC 0.5
        assert refs["linear"] > 0.95 and refs["gradient_boosting"] > 0.9
    else:
        assert refs["linear"] < 0.05 < refs["mean"]  # y is linear in x and the colour


def test_the_comparison_knows_which_way_is_better():
    refs = {"linear": 0.8, "gradient_boosting": 0.9}
    assert quality.compare("binary", 0.85, refs) == {
        "at_least_linear": True, "ratio_to_gradient_boosting": 0.9444
    }  # fmt: skip
    errors = {"linear": 2.0, "gradient_boosting": 1.0}
    assert quality.compare("regression", 2.5, errors) == {
        "at_least_linear": False, "ratio_to_gradient_boosting": 0.4
    }  # fmt: skip
