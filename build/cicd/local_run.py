"""Runs a compiled pipeline package on this machine with kfp.local's DockerRunner, on the
images the build pushed.

kfp 2.13's DockerRunner needs three adjustments, applied only inside `docker_runner_adapted()`:
- it splits image references on ':' to pull them, which breaks on the digest-pinned
  `REGISTRY:PORT/NAME:SHA@sha256:...` references that component.yaml carries;
- these machines have no bridge network, so containers must use the host network;
- it collects output artifacts only from executor_output.json, which only KFP's Python
  executor writes; a container component's artifacts are the files at its output paths,
  which a cluster's launcher records, so they are recorded here the same way;
- it fails (KeyError) on an optional input artifact that is not passed; a cluster leaves it
  out of the executor input, and so does this."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cicd.compile import read_package
from cicd.errors import BuildError


def _ensure_image(client, image: str) -> None:
    import docker.errors

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        # Pull by digest: the tag in NAME:TAG@DIGEST is informative only.
        name, _, digest = image.partition("@")
        if digest:
            has_tag = ":" in name.rsplit("/", 1)[-1]
            client.images.pull(f"{name.rsplit(':', 1)[0] if has_tag else name}@{digest}")
        else:
            client.images.pull(name)


_EXTRA_MOUNTS: list[str] = []  # read-only host folders mounted at the same paths


def _run_docker_container(client, image: str, command: list[str], volumes: dict[str, Any]) -> int:
    _ensure_image(client, image)
    volumes = {**{m: {"bind": m, "mode": "ro"} for m in _EXTRA_MOUNTS}, **volumes}
    container = client.containers.run(
        image=image,
        command=command,
        detach=True,
        volumes=volumes,
        network_mode="host",
    )
    try:
        for line in container.logs(stream=True):
            print(line.decode(errors="replace"), end="")
        return container.wait()["StatusCode"]
    finally:
        container.remove(force=True)  # kfp.local leaves stopped containers behind


def _outputs_with_written_artifacts(original):
    def get_outputs_for_task(executor_input, component_spec):
        from kfp.local import executor_output_utils

        path = executor_input.outputs.output_file
        executor_output = executor_output_utils.load_executor_output(path)
        added = False
        for name, artifacts in executor_input.outputs.artifacts.items():
            written = [a for a in artifacts.artifacts if os.path.exists(a.uri)]
            if name not in executor_output.artifacts and written:
                executor_output.artifacts[name].artifacts.extend(written)
                added = True
        if added:
            from google.protobuf import json_format

            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(json_format.MessageToJson(executor_output))
        return original(executor_input, component_spec)

    return get_outputs_for_task


def _without_absent_optional_artifacts(original):
    def construct_executor_input(component_spec, arguments, *args, **kwargs):
        absent = [n for n in component_spec.input_definitions.artifacts if n not in arguments]
        if absent:
            component_spec = type(component_spec).FromString(component_spec.SerializeToString())
            for name in absent:
                del component_spec.input_definitions.artifacts[name]
        return original(component_spec, arguments, *args, **kwargs)

    return construct_executor_input


@contextlib.contextmanager
def docker_runner_adapted(mounts: list[Path] | None = None) -> Iterator[None]:
    """kfp.local's DockerRunner as a cluster would run the steps; `mounts` are host folders
    the steps read (local data), mounted read-only at the same paths."""
    from kfp.local import docker_task_handler, executor_input_utils, executor_output_utils

    _EXTRA_MOUNTS[:] = [str(Path(m).resolve()) for m in mounts or []]
    run_original = docker_task_handler.run_docker_container
    outputs_original = executor_output_utils.get_outputs_for_task
    inputs_original = executor_input_utils.construct_executor_input
    executor_input_utils.construct_executor_input = _without_absent_optional_artifacts(
        inputs_original
    )
    docker_task_handler.run_docker_container = _run_docker_container
    executor_output_utils.get_outputs_for_task = _outputs_with_written_artifacts(outputs_original)
    try:
        yield
    finally:
        _EXTRA_MOUNTS.clear()
        docker_task_handler.run_docker_container = run_original
        executor_output_utils.get_outputs_for_task = outputs_original
        executor_input_utils.construct_executor_input = inputs_original


def run_package(package: Path, pipeline_root: Path, arguments: dict[str, Any]) -> dict[str, Any]:
    """Runs the pipeline in a workflow.tar.gz; returns its outputs (artifacts as URIs)."""
    from kfp import components, local

    pipeline = components.load_component_from_text(read_package(package))
    pipeline_root.mkdir(parents=True, exist_ok=True)
    # Component containers run as a non-root user and write their outputs under this root.
    pipeline_root.chmod(0o1777)
    local.init(runner=local.DockerRunner(), pipeline_root=str(pipeline_root))
    started = time.monotonic()
    with docker_runner_adapted():
        try:
            task = pipeline(**arguments)
        except RuntimeError as e:
            raise BuildError(f"{package}: the local run failed: {e}") from e
    outputs = {}
    for name, value in (task.outputs or {}).items():
        outputs[name] = getattr(value, "uri", value)
    print(
        f"[run] {package.parent.name}: succeeded in {time.monotonic() - started:.1f}s; "
        f"outputs: {json.dumps(outputs, default=str)}",
        flush=True,
    )
    return outputs
