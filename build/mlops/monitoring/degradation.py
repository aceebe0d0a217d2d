"""The degradation trigger: live metrics of the served model from labelled predictions, and a
retraining run when the serving version's metric is degraded past the threshold.

    python -m mlops monitor [--once] [--every SECONDS]        (make monitor)

One check: read settings.yaml `triggers.degradation`, find the served model's task
(mlops.monitoring.tasks: the stable version's mlops_model.json, else model.task), join the
labels that arrived with the prediction service's request log (mlops.monitoring.live_metrics),
compute per model version the task's metrics of its last `window` labelled predictions, and
decide on the registry's stable version. A metric is degraded below the threshold when
higher is better (binary_accuracy, auc, accuracy, macro_f1), above it when lower is better
(mae, rmse):

    ok          its metric is not degraded
    no verdict  fewer than min_samples labelled predictions, an undefined metric (AUC of a
                one-class window), or nothing serving
    retrain     degraded: the CT pipeline is started (mlops.triggers.runs) on the settings'
                data.source
    held        degraded, but a retraining run was already started for this version: no
                second run until another version is stable, or (when
                `triggers.degradation.cooldown_s` is set) until that many seconds have passed
    failed      the check could not be made (bad settings, a metric that does not fit the
                served model's task, a label file that does not parse, the run could not be
                started); the reason says why

A canary version's metrics are computed and reported, but only the stable version triggers.
Every check is recorded in the lineage store (decisions, kind "degradation") and writes a
Markdown report and the JSON of its figures under .local/monitoring/."""

from __future__ import annotations

import contextlib
import fcntl
import json
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops.core.errors import BuildError
from mlops.monitoring import live_metrics
from mlops.monitoring.tasks import (
    BINARY_CLASSES,
    METRICS,
    TASKS,
    Metric,
    Task,
    metric_names,
    task_from_sidecar,
)

KIND = "degradation"
PIPELINE = "ct_pipeline"
DEGRADED = ("below threshold", "above threshold")  # the verdicts that retrain
MONITORING_DIR = Path(".local") / "monitoring"
KEEP_REPORTS = 500  # the loop writes one report per check: keep the newest, drop the rest

StartFn = Callable[..., Any]  # start(root, pipeline, reason, *, data=None, env=None) -> run


@dataclass(frozen=True)
class DegradationSettings:
    env: str
    model_name: str
    registry: str  # a local folder (absolute) or gs://...
    data_source: str  # what a retraining run trains on
    request_log: Path  # the folder of per-model request-log folders
    labels: Path
    metric: str
    threshold: float
    window: int
    min_samples: int
    cooldown_s: float | None  # None: after a retrain, wait until another version is stable
    task: str = "binary"  # settings.yaml model.task: the task when no sidecar says
    task_source: str = "settings.yaml model.task"

    @property
    def model_log(self) -> Path:
        return self.request_log / self.model_name

    @property
    def metric_info(self) -> Metric:
        return METRICS[self.metric]

    def describe(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "direction": self.metric_info.direction,
            "threshold": self.threshold,
            "window": self.window,
            "min_samples": self.min_samples,
            "cooldown_s": self.cooldown_s,
            "request_log": str(self.model_log),
            "labels": str(self.labels),
        }


def _local(root: Path, value: str) -> str:
    return value if "://" in value else str((root / value).resolve())


