"""Small synthetic tabular problems for the multiclass and regression tests, made for real:
rows -> raw Examples (mlops.testing.raw_examples) -> transform_data.main.run with a TFT module
passed as source text -> transformed Examples and transform graph, as in a pipeline.

- flowers (multiclass): x1, x2 (floats) and colour (a string that carries no signal) ->
  species, one of three names around three well-separated centres; the TFT module maps
  species through a vocabulary named "species" (the label_key), so the class names come from it
  (flowers_string_label: the module leaves species a string).
- linear (regression): x1, x2 and group (a string with an offset per group) ->
  y = 3 x1 - 2 x2 + offset + noise, passed through as float32, unscaled.

Import train_model_testing first (it puts transform_data's src/ on the path)."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

from train_model_testing import TEST_BEAM_ARGS

from mlops.testing import raw_examples

SPECIES = {"setosa": (0.0, 0.0), "versicolor": (4.0, 0.0), "virginica": (0.0, 4.0)}
GROUP_OFFSET = {"a": -1.0, "b": 0.0, "c": 2.0}
LINEAR_NOISE = 0.3


def _feature(name: str, kind: str) -> str:
    # Present in every row: shape [1], a FixedLenFeature.
    return (
        f'feature {{ name: "{name}" type: {kind} presence {{ min_fraction: 1.0 }} '
        "shape { dim { size: 1 } } }\n"
    )


FLOWERS_SCHEMA = "".join(
    _feature(n, k) for n, k in (("x1", "FLOAT"), ("x2", "FLOAT"), ("colour", "BYTES"))
) + _feature("species", "BYTES")

FLOWERS_TEMPLATE = """
import tensorflow as tf
import tensorflow_transform as tft


def preprocessing_fn(inputs):
    flat = {k: tf.reshape(v, [-1]) for k, v in inputs.items()}
    return {
        "x1_xf": tft.scale_to_z_score(flat["x1"]),
        "x2_xf": tft.scale_to_z_score(flat["x2"]),
        "colour_xf": tft.compute_and_apply_vocabulary(
            flat["colour"], num_oov_buckets=1, vocab_filename="colour"
        ),
        "species": LABEL,
    }
"""
# The label: class ids through a vocabulary named like the label (its names, K) ...
FLOWERS_MODULE = FLOWERS_TEMPLATE.replace(
    "LABEL", 'tft.compute_and_apply_vocabulary(flat["species"], vocab_filename="species")'
)
# ... or, forgotten, the names themselves: a string label.
FLOWERS_STRING_LABEL_MODULE = FLOWERS_TEMPLATE.replace("LABEL", 'flat["species"]')

LINEAR_SCHEMA = "".join(
    _feature(n, k) for n, k in (("x1", "FLOAT"), ("x2", "FLOAT"), ("group", "BYTES"))
) + _feature("y", "FLOAT")

LINEAR_MODULE = """
import tensorflow as tf
import tensorflow_transform as tft


def preprocessing_fn(inputs):
    flat = {k: tf.reshape(v, [-1]) for k, v in inputs.items()}
    return {
        "x1_xf": tft.scale_to_z_score(flat["x1"]),
        "x2_xf": tft.scale_to_z_score(flat["x2"]),
        "group_xf": tft.compute_and_apply_vocabulary(
            flat["group"], num_oov_buckets=1, vocab_filename="group"
        ),
        "y": flat["y"],  # the label as it is
    }
"""


def flowers_rows(count: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        species = rng.choice(sorted(SPECIES))
        cx, cy = SPECIES[species]
        rows.append(
            {
                "x1": f"{rng.gauss(cx, 1.0):.4f}",
                "x2": f"{rng.gauss(cy, 1.0):.4f}",
                "colour": rng.choice(["red", "green", "blue"]),
                "species": species,
            }
        )
    return rows


def linear_y(x1: float, x2: float, group: str) -> float:
    """The noise-free target of a linear row."""
    return 3.0 * x1 - 2.0 * x2 + GROUP_OFFSET[group]


def linear_rows(count: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        x1, x2 = rng.uniform(-2, 2), rng.uniform(-2, 2)
        group = rng.choice(sorted(GROUP_OFFSET))
        y = linear_y(x1, x2, group) + rng.gauss(0.0, LINEAR_NOISE)
        rows.append({"x1": f"{x1:.4f}", "x2": f"{x2:.4f}", "group": group, "y": f"{y:.4f}"})
    return rows


def transform(
    workdir: Path, splits: dict[str, list[dict]], schema_text: str, module: str
) -> SimpleNamespace:
    """Raw Examples of the splits and their transform_data outputs under workdir."""
    from transform_data import main as transform_data

    workdir = Path(workdir)
    raw = raw_examples.write_examples(workdir / "raw", splits, schema_text)
    transformed, graph = workdir / "transformed_examples", workdir / "transform_graph"
    transform_data.run(str(raw), schema_text, module, str(transformed), str(graph), TEST_BEAM_ARGS)
    return SimpleNamespace(
        raw=raw,
        transformed_examples=transformed,
        transform_graph=graph,
        train_rows=splits["train"],
        eval_rows=splits["eval"],
        schema_text=schema_text,
    )


def flowers(workdir: Path, train: int = 240, eval_: int = 90) -> SimpleNamespace:
    splits = {"train": flowers_rows(train, seed=1), "eval": flowers_rows(eval_, seed=2)}
    return transform(workdir, splits, FLOWERS_SCHEMA, FLOWERS_MODULE)


def flowers_string_label(workdir: Path, train: int = 60, eval_: int = 30) -> SimpleNamespace:
    splits = {"train": flowers_rows(train, seed=1), "eval": flowers_rows(eval_, seed=2)}
    return transform(workdir, splits, FLOWERS_SCHEMA, FLOWERS_STRING_LABEL_MODULE)


def linear(workdir: Path, train: int = 240, eval_: int = 90) -> SimpleNamespace:
    splits = {"train": linear_rows(train, seed=3), "eval": linear_rows(eval_, seed=4)}
    return transform(workdir, splits, LINEAR_SCHEMA, LINEAR_MODULE)


def rewrite_labels(src: Path, dst: Path, label_key: str, relabel) -> Path:
    """A copy of transformed Examples whose int64 label is relabel(split, index, label): the
    same transform graph over labels a test needs (one class, -1, an id beyond K)."""
    import tensorflow as tf
    from mlops_runtime import examples

    for split in examples.SPLITS:
        out = Path(examples.file_prefix(dst, split) + "-00000-of-00001.gz")
        out.parent.mkdir(parents=True, exist_ok=True)
        options = tf.io.TFRecordOptions(compression_type="GZIP")
        with tf.io.TFRecordWriter(str(out), options) as writer:
            files = [str(f) for f in examples.files(src, split)]
            for i, record in enumerate(tf.data.TFRecordDataset(files, compression_type="GZIP")):
                example = tf.train.Example.FromString(record.numpy())
                values = example.features.feature[label_key].int64_list.value
                values[:] = [relabel(split, i, values[0])]
                writer.write(example.SerializeToString())
    return dst
