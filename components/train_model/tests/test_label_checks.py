"""The label checked against the task before training: each problem is a named InputError (exit
code 2 through main) with the label, the split, the values and their counts. The labels come
from real TFT runs (synthetic_data.py), some rewritten in the transformed Examples
(rewrite_labels) to hold the values a check is about."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from train_model import main as component
from train_model.inputs import InputError


def _with_labels(helpers, data, tmp_path, label_key, relabel) -> SimpleNamespace:
    rewritten = helpers.synthetic.rewrite_labels(
        data.transformed_examples, tmp_path / "relabelled", label_key, relabel
    )
    return SimpleNamespace(**{**vars(data), "transformed_examples": rewritten})


def _refused(helpers, data, tmp_path, label_key, task) -> str:
    with pytest.raises(InputError) as error:
        helpers.tmt.train(data, tmp_path / "out", label_key=label_key, task=task, epochs=1)
    assert not (tmp_path / "out" / "model").exists()  # refused before training
    return str(error.value)


def test_binary_refuses_labels_other_than_0_and_1(helpers, flowers_data, tmp_path):
    # species holds class ids 0, 1 and 2: not a binary label.
    import tensorflow_transform as tft

    message = _refused(helpers, flowers_data, tmp_path, "species", "binary")
    assert message.startswith("label_key 'species' (task binary): a binary label is 0 or 1")
    output = tft.TFTransformOutput(str(flowers_data.transform_graph))
    third = output.vocabulary_by_name("species")[2].decode()
    rows = sum(r["species"] == third for r in flowers_data.train_rows)
    assert f"the train split also has 2 ({rows} rows)" in message


def test_binary_refuses_a_train_split_of_one_class(helpers, linear_data, tmp_path):
    data = _with_labels(helpers, linear_data, tmp_path, "group_xf", lambda s, i, v: 0)
    message = _refused(helpers, data, tmp_path, "group_xf", "binary")
    assert "the train split has only label 0 (240 rows)" in message
    assert "needs examples of both 0 and 1" in message


def test_binary_refuses_a_label_vocabulary_of_three_classes(helpers, flowers_data, tmp_path):
    data = _with_labels(helpers, flowers_data, tmp_path, "species", lambda s, i, v: i % 2)
    message = _refused(helpers, data, tmp_path, "species", "binary")
    assert "the label vocabulary 'species' has 3 entries" in message


def test_multiclass_refuses_a_float_label(helpers, linear_data, tmp_path):
    message = _refused(helpers, linear_data, tmp_path, "y", "multiclass")
    assert message.startswith("label_key 'y' (task multiclass): the transformed label is float32")
    assert "int64 ids 0..K-1" in message


def test_multiclass_refuses_negative_class_ids(helpers, flowers_data, tmp_path):
    data = _with_labels(
        helpers, flowers_data, tmp_path, "species",
        lambda split, i, v: -1 if split == "train" and i < 3 else v,
    )  # fmt: skip
    message = _refused(helpers, data, tmp_path, "species", "multiclass")
    assert "class ids are integers from 0; the train split has -1 (3 rows)" in message


def test_regression_refuses_a_string_label(helpers, tmp_path):
    data = helpers.synthetic.flowers_string_label(tmp_path / "data")
    message = _refused(helpers, data, tmp_path, "species", "regression")
    assert message.startswith("label_key 'species' (task regression): the transformed label is")
    assert "a string; regression needs a number" in message


def test_eval_labels_outside_the_vocabulary_fail_the_run(helpers, flowers_data, tmp_path):
    """-1 is what a vocabulary gives a class train never saw; 3 is beyond its 3 ids."""

    def relabel(split, i, v):
        if split != "eval":
            return v
        return -1 if i < 5 else 3 if i < 7 else v

    data = _with_labels(helpers, flowers_data, tmp_path, "species", relabel)
    message = _refused(helpers, data, tmp_path, "species", "multiclass")
    assert "eval labels outside the training classes, ids 0..2" in message
    for name in helpers.synthetic.SPECIES:
        assert name in message  # the classes, by name
    assert "-1 (5 rows), 3 (2 rows) of 90 eval rows" in message
    assert "Decision: fail" in message


def test_eval_ids_beyond_the_train_labels_fail_the_run_without_a_vocabulary(
    helpers, linear_data, tmp_path
):
    # group_xf has no vocabulary named like it: K = max train id + 1 = 3, names "0".."2".
    data = _with_labels(
        helpers, linear_data, tmp_path, "group_xf",
        lambda split, i, v: 4 if split == "eval" and i == 0 else min(v, 2),
    )  # fmt: skip
    message = _refused(helpers, data, tmp_path, "group_xf", "multiclass")
    assert "eval labels outside the training classes, ids 0..2 (0, 1, 2): 4 (1 row)" in message


def _argv(data, out, **overrides) -> list[str]:
    args = {
        "transformed-examples": str(data.transformed_examples),
        "transform-graph": str(data.transform_graph),
        "label-key": "species",
        "task": "multiclass",
        "hidden-units": "8",
        "learning-rate": "0.01",
        "epochs": "1",
        "batch-size": "32",
        "model": str(out / "model"),
        "best-hyperparameters": str(out / "best_hyperparameters"),
        "metrics": str(out / "metrics"),
        "tensorboard": str(out / "tensorboard"),
        "report": str(out / "report.html"),
    }
    args.update(overrides)
    return [part for k, v in args.items() for part in (f"--{k}", v)]


def test_main_refuses_an_unknown_task(flowers_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        component.main(_argv(flowers_data, tmp_path, task="clustering"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "task: 'clustering' is not one of binary, multiclass, regression" in err


def test_main_requires_label_key_and_task(flowers_data, tmp_path, capsys):
    argv = _argv(flowers_data, tmp_path)
    for flag in ("--label-key", "--task"):
        i = argv.index(flag)
        with pytest.raises(SystemExit) as exit_info:
            component.main(argv[:i] + argv[i + 2 :])
        assert exit_info.value.code == 2
        assert f"the following arguments are required: {flag}" in capsys.readouterr().err
