"""Tests of the transform_data component on the host: the taxi preprocessing_fn through the
whole component (one Beam run on 300 rows, shared by the tests of its outputs), then the
inputs it refuses, which fail before any pipeline is built."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from mlops_runtime import examples
from transform_data import main as component
from transform_data.inputs import InputError, load_user_module, parse_schema

from pipelines.usecases.taxi import transform as taxi

TRAIN_ROWS, EVAL_ROWS = 200, 100
EVAL_FARE_FACTOR = 50.0  # eval's fares are far from train's: leaked statistics would show


def _read(uri: str | Path, split: str, feature_spec) -> dict[str, np.ndarray]:
    import tensorflow as tf

    files = [str(f) for f in examples.files(uri, split)]
    records = list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator())
    parsed = tf.io.parse_example(records, feature_spec)
    return {k: v.numpy() for k, v in parsed.items()}


def _label(fare: float, tips: float) -> int:
    fare32, tips32 = np.float32(fare), np.float32(tips)
    return 0 if math.isnan(fare32) else int(tips32 > fare32 * np.float32(0.2))


def _fare_and_label(columns) -> list[tuple[float, int]]:
    """(fare_xf, label) of each transformed row, sorted: the pairs keep their rows together,
    so a value on another row's label fails where sorting each column alone would pass."""
    fares, labels = columns["fare_xf"].tolist(), columns[taxi.LABEL_KEY].tolist()
    return sorted(zip(fares, labels, strict=True))


def _expected_fare_and_label(rows, train_rows) -> list[tuple[float, int]]:
    """The same pairs by hand from the raw rows: z-scores with train's mean and deviation."""
    train = np.array([float(r["fare"]) for r in train_rows], np.float64)
    mean, std = train.mean(), train.std()
    return sorted(
        ((float(r["fare"]) - mean) / std, _label(float(r["fare"]), float(r["tips"])))
        for r in rows
    )


def _assert_same_rows(got: list[tuple[float, int]], want: list[tuple[float, int]]) -> None:
    assert [label for _, label in got] == [label for _, label in want]
    np.testing.assert_allclose([z for z, _ in got], [z for z, _ in want], rtol=1e-3, atol=1e-3)


@pytest.fixture(scope="module", autouse=True)
def _restore_python_path():
    """Loading a module puts its folder on sys.path and PYTHONPATH (for Beam's workers): undone
    after this module's tests, so that other components' tests do not see those folders."""
    import os
    import sys

    path, env = list(sys.path), os.environ.get("PYTHONPATH")
    yield
    sys.path[:] = path
    if env is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = env


@pytest.fixture(scope="module")
def taxi_run(tmp_path_factory, helpers, raw_schema_text):
    """One run of the component with the taxi module: 200 train rows, and 100 eval rows whose
    fares are multiplied by EVAL_FARE_FACTOR."""
    root = tmp_path_factory.mktemp("taxi_run")
    rows = helpers.read_taxi_rows(TRAIN_ROWS + EVAL_ROWS)
    train = rows[:TRAIN_ROWS]
    eval_ = [{**r, "fare": str(float(r["fare"]) * EVAL_FARE_FACTOR)} for r in rows[TRAIN_ROWS:]]
    raw = helpers.write_examples(root / "raw", {"train": train, "eval": eval_}, raw_schema_text)
    out = root / "out"
    component.main(
        [
            "--examples", str(raw),
            "--schema", raw_schema_text,
            "--module", helpers.TAXI_MODULE.read_text(),
            "--beam-args", helpers.TEST_BEAM_ARGS,
            "--transformed-examples", str(out / "transformed_examples"),
            "--transform-graph", str(out / "transform_graph"),
            "--metrics", str(out / "metrics"),
            "--executor-output", str(out / "executor_output.json"),
        ]
    )  # fmt: skip
    return {
        "train_rows": train,
        "eval_rows": eval_,
        "raw": raw,
        "transformed": out / "transformed_examples",
        "graph": out / "transform_graph",
        "metrics": out / "metrics",
        "executor_output": out / "executor_output.json",
    }


