"""The new-data and drift parts of settings.yaml's `triggers` section (and the drift thresholds
of data.validation.drift they rely on) for one environment, checked in one place: every problem
names the file, the environment and the setting, so a trigger that cannot decide says which
value to fix. `triggers.degradation` belongs to mlops.monitoring.degradation, so that a bad
degradation
setting does not stop the watcher (nor a bad watcher setting the monitor)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.core.errors import BuildError
from mlops.core.settings import load_raw


class TriggerSettingsError(BuildError):
    """A triggers.* (or data.validation.drift) value is missing or out of range."""


@dataclass(frozen=True)
class TriggerSettings:
    env: str
    prefix: str  # gs://BUCKET/PREFIX, or an absolute local folder
    pattern: str  # fnmatch pattern of a span's name under the prefix; "*/" = partition folders
    poll_s: float
    retrain_on_drift: bool
    drift_numeric_jsd: float
    drift_categorical_linf: float
    target: str  # deploy.target: none (kfp.local) | kfp | vertex

    @property
    def partitions(self) -> bool:
        return self.pattern.endswith("/")


def _get(section: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        section = section.get(part) if isinstance(section, dict) else None
    return section


def load_trigger_settings(root: Path, env: str | None = None) -> TriggerSettings:
    path = root / "settings.yaml"
    raw = load_raw(path, env)
    env = raw["env"]
    problems: list[str] = []

    def number(dotted: str, low: float, high: float | None = None, *, low_open=False, kind=float):
        value = _get(raw, dotted)
        if value is None:
            problems.append(f"{dotted} is missing")
            return kind(low) if not low_open else kind(high or 1)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and kind is int:
            ok = float(value).is_integer()
        below = ok and (value <= low if low_open else value < low)
        above = ok and high is not None and value > high
        if not ok or below or above:
            lower = f"above {low}" if low_open else f"at least {low}"
            bound = f"{lower} and at most {high}" if high is not None else lower
            what = "an integer" if kind is int else "a number"
            problems.append(f"{dotted} is {value!r}; expected {what} {bound}")
            return kind(high if high is not None else low)
        return kind(value)

    def text(dotted: str) -> str:
        value = _get(raw, dotted)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{dotted} is {value!r}; expected a non-empty string")
            return ""
        return value.strip()

    if not isinstance(raw.get("triggers"), dict):
        raise TriggerSettingsError(f"{path} (environment {env!r}): triggers is missing")
    prefix = text("triggers.new_data.prefix")
    if prefix and "://" in prefix and not prefix.startswith("gs://"):
        problems.append(f"triggers.new_data.prefix is {prefix!r}; expected a folder or gs://...")
    elif prefix and not prefix.startswith("gs://"):
        prefix = str((root / prefix).resolve())
    pattern = text("triggers.new_data.pattern")
    if pattern and "/" in pattern.rstrip("/"):
        problems.append(
            f"triggers.new_data.pattern is {pattern!r}; expected one name pattern "
            "(e.g. '*.csv', or '*/' for partition folders)"
        )
    poll_s = number("triggers.new_data.poll_s", 0, 86400, low_open=True)
    retrain = _get(raw, "triggers.drift.retrain_on_drift")
    if not isinstance(retrain, bool):
        problems.append(f"triggers.drift.retrain_on_drift is {retrain!r}; expected true or false")
    # The drift check's thresholds: a Jensen-Shannon divergence and an L-infinity distance
    # are both within [0, 1]; 0 would call any sample drifted.
    jsd = number("data.validation.drift.numeric_jsd", 0, 1, low_open=True)
    linf = number("data.validation.drift.categorical_linf", 0, 1, low_open=True)
    target = str(_get(raw, "deploy.target") or "none")
    if problems:
        raise TriggerSettingsError(f"{path} (environment {env!r}): " + "; ".join(problems))
    return TriggerSettings(
        env=env,
        prefix=prefix,
        pattern=pattern,
        poll_s=poll_s,
        retrain_on_drift=bool(retrain),
        drift_numeric_jsd=jsd,
        drift_categorical_linf=linf,
        target=target,
    )
