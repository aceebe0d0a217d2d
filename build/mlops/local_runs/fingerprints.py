"""Content fingerprints for cache keys: what a file, a folder, a glob or a gs:// prefix holds,
never where it is. A file rewritten in place gets a new fingerprint; a copy elsewhere the same.

Local files are hashed once per process for as long as their size, modification time and inode
stay the same (`Fingerprints` keeps that memo), so a run that fingerprints an artifact as one
task's output and again as the next task's input reads it once. gs:// objects are not read:
their names, sizes and MD5 (or CRC32C) from the listing stand for their content."""

from __future__ import annotations

import glob as globbing
import hashlib
import os
import threading
from pathlib import Path

GLOB_CHARS = "*?["


class FingerprintError(OSError):
    """A path or prefix that cannot be read; the message names it."""


def short(fingerprint: str | None) -> str:
    """The first hex digits, as people compare fingerprints: sha256:a1b2c3d4e5f6."""
    if not fingerprint:
        return "none"
    algorithm, _, digest = fingerprint.partition(":")
    return f"{digest[:12]}…" if digest else algorithm[:12]


class Fingerprints:
    def __init__(self) -> None:
        self._memo: dict[tuple, str] = {}
        self._lock = threading.Lock()

    def _file(self, path: Path, stat: os.stat_result) -> str:
        memo_key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
        with self._lock:
            known = self._memo.get(memo_key)
        if known is not None:
            return known
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        with self._lock:
            self._memo[memo_key] = digest
        return digest

    def local(self, path: Path | str) -> str:
        """sha256 of a file's bytes, or of a folder's relative paths and file digests."""
        path = Path(path)
        try:
            stat = path.stat()
        except OSError as e:
            raise FingerprintError(f"{path}: cannot be read ({e.strerror or e})") from e
        if not path.is_dir():
            return "sha256:" + self._file(path, stat)
        digest = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{f.relative_to(path)}\0{self._file(f, f.stat())}\n".encode())
        return "sha256:" + digest.hexdigest()

    def pattern(self, pattern: str) -> str:
        """The files a glob matches, by their paths relative to the glob's fixed part."""
        matches = sorted(globbing.glob(pattern, recursive=True))
        if not matches:
            raise FingerprintError(f"{pattern}: matches no file")
        base = pattern.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
        digest = hashlib.sha256()
        for match in matches:
            digest.update(f"{match[len(base) :]}\0{self.local(match)}\n".encode())
        return "sha256:" + digest.hexdigest()

    def gcs(self, uri: str) -> str:
        """The objects under a gs:// prefix (or the one object at that name)."""
        from mlops.core.gcs import split_gs, storage_client

        bucket, prefix = split_gs(uri)
        try:
            blobs = sorted(storage_client().list_blobs(bucket, prefix=prefix), key=lambda b: b.name)
        except Exception as e:  # the client's errors: no bucket, no credentials, no network
            raise FingerprintError(f"{uri}: cannot be listed ({e})") from e
        if not blobs:
            raise FingerprintError(f"{uri}: no such object or prefix")
        digest = hashlib.sha256()
        for blob in blobs:
            content = blob.md5_hash or blob.crc32c or f"generation {blob.generation}"
            digest.update(f"{blob.name[len(prefix) :]}\0{blob.size}\0{content}\n".encode())
        return "gcs-md5:" + digest.hexdigest()

    def of_value(self, value: str) -> str:
        """The content a path-like parameter value names: gs://..., a glob, a file or folder."""
        if value.startswith("gs://"):
            return self.gcs(value)
        if any(c in value for c in GLOB_CHARS):
            return self.pattern(value)
        return self.local(value)


def names_content(value: object) -> bool:
    """Whether a parameter value names data a step reads: an absolute local path that exists
    (or a glob matching something), or a gs:// URI. Relative strings are not read as paths:
    a step runs in a container, where they would not resolve to the host's files."""
    if not isinstance(value, str) or not value or "\n" in value or len(value) > 4096:
        return False
    if value.startswith("gs://"):
        return True
    if not value.startswith("/"):
        return False
    if any(c in value for c in GLOB_CHARS):
        return bool(globbing.glob(value, recursive=True))
    return os.path.exists(value)
