"""The taxi use case as committed: its schema curated by hand (the generic inference of
`make schema` is only its starting point) and its settings resolved over the shared ones."""

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from mlops.core.model_settings import load_model_settings
from mlops.core.paths import REPO
from mlops.core.settings import load_raw, usecases

TAXI = REPO / "pipelines" / "usecases" / "taxi"


def test_the_committed_schema_is_curated():
    schema = text_format.Parse((TAXI / "schema.pbtxt").read_text(), schema_pb2.Schema())
    f = {feature.name: feature for feature in schema.feature}
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


def test_taxi_is_the_default_use_case_and_its_overlay_wins_per_environment(monkeypatch):
    monkeypatch.delenv("USECASE", raising=False)
    assert "taxi" in usecases(REPO)
    local, prod = (
        load_raw(REPO / "settings.yaml", "local"),
        load_raw(REPO / "settings.yaml", "prod"),
    )
    assert local["usecase"] == "taxi" and local["data"]["source"] == "data/chicago_taxi/data.csv"
    assert prod["data"]["source"] == "gs://mlops-prod-data/chicago_taxi/*.csv"  # its environments
    assert prod["serving"]["registry"] == "gs://mlops-prod-models/registry"  # the shared ones
    assert local["data"]["splits"] == {"train": 2, "eval": 1}  # shared defaults stay
    model = load_model_settings(REPO, "local")
    assert (model.name, model.task, model.label_key) == ("taxi_big_tipper", "binary", "big_tipper")
    shared = load_raw(REPO / "settings.yaml", "local", usecase="")
    assert "label" not in shared["data"] and shared["usecase"] is None
