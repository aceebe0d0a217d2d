"""Statistics: computed per split of an Examples artifact with TFDV on Beam, written as TFX
does (<uri>/Split-<split>/FeatureStats.pb, a binary DatasetFeatureStatisticsList), and read
back from a statistics artifact (a previous run's, or serving data's)."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from mlops_runtime import examples

NO_STATISTICS_MARKER = "NO_STATISTICS"
STATS_FILE = "FeatureStats.pb"
MAX_TYPE_PROBLEMS = 10


class InputError(Exception):
    """Input the step cannot work with; the message names the input and what is wrong."""


@dataclass(frozen=True)
class TypeProblem:
    """A tf.Example feature whose value kind differs from the schema's type (or, for a
    feature the schema does not know, from the kind the feature had first)."""

    split: str
    file: str
    record: int  # 0-based index in the file
    feature: str
    expected: str
    found: str
    value: str

    def __str__(self) -> str:
        return (
            f"{self.file} record {self.record}: feature {self.feature!r} holds {self.found} "
            f"{self.value}, expected {self.expected}"
        )


def stats_path(uri: str | Path, split: str) -> Path:
    return examples.split_dir(uri, split) / STATS_FILE


def beam_path(path: str | Path) -> str:
    """Kubeflow Pipelines mounts gs://bucket/x at /gcs/bucket/x for the container; Beam
    workers elsewhere (Dataflow) need the gs:// form."""
    path = str(path)
    return "gs://" + path[len("/gcs/") :] if path.startswith("/gcs/") else path


def discover_splits(uri: str | Path) -> list[str]:
    """The splits of an Examples artifact, the usual ones (train, eval) first."""
    root = Path(uri)
    if not root.is_dir():
        raise InputError(f"--examples {uri}: no such folder")
    found = sorted(p.name[len("Split-") :] for p in root.glob("Split-*") if p.is_dir())
    if not found:
        raise InputError(
            f"--examples {uri}: no Split-* folders; expected the Examples layout "
            f"Split-<split>/data_tfrecord-*.gz (found: {sorted(p.name for p in root.iterdir())})"
        )
    splits = [s for s in examples.SPLITS if s in found] + [
        s for s in found if s not in examples.SPLITS
    ]
    for split in splits:
        if not examples.files(uri, split):
            raise InputError(
                f"--examples {uri}: Split-{split} holds no data_tfrecord-*.gz files "
                f"(pattern {examples.file_pattern(uri, split)})"
            )
    return splits


def _run_pipeline(examples_uri, splits, out_uri, schema, beam_args) -> None:
    import apache_beam as beam
    import tensorflow_data_validation as tfdv
    from mlops_runtime.beam import pipeline_options
    from tfx_bsl.public import tfxio

    options = tfdv.StatsOptions(schema=schema)
    beam_options = pipeline_options(beam_args, [examples_uri], "validate_data")
    with beam.Pipeline(options=beam_options) as p:
        for split in splits:
            out = stats_path(out_uri, split)
            out.parent.mkdir(parents=True, exist_ok=True)
            _ = (
                p
                | f"Read[{split}]"
                >> tfxio.TFExampleRecord(
                    beam_path(examples.file_pattern(examples_uri, split)),
                    telemetry_descriptors=["validate_data"],
                ).BeamSource()
                | f"Statistics[{split}]" >> tfdv.GenerateStatistics(options)
                | f"Write[{split}]" >> tfdv.WriteStatisticsToBinaryFile(beam_path(out))
            )


def generate(examples_uri, splits, out_uri, schema, beam_args: str | None):
    """Computes the statistics of each split into out_uri in one Beam pipeline.

    Returns ({split: DatasetFeatureStatisticsList}, {split: [TypeProblem]}): a split whose
    examples cannot be decoded (a feature of another kind than the schema says, in some of
    them) has no statistics but its problems, for the caller to record as anomalies."""
    import tensorflow_data_validation as tfdv

    try:
        _run_pipeline(examples_uri, splits, out_uri, schema, beam_args)
        problems: dict[str, list[TypeProblem]] = {}
    except Exception as e:  # Beam wraps the decoder's errors in its own types
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        # Bad data: read the examples to say which file, record, feature and value.
        problems = (
            find_type_problems(examples_uri, splits, schema) if _DATA_ERROR.search(str(e)) else {}
        )
        if not problems:
            raise InputError(
                f"computing the statistics of --examples {examples_uri} failed: {message}"
            ) from e
        for split in problems:  # nothing half-written stays behind
            shutil.rmtree(stats_path(out_uri, split).parent, ignore_errors=True)
        good = [s for s in splits if s not in problems]
        if good:
            _run_pipeline(examples_uri, good, out_uri, schema, beam_args)
    stats = {
        split: tfdv.load_stats_binary(str(stats_path(out_uri, split)))
        for split in splits
        if split not in problems
    }
    return stats, problems