def load_degradation_settings(root: Path, env: str | None = None) -> DegradationSettings:
    """triggers.degradation checked; every problem names the setting (BuildError)."""
    from mlops.core.model_settings import load_model_settings
    from mlops.core.settings import load_raw

    path = root / "settings.yaml"
    raw = load_raw(path, env)
    env = raw["env"]
    where = "triggers.degradation"
    section = (raw.get("triggers") or {}).get("degradation")
    if not isinstance(section, dict):
        raise BuildError(f"{path} (environment {env!r}): {where} is missing (a mapping)")
    problems: list[str] = []

    def positive_int(key: str) -> int:
        value = section.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            state = "missing" if value is None else f"{value!r}"
            problems.append(f"{where}.{key} is {state}; expected a positive integer")
            return 1
        return value

    def folder(key: str) -> Path:
        value = section.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}.{key} is missing (a folder)")
            return root
        if "://" in value:
            problems.append(f"{where}.{key} is {value!r}; expected a local folder")
            return root
        return Path(_local(root, value))

    request_log, labels = folder("request_log"), folder("labels")
    task = (raw.get("model") or {}).get("task")
    task_source = "settings.yaml model.task"
    if task is None:
        task, task_source = "binary", "no model.task in settings.yaml"
    elif task not in TASKS:
        problems.append(f"model.task is {task!r}; expected one of {', '.join(TASKS)}")
        task = "binary"
    metric = section.get("metric")
    allowed = ", ".join(metric_names(task))
    if metric not in METRICS:
        state = "missing" if metric is None else f"{metric!r}"
        problems.append(
            f"{where}.metric is {state}; use one of {allowed} (the metrics of the task {task})"
        )
    elif METRICS[metric].task != task:
        problems.append(
            f"{where}.metric is {metric!r}, a {METRICS[metric].task} metric, but the task is "
            f"{task} ({task_source}); use one of {allowed}"
        )
    share = metric not in METRICS or METRICS[metric].share
    expected = "a number between 0 and 1" if share else f"a number of at least 0 ({metric})"
    threshold = section.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        state = "missing" if threshold is None else f"{threshold!r}"
        problems.append(f"{where}.threshold is {state}; expected {expected}")
        threshold = 0.0
    elif threshold < 0 or (share and threshold > 1):
        problems.append(f"{where}.threshold is {threshold!r}; expected {expected}")
    window, min_samples = positive_int("window"), positive_int("min_samples")
    if not problems and min_samples > window:
        problems.append(
            f"{where}.min_samples ({min_samples}) is larger than {where}.window ({window}): "
            f"no window could ever give a verdict"
        )
    cooldown = section.get("cooldown_s")
    if cooldown is not None and (
        isinstance(cooldown, bool) or not isinstance(cooldown, int | float) or cooldown <= 0
    ):
        problems.append(
            f"{where}.cooldown_s is {cooldown!r}; expected a number of seconds above 0, or null "
            f"(wait until another version is stable)"
        )
    source = (raw.get("data") or {}).get("source")
    if not isinstance(source, str) or not source:
        problems.append("data.source is missing (what a retraining run trains on)")
    if problems:
        raise BuildError(f"{path} (environment {env!r}): " + "; ".join(problems))
    model = load_model_settings(root, env)
    return DegradationSettings(
        env=env,
        model_name=model.name,
        registry=model.serving.registry,
        data_source=_local(root, source),
        request_log=request_log,
        labels=labels,
        metric=metric,
        threshold=float(threshold),
        window=window,
        min_samples=min_samples,
        cooldown_s=None if cooldown is None else float(cooldown),
        task=task,
        task_source=task_source,
    )


# --- the registry ----------------------------------------------------------------------------


def read_registry_json(registry: str, rel: str) -> dict[str, Any] | None:
    """A JSON file of the registry (local folder or gs://), None when absent."""
    uri = f"{registry.rstrip('/')}/{rel}"
    try:
        if registry.startswith("gs://"):
            from mlops.core.gcs import split_gs, storage_client

            bucket, prefix = split_gs(registry)
            blob = storage_client().bucket(bucket).blob(f"{prefix}/{rel}".lstrip("/"))
            if not blob.exists():
                return None
            text = blob.download_as_text()
        else:
            path = Path(uri)
            if not path.is_file():
                return None
            text = path.read_text()
        value = json.loads(text)
    except (OSError, ValueError) as e:
        raise BuildError(f"{uri}: cannot read it ({e})") from e
    if not isinstance(value, dict):
        raise BuildError(f"{uri}: expected a JSON object")
    return value


def serving_state(settings: DegradationSettings) -> dict[str, Any]:
    """{"stable": "3" | None, "canary": "4" | None, "canary_percent": N} from serving.json."""
    state = read_registry_json(settings.registry, f"{settings.model_name}/serving.json") or {}
    canary = state.get("canary")
    canary_version = canary.get("version") if isinstance(canary, dict) else canary
    return {
        "stable": None if state.get("stable") is None else str(state["stable"]),
        "canary": None if canary_version is None else str(canary_version),
        "canary_percent": canary.get("traffic_percent") if isinstance(canary, dict) else None,
    }


