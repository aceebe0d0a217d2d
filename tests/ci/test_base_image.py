"""The shared base image of this repository (build/base/Dockerfile): the ML stack imports in
it, as the non-root user, with Keras 2. Built once per Dockerfile and lock file; the first
run on a fresh machine builds it (minutes), later runs find it."""

import shutil

import pytest

from mlops.ci import base_image, engine
from mlops.core.paths import REPO
from mlops.core.settings import load_build_settings

pytestmark = pytest.mark.docker

PROBE = """
import os, tensorflow as tf, tensorflow_data_validation as tfdv, tensorflow_transform as tft
import tensorflow_model_analysis as tfma, apache_beam, keras_tuner
print(os.getuid(), os.environ["TF_USE_LEGACY_KERAS"], tf.__version__, tfdv.__version__,
      tft.__version__, tfma.__version__, tf.keras.__name__.split(".")[0])
"""


def test_the_ml_stack_imports_as_the_non_root_user(docker_client, monkeypatch):
    settings = load_build_settings(REPO)
    base = base_image.ensure(docker_client, REPO, settings)
    assert base.ref.startswith(settings.repository(settings.base_name) + ":")
    assert engine.image_id(docker_client, base.ref) == base.image_id
    out = docker_client.containers.run(
        base.image_id, ["python", "-c", PROBE], network_mode="host", remove=True, stderr=False
    )
    assert out.decode().split()[-7:] == [
        "1000",
        "1",
        "2.16.2",
        "1.16.1",
        "1.16.0",
        "0.47.1",
        "tf_keras",
    ]


def test_the_base_tag_follows_its_build_inputs(tmp_path, monkeypatch):
    settings = load_build_settings(REPO)
    tag = base_image.content_tag(REPO, settings)
    assert tag == base_image.content_tag(REPO, settings)
    shutil.copytree(
        REPO / "build" / "base",
        tmp_path / "build" / "base",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (tmp_path / "requirements.lock").write_text((REPO / "requirements.lock").read_text())
    (tmp_path / "settings.yaml").write_text((REPO / "settings.yaml").read_text())
    copy = load_build_settings(tmp_path)
    assert base_image.content_tag(tmp_path, copy) == tag
    runtime = tmp_path / "build" / "base" / "mlops_runtime" / "examples.py"
    runtime.write_text(runtime.read_text() + "\n# changed\n")
    assert base_image.content_tag(tmp_path, copy) != tag  # the shared runtime is an input
    changed = base_image.content_tag(tmp_path, copy)
    (tmp_path / "requirements.lock").write_text("six==1.16.0\n")
    assert base_image.content_tag(tmp_path, copy) != changed
