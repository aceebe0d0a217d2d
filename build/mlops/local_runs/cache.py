"""Execution caching for local runs, as Kubeflow Pipelines and Vertex AI cache on a cluster: a
task whose cache key is that of an earlier successful execution reuses its outputs instead of
running.

The key covers what decides a task's outputs, by content rather than by place:
    image                      the image's digest (the pinned @sha256:..., else the local id)
    command                    the command and arguments as the component declares them
    parameter <name>           every input parameter's value (defaults included)
    content of parameter <n>   for a parameter naming data (an absolute path, glob or gs://
                               URI: a step's source), what that data holds
    input <name>               every input artifact's content fingerprint
    sources                    the src/ folder mounted over the image (make run-dev)
so a data file rewritten in place misses, and the same data in another run's folder hits.

A task is not served from the cache when the pipeline definition turned caching off for it
(kfp's `set_caching_options(False)`: steps that read or write state that is no input), when
the run has caching off (CACHE=0: it still records its executions for later runs), when it is
at or downstream of FROM=, when the execution found is older than the staleness limit, or when
that execution's outputs are gone or changed since. Each decision carries its reasons in
words, and for a miss the parts of the key that differ from the closest earlier execution of
the same task (EXPLAIN=1 prints them)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from mlops.local_runs.fingerprints import FingerprintError, Fingerprints, names_content, short

_VALUE_WIDTH = 48


@dataclass
class CachePolicy:
    enabled: bool = True  # False (CACHE=0): nothing is reused; executions are still recorded
    max_age_s: float | None = None  # older executions are not reused
    explain: bool = False  # print every task's decision and its reasons
    # FROM=: tasks that run whatever the cache holds, and the executions of an earlier run
    # whose outputs the other container tasks reuse ({task: execution row}).
    rerun: frozenset[str] = frozenset()
    reuse: dict[str, dict[str, Any]] = field(default_factory=dict)
    from_step: str | None = None


def settings_policy(
    root, env: str | None = None, enabled: bool = True, explain: bool = False
) -> CachePolicy:
    """The policy settings.yaml's `cache` section gives a run; `enabled=False` (CACHE=0) turns
    reuse off for this run whatever the settings say."""
    from mlops.core.cache_settings import load_cache_settings

    settings = load_cache_settings(root, env)
    return CachePolicy(settings.enabled and enabled, settings.max_age_s, explain)


@dataclass
class Decision:
    task: str
    hit: dict[str, Any] | None = None  # the execution whose outputs are reused
    key: str | None = None  # None: no key (the step opted out, or it could not be computed)
    parts: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    @property
    def word(self) -> str:
        if self.hit is not None:
            return "hit"
        return "miss" if self.key else "off"

    def line(self) -> str:
        head = f"{self.task}: {self.word}"
        return head + (": " + "; ".join(self.reasons) if self.reasons else "")


def key_of(parts: dict[str, Any]) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _shown(value: Any) -> str:
    """A value as it reads in a sentence: strings quoted, long ones cut."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = text.replace("\n", "⏎")
    text = text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 1] + "…"
    return repr(text) if isinstance(value, str) else text


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The parts of a key that changed, in words: "input examples: content a1b2… → c3d4…"."""
    changes = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if name == "image":
            changes.append(f"image digest changed: {short(old)} → {short(new)}")
        elif name == "command":
            changes.append("the command or its arguments changed")
        elif name.startswith(("input ", "content of ", "sources")):
            changes.append(f"{name}: content {short(old)} → {short(new)}")
        elif old is None or new is None:
            changes.append(f"{name}: {'(absent)' if old is None else _shown(old)} → "
                           f"{'(absent)' if new is None else _shown(new)}")  # fmt: skip
        else:
            changes.append(f"{name}: {_shown(old)} → {_shown(new)}")
    return changes


def _age(seconds: float) -> str:
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


# --- outputs, kept to be handed out again ----------------------------------------------------


def _artifact_dict(artifact) -> dict[str, Any]:
    return {
        "name": artifact.name,
        "uri": artifact.uri,
        "metadata": dict(artifact.metadata or {}),
        "type": {"schemaTitle": artifact.schema_title},
    }


def outputs_spec(outputs: dict[str, Any], fingerprints: Fingerprints) -> dict[str, Any]:
    """A task's outputs (kfp.local's {name: artifact | [artifacts] | value}) as JSON, each
    artifact with the fingerprint of what it held when its task ended."""
    from kfp import dsl

    spec: dict[str, Any] = {}
    for name, value in outputs.items():
        many = isinstance(value, list) and value and all(isinstance(v, dsl.Artifact) for v in value)
        if isinstance(value, dsl.Artifact) or many:
            artifacts = value if many else [value]
            spec[name] = {
                "artifacts": [
                    {**_artifact_dict(a), "fingerprint": fingerprints.local(a.uri)}
                    for a in artifacts
                ],
                "list": bool(many),
            }
        else:
            spec[name] = {"value": value}
    return spec


def restore(spec: dict[str, Any]) -> dict[str, Any]:
    """kfp.local's outputs again, from `outputs_spec`."""
    from kfp.dsl.executor import create_artifact_instance

    outputs: dict[str, Any] = {}
    for name, entry in spec.items():
        if "value" in entry:
            outputs[name] = entry["value"]
            continue
        artifacts = [create_artifact_instance(a) for a in entry["artifacts"]]
        outputs[name] = artifacts if entry.get("list") else artifacts[0]
    return outputs


