"""dist/build-state.json: what `images` built and `push` pushed for one commit, so that the
steps can run one at a time (`make images`, `make push`, `make update-specs`) and each can
check that the step before it completed for the same commit."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlops.core.errors import BuildError

STATE_FILE = Path("dist") / "build-state.json"


@dataclass
class ImageRecord:
    repository: str  # REGISTRY/NAMESPACE/NAME
    fingerprint: str  # build-inputs hash (mlops.ci.build_inputs)
    action: str  # "built" | "local" (built earlier, not pushed) | "reused" (in the registry)
    image_id: str | None = None  # local image id, when the engine has it
    digest: str | None = None  # manifest digest in the registry, once pushed
    seconds: float = 0.0

    @property
    def inputs_tag(self) -> str:
        return inputs_tag(self.fingerprint)

    def pinned(self, commit: str) -> str:
        """REGISTRY/NAMESPACE/NAME:SHA@sha256:... — what component.yaml points to."""
        if not self.digest:
            raise BuildError(f"{self.repository} has not been pushed")
        return f"{self.repository}:{commit}@{self.digest}"


def inputs_tag(fingerprint: str) -> str:
    # The registry tag that finds an image by its build inputs; tags allow 128 characters.
    return f"inputs-{fingerprint}"


@dataclass
class BuildState:
    commit: str
    registry: str
    env: str
    base: dict = field(default_factory=dict)  # ref, id, action
    components: dict[str, ImageRecord] = field(default_factory=dict)

    def save(self, root: Path) -> Path:
        path = root / STATE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, root: Path, commit: str, step: str) -> BuildState:
        """The state of `commit`; fails with what to run first if it is missing or stale."""
        path = root / STATE_FILE
        if not path.is_file():
            raise BuildError(f"{path}: not found; run `make images` before `make {step}`")
        data = json.loads(path.read_text())
        if data.get("commit") != commit:
            raise BuildError(
                f"{path}: records commit {data.get('commit')}, not {commit}; "
                f"run `make images` before `make {step}`"
            )
        components = {k: ImageRecord(**v) for k, v in data.pop("components", {}).items()}
        return cls(components=components, **data)
