"""The bare library calls the data components are measured against (mlops.bench.data): the
same work on the same data with nothing of the components' own: no input checks, reports,
metrics or split hashing. Run as `python -m mlops.bench.data_bare STEP ...`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def extract(csv: str, out: str, beam_args: str | None) -> None:
    """TFX's CsvExampleGen core: tfx_bsl's CSV decoder with type inference, then
    RecordBatch -> tf.Example, written as gzipped TFRecords (one split)."""
    import csv as csv_module

    import apache_beam as beam
    from mlops_runtime.beam import pipeline_options
    from tfx_bsl.coders import csv_decoder, example_coder

    with open(csv, newline="") as f:
        columns = next(csv_module.reader(f))
    with beam.Pipeline(options=pipeline_options(beam_args, [csv], "bare extract")) as p:
        (
            p
            | beam.io.ReadFromText(csv, skip_header_lines=1)
            | csv_decoder.CSVToRecordBatch(
                column_names=columns, desired_batch_size=1000, skip_blank_lines=True
            )
            | beam.FlatMap(example_coder.RecordBatchToExamples)
            | beam.io.WriteToTFRecord(f"{out}/data_tfrecord", file_name_suffix=".gz")
        )


def statistics(examples: str, out: str, beam_args: str | None) -> None:
    """tfdv.generate_statistics_from_tfrecord on each split."""
    import tensorflow_data_validation as tfdv
    from mlops_runtime import examples as layout
    from mlops_runtime.beam import pipeline_options

    for split in layout.SPLITS:
        tfdv.generate_statistics_from_tfrecord(
            data_location=layout.file_pattern(examples, split),
            output_path=f"{out}/{split}.pb",
            pipeline_options=pipeline_options(beam_args, [examples], "bare statistics"),
        )


def transform(examples: str, schema: str, module: str, out: str, beam_args: str | None) -> None:
    """tft_beam.AnalyzeAndTransformDataset on train, TransformDataset on eval, written."""
    import importlib
    import tempfile

    import apache_beam as beam
    import tensorflow_data_validation as tfdv
    import tensorflow_transform.beam as tft_beam
    from mlops_runtime import examples as layout
    from mlops_runtime.beam import pipeline_options
    from tfx_bsl.public import tfxio

    # Imported by name from a folder on the path the Beam workers inherit: they unpickle
    # preprocessing_fn by reference to its module.
    folder = str(Path(module).resolve().parent)
    sys.path.insert(0, folder)
    os.environ["PYTHONPATH"] = os.pathsep.join([folder, os.environ.get("PYTHONPATH", "")])
    user_module = importlib.import_module(Path(module).stem)
    raw_schema = tfdv.load_schema_text(schema)
    with beam.Pipeline(options=pipeline_options(beam_args, [examples], "bare transform")) as p:
        with tft_beam.Context(temp_dir=tempfile.mkdtemp()):
            data = {}
            for split in layout.SPLITS:
                source = tfxio.TFExampleRecord(
                    file_pattern=layout.file_pattern(examples, split), schema=raw_schema
                )
                data[split] = (
                    p | f"Read{split}" >> source.BeamSource(),
                    source.TensorAdapterConfig(),
                )
            (train, train_meta), transform_fn = data["train"] | tft_beam.AnalyzeAndTransformDataset(
                user_module.preprocessing_fn, output_record_batches=True
            )
            eval_data, _ = (data["eval"], transform_fn) | tft_beam.TransformDataset(
                output_record_batches=True
            )
            for name, batches in (("train", train), ("eval", eval_data)):
                _ = (
                    batches
                    | f"ToExamples{name}" >> beam.FlatMapTuple(record_batch_to_examples)
                    | f"Write{name}"
                    >> beam.io.WriteToTFRecord(
                        f"{out}/{name}/data_tfrecord", file_name_suffix=".gz"
                    )
                )
            _ = transform_fn | tft_beam.WriteTransformFn(f"{out}/transform_graph")


def record_batch_to_examples(batch, _unused_metadata):
    # Module level, so Beam's workers unpickle it by reference.
    from tfx_bsl.coders import example_coder

    return example_coder.RecordBatchToExamples(batch)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("extract")
    p.add_argument("--csv", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("statistics")
    p.add_argument("--examples", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("transform")
    p.add_argument("--examples", required=True)
    p.add_argument("--schema", required=True)
    p.add_argument("--module", required=True)
    p.add_argument("--out", required=True)
    for p in sub.choices.values():
        p.add_argument("--beam-args", default=None)
    args = parser.parse_args(argv)
    if args.step == "extract":
        extract(args.csv, args.out, args.beam_args)
    elif args.step == "statistics":
        statistics(args.examples, args.out, args.beam_args)
    else:
        transform(args.examples, args.schema, args.module, args.out, args.beam_args)


if __name__ == "__main__":
    main()
