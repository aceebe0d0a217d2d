"""The Examples artifact layout shared by the data and model components (TFX's convention):
<uri>/Split-<split>/data_tfrecord-*.gz, gzipped TFRecords of serialized tf.Example."""

from __future__ import annotations

from pathlib import Path

SPLITS = ("train", "eval")


def split_dir(uri: str | Path, split: str) -> Path:
    return Path(uri) / f"Split-{split}"


def file_prefix(uri: str | Path, split: str) -> str:
    """The prefix Beam's WriteToTFRecord shards from."""
    return str(split_dir(uri, split) / "data_tfrecord")


def file_pattern(uri: str | Path, split: str) -> str:
    return str(split_dir(uri, split) / "data_tfrecord-*.gz")


def files(uri: str | Path, split: str) -> list[Path]:
    return sorted(split_dir(uri, split).glob("data_tfrecord-*.gz"))
