"""Extract data: reads CSV files (a path, a folder, a glob or gs://) or BigQuery (a table or a
query) and writes train/eval splits of tf.Examples (gzipped TFRecords, the Examples layout of
mlops_runtime.examples), split deterministically by a fingerprint of a key, with the row
count of each split as a Metrics output. `build_parser` is the command-line interface that
`make lint` checks against component.yaml; the work is in extract.py."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mlops_runtime.process import run_then_exit


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
        "--beam-args",
        help="Beam pipeline flags: a JSON list or a shell string (default: DirectRunner, "
        "one worker process per core).",
    )
    parser.add_argument("--examples", required=True, help="Output folder of the Examples.")
    parser.add_argument("--metrics", required=True, help="Output path of the row counts.")
    parser.add_argument(
        "--executor-output",
        help="Where KFP reads output metadata ({{$.outputs.output_file}}).",
    )
    return parser


def metrics_of(counts: dict[str, int]) -> dict[str, int]:
    metrics = {f"rows_{split}": n for split, n in counts.items()}
    metrics["rows_total"] = sum(counts.values())
    return metrics


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from extract_data.extract import ExtractError, run

    try:
        counts = run(
            args.source,
            args.examples,
            query=args.query,
            splits=args.splits,
            split_key=args.split_key,
            columns=args.columns,
            beam_args=args.beam_args,
        )
    except ExtractError as e:
        print(f"extract_data: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    metrics = metrics_of(counts)
    if args.executor_output:
        from mlops_runtime.kfp_outputs import write_metrics

        write_metrics(args.executor_output, "metrics", args.metrics, metrics)
    else:
        Path(args.metrics).parent.mkdir(parents=True, exist_ok=True)
        Path(args.metrics).write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"extract_data: {args.source} -> {args.examples}: {json.dumps(metrics)}")


if __name__ == "__main__":
    run_then_exit(main)  # no interpreter teardown once the outputs are written
