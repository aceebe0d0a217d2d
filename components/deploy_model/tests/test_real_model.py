"""A REAL trained taxi model (train_model's test helper: TFT + Keras on 300 taxi rows, about
a minute) through the registry and the running service: its predictions on taxi rows sent
as JSON equal the SavedModel's own serving_default on the same rows serialized by
train_model's CSV-to-Example path."""

import sys
from pathlib import Path

import pytest
from deploy_model.registry import Registry
from deploy_model.serve import Service
from service_client import call

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def taxi(tmp_path_factory):
    sys.path.insert(0, str(REPO / "components" / "train_model" / "tests"))
    import train_model_testing as tmt

    return tmt, tmt.train_taxi_model(tmp_path_factory.mktemp("taxi"), rows=300, epochs=1)


def _typed(row: dict[str, str], spec: dict) -> dict:
    """A CSV row as the JSON a client sends: typed values, null for an empty cell."""
    cast = {"int64": int, "float32": float, "string": str}
    return {
        name: None if row.get(name, "") == "" else cast[entry["dtype"]](row[name])
        for name, entry in spec.items()
    }


def test_service_serves_a_trained_model_like_the_savedmodel(taxi, registry_root):
    import json

    import tensorflow as tf

    tmt, trained = taxi
    spec = json.loads((trained.model / "mlops_model.json").read_text())["raw_feature_spec"]
    assert "tips" not in spec
    rows = trained.eval_rows[:40]
    assert any(v == "" for r in rows for v in r.values())  # absent values are exercised
    types = tmt.feature_types(trained.schema_text)
    serialized = [tmt.to_example({k: v for k, v in r.items() if k in spec}, types) for r in rows]
    module = tf.saved_model.load(str(trained.model))
    want = module.signatures["serving_default"](examples=tf.constant(serialized))["outputs"]
    want = want.numpy()[:, 0].tolist()

    reg = Registry(str(registry_root), "taxi_big_tipper")
    reg.deploy(reg.push(trained.model), 10)
    with Service(str(registry_root), "taxi_big_tipper") as service:
        status, body, _ = call(
            service.url + ":predict", "POST", {"instances": [_typed(r, spec) for r in rows]}
        )
        assert status == 200, body
        got = [p[0] for p in body["predictions"]]
        assert (
            len(got) == len(want) and max(abs(a - b) for a, b in zip(got, want, strict=True)) < 1e-5
        )
        assert 0 < min(got) and max(got) < 1
        # The b64 form of the same examples gives the same answers.
        import base64

        b64 = [{"examples": {"b64": base64.b64encode(s).decode()}} for s in serialized]
        _, body, _ = call(service.url + ":predict", "POST", {"instances": b64})
        assert max(abs(p[0] - w) for p, w in zip(body["predictions"], want, strict=True)) < 1e-5
