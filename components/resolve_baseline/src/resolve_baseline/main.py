"""Resolve baseline: the model registry's stable version of a model, copied out as a Model
artifact for evaluate_model's `baseline_model`, so that the baseline is an input of the
evaluation (its content in the evaluation's cache key) rather than state it reads.

Outputs:
  baseline  a copy of <registry>/<model_name>/<stable>/ (SavedModel, version.json,
            mlops_model.json), or, with no stable version yet, a folder holding only
            NO_BASELINE, whose text says why
  version   the stable version number, or "" when there is none

`build_parser` is the command-line interface, which `make lint` checks against component.yaml;
`run` is the work, testable without KFP."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from resolve_baseline.registry import InputError, NoStable, Stable, copy_stable

NO_BASELINE = "NO_BASELINE"  # evaluate_model reads a folder holding it as "no baseline"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--registry", type=str, required=True, help="Registry root: a folder or gs://BUCKET/PATH."
    )
    p.add_argument("--model-name", type=str, required=True, help="The model's registry folder.")
    p.add_argument("--baseline", required=True, help="Output path of the baseline Model.")
    p.add_argument("--version", required=True, help="Output path of the stable version number.")
    p.add_argument(
        "--executor-output",
        default=None,
        help="KFP's executor output file ({{$.outputs.output_file}}), for artifact metadata.",
    )
    return p


def run(registry: str, model_name: str, baseline: str) -> Stable | NoStable:
    """Fills the baseline folder: the stable version's files, or NO_BASELINE and why."""
    out = Path(baseline)
    found = copy_stable(registry, model_name, out)
    if isinstance(found, NoStable):
        out.mkdir(parents=True, exist_ok=True)
        (out / NO_BASELINE).write_text(f"No baseline: {found.reason}.\n")
    return found


def write_outputs(
    found: Stable | NoStable, baseline: str, version: str, executor_output: str | None
) -> None:
    number = str(found.version) if isinstance(found, Stable) else ""
    Path(version).parent.mkdir(parents=True, exist_ok=True)
    Path(version).write_text(number)  # no newline: KFP reads the value as it is
    if executor_output:
        from mlops_runtime import kfp_outputs

        metadata: dict[str, Any] = {"version": number}
        if isinstance(found, Stable):
            metadata["source"] = found.source
        else:
            metadata["reason"] = found.reason
        kfp_outputs.write_artifact_metadata(executor_output, {"baseline": (baseline, metadata)})


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        found = run(args.registry, args.model_name, args.baseline)
    except InputError as e:
        print(f"resolve_baseline: {e}", file=sys.stderr)
        raise SystemExit(2) from e
    write_outputs(found, args.baseline, args.version, args.executor_output)
    if isinstance(found, Stable):
        print(f"resolve_baseline: stable version {found.version} from {found.source}")
    else:
        print(f"resolve_baseline: no baseline: {found.reason}")


if __name__ == "__main__":
    main()
