"""Threshold views of a binary risk model and its clinical utility.

A risk becomes a decision at a threshold: patients with ``risk >= threshold`` are "predicted
positive" (flagged, treated, referred). This module gives the confusion matrix and the
quantities clinicians read off it (sensitivity, specificity, PPV, NPV with Wilson intervals,
likelihood ratios, number needed to evaluate), the usual threshold presets, and the decision
curve of Vickers & Elkin (Medical Decision Making 2006).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from medinn_core.errors import ConfigError
from medinn_core.evaluation._bootstrap import (
    Interval,
    as_binary_inputs,
    interval_dict,
    plain_float,
    proportion,
)

#: Row and column labels of a binary confusion matrix, outcome 0 then 1.
OUTCOME_LABELS = ("no event", "event")


def check_threshold(threshold: Any, name: str = "threshold") -> float:
    """``threshold`` as a float in [0, 1], else :class:`ConfigError`."""
    try:
        value = float(threshold)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a probability in [0, 1], got {threshold!r}.") from exc
    if not 0 <= value <= 1:
        raise ConfigError(f"{name} must be a probability in [0, 1], got {threshold!r}.")
    return value


def check_prevalence(prevalence: float | None) -> None:
    """Raise :class:`ConfigError` unless ``prevalence`` is None or strictly inside (0, 1)."""
    if prevalence is not None and not 0 < prevalence < 1:
        raise ConfigError(
            f"prevalence must lie strictly between 0 and 1 (e.g. 0.08 for 8 %), got {prevalence}."
        )


def predictive_values(
    sensitivity: float, specificity: float, prevalence: float
) -> tuple[float | None, float | None]:
    """PPV and NPV at another prevalence, by Bayes' theorem (None where undefined)."""
    flagged = sensitivity * prevalence + (1 - specificity) * (1 - prevalence)
    cleared = specificity * (1 - prevalence) + (1 - sensitivity) * prevalence
    ppv = sensitivity * prevalence / flagged if flagged > 0 else None
    npv = specificity * (1 - prevalence) / cleared if cleared > 0 else None
    return ppv, npv


