"""The TFT Beam pipeline: analyse the train split with the preprocessing_fn, transform the
train and eval splits with the result, write the transformed tf.Examples in the Examples layout
and the transform graph (TFT's transform_fn/ and transformed_metadata/, plus the raw schema in
metadata/ so that TFTransformOutput.raw_feature_spec() works for serving signatures).

Imported by main.run only, so the heavy imports at the top stay out of the contract check."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import apache_beam as beam
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    StandardOptions,
)
from mlops_runtime import examples
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io
from tfx_bsl.coders import example_coder
from tfx_bsl.public import tfxio

from transform_data import user_wheel
from transform_data.inputs import UserModule

TELEMETRY = ["mlops", "transform_data"]
COUNTER_NAMESPACE = "transform_data"
# Runners whose workers are processes of this machine (they find the module on PYTHONPATH).
LOCAL_RUNNERS = {
    None,
    "directrunner",
    "switchingdirectrunner",
    "bundlebaseddirectrunner",
    "fnapirunner",
    "prismrunner",
}


def beam_path(path: str | Path) -> str:
    """Vertex AI Pipelines hands out artifact paths on its Cloud Storage FUSE mount
    (/gcs/BUCKET/...); Beam workers elsewhere (Dataflow) reach the same data as gs://."""
    path = str(path)
    return "gs://" + path[len("/gcs/") :] if path.startswith("/gcs/") else path


class EncodeRecordBatch(beam.DoFn):
    """(RecordBatch, passthrough features) from TFT -> serialized tf.Examples, counted."""

    def __init__(self, split: str):
        super().__init__()
        self._split = split

    def setup(self):
        self._encoder = example_coder.RecordBatchToExamplesEncoder()
        self._rows = beam.metrics.Metrics.counter(COUNTER_NAMESPACE, f"{self._split}_rows")

    def process(self, batch_and_passthrough):
        record_batch = batch_and_passthrough[0]
        self._rows.inc(record_batch.num_rows)
        yield from self._encoder.encode(record_batch)


def _counter(result, name: str) -> int:
    counters = result.metrics().query(
        MetricsFilter().with_namespace(COUNTER_NAMESPACE).with_name(name)
    )["counters"]
    total = 0
    for c in counters:
        value = c.committed if c.committed is not None else c.attempted
        total += value or 0
    return int(total)


def with_module_package(beam_args: list[str], user_module: UserModule, out_dir: Path):
    """beam_args, plus the user module as an --extra_package when workers run elsewhere."""
    runner = PipelineOptions(beam_args).view_as(StandardOptions).runner
    if (runner.lower() if isinstance(runner, str) else runner) in LOCAL_RUNNERS:
        return list(beam_args)
    wheel = user_wheel.build(user_module.files, out_dir)
    return [*beam_args, f"--extra_package={wheel}"]


def run(
    examples_uri: str,
    schema,
    user_module: UserModule,
    transformed_examples_uri: str,
    transform_graph_uri: str,
    beam_args: list[str],
) -> dict[str, int]:
    """Runs the pipeline; returns the rows transformed per split ({"train_rows": n, ...})."""
    local_temp = tempfile.mkdtemp(prefix="tft-")
    options = PipelineOptions(
        with_module_package(beam_args, user_module, Path(local_temp) / "packages")
    )
    temp_location = options.view_as(GoogleCloudOptions).temp_location
    if temp_location:
        temp_dir = os.path.join(temp_location, f"tft-{uuid.uuid4().hex}")
    else:
        temp_dir = os.path.join(local_temp, "tft")
    preprocessing_fn = user_module.preprocessing_fn

    transform_graph = beam_path(transform_graph_uri)
    train = examples.SPLITS[0]
    try:
        pipeline = beam.Pipeline(options=options)
        with tft_beam.Context(temp_dir=temp_dir):
            readers = {
                split: tfxio.TFExampleRecord(
                    file_pattern=beam_path(examples.file_pattern(examples_uri, split)),
                    schema=schema,
                    telemetry_descriptors=TELEMETRY,
                )
                for split in examples.SPLITS
            }
            # Each split is read where it is used: the analysis reads train once, the
            # transformation reads it again. One read feeding both would hold every train row
            # in memory until the analysis (the transformation's side input) is done, so the
            # peak memory would grow with the data.
            def source(split: str, step: str):
                data = pipeline | f"{step}Read{split.title()}" >> readers[split].BeamSource()
                return data, readers[split].TensorAdapterConfig()

            transform_fn = source(train, "Analyze") | "AnalyzeTrain" >> tft_beam.AnalyzeDataset(
                preprocessing_fn
            )
            transformed = {
                split: (
                    (source(split, "Transform"), transform_fn)
                    | f"Transform{split.title()}"
                    >> tft_beam.TransformDataset(output_record_batches=True)
                )[0]
                for split in examples.SPLITS
            }

            for split, data in transformed.items():
                _ = (
                    data
                    | f"Encode{split.title()}" >> beam.ParDo(EncodeRecordBatch(split))
                    | f"Write{split.title()}"
                    >> beam.io.WriteToTFRecord(
                        beam_path(examples.file_prefix(transformed_examples_uri, split)),
                        file_name_suffix=".gz",
                        compression_type=CompressionTypes.GZIP,
                    )
                )
            _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(transform_graph)
            result = pipeline.run()
            result.wait_until_finish()
    finally:
        shutil.rmtree(local_temp, ignore_errors=True)

    # The raw schema beside TFT's output, where TFTransformOutput.raw_metadata reads it.
    raw_metadata_dir = os.path.join(transform_graph, "metadata")
    tf.io.gfile.makedirs(raw_metadata_dir)
    metadata_io.write_metadata(dataset_metadata.DatasetMetadata(schema), raw_metadata_dir)
    return {f"{split}_rows": _counter(result, f"{split}_rows") for split in examples.SPLITS}
