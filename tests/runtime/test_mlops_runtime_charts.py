"""mlops_runtime.charts: every chart is an inline SVG element that parses, carries a title and
a fixed size, draws one mark per datum it was given, fetches nothing, and is the same for the
same data; human() writes numbers as people read them."""

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from mlops_runtime import charts
from mlops_runtime.charts import human

from mlops.core.paths import REPO

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    assert svg.startswith("<svg "), svg[:80]  # no XML prolog or doctype: inline in HTML
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") and root.get("width").endswith("pt") and root.get("height")
    assert root.get("role") == "img"
    return root


def title_of(root: ET.Element) -> str:
    first = root[0]
    assert first.tag == f"{SVG}title"
    return first.text


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == cls]


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")] + [
        s.text or "" for s in root.iter(f"{SVG}tspan")
    ]


def test_histograms_draw_a_bar_per_bucket_and_series():
    svg = charts.histograms(
        "fare <train & eval>",
        {
            "train": [(0, 10, 50), (10, 20, 30), (20, 30, 20)],
            "eval": [(0, 15, 20), (15, 30, 10)],  # other buckets: spread over common ones
            "drift reference": [(0, 30, 100)],
        },
        x_label="fare",
    )
    root = parse(svg)
    assert title_of(root) == "fare <train & eval>"  # escaped, and back
    assert root.get("aria-label") == "fare <train & eval>"
    # 5 common buckets (the fewest), for each of the three series
    assert len(groups(root, "mark")) == 3 * 5
    assert {"train", "eval", "drift reference"} <= set(texts(root))


def test_a_histogram_of_one_value_and_of_no_values():
    one = parse(charts.histograms("constant", {"train": [(3.0, 3.0, 10)]}))
    assert len(groups(one, "mark")) == 5
    empty = parse(charts.histograms("nothing", {"train": [], "eval": [(0, 1, 0)]}))
    assert groups(empty, "mark") == [] and "no values" in texts(empty)


def test_top_values_draw_the_values_of_every_series():
    root = parse(
        charts.top_values(
            "payment_type",
            {"train": {"Cash": 0.6, "Credit Card": 0.4}, "eval": {"Cash": 0.5, "Dispute": 0.1}},
        )
    )
    labels = set(texts(root))
    assert {"Cash", "Credit Card", "Dispute"} <= labels
    assert len(groups(root, "mark")) == 2 * 3  # three values, two series
    limited = parse(charts.top_values("many", {"train": {str(i): 0.01 for i in range(30)}}))
    assert len(groups(limited, "mark")) == 10


def test_epochs_draw_a_line_per_series():
    root = parse(
        charts.epochs(
            "loss per epoch",
            {"train": [0.9, 0.5, 0.4], "eval": [1.0, 0.6, float("nan")]},
            y_label="loss",
        )  # fmt: skip
    )
    lines = groups(root, "mark")
    assert len(lines) == 2
    assert all(line.find(f"{SVG}path") is not None for line in lines)
    assert "epoch" in texts(root)


def test_slice_bars_draw_candidate_beside_baseline_and_the_thresholds():
    root = parse(
        charts.slice_bars(
            "AUC per slice",
            ["Overall", "payment_type=Cash", "payment_type=Dispute"],
            {"candidate": [0.95, 0.9, float("nan")], "baseline": [0.94, None, 0.5]},
            [("lower bound", 0.75), ("baseline - 0.01", 0.93)],
            x_label="auc",
        )
    )
    assert len(groups(root, "mark")) == 4  # the NaN and the None have no bar
    assert len(groups(root, "threshold")) == 2
    labels = texts(root)
    assert "lower bound: 0.75" in labels and "payment_type=Dispute" in labels
    assert "0.95" in labels  # each bar's value, for people


def test_a_confusion_matrix_names_the_classes_and_fills_every_cell():
    classes = ["setosa", "versicolor", "virginica"]
    root = parse(
        charts.confusion_matrix(
            "confusion", classes, classes, [[30, 2, 0], [3, 25, 4], [0, 1, 1500]]
        )
    )
    assert len(groups(root, "mark")) == 9
    labels = texts(root)
    assert set(classes) <= set(labels)
    assert "1,500" in labels and "99.9%" in labels  # the count and its share of the row


