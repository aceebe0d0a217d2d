"""The label before training: its type fits the task, its values fit the task (one pass over
each split's labels), and the classes of a classifier (names and K) as the task contract says:
a TFT vocabulary named exactly like label_key gives them; else K = max train label + 1 and
names "0".."K-1" (binary: "0", "1"). Each problem raises InputError naming the label, the
split, the offending values and their counts. Rows count as they are.

Classes of the eval split that training does not have (a vocabulary's default -1, an id >= K)
fail the run: the model could never predict them, and its eval metrics would be computed
over classes it does not have."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from train_model import tasks
from train_model.inputs import InputError

SHOWN = 10  # offending values listed in a message


@dataclass
class SplitLabels:
    """What one pass over a split's labels keeps: the count of each value (classification),
    or count, sum and sum of squares (regression)."""

    examples: int = 0
    counts: Counter = field(default_factory=Counter)
    total: float = 0.0
    total_sq: float = 0.0
    not_finite: int = 0


@dataclass(frozen=True)
class Labels:
    task: str
    label_key: str
    classes: list[str] | None  # None for regression
    train: SplitLabels
    eval: SplitLabels

    @property
    def num_classes(self) -> int | None:
        return len(self.classes) if self.classes is not None else None

    @property
    def train_mean(self) -> float:
        return self.train.total / self.train.examples if self.train.examples else 0.0


def check_label_feature(feature_spec: dict, label_key: str, task: str) -> None:
    """The label's type fits the task (from the transformed schema: no data read yet)."""
    import tensorflow as tf

    feature = feature_spec[label_key]
    where = f"label_key {label_key!r} (task {task})"
    if not isinstance(feature, tf.io.FixedLenFeature) or list(feature.shape) not in ([], [1]):
        raise InputError(
            f"{where}: the transformed label is {feature}; a label is one value per example "
            "(a FixedLenFeature of shape [] or [1])"
        )
    dtype = feature.dtype
    if dtype == tf.string:
        fix = {
            tasks.REGRESSION: "regression needs a number: parse it to float32 in the "
            "preprocessing_fn",
            tasks.BINARY: "binary needs 0/1: map it with tft.compute_and_apply_vocabulary"
            f"(..., vocab_filename={label_key!r}) in the preprocessing_fn",
            tasks.MULTICLASS: "multiclass needs int64 class ids: map it with "
            f"tft.compute_and_apply_vocabulary(..., vocab_filename={label_key!r})",
        }[task]
        raise InputError(f"{where}: the transformed label is a string; {fix}")
    if task == tasks.MULTICLASS and dtype != tf.int64:
        raise InputError(
            f"{where}: the transformed label is {dtype.name}, not integer class ids; multiclass "
            "needs int64 ids 0..K-1 (tft.compute_and_apply_vocabulary(..., "
            f"vocab_filename={label_key!r}) makes them from class names)"
        )


def summarize(batches: Iterable, task: str) -> SplitLabels:
    import numpy as np

    out = SplitLabels()
    for values in batches:
        out.examples += int(values.size)
        if task == tasks.REGRESSION:
            finite = np.isfinite(values)
            out.not_finite += int(values.size - finite.sum())
            kept = values[finite].astype(np.float64)
            out.total += float(kept.sum())
            out.total_sq += float((kept * kept).sum())
        else:
            uniques, counts = np.unique(values, return_counts=True)
            out.counts.update({_plain(v): int(c) for v, c in zip(uniques, counts, strict=True)})
    return out


def _plain(value):
    """A numpy label value as a Python int when it is integral, else a float."""
    number = float(value)
    return int(number) if number.is_integer() else number


def _listing(counts: dict) -> str:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    shown = ", ".join(f"{v} ({c} row{'s' if c != 1 else ''})" for v, c in items[:SHOWN])
    more = len(items) - SHOWN
    return shown + (f" and {more} more values" if more > 0 else "")