@pytest.fixture(scope="module")
def tft_output(taxi_run):
    import tensorflow_transform as tft

    return tft.TFTransformOutput(str(taxi_run["graph"]))


@pytest.fixture(scope="module")
def transformed(taxi_run, tft_output):
    spec = tft_output.transformed_feature_spec()
    return {s: _read(taxi_run["transformed"], s, spec) for s in examples.SPLITS}


def test_writes_both_splits_and_counts_their_rows(taxi_run):
    for split in examples.SPLITS:
        assert examples.files(taxi_run["transformed"], split), split
    rows = {"train_rows": TRAIN_ROWS, "eval_rows": EVAL_ROWS}
    assert json.loads(taxi_run["metrics"].read_text()) == rows
    executor_output = json.loads(taxi_run["executor_output"].read_text())
    assert executor_output["artifacts"]["metrics"]["artifacts"][0]["metadata"] == rows


def test_transformed_features_are_the_documented_ones(transformed, tft_output):
    expected = set(taxi.FEATURE_KEYS) | {taxi.LABEL_KEY}
    assert set(tft_output.transformed_feature_spec()) == expected
    train = transformed["train"]
    assert {k: len(v) for k, v in train.items()} == {k: TRAIN_ROWS for k in expected}
    for key in taxi.NUMERICAL_FEATURE_KEYS:
        assert train[taxi.transformed_name(key)].dtype == np.float32
    for key in taxi.BUCKET_FEATURE_KEYS:
        values = train[taxi.transformed_name(key)]
        assert values.dtype == np.int64
        assert 0 <= values.min() and values.max() < taxi.FEATURE_BUCKET_COUNT
        assert len(set(values)) > 3, key  # spread over buckets, not one
    for key in taxi.CATEGORICAL_STRING_FEATURE_KEYS + taxi.CATEGORICAL_NUMERICAL_FEATURE_KEYS:
        name = taxi.transformed_name(key)
        assert train[name].dtype == np.int64
        assert 0 <= train[name].min()
        assert train[name].max() < tft_output.num_buckets_for_transformed_feature(name)
    assert set(train[taxi.LABEL_KEY]) <= {0, 1}


def test_z_scores_come_from_the_train_split_only(taxi_run, transformed):
    train_fares = np.array([float(r["fare"]) for r in taxi_run["train_rows"]], np.float64)
    eval_fares = np.array([float(r["fare"]) for r in taxi_run["eval_rows"]], np.float64)
    for key in taxi.NUMERICAL_FEATURE_KEYS:
        z = transformed["train"][taxi.transformed_name(key)]
        assert abs(z.mean()) < 1e-3, key
        assert z.std() == pytest.approx(1.0, abs=1e-3), key
    # Eval is scaled with train's mean and deviation, so its shifted fares stand out.
    expected = (eval_fares - train_fares.mean()) / train_fares.std()
    eval_z = transformed["eval"][taxi.transformed_name("fare")]
    assert eval_z.mean() > 10 and eval_z.mean() == pytest.approx(expected.mean(), rel=1e-3)
    # Row by row: each eval row's z-score beside its own label.
    _assert_same_rows(
        _fare_and_label(transformed["eval"]),
        _expected_fare_and_label(taxi_run["eval_rows"], taxi_run["train_rows"]),
    )


def test_labels_are_big_tippers(taxi_run, transformed):
    for split in examples.SPLITS:
        rows = taxi_run[f"{split}_rows"]
        # Each row's label beside its own fare (the pairs sorted, not each column).
        _assert_same_rows(
            _fare_and_label(transformed[split]),
            _expected_fare_and_label(rows, taxi_run["train_rows"]),
        )
    assert 0 < sum(transformed["train"][taxi.LABEL_KEY]) < TRAIN_ROWS


