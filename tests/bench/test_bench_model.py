"""mlops.bench.model's pure parts: instances from CSV rows, the quality figures beside the
majority class, the service figures and their ratio, the summary. No TensorFlow, seconds."""

import json

import pytest

from mlops.bench import model as bm
from mlops.bench.measure import Measured

SPEC = {
    "fare": {"dtype": "float32"},
    "trip_start_hour": {"dtype": "int64"},
    "payment_type": {"dtype": "string"},
}


def test_instances_are_typed_by_the_raw_feature_spec_and_skip_the_label(tmp_path):
    csv = tmp_path / "data.csv"
    csv.write_text(
        "fare,trip_start_hour,payment_type,tips\n12.45,19,Credit Card,2.0\n,7.0,Cash,0\n3,1,,0\n"
    )
    rows = bm.instances_from_csv(csv, SPEC, 2)
    assert rows == [
        {"fare": 12.45, "payment_type": "Credit Card", "trip_start_hour": 19},
        {"fare": None, "payment_type": "Cash", "trip_start_hour": 7},
    ]
    assert isinstance(rows[1]["trip_start_hour"], int)
    json.dumps({"instances": rows})  # a valid request body
    with pytest.raises(ValueError, match="3 rows, 5 needed"):
        bm.instances_from_csv(csv, SPEC, 5)


@pytest.mark.parametrize("rate, expected", [(0.227, 0.773), (0.8, 0.8), (0.5, 0.5)])
def test_majority_class_accuracy(rate, expected):
    assert bm.majority_accuracy(rate) == pytest.approx(expected)


def test_quality_puts_accuracy_beside_the_majority_class():
    q = bm.quality(
        {
            "eval_auc": 0.94812,
            "eval_binary_accuracy": 0.8931,
            "eval_positive_rate": 0.2271,
            "eval_examples": 5057,
            "train_examples": 9945,
        }
    )
    assert q["eval_auc"] == 0.9481
    assert q["eval_majority_class_accuracy"] == 0.7729
    assert q["accuracy_over_majority"] == pytest.approx(0.1202)
    assert q["eval_examples"] == 5057


LOAD = {
    "threads": 4,
    "duration_s": 10.01,
    "requests": 12000,
    "failed": 2,
    "status_counts": {"200": 11998, "503": 2},
    "requests_per_s": 1198.6,
    "latency_ms": {"p50": 3.1, "p90": 4.0, "p99": 7.5, "max": 80.0, "mean": 3.3},
}


def test_service_figures_ratio_and_instances_per_second():
    rate = {"instances_per_call": 32, "calls_per_s": 400.0, "latency_ms": {"p50": 2.4, "p99": 4}}
    f = bm.service_figures(LOAD, rate)
    assert f["instances_per_request"] == 32
    assert f["instances_per_s"] == pytest.approx(1198.6 * 32, abs=0.1)
    assert f["service_to_in_process_ratio"] == pytest.approx(2.997, abs=1e-3)
    assert f["failed"] == 2 and f["latency_ms"] == {"p50": 3.1, "p90": 4.0, "p99": 7.5, "max": 80.0}
    assert (
        bm.service_figures(LOAD, {**rate, "calls_per_s": 0})["service_to_in_process_ratio"] is None
    )


def test_summary_names_every_figure():
    result = {
        "train_model": {
            **bm.step_figures(Measured(50.1, 900.0, 0)),
            "quality": {
                "eval_auc": 0.95,
                "eval_binary_accuracy": 0.89,
                "eval_majority_class_accuracy": 0.77,
            },
        },
        "evaluate_model": {
            "no_baseline": {"seconds": 30, "peak_rss_mb": 900, "blessed": True},
            "with_baseline": {"seconds": 40, "peak_rss_mb": 1000, "blessed": True},
        },
        "service": {
            "load": {
                "1_instance": bm.service_figures(
                    LOAD, {"instances_per_call": 1, "calls_per_s": 800.0, "latency_ms": {}}
                )
            }
        },
    }
    text = "\n".join(bm.summary_lines(result))
    assert "train_model: 50.1 s, peak 900.0 MB" in text
    assert "majority class 0.77" in text
    assert "evaluate_model (with_baseline): 40 s" in text
    assert "1198.6 req/s" in text and "ratio 1.498" in text
