"""Tests of extract_data's null markers and label on small synthetic CSVs (and one BigQuery
table through the double): markers are absent features and do not make a column a string
one; rows without a label are dropped and counted by split; a missing label column, a label
absent everywhere, an eval class unseen in train and bad null_markers are named errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from extract_data import main as component
from extract_data.extract import ExtractError, Splitter, extract, parse_null_markers, parse_splits
from extract_data.labels import UnseenClasses, unseen_message
from extract_data_testing import BEAM_ARGS, read_examples, write_csv
from mlops_runtime import examples

MARKERS = '["", "NA", "?"]'


def run(source, out: Path, **kwargs):
    return extract(str(source), str(out), beam_args=BEAM_ARGS, **kwargs)


def by_id(uri: Path, splits=examples.SPLITS) -> dict[int, tuple[str, dict]]:
    """{row id: (split, example)} over the splits."""
    found = {}
    for split in splits:
        for example in read_examples(uri, split):
            found[example["id"][1][0]] = (split, example)
    return found


def split_of(row_id: int) -> str:
    """The split a row lands in with split_key='id' and the default splits."""
    splitter = Splitter(parse_splits(None))
    return splitter.names[splitter.index(str(row_id))]


# --- null markers ------------------------------------------------------------------------


@pytest.fixture
def with_markers(tmp_path) -> Path:
    """Numeric columns with "NA", "?" and " NA " cells, and a string column."""
    rows = [
        ["1", "3", "1.5", "red"],
        ["2", "NA", "?", "NA"],
        ["3", " ? ", "2.25", "blue"],
        ["4", "7", " NA ", ""],
        ["5", "", "-0.5", "?"],
    ]
    return write_csv(tmp_path / "markers.csv", ["id", "count", "weight", "colour"], rows)


def test_markers_are_absent_and_leave_numeric_columns_numeric(tmp_path, with_markers):
    counts = run(with_markers, tmp_path / "out", null_markers=MARKERS).rows
    assert sum(counts.values()) == 5
    found = {i: e for i, (_, e) in by_id(tmp_path / "out").items()}
    assert found[1]["count"] == ("int64_list", [3])
    assert found[4]["count"] == ("int64_list", [7])
    assert found[1]["weight"] == ("float_list", [1.5])
    assert found[3]["weight"] == ("float_list", [2.25])
    assert found[1]["colour"] == ("bytes_list", [b"red"])
    for row_id, absent in {2: {"count", "weight", "colour"}, 3: {"count"}, 4: {"weight"}}.items():
        assert not absent & set(found[row_id]), (row_id, found[row_id])
    assert set(found[5]) == {"id", "weight"}  # "" and "?": both absent


def test_without_markers_such_cells_are_strings_as_before(tmp_path, with_markers):
    run(with_markers, tmp_path / "out")
    found = {i: e for i, (_, e) in by_id(tmp_path / "out").items()}
    assert found[1]["count"] == ("bytes_list", [b"3"])
    assert found[2]["count"] == ("bytes_list", [b"NA"])
    assert found[2]["colour"] == ("bytes_list", [b"NA"])
    assert "count" not in found[5]  # the empty cell is absent by default


def test_a_declared_numeric_column_accepts_markers(tmp_path, with_markers):
    columns = "id:int,count:int,weight:float,colour"
    run(with_markers, tmp_path / "out", null_markers=MARKERS, columns=columns)
    found = {i: e for i, (_, e) in by_id(tmp_path / "out").items()}
    assert "count" not in found[2] and found[4]["count"] == ("int64_list", [7])
    with pytest.raises(ExtractError, match=r"column 'count' is declared int, but has the value"):
        run(with_markers, tmp_path / "out2", columns=columns)


@pytest.mark.parametrize("value", ['["NA", 3]', "NA", '{"NA": true}', '"NA"', "[null]"])
def test_bad_null_markers_are_named(tmp_path, with_markers, value):
    with pytest.raises(ExtractError, match=r"^null_markers ") as e:
        run(with_markers, tmp_path / "out", null_markers=value)
    assert value in str(e.value)


def test_parsing_of_null_markers():
    assert parse_null_markers(None) == ("",)
    assert parse_null_markers("  ") == ("",)
    assert parse_null_markers('[" NA ", "?", "NA"]') == ("", "NA", "?")
    assert parse_null_markers("[]") == ("",)  # an empty cell is always missing


# --- the label ---------------------------------------------------------------------------


def labelled_rows(n: int) -> list[list[str]]:
    """Rows id,x,y: y is "NA", "" or " ? " in every 4th, 7th and 9th row, else a/b/c."""
    rows = []
    for i in range(n):
        y = "abc"[i % 3]
        if i % 4 == 0:
            y = "NA"
        elif i % 7 == 0:
            y = ""
        elif i % 9 == 0:
            y = " ? "
        rows.append([str(i), str(i * 2), y])
    return rows


def test_rows_without_a_label_are_dropped_and_counted_by_split(tmp_path):
    rows = labelled_rows(90)
    source = write_csv(tmp_path / "labelled.csv", ["id", "x", "y"], rows)
    result = run(source, tmp_path / "out", null_markers=MARKERS, label="y", split_key="id")

    unlabelled = [int(r[0]) for r in rows if r[2].strip() in ("", "NA", "?")]
    assert 20 < len(unlabelled) < 45
    expected_missing = {"train": 0, "eval": 0}
    for row_id in unlabelled:
        expected_missing[split_of(row_id)] += 1
    assert result.label_missing == expected_missing
    assert all(expected_missing.values())  # both splits lost rows

    found = by_id(tmp_path / "out")
    assert sorted(found) == sorted(int(r[0]) for r in rows if int(r[0]) not in unlabelled)
    assert all(split == split_of(row_id) for row_id, (split, _) in found.items())
    assert result.rows == {
        s: sum(1 for sp, _ in found.values() if sp == s) for s in ("train", "eval")
    }
    distinct = {s: {e["y"][1][0] for sp, e in found.values() if sp == s} for s in result.rows}
    assert (
        result.label_values == {s: len(v) for s, v in distinct.items()} == {"train": 3, "eval": 3}
    )


def test_a_numeric_label_with_markers(tmp_path):
    rows = [[str(i), str(i % 5) if i % 6 else "?"] for i in range(40)]
    source = write_csv(tmp_path / "numeric.csv", ["id", "target"], rows)
    result = run(source, tmp_path / "out", null_markers=MARKERS, label="target")
    assert sum(result.label_missing.values()) == 7  # 0, 6, ..., 36
    found = by_id(tmp_path / "out")
    assert all(e["target"][0] == "int64_list" for _, e in found.values())
    assert sum(result.rows.values()) == 33 == len(found)


def test_a_label_column_that_is_not_in_the_data_is_named(tmp_path):
    source = write_csv(tmp_path / "nolabel.csv", ["id", "x", "y"], labelled_rows(5))
    with pytest.raises(ExtractError) as e:
        run(source, tmp_path / "out", label="species")
    assert str(e.value) == f"label: {source} has no column 'species' (its columns: id, x, y)"


def test_a_label_absent_in_every_row_is_named(tmp_path):
    rows = [[str(i), str(i), ["", "NA", " ? "][i % 3]] for i in range(12)]
    source = write_csv(tmp_path / "nolabels.csv", ["id", "x", "y"], rows)
    with pytest.raises(ExtractError) as e:
        run(source, tmp_path / "out", null_markers=MARKERS, label="y")
    assert str(e.value).startswith(f"label 'y': absent in all 12 rows of {source}")


def classes_rows() -> list[list[str]]:
    """ids 0..59 with classes a/b; 'rare' in 3 rows and 'odd' in 1 row that go to eval."""
    eval_ids = [i for i in range(60) if split_of(i) == "eval"]
    assert len(eval_ids) >= 4
    special = {eval_ids[0]: "rare", eval_ids[1]: "rare", eval_ids[2]: "rare", eval_ids[3]: "odd"}
    return [[str(i), special.get(i, "ab"[i % 2])] for i in range(60)]


def test_eval_classes_unseen_in_train_are_named(tmp_path):
    source = write_csv(tmp_path / "classes.csv", ["id", "species"], classes_rows())
    with pytest.raises(ExtractError) as e:
        run(source, tmp_path / "out", label="species", split_key="id", check_label_classes=True)
    assert str(e.value) == (
        "label 'species': 2 values of the eval split never occur in the train split, so a "
        "classifier cannot learn them: 'rare' (3 rows in eval); 'odd' (1 row in eval)"
    )


def test_without_the_check_unseen_classes_pass_and_are_counted(tmp_path):
    source = write_csv(tmp_path / "classes.csv", ["id", "species"], classes_rows())
    result = run(source, tmp_path / "out", label="species", split_key="id")
    assert result.label_values == {"train": 2, "eval": 4}
    assert result.label_missing == {"train": 0, "eval": 0}


def test_the_class_check_passes_when_train_has_every_class(tmp_path):
    rows = [[str(i), "abc"[i % 3]] for i in range(60)]
    source = write_csv(tmp_path / "classes.csv", ["id", "species"], rows)
    result = run(source, tmp_path / "out", label="species", check_label_classes=True)
    assert sum(result.rows.values()) == 60
    assert result.label_values == {"train": 3, "eval": 3}


def test_the_message_names_at_most_ten_values_most_frequent_first():
    combine = UnseenClasses()
    halves = [combine.create_accumulator(), combine.create_accumulator()]
    for i in range(13):
        half = i % 2
        halves[half] = combine.add_input(halves[half], (f"c{i:02d}".encode(), {"eval": i + 1}))
    count, top = combine.extract_output(combine.merge_accumulators(halves))
    message = unseen_message("y", count, top)
    assert message.startswith("label 'y': 13 values of the eval split never occur in the train")
    assert "'c12' (13 rows in eval); 'c11' (12 rows in eval)" in message
    assert "'c03' (4 rows in eval); and 3 more" in message and "'c02'" not in message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"check_label_classes": True}, "check_label_classes is true, but no label is given"),
        (
            {"label": "y", "check_label_classes": True, "splits": '{"fit": 1, "eval": 1}'},
            "compares the other splits with the 'train' split, but splits has none",
        ),
    ],
)
def test_the_class_check_needs_a_label_and_a_train_split(tmp_path, kwargs, message):
    source = write_csv(tmp_path / "labelled.csv", ["id", "x", "y"], labelled_rows(5))
    with pytest.raises(ExtractError, match=message):
        run(source, tmp_path / "out", **kwargs)


# --- BigQuery and the entrypoint ----------------------------------------------------------


def test_bigquery_string_markers_and_a_label(tmp_path, bigquery):
    fields = [
        {"name": "id", "type": "INTEGER", "mode": "REQUIRED"},
        {"name": "colour", "type": "STRING", "mode": "NULLABLE"},
        {"name": "y", "type": "STRING", "mode": "NULLABLE"},
    ]
    rows = [
        [i, ["red", "NA", None, " ? "][i % 4], [None, "NA", "a", "b", "c"][i % 5]]
        for i in range(40)
    ]
    bigquery.tables["proj.d.t"] = (fields, rows)
    result = run("bq://proj.d.t", tmp_path / "out", null_markers=MARKERS, label="y")
    assert sum(result.label_missing.values()) == 16  # NULL and "NA"
    found = by_id(tmp_path / "out")
    assert sorted(found) == [i for i in range(40) if i % 5 > 1]
    for row_id, (_, example) in found.items():
        assert ("colour" in example) == (row_id % 4 == 0), (row_id, example)
        assert example["y"] == ("bytes_list", [{2: b"a", 3: b"b", 4: b"c"}[row_id % 5]])
    assert sum(result.rows.values()) == 24
    with pytest.raises(ExtractError, match=r"label: bq://proj.d.t has no column 'z'"):
        run("bq://proj.d.t", tmp_path / "out2", label="z")


def test_the_entrypoint_passes_the_inputs_and_reports_the_label_metrics(tmp_path):
    source = write_csv(tmp_path / "labelled.csv", ["id", "x", "y"], labelled_rows(60))
    out = tmp_path / "outputs"
    component.main(
        ["--source", str(source), "--null-markers", MARKERS, "--label", "y"]
        + ["--check-label-classes", "true", "--split-key", "id", "--beam-args", BEAM_ARGS]
        + ["--examples", str(out / "examples"), "--metrics", str(out / "metrics")]
    )
    metrics = json.loads((out / "metrics").read_text())
    assert set(metrics) == {
        "rows_train",
        "rows_eval",
        "rows_total",
        "label_missing_train",
        "label_missing_eval",
        "label_values_train",
        "label_values_eval",
    }
    unlabelled = sum(1 for r in labelled_rows(60) if r[2].strip() in ("", "NA", "?"))
    assert metrics["rows_total"] == 60 - unlabelled
    assert metrics["label_missing_train"] + metrics["label_missing_eval"] == unlabelled
    assert metrics["label_values_train"] == 3


def test_the_entrypoint_names_a_bad_boolean(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        component.build_parser().parse_args(
            ["--source", "x", "--examples", "e", "--metrics", "m", "--check-label-classes", "si"]
        )
    assert e.value.code == 2
    assert "expected true or false, got 'si'" in capsys.readouterr().err