def test_vocabularies_come_from_train(taxi_run, tft_output):
    # The most frequent payment type of train gets id 0; an unseen one an OOV bucket.
    vocabulary = tft_output.vocabulary_by_name("payment_type")
    assert vocabulary[0] == b"Cash"  # 144 of the 200 train rows
    assert tft_output.num_buckets_for_transformed_feature("payment_type_xf") == (
        len(vocabulary) + taxi.OOV_SIZE
    )


def test_the_transform_graph_transforms_raw_examples_for_serving(
    taxi_run, tft_output, helpers, raw_schema_text
):
    """What a serving signature does: parse raw tf.Examples with the raw feature spec saved in
    the transform graph, and call transform_features_layer(); hand-checked rows."""
    import tensorflow as tf

    assert tft_output.raw_feature_spec() == parse_feature_spec(raw_schema_text)
    base = dict(helpers.read_taxi_rows(1)[0])  # fare 12.45, tips 0.0, no coordinates
    cases = [  # (fare, tips, payment_type, big_tipper)
        ("12.45", "0.0", "Cash", 0),
        ("10.0", "3.0", "Credit Card", 1),
        ("10.0", "1.0", "Credit Card", 0),
        ("0.0", "0.0", "Cash", 0),
        ("0.0", "1.0", "Bitcoin", 1),  # any tip on no fare; a payment type never seen
        ("nan", "5.0", "Cash", 0),  # a NaN fare: not a big tipper
    ]
    types = helpers.feature_types(raw_schema_text)
    serialized = [
        helpers.to_example({**base, "fare": f, "tips": t, "payment_type": p}, types)
        for f, t, p, _ in cases
    ]
    layer = tft_output.transform_features_layer()
    out = layer(tf.io.parse_example(serialized, tft_output.raw_feature_spec()))
    assert list(out[taxi.LABEL_KEY].numpy()) == [label for *_, label in cases]

    fares = np.array([float(r["fare"]) for r in taxi_run["train_rows"]])
    fare_xf = out["fare_xf"].numpy()
    for i in range(5):
        expected = (float(cases[i][0]) - fares.mean()) / fares.std()
        assert fare_xf[i] == pytest.approx(expected, rel=1e-3, abs=1e-3)
    payment = out["payment_type_xf"].numpy()
    vocabulary = tft_output.vocabulary_by_name("payment_type")
    assert payment[0] == vocabulary.index(b"Cash")
    assert payment[1] == vocabulary.index(b"Credit Card")
    assert len(vocabulary) <= payment[4] < len(vocabulary) + taxi.OOV_SIZE
    # Absent coordinates are filled in, then bucketized like any value.
    assert set(out["pickup_latitude_xf"].numpy()) <= set(range(taxi.FEATURE_BUCKET_COUNT))

    # Serving requests carry no tips: every feature but the label is still produced.
    spec = tft_output.raw_feature_spec()
    spec.pop(taxi.RAW_LABEL_KEY)
    served = layer(tf.io.parse_example(serialized, spec))
    assert set(served) == set(taxi.FEATURE_KEYS)
    np.testing.assert_allclose(served["fare_xf"].numpy(), fare_xf)


def parse_feature_spec(schema_text: str):
    from tensorflow_transform.tf_metadata import schema_utils

    return schema_utils.schema_as_feature_spec(parse_schema(schema_text)).feature_spec


def test_the_test_schema_mirrors_what_tfdv_infers(raw_schema_text, helpers):
    """Features absent in some rows of the full CSV are VarLen (sparse), the others dense; and
    the same holds for the project's schema once pipelines/usecases/taxi/schema.pbtxt exists."""
    import tensorflow as tf

    spec = parse_feature_spec(raw_schema_text)
    dense = {k for k, v in spec.items() if isinstance(v, tf.io.FixedLenFeature)}
    assert dense == {
        "fare", "tips", "trip_miles", "payment_type",
        "trip_start_month", "trip_start_hour", "trip_start_day", "trip_start_timestamp",
    }  # fmt: skip
    assert spec["trip_seconds"].dtype == tf.int64 and spec["company"].dtype == tf.string
    project = helpers.REPO / "pipelines" / "usecases" / "taxi" / "schema.pbtxt"
    if project.is_file():
        kinds = {k: (type(v).__name__, v.dtype) for k, v in spec.items()}
        theirs = parse_feature_spec(project.read_text())
        assert {k: (type(v).__name__, v.dtype) for k, v in theirs.items()} == kinds


