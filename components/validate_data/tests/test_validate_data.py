"""Tests of the validate_data component: small Examples fixtures written from the Chicago taxi
sample with the Examples layout of mlops_runtime.examples, validated against the repo's
schema (pipelines/usecases/taxi/schema.pbtxt); one test runs the real image through kfp.local."""

import csv
import functools
import json
import random
import re
from pathlib import Path

import pytest
from mlops_runtime.charts import human
from validate_data import main as component

from mlops.testing.html_text import table_rows, text, texts

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "data" / "chicago_taxi" / "data.csv"
SCHEMA = REPO / "pipelines" / "usecases" / "taxi" / "schema.pbtxt"
BEAM_ARGS = json.dumps(["--runner=DirectRunner", "--direct_num_workers=1"])
# Rows per split. Schema checks use a few hundred rows; drift and skew compare train splits
# of 1,000 rows, where the sampling noise of the distances (about 1/sqrt(n) for L-infinity)
# stays well below the 0.1 thresholds.
SMALL = {"train": 200, "eval": 100}
LARGE = {"train": 1000, "eval": 200}


@functools.cache
def shuffled_rows() -> tuple[dict[str, str], ...]:
    """The sample in a fixed random order: the file is in blocks that differ (it was put
    together from several extracts), so consecutive rows are not a random sample."""
    with DATA.open(newline="") as f:
        rows = list(csv.DictReader(f))
    random.Random(0).shuffle(rows)
    return tuple(rows)


def rows(start: int, count: int) -> list[dict[str, str]]:
    return [dict(r) for r in shuffled_rows()[start : start + count]]


def split_rows(data: list[dict], sizes: dict[str, int] = SMALL) -> dict[str, list[dict]]:
    train = sizes["train"]
    assert len(data) >= train + sizes["eval"], "not enough rows for the splits"
    return {"train": data[:train], "eval": data[train : train + sizes["eval"]]}


def write_examples(uri: Path, splits: dict[str, list[dict]], types: dict[str, str] | None = None):
    """Writes rows as gzipped TFRecords of tf.Example in the Examples layout, typed as the
    schema says (empty cells are absent features). `types` overrides a column's kind:
    bytes | int | float."""
    import tensorflow as tf
    from google.protobuf import text_format
    from mlops_runtime import examples
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema = text_format.Parse(SCHEMA.read_text(), schema_pb2.Schema())
    kinds = {f.name: {1: "bytes", 2: "int", 3: "float"}[f.type] for f in schema.feature}
    kinds.update(types or {})
    for split, split_data in splits.items():
        path = Path(examples.file_prefix(uri, split) + "-00000-of-00001.gz")
        path.parent.mkdir(parents=True, exist_ok=True)
        with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
            for row in split_data:
                features = {}
                for name, value in row.items():
                    if value is None or value == "":
                        continue
                    kind = kinds.get(name, "bytes")
                    if kind == "int":
                        feature = tf.train.Feature(
                            int64_list=tf.train.Int64List(value=[int(value)])
                        )
                    elif kind == "float":
                        feature = tf.train.Feature(
                            float_list=tf.train.FloatList(value=[float(value)])
                        )
                    else:
                        feature = tf.train.Feature(
                            bytes_list=tf.train.BytesList(value=[str(value).encode()])
                        )
                    features[name] = feature
                example = tf.train.Example(features=tf.train.Features(feature=features))
                writer.write(example.SerializeToString())
    return uri


def run(tmp: Path, examples: Path, *extra: str, schema: str | None = None) -> dict:
    """Runs main() into tmp/out; returns what it wrote."""
    out = tmp / "out"
    component.main(
        [
            "--examples",
            str(examples),
            "--schema",
            SCHEMA.read_text() if schema is None else schema,
            "--beam-args",
            BEAM_ARGS,
            "--statistics",
            str(out / "statistics"),
            "--anomalies",
            str(out / "anomalies"),
            "--report",
            str(out / "report.html"),
            "--decision",
            str(out / "decision"),
            "--summary",
            str(out / "summary"),
            "--executor-output",
            str(out / "executor_output.json"),
            *extra,
        ]
    )
    return outputs(out)


