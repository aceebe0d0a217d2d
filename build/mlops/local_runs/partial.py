"""`make run FROM=step`: the step and everything downstream of it run again; every other
cacheable step reuses what the latest successful run of the same pipeline (and use case)
produced, whatever the cache holds. Steps that opted out of caching (they read or write state
that is no input) run as always."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops.core.errors import BuildError
from mlops.core.pipeline_package import ir_documents, read_package
from mlops.local_runs.cache import CachePolicy, outputs_problem
from mlops.local_runs.fingerprints import Fingerprints


class PartialRunError(BuildError):
    """FROM= cannot be honoured: an unknown step, no earlier run, or its outputs are gone."""


def pipeline_spec(package: Path) -> dict[str, Any]:
    return next(d for d in ir_documents(read_package(package)) if "root" in d)


def _upstream(tasks: dict[str, Any]) -> dict[str, set[str]]:
    upstream: dict[str, set[str]] = {}
    for name, task in tasks.items():
        found = set(task.get("dependentTasks", []))
        for section in ("artifacts", "parameters"):
            for value in (task.get("inputs", {}).get(section) or {}).values():
                producer = (value.get("taskOutputArtifact") or {}).get("producerTask") or (
                    value.get("taskOutputParameter") or {}
                ).get("producerTask")
                if producer:
                    found.add(producer)
        upstream[name] = found
    return upstream


def resolve_step(tasks: dict[str, Any], step: str) -> str:
    """The task FROM= names: its task name (train-model), with '_' for '-', or a prefix of one
    task's name (train)."""
    wanted = step.strip().replace("_", "-")
    if wanted in tasks:
        return wanted
    matches = [t for t in tasks if t.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    listed = ", ".join(sorted(tasks))
    what = "matches several steps" if matches else "is no step of the pipeline"
    raise PartialRunError(f"FROM={step}: {what}; the steps are {listed}")


def downstream(spec: dict[str, Any], step: str) -> tuple[str, frozenset[str]]:
    """The task FROM= names and it with every task that depends on it, directly or not."""
    tasks = spec["root"]["dag"]["tasks"]
    name = resolve_step(tasks, step)
    upstream = _upstream(tasks)
    found = {name}
    changed = True
    while changed:
        changed = False
        for task, ups in upstream.items():
            if task not in found and ups & found:
                found.add(task)
                changed = True
    return name, frozenset(found)


def _container_tasks(spec: dict[str, Any]) -> dict[str, bool]:
    """{task: its caching option} of the root DAG's container tasks."""
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    components = spec.get("components", {})
    found = {}
    for name, task in spec["root"]["dag"]["tasks"].items():
        component = components.get(task.get("componentRef", {}).get("name"), {})
        executor = executors.get(component.get("executorLabel"), {})
        if "container" in executor:
            found[name] = bool(task.get("cachingOptions", {}).get("enableCache", False))
    return found


def plan(
    package: Path,
    step: str,
    store,
    pipeline: str,
    match_parameters: dict[str, Any] | None = None,
    base: CachePolicy | None = None,
) -> CachePolicy:
    """The cache policy of a FROM= run: which tasks run again, which executions stand in for
    the others. Raises PartialRunError naming what is missing."""
    spec = pipeline_spec(package)
    name, rerun = downstream(spec, step)
    policy = base or CachePolicy()
    policy.rerun, policy.from_step = rerun, name
    runs = [
        r
        for r in store.runs(pipeline=pipeline)
        if r["status"] == "SUCCEEDED"
        and all(r["parameters"].get(k) == v for k, v in (match_parameters or {}).items())
    ]
    which = f"{pipeline}" + "".join(f", {k}={v}" for k, v in (match_parameters or {}).items())
    if not runs:
        raise PartialRunError(
            f"FROM={step}: no successful run of {which} to reuse the steps before {name} "
            "from; run the whole pipeline first (make run)"
        )
    run = store.run(runs[0]["id"])
    executions = {t["task"]: t for t in run["tasks"] if t["status"] == "SUCCESS"}
    fingerprints = Fingerprints()
    for task, cacheable in sorted(_container_tasks(spec).items()):
        if task in rerun or not cacheable:
            continue
        execution = executions.get(task)
        if execution is None:
            raise PartialRunError(
                f"FROM={step}: the latest successful run {run['id']} has no execution of "
                f"{task} to reuse"
            )
        problem = outputs_problem(execution["outputs_spec"], fingerprints)
        if problem:
            raise PartialRunError(
                f"FROM={step}: {task} of run {run['id']} cannot be reused: {problem}; "
                "run the whole pipeline (make run)"
            )
        policy.reuse[task] = execution
    return policy