# Inputs refused before any pipeline runs.


@pytest.fixture
def raw_examples(tmp_path, helpers, raw_schema_text):
    rows = helpers.read_taxi_rows(20)
    splits = {"train": rows[:10], "eval": rows[10:]}
    return helpers.write_examples(tmp_path / "raw", splits, raw_schema_text)


def _run(examples_uri, schema, module, tmp_path):
    return component.run(
        str(examples_uri),
        schema,
        module,
        str(tmp_path / "out" / "transformed"),
        str(tmp_path / "out" / "graph"),
        "--direct_num_workers=1",
    )


def test_a_module_without_preprocessing_fn_is_refused(raw_examples, raw_schema_text, tmp_path):
    module = "import math\n\ndef preprocess(inputs):\n    return inputs\n"
    with pytest.raises(InputError, match=r"defines no preprocessing_fn \(it defines: preprocess"):
        _run(raw_examples, raw_schema_text, module, tmp_path)
    assert not (tmp_path / "out").exists()


def test_a_module_with_a_syntax_error_is_refused(raw_examples, raw_schema_text, tmp_path):
    module = "def preprocessing_fn(inputs):\n    return {k: v for k in inputs\n"
    with pytest.raises(InputError, match="syntax error at line 2"):
        _run(raw_examples, raw_schema_text, module, tmp_path)


def test_a_module_that_fails_to_import_is_refused(raw_examples, raw_schema_text, tmp_path):
    module = "import no_such_package_here\n\ndef preprocessing_fn(inputs):\n    return inputs\n"
    with pytest.raises(InputError, match="fails to import: ModuleNotFoundError"):
        _run(raw_examples, raw_schema_text, module, tmp_path)


def test_a_module_path_that_does_not_exist_is_refused(raw_examples, raw_schema_text, tmp_path):
    with pytest.raises(InputError, match="looks like a path to a .py file, but no such file"):
        _run(raw_examples, raw_schema_text, str(tmp_path / "nope.py"), tmp_path)


def test_a_module_is_source_or_a_py_path(helpers, tmp_path):
    by_path = load_user_module(str(helpers.TAXI_MODULE))
    assert by_path.name == "transform"
    assert by_path.preprocessing_fn.__name__ == "preprocessing_fn"
    source = helpers.TAXI_MODULE.read_text() + "\n# test_a_module_is_source_or_a_py_path\n"
    by_source = load_user_module(source, workdir=tmp_path / "w")
    assert by_source.name.startswith("user_preprocessing_")
    assert by_source.files == (tmp_path / "w" / f"{by_source.name}.py",)
    assert by_source.files[0].read_text() == source
    # A module given by path imports the modules beside it.
    (tmp_path / "my_constants.py").write_text("KEYS = ['fare']\n")
    (tmp_path / "my_module.py").write_text(
        "import my_constants\n\ndef preprocessing_fn(inputs):\n"
        "    return {k: inputs[k] for k in my_constants.KEYS}\n"
    )
    mine = load_user_module(str(tmp_path / "my_module.py"))
    assert {f.name for f in mine.files} >= {"my_module.py", "my_constants.py"}


def test_a_module_folder_hiding_installed_modules_is_refused(tmp_path):
    """Its folder goes on the workers' PYTHONPATH: a json.py there would break them."""
    (tmp_path / "my_module.py").write_text("def preprocessing_fn(inputs):\n    return inputs\n")
    (tmp_path / "json.py").write_text("")
    with pytest.raises(InputError, match="json.py beside it has the name of the module 'json'"):
        load_user_module(str(tmp_path / "my_module.py"))


