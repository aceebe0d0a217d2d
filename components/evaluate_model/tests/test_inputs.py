"""Inputs the component refuses with exit code 2 and a message naming the input, before TFMA
runs. The model here has the contract's signature names but is not trained: the checks read
signatures only, and every case stops before evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from evaluate_model import main as component


@pytest.fixture(scope="module")
def setup(tmp_path_factory, helpers):
    root = tmp_path_factory.mktemp("inputs")
    model = helpers.write_signature_model(root / "model")
    rows = helpers.read_taxi_rows(30)
    examples = helpers.write_examples(root / "raw", {"train": rows[:20], "eval": rows[20:]})
    only_train = helpers.write_examples(root / "raw_train_only", {"train": rows})
    return {"root": root, "model": model, "examples": examples, "only_train": only_train}


def _main(tmp_path, model, examples, eval_config, *extra):
    out = tmp_path / "out"
    return component.main(
        [
            "--model", str(model),
            "--examples", str(examples),
            "--eval-config", eval_config,
            "--evaluation", str(out / "evaluation"),
            "--blessing", str(out / "blessing"),
            "--blessed", str(out / "blessed"),
            "--report", str(out / "report.html"),
            "--metrics", str(out / "metrics"),
            *extra,
        ]
    )  # fmt: skip


def _refused(capsys, tmp_path, model, examples, eval_config, *extra) -> str:
    with pytest.raises(SystemExit) as e:
        _main(tmp_path, model, examples, eval_config, *extra)
    assert e.value.code == 2
    # The message is the component's last line (libraries may warn on stderr before it).
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("evaluate_model: ")
    assert not (tmp_path / "out" / "blessed").exists()  # no verdict from a refused run
    return err


def test_malformed_eval_config_json(capsys, tmp_path, setup):
    err = _refused(capsys, tmp_path, setup["model"], setup["examples"], '{"metrics": [AUC]}')
    assert "eval_config: not valid JSON" in err and "line 1, column 14" in err


def test_unknown_metric_name(capsys, tmp_path, setup, helpers):
    config = {**helpers.EVAL_CONFIG, "metrics": ["AUC", "F2Score"]}
    err = _refused(capsys, tmp_path, setup["model"], setup["examples"], json.dumps(config))
    assert "eval_config: unknown metric 'F2Score'" in err


def test_missing_eval_split(capsys, tmp_path, setup, helpers):
    config = json.dumps(helpers.EVAL_CONFIG)
    err = _refused(capsys, tmp_path, setup["model"], setup["only_train"], config)
    assert "examples: " in err and "no data for split eval" in err
    assert "Split-train" in err  # what is there instead


def test_model_that_is_not_a_saved_model(capsys, tmp_path, setup, helpers):
    folder = tmp_path / "not_a_model"
    folder.mkdir()
    (folder / "model.keras").write_text("")
    config = json.dumps(helpers.EVAL_CONFIG)
    err = _refused(capsys, tmp_path, folder, setup["examples"], config)
    assert "model: " in err and "is not a SavedModel" in err and "model.keras" in err
    err = _refused(
        capsys, tmp_path, setup["model"], setup["examples"], config,
        "--baseline-model", str(folder),
    )  # fmt: skip
    assert "baseline_model: " in err and "is not a SavedModel" in err


def test_model_without_the_contract_signatures(capsys, tmp_path, setup, helpers):
    import tensorflow as tf

    class Plain(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serve(self, examples):
            return {"outputs": tf.zeros([tf.shape(examples)[0], 1])}

    plain = Plain()
    path = tmp_path / "plain"
    tf.saved_model.save(plain, str(path), signatures={"serving_default": plain.serve})
    err = _refused(capsys, tmp_path, path, setup["examples"], json.dumps(helpers.EVAL_CONFIG))
    assert "model: " in err and "lacks the signature(s) transform_features" in err


def test_label_key_disagreeing_with_the_model(capsys, tmp_path, setup, helpers):
    config = json.dumps({**helpers.EVAL_CONFIG, "label_key": "tips"})
    err = _refused(capsys, tmp_path, setup["model"], setup["examples"], config)
    assert "eval_config.label_key is 'tips'" in err and "'big_tipper'" in err


def test_bad_beam_args(capsys, tmp_path, setup, helpers):
    config = json.dumps(helpers.EVAL_CONFIG)
    err = _refused(
        capsys, tmp_path, setup["model"], setup["examples"], config, "--beam-args", "[1, 2]"
    )
    assert "beam_args: " in err


def test_signature_model_passes_the_checks(setup):
    """The fixture itself is what the checks accept (else the cases above prove nothing)."""
    from evaluate_model.inputs import check_eval_split, check_model

    checked = check_model(Path(setup["model"]), "model")
    assert {"serving_default", "transform_features"} <= set(checked.signatures)
    assert checked.sidecar["label_key"] == "big_tipper"
    assert check_eval_split(str(setup["examples"])).endswith("Split-eval/data_tfrecord-*.gz")
