"""Confidence intervals, input checks and the vectorised patient bootstrap.

The bootstrap resamples patients with replacement. Instead of calling a metric once per
resample, every resample is turned into a row of *counts*: how often each distinct predicted
value (or each patient) was drawn. AUROC, average precision and the ROC / precision-recall curves
of all resamples then follow from cumulative sums over those count matrices; the regression
metrics from row sums of the resampled errors. 1,000 resamples of 10,000 patients take a
fraction of a second (see ``benchmarks/bench_bootstrap.py``).

This module is the bottom layer of the evaluation package: the calibration, threshold and
task modules build on it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from medinn_core.errors import ConfigError, DataError, list_examples

#: Fixed grid (false-positive rate or recall) on which curves and their bands are reported.
CURVE_GRID = np.linspace(0.0, 1.0, 101)
#: Fewer valid resamples than this and no bootstrap interval is reported.
MIN_VALID_RESAMPLES = 20
# Cells per block of the (resamples x distinct values) count matrices: bounds memory to ~100 MB.
_BLOCK_CELLS = 2_000_000


# -- intervals ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval (``None`` bounds when not computed)."""

    value: float
    ci_low: float | None = None
    ci_high: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        """``{"value", "ci_low", "ci_high"}`` as plain floats, ``None`` for missing numbers."""
        return {
            "value": plain_float(self.value),
            "ci_low": plain_float(self.ci_low),
            "ci_high": plain_float(self.ci_high),
        }


def interval_dict(interval: Interval | None) -> dict[str, float | None] | None:
    """``interval.to_dict()``, or None for a metric that is undefined."""
    return interval.to_dict() if interval is not None else None


def plain_float(value: Any) -> float | None:
    """A JSON-ready float: numpy scalars become ``float``; NaN, infinity and None become None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-ready dictionaries (numpy scalars unwrapped, NaN as None)."""
    records = []
    for row in frame.to_dict(orient="records"):
        clean = {}
        for key, value in row.items():
            if isinstance(value, (bool, np.bool_)):
                clean[str(key)] = bool(value)
            elif isinstance(value, (int, np.integer)):
                clean[str(key)] = int(value)
            elif isinstance(value, (float, np.floating)) or value is None or value is pd.NA:
                clean[str(key)] = None if value is pd.NA else plain_float(value)
            else:
                clean[str(key)] = str(value)
        records.append(clean)
    return records


def percentile_interval(value: float, samples: np.ndarray | None, level: float = 0.95) -> Interval:
    """Percentile bootstrap interval around ``value``.

    Resamples where the metric is undefined (NaN, e.g. a resample with one class only) are
    dropped; with fewer than ``MIN_VALID_RESAMPLES`` left, or ``samples`` None (no bootstrap),
    the bounds are ``None``.
    """
    if samples is None:
        return Interval(float(value))
    samples = np.asarray(samples, dtype=float)
    samples = samples[np.isfinite(samples)]
    if samples.size < MIN_VALID_RESAMPLES:
        return Interval(float(value))
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return Interval(float(value), float(low), float(high))


