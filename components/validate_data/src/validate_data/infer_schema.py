"""Infers a first data schema from a CSV sample, for a person to curate and commit.

    python -m validate_data.infer_schema --data DATA.csv --label COLUMN \
        --out pipelines/usecases/NAME/schema.pbtxt [--categorical COLUMN ...] [--force]

TFDV computes the statistics of the whole CSV and infers types, presence, shapes and string
domains (as observed), with the same type rules as extract_data (CsvExampleGen's). Cells equal
to a `--null-marker` are missing, as extract_data reads them. A light, generic curation follows,
recorded here so that it can be redone; anything a person knows about the data (a numeric code
that is categorical, a value that cannot be negative) is theirs to add afterwards:
- environments TRAINING and SERVING, the label not in SERVING;
- `--categorical` integer columns (a classification label, codes) get a categorical domain;
- a column that is sometimes missing must be present in at least half the fraction observed
  (a column present in under 1% of the rows is optional);
- drift and skew comparators on every feature that is not optional: Jensen-Shannon divergence
  (on quantile histograms) for numeric features, L-infinity distance for categorical ones, at
  the thresholds given (validate_data sets them again from settings at run time); no skew
  comparator on the label, which serving data does not carry.
The schema is never overwritten unless --force is given: it is a curated file."""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
from pathlib import Path

ENVIRONMENTS = ("TRAINING", "SERVING")
OPTIONAL_BELOW = 0.01  # present in fewer rows than this: the column is optional

HEADER = """\
# The data schema (tensorflow_metadata Schema, text format), fixed during development and
# versioned with the code: every pipeline run validates its data against it.
# First inferred by `python -m validate_data.infer_schema` (`make schema`) from
# {data}, then curated: see the use case's README before editing.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", required=True, help="The CSV sample (with a header line): a path or gs://."
    )
    parser.add_argument("--out", required=True, help="Where to write the schema (pbtxt).")
    parser.add_argument("--label", required=True, help="The label column: absent in SERVING.")
    parser.add_argument(
        "--categorical",
        nargs="*",
        default=[],
        help="Integer columns that are categories, not quantities (e.g. a class label).",
    )
    parser.add_argument(
        "--null-markers",
        default='[""]',
        help='Cell values that mean "missing", as a JSON list (as extract_data takes them).',
    )
    parser.add_argument("--numeric-jsd", type=float, default=0.1, help="Drift/skew threshold.")
    parser.add_argument("--categorical-linf", type=float, default=0.1, help="Drift/skew threshold.")
    parser.add_argument("--force", action="store_true", help="Overwrite an existing schema.")
    parser.add_argument(
        "--beam-args", default=None, help="Beam options (JSON list or a shell-quoted string)."
    )
    return parser


def _presence_fraction(stats, name: str) -> float | None:
    for f in stats.features:
        if (f.path.step and f.path.step[0] == name) or f.name == name:
            common = (
                f.num_stats.common_stats if f.HasField("num_stats") else f.string_stats.common_stats
            )
            return common.num_non_missing / stats.num_examples if stats.num_examples else None
    return None


def curate(
    schema,
    stats,
    label: str,
    categorical: tuple[str, ...] = (),
    numeric_jsd: float = 0.1,
    categorical_linf: float = 0.1,
):
    """The generic curation above, applied in place to an inferred schema; returns it."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    del schema.default_environment[:]
    schema.default_environment.extend(ENVIRONMENTS)
    for feature in schema.feature:
        name = feature.name
        if name == label:
            feature.not_in_environment.append("SERVING")
        if name in categorical and feature.type == schema_pb2.INT:
            feature.int_domain.is_categorical = True
        fraction = _presence_fraction(stats, name)
        if fraction is not None and fraction < 1:
            if fraction < OPTIONAL_BELOW:
                feature.presence.Clear()
                feature.presence.min_count = 0
            else:
                feature.presence.min_fraction = math.floor(fraction / 2 * 100) / 100
        if fraction is not None and fraction < OPTIONAL_BELOW:
            continue  # mostly empty: a sample may hold no value at all, nothing to compare
        is_categorical = feature.type == schema_pb2.BYTES or feature.int_domain.is_categorical
        comparators = [feature.drift_comparator]
        if name != label:  # the label is absent at serving: nothing to compare
            comparators.append(feature.skew_comparator)
        for comparator in comparators:
            if is_categorical:
                comparator.infinity_norm.threshold = categorical_linf
            else:
                jsd = comparator.jensen_shannon_divergence
                jsd.threshold = numeric_jsd
                jsd.source.type = schema_pb2.HistogramSelection.QUANTILES
    return schema


