"""Evaluate model: TensorFlow Model Analysis of a candidate model on the eval split, against
value thresholds and, when there is a baseline (the baseline_model input: in a pipeline the
registry's stable version as resolve_baseline copies it out), change thresholds; the verdict
`blessed` gates deployment. What is computed follows the model's task (binary, multiclass,
regression), read from its mlops_model.json.

Outputs:
  evaluation/  TFMA's output (metrics, plots, validations, eval_config.json) + slice_metrics.json
  blessing/    BLESSED or NOT_BLESSED (empty, as TFX writes) + blessing.json
  blessed      "true" | "false"
  report       HTML: the verdict and why, every threshold, metrics per slice (charts with the
               thresholds drawn), the confusion matrix and ROC and precision-recall curves
               of a classifier, predicted against actual and residuals of a regression
  metrics      Metrics: the overall metrics of the candidate (and baseline_<name> of the baseline)

`build_parser` is the command-line interface, which `make lint` checks against component.yaml;
`run` is the work, testable without KFP. Heavy imports happen inside functions."""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_runtime import beam, kfp_outputs
from mlops_runtime.process import run_then_exit

# None of these imports TensorFlow or TFMA at import time (the contract check imports main).
from evaluate_model import baseline as baselines
from evaluate_model import blessing, config, evaluate, plan, report, sample, task, tfma_config
from evaluate_model.blessing import BaselineInfo, Blessing
from evaluate_model.inputs import InputError, ModelInput, check_eval_split, check_model

SLICE_METRICS_FILE = "slice_metrics.json"
BATCHED, TFMA = "batched", "tfma"
EVALUATORS = (BATCHED, TFMA)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, help="Input path of the candidate Model artifact.")
    p.add_argument(
        "--examples", required=True, help="Input path of the raw Examples (Split-eval is used)."
    )
    p.add_argument(
        "--eval-config",
        type=str,
        required=True,
        help="settings.yaml's model.evaluation as JSON: label_key, metrics, slices, "
        "thresholds, change_thresholds, metric_options, binarize, aggregate.",
    )
    p.add_argument(
        "--baseline-model",
        default=None,
        help="Input path of the baseline Model artifact; a folder holding NO_BASELINE (and no "
        "saved_model.pb): no baseline.",
    )
    p.add_argument(
        "--beam-args",
        type=str,
        default="",
        help="Beam pipeline options: a JSON list or a shell-quoted string; empty: DirectRunner.",
    )
    p.add_argument(
        "--evaluator",
        choices=EVALUATORS,
        default=BATCHED,
        help="batched: the models score the eval split in batches and TFMA's metrics are "
        "computed from the arrays (the same results, far faster on large data; TFMA's "
        "pipeline when a metric needs it); tfma: TFMA's Beam pipeline.",
    )
    p.add_argument("--evaluation", required=True, help="Output path of the TFMA evaluation.")
    p.add_argument("--blessing", required=True, help="Output path of the blessing artifact.")
    p.add_argument("--blessed", required=True, help='Output path of the verdict, "true"/"false".')
    p.add_argument("--report", required=True, help="Output path of the HTML report.")
    p.add_argument("--metrics", required=True, help="Output path of the Metrics artifact.")
    p.add_argument(
        "--executor-output",
        default=None,
        help="KFP's executor output file ({{$.outputs.output_file}}), for artifact metadata.",
    )
    return p


@dataclass(frozen=True)
class Result:
    blessing: Blessing
    metrics: dict[str, float]
    slice_metrics: dict[str, Any]
    report_html: str


def _label_key(settings: config.EvalSettings, sidecar: dict[str, Any]) -> str:
    model_label = sidecar.get("label_key")
    if settings.label_key and model_label and settings.label_key != model_label:
        raise InputError(
            f"eval_config.label_key is {settings.label_key!r}, but the model's "
            f"mlops_model.json says its label is {model_label!r}"
        )
    label = settings.label_key or model_label
    if not label:
        raise InputError(
            "eval_config.label_key: missing, and the model has no mlops_model.json naming it"
        )
    return label


def _incompatibility(candidate: ModelInput, baseline: ModelInput, input_name: str) -> str | None:
    """Why the baseline cannot be measured against the candidate (another task, other
    classes, another label), or None."""
    why = task.incompatibility(
        task.from_sidecar(candidate.sidecar, "model"),
        task.from_sidecar(baseline.sidecar, input_name),
    )
    ours, theirs = candidate.sidecar.get("label_key"), baseline.sidecar.get("label_key")
    if why is None and ours and theirs and ours != theirs:
        why = f"the baseline's label is {theirs!r}, the candidate's {ours!r}"
    return why


