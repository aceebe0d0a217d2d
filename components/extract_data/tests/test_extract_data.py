"""Tests of extract_data on a few hundred taxi trips: splits, types, empty cells, bad input,
a glob, gs:// through the Cloud Storage emulator, bq:// through the BigQuery double, the
entrypoint, and (marked docker) the real image under kfp.local."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from extract_data import main as component
from extract_data.extract import ExtractError, parse_columns, parse_splits, run
from extract_data_testing import BEAM_ARGS, read_examples, taxi_rows, write_csv
from mlops_runtime import examples


def row_ids(uri: Path | str, split: str) -> list[int]:
    return [e["row_id"][1][0] for e in read_examples(uri, split)]


def extract(source, out: Path, **kwargs) -> dict[str, int]:
    return run(str(source), str(out), beam_args=BEAM_ARGS, **kwargs)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """300 trips extracted twice, into two folders: (csv, first run, second run, counts)."""
    root = tmp_path_factory.mktemp("extracted")
    header, rows = taxi_rows(300)
    source = write_csv(root / "taxi.csv", header, rows)
    counts = [extract(source, root / f"run{i}") for i in (1, 2)]
    assert counts[0] == counts[1]
    return source, root / "run1", root / "run2", counts[0]


# --- splits, rows, types ---------------------------------------------------------------


def test_splits_are_the_same_on_every_run_and_about_two_to_one(extracted):
    _, first, second, counts = extracted
    for split in examples.SPLITS:
        assert sorted(row_ids(first, split)) == sorted(row_ids(second, split))
    assert counts["train"] + counts["eval"] == 300
    assert 0.58 < counts["train"] / 300 < 0.76, counts  # 2 buckets of 3


def test_no_row_is_lost_or_duplicated(extracted):
    _, uri, _, counts = extracted
    train, evaluation = row_ids(uri, "train"), row_ids(uri, "eval")
    assert (len(train), len(evaluation)) == (counts["train"], counts["eval"])
    assert sorted(train + evaluation) == list(range(300))


def test_empty_cells_become_absent_features(extracted):
    source, uri, _, _ = extracted
    header, rows = taxi_rows(300)
    by_id = {e["row_id"][1][0]: e for s in examples.SPLITS for e in read_examples(uri, s)}
    empty_seen = 0
    for row in rows:
        example = by_id[int(row[0])]
        for name, cell in zip(header, row, strict=True):
            if cell == "":
                assert name not in example, (row[0], name)
                empty_seen += 1
            else:
                assert name in example, (row[0], name)
    assert empty_seen > 100  # the sample has many empty cells
    # The first trip: no pickup area, but a fare and a payment type.
    first = by_id[0]
    assert "pickup_community_area" not in first
    assert first["fare"] == ("float_list", [pytest.approx(12.45)])
    assert first["payment_type"] == ("bytes_list", [b"Credit Card"])


def test_types_are_inferred_from_all_rows(extracted):
    _, uri, _, _ = extracted
    kinds: dict[str, set[str]] = {}
    for split in examples.SPLITS:
        for example in read_examples(uri, split):
            for name, (kind, _) in example.items():
                kinds.setdefault(name, set()).add(kind)
    assert kinds["fare"] == {"float_list"}
    assert kinds["tips"] == {"float_list"}
    assert kinds["trip_start_hour"] == {"int64_list"}
    assert kinds["trip_start_timestamp"] == {"int64_list"}
    assert kinds["row_id"] == {"int64_list"}
    assert kinds["payment_type"] == {"bytes_list"}
    assert kinds["company"] == {"bytes_list"}


def test_a_column_that_is_int_in_most_rows_becomes_float_then_string(tmp_path):
    source = write_csv(
        tmp_path / "mixed.csv",
        ["id", "a", "b"],
        [["1", "1", "1"], ["2", "2.5", "x"], ["3", "", "2"]],
    )
    extract(source, tmp_path / "out")
    found = {e["id"][1][0]: e for s in examples.SPLITS for e in read_examples(tmp_path / "out", s)}
    assert found[1]["a"] == ("float_list", [1.0])
    assert found[2]["b"] == ("bytes_list", [b"x"])
    assert found[1]["b"] == ("bytes_list", [b"1"])
    assert "a" not in found[3]


def test_a_split_key_keeps_rows_with_the_same_key_together(tmp_path, taxi_csv):
    counts = extract(
        taxi_csv,
        tmp_path / "out",
        split_key="payment_type",
        splits='{"train": 1, "eval": 1, "test": 1}',
    )
    assert sum(counts.values()) == 300 and set(counts) == {"train", "eval", "test"}
    splits_of: dict[bytes, set[str]] = {}
    for split in counts:
        for example in read_examples(tmp_path / "out", split):
            splits_of.setdefault(example["payment_type"][1][0], set()).add(split)
    assert len(splits_of) > 2 and all(len(s) == 1 for s in splits_of.values()), splits_of


def test_a_glob_over_two_csv_files(tmp_path):
    header, rows = taxi_rows(200)
    write_csv(tmp_path / "in" / "part-1.csv", header, rows[:120])
    write_csv(tmp_path / "in" / "part-2.csv", header, rows[120:])
    (tmp_path / "in" / "notes.txt").write_text("not matched\n")
    counts = extract(tmp_path / "in" / "part-*.csv", tmp_path / "out")
    assert sum(counts.values()) == 200
    ids = row_ids(tmp_path / "out", "train") + row_ids(tmp_path / "out", "eval")
    assert sorted(ids) == list(range(200))


def test_a_rerun_into_the_same_folder_replaces_the_earlier_output(tmp_path, taxi_csv):
    extract(taxi_csv, tmp_path / "out", splits='{"train": 1, "eval": 1}')
    counts = extract(taxi_csv, tmp_path / "out")
    assert len(row_ids(tmp_path / "out", "train")) == counts["train"]
    assert not (tmp_path / "out" / ".row_counts.json").exists()


# --- bad input ---------------------------------------------------------------------------


def test_a_header_that_does_not_match_the_expected_columns(tmp_path, taxi_csv):
    header, _ = taxi_rows(1)
    expected = [c for c in header if c != "tips"] + ["tip_amount"]
    with pytest.raises(ExtractError) as e:
        extract(taxi_csv, tmp_path / "out", columns=",".join(expected))
    assert str(taxi_csv) in str(e.value)
    assert "missing tip_amount" in str(e.value) and "unexpected tips" in str(e.value)


def test_the_expected_columns_pass_when_they_match(tmp_path, taxi_csv):
    header, _ = taxi_rows(1)
    counts = extract(taxi_csv, tmp_path / "out", columns=", ".join(header))
    assert sum(counts.values()) == 300


def test_files_of_a_glob_with_different_headers(tmp_path):
    header, rows = taxi_rows(20)
    write_csv(tmp_path / "in" / "a.csv", header, rows)
    write_csv(tmp_path / "in" / "b.csv", [*header[:-1], "tip"], rows)
    with pytest.raises(ExtractError, match=r"b\.csv: the header does not match .*a\.csv.*tip"):
        extract(tmp_path / "in" / "*.csv", tmp_path / "out")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (None, None, "no such file"),
        ("empty.csv", "", "empty, no header line"),
        ("header_only.csv", "a,b\n", "no data rows"),
        ("blank_rows.csv", "a,b\n" + "\n" * 200, "no data rows"),
    ],
)
def test_a_missing_or_empty_source(tmp_path, name, content, message):
    path = tmp_path / (name or "missing.csv")
    if content is not None:
        path.write_text(content)
    with pytest.raises(ExtractError, match=message) as e:
        extract(path, tmp_path / "out")
    assert str(path) in str(e.value)


def test_a_glob_that_matches_nothing(tmp_path):
    with pytest.raises(ExtractError, match=r"no files match"):
        extract(tmp_path / "*.csv", tmp_path / "out")


def test_a_value_of_the_wrong_type_for_a_declared_column(tmp_path):
    source = write_csv(
        tmp_path / "fares.csv", ["id", "fare"], [["1", "3.5"], ["2", "free"], ["3", ""]]
    )
    with pytest.raises(ExtractError) as e:
        extract(source, tmp_path / "out", columns="id:int,fare:float")
    assert str(e.value) == (f"{source}: column 'fare' is declared float, but has the value 'free'")
    # Undeclared, the same column is inferred as a string.
    assert sum(extract(source, tmp_path / "out2", columns="id,fare").values()) == 3


def test_a_row_with_the_wrong_number_of_cells(tmp_path):
    source = tmp_path / "short.csv"
    source.write_text("a,b,c\n1,2,3\n4,5\n")
    with pytest.raises(ExtractError, match=r"short\.csv: a row has 2 cells but the header has 3"):
        extract(source, tmp_path / "out")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"splits": '{"train": 0}'}, "split 'train' has 0 buckets"),
        ({"splits": "train=2"}, "not JSON"),
        ({"split_key": "nope"}, "has no column nope"),
        ({"columns": "a:decimal"}, "use int, float or string"),
    ],
)
def test_bad_parameters(tmp_path, taxi_csv, kwargs, message):
    with pytest.raises(ExtractError, match=message):
        extract(taxi_csv, tmp_path / "out", **kwargs)


def test_parsing_of_splits_and_columns():
    assert parse_splits(None) == [("train", 2), ("eval", 1)]
    assert parse_splits('{"a": 1, "b": 3}') == [("a", 1), ("b", 3)]
    expected = parse_columns("id:int, fare : float,name")
    assert expected.names == ["id", "fare", "name"]
    assert expected.kinds == {"id": "int", "fare": "float"}


# --- Cloud Storage and BigQuery -----------------------------------------------------------


def test_a_gcs_glob_through_the_emulator(tmp_path, gcs):
    import uuid

    bucket = gcs.create_bucket(f"raw-{uuid.uuid4().hex[:12]}")
    header, rows = taxi_rows(150)
    for i, part in enumerate((rows[:100], rows[100:])):
        local = write_csv(tmp_path / f"p{i}.csv", header, part)
        bucket.blob(f"taxi/2024/part-{i}.csv").upload_from_filename(str(local))
    bucket.blob("taxi/2024/README.md").upload_from_string("not data")
    counts = extract(f"gs://{bucket.name}/taxi/2024/part-*.csv", tmp_path / "out")
    assert sum(counts.values()) == 150
    ids = row_ids(tmp_path / "out", "train") + row_ids(tmp_path / "out", "eval")
    assert sorted(ids) == list(range(150))
    with pytest.raises(ExtractError, match="no files match"):
        extract(f"gs://{bucket.name}/taxi/2025/*.csv", tmp_path / "out2")


_BQ_FIELDS = [
    {"name": "row_id", "type": "INTEGER", "mode": "REQUIRED"},
    {"name": "fare", "type": "FLOAT", "mode": "NULLABLE"},
    {"name": "trip_start_hour", "type": "INTEGER", "mode": "NULLABLE"},
    {"name": "payment_type", "type": "STRING", "mode": "NULLABLE"},
]


def _bq_rows(n: int) -> list[list]:
    header, rows = taxi_rows(n)
    pick = [header.index(f["name"]) for f in _BQ_FIELDS]
    parsed = []
    for row in rows:
        row_id, fare, hour, payment = (row[i] for i in pick)
        parsed.append([int(row_id), float(fare) if fare else None, int(hour), payment or None])
    return parsed


def test_a_bigquery_table_through_the_double(tmp_path, bigquery):
    bigquery.tables["proj.taxi.trips"] = (_BQ_FIELDS, _bq_rows(250))
    counts = extract(
        "bq://proj.taxi.trips",
        tmp_path / "out",
        columns="row_id:int,fare:float,trip_start_hour,payment_type",
        bigquery_rows_per_read=100,
    )
    assert sum(counts.values()) == 250
    found = [e for s in examples.SPLITS for e in read_examples(tmp_path / "out", s)]
    assert sorted(e["row_id"][1][0] for e in found) == list(range(250))
    first = next(e for e in found if e["row_id"][1][0] == 0)
    assert first["fare"] == ("float_list", [pytest.approx(12.45)])
    assert first["trip_start_hour"] == ("int64_list", [19])
    assert first["payment_type"] == ("bytes_list", [b"Credit Card"])
    data_reads = [p for m, p in bigquery.requests if p.endswith("/data")]
    assert len(data_reads) >= 3  # three ranges of at most 100 rows, read apart


def test_a_bigquery_query_through_the_double(tmp_path, bigquery):
    sql = "SELECT row_id, fare, trip_start_hour, payment_type FROM taxi.trips"
    bigquery.queries[sql] = (_BQ_FIELDS, _bq_rows(120))
    counts = extract("bq://proj.taxi", tmp_path / "out", query=sql, split_key="row_id")
    assert sum(counts.values()) == 120
    ids = row_ids(tmp_path / "out", "train") + row_ids(tmp_path / "out", "eval")
    assert sorted(ids) == list(range(120))
    assert any(m == "POST" and p.endswith("/jobs") for m, p in bigquery.requests)


def test_bigquery_bad_input(tmp_path, bigquery):
    bigquery.tables["proj.taxi.empty"] = (_BQ_FIELDS, [])
    bigquery.tables["proj.taxi.nested"] = (
        [{"name": "trip", "type": "RECORD", "mode": "NULLABLE", "fields": []}],
        [[None]],
    )
    bigquery.tables["proj.taxi.trips"] = (_BQ_FIELDS, _bq_rows(5))
    cases = [
        ({"source": "bq://proj.taxi.missing"}, "bq://proj.taxi.missing: not found"),
        ({"source": "bq://proj.taxi.empty"}, "bq://proj.taxi.empty: no rows"),
        ({"source": "bq://proj.taxi.nested"}, "column 'trip' has the BigQuery type RECORD"),
        ({"source": "bq://proj.taxi"}, "names no table"),
        ({"source": "bq://proj", "query": "SELECT nonsense"}, "Syntax error"),
        (
            {"source": "bq://proj.taxi.trips", "columns": "row_id,fare:int,x,payment_type"},
            "missing x; unexpected trip_start_hour",
        ),
        (
            {"source": "bq://proj.taxi.trips", "columns": "row_id,fare"},
            "columns do not match the expected columns: unexpected trip_start_hour, payment_type",
        ),
    ]
    for kwargs, message in cases:
        source = kwargs.pop("source")
        with pytest.raises(ExtractError, match=message):
            extract(source, tmp_path / "out", **kwargs)


def test_a_declared_kind_that_the_bigquery_type_contradicts(tmp_path, bigquery):
    bigquery.tables["proj.taxi.trips"] = (_BQ_FIELDS, _bq_rows(5))
    columns = "row_id,fare:int,trip_start_hour,payment_type"
    with pytest.raises(ExtractError, match=r"'fare' is declared int, but its BigQuery type"):
        extract("bq://proj.taxi.trips", tmp_path / "out", columns=columns)


# --- the entrypoint ----------------------------------------------------------------------


def test_the_entrypoint_writes_the_examples_and_the_metrics(tmp_path, taxi_csv):
    out = tmp_path / "outputs"
    component.main(
        [
            "--source",
            str(taxi_csv),
            "--splits",
            '{"train": 2, "eval": 1}',
            "--beam-args",
            BEAM_ARGS,
            "--examples",
            str(out / "examples"),
            "--metrics",
            str(out / "metrics"),
            "--executor-output",
            str(out / "executor_output.json"),
        ]
    )
    metrics = json.loads((out / "metrics").read_text())
    assert metrics["rows_total"] == 300 == metrics["rows_train"] + metrics["rows_eval"]
    reported = json.loads((out / "executor_output.json").read_text())
    assert reported["artifacts"]["metrics"]["artifacts"][0]["metadata"] == metrics
    assert len(row_ids(out / "examples", "eval")) == metrics["rows_eval"]


def test_the_entrypoint_exits_non_zero_with_the_message(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "*.csv"
    with pytest.raises(SystemExit) as e:
        component.main(
            ["--source", str(missing), "--examples", str(tmp_path / "e")]
            + ["--metrics", str(tmp_path / "m")]
        )
    assert e.value.code == 1
    assert f"extract_data: source {missing}: no files match" in capsys.readouterr().err


# --- the real image ----------------------------------------------------------------------


@pytest.mark.docker
def test_the_image_under_kfp_local(tmp_path):
    from mlops.testing.component_testing import run_component

    header, rows = taxi_rows(300)
    data = tmp_path / "data"
    write_csv(data / "part-1.csv", header, rows[:150])
    write_csv(data / "part-2.csv", header, rows[150:])
    data.chmod(0o755)
    outputs = run_component(
        "extract_data",
        {
            "source": str(data / "part-*.csv"),
            "split_key": "row_id",
            "columns": ",".join(header),
            # Multi-processing, as by default, with one worker: the machine is shared.
            "beam_args": "--direct_running_mode=multi_processing --direct_num_workers=1",
        },
        tmp_path / "root",
        mounts=[data],
    )
    examples_uri = Path(outputs["examples"].uri)
    for split in examples.SPLITS:
        assert examples.files(examples_uri, split), split
    metrics = outputs["metrics"].metadata
    assert metrics["rows_total"] == 300
    assert metrics["rows_train"] + metrics["rows_eval"] == 300
    assert len(row_ids(examples_uri, "train")) == metrics["rows_train"]
    ids = row_ids(examples_uri, "train") + row_ids(examples_uri, "eval")
    assert sorted(ids) == list(range(300))


def test_a_folder_of_gzipped_csv_with_crlf_and_quoted_commas(tmp_path):
    import gzip

    folder = tmp_path / "in"
    folder.mkdir()
    text = 'id,company,fare\r\n1,"Taxi, Inc.",3.5\r\n2,"Say ""hi""",\r\n'
    (folder / "part-0.csv.gz").write_bytes(gzip.compress(text.encode()))
    counts = extract(folder, tmp_path / "out")
    assert sum(counts.values()) == 2
    found = {e["id"][1][0]: e for s in examples.SPLITS for e in read_examples(tmp_path / "out", s)}
    assert found[1]["company"] == ("bytes_list", [b"Taxi, Inc."])
    assert found[1]["fare"] == ("float_list", [3.5])
    assert found[2]["company"] == ("bytes_list", [b'Say "hi"'])
    assert "fare" not in found[2]
