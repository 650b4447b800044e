"""Evaluation of a regression model (drug response, doses, lab values).

MAE, RMSE and R² with bootstrap intervals, the points of the predicted-against-observed and
residual plots, and the error by subgroup. Residuals are ``observed - predicted``; ``bias`` is
``mean(predicted - observed)``, positive when the model overestimates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from medinn_core.evaluation._bootstrap import (
    Interval,
    as_vector,
    bootstrap_indices,
    check_bootstrap_settings,
    check_same_length,
    frame_records,
    identity_indices,
    interval_dict,
    percentile_interval,
    plain_float,
    regression_resamples,
)
from medinn_core.evaluation._subgroups import group_masks


@dataclass(frozen=True, eq=False)
class RegressionEvaluation:
    """Everything about a regression model on one set of patients.

    Attributes
    ----------
    n : patients.
    mae, rmse : mean absolute and root mean squared error, in the target's unit.
    r2 : coefficient of determination (None when the observed values are all equal).
    bias : mean of predicted - observed.
    points : columns ``observed``, ``predicted``, ``residual`` (observed - predicted).
    by_group : :func:`regression_by_group` table, when groups were given.
    """

    n: int
    mae: Interval
    rmse: Interval
    r2: Interval | None
    bias: float
    points: pd.DataFrame
    by_group: pd.DataFrame | None
    n_boot: int
    seed: int
    notes: tuple[str, ...] = ()
    task: str = "regression"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary; the per-patient points are left out (they are the input)."""
        return {
            "task": self.task,
            "n": self.n,
            "mae": self.mae.to_dict(),
            "rmse": self.rmse.to_dict(),
            "r2": interval_dict(self.r2),
            "bias": plain_float(self.bias),
            "by_group": frame_records(self.by_group) if self.by_group is not None else None,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "notes": list(self.notes),
        }


def _as_regression_inputs(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    y = as_vector(y_true, "y_true (the observed value)")
    yp = as_vector(y_pred, "y_pred (the predicted value)")
    check_same_length(y_true=y, y_pred=yp)
    return y, yp


def regression_by_group(y_true: Any, y_pred: Any, groups: Any) -> pd.DataFrame:
    """Error by subgroup: columns ``group``, ``n``, ``mae``, ``rmse``, ``bias``.

    Missing group values form the group ``"(missing)"``.

    Raises
    ------
    DataError
        If values are missing or not numbers, or lengths differ.
    """
    y, yp = _as_regression_inputs(y_true, y_pred)
    rows = []
    for label, mask in group_masks(groups, y.size):
        error = yp[mask] - y[mask]
        rows.append(
            {
                "group": label,
                "n": int(mask.sum()),
                "mae": float(np.mean(np.abs(error))),
                "rmse": float(np.sqrt(np.mean(error**2))),
                "bias": float(np.mean(error)),
            }
        )
    return pd.DataFrame(rows, columns=["group", "n", "mae", "rmse", "bias"])


def evaluate_regression(
    y_true: Any,
    y_pred: Any,
    *,
    groups: Any = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> RegressionEvaluation:
    """Evaluate predicted values of a continuous outcome.

    Parameters
    ----------
    y_true : observed values.
    y_pred : predicted values (a ``(n, 1)`` array is accepted).
    groups : optional group label per patient, for the error by subgroup.
    n_boot, seed : bootstrap resamples (0 = no intervals) and their seed.
    level : confidence level of the intervals.

    Raises
    ------
    DataError
        If values are missing or not numbers, or lengths differ.
    ConfigError
        If ``n_boot`` or ``level`` is out of range.
    """
    y, yp = _as_regression_inputs(y_true, y_pred)
    check_bootstrap_settings(n_boot, level)
    point = regression_resamples(y, yp, identity_indices(y.size))
    boot = regression_resamples(y, yp, bootstrap_indices(y.size, n_boot, seed)) if n_boot else None

    def interval(name: str) -> Interval | None:
        value = point[name][0]
        samples = boot[name] if boot else None
        return percentile_interval(value, samples, level) if np.isfinite(value) else None

    r2 = interval("r2")
    notes = () if r2 else ("All observed values are equal, so R² is undefined.",)
    return RegressionEvaluation(
        n=int(y.size),
        mae=interval("mae"),
        rmse=interval("rmse"),
        r2=r2,
        bias=float(np.mean(yp - y)),
        points=pd.DataFrame({"observed": y, "predicted": yp, "residual": y - yp}),
        by_group=regression_by_group(y, yp, groups) if groups is not None else None,
        n_boot=int(n_boot),
        seed=int(seed),
        notes=notes,
    )