def test_roc_and_precision_recall_curves():
    roc = parse(
        charts.roc_curves(
            "ROC", {"candidate": ([0, 0.1, 1], [0, 0.8, 1]), "baseline": ([0, 1], [0, 1])}
        )
    )
    assert len(groups(roc, "mark")) == 2 and "chance" in texts(roc)
    pr = parse(charts.precision_recall_curves("PR", {"class a": ([0, 0.5, 1], [1, 0.8, 0.3])}))
    assert len(groups(pr, "mark")) == 1 and "recall" in texts(pr)


def test_predicted_against_actual_draws_each_example_and_residuals_their_errors():
    actual = [float(i) for i in range(50)]
    predicted = [a + (-1) ** i for i, a in enumerate(actual)]
    scatter = parse(charts.predicted_vs_actual("predicted vs actual", actual, predicted))
    (points,) = groups(scatter, "mark")
    assert len(list(points.iter(f"{SVG}use"))) == 50  # one point per example
    errors = [p - a for a, p in zip(actual, predicted, strict=True)]
    hist = parse(charts.residuals("residuals", errors, bins=8))
    assert len(groups(hist, "mark")) == 8 and len(groups(hist, "threshold")) == 1


def test_a_timeline_draws_each_step_with_its_duration():
    spans = [
        charts.Span("extract-data", 0.0, 4.8),
        charts.Span("validate-data", 4.8, 30.0, "cached"),
        charts.Span("train-model", 5.0, 95.0, "failed"),
    ]
    root = parse(charts.timeline("steps", spans))
    assert len(groups(root, "mark")) == 3
    labels = texts(root)
    assert {"extract-data", "4.8 s", "1 min 30 s", "cached", "failed"} <= set(labels)


def test_charts_are_self_contained_and_reproducible():
    make = lambda: charts.epochs("loss", {"train": [3.0, 2.0, 1.0]})  # noqa: E731
    first = make()
    assert first == make()
    assert "http" not in first.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        'xmlns:xlink="http://www.w3.org/1999/xlink"', ""
    )
    # Group ids would repeat across the charts of one page: only classes remain.
    assert ' id="figure_1"' not in first and ' id="patch_' not in first


def test_human_needs_no_matplotlib():
    code = "import sys, mlops_runtime.charts as c; c.human(1.5); print('matplotlib' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": str(REPO / "build" / "base")},
    )  # fmt: skip
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.parametrize(
    "value, unit, text",
    [
        (4.8123, "s", "4.8 s"),
        (4.0, "s", "4 s"),
        (0.04, "s", "0.04 s"),
        (42.4, "s", "42 s"),
        (85.0, "s", "1 min 25 s"),
        (7260, "s", "2 h 1 min"),
        (0.94812, None, "0.948"),
        (0.9996, None, "0.9996"),  # a fraction does not read as 1
        (0.5, None, "0.5"),
        (4.8, None, "4.8"),
        (15002, None, "15,002"),
        (15002.0, "rows", "15,002 rows"),
        (2.0, None, "2"),
        (1234.56, None, "1,235"),
        (589_299_712, "B", "562 MB"),
        (1536, "B", "1.5 KB"),
        (512, "B", "512 B"),
        (0.0000123, None, "1.2e-05"),
        (0.234, "%", "23.4%"),
        (1.0, "%", "100%"),
        (0, None, "0"),
        (-0.0123, None, "-0.0123"),
        (None, None, "–"),
        (float("nan"), None, "n/a"),
        (float("inf"), None, "∞"),
        ("text", None, "text"),
    ],
)
def test_human(value, unit, text):
    assert human(value, unit) == text


def test_human_signed_differences():
    assert human(0.012, signed=True) == "+0.012"
    assert human(-0.012, signed=True) == "-0.012"
    assert human(0, signed=True) == "0"
    assert human(3, signed=True) == "+3"
    assert "4.8000" not in human(4.8) and human(4.8000) == "4.8"