def feature_sections(report: str) -> list[tuple[str, str]]:
    """(feature, its section's HTML) in the report's order."""
    found = re.findall(
        r"<section class='feature( flagged)?' data-feature='([^']*)'>(.*?)</section>", report, re.S
    )
    return [(name, body) for _, name, body in found]


def flagged_features(report: str) -> list[str]:
    return re.findall(r"<section class='feature flagged' data-feature='([^']*)'>", report)


def decision_of(report: str) -> str:
    """The verdict element's text."""
    return text(report, "span", "decision")


def verdict_line(report: str) -> str:
    return next(p for p in texts(report, "p") if p.startswith("Decision: "))


def over_threshold(report: str, feature: str) -> list[str]:
    """The feature's distances over their thresholds, as its section says them."""
    section = dict(feature_sections(report))[feature]
    return texts(section, "p", "over")


def outputs(out: Path) -> dict:
    return {
        "out": out,
        "decision": (out / "decision").read_text(),
        "summary": json.loads((out / "anomalies" / "summary.json").read_text()),
        "metrics": json.loads((out / "summary").read_text()),
        "report": (out / "report.html").read_text(),
    }


@pytest.fixture(scope="module")
def sample() -> list[dict]:
    """A few hundred rows of clean data."""
    return rows(0, SMALL["train"] + SMALL["eval"])


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory) -> dict:
    """The clean data of the drift and skew tests (the first 1,200 rows), validated."""
    tmp = tmp_path_factory.mktemp("clean")
    examples = write_examples(tmp / "examples", split_rows(rows(0, 1200), LARGE))
    return {**run(tmp, examples), "examples": examples}


def test_statistics_per_split(clean_run):
    import tensorflow_data_validation as tfdv

    for split, count in LARGE.items():
        path = clean_run["out"] / "statistics" / f"Split-{split}" / "FeatureStats.pb"
        stats = tfdv.load_stats_binary(str(path))
        assert stats.datasets[0].num_examples == count
        # 17 of the 18 columns: pickup_census_tract has one value in the whole sample.
        assert len(stats.datasets[0].features) == 17
    assert clean_run["metrics"]["examples_train"] == LARGE["train"]
    assert clean_run["metrics"]["examples_eval"] == LARGE["eval"]


def test_a_clean_sample_continues(clean_run):
    assert clean_run["decision"] == "continue"
    assert clean_run["metrics"]["anomalies"] == 0
    assert clean_run["summary"]["anomalies"] == []
    for split in ("train", "eval"):
        assert (clean_run["out"] / "anomalies" / f"Split-{split}" / "anomalies.pbtxt").is_file()
    executor_output = json.loads((clean_run["out"] / "executor_output.json").read_text())
    metadata = executor_output["artifacts"]["summary"]["artifacts"][0]["metadata"]
    assert metadata["anomalies"] == 0 and metadata["passed"] == 1
    assert decision_of(clean_run["report"]) == "continue"
    assert verdict_line(clean_run["report"]) == (
        "Decision: continue — 0 anomalies; drifted features: none; skewed features: none."
    )
    # The statistics table of each split lists the features, each with its share present.
    data = split_rows(rows(0, 1200), LARGE)
    present = [human(sum(r["fare"] != "" for r in data[s]) / len(data[s]), "%") for s in data]
    fares = [r for r in table_rows(clean_run["report"]) if r[:2] == ["fare", "FLOAT"]]
    assert [r[2] for r in fares] == present  # train, eval


def test_the_report_charts_every_feature_in_train_and_eval(clean_run):
    sections = dict(feature_sections(clean_run["report"]))
    assert len(sections) == 17 and flagged_features(clean_run["report"]) == []
    for name, body in sections.items():
        assert body.count("<svg ") == 1, name
        assert "<title>" in body and 'class="mark"' in body, name
    # A numeric feature as histograms, a categorical one as its commonest values; both
    # for train and eval (the chart's legend), no drift reference in this run.
    fare, payment = sections["fare"], sections["payment_type"]
    assert "share of values" in fare and ">train<" in fare and ">eval<" in fare
    assert "share of rows" in payment and ">Cash<" in payment
    assert "drift reference" not in fare
    assert "4.8000" not in clean_run["report"] and ".0000" not in clean_run["report"]


