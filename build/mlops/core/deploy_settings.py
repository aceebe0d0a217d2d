"""The deploy section of settings.yaml for one environment, checked before anything is
uploaded: every problem names the file, the environment and the field."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.core import cron as cron_check
from mlops.core.errors import BuildError
from mlops.core.settings import load_raw

TARGETS = ("kfp", "vertex", "none")


@dataclass(frozen=True)
class DeploySettings:
    env: str
    source: Path
    bucket: str  # gs://NAME or a local directory (absolute)
    target: str
    approval_required: bool
    kfp_host: str | None
    kfp_experiment: str
    kfp_namespace: str | None
    vertex_project: str | None
    vertex_location: str
    vertex_pipeline_root: str | None
    run: bool
    run_timeout_s: float
    poll_s: float
    cron: str | None
    retries: int
    pipelines: dict[str, Any] = field(default_factory=dict)  # pipelines.<module>
    resolved: dict[str, Any] = field(default_factory=dict)  # the whole merged settings

    def parameters(self, pipeline: str) -> dict[str, Any]:
        return dict(((self.pipelines.get(pipeline) or {}).get("parameters")) or {})

    @property
    def where(self) -> str:
        return f"environment {self.env!r}"


def kfp_cron(cron: str) -> str:
    """KFP's recurring runs take six fields (seconds first); settings use the usual five."""
    return f"0 {cron}"


def load_deploy_settings(root: Path, env: str | None) -> DeploySettings:
    path = root / "settings.yaml"
    raw = load_raw(path, env)
    env = raw["env"]
    problems: list[str] = []

    def get(section: dict, dotted: str, default: Any = None) -> Any:
        value: Any = section
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return default if value is None else value

    deploy = raw.get("deploy")
    if not isinstance(deploy, dict):
        raise BuildError(f"{path}: the deploy section is missing (environment {env!r})")

    def need(dotted: str) -> Any:
        value = get(deploy, dotted)
        if value in (None, ""):
            problems.append(f"deploy.{dotted} is missing")
        return value

    bucket = str(need("bucket") or "")
    if bucket and not bucket.startswith("gs://"):
        bucket = str((root / bucket).resolve())
    target = str(get(deploy, "target", "none"))
    if target not in TARGETS:
        problems.append(f"deploy.target is {target!r}; use one of {', '.join(TARGETS)}")
    if target == "kfp":
        need("kfp.host")
        need("kfp.experiment")
    if target == "vertex":
        need("vertex.project")
        need("vertex.location")
        root_uri = need("vertex.pipeline_root")
        if root_uri and not str(root_uri).startswith("gs://"):
            problems.append(f"deploy.vertex.pipeline_root {root_uri!r} must be a gs:// folder")
    numbers = {}
    for key, default in (("run.timeout_s", 3600), ("run.poll_s", 10), ("retries", 4)):
        value = get(deploy, key, default)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            problems.append(f"deploy.{key} must be a positive number, not {value!r}")
            value = default
        numbers[key] = value
    cron = get(deploy, "schedule.cron")
    if cron is not None:
        found = cron_check.problem(str(cron), "kfp" if target == "kfp" else "vertex")
        if found:
            problems.append(f"deploy.schedule.cron {cron!r}: {found}")
    if problems:
        raise BuildError(f"{path} (environment {env!r}):\n  " + "\n  ".join(problems))
    return DeploySettings(
        env=env,
        source=path,
        bucket=bucket,
        target=target,
        approval_required=bool(get(deploy, "approval_required", False)),
        kfp_host=get(deploy, "kfp.host"),
        kfp_experiment=str(get(deploy, "kfp.experiment", "continuous-training")),
        kfp_namespace=get(deploy, "kfp.namespace"),
        vertex_project=get(deploy, "vertex.project"),
        vertex_location=str(get(deploy, "vertex.location", "us-central1")),
        vertex_pipeline_root=get(deploy, "vertex.pipeline_root"),
        run=bool(get(deploy, "run.enabled", False)),
        run_timeout_s=float(numbers["run.timeout_s"]),
        poll_s=float(numbers["run.poll_s"]),
        cron=str(cron) if cron is not None else None,
        retries=int(numbers["retries"]),
        pipelines=raw.get("pipelines") or {},
        resolved=raw,
    )
