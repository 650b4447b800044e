"""Calibration of predicted risks: do predicted risks match observed event rates?

Follows Van Calster et al., "Calibration: the Achilles heel of predictive analytics" (BMC
Medicine 2019): a calibration plot of quantile bins with intervals plus a smoothed (lowess)
curve, the calibration slope and the calibration intercept (calibration-in-the-large) of a
logistic recalibration model, the observed/expected ratio and the (scaled) Brier score.

The logistic models are fitted by Newton-Raphson here and the lowess smoother is a small local
linear one, so that statsmodels is needed by the tests only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from medinn_core.errors import ConfigError
from medinn_core.evaluation._bootstrap import (
    Interval,
    as_binary_inputs,
    frame_records,
    interval_dict,
    plain_float,
    wilson_interval,
)

#: Risks are clipped to [EPS, 1 - EPS] before taking logits, so that 0 and 1 stay finite.
EPS = 1e-8
#: A calibration slope further than this from 1 gets a plain-language interpretation.
SLOPE_TOLERANCE = 0.2
#: A calibration intercept further than this from 0 gets one too.
INTERCEPT_TOLERANCE = 0.2


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of risks, clipped to ``[EPS, 1 - EPS]`` first."""
    return special.logit(np.clip(p, EPS, 1 - EPS))


