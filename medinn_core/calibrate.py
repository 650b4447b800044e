"""Recalibration and conformal prediction, fitted on held-out outputs (out-of-fold or the
validation split). Pure NumPy/SciPy: no TensorFlow.

* :func:`fit_recalibration`: the closed testing procedure of Vergouwe et al. (Stat Med 2017)
  on held-out logits: keep the network as it is unless a likelihood-ratio test says its risks
  are off; then correct the intercept only, or intercept and slope, whichever the test
  supports. Multiclass: one temperature (a common slope), tested against 1.
* :func:`conformal_half_width` and :func:`conformal_threshold`: split-conformal quantiles of
  held-out residuals or class scores, with the finite-sample correction ``ceil((n+1)c)/n``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, stats
from scipy.special import expit, log_softmax

#: Significance level of the closed test.
ALPHA = 0.05
#: Slopes (and temperatures) outside this range are not applied: a held-out slope of 8 says
#: the network barely separates the patients (its logits hardly vary), not that stretching
#: them eightfold would help; the intercept alone is corrected then.
SLOPE_RANGE = (0.2, 5.0)


@dataclass(frozen=True)
class Recalibration:
    """``logit' = intercept + slope * logit`` (binary), ``logits' = slope * logits``
    (multiclass), or nothing (``form == "none"``)."""

    form: str = "none"  # "none", "intercept", "intercept and slope", "temperature"
    intercept: float = 0.0
    slope: float = 1.0
    p_value: float | None = None  # of the test that chose the form

    def apply(self, logits: np.ndarray) -> np.ndarray:
        return self.intercept + self.slope * np.asarray(logits, dtype=np.float64)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> Recalibration:
        return cls(**data) if data else cls()

    def describe(self) -> str:
        """One sentence for the model card and the report."""
        if self.form == "none":
            return "none: the held-out risks were not significantly miscalibrated (closed test)."
        if self.form == "temperature":
            return f"temperature: logits multiplied by {self.slope:.2f} (p = {self.p_value:.3g})."
        if self.form == "intercept":
            return f"intercept corrected by {self.intercept:+.2f} (p = {self.p_value:.3g})."
        return (
            f"intercept {self.intercept:+.2f} and slope {self.slope:.2f} (p = {self.p_value:.3g})."
        )


def _binary_loglik(y: np.ndarray, eta: np.ndarray) -> float:
    return float(np.sum(y * eta - np.logaddexp(0.0, eta)))


def _fit_binary(z: np.ndarray, y: np.ndarray, slope: bool) -> tuple[float, float, float]:
    """Maximum-likelihood (intercept, slope, log-likelihood) of ``y ~ a + b z``."""

    def nll(theta):
        a, b = theta[0], theta[1] if slope else 1.0
        return -_binary_loglik(y, a + b * z)

    res = optimize.minimize(nll, np.array([0.0, 1.0]) if slope else np.array([0.0]), method="BFGS")
    a = float(res.x[0])
    b = float(res.x[1]) if slope else 1.0
    return a, b, -float(res.fun)


def fit_recalibration(task: str, logits: np.ndarray, y: np.ndarray) -> Recalibration:
    """The closed test on held-out ``logits`` (binary: ``(n,)``; multiclass: ``(n, k)``) and
    outcomes ``y`` (0/1 or class indices). Regression is never recalibrated."""
    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y)
    if task == "binary":
        if len(np.unique(y)) < 2:
            return Recalibration()
        y = y.astype(np.float64)
        base = _binary_loglik(y, logits)
        a1, _, ll1 = _fit_binary(logits, y, slope=False)
        a2, b2, ll2 = _fit_binary(logits, y, slope=True)
        p_both = float(stats.chi2.sf(max(2 * (ll2 - base), 0.0), 2))
        if p_both >= ALPHA:
            return Recalibration("none", p_value=p_both)
        p_slope = float(stats.chi2.sf(max(2 * (ll2 - ll1), 0.0), 1))
        if p_slope < ALPHA and SLOPE_RANGE[0] <= b2 <= SLOPE_RANGE[1]:
            return Recalibration("intercept and slope", a2, b2, p_slope)
        p_int = float(stats.chi2.sf(max(2 * (ll1 - base), 0.0), 1))
        return Recalibration("intercept", a1, 1.0, p_int)
    if task == "multiclass":
        if len(np.unique(y)) < 2:
            return Recalibration()
        idx = y.astype(int)

        def loglik(t):
            return float(np.sum(log_softmax(t * logits, axis=1)[np.arange(len(idx)), idx]))

        res = optimize.minimize_scalar(lambda t: -loglik(t), bounds=SLOPE_RANGE, method="bounded")
        t = float(res.x)
        p = float(stats.chi2.sf(max(2 * (loglik(t) - loglik(1.0)), 0.0), 1))
        return (
            Recalibration("temperature", 0.0, t, p)
            if p < ALPHA
            else Recalibration("none", p_value=p)
        )
    return Recalibration()


def conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """The split-conformal quantile of held-out nonconformity ``scores``: the
    ``ceil((n + 1) coverage)``-th smallest (infinite when there are too few scores)."""
    scores = np.sort(np.asarray(scores, dtype=np.float64))
    n = len(scores)
    rank = int(np.ceil((n + 1) * coverage))
    if n == 0 or rank > n:
        return float("inf")
    return float(scores[rank - 1])


def class_scores(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Nonconformity of the true class: 1 - its predicted probability."""
    return 1.0 - proba[np.arange(len(y)), np.asarray(y, dtype=int)]


def prediction_sets(proba: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean ``(n, k)``: class ``c`` is in the set when ``1 - p_c <= threshold``; the most
    likely class is always in it (a set is never empty)."""
    member = (1.0 - proba) <= threshold + 1e-12
    member[np.arange(len(proba)), np.argmax(proba, axis=1)] = True
    return member


def probability(task: str, logits: np.ndarray) -> np.ndarray:
    """Risk (binary, ``(n,)``) or class probabilities (multiclass, ``(n, k)``) from logits."""
    if task == "binary":
        return expit(logits)
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def cross_fitted(task: str, logits: np.ndarray, y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Out-of-fold probabilities, each fold recalibrated by the closed test fitted on the other
    folds, so that the internal validation does not see its own recalibration."""
    out = np.empty(np.shape(logits))
    for f in np.unique(folds):
        here = folds == f
        rec = fit_recalibration(task, logits[~here], y[~here])
        out[here] = probability(task, rec.apply(logits[here]))
    return out
