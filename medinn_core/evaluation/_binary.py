"""Clinical evaluation of a binary model on held-out patients.

Binary outcomes get what TRIPOD+AI asks a report to show: discrimination with bootstrap
intervals and curve bands, threshold views, calibration, decision curves, risk distributions,
subgroups, a paired comparison with a baseline model and a sample-size check. Multiclass and
regression models get their own summaries. Every function is pure: arrays in, frozen
dataclasses or DataFrames out, each with a JSON-ready ``to_dict``.

This module holds the binary evaluation, the baseline comparison, risk distributions and the
sample-size check; the package's ``__init__`` lists the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from medinn_core.errors import ConfigError
from medinn_core.evaluation._bootstrap import (
    CURVE_GRID,
    Interval,
    as_binary_inputs,
    as_vector,
    binary_resamples,
    bootstrap_indices,
    check_bootstrap_settings,
    curve_band,
    frame_records,
    identity_indices,
    interval_dict,
    percentile_interval,
    plain_float,
    roc_curve_frame,
)
from medinn_core.evaluation._calibration import (
    CalibrationResult,
    calibration,
)
from medinn_core.evaluation._thresholds import (
    ThresholdMetrics,
    decision_curve,
    threshold_metrics,
    threshold_presets,
)

__all__ = [
    "MIN_EVENTS_PER_PARAMETER",
    "BinaryEvaluation",
    "ModelComparison",
    "ModelSummary",
    "SampleSize",
    "compare_models",
    "evaluate_binary",
    "risk_distribution",
    "sample_size",
]

#: Fewer events per model input than this triggers a sample-size warning.
MIN_EVENTS_PER_PARAMETER = 10


# -- risk distribution, sample size, subgroups -------------------------------------------------
def risk_distribution(y_true: Any, y_prob: Any, n_bins: int = 20) -> pd.DataFrame:
    """Histogram of predicted risk by observed outcome, on equal-width bins over [0, 1].

    Returns a long frame with columns ``bin_left``, ``bin_right``, ``outcome`` ("no event" /
    "event"), ``count`` and ``share`` (the share of that outcome's patients in the bin).

    Raises
    ------
    DataError
        If the inputs are not 0/1 outcomes and risks in [0, 1] of equal length.
    ConfigError
        If ``n_bins`` is outside 2 to 200.
    """
    if not 2 <= n_bins <= 200:
        raise ConfigError(f"n_bins must be between 2 and 200, got {n_bins}.")
    y, p = as_binary_inputs(y_true, y_prob)
    edges = np.linspace(0, 1, n_bins + 1)
    frames = []
    for code, label in enumerate(("no event", "event")):
        counts, _ = np.histogram(p[y == code], bins=edges)
        total = counts.sum()
        share = counts / total if total else np.zeros(n_bins)
        frames.append(
            pd.DataFrame(
                {
                    "bin_left": edges[:-1],
                    "bin_right": edges[1:],
                    "outcome": label,
                    "count": counts,
                    "share": share,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class SampleSize:
    """Events per parameter of a binary model.

    ``n_parameters`` is the number of model inputs after encoding (one-hot columns count
    separately), the candidate predictors in the events-per-variable sense, not the network's
    weights. ``events_per_parameter`` divides the rarer outcome's count by it.
    """

    n: int
    events: int
    non_events: int
    n_parameters: int
    events_per_parameter: float
    warning: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of all fields."""
        return {
            "n": self.n,
            "events": self.events,
            "non_events": self.non_events,
            "n_parameters": self.n_parameters,
            "events_per_parameter": plain_float(self.events_per_parameter),
            "warning": self.warning,
        }


def sample_size(y_true: Any, n_parameters: int) -> SampleSize:
    """n, events and events per parameter, with a warning under ``MIN_EVENTS_PER_PARAMETER``.

    Raises
    ------
    DataError
        If ``y_true`` is not coded 0/1.
    ConfigError
        If ``n_parameters`` is not a whole number >= 1.
    """
    whole = isinstance(n_parameters, (int, np.integer)) and not isinstance(n_parameters, bool)
    if not whole or n_parameters < 1:
        raise ConfigError(
            f"n_parameters (model inputs after encoding) must be a whole number >= 1, "
            f"got {n_parameters!r}."
        )
    outcome = as_vector(y_true, "y_true (the observed outcome)")
    y, _ = as_binary_inputs(outcome, np.zeros(outcome.size))
    events = int(y.sum())
    non_events = int(y.size - events)
    epp = min(events, non_events) / int(n_parameters)
    warning = None
    if epp < MIN_EVENTS_PER_PARAMETER:
        rarer = "events" if events <= non_events else "non-events"
        warning = (
            f"Only {epp:.1f} {rarer} per model input ({min(events, non_events)} {rarer}, "
            f"{int(n_parameters)} inputs after encoding); under {MIN_EVENTS_PER_PARAMETER} the "
            "model is likely overfitted, so expect optimistic performance and poor calibration "
            "in new patients. Collect more data or use fewer inputs."
        )
    return SampleSize(int(y.size), events, non_events, int(n_parameters), epp, warning)


# -- binary evaluation -------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BinaryEvaluation:
    """Everything about a binary risk model on one set of patients.

    Attributes
    ----------
    n, events, prevalence : patients, events, event rate.
    auroc, average_precision : with percentile bootstrap intervals (None if undefined).
    roc_curve : columns ``fpr`` (grid 0 to 1 by 0.01, after a leading origin row), ``tpr``,
        ``tpr_low``, ``tpr_high`` (pointwise bootstrap band; NaN when not computed).
    pr_curve : columns ``recall`` (grid), ``precision``, ``precision_low``, ``precision_high``.
    threshold : :class:`ThresholdMetrics` at the chosen threshold.
    presets : :func:`threshold_presets` table.
    calibration : :class:`CalibrationResult`.
    decision_curve : :func:`decision_curve` table.
    risk_distribution : :func:`risk_distribution` table.
    sample_size : :class:`SampleSize`, when ``n_parameters`` was given.
    n_boot, seed : bootstrap settings used.
    notes : plain sentences about what could not be computed, and warnings.
    """

    n: int
    events: int
    prevalence: float
    auroc: Interval | None
    average_precision: Interval | None
    roc_curve: pd.DataFrame
    pr_curve: pd.DataFrame
    threshold: ThresholdMetrics
    presets: pd.DataFrame
    calibration: CalibrationResult
    decision_curve: pd.DataFrame
    risk_distribution: pd.DataFrame
    sample_size: SampleSize | None
    n_boot: int
    seed: int
    notes: tuple[str, ...] = ()
    task: str = "binary"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (plain Python, None for undefined numbers)."""
        cal = self.calibration
        out: dict[str, Any] = {
            "task": self.task,
            "n": self.n,
            "events": self.events,
            "prevalence": plain_float(self.prevalence),
            "n_boot": self.n_boot,
            "seed": self.seed,
            "auroc": interval_dict(self.auroc),
            "average_precision": interval_dict(self.average_precision),
            "brier": plain_float(cal.brier),
            "scaled_brier": plain_float(cal.scaled_brier),
            "calibration_slope": plain_float(cal.slope.value) if cal.slope else None,
            "calibration_intercept": plain_float(cal.intercept.value) if cal.intercept else None,
            "oe_ratio": plain_float(cal.oe_ratio),
        }
        out.update(self.threshold.to_dict())
        out["threshold_presets"] = frame_records(self.presets)
        out["calibration"] = cal.to_dict()
        out["net_benefit"] = [
            {
                "threshold": r["threshold"],
                "model": r["net_benefit_model"],
                "treat_all": r["net_benefit_treat_all"],
            }
            for r in frame_records(self.decision_curve)
        ]
        out["decision_curve"] = frame_records(self.decision_curve)
        out["roc_curve"] = frame_records(self.roc_curve)
        out["pr_curve"] = frame_records(self.pr_curve)
        out["risk_distribution"] = frame_records(self.risk_distribution)
        out["sample_size"] = self.sample_size.to_dict() if self.sample_size else None
        out["notes"] = list(self.notes)
        return out


def _resolve_threshold(threshold: float | str, presets: pd.DataFrame) -> float:
    if not isinstance(threshold, str):
        return float(threshold)
    keys = ("youden", "target_sensitivity")
    if threshold not in keys:
        raise ConfigError(f"threshold must be a number or one of {keys}; got {threshold!r}.")
    value = presets.set_index("key").loc[threshold, "threshold"]
    if not np.isfinite(value):
        raise ConfigError(
            f"The {threshold!r} threshold needs both events and non-events; choose a number."
        )
    return float(value)


def evaluate_binary(
    y_true: Any,
    y_prob: Any,
    *,
    threshold: float | str = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
    n_parameters: int | None = None,
    prevalence: float | None = None,
    target_sensitivity: float = 0.9,
    n_bins: int = 10,
    decision_thresholds: Any = None,
    level: float = 0.95,
) -> BinaryEvaluation:
    """Evaluate predicted risks of a binary outcome.

    Parameters
    ----------
    y_true : observed outcomes coded 0/1.
    y_prob : predicted risks in [0, 1] (a ``(n, 1)`` array is accepted).
    threshold : a number in [0, 1], or ``"youden"`` / ``"target_sensitivity"`` to use a preset.
    n_boot : bootstrap resamples of patients for intervals and bands; 0 skips them.
    seed : seed of the bootstrap.
    n_parameters : model inputs after encoding; adds the events-per-parameter check.
    prevalence : a prevalence to recompute PPV and NPV for.
    target_sensitivity : the sensitivity the ``"target_sensitivity"`` preset must reach.
    n_bins : quantile bins of the calibration plot.
    decision_thresholds : threshold probabilities of the decision curve (default 1 % to 50 %).
    level : confidence level of all intervals.

    Raises
    ------
    DataError
        If lengths differ, values are missing, outcomes are not 0/1 or risks leave [0, 1].
    ConfigError
        If a setting is out of range.
    """
    y, p = as_binary_inputs(y_true, y_prob)
    check_bootstrap_settings(n_boot, level)
    n, events = int(y.size), int(y.sum())
    notes = []
    both = 0 < events < n
    if not both:
        notes.append(
            f"Only one outcome class is present ({events} events in {n} patients): AUROC, "
            "the ROC curve, the calibration slope and Youden's threshold are undefined."
        )
    point = binary_resamples(y, p, identity_indices(n), curves=True)
    boot = None
    if n_boot and both:
        boot = binary_resamples(y, p, bootstrap_indices(n, n_boot, seed), curves=True)
        undefined = int(np.sum(~np.isfinite(boot.auroc)))
        if undefined:
            notes.append(
                f"{undefined} of {n_boot} resamples held one outcome class and were skipped."
            )

    auroc = percentile_interval(point.auroc[0], boot.auroc if boot else None, level)
    ap = percentile_interval(
        point.average_precision[0], boot.average_precision if boot else None, level
    )
    pr_low, pr_high = curve_band(point.pr_precision[0], boot.pr_precision if boot else None, level)
    presets = threshold_presets(y, p, target_sensitivity=target_sensitivity)
    chosen = _resolve_threshold(threshold, presets)
    calib = calibration(y, p, n_bins, level=level)
    sizes = sample_size(y, n_parameters) if n_parameters is not None else None
    if sizes is not None and sizes.warning:
        notes.append(sizes.warning)
    return BinaryEvaluation(
        n=n,
        events=events,
        prevalence=events / n,
        auroc=auroc if both else None,
        average_precision=ap if events else None,
        roc_curve=roc_curve_frame(point.roc_tpr[0], boot.roc_tpr if boot else None, level),
        pr_curve=pd.DataFrame(
            {
                "recall": CURVE_GRID,
                "precision": point.pr_precision[0],
                "precision_low": pr_low,
                "precision_high": pr_high,
            }
        ),
        threshold=threshold_metrics(y, p, chosen, prevalence, level=level),
        presets=presets,
        calibration=calib,
        decision_curve=decision_curve(y, p, decision_thresholds),
        risk_distribution=risk_distribution(y, p),
        sample_size=sizes,
        n_boot=int(n_boot),
        seed=int(seed),
        notes=tuple(notes),
    )


# -- comparison with a baseline ----------------------------------------------------------------
@dataclass(frozen=True)
class ModelSummary:
    """Headline numbers of one model in a comparison."""

    name: str
    auroc: Interval | None
    brier: float
    scaled_brier: float | None
    calibration_slope: float | None
    calibration_intercept: float | None
    oe_ratio: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of all fields."""
        return {
            "name": self.name,
            "auroc": interval_dict(self.auroc),
            "brier": plain_float(self.brier),
            "scaled_brier": plain_float(self.scaled_brier),
            "calibration_slope": plain_float(self.calibration_slope),
            "calibration_intercept": plain_float(self.calibration_intercept),
            "oe_ratio": plain_float(self.oe_ratio),
        }


@dataclass(frozen=True)
class ModelComparison:
    """Two models on the same patients; ``auroc_difference`` is first minus second, with a
    paired bootstrap interval (both models scored on the same resampled patients)."""

    n: int
    events: int
    models: tuple[ModelSummary, ModelSummary]
    auroc_difference: Interval | None
    n_boot: int
    seed: int

    def to_frame(self) -> pd.DataFrame:
        """One row per model, for display; the AUROC interval spread over three columns."""
        rows = []
        for m in self.models:
            row = m.to_dict()
            auroc = row.pop("auroc") or {}
            for key in ("value", "ci_low", "ci_high"):
                row["auroc" if key == "value" else f"auroc_{key}"] = auroc.get(key)
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary; ``baseline`` holds the second model's AUROC and Brier score."""
        second = self.models[1]
        return {
            "n": self.n,
            "events": self.events,
            "models": [m.to_dict() for m in self.models],
            "auroc_difference": interval_dict(self.auroc_difference),
            "baseline": {
                "name": second.name,
                "auroc": interval_dict(second.auroc),
                "brier": plain_float(second.brier),
            },
            "n_boot": self.n_boot,
            "seed": self.seed,
        }


def compare_models(
    y_true: Any,
    probs_a: Any,
    probs_b: Any,
    *,
    names: tuple[str, str] = ("model", "baseline"),
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> ModelComparison:
    """Compare two models' risks for the same patients (e.g. the network and a logistic
    regression trained on the same split): AUROC, Brier, calibration, and the AUROC difference
    ``a - b`` with a paired bootstrap interval.

    Raises
    ------
    DataError
        If the inputs are not 0/1 outcomes and risks in [0, 1] of equal length.
    ConfigError
        If ``n_boot`` or ``level`` is out of range, or ``names`` are not two distinct names.
    """
    if len(names) != 2 or names[0] == names[1]:
        raise ConfigError(f"names must be two different model names, got {names!r}.")
    y, pa = as_binary_inputs(y_true, probs_a)
    _, pb = as_binary_inputs(y, probs_b)
    check_bootstrap_settings(n_boot, level)
    both = 0 < y.sum() < y.size
    idx = bootstrap_indices(y.size, n_boot, seed) if n_boot and both else None
    summaries, boots = [], []
    for name, p in zip(names, (pa, pb), strict=True):
        point = binary_resamples(y, p, identity_indices(y.size), average_precision=False).auroc[0]
        boot = (
            binary_resamples(y, p, idx, average_precision=False).auroc if idx is not None else None
        )
        boots.append((point, boot))
        cal = calibration(y, p, level=level)
        summaries.append(
            ModelSummary(
                name=str(name),
                auroc=percentile_interval(point, boot, level) if both else None,
                brier=cal.brier,
                scaled_brier=cal.scaled_brier,
                calibration_slope=cal.slope.value if cal.slope else None,
                calibration_intercept=cal.intercept.value if cal.intercept else None,
                oe_ratio=cal.oe_ratio,
            )
        )
    (a, boot_a), (b, boot_b) = boots
    paired = boot_a - boot_b if idx is not None else None  # same patients in both models
    difference = percentile_interval(a - b, paired, level) if both else None
    return ModelComparison(
        n=int(y.size),
        events=int(y.sum()),
        models=(summaries[0], summaries[1]),
        auroc_difference=difference,
        n_boot=int(n_boot),
        seed=int(seed),
    )
