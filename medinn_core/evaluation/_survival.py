"""Time-to-event evaluation at a horizon, with scikit-survival's metrics.

Discrimination: Harrell's C (bootstrap interval), Uno's C (censoring-weighted, truncated where
fewer than 10 % remain followed) and the cumulative/dynamic AUROC at the horizon. Accuracy:
the censoring-weighted (IPCW) Brier score at the horizon and integrated up to it. Calibration
at the horizon: Kaplan-Meier observed risk against the mean predicted risk by risk decile, the
calibration slope (the Cox coefficient of the log-hazard on these patients) and observed over
expected. Net benefit at the horizon (Vickers, Kaplan-Meier estimated).

The censoring distribution of the IPCW metrics is the Kaplan-Meier estimate of the evaluated
patients' own censoring (their training patients are not at hand for a saved model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from medinn_core.evaluation._bootstrap import (
    Interval,
    bootstrap_indices,
    frame_records,
    interval_dict,
    percentile_interval,
    plain_float,
)
from medinn_core.survival import MIN_AT_RISK, Baseline, risk_by, round_times

#: Risk groups of the calibration table (fewer when patients are few).
RISK_GROUPS = 10
#: Times of the integrated Brier score (from the 10th percentile of follow-up to the horizon).
BRIER_GRID = 25


def _surv(event: np.ndarray, time: np.ndarray):
    from sksurv.util import Surv

    return Surv.from_arrays(event=np.asarray(event) == 1, time=np.asarray(time, dtype=float))


def harrell_c(time: np.ndarray, event: np.ndarray, score: np.ndarray) -> float:
    """Harrell's concordance index of a risk score (higher = earlier event)."""
    from sksurv.metrics import concordance_index_censored

    if not np.any(event == 1):
        return float("nan")
    return float(concordance_index_censored(event == 1, time.astype(float), score)[0])


def uno_c(time: np.ndarray, event: np.ndarray, score: np.ndarray, tau: float) -> float:
    """Uno's censoring-weighted concordance index, truncated at ``tau``."""
    from sksurv.metrics import concordance_index_ipcw

    y = _surv(event, time)
    return float(concordance_index_ipcw(y, y, score, tau=tau)[0])


def uno_truncation(time: np.ndarray) -> float:
    """The time Uno's C is truncated at: where :data:`MIN_AT_RISK` of patients remain followed."""
    order = np.sort(np.asarray(time, dtype=np.float64))
    return float(order[max(0, int(np.ceil((1 - MIN_AT_RISK) * len(order))) - 1)])


def auroc_at(time: np.ndarray, event: np.ndarray, score: np.ndarray, horizon: float) -> float:
    """The cumulative/dynamic AUROC at ``horizon`` (events by then against patients still
    event-free after it, censoring-weighted)."""
    from sksurv.metrics import cumulative_dynamic_auc

    y = _surv(event, time)
    return float(cumulative_dynamic_auc(y, y, score, [horizon])[0][0])


def brier_at(time: np.ndarray, event: np.ndarray, risk: np.ndarray, horizon: float) -> float:
    """The IPCW Brier score at ``horizon`` of risks by the horizon."""
    from sksurv.metrics import brier_score

    y = _surv(event, time)
    return float(brier_score(y, y, (1.0 - risk)[:, None], [horizon])[1][0])


def within_follow_up(time: np.ndarray, horizon: float) -> bool:
    """Whether the metrics at ``horizon`` can be estimated on patients with these times:
    some are still followed after it (scikit-survival needs times inside the follow-up)."""
    return bool(len(time)) and horizon < float(np.max(time)) and horizon >= float(np.min(time))


