"""The models of each use case: the registry's versions (<registry>/<model>/<N>/version.json),
which is stable and which the canary with its share of traffic (serving.json), the data that
trained each version (through the lineage store, from the model artifact the version was
copied from), and the live metrics the degradation monitor computes from labelled
predictions (mlops.monitoring.degradation)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.core.errors import BuildError
from mlops.lineage.store import LineageError

# Degradation settings follow $USECASE (mlops.core.settings.selected_usecase): one use case
# at a time in this process, and no one reads $USECASE meanwhile.
_USECASE = threading.Lock()
METRICS_SHOWN = 8


@dataclass
class UseCase:
    key: str  # the use case's name; "default" for settings.yaml alone
    model: str | None = None
    registry: str | None = None
    error: str | None = None  # settings that do not load
    serving: dict[str, Any] = field(default_factory=dict)
    versions: list[dict[str, Any]] = field(default_factory=list)
    live: dict[str, Any] | None = None
    live_error: str | None = None

    @property
    def metric_names(self) -> list[str]:
        """The evaluation metrics the versions' records hold (numbers only), first seen first,
        at most METRICS_SHOWN of them."""
        names: list[str] = []
        for version in self.versions:
            for name, value in version["metrics"].items():
                if isinstance(value, int | float) and name not in names:
                    names.append(name)
        return names[:METRICS_SHOWN]

    @property
    def local(self) -> bool:
        return bool(self.registry) and "://" not in self.registry


def usecases(root: Path, env: str | None) -> list[UseCase]:
    """The settings' use case (settings.yaml `usecase`, or none) first, then every use case
    under pipelines/usecases, once per model and registry."""
    with _USECASE:  # the settings' use case follows $USECASE, which live_metrics sets
        return _usecases(root, env)


def _usecases(root: Path, env: str | None) -> list[UseCase]:
    from mlops.core.model_settings import load_model_settings
    from mlops.core.settings import load_raw
    from mlops.core.settings import usecases as names

    found: list[UseCase] = []
    try:
        default = load_raw(root / "settings.yaml", env).get("usecase")
    except BuildError as e:
        return [UseCase("default", error=str(e))]
    for name in [default, *[n for n in names(root) if n != default]]:
        key = name or "default"
        try:
            settings = load_model_settings(root, env, usecase=name or "")
        except BuildError as e:
            found.append(UseCase(key, error=str(e)))
            continue
        if any((u.model, u.registry) == (settings.name, settings.serving.registry) for u in found):
            continue
        found.append(UseCase(key, settings.name, settings.serving.registry))
    return found


def registries(root: Path, env: str | None) -> tuple[str, ...]:
    return tuple(sorted({u.registry for u in usecases(root, env) if u.local}))


def find(root: Path, env: str | None, key: str) -> UseCase | None:
    return next((u for u in usecases(root, env) if u.key == key), None)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def serving_of(usecase: UseCase) -> dict[str, Any]:
    """{stable, canary, canary_percent, history} from serving.json ({} before the first)."""
    if not usecase.local:
        return {}
    state = _read(Path(usecase.registry) / usecase.model / "serving.json") or {}
    canary = state.get("canary")
    return {
        "stable": state.get("stable"),
        "canary": canary.get("version") if isinstance(canary, dict) else canary,
        "canary_percent": canary.get("traffic_percent") if isinstance(canary, dict) else None,
        "history": state.get("history") or [],
    }


def traffic(serving: dict[str, Any], version: int) -> tuple[str, int]:
    """(role, share of requests in %) of a version."""
    share = serving.get("canary_percent") or 0
    if version == serving.get("canary"):
        return "canary", share
    if version == serving.get("stable"):
        return "stable", 100 - share if serving.get("canary") is not None else 100
    return "retired", 0


def versions_of(usecase: UseCase, store) -> list[dict[str, Any]]:
    """Each version, newest first, with its role and traffic and what trained it."""
    folder = Path(usecase.registry) / usecase.model
    if not folder.is_dir():
        return []
    found = []
    numbers = sorted((int(p.name) for p in folder.iterdir() if p.name.isdigit()), reverse=True)
    for number in numbers:
        info = _read(folder / str(number) / "version.json") or {}
        role, share = traffic(usecase.serving, number)
        version = {
            "version": number,
            "role": role,
            "traffic": share,
            "created_at": info.get("created_at"),
            "metrics": info.get("metrics") or {},
            "blessed": info.get("blessed"),
            "source_uri": info.get("source_uri"),
            "model_artifact": None,
            "trained_by": None,
            "data": [],
            "lineage_error": None,
        }
        if store is not None and info.get("source_uri"):
            _trained(version, store)
        found.append(version)
    return found


def _trained(version: dict[str, Any], store) -> None:
    try:
        version["model_artifact"] = store.artifact(version["source_uri"])["id"]
        answer = store.training_data(version["source_uri"])
    except LineageError as e:
        version["lineage_error"] = str(e)
        return
    run = answer.get("run") or {}
    version["trained_by"] = {"run_id": run.get("id"), "task": answer.get("produced_by")}
    for source in answer["sources"]:
        params = source["run_parameters"] or {}
        version["data"].append(
            {
                "source": params.get("source") or source["parameters"].get("source"),
                "run_id": source["run_id"],
                "task": source["task"],
                "artifacts": [{"id": a["id"], "uri": a["uri"]} for a in source["artifacts"]],
            }
        )


def live_metrics(root: Path, env: str | None, usecase: UseCase) -> dict[str, Any]:
    """The degradation monitor's figures now: per version, the window's metrics of the
    served task and its verdict against triggers.degradation's threshold."""
    from mlops.core.settings import selected_usecase
    from mlops.monitoring import degradation

    with _USECASE, selected_usecase(None if usecase.key == "default" else usecase.key):
        settings = degradation.load_degradation_settings(root, env)
        figures = degradation.evaluate(settings)
    return {"settings": settings.describe(), **figures}


def detail(root: Path, env: str | None, usecase: UseCase, store, live: bool = True) -> UseCase:
    """Fills the use case's serving state, versions and (`live`) live metrics."""
    if usecase.error or not usecase.local:
        return usecase
    usecase.serving = serving_of(usecase)
    usecase.versions = versions_of(usecase, store)
    if live and usecase.serving.get("stable") is not None:
        try:
            usecase.live = live_metrics(root, env, usecase)
        except BuildError as e:
            usecase.live_error = str(e)
    return usecase