def served_task(settings: DegradationSettings, version: str | None) -> Task:
    """The task of the version (its mlops_model.json in the registry), else the settings'."""
    if version is not None:
        rel = f"{settings.model_name}/{version}/mlops_model.json"
        sidecar = read_registry_json(settings.registry, rel)
        if sidecar is not None:
            try:
                return task_from_sidecar(sidecar, f"{settings.registry.rstrip('/')}/{rel}")
            except ValueError as e:
                raise BuildError(str(e)) from None
    classes = BINARY_CLASSES if settings.task == "binary" else None
    return Task(settings.task, classes, settings.task_source)


def deployed_metrics(
    settings: DegradationSettings, version: str, task: str | None = None
) -> dict[str, Any]:
    """The version's evaluation metrics of the task (default: the settings') from its
    version.json, under the live metrics' names (empty when it has none)."""
    try:
        info = read_registry_json(
            settings.registry, f"{settings.model_name}/{version}/version.json"
        )
    except BuildError:
        return {}  # only the report's "at deployment" column needs it
    metrics = (info or {}).get("metrics") or {}
    found = {}
    for name in metric_names(task or settings.task):
        for key in METRICS[name].evaluation_names:
            if isinstance(metrics.get(key), int | float) and not isinstance(metrics[key], bool):
                found[name] = metrics[key]
                break
    return found


# --- the decision ----------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}".rstrip("0").rstrip(".") if value else "0"


def version_verdict(
    settings: DegradationSettings, version: str, metrics: dict[str, Any], deployed: dict
) -> tuple[str, str]:
    """(ok | below threshold | above threshold | no verdict, reason) for one version's
    window; which side of the threshold is degraded is the metric's (tasks.Metric)."""
    name, count = settings.metric, metrics["count"]
    if count < settings.min_samples:
        return "no verdict", (
            f"version {version} has {count} labelled predictions, fewer than min_samples "
            f"{settings.min_samples}"
        )
    value = metrics.get(name)
    if value is None:
        why = ": they hold one class only" if name == "auc" else ""
        return "no verdict", (
            f"{name} of version {version} is undefined over the last {count} labelled "
            f"predictions{why}"
        )
    at_deploy = deployed.get(name)
    then = f"; it was {_fmt(at_deploy)} at deployment" if at_deploy is not None else ""
    head = (
        f"{name} of version {version} is {_fmt(value)} over the last {count} labelled predictions"
    )
    metric = settings.metric_info
    gap = settings.threshold - value if metric.higher_is_better else value - settings.threshold
    if gap > 0:
        return f"{metric.bad_side} threshold", (
            f"{head}, {metric.bad_side} the threshold {_fmt(settings.threshold)} by "
            f"{_fmt(gap)}{then}"
        )
    good_side = "above" if metric.higher_is_better else "below"
    return "ok", f"{head}, at or {good_side} the threshold {_fmt(settings.threshold)}{then}"


def last_retrain(store, model_name: str, version: str) -> dict[str, Any] | None:
    """The newest retrain decision for this model version, from the lineage store."""
    rows = store.db.execute(
        "SELECT at, run_id, details FROM decisions WHERE kind = ? AND decision = 'retrain'"
        " ORDER BY at DESC, id DESC",
        (KIND,),
    )
    for at, run_id, details in rows:
        d = json.loads(details or "{}")
        if d.get("model_name") == model_name and str(d.get("model_version")) == version:
            return {"at": at, "run_id": run_id, "status": (d.get("run") or {}).get("status")}
    return None


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


@dataclass
class CheckResult:
    decision: str
    reason: str
    run_id: str | None = None
    report: Path | None = None
    figures: dict[str, Any] = field(default_factory=dict)


def _default_start(root: Path, pipeline: str, reason: str, *, data=None, env=None):
    # Imported here: trigger_runs pulls in kfp and the runners, which a check that starts
    # nothing does not need.
    from mlops.triggers.runs import start_run

    return start_run(root, pipeline, reason, data=data, env=env)