def test_a_missing_column_stops_and_the_report_names_it(tmp_path, sample):
    dropped = [{k: v for k, v in r.items() if k != "fare"} for r in sample]
    result = run(tmp_path, write_examples(tmp_path / "examples", split_rows(dropped)))
    assert result["decision"] == "stop"
    features = {a["feature"] for a in result["summary"]["anomalies"]}
    assert features == {"fare"}
    assert "Column dropped" in {a["anomaly"] for a in result["summary"]["anomalies"]}
    anomalies = (result["out"] / "anomalies" / "Split-train" / "anomalies.pbtxt").read_text()
    assert '"fare"' in anomalies
    assert "<td>fare</td>" in result["report"]
    assert result["metrics"]["anomalies"] == 2  # one per split
    # The feature with the anomaly comes first, named as such.
    (first, body), *_ = feature_sections(result["report"])
    assert first == "fare" and flagged_features(result["report"]) == ["fare"]
    assert "Column dropped" in body and "badge bad'>anomaly" in body


def test_a_string_in_fare_stops_naming_file_record_and_value(tmp_path, sample):
    examples = write_examples(tmp_path / "examples", split_rows(sample))
    # One record's fare is a string (the others are floats)
    _rewrite_record(examples / "Split-train", 7, "fare", b"12,50 USD")
    result = run(tmp_path, examples)
    assert result["decision"] == "stop"
    (anomaly,) = [a for a in result["summary"]["anomalies"] if a["section"] == "train"]
    assert anomaly["feature"] == "fare"
    assert "record 7" in anomaly["description"] and "12,50 USD" in anomaly["description"]
    assert "data_tfrecord-00000-of-00001.gz" in anomaly["description"]
    # The other split is still validated, and passes.
    assert result["metrics"]["anomalies_eval"] == 0
    assert "12,50 USD" in result["report"]


def test_a_string_column_where_the_schema_says_float_stops(tmp_path, sample):
    examples = write_examples(tmp_path / "examples", split_rows(sample), {"fare": "bytes"})
    result = run(tmp_path, examples)
    assert result["decision"] == "stop"
    assert {a["feature"] for a in result["summary"]["anomalies"]} == {"fare"}


def _rewrite_record(split_dir: Path, index: int, name: str, value: bytes) -> None:
    import tensorflow as tf

    (path,) = split_dir.glob("data_tfrecord-*.gz")
    records = list(tf.data.TFRecordDataset(str(path), compression_type="GZIP").as_numpy_iterator())
    example = tf.train.Example.FromString(records[index])
    example.features.feature[name].Clear()
    example.features.feature[name].bytes_list.value.append(value)
    records[index] = example.SerializeToString()
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for record in records:
            writer.write(record)


@pytest.mark.parametrize(
    "schema, message",
    [
        ("feature { name: 'fare' type: FLOAT", "does not parse"),
        ("feature { name: 'fare' type: FLOATY }", "does not parse"),
        ("pipelines/usecases/taxi/schema.pbtxt", "not a path"),
        ("   ", "empty"),
    ],
)
def test_a_bad_schema_is_a_clear_error(tmp_path, schema, message):
    examples = tmp_path / "examples"  # never read: the schema is checked first
    with pytest.raises(SystemExit) as e:
        run(tmp_path, examples, schema=schema)
    assert "--schema" in str(e.value) and message in str(e.value)


def test_missing_examples_are_a_clear_error(tmp_path):
    (tmp_path / "examples" / "Split-train").mkdir(parents=True)
    with pytest.raises(SystemExit, match="Split-train holds no data_tfrecord"):
        run(tmp_path, tmp_path / "examples")
    with pytest.raises(SystemExit, match="no Split-\\* folders"):
        run(tmp_path, tmp_path)


