"""The build steps of CI, in order: images -> push -> update-specs (compile is in
mlops.ci.compile, the pinned specs in mlops.ci.pinned_specs). Each step can run on its own;
dist/build-state.json carries what the previous step did for the same commit."""

from __future__ import annotations

import re
import time
from pathlib import Path

from mlops.ci import base_image, engine, pinned_specs
from mlops.ci.build_inputs import fingerprint
from mlops.ci.build_state import STATE_FILE, BuildState, ImageRecord, inputs_tag
from mlops.ci.components import ComponentDir, discover
from mlops.ci.registry import RegistryClient, split_repository
from mlops.core.errors import BuildError
from mlops.core.git_info import commit_sha
from mlops.core.settings import BuildSettings, load_build_settings

_IMAGE_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")


def say(step: str, message: str) -> None:
    print(f"[{step}] {message}", flush=True)


def _check_image_names(components: list[ComponentDir]) -> None:
    for c in components:
        if not _IMAGE_NAME.fullmatch(c.name):
            raise BuildError(
                f"{c.path}: folder name {c.name!r} is not a valid image name "
                "(lower-case letters, digits and . _ - between them)"
            )


def _prepare(root: Path, env: str | None) -> tuple[BuildSettings, list[ComponentDir], str]:
    # All bad input (settings, component folders, names, commit) stops the build here.
    settings = load_build_settings(root, env)
    components = discover(root)
    _check_image_names(components)
    return settings, components, commit_sha(root)


def images(root: Path, env: str | None = None, nocache: bool = False) -> BuildState:
    """Builds the image of each component whose build inputs have no image yet, locally or in
    the registry; tags every image with the commit."""
    settings, components, commit = _prepare(root, env)
    # A failed run must not leave an older state of this commit for `push` to act on.
    (root / STATE_FILE).unlink(missing_ok=True)
    c = engine.client()
    registry = RegistryClient(settings.registry)
    base = base_image.ensure(c, root, settings, nocache=nocache)
    say("images", f"base image {base.ref} ({base.action})")
    state = BuildState(
        commit=commit,
        registry=settings.registry,
        env=settings.env,
        base={"ref": base.ref, "id": base.image_id, "action": base.action},
    )
    lock = root / base_image.LOCK_FILE
    for comp in components:
        started = time.monotonic()
        repo = settings.repository(comp.name)
        fp = fingerprint(comp, base.image_id, lock)
        by_inputs = f"{repo}:{inputs_tag(fp)}"
        _, name = split_repository(repo)
        local_id = engine.image_id(c, by_inputs)
        if not nocache and registry.digest(name, inputs_tag(fp)):
            action = "reused"
        elif not nocache and local_id:
            action = "local"
        else:
            local_id = engine.build(
                c,
                [by_inputs],
                context_dir=comp.path,
                buildargs={"BASE_IMAGE": base.ref},
                labels={
                    "org.opencontainers.image.revision": commit,
                    "io.mlops.component": comp.name,
                    "io.mlops.build-inputs": fp,
                },
                nocache=nocache,
                what=f"component {comp.name} ({comp.dockerfile})",
            )
            action = "built"
        if local_id:
            engine.tag_image(c, local_id, f"{repo}:{commit}")
        record = ImageRecord(repo, fp, action, local_id, seconds=time.monotonic() - started)
        state.components[comp.name] = record
        say("images", f"{comp.name}: {action} in {record.seconds:.1f}s ({repo}:{commit})")
    path = state.save(root)
    counts = {
        a: sum(r.action == a for r in state.components.values())
        for a in ("built", "local", "reused")
    }
    say(
        "images",
        f"{len(components)} components: {counts['built']} built, "
        f"{counts['local']} built earlier, {counts['reused']} already in the registry ({path})",
    )
    return state


def push(root: Path, env: str | None = None) -> BuildState:
    """Pushes each built image under its build-inputs tag and tags it with the commit in the
    registry; an image already there only gains the commit tag."""
    settings, components, commit = _prepare(root, env)
    state = BuildState.load(root, commit, "push")
    missing = sorted({c.name for c in components} - set(state.components))
    if missing:
        raise BuildError(f"no image built for {', '.join(missing)}; run `make images` first")
    registry = RegistryClient(settings.registry)
    registry.ping()
    c = engine.client()
    base_repo, base_tag = state.base["ref"].rsplit(":", 1)
    if registry.digest(split_repository(base_repo)[1], base_tag) is None:
        say("push", f"base image {state.base['ref']} (minutes the first time)")
        engine.push(c, state.base["ref"], engine.stderr_progress("[push]  "))
    for comp in components:
        started = time.monotonic()
        record = state.components[comp.name]
        _, name = split_repository(record.repository)
        if record.action != "reused":
            engine.push(c, f"{record.repository}:{record.inputs_tag}")
        record.digest = registry.add_tag(name, record.inputs_tag, commit)
        if registry.digest(name, commit) != record.digest:
            raise BuildError(f"{record.repository}:{commit} does not resolve to {record.digest}")
        state.save(root)  # a failure later still leaves a record of what was pushed
        verb = "tagged" if record.action == "reused" else "pushed"
        say(
            "push",
            f"{comp.name}: {verb} {record.pinned(commit)} in {time.monotonic() - started:.1f}s",
        )
    return state


def update_specs(root: Path, env: str | None = None, in_place: bool = True) -> list[Path]:
    """Pins each component's spec to its pushed image by digest, all files or none: the copy in
    dist/components always, and components/*/component.yaml itself when in_place (CI, in its
    workspace; `make build` leaves the checkout alone). Refuses when any component is unpushed
    or its sources changed since it was built."""
    settings, components, commit = _prepare(root, env)
    state = BuildState.load(root, commit, "update-specs")
    problems = []
    lock = root / base_image.LOCK_FILE
    for comp in components:
        record = state.components.get(comp.name)
        if record is None or not record.digest:
            problems.append(f"{comp.name}: no pushed image for commit {commit}")
        elif fingerprint(comp, state.base["id"], lock) != record.fingerprint:
            problems.append(f"{comp.path}: changed since its image was built")
    if problems:
        raise BuildError(
            "no component.yaml pinned:\n  "
            + "\n  ".join(problems)
            + "\n  run `make images push` first"
        )
    pins = [(comp, state.components[comp.name].pinned(commit)) for comp in components]
    changed = pinned_specs.write(root, pins, in_place=in_place)
    for comp, image in pins:
        targets = [pinned_specs.pinned_path(root, comp.name)]
        targets += [comp.spec_path] if in_place else []
        for path in targets:
            say(
                "update-specs",
                f"{path.relative_to(root)}: {image}" + ("" if path in changed else " (unchanged)"),
            )
    return changed


def build(root: Path, nocache: bool = False) -> float:
    """images -> push -> pinned specs in dist/components -> compile, in one process; returns the
    seconds taken. Nothing tracked changes: component.yaml is rewritten in place only by
    `make update-specs` (CI)."""
    from mlops.ci.compile import compile_all

    started = time.monotonic()
    images(root, nocache=nocache)
    push(root)
    update_specs(root, in_place=False)
    compile_all(root)
    return time.monotonic() - started