def _decide(
    root: Path,
    settings: DegradationSettings,
    figures: dict[str, Any],
    store,
    start: StartFn,
    at: float,
) -> CheckResult:
    stable = figures["serving"]["stable"]
    if stable is None:
        return CheckResult("no verdict", f"no version of {settings.model_name} is serving")
    entry = figures["versions"][stable]  # evaluate() gives the serving versions an entry
    labels = figures["labels"]
    if labels["joined"] == 0:
        return CheckResult(
            "no verdict",
            f"{entry['reason']}: no label joined a logged prediction ({labels['labels']} "
            f"labels in {len(labels['files'])} files, {labels['unmatched']} unmatched)",
        )
    if entry["verdict"] not in DEGRADED:
        return CheckResult(entry["verdict"], entry["reason"])
    previous = last_retrain(store, settings.model_name, stable)
    if previous is not None:
        cooldown = settings.cooldown_s
        if cooldown is None or at - previous["at"] < cooldown:
            until = (
                "until another version is stable"
                if cooldown is None
                else f"until the cool-down of {cooldown:g}s ends at "
                f"{_when(previous['at'] + cooldown)}"
            )
            canary = figures["serving"]["canary"]
            hint = (
                f"; version {canary} is the canary: `make promote` when its live metric holds"
                if canary
                else ""
            )
            # A failed run holds too: retrying a broken pipeline every check would only
            # repeat the failure; cooldown_s is the setting that retries.
            status = f" ({previous['status']})" if previous.get("status") else ""
            return CheckResult(
                "held",
                f"{entry['reason']}; retraining run {previous['run_id']}{status} was started "
                f"for this version at {_when(previous['at'])}, no new run {until}{hint}",
                previous["run_id"],
            )
    reason = f"{entry['reason']}: retraining on {settings.data_source}"
    try:
        run = start(root, PIPELINE, reason, data=settings.data_source, env=settings.env)
    except Exception as e:  # any failure to start: retried on the next check
        return CheckResult(
            "failed", f"{entry['reason']}; {PIPELINE} could not be started: {type(e).__name__}: {e}"
        )
    figures["run"] = {
        k: getattr(run, k, None) for k in ("run_id", "pipeline", "target", "status", "details")
    }
    # A local run has ended when start returns: say how it went (a cluster run is PENDING).
    status = figures["run"]["status"]
    error = (figures["run"]["details"] or {}).get("error")
    if status:
        reason += f" (run {status.lower()}{': ' + error if error else ''})"
    return CheckResult("retrain", reason, getattr(run, "run_id", None))


def labelled_predictions(settings: DegradationSettings, version: str | None):
    """The served version's task, and the logged predictions joined with the labels that
    arrived. A metric that does not fit that task raises BuildError."""
    task = served_task(settings, version)
    if settings.metric not in metric_names(task.task):
        raise BuildError(
            f"triggers.degradation.metric is {settings.metric!r}, which does not fit the task "
            f"{task.task} of the served model ({task.source}); use one of "
            f"{', '.join(metric_names(task.task))}"
        )
    labels = live_metrics.read_labels(settings.labels, task)
    return task, live_metrics.join(settings.model_log, labels, task)


def evaluate(settings: DegradationSettings) -> dict[str, Any]:
    """The figures of one check: serving state, the task, the join, metrics and verdict per
    version. A metric that does not fit the served model's task raises BuildError."""
    serving = serving_state(settings)
    task, joined = labelled_predictions(settings, serving["stable"])
    versions = live_metrics.per_version(joined.labelled, settings.window, task.task)
    for version in filter(None, (serving["stable"], serving["canary"])):
        versions.setdefault(version, live_metrics.window_metrics([], settings.window, task.task))
    for version, metrics in versions.items():
        role = {serving["stable"]: "stable", serving["canary"]: "canary"}.get(version, "retired")
        deployed = deployed_metrics(settings, version, task.task)
        verdict, reason = version_verdict(settings, version, metrics, deployed)
        metrics.update(role=role, at_deployment=deployed, verdict=verdict, reason=reason)
    return {
        "serving": serving,
        "task": task.describe(),
        "labels": {
            "files": joined.label_files,
            "labels": joined.labels,
            "joined": len(joined.labelled),
            "unmatched": joined.unmatched,
            "unmatched_examples": joined.unmatched_examples,
            "relabelled": joined.relabelled,
            "request_log_files": joined.log_files,
            "bad_request_log_lines": joined.bad_log_lines,
            "duplicate_request_ids": joined.duplicate_requests,
            "other_task_lines": joined.other_task_lines,
        },
        "versions": versions,
    }