def test_an_unreadable_file_is_a_clear_error(tmp_path, sample):
    examples = write_examples(tmp_path / "examples", split_rows(sample))
    (path,) = (examples / "Split-eval").glob("*.gz")
    path.write_bytes(b"not gzip")
    with pytest.raises(SystemExit, match=f"{path} is not a gzipped TFRecord file"):
        run(tmp_path, examples)
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        writer.write(b"\x07not a tf.Example")
    with pytest.raises(SystemExit, match=f"{path}: a record is not a tf.Example"):
        run(tmp_path, examples)


def test_bad_beam_args_are_a_clear_error(tmp_path, sample):
    examples = write_examples(tmp_path / "examples", split_rows(sample))
    with pytest.raises(SystemExit, match="Unexpected pipeline runner: NoSuchRunner"):
        run(tmp_path, examples, "--beam-args=--runner=NoSuchRunner")


def test_an_empty_split_stops(tmp_path, sample):
    examples = write_examples(tmp_path / "examples", {"train": sample, "eval": []})
    result = run(tmp_path, examples)
    assert result["decision"] == "stop"
    assert result["summary"]["anomalies"] == [
        {"section": "eval", "feature": "(dataset)", "anomaly": "Data missing"}
    ]


def test_values_outside_the_schema_stop(tmp_path, sample):
    data = [dict(r) for r in sample]
    data[3]["fare"], data[4]["payment_type"] = "-1", "Bitcoin"
    result = run(tmp_path, write_examples(tmp_path / "examples", split_rows(data)))
    assert result["decision"] == "stop"
    found = {a["feature"]: a["anomaly"] for a in result["summary"]["anomalies"]}
    assert found == {"fare": "Out-of-range values", "payment_type": "Unexpected string values"}


def test_unusable_previous_statistics_are_a_clear_error(tmp_path, clean_run):
    with pytest.raises(SystemExit, match="--previous-statistics .*no Split-train/FeatureStats.pb"):
        run(tmp_path, clean_run["examples"], "--previous-statistics", str(tmp_path))
    bad = tmp_path / "bad" / "Split-train" / "FeatureStats.pb"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(SystemExit, match="--previous-statistics .*not a DatasetFeatureStatistics"):
        run(tmp_path, clean_run["examples"], "--previous-statistics", str(tmp_path / "bad"))


def test_a_no_statistics_marker_means_no_drift_reference(tmp_path, clean_run):
    # What a pipeline's importer passes on the first run: nothing to compare with yet.
    marker = tmp_path / "none"
    marker.mkdir()
    (marker / "NO_STATISTICS").write_text("first run\n")
    result = run(tmp_path, clean_run["examples"], "--previous-statistics", str(marker))
    assert result["decision"] == "continue"
    assert result["summary"]["drifted_features"] == []
    # Without the marker, an empty folder is still an error (a wrong path, not a first run).
    (marker / "NO_STATISTICS").unlink()
    with pytest.raises(SystemExit, match="--previous-statistics"):
        run(tmp_path, clean_run["examples"], "--previous-statistics", str(marker))


def shifted(rows: list[dict]) -> list[dict]:
    """Fares doubled, cash payments gone."""
    return [dict(r, fare=str(float(r["fare"]) * 2)) for r in rows if r["payment_type"] != "Cash"]