_DATA_ERROR = re.compile(
    r"wrong type|decompress|parse example|DATA_LOSS|corrupt|crc|truncated|decode", re.I
)
_KINDS = {1: "bytes_list", 2: "int64_list", 3: "float_list"}  # schema FeatureType -> kind


def _shown(feature, kind: str) -> str:
    values = list(getattr(feature, kind).value)[:3]
    shown = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values]
    text = repr(shown[0] if len(shown) == 1 else shown)
    return text if len(text) <= 80 else text[:77] + "..."


def find_type_problems(examples_uri, splits, schema) -> dict[str, list[TypeProblem]]:
    """Reads the examples to find the ones whose features have another value kind than
    the schema's type (what makes decoding fail). Only run when decoding failed."""
    import tensorflow as tf

    expected = {f.name: _KINDS[f.type] for f in schema.feature if f.type in _KINDS}
    problems: dict[str, list[TypeProblem]] = {}
    for split in splits:
        seen = dict(expected)
        for path in examples.files(examples_uri, split):
            dataset = tf.data.TFRecordDataset(str(path), compression_type="GZIP")
            try:
                for index, record in enumerate(dataset.as_numpy_iterator()):
                    example = tf.train.Example.FromString(record)
                    for name, feature in example.features.feature.items():
                        kind = feature.WhichOneof("kind")
                        if kind is None:
                            continue
                        want = seen.setdefault(name, kind)
                        if kind != want:
                            found = problems.setdefault(split, [])
                            found.append(
                                TypeProblem(
                                    split, str(path), index, name, want, kind, _shown(feature, kind)
                                )
                            )
                            if len(found) >= MAX_TYPE_PROBLEMS:
                                break
                    if len(problems.get(split, ())) >= MAX_TYPE_PROBLEMS:
                        break
            except tf.errors.OpError as e:
                # TF's message, without its op and function names
                reason = re.sub(r"\{\{.*?\}\}|\[Op:.*", "", e.message).strip()
                raise InputError(
                    f"--examples: {path} is not a gzipped TFRecord file of tf.Examples: {reason}"
                ) from e
            except Exception as e:  # a record that is not a tf.Example
                if "DecodeError" not in type(e).__name__:
                    raise
                raise InputError(f"--examples: {path}: a record is not a tf.Example: {e}") from e
    return problems


def _load(path: Path, flag: str):
    import tensorflow_data_validation as tfdv
    from google.protobuf.message import DecodeError

    try:
        stats = tfdv.load_stats_binary(str(path))
    except DecodeError:
        try:  # the TFRecord form that tfdv.generate_statistics_from_* writes
            stats = tfdv.load_statistics(str(path))
        except Exception as e:
            raise InputError(
                f"--{flag} {path}: not a DatasetFeatureStatisticsList (binary or TFRecord): {e}"
            ) from e
    if not stats.datasets:
        raise InputError(f"--{flag} {path}: holds no statistics (no datasets)")
    return stats


def read(uri: str | Path, split: str, flag: str):
    """The statistics of `split` in a statistics artifact: <uri>/Split-<split>/FeatureStats.pb,
    else its only FeatureStats.pb, else the file itself when uri is a file. None for an
    artifact marked NO_STATISTICS_MARKER: a pipeline passes one when there is nothing to
    compare with yet (the first run), since an importer always needs some artifact."""
    root = Path(uri)
    if root.is_file():
        return _load(root, flag)
    if not root.is_dir():
        raise InputError(f"--{flag} {uri}: no such file or folder")
    exact = stats_path(root, split)
    if exact.is_file():
        return _load(exact, flag)
    found = sorted(root.glob(f"**/{STATS_FILE}"))
    if len(found) == 1:
        return _load(found[0], flag)
    if not found and (root / NO_STATISTICS_MARKER).is_file():
        return None
    listed = ", ".join(str(p.relative_to(root)) for p in found) or "none"
    raise InputError(
        f"--{flag} {uri}: no Split-{split}/{STATS_FILE}, and not exactly one {STATS_FILE} "
        f"to use instead (found: {listed})"
    )
