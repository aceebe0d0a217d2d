"""Which model versions serve, following the registry's serving.json, and the traffic split.

A background thread polls serving.json's change token (inode/mtime locally, the generation
on gs://). On a change, the versions it names that are not loaded yet are loaded and warmed
first; then one new Routing replaces the old in a single assignment. A request reads the
Routing once and finishes on the model object it picked, so a swap drops no request; an old
version is released (by reference counting) once the last request holding it is done. A
version that fails to load is reported in the status and the previous one keeps serving."""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy_model.models import LoadedModel, load_model
from deploy_model.registry import Registry


class NotFound(LookupError):
    pass


class Unavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Routing:
    stable: LoadedModel | None = None
    canary: LoadedModel | None = None
    percent: int = 0
    counter: Any = field(default_factory=itertools.count)  # next() is atomic under the GIL

    @property
    def models(self) -> dict[int, LoadedModel]:
        return {m.version: m for m in (self.stable, self.canary) if m is not None}

    def pick(self) -> LoadedModel:
        """Deterministic weighted routing: request n goes to the canary when n*percent/100
        crosses an integer, so every 100 consecutive requests give it exactly `percent`."""
        if self.stable is None and self.canary is None:
            raise Unavailable("no model version is loaded yet")
        if self.canary is None or self.percent <= 0:
            return self.stable or self.canary
        n = next(self.counter)
        to_canary = (n + 1) * self.percent // 100 > n * self.percent // 100
        return self.canary if to_canary or self.stable is None else self.stable


class ModelHolder:
    def __init__(
        self,
        registry: Registry,
        cache_dir: Path | None = None,
        poll_s: float = 0.5,
        loader: Callable[[Path, int], LoadedModel] = load_model,
    ):
        self.registry = registry
        self.cache_dir = cache_dir
        self.poll_s = poll_s
        self.loader = loader
        self.routing = Routing()
        self.wanted: dict[str, Any] = {"stable": None, "canary": None}
        self.errors: dict[int, str] = {}  # version -> why it failed to load
        self.last_poll_error = ""
        self._token: Any = object()  # never equal to a real token: the first poll loads
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- following serving.json ------------------------------------------------------------
    def refresh(self) -> bool:
        """One poll; True when serving.json changed and the routing was rebuilt."""
        token = self.registry.serving_token()
        if token == self._token:
            return False
        state, token = self.registry.read_serving()
        canary = state.get("canary") or None
        wanted = {"stable": state.get("stable"), "canary": canary}
        current = self.routing.models
        loaded: dict[int, LoadedModel] = {}
        for version in {wanted["stable"], (canary or {}).get("version")} - {None}:
            if version in current:
                loaded[version] = current[version]
                continue
            try:
                path = self.registry.local_version_dir(version, self.cache_dir)
                loaded[version] = self.loader(path, version)
                self.errors.pop(version, None)
            except Exception as e:  # any failure: keep serving what serves now
                self.errors[version] = f"{type(e).__name__}: {e}".strip()[:2000]
                print(f"[serve] version {version} failed to load: {e}", file=sys.stderr)
        old = self.routing
        stable = loaded.get(wanted["stable"]) or old.stable
        new_canary = loaded.get((canary or {}).get("version"))
        if new_canary is not None and stable is not None and new_canary is stable:
            new_canary = None
        self.routing = Routing(
            stable=stable,
            canary=new_canary,
            percent=int((canary or {}).get("traffic_percent") or 0) if new_canary else 0,
        )
        self.wanted = wanted
        # Errors of versions nobody asks for any more are history.
        keep = {wanted["stable"], (canary or {}).get("version")}
        self.errors = {v: e for v, e in self.errors.items() if v in keep}
        self._token = token
        return True

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.refresh()
                self.last_poll_error = ""
            except Exception as e:  # the registry may be briefly unreachable: keep serving
                self.last_poll_error = f"{type(e).__name__}: {e}"

    def start(self) -> None:
        try:
            self.refresh()
        except Exception as e:
            self.last_poll_error = f"{type(e).__name__}: {e}"
        self._thread = threading.Thread(target=self._watch, name="serving-json", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)

    def wait_for(self, predicate: Callable[[Routing], bool], timeout_s: float = 30) -> Routing:
        """Waits until the routing satisfies predicate (for tests and scripts)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self.routing):
                return self.routing
            time.sleep(0.05)
        raise TimeoutError(f"routing still {self.describe()} after {timeout_s}s")

    # -- requests ---------------------------------------------------------------------------
    def choose(self, version: int | None = None) -> LoadedModel:
        routing = self.routing  # one read: this request's view, whatever swaps meanwhile
        if version is None:
            return routing.pick()
        model = routing.models.get(version)
        if model is None:
            raise NotFound(
                f"version {version} of {self.registry.model_name} is not loaded "
                f"(loaded: {sorted(routing.models) or 'none'})"
            )
        return model

    def describe(self) -> dict[str, Any]:
        r = self.routing
        return {
            "stable": None if r.stable is None else str(r.stable.version),
            "canary": None
            if r.canary is None
            else {"version": str(r.canary.version), "traffic_percent": r.percent},
        }

    def status(self, version: int | None = None) -> dict[str, Any]:
        """TF Serving's GetModelStatus answer, plus (not TF Serving's) each loaded version's
        role, task and classes, and `routing`: which version is stable, which canary with
        what share, and what serving.json asks for."""
        r = self.routing
        roles = {}
        if r.stable is not None:
            roles[r.stable.version] = "stable"
        if r.canary is not None:
            roles[r.canary.version] = "canary"
        entries = []
        for v in sorted(set(roles) | set(self.errors), reverse=True):
            if version is not None and v != version:
                continue
            if v in roles:
                entry = {
                    "version": str(v),
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                    "role": roles[v],
                    **r.models[v].task.describe(),
                }
            else:
                entry = {
                    "version": str(v),
                    "state": "END",
                    "status": {"error_code": "UNKNOWN", "error_message": self.errors[v]},
                    "role": "failed to load",
                }
            entries.append(entry)
        if version is not None and not entries:
            raise NotFound(f"version {version} of {self.registry.model_name} is not loaded")
        answer: dict[str, Any] = {"model_version_status": entries}
        if version is None:
            answer["routing"] = {**self.describe(), "serving_json": self.wanted}
            if self.last_poll_error:
                answer["routing"]["registry_error"] = self.last_poll_error
        return answer
