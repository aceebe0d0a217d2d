"""The batched evaluator (the default) against TFMA's Beam pipeline (--evaluator tfma) on the
same small tables, for a binary, a multiclass and a regression model (task_models.py), each
against a baseline and with a threshold that passes and one that fails: the same slices in the
same order, the same metric keys and values (float tolerance), diffs, curves and confusion
matrices, the same validation failures and the same blessing. Then what the batched path
leaves to TFMA, and its slicing rules on hand-made arrays."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import task_models as tm
from evaluate_model import batched, blessing, config, evaluate, plan, scoring, task, tfma_config
from evaluate_model.blessing import BaselineInfo
from evaluate_model.inputs import check_eval_split
from mlops_runtime import beam

BEAM_ARGS = "--runner=DirectRunner --direct_num_workers=1"
SLICES = [[], ["group"], ["group", "species"]]
CASES = {
    "binary": (
        tm.write_binary_model,
        lambda p: tm.write_binary_model(p, w=(0.4, 0.8), b=0.2),
        {
            "slices": SLICES,
            "thresholds": {"AUC": {"lower": 0.6}, "BinaryAccuracy": {"lower": 0.99}},
            "change_thresholds": {"AUC": {"direction": "higher", "absolute": -0.01}},
            "metric_options": {"AUC": {"num_thresholds": 1000}},
        },
    ),
    "multiclass": (
        tm.write_multiclass_model,
        lambda p: tm.write_multiclass_model(p, tm.POOR_WEIGHTS),
        {
            "slices": SLICES[:2],
            "thresholds": {
                "Recall/macro_average": {"lower": 0.5},
                "Precision/class_id=1": {"lower": 0.99},
            },
            "change_thresholds": {"AUC/macro_average": {"direction": "higher", "absolute": 0}},
        },
    ),  # fmt: skip
    "regression": (
        tm.write_regression_model,
        lambda p: tm.write_regression_model(p, b=2.0),
        {
            "slices": SLICES,
            "thresholds": {"MeanAbsoluteError": {"upper": 0.1}},
            "change_thresholds": {"MeanSquaredError": {"direction": "lower", "absolute": 0}},
        },
    ),
}


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Path:
    return tm.write_examples(tmp_path_factory.mktemp("batched") / "raw", tm.rows(90, seed=5))


def _evaluate(kind: str, folder: Path, examples: Path):
    """{evaluator: (Evaluation, Blessing)} of the same model, baseline and configuration."""
    write_model, write_baseline, raw_config = CASES[kind]
    model, baseline = write_model(folder / "model"), write_baseline(folder / "baseline")
    sidecar = json.loads((model / "mlops_model.json").read_text())
    settings = config.parse(json.dumps(raw_config))
    model_task = task.from_sidecar(sidecar, "model")
    eval_config = tfma_config.build(
        settings, sidecar["label_key"], True, plan.resolve(settings, model_task)
    )
    data = check_eval_split(str(examples))
    results = {}
    for name in ("tfma", "batched"):
        out = folder / name
        if name == "tfma":
            args = beam.parse_beam_args(BEAM_ARGS)
            evaluate.run_tfma(eval_config, model, baseline, data, out, args)
        else:
            evaluate.run_batched(
                eval_config, model, baseline, data, out, settings.slices, sidecar["label_key"]
            )
        result = evaluate.read_results(out, settings.slices, True, model_task.num_classes)
        results[name] = (result, blessing.decide(settings, result, BaselineInfo(1, "stable")))
    return results


def _same(a: dict | None, b: dict | None, where: str) -> None:
    assert (a is None) == (b is None), where
    a, b = a or {}, b or {}
    assert sorted(a) == sorted(b), where
    for k in a:
        if math.isnan(a[k]):
            assert math.isnan(b[k]), f"{where} {k}"
        else:
            assert b[k] == pytest.approx(a[k], rel=1e-6, abs=1e-6), f"{where} {k}"


@pytest.mark.parametrize("kind", sorted(CASES))
def test_batched_gives_tfmas_metrics_and_blessing(kind, tmp_path, examples):
    results = _evaluate(kind, tmp_path, examples)
    (tfma_result, tfma_verdict), (ours, verdict) = results["tfma"], results["batched"]

    assert [s.name for s in ours.slices] == [s.name for s in tfma_result.slices]
    # slices by value: more than one per configured slice
    assert len(ours.slices) > len(CASES[kind][2]["slices"])
    for theirs, mine in zip(tfma_result.slices, ours.slices, strict=True):
        assert mine.features == theirs.features
        for part in ("candidate", "baseline", "diff"):
            _same(getattr(theirs, part), getattr(mine, part), f"{mine.name} {part}")
        assert (mine.confusion_matrix is None) == (theirs.confusion_matrix is None)
        if theirs.confusion_matrix is not None:
            assert mine.confusion_matrix.actual == theirs.confusion_matrix.actual
            assert mine.confusion_matrix.predicted == theirs.confusion_matrix.predicted
            np.testing.assert_allclose(mine.confusion_matrix.counts, theirs.confusion_matrix.counts)
        assert mine.curves.keys() == theirs.curves.keys()
        for model, curves in theirs.curves.items():
            assert mine.curves[model].keys() == curves.keys()
            for class_id, curve in curves.items():
                other = mine.curves[model][class_id]
                np.testing.assert_allclose(other.thresholds, curve.thresholds)
                for counts in ("tp", "fp", "tn", "fn"):
                    np.testing.assert_allclose(getattr(other, counts), getattr(curve, counts))

    assert ours.validation_ok == tfma_result.validation_ok
    assert not ours.validation_ok  # each case has a failing threshold
    assert [(f.slice, f.metric, f.kind) for f in ours.failures] == [
        (f.slice, f.metric, f.kind) for f in tfma_result.failures
    ]
    assert verdict.blessed == tfma_verdict.blessed
    assert verdict.reasons == tfma_verdict.reasons
    assert [(c.metric, c.kind, c.status) for c in verdict.checks] == [
        (c.metric, c.kind, c.status) for c in tfma_verdict.checks
    ]
    assert {c.status for c in verdict.checks} == {"pass", "fail"}


def test_what_only_tfma_computes_is_refused_before_any_data(tmp_path):
    def eval_config(raw: dict, task_: task.ModelTask):
        settings = config.parse(json.dumps(raw))
        return tfma_config.build(settings, "y", False, plan.resolve(settings, task_))

    regression = task.ModelTask(task.REGRESSION, None)
    with pytest.raises(batched.Unsupported, match="MeanAbsolutePercentageError"):
        batched.computations(
            eval_config({"metrics": ["MeanAbsolutePercentageError"]}, regression), False
        )
    multiclass = task.ModelTask(task.MULTICLASS, ("a", "b", "c"))
    with pytest.raises(batched.Unsupported, match="top_k|topK"):
        batched.computations(
            eval_config({"metrics": ["Recall"], "binarize": {"top_k_list": [2]}}, multiclass),
            False,
        )
    # The tasks' defaults are all computed here.
    for task_ in (task.BINARY_TASK, multiclass, regression):
        batched.computations(eval_config({}, task_), True)


def test_slices_follow_tfmas_rules_on_missing_and_repeated_values():
    scored = scoring.Scored(count=4)
    # row 0: a=x; row 1: a=x and y; row 2: no a; row 3: a=y. b: rows 0, 1, 3 -> 1, 2, 2.
    scored.features["a"] = (np.array([0, 1, 1, 3]), np.array([b"x", b"x", b"y", b"y"], object))
    scored.features["b"] = (np.array([0, 1, 3]), np.array([1, 2, 2]))
    found = {key: rows.tolist() for key, rows in batched.slices(scored, ((), ("a",), ("b", "a")))}
    assert found == {
        (): [0, 1, 2, 3],
        (("a", b"x"),): [0, 1],
        (("a", b"y"),): [1, 3],
        (("a", b"x"), ("b", 1)): [0],
        (("a", b"x"), ("b", 2)): [1],
        (("a", b"y"), ("b", 2)): [1, 3],
    }
    # One value per example at most (the usual table): the same rules, computed on arrays.
    scored.features["a"] = (np.array([0, 1, 3]), np.array([b"x", b"y", b"y"], object))
    found = {key: rows.tolist() for key, rows in batched.slices(scored, ((), ("a",), ("b", "a")))}
    assert found == {
        (): [0, 1, 2, 3],
        (("a", b"x"),): [0],
        (("a", b"y"),): [1, 3],
        (("a", b"x"), ("b", 1)): [0],
        (("a", b"y"), ("b", 2)): [1, 3],
    }
