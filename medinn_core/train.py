"""Training: validate, split, fit the network, pick the threshold, score the test split.

:func:`train_model` is what the app and the CLI call. The split is stratified by the target
and grouped by the patient identifier when a patient has several rows, so no patient is in
two splits. The preprocessing is fitted on the training split only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from medinn_core.backend import import_keras
from medinn_core.config import TrainConfig
from medinn_core.errors import DataError
from medinn_core.model import MedinnModel
from medinn_core.schema import Schema, Task, labels, numeric_view
from medinn_core.validate import ValidationReport, validate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """Row labels (of the cleaned frame's index) of each split."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    grouped: bool = False

    def sizes(self) -> dict[str, int]:
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
        }


@dataclass(frozen=True)
class TrainingResult:
    """Everything a training run produced; the model is ready to save or use."""

    model: MedinnModel
    split: Split
    metrics: dict[str, float | None]
    baselines: dict[str, dict[str, float | None]]
    history: dict[str, list[float]]
    report: ValidationReport
    background: np.ndarray
    fingerprint: str
    seconds: float
    n_rows_dropped: int = 0
    notes: tuple[str, ...] = field(default=())


def _strata(y: pd.Series, task: Task) -> pd.Series:
    if task == Task.REGRESSION:
        values = numeric_view(y)
        return pd.qcut(values.rank(method="first"), q=min(5, max(2, len(y) // 20)), labels=False)
    return labels(y)


def split_rows(df: pd.DataFrame, schema: Schema, config: TrainConfig) -> Split:
    """Seeded stratified train/validation/test split, grouped by patient when IDs repeat.

    Parameters
    ----------
    df : rows with a target value (missing targets already dropped).
    schema : gives the target, task and identifier.
    config : gives the fractions and the seed.
    """
    from sklearn.model_selection import train_test_split

    strata = _strata(df[schema.target], Task(schema.task))
    idc = schema.id_column
    grouped = bool(idc and idc in df.columns and df[idc].duplicated().any())
    if grouped:
        groups = df[idc].astype("str").fillna("")
        # One stratum per patient: their first row's (for binary, the max) outcome.
        per_group = (
            strata.groupby(groups).max()
            if schema.task == Task.BINARY
            else strata.groupby(groups).first()
        )
        units, unit_strata = per_group.index.to_numpy(), per_group.to_numpy()
    else:
        units, unit_strata = df.index.to_numpy(), strata.to_numpy()

    def cut(items, strat, share, seed):
        try:
            return train_test_split(items, test_size=share, random_state=seed, stratify=strat)
        except ValueError:  # a stratum too small to split: fall back to a plain random split
            return train_test_split(items, test_size=share, random_state=seed)

    rest, test = cut(units, unit_strata, config.test_fraction, config.seed)
    rest_strata = pd.Series(unit_strata, index=units).loc[rest].to_numpy()
    val_share = config.validation_fraction / (1 - config.test_fraction)
    train, val = cut(rest, rest_strata, val_share, config.seed + 1)
    if grouped:
        member = df.index.to_numpy()
        train, val, test = (
            member[groups.isin(set(part)).to_numpy()] for part in (train, val, test)
        )
    return Split(np.sort(train), np.sort(val), np.sort(test), grouped=grouped)


def headline_metrics(
    task: Task | str, y_true: np.ndarray, output: np.ndarray
) -> dict[str, float | None]:
    """The task's main numbers: AUROC/AP/Brier, accuracy/macro AUROC, or MAE/RMSE/R².

    ``output`` is the probability of the positive class (binary), the class-probability matrix
    (multiclass) or the predicted values (regression); ``y_true`` is class indices or values.
    """
    from sklearn import metrics as m

    task = Task(task)
    if task == Task.REGRESSION:
        err = np.asarray(output, dtype=float) - np.asarray(y_true, dtype=float)
        return {
            "mae": float(np.mean(np.abs(err))),
            "rmse": float(np.sqrt(np.mean(err**2))),
            "r2": float(m.r2_score(y_true, output)),
        }
    if task == Task.BINARY:
        two = len(np.unique(y_true)) == 2
        return {
            "auroc": float(m.roc_auc_score(y_true, output)) if two else None,
            "average_precision": float(m.average_precision_score(y_true, output)) if two else None,
            "brier": float(np.mean((np.asarray(output) - y_true) ** 2)),
        }
    k = output.shape[1]
    present = np.unique(y_true)
    macro = None
    if len(present) == k:
        macro = float(
            m.roc_auc_score(y_true, output, multi_class="ovr", average="macro", labels=range(k))
        )
    return {
        "accuracy": float(np.mean(np.argmax(output, axis=1) == y_true)),
        "balanced_accuracy": float(m.balanced_accuracy_score(y_true, np.argmax(output, axis=1))),
        "macro_auroc": macro,
    }


def _model_output(model: MedinnModel, df: pd.DataFrame) -> np.ndarray:
    if model.schema.task == Task.REGRESSION:
        return model.predict(df)
    proba = model.predict_proba(df)
    return proba[:, 1] if model.schema.task == Task.BINARY else proba


def _gradient_boosting(task: Task, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if task == Task.REGRESSION:
        return HistGradientBoostingRegressor(random_state=seed)
    return HistGradientBoostingClassifier(random_state=seed)


def estimator_output(estimator: Any, task: Task | str, x: np.ndarray) -> np.ndarray:
    """A fitted scikit-learn baseline's output in the network's layout: P(positive) for binary,
    class probabilities for multiclass, values for regression."""
    task = Task(task)
    if task == Task.REGRESSION:
        return estimator.predict(x)
    proba = estimator.predict_proba(x)
    return proba[:, 1] if task == Task.BINARY else proba


def fit_gradient_boosting(model: MedinnModel, train: pd.DataFrame) -> Any:
    """HistGradientBoosting fitted on ``train`` through the network's own preprocessing and
    seeded like it: the same fit as the ``gradient_boosting`` baseline of :func:`fit_baselines`.

    It lives in memory only (a bundle never holds a pickled estimator): refit it from the
    training split when a comparison on other patients needs it.
    """
    estimator = _gradient_boosting(Task(model.schema.task), model.config.seed)
    return estimator.fit(model.transform(train), model.encode_target(train))


def fit_baselines(
    model: MedinnModel, train: pd.DataFrame, test: pd.DataFrame, *, gradient_boosting: bool = True
) -> dict[str, dict[str, Any]]:
    """Logistic (or ridge) regression and, when asked, HistGradientBoosting on the same split.

    They use the network's own fitted preprocessing, so the comparison is like for like.
    """
    from sklearn.linear_model import LogisticRegression, RidgeCV

    task = Task(model.schema.task)
    x_train, x_test = model.transform(train), model.transform(test)
    y_train, y_test = model.encode_target(train), model.encode_target(test)
    if task == Task.REGRESSION:
        candidates = {"linear_regression": RidgeCV(alphas=np.logspace(-3, 3, 13))}
    else:
        candidates = {"logistic_regression": LogisticRegression(max_iter=2000, C=1.0)}
    if gradient_boosting:
        candidates["gradient_boosting"] = _gradient_boosting(task, model.config.seed)
    results: dict[str, dict[str, Any]] = {}
    for name, estimator in candidates.items():
        start = time.perf_counter()
        estimator.fit(x_train, y_train)
        seconds = time.perf_counter() - start
        out = estimator_output(estimator, task, x_test)
        results[name] = {**headline_metrics(task, y_test, out), "fit_seconds": seconds}
        if name in ("logistic_regression", "linear_regression"):
            results[name]["params"] = {
                "coef": np.atleast_2d(estimator.coef_).tolist(),
                "intercept": np.atleast_1d(estimator.intercept_).tolist(),
            }
    return results


def baseline_output(params: dict[str, Any], task: Task | str, x: np.ndarray) -> np.ndarray:
    """The stored linear baseline's output for encoded rows: P(positive), class probabilities,
    or values, so a bundle can compare network and baseline on any labelled file."""
    coef = np.asarray(params["coef"], dtype=np.float64)
    eta = x.astype(np.float64) @ coef.T + np.asarray(params["intercept"], dtype=np.float64)
    task = Task(task)
    if task == Task.REGRESSION:
        return eta[:, 0]
    if task == Task.BINARY:
        return 1.0 / (1.0 + np.exp(-eta[:, 0]))
    eta -= eta.max(axis=1, keepdims=True)
    expo = np.exp(eta)
    return expo / expo.sum(axis=1, keepdims=True)


def train_model(
    df: pd.DataFrame,
    schema: Schema,
    config: TrainConfig | None = None,
    *,
    on_epoch: Callable[[int, dict[str, float]], bool | None] | None = None,
    baselines: bool = True,
) -> TrainingResult:
    """Validate, split, train and score a model on one table.

    Parameters
    ----------
    df : the table as read; rows with a missing target are dropped (and counted).
    schema : the schema with target and task set.
    config : training settings; defaults to ``TrainConfig()``.
    on_epoch : called after each epoch with (epoch, logs); returning False stops early,
        keeping the best weights so far.
    baselines : also fit the logistic-regression and gradient-boosting baselines.

    Returns
    -------
    TrainingResult

    Raises
    ------
    DataError
        If validation finds errors (the message lists them).
    SchemaError
        If the schema has no target.
    """
    from medinn_core.explain import summarize_background, tensorflow_exclusive
    from medinn_core.io import fingerprint

    config = config if config is not None else TrainConfig()
    start = time.perf_counter()
    report = validate(df, schema)
    if not report.ok:
        raise DataError(" ".join(issue.message for issue in report.errors))
    usable = df[df[schema.target].notna()]
    split = split_rows(usable, schema, config)
    train, val, test = (usable.loc[idx] for idx in (split.train, split.validation, split.test))
    log.info(
        "Training on %d rows, validating on %d, testing on %d", len(train), len(val), len(test)
    )
    import_keras()  # quietly, before the network is built
    model = MedinnModel(schema, config)
    with tensorflow_exclusive():
        model.fit(train, val, on_epoch=on_epoch)
    if schema.task == Task.BINARY:
        # The module, not the package: evaluation scores bundles with this module's
        # baseline_output, and importing the package from here would close an import cycle.
        from medinn_core.evaluation._thresholds import youden_threshold

        best = youden_threshold(model.encode_target(val), _model_output(model, val))
        model.threshold_ = 0.5 if best is None else best
    y_test = model.encode_target(test)
    metrics = headline_metrics(schema.task, y_test, _model_output(model, test))
    base = fit_baselines(model, train, test) if baselines else {}
    background = summarize_background(model.transform(train), k=100, seed=config.seed)
    return TrainingResult(
        model=model,
        split=split,
        metrics=metrics,
        baselines=base,
        history=model.history_,
        report=report,
        background=background,
        fingerprint=fingerprint(df),
        seconds=time.perf_counter() - start,
        n_rows_dropped=len(df) - len(usable),
    )
