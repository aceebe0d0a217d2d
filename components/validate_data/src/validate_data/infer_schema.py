"""Infers a first data schema from a CSV sample, for a person to curate and commit.

    python -m validate_data.infer_schema --data data/chicago_taxi/data.csv \
        --out data/schema/schema.pbtxt [--force]

TFDV computes the statistics of the whole CSV and infers types, presence, shapes and string
domains (as observed). A light curation follows, recorded here so that it can be redone:
- environments TRAINING and SERVING, the label (`--label`, default tips) not in SERVING;
- integer identifiers and calendar fields are categorical (community areas, census tracts,
  hour 0-23, day 1-7, month 1-12); money, distance and duration are non-negative;
- a column that is sometimes empty must be present in at least half the fraction observed
  (a column present in under 1% of the rows is optional);
- drift and skew comparators: Jensen-Shannon divergence (on quantile histograms) for fare
  and tips, L-infinity distance for the categorical features, none on optional columns;
  no skew comparator on the label. validate_data sets the thresholds to the pipeline's.
The schema is never overwritten unless --force is given: it is a curated file."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

LABEL = "tips"
ENVIRONMENTS = ("TRAINING", "SERVING")
CATEGORICAL_INTS = {
    "pickup_community_area": None,
    "dropoff_community_area": None,
    "pickup_census_tract": None,
    "dropoff_census_tract": None,
    "trip_start_hour": (0, 23),
    "trip_start_day": (1, 7),
    "trip_start_month": (1, 12),
}
NON_NEGATIVE = ("fare", "tips", "trip_miles", "trip_seconds")
# Drift and skew are measured on these numeric features (Jensen-Shannon divergence) and on
# every categorical one (L-infinity), except optional columns (mostly empty: a sample may
# have no value at all, which TFDV reports as missing control data). Not compared: the
# timestamp (new data is later by construction); the coordinates (community-area centroids,
# a few hundred discrete values, redundant with the community areas); trip_miles and
# trip_seconds, whose ties (27% of trips are 0 miles, durations are whole minutes) put
# TFDV's approximate divergence between two samples of the same data at 0.06-0.10, the
# threshold's level. data/schema/README.md has the measurements.
COMPARED_NUMERIC = ("fare", "tips")
PLACEHOLDER_THRESHOLD = 0.1  # replaced at run time by the thresholds in settings.yaml
OPTIONAL_BELOW = 0.01  # present in fewer rows than this: the column is optional

HEADER = """\
# The data schema (tensorflow_metadata Schema, text format), fixed during development and
# versioned with the code: every pipeline run validates its data against it.
# First inferred by `python -m validate_data.infer_schema` (`make schema`) from
# {data}, then curated: see data/schema/README.md before editing.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", required=True, help="The CSV sample (with a header line): path, glob, gs://."
    )
    parser.add_argument("--out", required=True, help="Where to write the schema (pbtxt).")
    parser.add_argument("--label", default=LABEL, help="The label: absent in SERVING.")
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


def curate(schema, stats, label: str = LABEL):
    """The light curation above, applied in place to an inferred schema; returns it."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    del schema.default_environment[:]
    schema.default_environment.extend(ENVIRONMENTS)
    for feature in schema.feature:
        name = feature.name
        if name == label:
            feature.not_in_environment.append("SERVING")
        if name in CATEGORICAL_INTS and feature.type == schema_pb2.INT:
            feature.int_domain.is_categorical = True
            if CATEGORICAL_INTS[name]:
                feature.int_domain.min, feature.int_domain.max = CATEGORICAL_INTS[name]
        if name in NON_NEGATIVE:
            if feature.type == schema_pb2.FLOAT:
                feature.float_domain.min = 0
            elif feature.type == schema_pb2.INT:
                feature.int_domain.min = 0
        fraction = _presence_fraction(stats, name)
        if fraction is not None and fraction < 1:
            if fraction < OPTIONAL_BELOW:
                feature.presence.Clear()
                feature.presence.min_count = 0
            else:
                feature.presence.min_fraction = math.floor(fraction / 2 * 100) / 100
        categorical = feature.type == schema_pb2.BYTES or feature.int_domain.is_categorical
        optional = fraction is not None and fraction < OPTIONAL_BELOW
        if (categorical or name in COMPARED_NUMERIC) and not optional:
            comparators = [feature.drift_comparator]
            if name != label:  # the label is absent at serving: nothing to compare
                comparators.append(feature.skew_comparator)
            for comparator in comparators:
                if categorical:
                    comparator.infinity_norm.threshold = PLACEHOLDER_THRESHOLD
                else:
                    jsd = comparator.jensen_shannon_divergence
                    jsd.threshold = PLACEHOLDER_THRESHOLD
                    jsd.source.type = schema_pb2.HistogramSelection.QUANTILES
    return schema


def infer(data: str, label: str = LABEL, beam_args: str | None = None):
    """The curated schema inferred from the CSV at `data`."""
    import tensorflow_data_validation as tfdv
    from apache_beam.options.pipeline_options import PipelineOptions
    from mlops_runtime.beam import parse_beam_args

    # In-process by default: the sample is small and worker processes cost more than it.
    args = parse_beam_args(beam_args) if beam_args else ["--runner=DirectRunner"]
    stats = tfdv.generate_statistics_from_csv(data, pipeline_options=PipelineOptions(args))
    schema = tfdv.infer_schema(stats)
    names = {f.name for f in schema.feature}
    if label not in names:
        raise SystemExit(f"--label {label!r}: no such column in {data} (columns: {sorted(names)})")
    return curate(schema, stats.datasets[0], label)


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
        raise SystemExit(
            f"--data {args.data}: infer_schema reads CSV files (a path, glob or gs://)"
        )
    if (
        "://" not in args.data
        and not any(c in args.data for c in "*?[")
        and not Path(args.data).is_file()
    ):
        raise SystemExit(f"--data {args.data}: no such file")
    from google.protobuf import text_format

    schema = infer(args.data, args.label, args.beam_args)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(HEADER.format(data=args.data) + text_format.MessageToString(schema))
    print(
        f"wrote {out}: {len(schema.feature)} features; curate it, then commit it", file=sys.stderr
    )


if __name__ == "__main__":
    main()