# --- the report ------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    return _fmt(value) if isinstance(value, float) else ("-" if value is None else str(value))


# The report's columns per task: (header, key of the window metrics).
COLUMNS = {
    "binary": (
        ("binary_accuracy", "binary_accuracy"),
        ("auc", "auc"),
        ("positive rate", "positive_rate"),
        ("mean prediction", "mean_prediction"),
    ),
    "multiclass": (
        ("accuracy", "accuracy"),
        ("macro_f1", "macro_f1"),
        ("label classes", "label_classes"),
    ),
    "regression": (
        ("mae", "mae"),
        ("rmse", "rmse"),
        ("mean label", "mean_label"),
        ("mean prediction", "mean_prediction"),
    ),
}


def render_report(figures: dict[str, Any]) -> str:
    s = figures.get("settings") or {}
    task = figures.get("task") or {}
    lines = [
        f"# Model degradation check: {figures.get('model_name') or '?'}",
        "",
        f"Checked {figures['checked_at']} (environment {figures.get('env') or '?'}).",
        "",
        f"**Decision: {figures['decision']}.** {figures['reason']}",
    ]
    if figures.get("run_id"):
        started = "Started" if figures["decision"] == "retrain" else "Started earlier"
        lines += ["", f"{started}: {PIPELINE} run `{figures['run_id']}`"]
    if s:
        cooldown = (
            f"{s['cooldown_s']:g}s after a retrain"
            if s.get("cooldown_s")
            else "after a retrain, none until another version is stable"
        )
        lines += [
            "",
            f"Metric `{s['metric']}`, threshold {_fmt(s['threshold'])}, window: the last "
            f"{s['window']} labelled predictions per version, min_samples {s['min_samples']}, "
            f"cool-down: {cooldown}.",
            "",
            f"Direction: {s['direction']}.",
        ]
    if task:
        classes = ", ".join(task["classes"]) if task.get("classes") else "-"
        lines += [
            "",
            f"Task `{task['task']}` (from {task['source']}); classes: {classes}; its metrics: "
            f"{', '.join(task['metrics'])}.",
        ]
    versions = figures.get("versions") or {}
    if versions:
        columns = COLUMNS[task.get("task") or "binary"]
        headers = ["version", "role", "labelled (window / all)", *(h for h, _ in columns)]
        headers += ["from", "to", "at deployment", "verdict"]
        lines += [
            "",
            "## Versions",
            "",
            "| " + " | ".join(headers) + " |",
            "|" + "---|" * len(headers),
        ]
        for version, m in versions.items():
            deployed = ", ".join(f"{k} {_fmt(v)}" for k, v in m["at_deployment"].items()) or "-"
            cells = [version, m["role"], f"{m['count']} / {m['labelled_total']}"]
            cells += [_cell(m.get(key)) for _, key in columns]
            cells += [m["from"] or "-", m["to"] or "-", deployed, m["verdict"]]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", *[f"- version {v}: {m['reason']}" for v, m in versions.items()]]
    labels = figures.get("labels")
    if labels:
        unmatched = labels["unmatched"]
        examples = ", ".join(labels["unmatched_examples"])
        lines += [
            "",
            "## Labels",
            "",
            f"- label files: {len(labels['files'])}; labels: {labels['labels']}; joined to a "
            f"logged prediction: {labels['joined']}",
            f"- unmatched (no logged prediction with that request_id and index): {unmatched}"
            + (f" (e.g. {examples})" if unmatched else ""),
            f"- given again by a later row (the later one counts): {labels['relabelled']}",
            f"- request-log files: {labels['request_log_files']}; unreadable lines skipped: "
            f"{labels['bad_request_log_lines']}; reused request ids: "
            f"{labels['duplicate_request_ids']}; labelled requests answered by a model of "
            f"another task: {labels.get('other_task_lines', 0)}",
        ]
    lines += ["", f"Figures: `{figures.get('figures_file', '')}`", ""]
    return "\n".join(lines)