def brier_score(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    """Mean squared difference between predicted risk and the 0/1 outcome."""
    return float(np.mean((y_prob - y_true) ** 2))


def scaled_brier_score(brier: float, prevalence: float) -> float | None:
    """``1 - brier / (prev * (1 - prev))``: 1 is perfect, 0 is no better than the prevalence."""
    reference = prevalence * (1.0 - prevalence)
    return 1.0 - brier / reference if reference > 0 else None


# -- logistic recalibration --------------------------------------------------------------------
def _log_likelihood(eta: np.ndarray, y: np.ndarray) -> float:
    # log(sigmoid(eta)) = -log(1 + exp(-eta)), computed without overflow
    return float(-np.sum(y * np.logaddexp(0, -eta) + (1 - y) * np.logaddexp(0, eta)))


def fit_logistic(
    x: np.ndarray, y: np.ndarray, offset: np.ndarray | None = None, max_iter: int = 100
) -> tuple[np.ndarray, np.ndarray] | None:
    """Maximum-likelihood logistic regression by Newton-Raphson with step halving.

    Parameters
    ----------
    x : design matrix ``(n, k)`` (include a column of ones for an intercept).
    y : 0/1 outcomes.
    offset : a fixed term added to the linear predictor (coefficient 1).

    Returns
    -------
    (coefficients, covariance) or None
        None when the fit does not converge, e.g. one class only or perfect separation.
    """
    offset = np.zeros(y.size) if offset is None else offset
    beta = np.zeros(x.shape[1])
    loglik = _log_likelihood(offset, y)
    for _ in range(max_iter):
        mu = special.expit(x @ beta + offset)
        hessian = x.T @ (x * (mu * (1 - mu))[:, None])
        try:
            step = np.linalg.solve(hessian, x.T @ (y - mu))
        except np.linalg.LinAlgError:
            return None
        for _ in range(30):  # halve the step until the likelihood does not drop
            new_loglik = _log_likelihood(x @ (beta + step) + offset, y)
            if new_loglik >= loglik - 1e-12:
                break
            step = step / 2
        beta, loglik = beta + step, new_loglik
        if np.max(np.abs(step)) < 1e-10:
            break
    else:
        return None
    if not np.all(np.isfinite(beta)) or np.max(np.abs(beta)) > 50:
        return None  # separation: the estimates run off to infinity
    mu = special.expit(x @ beta + offset)
    try:
        covariance = np.linalg.inv(x.T @ (x * (mu * (1 - mu))[:, None]))
    except np.linalg.LinAlgError:
        return None
    return beta, covariance


def _wald(estimate: float, variance: float, level: float) -> Interval:
    half = stats.norm.ppf(0.5 + level / 2) * math.sqrt(max(variance, 0.0))
    return Interval(float(estimate), float(estimate - half), float(estimate + half))


def calibration_slope_intercept(
    y_true: Any, y_prob: Any, level: float = 0.95
) -> tuple[Interval | None, Interval | None]:
    """Calibration slope and calibration intercept, each with a Wald interval.

    The slope ``b`` comes from ``logit P(y=1) = a + b * logit(p)``; the intercept
    (calibration-in-the-large) from ``logit P(y=1) = a + logit(p)``, the logit of the risk
    entering as an offset. Ideal values are 1 and 0. Either is None when the model cannot be
    fitted (one outcome class only, perfect separation, or, for the slope, a single distinct
    risk).

    Raises
    ------
    DataError
        If the inputs are not 0/1 outcomes and risks in [0, 1] of equal length.
    """
    y, p = as_binary_inputs(y_true, y_prob)
    lp = logit(p)
    ones = np.ones((y.size, 1))
    # With one distinct risk the slope is not identifiable.
    slope_fit = fit_logistic(np.column_stack([ones, lp]), y) if np.ptp(lp) > 0 else None
    intercept_fit = fit_logistic(ones, y, offset=lp)
    slope = _wald(slope_fit[0][1], slope_fit[1][1, 1], level) if slope_fit else None
    intercept = _wald(intercept_fit[0][0], intercept_fit[1][0, 0], level) if intercept_fit else None
    return slope, intercept


def interpret_calibration(
    slope: Interval | None, intercept: Interval | None, oe_ratio: float | None = None
) -> str | None:
    """One or two plain sentences when the slope is far from 1 or the intercept far from 0."""
    sentences = []
    if slope is not None and abs(slope.value - 1) > SLOPE_TOLERANCE:
        if slope.value < 1:
            text = (
                f"Slope {slope.value:.2f} < 1: predictions are too extreme (overfitting); "
                "high risks are overestimated and low risks underestimated."
            )
        else:
            text = (
                f"Slope {slope.value:.2f} > 1: predictions are too modest (underfitting); "
                "high risks are underestimated and low risks overestimated."
            )
        if slope.ci_low is not None and slope.ci_low <= 1 <= slope.ci_high:
            text = text[:-1] + ", though the 95 % interval includes 1, so this may be chance."
        sentences.append(text)
    if slope is None and intercept is not None:
        sentences.append(
            "The calibration slope cannot be estimated: the predicted risks separate the "
            "outcomes (almost) perfectly. Judge calibration from the plot."
        )
    if intercept is not None and abs(intercept.value) > INTERCEPT_TOLERANCE:
        sentences.append(_intercept_sentence(intercept.value, oe_ratio))
    return " ".join(sentences) or None


#: Observed/expected ratios this close to 1 mean no over- or underestimation on average.
OE_TOLERANCE = 0.05


def _intercept_sentence(intercept: float, oe_ratio: float | None) -> str:
    """The intercept in words, never contradicting the observed/expected ratio: with risks
    near 0 or 1 the log-odds intercept can be large while events and expected events agree."""
    if oe_ratio is None:
        direction = "under" if intercept > 0 else "over"
        return f"Intercept {intercept:.2f}: risks are {direction}estimated on average."
    if abs(oe_ratio - 1) <= OE_TOLERANCE:
        return (
            f"Intercept {intercept:.2f} on the log-odds scale, but observed and expected events "
            f"agree (observed/expected {oe_ratio:.2f}): a few risks near 0 or 1 weigh on the "
            "intercept; on average risks are neither over- nor underestimated."
        )
    direction = "under" if oe_ratio > 1 else "over"
    return (
        f"Intercept {intercept:.2f}: risks are {direction}estimated on average "
        f"(observed/expected {oe_ratio:.2f})."
    )


# -- curves ------------------------------------------------------------------------------------
def lowess(x: np.ndarray, y: np.ndarray, at: np.ndarray, frac: float = 2 / 3) -> np.ndarray:
    """Local linear regression of ``y`` on ``x`` evaluated at ``at`` (lowess, no robustness
    iterations: with a 0/1 outcome they would discard the events as outliers).

    Each point uses the ``floor(frac * n)`` nearest observations with tricube weights.
    """
    k = min(x.size, max(2, int(frac * x.size + 1e-7)))  # as R and statsmodels
    fitted = np.empty(at.size)
    for i, x0 in enumerate(at):
        distance = np.abs(x - x0)
        radius = np.partition(distance, k - 1)[k - 1]
        if radius <= 0:
            fitted[i] = np.mean(y[distance <= 0])
            continue
        w = np.clip(1 - (distance / radius) ** 3, 0, None) ** 3
        sw = w.sum()
        if sw <= 0:  # every neighbour sits exactly on the radius: plain mean
            fitted[i] = np.mean(y[distance <= radius])
            continue
        # Plain sums, not BLAS dot products: threaded BLAS on a busy machine is far slower here.
        mx, my = np.sum(w * x) / sw, np.sum(w * y) / sw
        sxx = np.sum(w * (x - mx) ** 2)
        b = np.sum(w * (x - mx) * (y - my)) / sxx if sxx > 1e-12 * sw else 0.0
        fitted[i] = my + b * (x0 - mx)
    return fitted


def calibration_bins(
    y_true: np.ndarray, y_prob: np.ndarray, n_bins: int = 10, level: float = 0.95
) -> pd.DataFrame:
    """Quantile bins of predicted risk (equal numbers of patients) with observed proportions.

    Columns: ``bin`` (1 = lowest risks), ``n``, ``events``, ``mean_predicted``, ``observed``,
    ``ci_low``, ``ci_high`` (Wilson interval of ``observed``), ``risk_min``, ``risk_max``.
    Patients are split by rank, so tied risks may straddle two bins.
    """
    order = np.argsort(y_prob, kind="stable")
    rows = []
    for number, members in enumerate(np.array_split(order, min(n_bins, y_true.size)), start=1):
        events, n = int(y_true[members].sum()), members.size
        low, high = wilson_interval(events, n, level)
        rows.append(
            {
                "bin": number,
                "n": n,
                "events": events,
                "mean_predicted": float(y_prob[members].mean()),
                "observed": events / n,
                "ci_low": float(low),
                "ci_high": float(high),
                "risk_min": float(y_prob[members].min()),
                "risk_max": float(y_prob[members].max()),
            }
        )
    return pd.DataFrame(rows)


# -- the whole picture -------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class CalibrationResult:
    """Calibration of a binary risk model.

    Attributes
    ----------
    n, events : patients and observed events.
    bins : quantile bins (see :func:`calibration_bins`).
    smooth : lowess curve, columns ``predicted`` and ``observed``, over the range of risks.
    slope, intercept : calibration slope and intercept with Wald intervals (None if not
        estimable).
    expected_events : sum of predicted risks.
    oe_ratio : observed / expected events (1 is ideal; > 1 means risks are too low).
    brier, scaled_brier : Brier score, and 1 - Brier / (prev (1 - prev)).
    ici : integrated calibration index, mean |smoothed observed - predicted| over patients.
    interpretation : plain sentences when slope or intercept are far from ideal, else None.
    """

    n: int
    events: int
    bins: pd.DataFrame
    smooth: pd.DataFrame
    slope: Interval | None
    intercept: Interval | None
    expected_events: float
    oe_ratio: float | None
    brier: float
    scaled_brier: float | None
    ici: float | None
    interpretation: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary, bins and smoothed curve included."""
        return {
            "n": self.n,
            "events": self.events,
            "slope": interval_dict(self.slope),
            "intercept": interval_dict(self.intercept),
            "expected_events": plain_float(self.expected_events),
            "oe_ratio": plain_float(self.oe_ratio),
            "brier": plain_float(self.brier),
            "scaled_brier": plain_float(self.scaled_brier),
            "ici": plain_float(self.ici),
            "interpretation": self.interpretation,
            "bins": frame_records(self.bins),
            "smooth": frame_records(self.smooth),
        }


def calibration(
    y_true: Any,
    y_prob: Any,
    n_bins: int = 10,
    *,
    smooth_points: int = 100,
    frac: float = 2 / 3,
    level: float = 0.95,
) -> CalibrationResult:
    """Calibration plot data and calibration statistics of predicted risks.

    Parameters
    ----------
    y_true : observed outcomes coded 0/1.
    y_prob : predicted risks in [0, 1].
    n_bins : number of quantile bins (2 to 50).
    smooth_points : points of the lowess curve, evenly spaced over the observed risk range.
    frac : share of patients in each lowess neighbourhood.
    level : confidence level of the bin and coefficient intervals.

    Raises
    ------
    DataError
        If the inputs are not 0/1 outcomes and risks in [0, 1] of equal length.
    ConfigError
        If ``n_bins`` is outside 2 to 50 or ``frac`` outside (0, 1].
    """
    if not 2 <= n_bins <= 50:
        raise ConfigError(f"n_bins must be between 2 and 50, got {n_bins}.")
    if not 0 < frac <= 1:
        raise ConfigError(f"frac (the lowess span) must lie in (0, 1], got {frac}.")
    y, p = as_binary_inputs(y_true, y_prob)
    events, expected = int(y.sum()), float(p.sum())
    grid = np.linspace(p.min(), p.max(), smooth_points)
    smoothed = np.clip(lowess(p, y.astype(float), grid, frac), 0, 1)
    ici = float(np.mean(np.abs(np.interp(p, grid, smoothed) - p))) if p.max() > p.min() else None
    slope, intercept = calibration_slope_intercept(y, p, level)
    oe = events / expected if expected > 0 else None
    brier = brier_score(y, p)
    return CalibrationResult(
        n=int(y.size),
        events=events,
        bins=calibration_bins(y, p, n_bins, level),
        smooth=pd.DataFrame({"predicted": grid, "observed": smoothed}),
        slope=slope,
        intercept=intercept,
        expected_events=expected,
        oe_ratio=oe,
        brier=brier,
        scaled_brier=scaled_brier_score(brier, events / y.size),
        ici=ici,
        interpretation=interpret_calibration(slope, intercept, oe),
    )
