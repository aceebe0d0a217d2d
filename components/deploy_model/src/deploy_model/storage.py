"""Where the model registry keeps its files: a local directory or a gs:// prefix, behind one
small interface (read/write one object, list sub-folders, copy a folder in and out).

Writes of small objects are conditional on a token of what the writer read (`None`: the
object must not exist yet), so two writers cannot both win: locally the token is the file's
(inode, mtime, size) under an exclusive lock; on Cloud Storage it is the object's generation,
sent as the `ifGenerationMatch` precondition of one upload."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Conflict(RuntimeError):
    """A conditional write lost: the object changed (or appeared) since it was read."""


Token = Any  # what `read` returns beside the data, passed back to `write`


class LocalStore:
    def __init__(self, root: str):
        self.root = Path(root)

    def uri(self, rel: str) -> str:
        return str(self.root / rel)

    def read(self, rel: str) -> tuple[bytes | None, Token]:
        path = self.root / rel
        try:
            with path.open("rb") as f:
                st = os.fstat(f.fileno())
                return f.read(), (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            return None, None

    def token(self, rel: str) -> Token:
        try:
            st = os.stat(self.root / rel)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def write(self, rel: str, data: bytes, if_token: Token | str = "any") -> None:
        """Replaces the file atomically (temp file + os.replace): readers see the old or the
        new content, never a part. if_token: the token read before, None (must be absent) or
        "any" (unconditional). Call inside `lock()` for read-modify-write sequences."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if if_token != "any" and self.token(rel) != if_token:
            raise Conflict(f"{path} changed since it was read")
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; a serving container reads it as uid 1000
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def lock(self, rel: str) -> Iterator[None]:
        """An exclusive lock for read-modify-write on this machine (flock on rel/.lock)."""
        folder = self.root / rel
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / ".lock").open("a") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def list_dirs(self, rel: str) -> list[str]:
        folder = self.root / rel
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir())

    def put_dir(self, local_dir: Path, rel: str) -> None:
        """Copies local_dir to rel, which must not exist: staged beside it, then renamed, so a
        version folder is either absent or complete."""
        dest = self.root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.staging-", dir=dest.parent))
        try:
            shutil.copytree(local_dir, staging, dirs_exist_ok=True)
            os.chmod(staging, 0o755)
            os.rename(staging, dest)  # fails if dest exists and is not empty
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def exists(self, rel: str) -> bool:
        return (self.root / rel).exists()

    def local_dir(self, rel: str, cache: Path | None = None) -> Path:
        """A local folder with rel's files: the folder itself."""
        return self.root / rel


def split_gs(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("gs://").partition("/")
    return bucket, prefix.strip("/")


def storage_client():
    """A google-cloud-storage client; anonymous on an emulator (STORAGE_EMULATOR_HOST)."""
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project="local", credentials=AnonymousCredentials())
    return storage.Client()


class GcsStore:
    def __init__(self, root: str, client=None):
        self.bucket_name, self.prefix = split_gs(root)
        if not self.bucket_name:
            raise ValueError(f"{root!r} names no bucket")
        self._client = client
        self._bucket = None

    @property
    def bucket(self):
        if self._bucket is None:
            self._bucket = (self._client or storage_client()).bucket(self.bucket_name)
        return self._bucket

    def _name(self, rel: str) -> str:
        return f"{self.prefix}/{rel}".strip("/") if self.prefix else rel.strip("/")

    def uri(self, rel: str) -> str:
        return f"gs://{self.bucket_name}/{self._name(rel)}"

    def read(self, rel: str) -> tuple[bytes | None, Token]:
        blob = self.bucket.get_blob(self._name(rel))
        if blob is None:
            return None, None
        # The bytes of exactly the generation read: a newer one fails the download (412).
        from google.api_core import exceptions

        generation = blob.generation  # read first: the download may refresh the properties
        try:
            return blob.download_as_bytes(if_generation_match=generation), generation
        except exceptions.PreconditionFailed:
            return self.read(rel)

    def token(self, rel: str) -> Token:
        blob = self.bucket.get_blob(self._name(rel))
        return None if blob is None else blob.generation

    def write(self, rel: str, data: bytes, if_token: Token | str = "any") -> None:
        """One upload; if_token: the generation read (None: the object must not exist)."""
        from google.api_core import exceptions

        blob = self.bucket.blob(self._name(rel))
        kwargs = {} if if_token == "any" else {"if_generation_match": if_token or 0}
        try:
            blob.upload_from_string(data, content_type="application/json", **kwargs)
        except exceptions.PreconditionFailed as e:
            raise Conflict(f"{self.uri(rel)} changed since it was read") from e

    @contextlib.contextmanager
    def lock(self, rel: str) -> Iterator[None]:
        # Cloud Storage has no locks: the generation preconditions of `write` decide.
        yield

    def list_dirs(self, rel: str) -> list[str]:
        prefix = self._name(rel) + "/"
        it = self.bucket.client.list_blobs(self.bucket, prefix=prefix, delimiter="/")
        for _ in it.pages:  # the prefixes fill in as the pages are read
            pass
        return sorted(p[len(prefix) :].strip("/") for p in it.prefixes)

    def exists(self, rel: str) -> bool:
        name = self._name(rel)
        if self.bucket.get_blob(name) is not None:
            return True
        return any(True for _ in self.bucket.client.list_blobs(self.bucket, prefix=name + "/"))

    def put_dir(self, local_dir: Path, rel: str) -> None:
        for path in sorted(Path(local_dir).rglob("*")):
            if path.is_file():
                name = self._name(f"{rel}/{path.relative_to(local_dir).as_posix()}")
                self.bucket.blob(name).upload_from_filename(str(path))

    def local_dir(self, rel: str, cache: Path | None = None) -> Path:
        """Downloads rel's objects into cache/rel (a fresh temporary folder if cache is None);
        a finished download is reused (marked by a .complete file)."""
        dest = Path(cache or tempfile.mkdtemp(prefix="registry-")) / rel
        if (dest / ".complete").is_file():
            return dest
        prefix = self._name(rel) + "/"
        staging = Path(tempfile.mkdtemp(prefix=".download-", dir=_mkdir(dest.parent)))
        for blob in self.bucket.client.list_blobs(self.bucket, prefix=prefix):
            target = staging / blob.name[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            blob.download_to_filename(str(target))
        (staging / ".complete").touch()
        shutil.rmtree(dest, ignore_errors=True)
        os.rename(staging, dest)
        return dest


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def open_store(root: str):
    """The store of a registry root: gs://bucket/path or a local directory."""
    if root.startswith("gs://"):
        return GcsStore(root)
    return LocalStore(root)
