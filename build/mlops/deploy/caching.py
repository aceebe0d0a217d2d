"""settings.yaml's `cache.enabled` applied to what a deploy submits to a cluster.

- enabled: the compiled pipeline goes as compiled, so each task keeps the caching option its
  definition gave it (on by kfp's default, off for a step that called
  set_caching_options(False)).
- disabled: every task of every DAG (the root's and each nested pipeline's) gets enableCache
  false, as aiplatform.PipelineJob(enable_caching=False) does to the spec it submits.

Kubeflow Pipelines takes the option from the pipeline version: kfp.Client applies its
`enable_caching` argument only to a package it is handed, not to a run or recurring run made
from a version, and the server runs the version's spec. So the setting travels inside the
package uploaded as the version: a copy written beside the deploy record, never the compiled
original in dist/<pipeline>/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlops.core import yaml_text
from mlops.core.pipeline_package import PACKAGE, write_package


def pipeline_spec_of(spec: dict[str, Any]) -> dict[str, Any]:
    """The PipelineSpec inside a KFP API `pipeline_spec`, which is
    {"pipeline_spec", "platform_spec"} when the package carries a platform spec."""
    if "root" not in spec and isinstance(spec.get("pipeline_spec"), dict):
        return spec["pipeline_spec"]
    return spec


def spec_of(ir_text: str) -> dict[str, Any]:
    """The PipelineSpec of a pipeline YAML: its first document (a platform spec may follow)."""
    return next(d for d in yaml_text.load_all(ir_text) if d is not None)


def _dags(spec: dict[str, Any]) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(component name, tasks) of every DAG: the root's (None), then each component's."""
    yield None, ((spec.get("root") or {}).get("dag") or {}).get("tasks") or {}
    for name, component in (spec.get("components") or {}).items():
        dag = component.get("dag") if isinstance(component, dict) else None
        if dag:
            yield name, dag.get("tasks") or {}


def task_caching(spec: dict[str, Any], steps_only: bool = False) -> dict[str, bool]:
    """{task: cache on} for every task of every DAG of a PipelineSpec: a root task by its
    name, a nested one as <component>/<task>. An absent option is off, as in protobuf.
    steps_only: only the tasks that run a container (not an exit handler or a nested DAG)."""
    spec = pipeline_spec_of(spec)
    components = spec.get("components") or {}

    def runs_a_container(task: dict[str, Any]) -> bool:
        ref = (task.get("componentRef") or {}).get("name")
        return "executorLabel" in (components.get(ref) or {})

    def cached(task: dict[str, Any]) -> bool:
        return bool((task.get("cachingOptions") or {}).get("enableCache"))

    return {
        f"{dag}/{name}" if dag else name: cached(task)
        for dag, tasks in _dags(spec)
        for name, task in tasks.items()
        if not steps_only or runs_a_container(task)
    }


def without_caching(ir_text: str) -> str:
    """The pipeline YAML with enableCache false on every task; any other document (the
    platform spec) is kept as it is."""
    docs = [d for d in yaml_text.load_all(ir_text) if d is not None]
    for _, tasks in _dags(docs[0]):
        for task in tasks.values():
            task["cachingOptions"] = {**(task.get("cachingOptions") or {}), "enableCache": False}
    return yaml.safe_dump_all(docs, sort_keys=False)


@dataclass(frozen=True)
class Submission:
    """The package a deploy submits, its pipeline YAML, and whether settings left caching on."""

    package: Path
    ir_text: str
    enabled: bool

    @property
    def enable_caching(self) -> bool | None:
        """The clients' `enable_caching`: None keeps each task's compiled option."""
        return None if self.enabled else False

    def steps_off(self) -> list[str]:
        steps = task_caching(spec_of(self.ir_text), steps_only=True)
        return sorted(task for task, on in steps.items() if not on)

    def describe(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "steps_without_cache": self.steps_off()}

    def summary(self) -> str:
        if not self.enabled:
            return "step caching off for every step (settings.yaml cache.enabled: false)"
        off = self.steps_off()
        return "step caching on" + (f", except {', '.join(off)}" if off else "")


def prepare(package: Path, ir_text: str, enabled: bool, folder: Path) -> Submission:
    """What to submit: the compiled package itself when caching is enabled, else a copy with
    caching off for every task, written to folder (the deploy's own files)."""
    if enabled:
        return Submission(package, ir_text, True)
    text = without_caching(ir_text)
    target = folder / PACKAGE
    write_package(text.encode(), target)
    return Submission(target, text, False)
