"""What each task means for the model: its output layer, loss, metrics, the label's dtype in
training and the tuning objective. The one place that says binary, multiclass or regression.

No TensorFlow at import time (main imports TASKS for the input check)."""

from __future__ import annotations

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"
TASKS = (BINARY, MULTICLASS, REGRESSION)

# (name, direction) the search maximises or minimises; the name is a Keras history key of the
# metrics below (val_loss for regression: the loss the model is fitted with, MSE by default).
OBJECTIVES = {
    BINARY: ("val_auc", "max"),
    MULTICLASS: ("val_sparse_categorical_accuracy", "max"),
    REGRESSION: ("val_loss", "min"),
}


def output_units(task: str, num_classes: int | None) -> int:
    """Width of the model's output: 1 (binary: P(class 1); regression: the value), or K."""
    return num_classes if task == MULTICLASS else 1


def label_dtype(task: str) -> str:
    """The dtype the label is fed to the loss with: class ids stay integers for the sparse
    categorical loss; binary cross-entropy and MSE take floats."""
    return "int64" if task == MULTICLASS else "float32"


def head(task: str, num_classes: int | None, x, bias: float = 0.0):
    """The output layer over x: one sigmoid unit, K softmax units or one linear unit (its bias
    starting at `bias`, the train label's mean: training starts from the mean predictor)."""
    import tf_keras as keras

    if task == BINARY:
        return keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    if task == MULTICLASS:
        return keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.layers.Dense(
        1, name="prediction", bias_initializer=keras.initializers.Constant(bias)
    )(x)


def loss(task: str):
    import tf_keras as keras

    if task == BINARY:
        return keras.losses.BinaryCrossentropy()
    if task == MULTICLASS:
        return keras.losses.SparseCategoricalCrossentropy()
    return keras.losses.MeanSquaredError()


def metrics(task: str) -> list:
    """Fresh metric objects; their names are the keys of the `metrics` output."""
    import tf_keras as keras

    if task == BINARY:
        return [
            keras.metrics.BinaryAccuracy(name="binary_accuracy"),
            keras.metrics.AUC(name="auc"),
        ]
    if task == MULTICLASS:
        return [keras.metrics.SparseCategoricalAccuracy(name="sparse_categorical_accuracy")]
    return [
        keras.metrics.MeanAbsoluteError(name="mean_absolute_error"),
        keras.metrics.RootMeanSquaredError(name="root_mean_squared_error"),
    ]


def compile_model(model, task: str, learning_rate: float) -> None:
    """Adam with the learning rate, the task's loss and metrics."""
    import tf_keras as keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=loss(task),
        metrics=metrics(task),
    )


def recompile_with_task_metrics(model, task: str) -> None:
    """A model its builder compiled keeps its optimizer and loss; the metrics become the
    task's, so that the `metrics` output and the tuning objective are those of every model."""
    model.compile(optimizer=model.optimizer, loss=model.loss, metrics=metrics(task))