def write_report(out_dir: Path, figures: dict[str, Any], at: float) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y%m%dT%H%M%S-%fZ")
    report = out_dir / f"degradation-{stamp}.md"
    data = out_dir / f"degradation-{stamp}.json"
    figures["figures_file"] = str(data)
    data.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    report.write_text(render_report(figures))
    for old in sorted(out_dir.glob("degradation-*.md"))[:-KEEP_REPORTS]:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)
    return report


# --- one check, and the loop -----------------------------------------------------------------


@contextlib.contextmanager
def exclusive(out_dir: Path, name: str = KIND) -> Iterator[None]:
    """One check of a kind at a time per repository: two monitors must not both start a run
    (or both move the canary)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / f".{name}.lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def check(
    root: Path,
    *,
    env: str | None = None,
    start: StartFn | None = None,
    lineage_db: Path | None = None,
    out_dir: Path | None = None,
    now: float | None = None,
) -> CheckResult:
    """One check: decides, records the decision, writes the report. Bad settings or label
    files give a "failed" result (recorded), not an exception."""
    from mlops.lineage.store import DEFAULT_DB, LineageStore

    root = Path(root)
    out_dir = out_dir or root / MONITORING_DIR
    at = time.time() if now is None else now
    figures: dict[str, Any] = {"checked_at": _when(at), "env": env}
    with exclusive(out_dir), LineageStore(lineage_db or root / DEFAULT_DB) as store:
        try:
            settings = load_degradation_settings(root, env)
            figures.update(
                env=settings.env, model_name=settings.model_name, settings=settings.describe()
            )
            figures.update(evaluate(settings))
            result = _decide(root, settings, figures, store, start or _default_start, at)
        except BuildError as e:
            result = CheckResult("failed", f"the check could not be made: {e}")
        figures.update(decision=result.decision, reason=result.reason, run_id=result.run_id)
        result.report = write_report(out_dir, figures, at)
        result.figures = figures
        stable = (figures.get("serving") or {}).get("stable")
        store.record_decision(
            KIND,
            result.decision,
            result.reason,
            result.run_id,
            {
                "model_name": figures.get("model_name"),
                "model_version": stable,
                "metric": (figures.get("settings") or {}).get("metric"),
                "task": (figures.get("task") or {}).get("task"),
                "value": _stable_value(figures, stable),
                "report": str(result.report),
                "run": figures.get("run"),
            },
            at=at,
        )
    return result


def _stable_value(figures: dict[str, Any], stable: str | None) -> float | None:
    entry = (figures.get("versions") or {}).get(stable) if stable else None
    metric = (figures.get("settings") or {}).get("metric")
    return entry.get(metric) if entry and metric else None


def monitor(
    root: Path,
    *,
    every_s: float = 60.0,
    once: bool = False,
    env: str | None = None,
    start: StartFn | None = None,
    max_checks: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    out=print,
    usecases: list[str] | None = None,
) -> CheckResult | None:
    """Checks every `every_s` seconds (once with once=True); with `usecases`, each round
    checks each of them with its own settings (one process for all). Each check is the
    degradation check, then the canary check (mlops.monitoring.canary_check) when a canary
    serves. A failed check is recorded and the loop goes on; so does an unexpected error,
    printed with its traceback."""
    import contextlib

    from mlops.core.settings import selected_usecase
    from mlops.monitoring import canary_check  # here: it imports this module

    done = 0
    result = None
    while True:
        for name in usecases or [None]:
            scope = selected_usecase(name) if name else contextlib.nullcontext()
            label = f"[monitor] {name}: " if name else "[monitor] "
            with scope:
                try:
                    result = check(root, env=env, start=start)
                    run = f" run {result.run_id}" if result.decision == "retrain" else ""
                    out(f"{label}{result.decision}{run}: {result.reason} ({result.report})")
                except Exception as e:  # the loop outlives one broken check
                    if once:
                        raise
                    traceback.print_exc(file=sys.stderr)
                    out(f"{label}check failed: {type(e).__name__}: {e}")
                try:
                    canary = canary_check.check(root, env=env)
                    if canary is not None:
                        out(f"{label}canary: {canary.decision}: {canary.reason}")
                except Exception as e:
                    if once:
                        raise
                    traceback.print_exc(file=sys.stderr)
                    out(f"{label}canary check failed: {type(e).__name__}: {e}")
        done += 1
        if once or (max_checks is not None and done >= max_checks):
            return result
        sleep(every_s)
