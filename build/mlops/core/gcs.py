"""Cloud Storage: the client (anonymous against an emulator when STORAGE_EMULATOR_HOST is
set) and gs:// URIs split into bucket and prefix."""

from __future__ import annotations

import os


def storage_client(project: str | None = None):
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=project or "local", credentials=AnonymousCredentials())
    return storage.Client(project=project)


def split_gs(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("gs://").partition("/")
    return bucket, prefix.strip("/")