def parse_null_markers(text: str) -> tuple[str, ...]:
    try:
        markers = json.loads(text)
    except json.JSONDecodeError as e:
        raise SystemExit(f"--null-markers {text!r}: not JSON ({e.msg})") from e
    if not isinstance(markers, list) or not all(isinstance(m, str) for m in markers):
        raise SystemExit(f"--null-markers {text!r}: expected a JSON list of strings")
    return tuple(m.strip() for m in markers)


def blank_markers(data: str, markers: tuple[str, ...], out: Path) -> str:
    """A copy of the CSV with marker cells emptied: TFDV's CSV decoder reads an empty cell as
    missing, as extract_data reads a marker cell."""
    with open(data, newline="") as src, open(out, "w", newline="") as dst:
        reader, writer = csv.reader(src), csv.writer(dst)
        writer.writerow(next(reader))
        for row in reader:
            writer.writerow(["" if cell.strip() in markers else cell for cell in row])
    return str(out)


def infer(
    data: str,
    label: str,
    categorical: tuple[str, ...] = (),
    null_markers: tuple[str, ...] = ("",),
    numeric_jsd: float = 0.1,
    categorical_linf: float = 0.1,
    beam_args: str | None = None,
):
    """The curated schema inferred from the CSV at `data`."""
    import tensorflow_data_validation as tfdv
    from apache_beam.options.pipeline_options import PipelineOptions
    from mlops_runtime.beam import parse_beam_args

    # In-process by default: the sample is small and worker processes cost more than it.
    args = parse_beam_args(beam_args) if beam_args else ["--runner=DirectRunner"]
    with tempfile.TemporaryDirectory() as tmp:
        if set(null_markers) - {""} and "://" not in data:
            data_read = blank_markers(data, null_markers, Path(tmp) / "data.csv")
        else:
            data_read = data
        stats = tfdv.generate_statistics_from_csv(
            data_read, pipeline_options=PipelineOptions(args)
        )
    schema = tfdv.infer_schema(stats)
    names = {f.name for f in schema.feature}
    for column in (label, *categorical):
        if column not in names:
            raise SystemExit(f"{column!r}: no such column in {data} (columns: {sorted(names)})")
    return curate(schema, stats.datasets[0], label, categorical, numeric_jsd, categorical_linf)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    if out.exists() and not args.force:
        raise SystemExit(
            f"{out} exists: it is the curated schema, kept as it is. "
            "Pass --force (make schema FORCE=1) to replace it with a newly inferred one, "
            "then curate it again."
        )
    if args.data.startswith("bq://"):
        raise SystemExit(f"--data {args.data}: infer_schema reads CSV files (a path or gs://)")
    if "://" not in args.data and not Path(args.data).is_file():
        raise SystemExit(f"--data {args.data}: no such file")
    from google.protobuf import text_format

    schema = infer(
        args.data,
        args.label,
        tuple(args.categorical),
        parse_null_markers(args.null_markers),
        args.numeric_jsd,
        args.categorical_linf,
        args.beam_args,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(HEADER.format(data=args.data) + text_format.MessageToString(schema))
    print(
        f"wrote {out}: {len(schema.feature)} features; curate it, then commit it", file=sys.stderr
    )


if __name__ == "__main__":
    main()