def survival_headline(
    time: np.ndarray, event: np.ndarray, lp: np.ndarray, risk: np.ndarray, horizon: float
) -> dict[str, float | None]:
    """The numbers shown after training: Harrell's C, the AUROC and Brier score at the horizon."""
    inside = within_follow_up(time, horizon)
    return {
        "c_index": plain_float(harrell_c(time, event, lp)),
        "uno_c_index": plain_float(uno_c(time, event, lp, uno_truncation(time)))
        if event.any()
        else None,
        "auroc_at_horizon": plain_float(auroc_at(time, event, lp, horizon)) if inside else None,
        "brier_at_horizon": plain_float(brier_at(time, event, risk, horizon)) if inside else None,
    }


#: Patients per block of the pairwise bootstrap of Harrell's C (bounds its memory), and the
#: number of patients above which it takes at most :data:`LARGE_C_RESAMPLES` resamples.
PAIR_BLOCK = 1024
LARGE_C_PATIENTS = 5000
LARGE_C_RESAMPLES = 200


def bootstrap_harrell_c(
    time: np.ndarray, event: np.ndarray, score: np.ndarray, picks: np.ndarray
) -> np.ndarray:
    """Harrell's C of each bootstrap resample (rows of ``picks``), computed at once from the
    pairs of patients weighted by how often each is drawn: the same definition as
    scikit-survival's ``concordance_index_censored`` (an event is comparable with every later
    time and with censoring at its own time; risks within 1e-8 are ties, counted half), which
    a test checks; a call per resample took seconds."""
    n = len(time)
    weights = np.zeros((len(picks), n))
    for b, pick in enumerate(picks):
        weights[b] = np.bincount(pick, minlength=n)
    num = np.zeros(len(picks))
    den = np.zeros(len(picks))
    for start in range(0, n, PAIR_BLOCK):
        rows = slice(start, min(n, start + PAIR_BLOCK))
        ti, tj = time[rows, None], time[None, :]
        comparable = (event[rows, None] == 1) & ((tj > ti) | ((tj == ti) & (event[None, :] == 0)))
        diff = score[rows, None] - score[None, :]
        tie = np.abs(diff) <= 1e-8
        concordant = np.where(tie, 0.5, (diff > 0).astype(np.float64)) * comparable
        w = weights[:, rows]
        num += ((w @ concordant) * weights).sum(axis=1)
        den += ((w @ comparable.astype(np.float64)) * weights).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def c_index_interval(
    time: np.ndarray, event: np.ndarray, lp: np.ndarray, *, n_boot: int = 200, seed: int = 0
) -> Interval:
    """Harrell's C with a 95 % percentile bootstrap interval (patients resampled; at most
    :data:`LARGE_C_RESAMPLES` resamples above :data:`LARGE_C_PATIENTS` patients)."""
    value = harrell_c(time, event, lp)
    if n_boot <= 0:
        return Interval(value)
    if len(time) > LARGE_C_PATIENTS:
        n_boot = min(n_boot, LARGE_C_RESAMPLES)
    picks = bootstrap_indices(len(time), n_boot, seed)
    return percentile_interval(value, bootstrap_harrell_c(time, event, lp, picks))


def km_risk(time: np.ndarray, event: np.ndarray, horizon: float) -> float:
    """1 minus the Kaplan-Meier survival at ``horizon``: the observed risk by then."""
    from sksurv.nonparametric import kaplan_meier_estimator

    if len(time) == 0:
        return float("nan")
    times, surv = kaplan_meier_estimator(event == 1, time.astype(float))
    i = np.searchsorted(times, horizon, side="right") - 1
    return float(1.0 - (surv[i] if i >= 0 else 1.0))