def test_worker_processes_import_the_module_by_name(helpers, tmp_path):
    """Beam pickles preprocessing_fn by reference: local workers import it from PYTHONPATH."""
    import os
    import subprocess
    import sys

    user = load_user_module("X = 42\n\ndef preprocessing_fn(inputs):\n    return inputs\n")
    code = f"import {user.name} as m; print(m.X)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=dict(os.environ), capture_output=True, text=True
    )
    assert out.stdout.strip() == "42", out.stderr


def test_remote_workers_get_the_module_as_a_wheel(helpers, tmp_path):
    """For Dataflow and other remote runners the module goes along as --extra_package; the
    wheel installs with pip and its module imports."""
    import subprocess
    import sys

    from transform_data.transform import with_module_package

    user = load_user_module(helpers.TAXI_MODULE.read_text(), workdir=tmp_path / "w")
    local = ["--runner=DirectRunner", "--direct_num_workers=1"]
    assert with_module_package(local, user, tmp_path / "pkg") == local
    assert with_module_package([], user, tmp_path / "pkg") == []
    remote = ["--runner=DataflowRunner", "--project=p", "--region=r"]
    args = with_module_package(remote, user, tmp_path / "pkg")
    assert args[:3] == remote and args[3].startswith("--extra_package=")
    wheel = args[3].split("=", 1)[1]
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
    subprocess.run([*pip, "--target", str(target), wheel], check=True)
    code = f"import {user.name} as m; print(m.LABEL_KEY)"
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {code}"],
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "big_tipper", out.stderr


def test_a_missing_split_is_refused(tmp_path, helpers, raw_schema_text):
    only_train = helpers.write_examples(
        tmp_path / "raw", {"train": helpers.read_taxi_rows(5)}, raw_schema_text
    )
    with pytest.raises(
        InputError, match=r"no data for split\(s\) eval .*folders there: Split-train"
    ):
        _run(only_train, raw_schema_text, helpers.TAXI_MODULE.read_text(), tmp_path)


@pytest.mark.parametrize(
    "schema, message",
    [
        ("feature { name: 'fare' type: FLOATY }", "does not parse as a tensorflow_metadata"),
        ("not a schema at all", "does not parse"),
        (
            "pipelines/usecases/taxi/schema.pbtxt",
            "looks like a path: pass the schema file's content",
        ),
        ("", "schema: empty"),
        ("# only a comment\n", "declares no features"),
    ],
)
def test_a_schema_that_does_not_parse_is_refused(raw_examples, helpers, tmp_path, schema, message):
    with pytest.raises(InputError, match=message):
        _run(raw_examples, schema, helpers.TAXI_MODULE.read_text(), tmp_path)


def test_main_reports_bad_input_in_one_line(raw_examples, raw_schema_text, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        component.main(
            [
                "--examples", str(raw_examples / "nowhere"),
                "--schema", raw_schema_text,
                "--module", "def preprocessing_fn(inputs):\n    return inputs\n",
                "--transformed-examples", str(tmp_path / "t"),
                "--transform-graph", str(tmp_path / "g"),
                "--metrics", str(tmp_path / "m"),
            ]
        )  # fmt: skip
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().startswith("transform_data: examples: ")


def test_vertex_fuse_paths_become_gs_uris_for_beam():
    from transform_data.transform import beam_path

    assert beam_path("/gcs/bucket/run/examples") == "gs://bucket/run/examples"
    assert beam_path("/tmp/outputs/examples") == "/tmp/outputs/examples"


def test_the_taxi_module_imports_without_tensorflow(helpers):
    import subprocess
    import sys

    code = (
        "import sys; from pipelines.usecases.taxi import transform as t; "
        "assert 'tensorflow' not in sys.modules; print(t.LABEL_KEY, len(t.FEATURE_KEYS))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=helpers.REPO, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["big_tipper", "16"]
