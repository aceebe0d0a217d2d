"""mlops.bench.scale's report and mlops.bench.eval_bare's metrics, on made-up figures: no
pipeline run, no model."""

import numpy as np
import pytest

from mlops.bench import eval_bare, scale


def run_at(seconds: dict[str, float], rss: dict[str, float], pipeline_s: float) -> dict:
    return {
        "make_run_s": pipeline_s + 10,
        "status": "SUCCEEDED",
        "phases_s": {"pipeline": pipeline_s},
        "steps": [
            {"task": t, "seconds": s, "peak_rss_mb": rss[t], "peak_memory_mb": rss[t] + 50}
            for t, s in seconds.items()
        ],
    }


RUNS = {
    1: run_at(
        {"transform-data": 16, "train-model": 12, "evaluate-model": 18},
        {"transform-data": 600, "train-model": 400, "evaluate-model": 500},
        50,
    ),
    100: run_at(
        {"transform-data": 121, "train-model": 280, "evaluate-model": 250},
        {"transform-data": 1560, "train-model": 420, "evaluate-model": 900},
        700,
    ),
}
BARE = {1: {"seconds": 9.0}, 100: {"seconds": 100.0}}


def test_ratios_at_the_largest_scale_and_targets():
    result = scale.report(RUNS, BARE)
    ratios = result["ratios_at_largest_scale"]
    assert (ratios["scale"], ratios["against"]) == ("100x", "1x")
    assert ratios["evaluate_to_bare_limit"] == 2.5
    assert ratios["evaluate_to_train"] == 0.89
    assert ratios["memory_growth"] == {
        "transform-data": 2.6,
        "train-model": 1.05,
        "evaluate-model": 1.8,
    }
    assert ratios["largest_memory_growth"] == {"task": "transform-data", "ratio": 2.6}
    assert result["targets"]["met"] == {
        "evaluate_to_bare_limit": True,
        "evaluate_to_train": True,
        "memory_growth": False,  # transform grows 2.6x
    }
    assert result["per_scale"]["1x"]["evaluate_to_bare_limit"] == 2.0
    assert result["per_scale"]["100x"]["evaluate_share_of_pipeline"] == 0.36
    steps = result["steps"]["transform-data"]
    assert steps["seconds"] == {"1x": 16, "100x": 121}
    assert steps["peak_memory_mb"] == {"1x": 650, "100x": 1610}


def test_a_missing_figure_fails_its_target_instead_of_passing():
    runs = {s: run_at({"train-model": 10}, {"train-model": 100}, 20) for s in (1, 3)}
    result = scale.report(runs, {})
    assert result["ratios_at_largest_scale"]["evaluate_to_bare_limit"] is None
    assert result["targets"]["met"]["evaluate_to_bare_limit"] is False
    assert result["targets"]["met"]["evaluate_to_train"] is False
    assert result["targets"]["met"]["memory_growth"] is True


def test_bare_metrics_of_one_slice():
    labels = np.array([1, 0, 1, 0, 1, 0])
    scores = np.array([0.9, 0.2, 0.6, 0.7, 0.3, 0.1])
    m = eval_bare.binary_metrics(labels, scores, thresholds=1000)
    assert m["example_count"] == 6
    # positives above negatives in 7 of 9 pairs
    assert m["auc"] == pytest.approx(7 / 9)
    assert m["binary_accuracy"] == pytest.approx(4 / 6)
    assert (m["precision"], m["recall"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert m["calibration"] == pytest.approx(2.8 / 3)


def test_slices_are_the_whole_split_and_one_per_value():
    columns = {"hour": np.array([1, 2, 1]), "pay": np.array(["Cash", "Cash", "Card"])}
    rows = eval_bare.sliced([[], ["hour"], ["pay"]], columns, 3)
    assert {k: v.tolist() for k, v in rows.items()} == {
        "overall": [0, 1, 2],
        "hour=1": [0, 2],
        "hour=2": [1],
        "pay=Cash": [0, 1],
        "pay=Card": [2],
    }