def run(
    model: str,
    examples_uri: str,
    eval_config: str,
    evaluation: str,
    blessing_dir: str,
    baseline_model: str | None = None,
    beam_args: str | None = None,
    evaluator: str = BATCHED,
) -> Result:
    """Checks the inputs, reads the baseline, runs TFMA and decides; writes the evaluation
    and blessing folders; the caller writes the report and the small outputs."""
    # Every input is checked before the (slow) pipeline is built.
    settings = config.parse(eval_config)
    try:
        # Only TFMA's pipeline runs on Beam; the batched evaluator scores in this process.
        if evaluator == TFMA:
            args = beam.resolve_beam_args(beam_args, [examples_uri], "evaluate_model")
        else:
            args = beam.parse_beam_args(beam_args)
    except ValueError as e:  # also json.JSONDecodeError
        raise InputError(f"beam_args: {e}") from e
    candidate = check_model(model, "model")
    model_task = task.from_sidecar(candidate.sidecar, "model")
    metric_plan = plan.resolve(settings, model_task)
    data_location = check_eval_split(examples_uri)
    label_key = _label_key(settings, candidate.sidecar)

    notes: list[str] = []
    baseline: baselines.Baseline | None = None
    if baseline_model and not baselines.is_no_baseline(baseline_model):
        checked = check_model(baseline_model, "baseline_model")
        baseline = baselines.from_artifact(checked.path)
        why = _incompatibility(candidate, checked, "baseline_model")
        if why:
            # The use case changed its task or classes: the serving model is no yardstick,
            # and the first model of the new kind is judged on values.
            named = f"version {baseline.version}" if baseline.version else baseline.source
            notes.append(f"The baseline model ({named}) was set aside: {why}.")
            baseline = None

    tfma_eval_config = tfma_config.build(settings, label_key, baseline is not None, metric_plan)
    out = Path(evaluation)
    # The batched evaluator's arrays (None after TFMA's pipeline)
    scored_arrays = _evaluate(
        evaluator,
        tfma_eval_config,
        candidate,
        baseline,
        data_location,
        out,
        args,
        settings,
        label_key,
    )
    result = evaluate.read_results(
        out, settings.slices, baseline is not None, model_task.num_classes
    )
    info = BaselineInfo(baseline.version, baseline.source) if baseline else None
    verdict = blessing.decide(settings, result, info, tuple(notes))
    blessing.write(verdict, blessing_dir)

    overall = result.overall()
    # KFP's metrics are numbers: a NaN (a metric undefined on this data) is left out.
    metrics = {k: v for k, v in overall.candidate.items() if math.isfinite(v)}
    for name, value in (overall.baseline or {}).items():
        if math.isfinite(value):
            metrics[f"baseline_{name}"] = value
    slice_metrics = {
        "candidate": str(candidate.path),
        "baseline": {"version": info.version, "source": info.source} if info else None,
        "data": data_location,
        "label_key": label_key,
        "task": model_task.task,
        "classes": list(model_task.classes) if model_task.classes else None,
        "metric_names": metric_plan.metric_names,
        "metric_keys": metric_plan.keys(),
        "slices": [s.to_json(model_task.class_name) for s in result.slices],
    }
    (out / SLICE_METRICS_FILE).write_text(json.dumps(slice_metrics, indent=2) + "\n")
    scored = None
    if model_task.task == task.REGRESSION:  # the per-example charts; TFMA keeps no examples
        scored = (
            sample.from_arrays(scored_arrays, evaluate.CANDIDATE)
            if scored_arrays is not None
            else sample.score(candidate.path, data_location, label_key)
        )
    html = report.render(
        settings, result, verdict, str(candidate.path), data_location, metric_plan, scored
    )
    return Result(verdict, metrics, slice_metrics, html)


def _evaluate(evaluator, eval_config, candidate, baseline, data_location, out, args, settings,
              label_key):  # fmt: skip
    """Runs the chosen evaluator into out; the batched one's arrays, or None."""
    from evaluate_model.batched import Unsupported

    if evaluator not in EVALUATORS:
        raise InputError(f"evaluator is {evaluator!r}; expected one of {', '.join(EVALUATORS)}")
    base = baseline.path if baseline else None
    if evaluator == BATCHED:
        try:
            return evaluate.run_batched(
                eval_config, candidate.path, base, data_location, out, settings.slices, label_key
            )
        except Unsupported as e:
            print(f"evaluate_model: TFMA's pipeline evaluates this configuration ({e})")
    evaluate.run_tfma(eval_config, candidate.path, base, data_location, out, args)
    return None


def _write(path: str, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        result = run(
            args.model,
            args.examples,
            args.eval_config,
            args.evaluation,
            args.blessing,
            baseline_model=args.baseline_model,
            beam_args=args.beam_args,
            evaluator=args.evaluator,
        )
    except InputError as e:
        print(f"evaluate_model: {e}", file=sys.stderr)
        raise SystemExit(2) from e
    verdict = result.blessing
    _write(args.report, result.report_html)
    _write(args.blessed, "true" if verdict.blessed else "false")  # no newline: KFP reads it
    if args.executor_output:
        kfp_outputs.write_metrics(args.executor_output, "metrics", args.metrics, result.metrics)
        meta: dict[str, Any] = {"blessed": verdict.blessed}
        if verdict.baseline and verdict.baseline.version is not None:
            meta["baseline_version"] = verdict.baseline.version
        kfp_outputs.write_artifact_metadata(
            args.executor_output, {"blessing": (args.blessing, meta)}
        )
    else:
        _write(args.metrics, json.dumps(result.metrics, indent=2) + "\n")
    print(
        f"evaluate_model: {'BLESSED' if verdict.blessed else 'NOT BLESSED'}: "
        + "; ".join(verdict.reasons)
    )


if __name__ == "__main__":
    run_then_exit(main)  # no interpreter teardown once the outputs are written
