"""The continuous-training pipeline (Figure 4 of the reference architecture), composed from
the shared components through the ComponentStore:

    extract_data -> validate_data ---------+
                 -> transform_data -> train_model -> evaluate_model -> deploy_model
    resolve_baseline (the registry's stable version) --^

Validation and transformation both read the extracted data and run side by side, as TFX's
ExampleValidator and Transform do; training waits for both. Transform's output is used only if
validation passes, so no model is trained, evaluated or deployed from data that is not fit.

Caching: every step is cacheable (its inputs decide its outputs) except the two that touch the
model registry, state that is none of their inputs: resolve_baseline reads the serving model
when the run starts and hands it to evaluate_model as an input artifact (so a rollback changes
the evaluation's inputs), and deploy_model writes the registry.

Gates: kfp.local (2.13) cannot run `dsl.If`, and on a cluster a `dsl.If` on a container's output
would be the only place a decision lives. So each gate is inside the component that guards the
next step, and takes the same decision wherever the step runs:
- data fit? validate_data runs with fail_on_anomalies=true: on any anomaly (schema, drift
  against the previous statistics) it writes its report and fails, so training and everything
  after it never run;
- model blessed? deploy_model deploys only a model whose blessing holds BLESSED, and otherwise
  succeeds having changed nothing.

Every parameter comes from settings.yaml for the chosen environment
(mlops.core.pipeline_parameters);
the defaults here are only what a run without settings would use."""

from kfp import dsl

from pipelines.component_store import default_store

store = default_store()
extract_data = store.load_component("extract_data")
validate_data = store.load_component("validate_data")
transform_data = store.load_component("transform_data")
train_model = store.load_component("train_model")
evaluate_model = store.load_component("evaluate_model")
deploy_model = store.load_component("deploy_model")
resolve_baseline = store.load_component("resolve_baseline")


@dsl.pipeline(
    name="continuous-training",
    description="Extract, validate, transform, train, evaluate against the serving model, "
    "and deploy a blessed model as a canary.",
)
def ct_pipeline(
    source: str,
    schema: str,
    transform_module: str,
    previous_statistics_uri: str,
    eval_config: str,
    registry: str,
    model_name: str,
    label: str,
    label_key: str,
    task: str,
    model_module: str = "",
    null_markers: str = '[""]',
    check_label_classes: bool = False,
    splits: str = '{"train": 2, "eval": 1}',
    drift_numeric_jsd: float = 0.15,
    drift_categorical_linf: float = 0.1,
    hidden_units: str = "64,32",
    learning_rate: float = 0.001,
    epochs: int = 8,
    batch_size: int = 128,
    tuning_max_trials: int = 0,
    tuning_epochs_per_trial: int = 3,
    canary_percent: int = 10,
    beam_args: str = "",
    evaluator: str = "batched",
):
    extract = extract_data(
        source=source,
        splits=splits,
        null_markers=null_markers,
        label=label,  # rows without one are not trained or evaluated on
        check_label_classes=check_label_classes,
        beam_args=beam_args,
    )
    # The statistics of the data the serving model was trained on (or a NO_STATISTICS
    # marker on the first run): the reference for drift.
    previous = dsl.importer(
        artifact_uri=previous_statistics_uri, artifact_class=dsl.Artifact, reimport=False
    )
    validate = validate_data(
        examples=extract.outputs["examples"],
        schema=schema,
        previous_statistics=previous.output,
        drift_numeric_jsd=drift_numeric_jsd,
        drift_categorical_linf=drift_categorical_linf,
        fail_on_anomalies=True,  # the data gate
        beam_args=beam_args,
    )
    transform = transform_data(
        examples=extract.outputs["examples"],
        schema=schema,
        module=transform_module,
        beam_args=beam_args,
    )
    train = train_model(
        transformed_examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        hidden_units=hidden_units,
        learning_rate=learning_rate,
        epochs=epochs,
        batch_size=batch_size,
        tuning_max_trials=tuning_max_trials,
        tuning_epochs_per_trial=tuning_epochs_per_trial,
        label_key=label_key,
        task=task,
        model_module=model_module,  # "": the default wide-and-deep model
        model_name=model_name,
    ).after(validate)  # the data gate: train only on data validation found fit
    # The serving model (or NO_BASELINE before the first one) as an artifact: the baseline.
    baseline = resolve_baseline(registry=registry, model_name=model_name)
    baseline.set_caching_options(False)  # it reads the registry, state that is no input
    evaluate = evaluate_model(
        model=train.outputs["model"],
        examples=extract.outputs["examples"],
        eval_config=eval_config,
        baseline_model=baseline.outputs["baseline"],
        beam_args=beam_args,
        evaluator=evaluator,  # batched, or tfma: TFMA's Beam pipeline
    )
    deploy = deploy_model(
        model=train.outputs["model"],
        blessing=evaluate.outputs["blessing"],  # the model gate
        registry=registry,
        model_name=model_name,
        canary_percent=canary_percent,
    )
    deploy.set_caching_options(False)  # it writes the registry
