"""Tests of the schema inference (`make schema`, `make usecase`) on tables of their own."""

import pytest
from validate_data import infer_schema


def load(path):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    return text_format.Parse(path.read_text(), schema_pb2.Schema())


def features(schema) -> dict:
    return {f.name: f for f in schema.feature}


def _table(path, rows=200):
    lines = ["size,colour,code,rarely,grade"]
    for i in range(rows):
        size = "NA" if i % 10 == 3 else f"{(i * 7) % 50 / 3:.2f}"
        rarely = "1" if i == 5 else "?"
        lines.append(f"{size},{('red', 'blue', 'green')[i % 3]},{i % 4},{rarely},{i % 3}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_infers_a_generic_curated_schema(tmp_path):
    data = _table(tmp_path / "t.csv")
    out = tmp_path / "schema" / "schema.pbtxt"
    infer_schema.main(
        ["--data", str(data), "--out", str(out), "--label", "grade", "--categorical", "grade",
         "code", "--null-markers", '["", "NA", "?"]', "--numeric-jsd", "0.2",
         "--categorical-linf", "0.3"]
    )  # fmt: skip
    assert out.read_text().startswith("# The data schema")
    schema = load(out)
    f = features(schema)
    assert set(f) == {"size", "colour", "code", "rarely", "grade"}
    assert list(schema.default_environment) == ["TRAINING", "SERVING"]
    assert list(f["grade"].not_in_environment) == ["SERVING"]
    # "NA" and "?" are missing values, so size stays numeric and is sometimes absent.
    assert f["size"].type == 3  # FLOAT
    assert f["size"].presence.min_fraction == 0.45  # present in 90%: at least half of that
    assert f["size"].drift_comparator.jensen_shannon_divergence.threshold == pytest.approx(0.2)
    assert f["size"].skew_comparator.jensen_shannon_divergence.source.type == 1  # QUANTILES
    assert f["colour"].drift_comparator.infinity_norm.threshold == pytest.approx(0.3)
    assert f["code"].int_domain.is_categorical
    assert f["code"].skew_comparator.infinity_norm.threshold == pytest.approx(0.3)
    # The label: compared for drift, not for skew (serving data does not carry it).
    assert f["grade"].drift_comparator.infinity_norm.threshold == pytest.approx(0.3)
    assert not f["grade"].HasField("skew_comparator")
    # Present in 1 row of 200: optional, and no comparator a sample could fail.
    assert f["rarely"].presence.min_count == 0
    assert not f["rarely"].HasField("drift_comparator")


def test_without_markers_a_marker_cell_makes_a_string_column(tmp_path):
    data = _table(tmp_path / "t.csv")
    out = tmp_path / "s.pbtxt"
    infer_schema.main(["--data", str(data), "--out", str(out), "--label", "grade"])
    assert features(load(out))["size"].type == 1  # BYTES: "NA" is a value here


def test_does_not_overwrite_a_schema_without_force(tmp_path):
    out = tmp_path / "schema.pbtxt"
    out.write_text("# curated by hand\n")
    with pytest.raises(SystemExit, match="--force"):
        infer_schema.main(["--data", str(_table(tmp_path / "t.csv")), "--out", str(out),
                           "--label", "grade"])  # fmt: skip
    assert out.read_text() == "# curated by hand\n"


def test_a_missing_label_file_or_bad_markers_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no such file"):
        infer_schema.main(["--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "s"),
                           "--label", "y"])  # fmt: skip
    sample = tmp_path / "sample.csv"
    sample.write_text("a,b\n1,x\n2,y\n")
    with pytest.raises(SystemExit, match="'tips': no such column .*'a', 'b'"):
        infer_schema.main(["--data", str(sample), "--out", str(tmp_path / "s"), "--label", "tips"])
    with pytest.raises(SystemExit, match="--null-markers .*JSON list of strings"):
        infer_schema.main(["--data", str(sample), "--out", str(tmp_path / "s"), "--label", "a",
                           "--null-markers", "[1]"])  # fmt: skip
