"""Puts this component's src/ on the import path, as the image's PYTHONPATH does, and this
folder (task_models.py: small multiclass and regression models); fixtures:
raw Examples from rows of the taxi CSV, a small SavedModel with the contract's signature names
(for the input checks, which read signatures only), real taxi models trained once per session
with train_model's test entry point (a good one, and a worse one trained on shuffled labels),
and baseline_model folders as resolve_baseline writes them."""

import json
import os
import re
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlops.testing import raw_examples
from mlops.testing.raw_examples import read_taxi_rows

# TF 2.16 defaults to Keras 3; TFT 1.16 and TFMA 0.47 need Keras 2 (as the base image sets).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
# The test helpers beside this file (task_models), for test modules to import.
sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[3]
RAW_SCHEMA = REPO / "pipelines" / "usecases" / "taxi" / "schema.pbtxt"
TAXI_MODULE = REPO / "pipelines" / "usecases" / "taxi" / "transform.py"
# One in-process worker: the machine is shared; the data is small.
TEST_BEAM_ARGS = "--runner=DirectRunner --direct_num_workers=1"
EVAL_CONFIG = {
    "label_key": "big_tipper",
    "metrics": ["ExampleCount", "AUC", "BinaryAccuracy", "Calibration", "Precision", "Recall"],
    "slices": [[], ["trip_start_hour"], ["payment_type"]],
    "thresholds": {"AUC": {"lower": 0.75}, "BinaryAccuracy": {"lower": 0.7}},
    "change_thresholds": {"AUC": {"direction": "higher", "absolute": -0.01}},
}


def write_examples(uri: Path, splits: dict[str, list[dict]]) -> Path:
    """An Examples artifact at uri of raw taxi rows: one gzipped TFRecord file per split."""
    return raw_examples.write_examples(uri, splits, RAW_SCHEMA.read_text())


def write_signature_model(path: Path, label_key: str = "big_tipper") -> Path:
    """A SavedModel that has the contract's signature names and sidecar but predicts nothing
    useful (a constant): for tests of the input checks, which never reach TFMA."""
    import tensorflow as tf

    class Constant(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples):
            return {"outputs": tf.fill([tf.shape(examples)[0], 1], 0.5)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def transform(self, examples):
            return {label_key: tf.zeros([tf.shape(examples)[0]], tf.int64)}

    module = Constant()
    tf.saved_model.save(
        module,
        str(path),
        signatures={"serving_default": module.serve, "transform_features": module.transform},
    )
    (path / "mlops_model.json").write_text(
        json.dumps({"model_name_hint": "constant", "label_key": label_key})
    )
    return path


def shuffle_labels(src: Path, dst: Path, label_key: str = "big_tipper", seed: int = 7) -> Path:
    """A copy of transformed Examples whose labels are permuted within each split: a model
    trained on it learns nothing (a deliberately worse model)."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    for split_dir in sorted(Path(src).glob("Split-*")):
        records = []
        for f in sorted(split_dir.glob("*.gz")):
            records += list(tf.data.TFRecordDataset(str(f), "GZIP").as_numpy_iterator())
        parsed = [tf.train.Example.FromString(r) for r in records]
        labels = [list(e.features.feature[label_key].int64_list.value) for e in parsed]
        out = Path(dst) / split_dir.name / "data_tfrecord-00000-of-00001.gz"
        out.parent.mkdir(parents=True, exist_ok=True)
        with tf.io.TFRecordWriter(str(out), tf.io.TFRecordOptions(compression_type="GZIP")) as w:
            for example, i in zip(parsed, rng.permutation(len(parsed)), strict=True):
                example.features.feature[label_key].int64_list.value[:] = labels[i]
                w.write(example.SerializeToString())
    return Path(dst)


def stable_copy(dest: Path, model: Path, version: int) -> Path:
    """A baseline_model as resolve_baseline writes it from the registry: a copy of the model
    artifact as deploy_model pushed it, with its version.json."""
    shutil.copytree(model, dest)
    (dest / "version.json").write_text(
        json.dumps({"version": version, "source_uri": str(model), "blessed": True})
    )
    return dest


def no_baseline(dest: Path) -> Path:
    """A baseline_model as resolve_baseline writes it when the registry has no stable version."""
    dest.mkdir(parents=True)
    (dest / "NO_BASELINE").write_text("No baseline: serving.json does not exist.\n")
    return dest


def svg_charts(html: str) -> dict[str, str]:
    """The inline SVG charts of a report, by their <title>."""
    found = re.findall(r"<svg .*?</svg>", html, re.S)
    return {re.search(r"<title>(.*?)</title>", svg).group(1): svg for svg in found}


def marks(svg: str, cls: str = "mark") -> int:
    """How many drawn data elements (or threshold lines) a chart has."""
    return svg.count(f'<g class="{cls}">')


def points(svg: str) -> int:
    """How many points the marks of a chart draw (a scatter's examples)."""
    import xml.etree.ElementTree as ET

    ns = "{http://www.w3.org/2000/svg}"
    root = ET.fromstring(svg)
    marked = [g for g in root.iter(f"{ns}g") if g.get("class") == "mark"]
    return sum(1 for g in marked for _ in g.iter(f"{ns}use"))


def _train_model_testing():
    path = str(REPO / "components" / "train_model" / "tests")
    if path not in sys.path:
        sys.path.insert(0, path)
    import train_model_testing

    return train_model_testing


@pytest.fixture(scope="session")
def taxi(tmp_path_factory):
    """A real taxi model from 1500 rows (1000 train, 500 eval), trained once per session:
    raw Examples (taxi.raw) -> TFT -> train_model; taxi.model is the Model artifact."""
    tmt = _train_model_testing()
    return tmt.train_taxi_model(tmp_path_factory.mktemp("taxi"), rows=1500, epochs=3)


@pytest.fixture(scope="session")
def worse_model(taxi, tmp_path_factory) -> Path:
    """A model of the same shape and transform trained on shuffled labels."""
    tmt = _train_model_testing()
    work = tmp_path_factory.mktemp("worse")
    shuffled = shuffle_labels(taxi.transformed_examples, work / "shuffled_examples")
    keys = ("raw", "transform_graph", "train_rows", "eval_rows", "schema_text")
    data = SimpleNamespace(**{k: getattr(taxi, k) for k in keys}, transformed_examples=shuffled)
    trained = tmt.train(
        data, work / "train", epochs=3, batch_size=32, learning_rate=0.003,
        model_name="taxi_big_tipper",
    )  # fmt: skip
    return trained.model


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    """The helpers above, for test modules (which cannot import conftest)."""
    return SimpleNamespace(
        read_taxi_rows=read_taxi_rows,
        write_examples=write_examples,
        write_signature_model=write_signature_model,
        stable_copy=stable_copy,
        no_baseline=no_baseline,
        svg_charts=svg_charts,
        marks=marks,
        points=points,
        REPO=REPO,
        RAW_SCHEMA=RAW_SCHEMA,
        TAXI_MODULE=TAXI_MODULE,
        TEST_BEAM_ARGS=TEST_BEAM_ARGS,
        EVAL_CONFIG=EVAL_CONFIG,
    )
