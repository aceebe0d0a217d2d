"""The `stable` version of a model in the model registry that deploy_model writes (a local
folder or gs://bucket/path):

    <root>/<model_name>/serving.json    {"stable": <int or null>, "canary": ..., "history": ...}
    <root>/<model_name>/<version>/      the model artifact (a SavedModel) + version.json

No serving.json, or stable null: no stable version (the first model). A serving.json that does
not parse, or names a version that is not there, is an error of the `registry` input."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

SERVING_FILE = "serving.json"


class InputError(ValueError):
    """An input of the component is unusable; the message says which and why."""


@dataclass(frozen=True)
class Stable:
    version: int
    source: str  # the version folder's location, for messages and metadata


@dataclass(frozen=True)
class NoStable:
    reason: str  # why there is no stable version, a sentence


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


def copy_stable(registry: str, model_name: str, dest: Path) -> Stable | NoStable:
    """Copies the stable version of model_name into dest (a folder that need not exist), or
    says why there is none; dest is left untouched when there is none or on an error."""
    if not model_name or "/" in model_name or model_name in (".", ".."):
        raise InputError(
            f"model_name: {model_name!r}; the registry lookup needs the model's folder name"
        )
    root = registry.rstrip("/")
    if not root:
        raise InputError("registry: empty; pass a folder or gs://bucket/path")
    if root.startswith("gs://"):
        return _copy_gcs(root, model_name, dest)
    return _copy_local(Path(root), model_name, dest)


def _copy_local(root: Path, model_name: str, dest: Path) -> Stable | NoStable:
    if not root.is_dir():
        raise InputError(f"registry: {root} is not a folder")
    serving = root / model_name / SERVING_FILE
    if not serving.is_file():
        return NoStable(f"{serving} does not exist: no version of {model_name} deployed yet")
    stable = _parse_serving(serving.read_text(), str(serving))
    if stable is None:
        return NoStable(f"{serving} names no stable version (stable is null)")
    folder = root / model_name / str(stable)
    if not (folder / "saved_model.pb").is_file():
        raise InputError(
            f"registry: {serving} names stable version {stable}, but {folder} "
            f"{'holds no saved_model.pb' if folder.is_dir() else 'does not exist'}"
        )
    shutil.copytree(folder, dest, dirs_exist_ok=True)
    return Stable(stable, str(folder))


def _copy_gcs(root: str, model_name: str, dest: Path) -> Stable | NoStable:
    from google.api_core import exceptions

    bucket_name, prefix = _split_gs(root)
    if not bucket_name:
        raise InputError(f"registry: {root!r} names no bucket")
    base = f"{prefix}/{model_name}" if prefix else model_name
    bucket = storage_client().bucket(bucket_name)
    where = f"gs://{bucket_name}/{base}/{SERVING_FILE}"
    try:
        text = bucket.blob(f"{base}/{SERVING_FILE}").download_as_bytes()
    except exceptions.NotFound:
        # No object, or no bucket: a bucket that is missing is a wrong input, not a first model.
        if not bucket.exists():
            raise InputError(f"registry: bucket gs://{bucket_name} does not exist") from None
        return NoStable(f"{where} does not exist: no version of {model_name} deployed yet")
    stable = _parse_serving(text, where)
    if stable is None:
        return NoStable(f"{where} names no stable version (stable is null)")
    version_prefix = f"{base}/{stable}/"
    source = f"gs://{bucket_name}/{version_prefix}"
    blobs = [
        (blob, blob.name[len(version_prefix) :])
        for blob in bucket.list_blobs(prefix=version_prefix)
        if not blob.name.endswith("/")  # folder placeholders
    ]
    if "saved_model.pb" not in {rel for _, rel in blobs}:
        raise InputError(
            f"registry: {where} names stable version {stable}, but {source} "
            f"{'holds no saved_model.pb' if blobs else 'holds no objects'}"
        )
    for blob, rel in blobs:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(target))
    return Stable(stable, source)