def wilson_interval(
    successes: float | np.ndarray, total: float | np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (vectorised; NaN where ``total`` is 0)."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(total, dtype=float)
    z = stats.norm.ppf(0.5 + level / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1.0 + z**2 / n
        centre = (p + z**2 / (2.0 * n)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n + z**2 / (4.0 * n**2)) / denom
    return centre - half, centre + half


def proportion(successes: int, total: int, level: float = 0.95) -> Interval | None:
    """``successes / total`` with its Wilson interval, or None when ``total`` is 0."""
    if total <= 0:
        return None
    low, high = wilson_interval(successes, total, level)
    return Interval(successes / total, float(low), float(high))


# -- input checks ------------------------------------------------------------------------------
def positions(index: np.ndarray) -> str:
    """``"at positions 3, 17 (counting from 0)"`` for at most five offending positions."""
    return f"at positions {list_examples(np.asarray(index).tolist())} (counting from 0)"


def as_vector(values: Any, name: str) -> np.ndarray:
    """A 1-D float array from a list, Series or ``(n, 1)`` array (e.g. Keras' sigmoid output).

    Raises
    ------
    DataError
        If the values are not numbers, have more than one column, are empty or hold NaN.
    """
    if isinstance(values, pd.DataFrame):
        values = values.to_numpy()
    if isinstance(values, (pd.Series, pd.Index)):
        try:
            array = values.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{name} must hold numbers; found {values.dtype} values.") from exc
    else:
        try:
            array = np.asarray(values, dtype=float)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{name} must hold numbers, e.g. 0/1 outcomes or risks.") from exc
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise DataError(
            f"{name} must be one column of values; got an array of shape {array.shape}."
        )
    if array.size == 0:
        raise DataError(f"{name} is empty: there are no patients to evaluate.")
    missing = np.flatnonzero(np.isnan(array))
    if missing.size:
        raise DataError(
            f"{name} has {missing.size} missing values (NaN), e.g. {positions(missing)}. "
            "Drop these patients or impute before evaluating."
        )
    return array


def check_same_length(**arrays: Sequence | np.ndarray) -> None:
    """Raise :class:`DataError` unless all arrays have the same length."""
    lengths = {name: len(values) for name, values in arrays.items()}
    if len(set(lengths.values())) > 1:
        found = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise DataError(f"Inputs must have one value per patient, but {found}.")


def as_binary_inputs(y_true: Any, y_prob: Any) -> tuple[np.ndarray, np.ndarray]:
    """Checked ``(y_true, y_prob)``: outcomes coded 0/1 and risks in [0, 1], same length.

    Raises
    ------
    DataError
        If lengths differ, values are missing, outcomes are not 0/1 or risks leave [0, 1].
    """
    y = as_vector(y_true, "y_true (the observed outcome)")
    p = as_vector(y_prob, "y_prob (the predicted risk)")
    check_same_length(y_true=y, y_prob=p)
    bad = np.flatnonzero((y != 0) & (y != 1))
    if bad.size:
        values = sorted({float(v) for v in y[bad]})
        raise DataError(
            f"y_true must be coded 0 (no event) / 1 (event); found {list_examples(values)} "
            f"in {bad.size} rows, e.g. {positions(bad)}. Encode the outcome first."
        )
    bad = np.flatnonzero((p < 0) | (p > 1))
    if bad.size:
        raise DataError(
            f"y_prob must be probabilities in [0, 1]; {bad.size} values are outside, e.g. "
            f"{list_examples([float(v) for v in p[bad]])} {positions(bad)}. "
            "Pass predicted probabilities (sigmoid output), not logits or labels."
        )
    return y.astype(np.int64), p


def check_bootstrap_settings(n_boot: int, level: float = 0.95) -> None:
    """Raise :class:`ConfigError` for a negative resample count or a level outside (0, 1)."""
    if int(n_boot) != n_boot or n_boot < 0:
        raise ConfigError(f"n_boot must be a whole number >= 0 (0 = no intervals), got {n_boot}.")
    if not 0 < level < 1:
        raise ConfigError(f"The confidence level must lie in (0, 1), e.g. 0.95; got {level}.")


# -- resampling --------------------------------------------------------------------------------
def bootstrap_indices(n: int, n_boot: int = 1000, seed: int = 0, strata: Any = None) -> np.ndarray:
    """Row indices of ``n_boot`` bootstrap resamples of ``n`` patients, shape ``(n_boot, n)``.

    Parameters
    ----------
    n : number of patients.
    n_boot : number of resamples.
    seed : seed of the random generator; the same seed gives the same resamples.
    strata : optional labels, one per patient; each stratum is resampled on its own so that its
        size is the same in every resample (e.g. pass the outcome to keep the event count fixed).

    Raises
    ------
    ConfigError
        If ``n`` or ``n_boot`` is below 1.
    DataError
        If ``strata`` does not have ``n`` labels.
    """
    if n < 1 or n_boot < 1:
        raise ConfigError(
            f"Bootstrap needs n >= 1 patients and n_boot >= 1; got n={n}, n_boot={n_boot}."
        )
    rng = np.random.default_rng(seed)
    dtype = np.int32 if n < 2**31 - 1 else np.int64
    if strata is None:
        return rng.integers(0, n, size=(n_boot, n), dtype=dtype)
    labels = pd.Series(np.asarray(strata)).astype("string").fillna("(missing)").to_numpy()
    check_same_length(strata=labels, patients=range(n))
    out = np.empty((n_boot, n), dtype=dtype)
    for label in pd.unique(labels):
        members = np.flatnonzero(labels == label).astype(dtype)
        out[:, members] = members[rng.integers(0, members.size, size=(n_boot, members.size))]
    return out


def _resolve_indices(n: int, n_boot: int, seed: int, strata: Any, indices: Any) -> np.ndarray:
    if indices is None:
        return bootstrap_indices(n, n_boot, seed, strata)
    indices = np.asarray(indices)
    if indices.ndim != 2 or indices.shape[1] != n:
        raise ConfigError(f"indices must have shape (n_boot, {n}); got {indices.shape}.")
    return indices


def code_counts(codes: np.ndarray, n_codes: int, indices: np.ndarray) -> Iterator[np.ndarray]:
    """Yield, block by block, how often each code was drawn in each resample.

    ``codes[i]`` in ``[0, n_codes)`` is patient ``i``'s code. Each yielded block has shape
    ``(resamples in block, n_codes)``; one ``np.bincount`` per block does the counting, with
    the resample number folded into the bin so that all rows are counted at once.
    """
    per_block = max(1, _BLOCK_CELLS // max(n_codes, indices.shape[1]))
    for start in range(0, indices.shape[0], per_block):
        block = indices[start : start + per_block]
        rows = block.shape[0]
        flat = codes[block] + (np.arange(rows, dtype=np.int64) * n_codes)[:, None]
        yield np.bincount(flat.ravel(), minlength=rows * n_codes).reshape(rows, n_codes)


def identity_indices(n: int) -> np.ndarray:
    """The "resample" that is the data itself, for point estimates by the same code path."""
    return np.arange(n)[None, :]


# -- binary metrics from count matrices ----------------------------------------------------------
class BinaryResamples(NamedTuple):
    """Per-resample binary metrics; those not asked for are ``None``."""

    auroc: np.ndarray  # (n_boot,)
    positives: np.ndarray  # (n_boot,) events drawn
    average_precision: np.ndarray | None  # (n_boot,)
    roc_tpr: np.ndarray | None  # (n_boot, len(grid)) sensitivity at each grid FPR
    pr_precision: np.ndarray | None  # (n_boot, len(grid)) precision at each grid recall


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def _rows_searchsorted(rows: np.ndarray, grid: np.ndarray, side: str) -> np.ndarray:
    # Rows are non-decreasing in [0, 1]; shifting row r by 2r makes the flattened array sorted,
    # so one searchsorted serves every row. Returns flat positions.
    shift = 2.0 * np.arange(rows.shape[0])[:, None]
    return np.searchsorted((rows + shift).ravel(), (grid[None, :] + shift).ravel(), side=side)


def _roc_on_grid(fpr: np.ndarray, tpr: np.ndarray, grid: np.ndarray) -> np.ndarray:
    # Highest sensitivity reached at each grid FPR, linear between curve points.
    b, m = fpr.shape
    j = _rows_searchsorted(fpr, grid, "right") - 1
    row_end = (np.repeat(np.arange(b), grid.size) + 1) * m - 1
    k = np.minimum(j + 1, row_end)
    fpr_f, tpr_f = fpr.ravel(), tpr.ravel()
    x = np.tile(grid, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(k > j, (tpr_f[k] - tpr_f[j]) / (fpr_f[k] - fpr_f[j]), 0.0)
    return (tpr_f[j] + slope * (x - fpr_f[j])).reshape(b, grid.size)


def _pr_on_grid(recall: np.ndarray, precision: np.ndarray, grid: np.ndarray) -> np.ndarray:
    # Precision at the highest threshold whose recall reaches the grid value (the step curve
    # that average precision integrates). Recall 0 is read as "just above 0".
    query = np.where(grid > 0, grid, 1e-12)
    j = _rows_searchsorted(recall, query, "left")
    return precision.ravel()[np.minimum(j, recall.size - 1)].reshape(recall.shape[0], grid.size)


def binary_resamples(
    y_true: np.ndarray,
    y_score: np.ndarray,
    indices: np.ndarray,
    *,
    average_precision: bool = True,
    curves: bool = False,
    grid: np.ndarray = CURVE_GRID,
) -> BinaryResamples:
    """AUROC (and average precision, and ROC / PR curves on ``grid``) of each resample.

    ``y_true`` must be 0/1 integers and ``y_score`` finite; this function does not check them
    (use :func:`as_binary_inputs`). A resample lacking one class gets NaN.
    """
    _, group = np.unique(y_score, return_inverse=True)
    n_groups = int(group.max()) + 1
    # Code = distinct-score rank, shifted by n_groups for events: per resample, columns
    # [:n_groups] count non-events and [n_groups:] events at each score, in ascending order.
    codes = group.astype(np.int64) + y_true.astype(np.int64) * n_groups
    parts: dict[str, list[np.ndarray]] = {"auc": [], "pos": [], "ap": [], "roc": [], "pr": []}
    for counts in code_counts(codes, 2 * n_groups, indices):
        neg, pos = counts[:, :n_groups], counts[:, n_groups:]
        n_neg, n_pos = neg.sum(axis=1), pos.sum(axis=1)
        cum_neg = np.cumsum(neg, axis=1)
        # Mann-Whitney: an event beats the non-events below its score and ties half of those at
        # it; counted twice over to stay in exact integers.
        twice_wins = np.einsum("ij,ij->i", pos, 2 * cum_neg - neg)
        parts["auc"].append(_ratio(twice_wins / 2.0, n_pos * n_neg))
        parts["pos"].append(n_pos)
        if not (average_precision or curves):
            continue
        # Events and non-events at or above each score: flagged by the rule score >= value.
        tp = n_pos[:, None] - np.cumsum(pos, axis=1) + pos
        fp = n_neg[:, None] - cum_neg + neg
        if average_precision:  # step-wise, as scikit-learn: sum of recall gain x precision
            precision = tp / np.maximum(tp + fp, 1)  # 0/0 only where no event is drawn
            parts["ap"].append(_ratio(np.einsum("ij,ij->i", pos, precision), n_pos))
        if curves:
            parts["roc"].append(_roc_rows(tp[:, ::-1], fp[:, ::-1], n_pos, n_neg, grid))
            parts["pr"].append(_pr_rows(tp[:, ::-1], fp[:, ::-1], n_pos, grid))
    return BinaryResamples(
        auroc=np.concatenate(parts["auc"]),
        positives=np.concatenate(parts["pos"]),
        average_precision=np.concatenate(parts["ap"]) if average_precision else None,
        roc_tpr=np.vstack(parts["roc"]) if curves else None,
        pr_precision=np.vstack(parts["pr"]) if curves else None,
    )


def _roc_rows(tp, fp, n_pos, n_neg, grid) -> np.ndarray:
    # tp, fp: descending score order (non-decreasing); the curve starts at the origin.
    zero = np.zeros((tp.shape[0], 1))
    tpr = np.hstack([zero, tp / np.maximum(n_pos, 1)[:, None]])
    fpr = np.hstack([zero, fp / np.maximum(n_neg, 1)[:, None]])
    roc = _roc_on_grid(fpr, tpr, grid)
    roc[(n_pos == 0) | (n_neg == 0)] = np.nan
    return roc


def _pr_rows(tp, fp, n_pos, grid) -> np.ndarray:
    # Grid recalls above 0 land on scores where an event was drawn, so tp + fp > 0 there.
    recall = tp / np.maximum(n_pos, 1)[:, None]
    pr = _pr_on_grid(recall, tp / np.maximum(tp + fp, 1), grid)
    pr[n_pos == 0] = np.nan
    return pr


def bootstrap_auroc(
    y_true: Any,
    y_score: Any,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    strata: Any = None,
    indices: Any = None,
) -> np.ndarray:
    """AUROC of each bootstrap resample (vectorised), NaN where a resample has one class only.

    Pass ``indices`` (from :func:`bootstrap_indices`) to reuse resamples, e.g. to pair two
    models on the same patients; otherwise they are drawn from ``n_boot`` and ``seed``.

    Raises
    ------
    DataError
        If the inputs are not 0/1 outcomes and risks in [0, 1] of equal length.
    """
    y, p = as_binary_inputs(y_true, y_score)
    idx = _resolve_indices(y.size, n_boot, seed, strata, indices)
    return binary_resamples(y, p, idx, average_precision=False).auroc


def bootstrap_average_precision(
    y_true: Any,
    y_score: Any,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    strata: Any = None,
    indices: Any = None,
) -> np.ndarray:
    """Average precision of each bootstrap resample (vectorised), NaN without events.

    Raises
    ------
    DataError
        If the inputs are not 0/1 outcomes and risks in [0, 1] of equal length.
    """
    y, p = as_binary_inputs(y_true, y_score)
    idx = _resolve_indices(y.size, n_boot, seed, strata, indices)
    return binary_resamples(y, p, idx).average_precision


# -- regression metrics of resamples -----------------------------------------------------------
def regression_resamples(
    y_true: np.ndarray, y_pred: np.ndarray, indices: np.ndarray
) -> dict[str, np.ndarray]:
    """MAE, RMSE and R² of each resample: ``{"mae", "rmse", "r2"}`` arrays of shape (n_boot,).

    R² is NaN in a resample whose observed values are all equal.
    """
    n = y_true.size
    error = y_pred - y_true
    centred = y_true - y_true.mean()  # keeps the sums of squares well conditioned
    columns = (np.abs(error), error**2, centred, centred**2)
    per_block = max(1, _BLOCK_CELLS // n)
    sums = []
    for start in range(0, indices.shape[0], per_block):
        block = indices[start : start + per_block]
        sums.append(np.column_stack([values[block].sum(axis=1) for values in columns]))
    abs_err, sq_err, s1, s2 = np.vstack(sums).T / n
    total = s2 - s1**2  # variance of the observed values in each resample
    variance = float(np.mean(centred**2))
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(total > 1e-10 * variance, 1 - sq_err / total, np.nan)
    return {"mae": abs_err, "rmse": np.sqrt(sq_err), "r2": r2}


# -- intervals and bands built on the above ------------------------------------------------------
def auroc_interval(
    y_true: np.ndarray, y_score: np.ndarray, n_boot: int, seed: int, level: float = 0.95
) -> Interval | None:
    """AUROC with a percentile bootstrap interval; None with one outcome class only.

    Inputs must already be checked (see :func:`as_binary_inputs`); ``n_boot=0`` gives the
    point estimate without bounds.
    """
    if y_true.min() == y_true.max():
        return None
    value = binary_resamples(
        y_true, y_score, identity_indices(y_true.size), average_precision=False
    ).auroc[0]
    if n_boot == 0:
        return Interval(float(value))
    boot = binary_resamples(
        y_true, y_score, bootstrap_indices(y_true.size, n_boot, seed), average_precision=False
    ).auroc
    return percentile_interval(value, boot, level)


def curve_band(
    point: np.ndarray, rows: np.ndarray | None, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise percentile band of bootstrap curves ``rows`` (NaN when there are too few)."""
    nan = np.full(point.shape, np.nan)
    if rows is None:
        return nan, nan
    rows = rows[np.all(np.isfinite(rows), axis=1)]
    if rows.shape[0] < MIN_VALID_RESAMPLES:
        return nan, nan
    tail = (1 - level) / 2 * 100
    return np.percentile(rows, tail, axis=0), np.percentile(rows, 100 - tail, axis=0)


def roc_curve_frame(
    tpr: np.ndarray, rows: np.ndarray | None = None, level: float = 0.95
) -> pd.DataFrame:
    """ROC curve on ``CURVE_GRID`` with its band: columns ``fpr``, ``tpr``, ``tpr_low``,
    ``tpr_high``. A first row at the origin precedes the grid, since at FPR 0 the grid holds
    the highest sensitivity reached without false positives."""
    low, high = curve_band(tpr, rows, level)
    origin = 0.0 if np.all(np.isfinite(low)) else np.nan  # no band, not even at the origin
    return pd.DataFrame(
        {
            "fpr": np.r_[0.0, CURVE_GRID],
            "tpr": np.r_[0.0, tpr],
            "tpr_low": np.r_[origin, low],
            "tpr_high": np.r_[origin, high],
        }
    )
