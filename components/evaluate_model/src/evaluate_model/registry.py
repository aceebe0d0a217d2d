"""The baseline: the `stable` version of a model in the model registry that deploy_model
writes (a local folder or gs://bucket/path), or a model artifact passed explicitly.

    <root>/<model_name>/serving.json    {"stable": <int or null>, "canary": ..., "history": ...}
    <root>/<model_name>/<version>/      the model artifact (a SavedModel) + version.json

No serving.json, or stable null: no baseline (the first model). A serving.json that does not
parse, or names a version that is not there, is an error of the `registry` input. A gs://
version is downloaded to a local folder for TFMA."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluate_model.inputs import InputError

SERVING_FILE = "serving.json"
VERSION_FILE = "version.json"


@dataclass(frozen=True)
class Baseline:
    path: Path  # a local SavedModel folder
    version: int | None  # the registry version; None for an explicit artifact without one
    source: str  # where it came from, for the report


def storage_client():
    """A google-cloud-storage client; anonymous on an emulator (STORAGE_EMULATOR_HOST)."""
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project="local", credentials=AnonymousCredentials())
    return storage.Client()


def _split_gs(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("gs://").partition("/")
    return bucket, prefix.strip("/")


def _parse_serving(text: str | bytes, where: str) -> int | None:
    """The stable version named by a serving.json's content."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"registry: {where} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise InputError(f"registry: {where} holds no JSON object")
    stable = data.get("stable")
    if stable is None:
        return None
    if isinstance(stable, bool) or not isinstance(stable, int) or stable < 1:
        raise InputError(f"registry: {where} has stable {stable!r}; expected a version >= 1")
    return stable


def find_baseline(registry: str, model_name: str, workdir: Path) -> Baseline | None:
    """The stable version of model_name in the registry, or None when there is none yet."""
    if not model_name or "/" in model_name or model_name in (".", ".."):
        raise InputError(
            f"model_name: {model_name!r}; the registry lookup needs the model's folder name"
        )
    root = registry.rstrip("/")
    if root.startswith("gs://"):
        return _find_gcs(root, model_name, workdir)
    return _find_local(Path(root), model_name)


def _find_local(root: Path, model_name: str) -> Baseline | None:
    if not root.is_dir():
        raise InputError(f"registry: {root} is not a folder")
    serving = root / model_name / SERVING_FILE
    if not serving.is_file():
        return None
    stable = _parse_serving(serving.read_text(), str(serving))
    if stable is None:
        return None
    folder = root / model_name / str(stable)
    if not (folder / "saved_model.pb").is_file():
        raise InputError(
            f"registry: {serving} names stable version {stable}, but {folder} "
            f"{'holds no saved_model.pb' if folder.is_dir() else 'does not exist'}"
        )
    return Baseline(folder, stable, str(folder))


def _find_gcs(root: str, model_name: str, workdir: Path) -> Baseline | None:
    from google.api_core import exceptions

    bucket_name, prefix = _split_gs(root)
    base = f"{prefix}/{model_name}" if prefix else model_name
    bucket = storage_client().bucket(bucket_name)
    where = f"gs://{bucket_name}/{base}/{SERVING_FILE}"
    try:
        text = bucket.blob(f"{base}/{SERVING_FILE}").download_as_bytes()
    except exceptions.NotFound:
        # No object, or no bucket: a bucket that is missing is a wrong input, not a first model.
        if not bucket.exists():
            raise InputError(f"registry: bucket gs://{bucket_name} does not exist") from None
        return None
    stable = _parse_serving(text, where)
    if stable is None:
        return None
    version_prefix = f"{base}/{stable}/"
    target = workdir / "baseline" / str(stable)
    count = 0
    for blob in bucket.list_blobs(prefix=version_prefix):
        rel = blob.name[len(version_prefix) :]
        if not rel or rel.endswith("/"):
            continue  # folder placeholders
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(dest))
        count += 1
    source = f"gs://{bucket_name}/{version_prefix}"
    if not (target / "saved_model.pb").is_file():
        raise InputError(
            f"registry: {where} names stable version {stable}, but {source} "
            f"{'holds no saved_model.pb' if count else 'holds no objects'}"
        )
    return Baseline(target, stable, source)


def explicit_baseline(path: str) -> Baseline:
    """The baseline_model input; its version from a version.json beside it, if any."""
    folder = Path(path)
    info = read_version_info(folder)
    version = info.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        version = None
    return Baseline(folder, version, str(folder))


def read_version_info(folder: Path) -> dict[str, Any]:
    f = folder / VERSION_FILE
    if not f.is_file():
        return {}
    try:
        data = json.loads(f.read_text())
    except json.JSONDecodeError:
        return {}  # informative only: the version number in the report
    return data if isinstance(data, dict) else {}