def test_drift_flags_a_shifted_copy(tmp_path, clean_run, sample):
    # The clean data's rows (and more, as cash payments go), shifted.
    examples = write_examples(tmp_path / "examples", split_rows(shifted(rows(0, 4000)), LARGE))
    previous = clean_run["out"] / "statistics"
    result = run(tmp_path, examples, "--previous-statistics", str(previous))
    assert result["decision"] == "stop"
    drifted = set(result["summary"]["drifted_features"])
    assert {"fare", "payment_type"} <= drifted
    assert result["metrics"]["drifted_features"] == len(drifted)
    fare = next(m for m in result["summary"]["measurements"] if m["feature"] == "fare")
    assert fare["comparison"] == "drift" and fare["value"] > fare["threshold"] == 0.1
    payment = next(m for m in result["summary"]["measurements"] if m["feature"] == "payment_type")
    assert decision_of(result["report"]) == "stop"
    # The table of distances: the drifted ones first, each with its measure and value.
    table = [r for r in table_rows(result["report"]) if r[1:2] == ["drift"]]
    assert ["fare", "drift", "JENSEN_SHANNON_DIVERGENCE", human(fare["value"]), "0.1",
            "over the threshold"] in table  # fmt: skip
    assert ["payment_type", "drift", "L_INFTY", human(payment["value"]), "0.1",
            "over the threshold"] in table  # fmt: skip
    # In the report, the drifted features first, each with its distance against the threshold
    # and its chart beside the drift reference's.
    sections = feature_sections(result["report"])
    names = [name for name, _ in sections]
    assert set(names[: len(drifted)]) == drifted == set(flagged_features(result["report"]))
    body = dict(sections)["fare"]
    distance = human(fare["value"])
    assert over_threshold(result["report"], "fare") == [
        f"drift: Jensen-Shannon divergence {distance}, over the threshold 0.1"
    ]
    assert body.count("<svg ") == 1 and ">drift reference<" in body
    assert over_threshold(result["report"], "payment_type") == [
        f"drift: L-infinity distance {human(payment['value'])}, over the threshold 0.1"
    ]
    unflagged = [body for name, body in sections if name not in drifted]
    assert not any("over the threshold" in body for body in unflagged)
    assert any("drift: L-infinity distance" in body and "within" in body for body in unflagged)


def test_drift_passes_an_unshifted_copy(tmp_path, clean_run):
    """Another sample of the same data: below every threshold."""
    examples = write_examples(tmp_path / "examples", split_rows(rows(1200, 1200), LARGE))
    previous = clean_run["out"] / "statistics"
    result = run(tmp_path, examples, "--previous-statistics", str(previous))
    measured = {m["feature"]: m["value"] for m in result["summary"]["measurements"]}
    assert result["decision"] == "continue", measured
    assert {"fare", "payment_type", "company", "tips"} <= set(measured)
    assert result["metrics"]["drifted_features"] == 0


def serving_statistics(tmp: Path, data: list[dict]) -> Path:
    """Statistics of serving data (no label), in a one-split statistics artifact."""
    from validate_data import stats, validation

    unlabelled = [{k: v for k, v in r.items() if k != "tips"} for r in data]
    examples = write_examples(tmp / "serving_examples", {"serving": unlabelled})
    schema = validation.parse_schema(SCHEMA.read_text())
    stats.generate(examples, ["serving"], tmp / "serving_statistics", schema, BEAM_ARGS)
    return tmp / "serving_statistics"


def test_skew_passes_serving_data_without_the_label(tmp_path, clean_run):
    serving = serving_statistics(tmp_path, rows(2400, 1000))
    result = run(tmp_path, clean_run["examples"], "--serving-statistics", str(serving))
    skew = {m["feature"] for m in result["summary"]["measurements"] if m["comparison"] == "skew"}
    assert result["decision"] == "continue", result["summary"]
    assert {"fare", "payment_type"} <= skew and "tips" not in skew
    assert result["metrics"]["anomalies_serving"] == 0  # tips is not in SERVING
    assert (result["out"] / "anomalies" / "serving" / "anomalies.pbtxt").is_file()


def test_skew_flags_serving_data_that_differs(tmp_path, clean_run):
    no_cash = [r for r in rows(2400, 3000) if r["payment_type"] != "Cash"]
    serving = serving_statistics(tmp_path, no_cash)
    result = run(tmp_path, clean_run["examples"], "--serving-statistics", str(serving))
    assert result["decision"] == "stop"
    assert "payment_type" in result["summary"]["skewed_features"]
    assert result["metrics"]["skewed_features"] >= 1
    payment = next(
        m for m in result["summary"]["measurements"]
        if (m["feature"], m["comparison"]) == ("payment_type", "skew")
    )  # fmt: skip
    assert payment["value"] > payment["threshold"] == 0.1
    assert decision_of(result["report"]) == "stop"
    assert over_threshold(result["report"], "payment_type") == [
        f"skew: L-infinity distance {human(payment['value'])}, over the threshold 0.1"
    ]
    assert "payment_type" in flagged_features(result["report"])