def resolve(
    tft_output, label_key: str, task: str, train: SplitLabels, eval_: SplitLabels
) -> Labels:
    """Checks the label values of both splits against the task; returns the classes."""
    where = f"label_key {label_key!r} (task {task})"
    if not train.examples:
        raise InputError(f"{where}: the train split has no examples")
    if task == tasks.REGRESSION:
        for split, labels in (("train", train), ("eval", eval_)):
            if labels.not_finite:
                raise InputError(
                    f"{where}: {labels.not_finite} {split} labels are NaN or infinite; "
                    "regression needs a finite number in every row"
                )
        return Labels(task, label_key, None, train, eval_)

    vocabulary = _vocabulary(tft_output, label_key)
    if task == tasks.BINARY:
        outside = {v: c for v, c in train.counts.items() if v not in (0, 1)}
        if outside:
            raise InputError(
                f"{where}: a binary label is 0 or 1; the train split also has {_listing(outside)}"
            )
        if len(train.counts) < 2:
            ((only, rows),) = train.counts.items()
            raise InputError(
                f"{where}: the train split has only label {only} ({rows} rows); a binary "
                "model needs examples of both 0 and 1"
            )
        classes = vocabulary if vocabulary is not None else ["0", "1"]
        if len(classes) != 2:
            raise InputError(
                f"{where}: the label vocabulary {label_key!r} has {len(classes)} entries "
                f"({', '.join(classes[:SHOWN])}); a binary label has 2 classes"
            )
    else:
        bad = {v: c for v, c in train.counts.items() if not isinstance(v, int) or v < 0}
        if bad:
            raise InputError(
                f"{where}: class ids are integers from 0; the train split has {_listing(bad)}"
            )
        if vocabulary is not None:
            classes = vocabulary
        else:
            classes = [str(i) for i in range(max(train.counts) + 1)]
        if len(classes) < 2:
            source = f"the train split has only class id {max(train.counts)}"
            if vocabulary is not None:
                source = f"the label vocabulary {label_key!r} has {len(classes)} entries"
            raise InputError(f"{where}: {source}; a multiclass model needs 2 classes or more")
        beyond = {v: c for v, c in train.counts.items() if v >= len(classes)}
        if beyond:
            raise InputError(
                f"{where}: the label vocabulary {label_key!r} has {len(classes)} classes "
                f"(ids 0..{len(classes) - 1}); the train split also has {_listing(beyond)}"
            )

    unknown = {v: c for v, c in eval_.counts.items() if v not in range(len(classes))}
    if unknown:
        named = f" ({', '.join(classes[:SHOWN])}{', ...' if len(classes) > SHOWN else ''})"
        raise InputError(
            f"{where}: eval labels outside the training classes, ids 0..{len(classes) - 1}"
            f"{named}: {_listing(unknown)} of {eval_.examples} eval rows. Decision: fail; the "
            "model cannot predict classes it was not trained on, and its eval metrics would "
            "be wrong. Map such values to a training class in the preprocessing_fn (a "
            "vocabulary's default_value of -1 is the usual source) or drop those rows"
        )
    return Labels(task, label_key, classes, train, eval_)


def _vocabulary(tft_output, label_key: str) -> list[str] | None:
    """The entries of the TFT vocabulary named exactly like the label, in id order."""
    if not tft_output.vocabulary_file_by_name(label_key):
        return None
    return [
        e.decode("utf-8", "replace") if isinstance(e, bytes) else str(e)
        for e in tft_output.vocabulary_by_name(label_key)
    ]


def split_metrics(labels: Labels, split: str) -> dict[str, float]:
    """Counts and the baseline a model should beat, for the `metrics` output: binary the
    positive rate (as before); multiclass the accuracy of always answering train's commonest
    class; regression the label mean and the RMSE of always answering train's mean."""
    s = labels.train if split == "train" else labels.eval
    out: dict[str, float] = {f"{split}_examples": s.examples}
    n = s.examples or 1  # an empty eval split: rates of 0
    if labels.task == tasks.BINARY:
        out[f"{split}_positive_rate"] = round(s.counts.get(1, 0) / n, 6)
    elif labels.task == tasks.MULTICLASS:
        majority = labels.train.counts.most_common(1)[0][0]
        out[f"{split}_majority_class_accuracy"] = round(s.counts.get(majority, 0) / n, 6)
    else:
        m = labels.train_mean
        mse = max(0.0, s.total_sq / n - 2 * m * s.total / n + m * m)
        out[f"{split}_label_mean"] = round(s.total / n, 6)
        out[f"{split}_mean_baseline_rmse"] = round(math.sqrt(mse), 6)
    return out