def calibration_at(
    time: np.ndarray, event: np.ndarray, risk: np.ndarray, horizon: float
) -> pd.DataFrame:
    """Per risk group (deciles of predicted risk, fewer when patients are few): patients,
    events, mean predicted risk and the Kaplan-Meier observed risk by the horizon."""
    groups = int(min(RISK_GROUPS, max(2, len(risk) // 30)))
    codes = pd.qcut(pd.Series(risk).rank(method="first"), groups, labels=False).to_numpy()
    rows = []
    for g in range(groups):
        here = codes == g
        rows.append(
            {
                "group": g + 1,
                "n": int(here.sum()),
                "events": int(event[here].sum()),
                "predicted": float(risk[here].mean()),
                "observed": km_risk(time[here], event[here], horizon),
            }
        )
    return pd.DataFrame(rows)


def calibration_slope(time: np.ndarray, event: np.ndarray, lp: np.ndarray) -> float:
    """The Cox coefficient of the log-hazard on these patients: 1 when the predicted
    differences in risk hold, below 1 when they are too extreme (overfitting)."""
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    fit = CoxPHSurvivalAnalysis(alpha=0.0).fit(lp.reshape(-1, 1), _surv(event, time))
    return float(fit.coef_[0])


def net_benefit_at(
    time: np.ndarray, event: np.ndarray, risk: np.ndarray, horizon: float
) -> pd.DataFrame:
    """Net benefit by the horizon at thresholds 1 % to 50 %: treating patients whose risk is
    at or above the threshold, everyone, or no one; the event rates are Kaplan-Meier
    estimates, so censored patients count for the time they were followed."""
    overall = km_risk(time, event, horizon)
    rows = []
    for pt in np.round(np.arange(1, 51) / 100, 2):
        treat = risk >= pt
        share = float(treat.mean())
        observed = km_risk(time[treat], event[treat], horizon) if treat.any() else 0.0
        odds = pt / (1 - pt)
        rows.append(
            {
                "threshold": float(pt),
                "net_benefit_model": observed * share - (1 - observed) * share * odds,
                "net_benefit_treat_all": overall - (1 - overall) * odds,
                "net_benefit_treat_none": 0.0,
            }
        )
    return pd.DataFrame(rows)


def integrated_brier(
    time: np.ndarray, event: np.ndarray, lp: np.ndarray, baseline: Baseline, horizon: float
) -> tuple[float | None, tuple[float, float] | None]:
    """The integrated IPCW Brier score from the 10th percentile of follow-up to the horizon
    (25 times), and that range; None when the range is empty."""
    from sksurv.metrics import integrated_brier_score

    start = float(np.percentile(time, 10))
    if not start < horizon or not within_follow_up(time, horizon):
        return None, None
    grid = np.linspace(start, horizon, BRIER_GRID)
    surv = np.exp(-np.outer(np.exp(lp), baseline.at(grid)))
    y = _surv(event, time)
    return float(integrated_brier_score(y, y, surv, grid)), (start, horizon)


@dataclass(frozen=True)
class SurvivalEvaluation:
    """A survival model on one set of patients, at one horizon.

    Attributes
    ----------
    n, events : patients and events observed (at any time).
    horizon, time_column : the time risks are predicted by, and the column it is read in.
    c_index : Harrell's C with its bootstrap interval.
    uno_c_index, uno_tau : Uno's C and the time it is truncated at.
    auroc_at_horizon, brier_at_horizon : the cumulative/dynamic AUROC and the IPCW Brier score
        at the horizon (None when the horizon lies past these patients' follow-up).
    integrated_brier, integrated_brier_range : the IPCW Brier score integrated over a range of
        times ending at the horizon.
    observed_risk, mean_predicted_risk : Kaplan-Meier risk by the horizon and the mean risk.
    calibration : :func:`calibration_at` table; ``calibration_slope`` its slope.
    net_benefit : :func:`net_benefit_at` table.
    notes : what could not be computed, and why.
    """

    n: int
    events: int
    horizon: float
    time_column: str
    c_index: Interval
    uno_c_index: float | None
    uno_tau: float | None
    auroc_at_horizon: float | None
    brier_at_horizon: float | None
    integrated_brier: float | None
    integrated_brier_range: tuple[float, float] | None
    observed_risk: float | None
    mean_predicted_risk: float
    calibration: pd.DataFrame
    calibration_slope: float | None
    net_benefit: pd.DataFrame
    n_boot: int = 0
    seed: int = 0
    notes: tuple[str, ...] = ()
    task: str = "survival"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (plain Python, None for undefined numbers)."""
        observed = self.observed_risk
        return {
            "task": self.task,
            "n": self.n,
            "events": self.events,
            "horizon": plain_float(self.horizon),
            "time_column": self.time_column,
            "c_index": interval_dict(self.c_index),
            "uno_c_index": plain_float(self.uno_c_index),
            "uno_c_index_truncated_at": plain_float(self.uno_tau),
            "auroc_at_horizon": plain_float(self.auroc_at_horizon),
            "brier_at_horizon": plain_float(self.brier_at_horizon),
            "integrated_brier": plain_float(self.integrated_brier),
            "integrated_brier_range": (
                None if self.integrated_brier_range is None else list(self.integrated_brier_range)
            ),
            "calibration_at_horizon": {
                "slope": plain_float(self.calibration_slope),
                "observed_risk": plain_float(observed),
                "mean_predicted_risk": plain_float(self.mean_predicted_risk),
                "observed_over_expected": plain_float(
                    None if observed is None else observed / self.mean_predicted_risk
                ),
                "groups": frame_records(self.calibration),
                "observed_by": "Kaplan-Meier within each risk decile",
            },
            "net_benefit_at_horizon": frame_records(self.net_benefit),
            "n_boot": self.n_boot,
            "seed": self.seed,
            "notes": list(self.notes),
        }


def evaluate_survival(
    time: np.ndarray,
    event: np.ndarray,
    lp: np.ndarray,
    baseline: Baseline,
    *,
    time_column: str = "time",
    n_boot: int = 1000,
    seed: int = 0,
) -> SurvivalEvaluation:
    """Evaluate log-hazards ``lp`` (with the model's baseline, for risks) on observed follow-up
    ``time`` and 0/1 ``event``, at the baseline's horizon."""
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=np.float64)
    lp = np.asarray(lp, dtype=np.float64)
    horizon = float(baseline.horizon)
    risk = risk_by(lp, baseline.at_horizon)
    notes = []
    inside = within_follow_up(time, horizon)
    if not inside:
        notes.append(
            f"The horizon ({horizon:g}) lies outside these patients' follow-up in "
            f"{time_column!r} (longest {np.max(time):g}): the AUROC, Brier score, calibration "
            "and net benefit at the horizon cannot be estimated."
        )
    tau = uno_truncation(time)
    ibs, ibs_range = integrated_brier(time, event, lp, baseline, horizon)
    return SurvivalEvaluation(
        n=len(time),
        events=int(event.sum()),
        horizon=horizon,
        time_column=time_column,
        c_index=c_index_interval(time, event, lp, n_boot=n_boot, seed=seed),
        uno_c_index=uno_c(time, event, lp, tau) if event.any() else None,
        uno_tau=tau,
        auroc_at_horizon=auroc_at(time, event, lp, horizon) if inside else None,
        brier_at_horizon=brier_at(time, event, risk, horizon) if inside else None,
        integrated_brier=ibs,
        integrated_brier_range=ibs_range,
        observed_risk=km_risk(time, event, horizon) if inside else None,
        mean_predicted_risk=float(risk.mean()),
        calibration=calibration_at(time, event, risk, horizon) if inside else pd.DataFrame(),
        calibration_slope=calibration_slope(time, event, lp) if event.any() else None,
        net_benefit=net_benefit_at(time, event, risk, horizon) if inside else pd.DataFrame(),
        n_boot=int(n_boot),
        seed=int(seed),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class SurvivalComparison:
    """The network against a baseline on the same patients: each one's Harrell's C and the
    difference (network minus baseline), with paired bootstrap intervals."""

    names: tuple[str, str]
    c_index: tuple[Interval, Interval]
    difference: Interval

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": {"name": self.names[1], "c_index": interval_dict(self.c_index[1])},
            "metric": "c_index",
            "network": interval_dict(self.c_index[0]),
            "difference": interval_dict(self.difference),
        }


def compare_c_index(
    time: np.ndarray,
    event: np.ndarray,
    lp: np.ndarray,
    other: np.ndarray,
    *,
    names: tuple[str, str] = ("network", "linear_cox"),
    n_boot: int = 1000,
    seed: int = 0,
) -> SurvivalComparison:
    """Harrell's C of two risk scores on the same patients, paired bootstrap (same resamples)."""
    values = [harrell_c(time, event, s) for s in (lp, other)]
    if n_boot <= 0:
        intervals = tuple(Interval(v) for v in values)
        return SurvivalComparison(names, intervals, Interval(values[0] - values[1]))
    if len(time) > LARGE_C_PATIENTS:
        n_boot = min(n_boot, LARGE_C_RESAMPLES)
    picks = bootstrap_indices(len(time), n_boot, seed)
    draws = np.column_stack([bootstrap_harrell_c(time, event, s, picks) for s in (lp, other)])
    intervals = tuple(percentile_interval(v, draws[:, i]) for i, v in enumerate(values))
    diff = percentile_interval(values[0] - values[1], draws[:, 0] - draws[:, 1])
    return SurvivalComparison(names, intervals, diff)


def survival_by_group(
    time: np.ndarray,
    event: np.ndarray,
    lp: np.ndarray,
    risk: np.ndarray,
    groups: pd.Series,
    horizon: float,
) -> pd.DataFrame:
    """Per group: patients, events, Harrell's C, mean predicted and Kaplan-Meier observed risk
    by the horizon."""
    rows = []
    values = groups.to_numpy()
    for name in pd.unique(groups.dropna()):
        here = values == name
        rows.append(
            {
                "group": str(name),
                "n": int(here.sum()),
                "events": int(event[here].sum()),
                "c_index": harrell_c(time[here], event[here], lp[here]),
                "predicted": float(risk[here].mean()),
                "observed": km_risk(time[here], event[here], horizon),
            }
        )
    return pd.DataFrame(rows)


def km_by_risk_group(
    time: np.ndarray, event: np.ndarray, risk: np.ndarray, groups: int = 3
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Kaplan-Meier curves of the patients cut into ``groups`` equal risk groups (lowest
    first), and the numbers still at risk at round times spread over the follow-up
    (:func:`medinn_core.survival.round_times`).

    Returns
    -------
    curves : columns ``group`` ("low", "middle", "high", or "1".."k"), ``time``, ``survival``
        (a step function starting at time 0 with 1).
    at_risk : one row per group, one column per time: patients followed at least that long.
    """
    from sksurv.nonparametric import kaplan_meier_estimator

    names = ("low", "middle", "high") if groups == 3 else tuple(str(g + 1) for g in range(groups))
    codes = pd.qcut(pd.Series(risk).rank(method="first"), groups, labels=False).to_numpy()
    marks = round_times(float(np.max(time)))
    curves, counts = [], {}
    for g, name in enumerate(names):
        here = codes == g
        t, s = kaplan_meier_estimator(event[here] == 1, time[here].astype(float))
        curves.append(
            pd.DataFrame({"group": name, "time": np.r_[0.0, t], "survival": np.r_[1.0, s]})
        )
        counts[name] = [int(np.sum(time[here] >= m)) for m in marks]
    at_risk = pd.DataFrame.from_dict(counts, orient="index", columns=marks)
    return pd.concat(curves, ignore_index=True), at_risk


def auroc_over_time(
    time: np.ndarray, event: np.ndarray, score: np.ndarray, points: int = 20
) -> pd.DataFrame:
    """The cumulative/dynamic AUROC at ``points`` times from the 10th to the 90th percentile
    of the follow-up: columns ``time`` and ``auroc``."""
    from sksurv.metrics import cumulative_dynamic_auc

    times = np.unique(np.percentile(time, np.linspace(10, 90, points)))
    times = times[(times >= time.min()) & (times < time.max())]
    y = _surv(event, time)
    auc = cumulative_dynamic_auc(y, y, score, times)[0]
    return pd.DataFrame({"time": times, "auroc": auc})
