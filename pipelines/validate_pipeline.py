"""A second pipeline from the same shared components: validate new data only (extract, then
TFDV against the schema and the statistics the serving model was trained on). It trains
nothing; its verdict and report say whether the new data is fit, or has drifted enough to
retrain (the continuous-training triggers run it on each new span)."""

from kfp import dsl

from pipelines.component_store import default_store

store = default_store()
extract_data = store.load_component("extract_data")
validate_data = store.load_component("validate_data")


@dsl.pipeline(
    name="validate-new-data",
    description="Extract new data and validate it against the schema and the training data.",
)
def validate_pipeline(
    source: str,
    schema: str,
    previous_statistics_uri: str,
    splits: str = '{"train": 2, "eval": 1}',
    null_markers: str = '[""]',
    drift_numeric_jsd: float = 0.15,
    drift_categorical_linf: float = 0.1,
    beam_args: str = "",
) -> str:
    # New data may come without labels (serving data): no label column is required here.
    extract = extract_data(
        source=source, splits=splits, null_markers=null_markers, beam_args=beam_args
    )
    previous = dsl.importer(artifact_uri=previous_statistics_uri, artifact_class=dsl.Artifact)
    validate = validate_data(
        examples=extract.outputs["examples"],
        schema=schema,
        previous_statistics=previous.output,
        drift_numeric_jsd=drift_numeric_jsd,
        drift_categorical_linf=drift_categorical_linf,
        fail_on_anomalies=False,  # the verdict is the output: this pipeline only reports
        beam_args=beam_args,
    )
    return validate.outputs["decision"]
