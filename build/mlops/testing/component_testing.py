"""For component tests: build a component's real image on the shared ML base image and run
it from its component.yaml through kfp.local's DockerRunner, as a pipeline step would run.

Images are tagged by their build-input fingerprint (mlops-test/<name>:<fingerprint>), so a
component is rebuilt only when its inputs change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops.ci import base_image, engine, spec_rewrite
from mlops.ci.build_inputs import fingerprint
from mlops.ci.components import discover
from mlops.core.paths import REPO
from mlops.core.settings import load_build_settings
from mlops.local_runs.runner import docker_runner_adapted


def build_image(name: str, root: Path = REPO) -> str:
    """The local tag of components/<name>'s image, built if its inputs changed."""
    c = engine.client()
    settings = load_build_settings(root)
    base = base_image.ensure(c, root, settings)
    component = next(comp for comp in discover(root) if comp.name == name)
    fp = fingerprint(component, base.image_id, root / base_image.LOCK_FILE)
    tag = f"mlops-test/{name}:{fp[:32]}"
    if engine.image_id(c, tag) is None:
        engine.build(
            c,
            [tag],
            context_dir=component.path,
            buildargs={"BASE_IMAGE": base.ref},
            what=f"component {name}",
        )
    return tag


def run_component(
    name: str,
    arguments: dict[str, Any],
    pipeline_root: Path,
    mounts: list[Path] | None = None,
    root: Path = REPO,
) -> dict[str, Any]:
    """Runs components/<name> with arguments in its image; returns the task's outputs
    (artifacts as kfp Artifact objects, parameters as values). A failing step raises.
    mounts: host folders the step reads (e.g. local data), mounted read-only."""
    from kfp import components, local

    image = build_image(name, root)
    spec_path = root / "components" / name / "component.yaml"
    spec = components.load_component_from_text(
        spec_rewrite.with_image(spec_path.read_text(), image, spec_path)
    )
    pipeline_root.mkdir(parents=True, exist_ok=True)
    pipeline_root.chmod(0o1777)  # the component runs as a non-root user
    local.init(runner=local.DockerRunner(), pipeline_root=str(pipeline_root))
    with docker_runner_adapted(mounts):
        task = spec(**arguments)
    return dict(task.outputs)
