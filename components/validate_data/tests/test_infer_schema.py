"""Tests of the schema inference (`make schema`) and of the committed schema."""

from pathlib import Path

import pytest
from validate_data import infer_schema

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "data" / "chicago_taxi" / "data.csv"
SCHEMA = REPO / "data" / "schema" / "schema.pbtxt"


def load(path: Path):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    return text_format.Parse(path.read_text(), schema_pb2.Schema())


def features(schema) -> dict:
    return {f.name: f for f in schema.feature}


def test_the_committed_schema_is_curated():
    schema = load(SCHEMA)
    f = features(schema)
    assert len(f) == 18
    assert list(schema.default_environment) == ["TRAINING", "SERVING"]
    assert list(f["tips"].not_in_environment) == ["SERVING"]
    assert not f["tips"].HasField("skew_comparator") and f["tips"].HasField("drift_comparator")
    assert f["fare"].float_domain.min == 0 and f["tips"].float_domain.min == 0
    domains = {d.name: set(d.value) for d in schema.string_domain}
    assert domains[f["payment_type"].domain] == {
        "Cash", "Credit Card", "Dispute", "No Charge", "Pcard", "Prcard", "Unknown"
    }  # fmt: skip
    assert len(domains[f["company"].domain]) == 61
    assert f["trip_start_hour"].int_domain.is_categorical
    assert f["fare"].drift_comparator.jensen_shannon_divergence.HasField("threshold")
    assert f["payment_type"].drift_comparator.infinity_norm.HasField("threshold")
    assert f["pickup_census_tract"].presence.min_count == 0  # 1 value in 15,002 rows


def test_infers_and_curates_a_schema_from_a_csv(tmp_path):
    sample = tmp_path / "sample.csv"
    sample.write_text("".join(DATA.read_text().splitlines(keepends=True)[:301]))
    out = tmp_path / "schema" / "schema.pbtxt"
    infer_schema.main(["--data", str(sample), "--out", str(out)])
    text = out.read_text()
    assert text.startswith("# The data schema")
    f = features(load(out))
    assert set(f) == set(DATA.read_text().splitlines()[0].split(","))
    assert list(f["tips"].not_in_environment) == ["SERVING"]
    assert f["payment_type"].HasField("skew_comparator")
    assert f["fare"].drift_comparator.jensen_shannon_divergence.source.type == 1  # QUANTILES


def test_does_not_overwrite_a_schema_without_force(tmp_path):
    out = tmp_path / "schema.pbtxt"
    out.write_text("# curated by hand\n")
    with pytest.raises(SystemExit, match="--force"):
        infer_schema.main(["--data", str(DATA), "--out", str(out)])
    assert out.read_text() == "# curated by hand\n"


def test_a_missing_label_or_file_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no such file"):
        infer_schema.main(["--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "s")])
    sample = tmp_path / "sample.csv"
    sample.write_text("a,b\n1,x\n2,y\n")
    with pytest.raises(SystemExit, match="--label 'tips': no such column"):
        infer_schema.main(["--data", str(sample), "--out", str(tmp_path / "s")])