def outputs_problem(spec: dict[str, Any] | None, fingerprints: Fingerprints) -> str | None:
    """Why an execution's outputs cannot be reused (gone, or changed since), or None."""
    if spec is None:
        return "its outputs were not recorded"
    for name, entry in spec.items():
        for artifact in entry.get("artifacts", []):
            try:
                now = fingerprints.local(artifact["uri"])
            except FingerprintError:
                return f"its output {name} is gone ({artifact['uri']})"
            if now != artifact["fingerprint"]:
                return f"its output {name} changed since ({artifact['uri']})"
    return None


# --- the cache ---------------------------------------------------------------------------------


class ExecutionCache:
    """Decides, for each container task of a run, whether an earlier execution's outputs
    stand in for running it. `store` is the run's LineageStore (its cache_entries table)."""

    def __init__(
        self,
        policy: CachePolicy,
        store,
        pipeline: str,
        sources: dict[str, str] | None = None,
        fingerprints: Fingerprints | None = None,
    ):
        self.policy = policy
        self.store = store
        self.pipeline = pipeline
        self.sources = sources or {}
        self.fingerprints = fingerprints or Fingerprints()
        self._lock = threading.Lock()  # tasks decide on their own threads; one connection

    def outputs_spec(self, outputs: dict[str, Any]) -> dict[str, Any]:
        return outputs_spec(outputs, self.fingerprints)

    def key_parts(self, record, command: list[str], image_id: str, component: str) -> dict:
        parts: dict[str, Any] = {"image": image_id, "command": command}
        for name, value in sorted(record.input_parameters.items()):
            parts[f"parameter {name}"] = value
            if names_content(value):
                parts[f"content of parameter {name}"] = self.fingerprints.of_value(value)
        for artifact in record.input_artifacts:
            fingerprint = self.fingerprints.of_value(artifact.uri)
            name = f"input {artifact.name}"
            parts[name] = fingerprint if name not in parts else f"{parts[name]}+{fingerprint}"
        if component in self.sources:
            parts["sources"] = self.fingerprints.local(self.sources[component])
        return parts

    def decide(
        self,
        record,
        *,
        task_caching: bool,
        command: list[str],
        image_id: str | None,
        component: str,
    ) -> Decision:
        decision = Decision(record.task)
        policy = self.policy
        if not task_caching:
            decision.reasons.append("caching is off for this step in the pipeline definition")
            return decision
        if image_id is None:
            decision.reasons.append(f"the image {record.image_ref} has no digest to key on")
            return decision
        try:
            decision.parts = self.key_parts(record, command, image_id, component)
        except FingerprintError as e:
            decision.reasons.append(f"no key: {e}")
            return decision
        decision.key = key_of(decision.parts)
        if record.task in policy.rerun:
            decision.reasons.append(f"runs again: at or downstream of FROM={policy.from_step}")
            return decision
        if not policy.enabled:
            decision.reasons.append("caching is off for this run (CACHE=0)")
            return decision
        self._look_up(decision)
        return decision

    def _look_up(self, decision: Decision) -> None:
        now = time.time()
        with self._lock:
            found = self.store.cache_hits(decision.key)
        for execution in found:
            age = now - execution["cached_at"]
            where = f"execution {execution['id']} (run {execution['run_id']}, {_age(age)} ago)"
            if self.policy.max_age_s is not None and age > self.policy.max_age_s:
                decision.reasons.append(
                    f"{where} is older than cache.max_age_s ({_age(self.policy.max_age_s)})"
                )
                continue
            problem = outputs_problem(execution["outputs_spec"], self.fingerprints)
            if problem:
                decision.reasons.append(f"{where}: {problem}")
                continue
            decision.hit = execution
            decision.reasons = [f"reuses {where}"]
            return
        if not found:
            decision.reasons.extend(self._closest_differences(decision))

    def _closest_differences(self, decision: Decision) -> list[str]:
        """What differs from the earlier execution of the same task that differs least."""
        best: list[str] | None = None
        with self._lock:
            entries = self.store.cache_entries_of(self.pipeline, decision.task)
        for entry in entries:
            changes = differences(entry["parts"], decision.parts)
            if changes and (best is None or len(changes) < len(best)):
                best = [f"since execution {entry['execution_id']}: {c}" for c in changes]
        return best or ["no earlier execution of this step"]
