"""Training: validate, choose the scheme, fit the ensemble, pick the threshold, validate.

:func:`train_model` is what the app and the CLI call. :func:`choose_scheme` decides how the
patients are used:

* **folds** (up to ``FOLDS_UP_TO`` patients): cross-fitting. The patients are cut into
  ``K`` folds; network ``k`` trains on the other folds and stops early on fold ``k``. The model
  is the average of the ``K`` networks, and each patient's prediction by the network that did
  not train on them (out of fold) is the internal validation: no patient is set aside.
* **split** (larger uploads): train / validation / test, ``split_members`` networks trained on
  the training split, early stopping and recalibration on the validation split, internal
  validation on the test split.

Folds and splits are stratified by the target and grouped by the patient identifier when a
patient has several rows, so no patient is on both sides.
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
from medinn_core.network import BACKGROUND_SIZES, network_kind
from medinn_core.schema import Schema, Task, labels, numeric_view
from medinn_core.validate import ValidationReport, validate

log = logging.getLogger(__name__)


#: Up to this many patients, cross-fitting (folds); above it, a split.
FOLDS_UP_TO = 20_000


@dataclass(frozen=True)
class Scheme:
    """How the patients were used: ``"folds"`` or ``"split"``, how many networks the model
    averages, and why, in words for the user."""

    name: str
    n_members: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "members": self.n_members, "reason": self.reason}

    def describe(self) -> str:
        if self.name == "folds":
            return (
                f"{self.n_members}-fold cross-fitting: {self.n_members} networks, each trained "
                f"on {self.n_members - 1} folds and stopped early on its own fold; the model is "
                "their average and the out-of-fold predictions are the internal validation"
            )
        return (
            f"train/validation/test split: {self.n_members} network(s) trained on the training "
            "split, stopped early on the validation split; the test split is the internal "
            "validation"
        )


def choose_scheme(n_rows: int, config: TrainConfig) -> Scheme:
    """Cross-fitting up to :data:`FOLDS_UP_TO` patients, a split above (or
    what ``config.scheme`` asks for)."""
    if config.scheme == "folds" or (config.scheme == "auto" and n_rows <= FOLDS_UP_TO):
        if config.scheme == "folds":
            reason = "cross-fitting was chosen in the settings"
        else:
            reason = (
                f"{n_rows:,} patients (up to {FOLDS_UP_TO:,}): a test split would waste "
                "patients that a small cohort cannot spare, so every patient trains some "
                "networks and validates another"
            )
        return Scheme("folds", config.folds, reason)
    if config.scheme == "split":
        reason = "a split was chosen in the settings"
    else:
        reason = (
            f"{n_rows:,} patients (more than {FOLDS_UP_TO:,}): a split trains faster and its "
            f"test split ({config.test_fraction:.0%}) is large enough to validate on"
        )
    return Scheme("split", config.split_members, reason)


@dataclass(frozen=True)
class Split:
    """Row labels (of the cleaned frame's index) of each split; under cross-fitting, every row
    is in ``train`` and ``folds`` gives each row's fold."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    grouped: bool = False
    folds: np.ndarray | None = None

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
    scheme: Scheme | None = None
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    background_weights: np.ndarray | None = None


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


def _units(df: pd.DataFrame, schema: Schema) -> tuple[np.ndarray, np.ndarray, pd.Series | None]:
    """The units to cut (patients, or rows), their strata, and each row's patient when a
    patient has several rows."""
    strata = _strata(df[schema.target], Task(schema.task))
    idc = schema.id_column
    if idc and idc in df.columns and df[idc].duplicated().any():
        groups = df[idc].astype("str").fillna("")
        per_group = (
            strata.groupby(groups).max()
            if schema.task == Task.BINARY
            else strata.groupby(groups).first()
        )
        return per_group.index.to_numpy(), per_group.to_numpy(), groups
    return df.index.to_numpy(), strata.to_numpy(), None


def assign_folds(df: pd.DataFrame, schema: Schema, config: TrainConfig) -> np.ndarray:
    """Seeded, stratified fold numbers (0 to ``config.folds - 1``) for the rows of ``df``, one
    patient's rows always in one fold. The same table, schema and settings give the same folds,
    so the internal validation can be rebuilt from a saved model and its training table."""
    from sklearn.model_selection import KFold, StratifiedKFold

    units, strata, groups = _units(df, schema)
    k = config.folds
    if len(units) < k:
        raise DataError(
            f"{len(units)} patients cannot be cut into {k} folds: at least {k} are needed."
        )
    fold_of_unit = np.empty(len(units), dtype=int)
    try:
        if np.min(pd.Series(strata).value_counts()) < k:
            raise ValueError("a stratum smaller than the number of folds")
        cutter = StratifiedKFold(k, shuffle=True, random_state=config.seed)
        parts = cutter.split(units, strata)
        for f, (_, held) in enumerate(parts):
            fold_of_unit[held] = f
    except ValueError:  # a stratum too small to stratify: plain shuffled folds
        for f, (_, held) in enumerate(
            KFold(k, shuffle=True, random_state=config.seed).split(units)
        ):
            fold_of_unit[held] = f
    if groups is None:
        return fold_of_unit
    lookup = dict(zip(units, fold_of_unit, strict=True))
    return groups.map(lookup).to_numpy(dtype=int)


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


def one_openmp_thread() -> Any:
    """A context in which scikit-learn's gradient boosting runs on one OpenMP thread.

    Once TensorFlow has run in the process, its thread pool and OpenMP's two threads fight
    over the 2 cores: fitting gradient boosting on the 5,110 stroke rows after a network took
    2.7-7.0 s with OpenMP's default threads and 0.3-0.6 s on one (a busy machine; in the
    server, 129 s against 2.5 s on 3,400 Framingham rows)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="openmp")


def _fit(estimator: Any, x: np.ndarray, y: np.ndarray) -> Any:
    with one_openmp_thread():
        return estimator.fit(x, y)


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
    return _fit(estimator, model.transform(train), model.encode_target(train))


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
        _fit(estimator, x_train, y_train)
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
    if task in (Task.REGRESSION, Task.SURVIVAL):  # survival: the linear Cox log-hazard
        return eta[:, 0]
    if task == Task.BINARY:
        return 1.0 / (1.0 + np.exp(-eta[:, 0]))
    eta -= eta.max(axis=1, keepdims=True)
    expo = np.exp(eta)
    return expo / expo.sum(axis=1, keepdims=True)


def metric_intervals(
    task: Task | str, y: np.ndarray, output: np.ndarray, *, n_boot: int = 200, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """95 % percentile-bootstrap intervals (patients resampled) of :func:`headline_metrics`,
    for the internal validation shown after training; a metric that a resample cannot compute
    (one class drawn) is left out of that resample."""
    rng = np.random.default_rng(seed)
    y, output = np.asarray(y), np.asarray(output)
    draws: dict[str, list[float]] = {}
    for _ in range(n_boot):
        pick = rng.integers(0, len(y), len(y))
        try:
            values = headline_metrics(task, y[pick], output[pick])
        except ValueError:
            continue
        for key, value in values.items():
            if value is not None and np.isfinite(value):
                draws.setdefault(key, []).append(value)
    return {
        key: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5)))
        for key, v in draws.items()
        if len(v) >= n_boot // 2
    }


def cross_fitted_baselines(
    model: MedinnModel, df: pd.DataFrame, folds: np.ndarray, *, gradient_boosting: bool = True
) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    """Logistic (or ridge) regression and gradient boosting cross-fitted on the network's own
    folds and encoding: their out-of-fold metrics (like for like with the network's) and
    out-of-fold outputs. The linear model's stored ``params`` are refitted on every row."""
    from sklearn.linear_model import LogisticRegression, RidgeCV

    task = Task(model.schema.task)
    x, y = model.transform(df), model.encode_target(df)

    def linear():
        if task == Task.REGRESSION:
            return RidgeCV(alphas=np.logspace(-3, 3, 13))
        return LogisticRegression(max_iter=2000, C=1.0)

    makers = {"linear_regression" if task == Task.REGRESSION else "logistic_regression": linear}
    if gradient_boosting:
        makers["gradient_boosting"] = lambda: _gradient_boosting(task, model.config.seed)
    results: dict[str, dict[str, Any]] = {}
    outputs: dict[str, np.ndarray] = {}
    for name, make in makers.items():
        start = time.perf_counter()
        out = None
        for f in np.unique(folds):
            here = folds == f
            fitted = _fit(make(), x[~here], y[~here])
            part = estimator_output(fitted, task, x[here])
            if out is None:
                out = np.empty((len(x), *np.shape(part)[1:]))
            out[here] = part
        results[name] = {
            **headline_metrics(task, y, out),
            "fit_seconds": (time.perf_counter() - start) / len(np.unique(folds)),
        }
        outputs[name] = out
        if name in ("logistic_regression", "linear_regression"):
            full = make().fit(x, y)
            results[name]["params"] = {
                "coef": np.atleast_2d(full.coef_).tolist(),
                "intercept": np.atleast_1d(full.intercept_).tolist(),
            }
    return results, outputs


def uncertainty_metrics(
    model: MedinnModel, y: np.ndarray, output: np.ndarray, folds: np.ndarray | None = None
) -> dict[str, float | None]:
    """Coverage reached by the conformal intervals (regression) or prediction sets
    (multiclass) on held-out patients, and their mean width or size. Across folds, each fold's
    quantile comes from the other folds' residuals, as a new patient's would."""
    from medinn_core import calibrate

    task = Task(model.schema.task)
    cov = model.config.coverage
    if task == Task.BINARY:
        return {}
    if task == Task.REGRESSION:
        score = np.abs(np.asarray(y, dtype=float) - output)
    else:
        score = calibrate.class_scores(output, y)
    if folds is None:
        quantile = np.full(len(score), model.conformal_quantile)
    else:
        quantile = np.empty(len(score))
        for f in np.unique(folds):
            here = folds == f
            quantile[here] = calibrate.conformal_quantile(score[~here], cov)
    if task == Task.REGRESSION:
        return {
            "coverage": float(np.mean(score <= quantile)),
            "mean_interval_width": float(np.mean(2 * quantile)),
        }
    sizes = np.array(
        [calibrate.prediction_sets(output[i : i + 1], quantile[i]).sum() for i in range(len(y))]
    )
    inside = np.array(
        [
            calibrate.prediction_sets(output[i : i + 1], quantile[i])[0, int(y[i])]
            for i in range(len(y))
        ]
    )
    return {"coverage": float(np.mean(inside)), "mean_set_size": float(np.mean(sizes))}


#: Ridge penalty of the linear Cox baseline: small, only to keep separated or collinear inputs
#: finite.
LINEAR_COX_ALPHA = 1e-2


def _fit_linear_cox(x: np.ndarray, time: np.ndarray, event: np.ndarray) -> Any:
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    y = Surv.from_arrays(event=event == 1, time=time)
    return CoxPHSurvivalAnalysis(alpha=LINEAR_COX_ALPHA).fit(x.astype(np.float64), y)


def _cox_params(fitted: Any, x: np.ndarray, time, event, horizon: float) -> dict[str, Any]:
    """What a bundle keeps of the linear Cox model: coefficients and its baseline cumulative
    hazard at the horizon (one aggregate number)."""
    from medinn_core.survival import fit_baseline

    lp = x.astype(np.float64) @ fitted.coef_
    return {
        "model": "linear Cox (scikit-survival CoxPHSurvivalAnalysis)",
        "alpha": LINEAR_COX_ALPHA,
        "coef": [np.asarray(fitted.coef_).tolist()],
        "intercept": [0.0],
        "cumulative_hazard_at_horizon": fit_baseline(time, event, lp, horizon).at_horizon,
    }


def survival_baselines(
    model: MedinnModel,
    train: pd.DataFrame,
    test: pd.DataFrame | None = None,
    folds: np.ndarray | None = None,
) -> tuple[dict[str, dict[str, Any]], np.ndarray]:
    """The linear Cox model on the network's encoding, cross-fitted on its folds (``folds``
    given, ``train`` every row) or fitted on the training split and scored on ``test``: its
    held-out headline metrics, stored parameters (refitted on every training row) and
    held-out log-hazards."""
    from medinn_core.evaluation._survival import survival_headline
    from medinn_core.survival import fit_baseline, risk_by

    horizon = model.schema.horizon
    x, time, event = model.transform(train), model.encode_time(train), model.encode_target(train)
    start = _now()  # (``time`` is the follow-up time here)
    if folds is not None:
        lp = np.empty(len(x))
        for f in np.unique(folds):
            here = folds == f
            lp[here] = x[here] @ _fit_linear_cox(x[~here], time[~here], event[~here]).coef_
        y_time, y_event = time, event
        seconds = (_now() - start) / len(np.unique(folds))
    else:
        fitted = _fit_linear_cox(x, time, event)
        seconds = _now() - start
        x_test = model.transform(test)
        lp = x_test @ fitted.coef_
        y_time, y_event = model.encode_time(test), model.encode_target(test)
    params = _cox_params(_fit_linear_cox(x, time, event), x, time, event, horizon)
    h0 = fit_baseline(y_time, y_event, lp, horizon).at_horizon
    metrics = survival_headline(y_time, y_event, lp, risk_by(lp, h0), horizon)
    return {"linear_cox": {**metrics, "fit_seconds": seconds, "params": params}}, lp


def _now() -> float:
    return time.perf_counter()


def _survival_validation(
    model: MedinnModel,
    usable: pd.DataFrame,
    train: pd.DataFrame,
    test: pd.DataFrame | None,
    folds: np.ndarray | None,
    baselines: bool,
) -> tuple[dict[str, float | None], dict[str, tuple[float, float]], dict[str, dict[str, Any]]]:
    """Internal validation of a survival model: its held-out headline metrics (out of fold,
    or on the test split), Harrell's C interval, and the linear Cox baseline's."""
    from medinn_core.evaluation._survival import c_index_interval, survival_headline

    if folds is not None:
        held = model.heldout_
        y_time, y_event, lp = held["time"], held["y"], held["risk_score"]
    else:
        y_time, y_event = model.encode_time(test), model.encode_target(test)
        lp = model.predict(test)
    risk = model.risk_at(lp)
    metrics = survival_headline(y_time, y_event, lp, risk, model.schema.horizon)
    ci = c_index_interval(y_time, y_event, lp, n_boot=200, seed=model.config.seed)
    intervals = {} if ci.ci_low is None else {"c_index": (ci.ci_low, ci.ci_high)}
    base = survival_baselines(model, train, test, folds)[0] if baselines else {}
    return metrics, intervals, base


def train_model(
    df: pd.DataFrame,
    schema: Schema,
    config: TrainConfig | None = None,
    *,
    on_epoch: Callable[[int, dict[str, float]], bool | None] | None = None,
    baselines: bool = True,
) -> TrainingResult:
    """Validate, choose the scheme, train and validate a model on one table.

    Parameters
    ----------
    df : the table as read; rows with a missing target are dropped (and counted).
    schema : the schema with target and task set.
    config : training settings; defaults to ``TrainConfig()``.
    on_epoch : called after each epoch with (epoch, logs); returning False stops early,
        keeping the best weights so far.
    baselines : also fit the logistic-regression and gradient-boosting baselines (on the same
        folds or split as the network).

    Returns
    -------
    TrainingResult
        ``metrics`` are the internal validation: out of fold (folds) or on the test split.

    Raises
    ------
    DataError
        If validation finds errors (the message lists them).
    SchemaError
        If the schema has no target.
    """
    # The module, not the package: evaluation scores bundles with this module's
    # baseline_output, and importing the package from here would close an import cycle.
    from medinn_core.evaluation._thresholds import youden_threshold
    from medinn_core.explain import background_weights, summarize_background, tensorflow_exclusive
    from medinn_core.io import fingerprint

    config = config if config is not None else TrainConfig()
    start = time.perf_counter()
    report = validate(df, schema)
    if not report.ok:
        raise DataError(" ".join(issue.message for issue in report.errors))
    usable = df[df[schema.target].notna()]
    scheme = choose_scheme(len(usable), config)
    import_keras()  # quietly, before the network is built
    model = MedinnModel(schema, config)
    if scheme.name == "folds":
        folds = assign_folds(usable, schema, config)
        idc = schema.id_column
        grouped = bool(idc and idc in usable.columns and usable[idc].duplicated().any())
        empty = np.array([], dtype=usable.index.dtype)
        split = Split(usable.index.to_numpy(), empty, empty, grouped=grouped, folds=folds)
        log.info("Training %d networks on %d rows by cross-fitting", config.folds, len(usable))
        with tensorflow_exclusive():
            model.fit(usable, on_epoch=on_epoch, folds=folds)
        train_rows = usable
    else:
        split = split_rows(usable, schema, config)
        train, val, test = (usable.loc[idx] for idx in (split.train, split.validation, split.test))
        log.info(
            "Training on %d rows, validating on %d, testing on %d", len(train), len(val), len(test)
        )
        with tensorflow_exclusive():
            model.fit(train, val, on_epoch=on_epoch)
        train_rows = train
    held = model.heldout_
    if schema.task == Task.BINARY:
        best = youden_threshold(held["y"], held["output"])
        model.threshold_ = 0.5 if best is None else best
    if schema.task == Task.SURVIVAL:
        metrics, intervals, base = _survival_validation(
            model,
            usable,
            train_rows,
            None if scheme.name == "folds" else test,
            split.folds,
            baselines,
        )
    elif scheme.name == "folds":
        y_int, out_int = held["y"], held["output"]
        metrics = headline_metrics(schema.task, y_int, out_int)
        metrics.update(uncertainty_metrics(model, y_int, out_int, folds))
        base = cross_fitted_baselines(model, usable, folds)[0] if baselines else {}
    else:
        y_int = model.encode_target(test)
        out_int = _model_output(model, test)
        metrics = headline_metrics(schema.task, y_int, out_int)
        metrics.update(uncertainty_metrics(model, y_int, out_int))
        base = fit_baselines(model, train, test) if baselines else {}
    k = BACKGROUND_SIZES[network_kind(config, model.preprocessor_.signal_spans())]
    encoded_train = model.transform(train_rows)
    background = summarize_background(encoded_train, k=k, seed=config.seed)
    weights = background_weights(encoded_train, background)
    if schema.task != Task.SURVIVAL:
        intervals = metric_intervals(schema.task, y_int, out_int, seed=config.seed)
    return TrainingResult(
        model=model,
        split=split,
        metrics=metrics,
        baselines=base,
        history=model.history_,
        report=report,
        background=background,
        background_weights=weights,
        fingerprint=fingerprint(df),
        seconds=time.perf_counter() - start,
        n_rows_dropped=len(df) - len(usable),
        scheme=scheme,
        intervals=intervals,
    )


@dataclass(frozen=True)
class HeldOut:
    """The internal validation of a model on the table it was trained on.

    ``rows``: the patients it is measured on (all of them out of fold, or the test split);
    ``output``: their out-of-fold outputs (None: score ``rows`` with the model, as for a test
    split); ``baselines``: logistic (or ridge) regression and gradient boosting outputs for the
    same rows, cross-fitted on the same folds (empty for a split: they are fitted on the
    training split by the caller); ``label``: how to name it for a reader.
    """

    rows: pd.DataFrame
    output: np.ndarray | None
    baselines: dict[str, np.ndarray]
    label: str


def held_out(model: MedinnModel, usable: pd.DataFrame, *, baselines: bool = True) -> HeldOut:
    """Rebuild the internal validation from the table the model was trained on (rows with a
    target): folds and splits are seeded, so the same table, schema and settings give the same
    patients, and each patient's out-of-fold output is read from the member that did not
    train on them, recalibrated across folds exactly as at training time."""
    from medinn_core import calibrate

    schema, config = model.schema, model.config
    if getattr(model, "scheme_", "split") != "folds":
        split = split_rows(usable, schema, config)
        return HeldOut(usable.loc[split.test], None, {}, "test split")
    folds = assign_folds(usable, schema, config)
    x = model.transform(usable)
    task = Task(schema.task)
    own = model.member_output(x, space="logit")[np.arange(len(x)), folds]
    if task == Task.SURVIVAL:  # the out-of-fold log-hazards; the linear Cox is not refitted
        return HeldOut(usable, own[:, 0], {}, "out-of-fold predictions")
    if task == Task.REGRESSION:
        output = own[:, 0]
    else:
        rec = model.recalibration_
        # back to the members' own logits, then recalibrated across folds as in training
        z = (own[:, 0] - rec.intercept) / rec.slope if task == Task.BINARY else own / rec.slope
        output = calibrate.cross_fitted(task.value, z, model.encode_target(usable), folds)
    found = cross_fitted_baselines(model, usable, folds)[1] if baselines else {}
    return HeldOut(usable, output, found, "out-of-fold predictions")
