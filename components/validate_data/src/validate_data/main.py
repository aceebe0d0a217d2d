"""Validate data: TFDV statistics of each split of an Examples artifact, validated against the
schema kept in the repository (environment TRAINING), drift against a previous run's
statistics and skew against serving statistics (train split, the schema's comparators with
the given thresholds). Writes the statistics, the anomalies, an HTML report, a summary and
the decision ("continue" or "stop") that the pipeline uses to stop before transformation.

`build_parser` is the command-line interface that `make lint` checks against component.yaml.

Outputs:
  statistics/Split-<split>/FeatureStats.pb   DatasetFeatureStatisticsList, binary (as TFX)
  anomalies/Split-<split>/anomalies.pbtxt    Anomalies of the split, text format; the train
                                             split's include drift and skew (drift_skew_info)
  anomalies/serving/anomalies.pbtxt          the serving statistics against the schema
                                             (environment SERVING), when given
  anomalies/summary.json                     decision, counts and every anomaly, as JSON
  report (HTML), decision (continue|stop), summary (Metrics)"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mlops_runtime.process import run_then_exit

_TRUE, _FALSE = {"true", "1", "yes", "y", "on"}, {"false", "0", "no", "n", "off", ""}


def boolean(value: str) -> bool:
    v = str(value).strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


THRESHOLDS = (
    "drift_numeric_jsd",
    "drift_categorical_linf",
    "skew_numeric_jsd",
    "skew_categorical_linf",
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--examples", required=True, help="Examples artifact (Split-*/ folders).")
    p.add_argument("--schema", required=True, help="The schema's text (Schema pbtxt).")
    p.add_argument("--previous-statistics", help="A previous run's statistics, for drift.")
    p.add_argument("--serving-statistics", help="Statistics of serving data, for skew.")
    for flag, what in (
        ("--drift-numeric-jsd", "Drift threshold, Jensen-Shannon divergence (numeric)."),
        ("--drift-categorical-linf", "Drift threshold, L-infinity distance (categorical)."),
        ("--skew-numeric-jsd", "Skew threshold, Jensen-Shannon divergence (numeric)."),
        ("--skew-categorical-linf", "Skew threshold, L-infinity distance (categorical)."),
    ):
        p.add_argument(flag, type=float, default=0.1, help=what)
    p.add_argument(
        "--fail-on-anomalies",
        type=boolean,
        default=False,
        help="true: the step fails on anomalies (after writing its outputs).",
    )
    p.add_argument("--beam-args", default=None, help="Beam options: JSON list or shell string.")
    p.add_argument("--statistics", required=True, help="Output folder of the statistics.")
    p.add_argument("--anomalies", required=True, help="Output folder of the anomalies.")
    p.add_argument("--report", required=True, help="Output path of the HTML report.")
    p.add_argument("--decision", required=True, help="Output path of the decision.")
    p.add_argument("--summary", required=True, help="Output path of the summary metrics.")
    p.add_argument(
        "--executor-output", default=None, help="KFP's executor output file (metrics metadata)."
    )
    return p


def _write(path: str | Path, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)


def run(args: argparse.Namespace):
    """The work: returns the validation Result (outputs not yet written)."""
    from validate_data import stats, validation

    for name in THRESHOLDS:
        value = getattr(args, name)
        if not 0 <= value <= 1:  # both distances are within [0, 1]
            flag = "--" + name.replace("_", "-")
            raise stats.InputError(f"{flag} {value}: a distance threshold is within [0, 1]")
    thresholds = validation.Thresholds(*(getattr(args, name) for name in THRESHOLDS))
    schema = validation.parse_schema(args.schema)
    splits = stats.discover_splits(args.examples)
    compare_split = "train" if "train" in splits else splits[0]
    previous = serving = None
    if args.previous_statistics:
        previous = stats.read(args.previous_statistics, compare_split, "previous-statistics")
    if args.serving_statistics:
        serving = stats.read(args.serving_statistics, compare_split, "serving-statistics")
    statistics, problems = stats.generate(
        args.examples, splits, args.statistics, schema, args.beam_args
    )
    return validation.validate(
        schema, statistics, problems, splits, thresholds, previous, serving, compare_split
    )


def write_outputs(result, args: argparse.Namespace) -> dict:
    from google.protobuf import text_format
    from mlops_runtime.kfp_outputs import write_metrics

    from validate_data.report import render

    anomalies = Path(args.anomalies)
    listed = []
    for section in result.sections:
        folder = "serving" if section.name == "serving" else f"Split-{section.name}"
        _write(
            anomalies / folder / "anomalies.pbtxt", text_format.MessageToString(section.anomalies)
        )
        found = sorted(section.anomalies.anomaly_info.items())
        if section.anomalies.HasField("dataset_anomaly_info"):
            found.insert(0, ("(dataset)", section.anomalies.dataset_anomaly_info))
        if section.anomalies.data_missing:
            listed.append(
                {"section": section.name, "feature": "(dataset)", "anomaly": "Data missing"}
            )
        for name, info in found:
            listed.append(
                {
                    "section": section.name,
                    "feature": name,
                    "anomaly": info.short_description,
                    "description": info.description,
                }
            )
    metrics = result.metrics()
    summary = {
        "decision": result.decision,
        "metrics": metrics,
        "anomalies": listed,
        "drifted_features": result.features_over("drift"),
        "skewed_features": result.features_over("skew"),
        "measurements": [
            {
                "feature": m.feature,
                "comparison": m.kind,
                "measure": m.measure,
                "value": m.value,
                "threshold": m.threshold,
            }
            for m in result.measurements()
        ],
        "notes": result.notes,
    }
    _write(anomalies / "summary.json", json.dumps(summary, indent=2) + "\n")
    _write(args.report, render(result))
    _write(args.decision, result.decision)  # no newline: KFP reads the file as the string
    if args.executor_output:
        write_metrics(args.executor_output, "summary", args.summary, metrics)
    else:
        _write(args.summary, json.dumps(metrics, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from validate_data.stats import InputError

    try:
        result = run(args)
    except InputError as e:
        raise SystemExit(f"validate_data: {e}") from None
    summary = write_outputs(result, args)
    print(
        f"decision: {result.decision}; metrics: {json.dumps(summary['metrics'])}",
        file=sys.stderr,
    )
    for item in summary["anomalies"]:
        print(f"  {item['section']}: {item['feature']}: {item['anomaly']}", file=sys.stderr)
    if result.decision != "continue" and args.fail_on_anomalies:
        raise SystemExit(
            f"validate_data: {result.anomaly_count()} anomalies and --fail-on-anomalies is "
            f"true; see {args.report} and {args.anomalies}"
        )


if __name__ == "__main__":
    run_then_exit(main)  # no interpreter teardown once the outputs are written
