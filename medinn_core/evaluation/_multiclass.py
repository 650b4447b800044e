"""Evaluation of a multiclass model (one outcome among several classes).

Discrimination is one-vs-rest: each class against all others, averaged over classes (macro)
or weighted by class size (weighted), with bootstrap intervals from the same resampled patients
for every class. Calibration is also one-vs-rest, per class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from medinn_core.errors import ConfigError, DataError, list_examples
from medinn_core.evaluation._bootstrap import (
    Interval,
    binary_resamples,
    bootstrap_indices,
    check_bootstrap_settings,
    code_counts,
    frame_records,
    identity_indices,
    interval_dict,
    percentile_interval,
    plain_float,
    positions,
    roc_curve_frame,
)
from medinn_core.evaluation._calibration import calibration_bins, calibration_slope_intercept

#: Rows of predicted probabilities may miss 1 by this much (float32 softmax output).
ROW_SUM_TOLERANCE = 1e-3


def _plain(label: Any) -> Any:
    return label.item() if isinstance(label, np.generic) else label


def as_multiclass_inputs(
    y_true: Any, probs: Any, classes: Any
) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Checked ``(codes, probs, classes)``: ``codes[i]`` is the column of patient i's class.

    Raises
    ------
    ConfigError
        If ``classes`` has fewer than two or repeated labels.
    DataError
        If shapes disagree, labels are unknown or missing, or rows are not probabilities.
    """
    classes = tuple(_plain(c) for c in classes)
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ConfigError(f"classes must list two or more distinct labels, got {list(classes)}.")
    try:
        p = np.asarray(probs, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError("probs must be a numeric array of class probabilities.") from exc
    labels = pd.Series(np.asarray(y_true, dtype=object).ravel())
    if p.ndim != 2 or p.shape != (labels.size, len(classes)):
        raise DataError(
            f"probs must have one row per patient and one column per class, shape "
            f"({labels.size}, {len(classes)}); got {p.shape}."
        )
    if labels.size == 0:
        raise DataError("y_true is empty: there are no patients to evaluate.")
    codes = pd.Index(classes).get_indexer(labels)
    unknown = np.flatnonzero(codes < 0)
    if unknown.size:
        found = sorted({str(v) for v in labels.iloc[unknown]})
        raise DataError(
            f"y_true has {unknown.size} labels that are not among the classes "
            f"{list_examples([str(c) for c in classes])}: {list_examples(found)}, e.g. "
            f"{positions(unknown)}. Missing outcomes must be dropped first."
        )
    bad = np.flatnonzero(~np.all(np.isfinite(p) & (p >= 0) & (p <= 1), axis=1))
    bad = bad if bad.size else np.flatnonzero(np.abs(p.sum(axis=1) - 1) > ROW_SUM_TOLERANCE)
    if bad.size:
        raise DataError(
            f"Each row of probs must hold probabilities in [0, 1] summing to 1; {bad.size} rows "
            f"do not, e.g. {positions(bad)}. Pass softmax output, not logits."
        )
    return codes.astype(np.int64), p, classes


@dataclass(frozen=True, eq=False)
class MulticlassEvaluation:
    """Everything about a multiclass model on one set of patients.

    Attributes
    ----------
    n, classes : patients and the class labels (column order of the probabilities).
    accuracy, balanced_accuracy : with bootstrap intervals; balanced accuracy is the mean
        recall over the classes present.
    macro_auroc, weighted_auroc : one-vs-rest AUROC averaged over classes present (weighted by
        class size), with bootstrap intervals; None when no class has both outcomes.
    per_class : columns ``class``, ``n``, ``predicted``, ``precision``, ``recall``, ``f1``,
        ``auroc``, ``calibration_slope``, ``calibration_intercept`` (NaN where undefined).
    roc_curves : long frame ``class``, ``fpr``, ``tpr`` (one-vs-rest, on the FPR grid).
    confusion, confusion_normalised : observed classes as rows, predicted (argmax) as columns;
        counts, and shares of each row.
    calibration : long frame of one-vs-rest quantile bins (see ``calibration_bins``), ``class``.
    """

    n: int
    classes: tuple
    accuracy: Interval
    balanced_accuracy: Interval
    macro_auroc: Interval | None
    weighted_auroc: Interval | None
    per_class: pd.DataFrame
    roc_curves: pd.DataFrame
    confusion: pd.DataFrame
    confusion_normalised: pd.DataFrame
    calibration: pd.DataFrame
    n_boot: int
    seed: int
    notes: tuple[str, ...] = ()
    task: str = "multiclass"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (class labels as strings, None for undefined numbers)."""

        def matrix(frame: pd.DataFrame) -> list[list[float | None]]:
            return [[plain_float(v) for v in row] for row in frame.to_numpy()]

        return {
            "task": self.task,
            "n": self.n,
            "classes": [str(c) for c in self.classes],
            "accuracy": interval_dict(self.accuracy),
            "balanced_accuracy": interval_dict(self.balanced_accuracy),
            "macro_auroc": interval_dict(self.macro_auroc),
            "weighted_auroc": interval_dict(self.weighted_auroc),
            "per_class": frame_records(self.per_class),
            "confusion_matrix": matrix(self.confusion),
            "confusion_matrix_normalised": matrix(self.confusion_normalised),
            "roc_curves": frame_records(self.roc_curves),
            "calibration": frame_records(self.calibration),
            "n_boot": self.n_boot,
            "seed": self.seed,
            "notes": list(self.notes),
        }


def _averages(auc: np.ndarray, support: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # auc, support: (resamples, classes); classes with undefined AUROC are left out.
    defined = np.isfinite(auc)
    auc0 = np.where(defined, auc, 0.0)
    count = defined.sum(axis=1)
    weight = np.where(defined, support, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        macro = np.where(count > 0, auc0.sum(axis=1) / count, np.nan)
        weighted = np.where(weight > 0, (auc0 * support).sum(axis=1) / weight, np.nan)
    return macro, weighted


def _accuracies(codes: np.ndarray, correct: np.ndarray, k: int, indices: np.ndarray):
    counts = np.vstack(list(code_counts(codes * 2 + correct, 2 * k, indices)))
    counts = counts.reshape(-1, k, 2).astype(float)
    hits, support = counts[:, :, 1], counts.sum(axis=2)
    accuracy = hits.sum(axis=1) / support.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, hits / support, np.nan)
        balanced = np.nanmean(recall, axis=1)
    return accuracy, balanced


def evaluate_multiclass(
    y_true: Any,
    probs: Any,
    classes: Any,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    n_bins: int = 10,
    level: float = 0.95,
) -> MulticlassEvaluation:
    """Evaluate predicted class probabilities.

    Parameters
    ----------
    y_true : observed class labels, each one of ``classes``.
    probs : ``(n, k)`` probabilities, column j for ``classes[j]``; the predicted class is the
        most probable one.
    classes : the k class labels.
    n_boot, seed : bootstrap resamples (0 = no intervals) and their seed.
    n_bins : quantile bins of each one-vs-rest calibration.
    level : confidence level of the intervals.

    Raises
    ------
    DataError
        If shapes disagree, labels are unknown, or rows are not probabilities.
    ConfigError
        If ``classes`` or a setting is invalid.
    """
    codes, p, classes = as_multiclass_inputs(y_true, probs, classes)
    check_bootstrap_settings(n_boot, level)
    n, k = p.shape
    predicted = p.argmax(axis=1)
    confusion = np.bincount(codes * k + predicted, minlength=k * k).reshape(k, k)
    support, flagged = confusion.sum(axis=1), confusion.sum(axis=0)
    identity = identity_indices(n)
    indices = bootstrap_indices(n, n_boot, seed) if n_boot else None
    rows, calib, curves, boot_auc, boot_support, notes = [], [], [], [], [], []
    for j, label in enumerate(classes):
        yj = (codes == j).astype(np.int64)
        hits = confusion[j, j]
        point = binary_resamples(yj, p[:, j], identity, curves=True)
        both = 0 < support[j] < n
        if both:
            curves.append(
                roc_curve_frame(point.roc_tpr[0]).iloc[:, :2].assign(**{"class": str(label)})
            )
        else:
            notes.append(
                f"Class {label!r} has {support[j]} of {n} patients: its AUROC is undefined."
            )
        if indices is not None:
            boot = binary_resamples(yj, p[:, j], indices, average_precision=False)
            boot_auc.append(boot.auroc)
            boot_support.append(boot.positives)
        slope, intercept = calibration_slope_intercept(yj, p[:, j])
        calib.append(calibration_bins(yj, p[:, j], n_bins, level).assign(**{"class": str(label)}))
        denominator = flagged[j] + support[j]
        rows.append(
            {
                "class": str(label),
                "n": int(support[j]),
                "predicted": int(flagged[j]),
                "precision": hits / flagged[j] if flagged[j] else np.nan,
                "recall": hits / support[j] if support[j] else np.nan,
                "f1": 2 * hits / denominator if denominator else np.nan,
                "auroc": point.auroc[0],
                "calibration_slope": slope.value if slope else np.nan,
                "calibration_intercept": intercept.value if intercept else np.nan,
            }
        )
    per_class = pd.DataFrame(rows)
    macro, weighted = _averages(per_class["auroc"].to_numpy()[None, :], support[None, :])
    correct = (predicted == codes).astype(np.int64)
    accuracy, balanced = _accuracies(codes, correct, k, identity)
    if indices is not None:
        boot_macro, boot_weighted = _averages(
            np.column_stack(boot_auc), np.column_stack(boot_support)
        )
        boot_acc, boot_bal = _accuracies(codes, correct, k, indices)
    else:
        boot_macro = boot_weighted = boot_acc = boot_bal = None

    def interval(value: float, samples: np.ndarray | None) -> Interval | None:
        return percentile_interval(value, samples, level) if np.isfinite(value) else None

    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = confusion / np.where(support > 0, support, 1)[:, None]
    index = pd.Index(classes, name="observed")
    columns = pd.Index(classes, name="predicted")
    return MulticlassEvaluation(
        n=int(n),
        classes=classes,
        accuracy=interval(accuracy[0], boot_acc),
        balanced_accuracy=interval(balanced[0], boot_bal),
        macro_auroc=interval(macro[0], boot_macro),
        weighted_auroc=interval(weighted[0], boot_weighted),
        per_class=per_class,
        roc_curves=pd.concat(curves, ignore_index=True)[["class", "fpr", "tpr"]]
        if curves
        else pd.DataFrame(columns=["class", "fpr", "tpr"]),
        confusion=pd.DataFrame(confusion, index=index, columns=columns),
        confusion_normalised=pd.DataFrame(normalised, index=index, columns=columns),
        calibration=pd.concat(calib, ignore_index=True),
        n_boot=int(n_boot),
        seed=int(seed),
        notes=tuple(notes),
    )
