"""Extract data: reads CSV files (a path, a folder, a glob or gs://) or BigQuery (a table or a
query) and writes train/eval splits of tf.Examples (gzipped TFRecords, the Examples layout of
mlops_runtime.examples), split deterministically by a fingerprint of a key, with the row
count of each split as a Metrics output. Cells equal to a null marker are absent features;
with a label, rows without one are dropped and counted, and optionally the label values of
the eval split must all occur in the train split. `build_parser` is the command-line
interface that `make lint` checks against component.yaml; the work is in extract.py."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_runtime.process import run_then_exit

if TYPE_CHECKING:  # the check imports this module: Beam stays out of it
    from extract_data.extract import Extraction

_TRUE, _FALSE = {"true", "1", "yes", "y", "on"}, {"false", "0", "no", "n", "off", ""}


def boolean(value: str) -> bool:
    v = str(value).strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--source",
        required=True,
        help="A path, folder or glob of CSV files, gs://bucket/path*.csv, "
        "bq://project.dataset.table, or bq://project[.dataset] with --query.",
    )
    parser.add_argument("--query", help="A BigQuery SQL query to read instead of a table.")
    parser.add_argument(
        "--splits",
        default='{"train": 2, "eval": 1}',
        help="Hash buckets per split, as a JSON object.",
    )
    parser.add_argument(
        "--split-key",
        help="Comma-separated columns whose values are hashed to split (default: the whole row).",
    )
    parser.add_argument(
        "--columns",
        help="Comma-separated expected header; 'name:int|float|string' declares a kind.",
    )
    parser.add_argument(
        "--null-markers",
        default='[""]',
        help='Cell values meaning "missing" (absent features), a JSON list of strings, '
        "compared after stripping whitespace; an empty cell is always missing.",
    )
    parser.add_argument(
        "--label",
        help="The label column: it must exist; rows where it is missing are dropped.",
    )
    parser.add_argument(
        "--check-label-classes",
        type=boolean,
        default=False,
        help="true: label values of the eval split that the train split lacks are an error.",
    )
    parser.add_argument(
        "--beam-args",
        help="Beam pipeline flags: a JSON list or a shell string (default: DirectRunner, "
        "workers chosen from the input's size and the CPUs).",
    )
    parser.add_argument("--examples", required=True, help="Output folder of the Examples.")
    parser.add_argument("--metrics", required=True, help="Output path of the row counts.")
    parser.add_argument(
        "--executor-output",
        help="Where KFP reads output metadata ({{$.outputs.output_file}}).",
    )
    return parser


def metrics_of(extraction: Extraction) -> dict[str, int]:
    """rows_<split>, rows_total; with a label, label_missing_<split> (rows dropped) and
    label_values_<split> (distinct values)."""
    metrics = {f"rows_{split}": n for split, n in extraction.rows.items()}
    metrics["rows_total"] = sum(extraction.rows.values())
    for name, counts in (
        ("label_missing", extraction.label_missing),
        ("label_values", extraction.label_values),
    ):
        metrics.update({f"{name}_{split}": n for split, n in (counts or {}).items()})
    return metrics


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from extract_data.extract import ExtractError, extract

    try:
        extraction = extract(
            args.source,
            args.examples,
            query=args.query,
            splits=args.splits,
            split_key=args.split_key,
            columns=args.columns,
            null_markers=args.null_markers,
            label=args.label,
            check_label_classes=args.check_label_classes,
            beam_args=args.beam_args,
        )
    except ExtractError as e:
        print(f"extract_data: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    metrics = metrics_of(extraction)
    if args.executor_output:
        from mlops_runtime.kfp_outputs import write_metrics

        write_metrics(args.executor_output, "metrics", args.metrics, metrics)
    else:
        Path(args.metrics).parent.mkdir(parents=True, exist_ok=True)
        Path(args.metrics).write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"extract_data: {args.source} -> {args.examples}: {json.dumps(metrics)}")


if __name__ == "__main__":
    run_then_exit(main)  # no interpreter teardown once the outputs are written
