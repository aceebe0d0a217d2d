"""The versioned model registry, in TF Serving's model_base_path layout:

    <root>/<model_name>/<version>/      a copy of the Model artifact + version.json (with the
                                        artifact's content_digest)
    <root>/<model_name>/serving.json    which version is stable, which the canary (and history)

Root is a local directory or gs://bucket/path. serving.json is replaced whole and
conditionally (see storage.py), re-read and re-applied when another writer got there first.
resolve_baseline copies `stable` out as evaluate_model's baseline; the prediction service
follows serving.json."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy_model.digest import content_digest
from deploy_model.storage import Conflict, open_store

SERVING = "serving.json"
VERSION_INFO = "version.json"
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ATTEMPTS = 8  # read-modify-write retries when another writer changed serving.json


class RegistryError(ValueError):
    """The registry cannot do what was asked (e.g. nothing to promote); the message says why."""


def now() -> str:
    # Milliseconds: the canary analysis compares the requests logged since a change of the
    # traffic split, and the request log's times have milliseconds too.
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def empty_state(model_name: str) -> dict[str, Any]:
    return {"model_name": model_name, "stable": None, "canary": None, "history": []}


def previous_stable(history: list[dict]) -> int | None:
    """The stable version before the current one. Replays the history as a stack: deploys
    and promotes that change stable push it, rollbacks that change it pop it, so repeated
    rollbacks walk back through the versions that were stable, never forward again."""
    stack: list[int] = []
    for entry in history:
        stable = entry.get("stable")
        top = stack[-1] if stack else None
        if stable == top:
            continue
        if entry.get("action") == "rollback" and len(stack) >= 2 and stack[-2] == stable:
            stack.pop()
        elif stable is not None:
            stack.append(stable)
    return stack[-2] if len(stack) >= 2 else None


class Registry:
    def __init__(self, root: str, model_name: str):
        if not MODEL_NAME.match(model_name or ""):
            raise RegistryError(
                f"model_name {model_name!r}: use letters, digits, '_', '-', '.' (a folder name)"
            )
        self.root = root.rstrip("/") if root != "/" else root
        self.model_name = model_name
        self.store = open_store(self.root)

    # -- versions ---------------------------------------------------------------------------
    def versions(self) -> list[int]:
        return sorted(int(d) for d in self.store.list_dirs(self.model_name) if d.isdigit())

    def version_uri(self, version: int) -> str:
        return self.store.uri(f"{self.model_name}/{version}")

    def version_info(self, version: int) -> dict[str, Any]:
        data, _ = self.store.read(f"{self.model_name}/{version}/{VERSION_INFO}")
        if data is None:
            raise RegistryError(f"{self.version_uri(version)}: no such version")
        return json.loads(data)

    def local_version_dir(self, version: int, cache: Path | None = None) -> Path:
        """A local folder holding the version's files (downloaded for gs:// roots)."""
        return self.store.local_dir(f"{self.model_name}/{version}", cache)

    def version_digest(self, version: int) -> str:
        """The version's content digest: from its version.json, or, for a version pushed
        before digests were recorded, from its files (downloaded for gs:// roots)."""
        recorded = self.version_info(version).get("content_digest")
        if isinstance(recorded, str) and recorded.startswith("sha256:"):
            return recorded
        import tempfile

        with tempfile.TemporaryDirectory(prefix="registry-digest-") as tmp:
            folder = self.local_version_dir(version, Path(tmp))
            # .complete: the download's own marker (storage.GcsStore.local_dir), not the model's
            return content_digest(folder, ignore=frozenset({".complete"}))

    def push(
        self,
        model_dir: Path,
        *,
        source_uri: str = "",
        metrics: dict | None = None,
        blessed: bool = True,
        labels: dict[str, str] | None = None,
        digest: str | None = None,
    ) -> int:
        """Copies the model folder in as the next integer version; returns the version.
        digest: the folder's content_digest, if the caller has it already."""
        info = {
            "created_at": now(),
            "source_uri": source_uri or str(model_dir),
            "metrics": metrics or {},
            "blessed": blessed,
            "labels": labels or {},
            "content_digest": digest or content_digest(model_dir),
        }
        if self.root.startswith("gs://"):
            return self._push_gcs(Path(model_dir), info)
        return self._push_local(Path(model_dir), info)

    def _push_local(self, model_dir: Path, info: dict) -> int:
        import shutil
        import tempfile

        # version.json goes in with the files, so a version folder is complete when it appears.
        with tempfile.TemporaryDirectory() as tmp:
            staged = Path(tmp) / "version"
            shutil.copytree(model_dir, staged)
            with self.store.lock(self.model_name):
                version = max(self.versions(), default=0) + 1
                (staged / VERSION_INFO).write_text(
                    json.dumps({"version": version, **info}, indent=2) + "\n"
                )
                self.store.put_dir(staged, f"{self.model_name}/{version}")
        return version

    def _push_gcs(self, model_dir: Path, info: dict) -> int:
        # Claim the number by creating its version.json only if absent (a concurrent pusher
        # gets a Conflict and tries the next number); the files follow. Nothing serves a
        # version before serving.json names it, which happens after the push.
        version = max(self.versions(), default=0) + 1
        for _ in range(_ATTEMPTS * 4):
            record = json.dumps({"version": version, **info}, indent=2).encode()
            try:
                self.store.write(f"{self.model_name}/{version}/{VERSION_INFO}", record, None)
                break
            except Conflict:
                version += 1
        else:
            raise RegistryError(f"{self.store.uri(self.model_name)}: no free version number")
        self.store.put_dir(model_dir, f"{self.model_name}/{version}")
        return version

    # -- serving.json -----------------------------------------------------------------------
    def serving_token(self):
        """Changes whenever serving.json is replaced (for pollers)."""
        return self.store.token(f"{self.model_name}/{SERVING}")

    def read_serving(self) -> tuple[dict[str, Any], Any]:
        data, token = self.store.read(f"{self.model_name}/{SERVING}")
        if data is None:
            return empty_state(self.model_name), None
        try:
            state = json.loads(data)
        except json.JSONDecodeError as e:
            raise RegistryError(f"{self.store.uri(self.model_name)}/{SERVING}: {e}") from e
        return state, token

    def write_serving(self, state: dict[str, Any], token) -> None:
        """Replaces serving.json if it is still what `token` says (Conflict otherwise)."""
        data = (json.dumps(state, indent=2) + "\n").encode()
        self.store.write(f"{self.model_name}/{SERVING}", data, token)

    def status(self) -> dict[str, Any]:
        state, _ = self.read_serving()
        return state

    def update(self, change: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
        """Read-modify-write of serving.json: change(state) edits it in place and returns the
        action for the history; retried on a concurrent write."""
        for _ in range(_ATTEMPTS):
            with self.store.lock(self.model_name):
                state, token = self.read_serving()
                action = change(state)
                state.setdefault("history", []).append(
                    {
                        "at": now(),
                        "action": action,
                        "stable": state.get("stable"),
                        "canary": state.get("canary"),
                    }
                )
                try:
                    self.write_serving(state, token)
                    return state
                except Conflict:
                    continue
        raise RegistryError(
            f"{self.store.uri(self.model_name)}/{SERVING}: changed by other writers "
            f"{_ATTEMPTS} times in a row; try again"
        )

    def deploy(self, version: int, canary_percent: int) -> dict[str, Any]:
        """The first version ever, or canary_percent 0: stable at once (any canary dropped).
        Otherwise the version becomes the canary with that share (replacing a canary)."""
        if version not in self.versions():
            raise RegistryError(f"{self.version_uri(version)}: no such version to deploy")

        def change(state: dict) -> str:
            if state.get("stable") is None or canary_percent == 0:
                state["stable"], state["canary"] = version, None
                return "deploy"
            state["canary"] = {"version": version, "traffic_percent": canary_percent}
            return "canary"

        return self.update(change)

    def check_canary(self, state: dict, expect_canary: int | None) -> None:
        """Refuses when the canary is not `expect_canary` (None: any). An automatic decision
        names the canary it was about, so a change made meanwhile (a promote by hand, a new
        canary) is not undone by it."""
        if expect_canary is None:
            return
        canary = (state.get("canary") or {}).get("version")
        if canary != expect_canary:
            now = f"version {canary}" if canary is not None else "none"
            raise RegistryError(
                f"{self.model_name}: the canary is {now}, not version {expect_canary}; "
                "nothing was changed"
            )

    def promote(self, expect_canary: int | None = None) -> dict[str, Any]:
        def change(state: dict) -> str:
            self.check_canary(state, expect_canary)
            canary = state.get("canary")
            if not canary:
                raise RegistryError(
                    f"{self.model_name}: no canary to promote (stable is {state.get('stable')})"
                )
            state["stable"], state["canary"] = canary["version"], None
            return "promote"

        return self.update(change)

    def ramp(self, percent: int, expect_canary: int | None = None) -> dict[str, Any]:
        """The canary keeps serving with `percent` of the traffic (a ramp step)."""
        if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 99:
            raise RegistryError(f"canary share {percent!r}: expected 1 to 99 (100 is a promote)")

        def change(state: dict) -> str:
            self.check_canary(state, expect_canary)
            canary = state.get("canary")
            if not canary:
                raise RegistryError(
                    f"{self.model_name}: no canary to ramp (stable is {state.get('stable')})"
                )
            state["canary"] = {"version": canary["version"], "traffic_percent": percent}
            return "ramp"

        return self.update(change)

    def rollback(self, expect_canary: int | None = None) -> dict[str, Any]:
        def change(state: dict) -> str:
            self.check_canary(state, expect_canary)
            if state.get("canary"):
                state["canary"] = None
                return "rollback"
            previous = previous_stable(state.get("history") or [])
            if previous is None:
                raise RegistryError(
                    f"{self.model_name}: nothing to roll back to: no canary, and no stable "
                    f"version before {state.get('stable')} in the history"
                )
            state["stable"] = previous
            return "rollback"

        return self.update(change)