@dataclass(frozen=True)
class ThresholdMetrics:
    """Performance at one threshold (predicted positive means ``risk >= threshold``).

    Attributes
    ----------
    threshold : the threshold.
    tp, fp, tn, fn : cells of the confusion matrix.
    sensitivity, specificity, ppv, npv : proportions with Wilson intervals (None when the
        denominator is zero, e.g. PPV when nobody is flagged).
    f1 : harmonic mean of PPV and sensitivity.
    lr_positive, lr_negative : likelihood ratios sens / (1 - spec) and (1 - sens) / spec.
    number_needed_to_evaluate : 1 / PPV, patients flagged per event found.
    prevalence : event rate in the data.
    target_prevalence : the prevalence the user entered, if any.
    ppv_at_prevalence, npv_at_prevalence : PPV and NPV recomputed for ``target_prevalence``.
    """

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    sensitivity: Interval | None
    specificity: Interval | None
    ppv: Interval | None
    npv: Interval | None
    f1: float | None
    lr_positive: float | None
    lr_negative: float | None
    number_needed_to_evaluate: float | None
    prevalence: float
    target_prevalence: float | None = None
    ppv_at_prevalence: float | None = None
    npv_at_prevalence: float | None = None

    def confusion_matrix(self) -> pd.DataFrame:
        """Counts with observed outcome as rows and prediction as columns (no event first)."""
        return pd.DataFrame(
            [[self.tn, self.fp], [self.fn, self.tp]],
            index=pd.Index(OUTCOME_LABELS, name="observed"),
            columns=pd.Index(OUTCOME_LABELS, name="predicted"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary; intervals as ``{"value", "ci_low", "ci_high"}``."""

        return {
            "threshold": plain_float(self.threshold),
            "confusion_matrix": {"tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn},
            "sensitivity": interval_dict(self.sensitivity),
            "specificity": interval_dict(self.specificity),
            "ppv": interval_dict(self.ppv),
            "npv": interval_dict(self.npv),
            "f1": plain_float(self.f1),
            "lr_positive": plain_float(self.lr_positive),
            "lr_negative": plain_float(self.lr_negative),
            "number_needed_to_evaluate": plain_float(self.number_needed_to_evaluate),
            "prevalence": plain_float(self.prevalence),
            "target_prevalence": plain_float(self.target_prevalence),
            "ppv_at_prevalence": plain_float(self.ppv_at_prevalence),
            "npv_at_prevalence": plain_float(self.npv_at_prevalence),
        }


def threshold_metrics(
    y_true: Any,
    y_prob: Any,
    threshold: float = 0.5,
    prevalence: float | None = None,
    *,
    level: float = 0.95,
) -> ThresholdMetrics:
    """Confusion matrix and derived measures at ``threshold``.

    Parameters
    ----------
    y_true : observed outcomes coded 0/1.
    y_prob : predicted risks in [0, 1].
    threshold : patients with ``risk >= threshold`` are predicted positive.
    prevalence : optional prevalence of the setting where the model will be used; PPV and NPV
        are then also given for it (sensitivity and specificity carry over, PPV/NPV do not).
    level : confidence level of the Wilson intervals.

    Raises
    ------
    DataError
        If the inputs are not 0/1 outcomes and risks in [0, 1] of equal length.
    ConfigError
        If ``threshold`` is outside [0, 1] or ``prevalence`` outside (0, 1).
    """
    y, p = as_binary_inputs(y_true, y_prob)
    threshold = check_threshold(threshold)
    check_prevalence(prevalence)
    flagged = p >= threshold
    tp = int(np.sum(flagged & (y == 1)))
    fp = int(np.sum(flagged & (y == 0)))
    fn = int(np.sum(~flagged & (y == 1)))
    tn = int(np.sum(~flagged & (y == 0)))
    sens, spec = proportion(tp, tp + fn, level), proportion(tn, tn + fp, level)
    ppv, npv = proportion(tp, tp + fp, level), proportion(tn, tn + fn, level)
    lr_pos = lr_neg = ppv_prev = npv_prev = None
    if sens is not None and spec is not None:
        lr_pos = sens.value / (1 - spec.value) if spec.value < 1 else None
        lr_neg = (1 - sens.value) / spec.value if spec.value > 0 else None
        if prevalence is not None:
            ppv_prev, npv_prev = predictive_values(sens.value, spec.value, prevalence)
    return ThresholdMetrics(
        threshold=threshold,
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        sensitivity=sens,
        specificity=spec,
        ppv=ppv,
        npv=npv,
        f1=2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else None,
        lr_positive=lr_pos,
        lr_negative=lr_neg,
        number_needed_to_evaluate=1 / ppv.value if ppv is not None and ppv.value > 0 else None,
        prevalence=float(y.mean()),
        target_prevalence=prevalence,
        ppv_at_prevalence=ppv_prev,
        npv_at_prevalence=npv_prev,
    )


# -- threshold presets -------------------------------------------------------------------------
def _rates_by_threshold(y: np.ndarray, p: np.ndarray):
    # Distinct risks ascending, with sensitivity and specificity of the rule risk >= value.
    values, group = np.unique(p, return_inverse=True)
    pos = np.bincount(group, weights=y, minlength=values.size)
    neg = np.bincount(group, minlength=values.size) - pos
    with np.errstate(divide="ignore", invalid="ignore"):  # NaN for an absent class
        sensitivity = (pos.sum() - (np.cumsum(pos) - pos)) / pos.sum()
        specificity = (np.cumsum(neg) - neg) / neg.sum()
    return values, sensitivity, specificity


def youden_threshold(y_true: Any, y_prob: Any) -> float | None:
    """The risk threshold maximising Youden's J = sensitivity + specificity - 1.

    Candidates are the observed risks; among ties the lowest (most sensitive) wins. None when
    the data hold one outcome class only.

    Raises
    ------
    DataError
        If the inputs are not 0/1 outcomes and risks in [0, 1] of equal length.
    """
    y, p = as_binary_inputs(y_true, y_prob)
    if y.min() == y.max():
        return None
    values, sens, spec = _rates_by_threshold(y, p)
    return float(values[np.argmax(sens + spec - 1)])


def sensitivity_threshold(y_true: Any, y_prob: Any, target: float = 0.9) -> float | None:
    """The highest risk threshold whose sensitivity reaches ``target`` (None without events).

    The highest such threshold flags the fewest patients, so it keeps specificity highest.

    Raises
    ------
    DataError
        If the inputs are not 0/1 outcomes and risks in [0, 1] of equal length.
    ConfigError
        If ``target`` is outside (0, 1].
    """
    if not 0 < target <= 1:
        raise ConfigError(f"The target sensitivity must lie in (0, 1], e.g. 0.9; got {target}.")
    y, p = as_binary_inputs(y_true, y_prob)
    if y.sum() == 0:
        return None
    values, sens, _ = _rates_by_threshold(y, p)
    reached = np.flatnonzero(sens >= target - 1e-12)
    return float(values[reached[-1]])


def threshold_presets(
    y_true: Any,
    y_prob: Any,
    *,
    target_sensitivity: float = 0.9,
    user_threshold: float | None = None,
) -> pd.DataFrame:
    """The threshold presets with their sensitivity, specificity, PPV and NPV.

    Rows (column ``key``): ``"default"`` (0.5), ``"youden"`` (Youden's J),
    ``"target_sensitivity"`` (highest threshold reaching ``target_sensitivity``) and, when given,
    ``"user"``. Columns: ``key``, ``label``, ``threshold``, ``sensitivity``, ``specificity``,
    ``ppv``, ``npv``, ``youden_j``. A preset that cannot be computed (one outcome class only)
    has NaN threshold and measures.

    Raises
    ------
    DataError
        If the inputs are not 0/1 outcomes and risks in [0, 1] of equal length.
    ConfigError
        If ``user_threshold`` or ``target_sensitivity`` is out of range.
    """
    y, p = as_binary_inputs(y_true, y_prob)
    presets = [
        ("default", "Default 0.5", 0.5),
        ("youden", "Youden's J (max sensitivity + specificity)", youden_threshold(y, p)),
        (
            "target_sensitivity",
            f"Sensitivity ≥ {target_sensitivity:.0%}",
            sensitivity_threshold(y, p, target_sensitivity),
        ),
    ]
    if user_threshold is not None:
        presets.append(("user", "Your threshold", check_threshold(user_threshold)))
    rows = []
    for key, label, threshold in presets:
        row = {"key": key, "label": label, "threshold": threshold}
        if threshold is not None:
            m = threshold_metrics(y, p, threshold)
            for name in ("sensitivity", "specificity", "ppv", "npv"):
                interval = getattr(m, name)
                row[name] = interval.value if interval is not None else None
            if m.sensitivity is not None and m.specificity is not None:
                row["youden_j"] = m.sensitivity.value + m.specificity.value - 1
        rows.append(row)
    columns = ["key", "label", "threshold", "sensitivity", "specificity", "ppv", "npv", "youden_j"]
    return pd.DataFrame(rows, columns=columns).astype({c: float for c in columns[2:]})


# -- clinical utility --------------------------------------------------------------------------
def default_decision_thresholds() -> np.ndarray:
    """Threshold probabilities 1 % to 50 % in steps of 1 %."""
    return np.round(np.arange(0.01, 0.51, 0.01), 12)


def decision_curve(y_true: Any, y_prob: Any, thresholds: Any = None) -> pd.DataFrame:
    """Net benefit of the model, of treating everyone and of treating no one.

    At threshold probability ``pt`` (patients with ``risk >= pt`` are treated),
    ``NB = TP/n - FP/n * pt / (1 - pt)``; treat-all has ``prev - (1 - prev) * pt / (1 - pt)``
    and treat-none 0.

    Parameters
    ----------
    y_true : observed outcomes coded 0/1.
    y_prob : predicted risks in [0, 1].
    thresholds : threshold probabilities in (0, 1); default 0.01 to 0.50 by 0.01. They are
        rounded to 12 decimals so that ``np.arange`` noise does not leak into the output.

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold``, ``net_benefit_model``, ``net_benefit_treat_all``,
        ``net_benefit_treat_none`` and ``interventions_avoided_per_100`` (net reduction in
        treated patients per 100, compared with treating all, at equal benefit).

    Raises
    ------
    DataError
        If the inputs are not 0/1 outcomes and risks in [0, 1] of equal length.
    ConfigError
        If a threshold is outside (0, 1) or none is given.
    """
    y, p = as_binary_inputs(y_true, y_prob)
    t = default_decision_thresholds() if thresholds is None else np.asarray(thresholds, float)
    t = np.round(np.atleast_1d(t), 12)
    if t.ndim != 1 or t.size == 0 or np.any(~np.isfinite(t)) or np.any((t <= 0) | (t >= 1)):
        raise ConfigError(
            "Decision-curve thresholds must be probabilities strictly between 0 and 1 "
            "(e.g. 0.01 to 0.50)."
        )
    n = y.size
    events, others = np.sort(p[y == 1]), np.sort(p[y == 0])
    tp = events.size - np.searchsorted(events, t, side="left")
    fp = others.size - np.searchsorted(others, t, side="left")
    odds = t / (1 - t)
    prevalence = events.size / n
    model = tp / n - fp / n * odds
    treat_all = prevalence - (1 - prevalence) * odds
    return pd.DataFrame(
        {
            "threshold": t,
            "net_benefit_model": model,
            "net_benefit_treat_all": treat_all,
            "net_benefit_treat_none": np.zeros(t.size),
            "interventions_avoided_per_100": (model - treat_all) / odds * 100,
        }
    )