def test_fail_on_anomalies_fails_the_step_after_writing_outputs(tmp_path, sample):
    dropped = [{k: v for k, v in r.items() if k != "company"} for r in sample]
    examples = write_examples(tmp_path / "examples", split_rows(dropped))
    with pytest.raises(SystemExit) as e:
        run(tmp_path, examples, "--fail-on-anomalies", "true")
    assert e.value.code not in (0, None)
    assert "--fail-on-anomalies" in str(e.value.code)
    result = outputs(tmp_path / "out")
    assert result["decision"] == "stop"
    assert decision_of(result["report"]) == "stop"
    assert flagged_features(result["report"]) == ["company"]


def test_fail_on_anomalies_lets_clean_data_pass(tmp_path, sample):
    examples = write_examples(tmp_path / "examples", split_rows(sample))
    result = run(tmp_path, examples, "--fail-on-anomalies", "True")
    assert result["decision"] == "continue"


@pytest.mark.docker
def test_the_image_under_kfp_local(tmp_path, monkeypatch):
    """The real image in a small pipeline: the clean data is validated, then a shifted copy
    against the clean data's statistics (chained as a pipeline would chain runs)."""
    from kfp import components, dsl, local

    from mlops.ci import spec_rewrite
    from mlops.local_runs.runner import docker_runner_adapted
    from mlops.testing.component_testing import build_image

    data = tmp_path / "data"
    clean = write_examples(data / "clean", split_rows(rows(0, 1200), LARGE))
    drifted = write_examples(data / "shifted", split_rows(shifted(rows(0, 4000)), LARGE))
    for path in [data, *data.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # the step runs as uid 1000
    spec_path = Path(component.__file__).resolve().parents[2] / "component.yaml"
    validate = components.load_component_from_text(
        spec_rewrite.with_image(spec_path.read_text(), build_image("validate_data"), spec_path)
    )

    @dsl.pipeline(name="validate-data-test")
    def pipeline(schema: str) -> str:
        first = validate(
            examples=dsl.importer(artifact_uri=str(clean), artifact_class=dsl.Dataset).output,
            schema=schema,
            # A worker process (what large data gets under a memory limit), one: the machine
            # is shared.
            beam_args="--direct_running_mode=multi_processing --direct_num_workers=1",
        )
        second = validate(
            examples=dsl.importer(artifact_uri=str(drifted), artifact_class=dsl.Dataset).output,
            schema=schema,
            previous_statistics=first.outputs["statistics"],
            beam_args=BEAM_ARGS,
        )
        return second.outputs["decision"]

    root = tmp_path / "root"
    root.mkdir()
    root.chmod(0o1777)
    local.init(runner=local.DockerRunner(), pipeline_root=str(root))
    with docker_runner_adapted(mounts=[data]):
        task = pipeline(schema=SCHEMA.read_text())
    assert task.output == "stop"
    (first,) = root.glob("validate-data-test-*/validate-data")
    (second,) = root.glob("validate-data-test-*/validate-data-2")
    assert (first / "decision").read_text() == "continue"
    for split in ("train", "eval"):
        assert (first / "statistics" / f"Split-{split}" / "FeatureStats.pb").is_file()
    summary = json.loads((second / "anomalies" / "summary.json").read_text())
    assert {"fare", "payment_type"} <= set(summary["drifted_features"])
    report = (second / "report").read_text()
    assert decision_of(report) == "stop"
    assert set(flagged_features(report)) == set(summary["drifted_features"])
    assert json.loads((second / "summary").read_text())["drifted_features"] >= 2
