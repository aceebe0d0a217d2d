"""Uploads a compiled pipeline to <bucket>/<pipeline>/<commit>/: the package, its IR YAML
(Vertex AI takes the YAML itself) and the resolved settings it was deployed with.

gs:// buckets go through google-cloud-storage (STORAGE_EMULATOR_HOST points it at an
emulator); any other bucket is a local directory. What a commit uploaded never changes:
uploading the same bytes again is a no-op, different bytes for the same commit an error."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from mlops.core.errors import BuildError
from mlops.core.gcs import split_gs, storage_client


@dataclass(frozen=True)
class Uploaded:
    uri: str
    action: str  # "uploaded" | "unchanged"


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


class Destination:
    """Where one environment's packages go; `put` is idempotent per object."""

    def __init__(self, bucket: str, env: str, deadline_s: float = 30.0):
        self.bucket_uri = bucket.rstrip("/")
        self.env = env
        self.deadline_s = deadline_s
        self._bucket = None

    def _gcs_bucket(self):
        if self._bucket is None:
            name, self._prefix = split_gs(self.bucket_uri)
            self._bucket = storage_client().bucket(name)
        return self._bucket

    def put(self, rel: str, data: bytes) -> Uploaded:
        if self.bucket_uri.startswith("gs://"):
            return self._put_gcs(rel, data)
        return self._put_local(rel, data)

    def _put_local(self, rel: str, data: bytes) -> Uploaded:
        path = Path(self.bucket_uri) / rel
        if path.is_file():
            if path.read_bytes() == data:
                return Uploaded(str(path), "unchanged")
            raise BuildError(f"{path} already holds different content for this commit")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return Uploaded(str(path), "uploaded")

    def _put_gcs(self, rel: str, data: bytes) -> Uploaded:
        from google.api_core import exceptions
        from google.cloud.storage.retry import DEFAULT_RETRY

        bucket = self._gcs_bucket()
        name = f"{self._prefix}/{rel}" if self._prefix else rel
        uri = f"gs://{bucket.name}/{name}"
        retry = DEFAULT_RETRY.with_deadline(self.deadline_s).with_delay(initial=0.2, maximum=5)
        blob = bucket.blob(name)
        try:
            existing = bucket.get_blob(name, retry=retry)
            if existing is None:
                # Create-only, so a concurrent deploy of the same commit cannot replace it
                # (the emulator ignores the precondition; Cloud Storage enforces it).
                blob.upload_from_string(data, if_generation_match=0, retry=retry)
                return Uploaded(uri, "uploaded")
            if existing.md5_hash == _md5_b64(data):
                return Uploaded(uri, "unchanged")
            raise BuildError(f"{uri} already holds different content for this commit")
        except exceptions.PreconditionFailed:
            raise BuildError(f"{uri} was uploaded concurrently; deploy again") from None
        except exceptions.NotFound as e:
            raise BuildError(f"{self.where}: bucket gs://{bucket.name} does not exist") from e
        except (exceptions.Unauthorized, exceptions.Forbidden) as e:
            raise BuildError(
                f"{self.where}: Cloud Storage refused the credentials for {uri} ({e.code})"
            ) from e
        except (exceptions.GoogleAPIError, OSError) as e:
            # RetryError, persistent 5xx, connection refused: all after the retries.
            raise BuildError(f"{self.where}: uploading {uri} failed after retries: {e}") from e

    @property
    def where(self) -> str:
        host = os.environ.get("STORAGE_EMULATOR_HOST", "storage.googleapis.com")
        return f"environment {self.env!r} (Cloud Storage at {host})"


def upload_pipeline(
    dest: Destination, pipeline: str, commit: str, package: Path, ir_yaml: str, settings_json: str
) -> dict[str, Uploaded]:
    """The three objects of one deployed commit; returns what happened to each."""
    folder = f"{pipeline}/{commit}"
    return {
        "package": dest.put(f"{folder}/{package.name}", package.read_bytes()),
        "pipeline_yaml": dest.put(f"{folder}/pipeline.yaml", ir_yaml.encode()),
        "settings": dest.put(f"{folder}/settings.json", settings_json.encode()),
    }
