"""Shared fixtures: throw-away projects shaped like this repository, and (for tests marked
`docker`) the real Docker engine with a registry of the session's own."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from mlops.ci.scaffold import scaffold
from mlops.ci.spec_rewrite import rewrite_images
from mlops.core.paths import REPO
from mlops.testing import fixtures
from mlops.testing.local_registry import LocalRegistry

LIGHT_BASE = REPO / "tests" / "fixtures" / "light_base" / "Dockerfile"
# The build-chain samples: not pipeline steps, so they live here rather than in components/.
SAMPLE_PROJECT = REPO / "tests" / "fixtures" / "sample_project"


def write_settings(root: Path, registry: str, namespace: str, dockerfile: Path) -> None:
    (root / "settings.yaml").write_text(
        "# test settings\n"
        "build:\n"
        f"  registry: {registry}\n"
        f"  namespace: {namespace}\n"
        "  base:\n"
        f"    dockerfile: {dockerfile}\n"
        "    name: base\n"
    )


def make_project(root: Path, registry: str = "localhost:5999", namespace: str = "t") -> Path:
    """A project with this repository's shape: the sample components (hello scaffolded afresh,
    word_count copied from tests/fixtures/sample_project), the sample pipeline, the lock file,
    and settings using the light base."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "components").mkdir()
    shutil.copy(REPO / "requirements.lock", root / "requirements.lock")
    base_dir = root / "build" / "base"
    base_dir.mkdir(parents=True)
    shutil.copy(LIGHT_BASE, base_dir / "Dockerfile")
    write_settings(root, registry, namespace, Path("build/base/Dockerfile"))
    scaffold(root, "hello")
    shutil.copytree(
        SAMPLE_PROJECT / "components" / "word_count",
        root / "components" / "word_count",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    rewrite_images(
        {
            root
            / "components"
            / "word_count"
            / "component.yaml": f"{registry}/{namespace}/word_count:dev"
        }
    )
    (root / "pipelines").mkdir()
    shutil.copy(SAMPLE_PROJECT / "pipelines" / "hello_pipeline.py", root / "pipelines")
    return root


def _tracked_changes() -> dict[str, str] | None:
    """Each tracked file of this checkout that differs from HEAD -> a hash of its content now;
    None outside a git checkout."""
    try:
        names = subprocess.run(
            ["git", "diff", "HEAD", "--name-only", "-z"], cwd=REPO, capture_output=True, check=True
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return None
    changes = {}
    for name in filter(None, names.split("\0")):
        path = REPO / name
        changes[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "gone"
    return changes


@pytest.fixture(scope="session", autouse=True)
def _checkout_left_as_it_was():
    # Tests work in projects of their own: none may change a tracked file of the checkout
    # (the build once rewrote every component.yaml in place).
    before = _tracked_changes()
    yield
    after = _tracked_changes()
    if before is not None and after is not None:
        changed = sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n))
        assert not changed, f"the tests changed tracked files of the checkout: {changed}"


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch):
    # The build reads these from the environment (Cloud Build passes them); a caller's
    # values must not leak into tests, which set their own.
    for name in (
        "REGISTRY",
        "COMMIT_SHA",
        "ENV",
        "USECASE",
        "MLOPS_ROOT",
        "REGISTRY_USERNAME",
        "REGISTRY_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def project(tmp_path) -> Path:
    return make_project(tmp_path / "project")


# --- the Docker engine and a registry of this session's own ------------------------------


def _run_setup(script: str, *args: str) -> None:
    subprocess.run([str(REPO / "scripts" / script), *args], check=True)


@pytest.fixture(scope="session")
def docker_client():
    import docker

    # Idempotent: a running engine and an existing base image are left alone.
    _run_setup("setup_docker.sh")
    _run_setup("bootstrap_python_base.sh")
    client = docker.from_env(timeout=600)
    yield client
    client.close()


@pytest.fixture(scope="session")
def registry(docker_client, tmp_path_factory) -> str:
    """host:port of a real distribution registry with empty storage, for this session."""
    if shutil.which("docker-registry") is None:
        _run_setup("setup_registry.sh", "localhost:5000")  # installs the package
    server = LocalRegistry(tmp_path_factory.mktemp("registry")).start()
    yield server.address
    # The tests tag many images with this registry's address: untag them all.
    server.stop(docker_client)


@pytest.fixture(scope="session")
def project_factory():
    """make_project, for module-scoped fixtures: test modules cannot import this conftest by
    name (with --import-mode=importlib, `conftest` may be a component's own)."""
    return make_project


@pytest.fixture(scope="session")
def built_project_factory(registry, docker_client, tmp_path_factory):
    """For module-scoped fixtures: build(namespace, pipelines=None) makes a project, builds its
    images into the session registry, pins them in the specs (as CI does) and compiles its
    pipelines, `pipelines` ({module name: source}) in place of the sample one when given.
    Returns (root, {pipeline module: package})."""

    def build(namespace: str, pipelines: dict[str, str] | None = None):
        from mlops.ci import steps
        from mlops.ci.compile import compile_all

        root = make_project(tmp_path_factory.mktemp(namespace) / "project", registry, namespace)
        patch = pytest.MonkeyPatch()
        patch.setenv("COMMIT_SHA", uuid.uuid4().hex)
        try:
            steps.images(root)
            steps.push(root)
            steps.update_specs(root)
            if pipelines is not None:
                (root / "pipelines" / "hello_pipeline.py").unlink()
                for name, source in pipelines.items():
                    (root / "pipelines" / f"{name}.py").write_text(source)
            compiled = compile_all(root)
        finally:
            patch.undo()
        return root, {c.package.parent.name: c.package for c in compiled}

    return build


@pytest.fixture
def docker_project(tmp_path, registry, docker_client) -> Path:
    """A project pushing to the session registry under a namespace of its own."""
    return make_project(tmp_path / "project", registry, f"t{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="session")
def compiled(tmp_path_factory) -> Path:
    """A copy of this repository's components, pipelines and settings with its pipelines
    compiled from the specs as committed (no images built); copy it before changing it."""
    from mlops.ci.compile import compile_all

    root = tmp_path_factory.mktemp("compiled")
    for folder in ("components", "pipelines"):
        shutil.copytree(
            REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__", "tests")
        )
    for name in ("settings.yaml", "requirements.lock"):
        shutil.copy(REPO / name, root / name)
    compile_all(root)
    return root


# --- Cloud Storage: the real client against gcp-storage-emulator -------------------------


gcs_emulator = fixtures.gcs_emulator  # the session's emulator, defined once


@pytest.fixture
def gcs(gcs_emulator, monkeypatch):
    """A storage client on the emulator, with STORAGE_EMULATOR_HOST set for the code under test."""
    from mlops.core.gcs import storage_client

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    return storage_client()


# --- Kubeflow Pipelines: the real kfp.Client against a double of its REST API ------------


@pytest.fixture
def kfp_api():
    """A fresh double of the KFP v2beta1 REST API (tests/doubles/kfp_double.py) on loopback."""
    from kfp_double import KfpApiDouble

    with KfpApiDouble(pending_s=0.05, running_s=0.1) as double:
        yield double
