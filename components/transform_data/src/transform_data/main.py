"""Transform data: TensorFlow Transform over an Examples artifact.

The pipeline author's module defines `preprocessing_fn(inputs)`; it is analysed on the train
split only (vocabularies, means, quantiles) and applied to both splits. Outputs: the
transformed tf.Examples (Examples layout, train and eval), the transform graph for training
and serving (`tft.TFTransformOutput(path)`), and the rows transformed per split as Metrics.

`build_parser` is the command-line interface, which `make lint` checks against component.yaml;
`run` is the work, testable without KFP. Heavy imports happen inside functions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mlops_runtime import beam, kfp_outputs
from mlops_runtime.process import run_then_exit

from transform_data.inputs import InputError, check_splits, load_user_module, parse_schema


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--examples",
        required=True,
        help="Input path of the raw Examples (Split-train, Split-eval).",
    )
    parser.add_argument(
        "--schema", type=str, required=True, help="The raw-data schema as pbtxt text."
    )
    parser.add_argument(
        "--module",
        type=str,
        required=True,
        help="Python source defining preprocessing_fn(inputs), or the path of a .py file "
        "(a value ending in .py that names an existing file).",
    )
    parser.add_argument(
        "--beam-args",
        type=str,
        default="",
        help="Beam pipeline options: a JSON list or a shell-quoted string; empty: DirectRunner.",
    )
    parser.add_argument(
        "--transformed-examples", required=True, help="Output path of the transformed Examples."
    )
    parser.add_argument(
        "--transform-graph", required=True, help="Output path of the TFT transform graph."
    )
    parser.add_argument("--metrics", required=True, help="Output path of the Metrics artifact.")
    parser.add_argument(
        "--executor-output",
        default=None,
        help="KFP's executor output file ({{$.outputs.output_file}}), for the metrics metadata.",
    )
    return parser


def run(
    examples_uri: str,
    schema_text: str,
    module: str,
    transformed_examples: str,
    transform_graph: str,
    beam_args: str | None = None,
) -> dict[str, int]:
    """Checks the inputs, then runs TFT; returns the rows transformed per split."""
    # Every input is checked before the (slow) pipeline is built.
    args = beam.resolve_beam_args(beam_args, [examples_uri], "transform_data")
    check_splits(examples_uri)
    schema = parse_schema(schema_text)
    user_module = load_user_module(module)
    for path in (transformed_examples, transform_graph):
        Path(path).mkdir(parents=True, exist_ok=True)

    from transform_data import transform

    return transform.run(
        examples_uri, schema, user_module, transformed_examples, transform_graph, args
    )


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        rows = run(
            args.examples,
            args.schema,
            args.module,
            args.transformed_examples,
            args.transform_graph,
            args.beam_args,
        )
    except InputError as e:
        print(f"transform_data: {e}", file=sys.stderr)
        raise SystemExit(2) from e
    if args.executor_output:
        kfp_outputs.write_metrics(args.executor_output, "metrics", args.metrics, rows)
    else:
        Path(args.metrics).parent.mkdir(parents=True, exist_ok=True)
        Path(args.metrics).write_text(json.dumps(rows, indent=2) + "\n")
    print(f"transformed {json.dumps(rows)} into {args.transformed_examples}")


if __name__ == "__main__":
    run_then_exit(main)  # no interpreter teardown once the outputs are written
