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


def layout_problem(uri: str | Path, splits: tuple[str, ...] = SPLITS) -> str | None:
    """What keeps uri from being Examples with data in every split of `splits`, in words
    (the caller names its input before it), or None."""
    root = Path(uri)
    if not root.is_dir():
        return f"{uri} is not a folder"
    missing = [s for s in splits if not files(uri, s)]
    if not missing:
        return None
    present = sorted(p.name for p in root.iterdir() if p.is_dir())
    return (
        f"{uri} has no data for split{'(s)' if len(splits) > 1 else ''} {', '.join(missing)} "
        f"(expected {file_pattern(uri, missing[0])}; folders there: "
        f"{', '.join(present) or 'none'})"
    )
