"""Time-to-event maths: follow-up times, the horizon, the Breslow baseline and risks by a time.

A survival model outputs a log-hazard ``lp`` per patient (a Cox model: the hazard is
``h0(t) * exp(lp)``). The Breslow estimate of the baseline cumulative hazard ``H0`` turns it
into a survival curve ``S(t) = exp(-H0(t) * exp(lp))`` and a risk by the horizon
``1 - S(horizon)``. What a saved model keeps of ``H0`` is aggregate: step points each spanning
at least :data:`MIN_EVENTS_PER_STEP` events, rounded (:func:`compact_baseline`).

Numbers only here (NumPy and pandas); the metrics are scikit-survival's
(:mod:`medinn_core.evaluation`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from medinn_core.errors import SchemaError

#: A stored step of the baseline hazard spans at least this many events (no single patient's
#: event time is kept), and at most :data:`MAX_STEPS` steps are kept.
MIN_EVENTS_PER_STEP = 5
MAX_STEPS = 100
#: Below this share of patients still followed, a time is past the useful follow-up.
MIN_AT_RISK = 0.10


def at_risk_share(times: np.ndarray, t: float) -> float:
    """The share of patients still followed (no event, not censored) just before ``t``."""
    return float(np.mean(np.asarray(times) >= t)) if len(times) else 0.0


def _round_down(x: float) -> float:
    """``x`` rounded down to a multiple of half its leading power of ten (193 to 150, 215 to
    200, 1234 to 1000, 87 to 85)."""
    if x <= 0:
        return x
    step = 10.0 ** math.floor(math.log10(x)) / 2
    return math.floor(x / step + 1e-9) * step


def round_times(longest: float, n: int = 5) -> np.ndarray:
    """About ``n`` + 1 round times from 0 to ``longest`` (0, 150, ..., 900 for 901): the
    columns of a numbers-at-risk table, read as a time axis's ticks."""
    step = _round_down(longest / n) if longest > 0 else 0.0
    if step <= 0:
        return np.array([0.0])
    return np.arange(0.0, longest + step * 1e-9, step)


def default_horizon(times: np.ndarray, events: np.ndarray, name: str) -> tuple[float | None, str]:
    """The horizon risks are predicted by when the user names none, and why.

    The median follow-up time, rounded down to a round number (a multiple of half its leading
    power of ten: 193 days to 150, 1234 to 1000): about half the patients are still followed there, so risks by then rest on observed
    follow-up rather than extrapolation, and a round time reads well ("risk by day 100"). None
    (and the reason) when no time is usable.
    """
    if len(times) == 0 or not np.any(events == 1):
        return None, f"no horizon: column {name!r} has no usable follow-up time with an event"
    median = float(np.median(times))
    horizon = _round_down(median)
    if horizon < times[events == 1].min():  # rounding fell before the first event
        horizon = median
    share = at_risk_share(times, horizon)
    return horizon, (
        f"the median follow-up time ({median:g} in {name!r}) rounded down to {horizon:g}: "
        f"{share:.0%} of patients are still followed there, so the risk by then rests on "
        "observed follow-up, not on extrapolation"
    )


def check_horizon(times: np.ndarray, horizon: float, name: str) -> str:
    """Why a horizon named by the user is used (its share still followed).

    Raises
    ------
    SchemaError
        If the horizon is not a positive number.
    """
    if not np.isfinite(horizon) or horizon <= 0:
        raise SchemaError(
            f"The horizon must be a positive time in the unit of {name!r}, got {horizon:g}."
        )
    share = at_risk_share(times, horizon)
    return f"chosen by the user; {share:.0%} of patients are still followed at {horizon:g}"


@dataclass(frozen=True)
class Baseline:
    """A baseline cumulative hazard as a step function: ``cumhaz[i]`` from ``times[i]`` on
    (zero before ``times[0]``), and its exact value at the horizon. ``cohort``: the mean
    predicted survival of the held-out patients at each step time (the cohort's curve, to
    draw one patient's against), when known."""

    times: np.ndarray
    cumhaz: np.ndarray
    horizon: float
    at_horizon: float
    cohort: np.ndarray | None = None

    def at(self, t: float | np.ndarray) -> np.ndarray:
        """``H0`` at ``t`` (the step function)."""
        i = np.searchsorted(self.times, np.asarray(t, dtype=np.float64), side="right")
        return np.where(i > 0, np.concatenate([[0.0], self.cumhaz])[i], 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "times": [float(v) for v in self.times],
            "cumulative_hazard": [float(v) for v in self.cumhaz],
            "horizon": float(self.horizon),
            "at_horizon": float(self.at_horizon),
            "cohort_survival": None
            if self.cohort is None
            else [float(v) for v in _significant(self.cohort, 6)],
            "estimator": "Breslow, on the held-out log-hazards",
            "note": (
                f"aggregate step points, each spanning at least {MIN_EVENTS_PER_STEP} events, "
                "times rounded to 3 significant digits; no patient's own time"
            ),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Baseline:
        return cls(
            np.asarray(data["times"], dtype=np.float64),
            np.asarray(data["cumulative_hazard"], dtype=np.float64),
            float(data["horizon"]),
            float(data["at_horizon"]),
            None
            if data.get("cohort_survival") is None
            else np.asarray(data["cohort_survival"], dtype=np.float64),
        )


def breslow(time: np.ndarray, event: np.ndarray, lp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Breslow's baseline cumulative hazard at each distinct event time:
    ``H0(t) = sum over event times s <= t of d(s) / sum_{j: t_j >= s} exp(lp_j)``."""
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=np.float64)
    risk = np.exp(np.asarray(lp, dtype=np.float64))
    order = np.argsort(time)
    t, d, r = time[order], event[order], risk[order]
    at_risk = np.cumsum(r[::-1])[::-1]  # sum of exp(lp) over rows with time >= t_i
    distinct, first = np.unique(t, return_index=True)
    deaths = np.add.reduceat(d, first)
    keep = deaths > 0
    hazard = deaths[keep] / at_risk[first][keep]
    return distinct[keep], np.cumsum(hazard)


def _significant(x: np.ndarray, digits: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore"):
        power = np.where(x > 0, np.floor(np.log10(np.abs(x) + (x == 0))), 0)
    scale = 10.0 ** (digits - 1 - power)
    return np.round(x * scale) / scale


def fit_baseline(time: np.ndarray, event: np.ndarray, lp: np.ndarray, horizon: float) -> Baseline:
    """The Breslow baseline of ``(time, event, lp)``, kept as aggregate step points: one every
    :data:`MIN_EVENTS_PER_STEP` events or more (at most :data:`MAX_STEPS`), times rounded to 3
    significant digits, hazards to 6, and the exact value at the horizon."""
    times, cumhaz = breslow(time, event, lp)
    at_horizon = (
        float(cumhaz[np.searchsorted(times, horizon, side="right") - 1])
        if len(times) and horizon >= times[0]
        else 0.0
    )
    distinct, counts = np.unique(
        np.asarray(time, dtype=np.float64)[np.asarray(event) == 1], return_counts=True
    )
    step = max(MIN_EVENTS_PER_STEP, math.ceil(counts.sum() / MAX_STEPS))
    cut, since = [], 0
    for t, c in zip(distinct, counts, strict=True):
        since += c
        if since >= step:
            cut.append(t)
            since = 0
    if not cut:
        return Baseline(np.zeros(0), np.zeros(0), float(horizon), float(at_horizon))
    full = Baseline(times, cumhaz, horizon, at_horizon)
    cut = np.asarray(cut)
    rounded = _significant(cut, 3)
    last = np.r_[rounded[1:] != rounded[:-1], True]  # of times that round alike, the last
    kept_h = _significant(full.at(cut[last]), 6)
    return Baseline(rounded[last], kept_h, float(horizon), float(at_horizon))


def risk_by(lp: np.ndarray, cumhaz: float | np.ndarray) -> np.ndarray:
    """``1 - exp(-H0 * exp(lp))``: the risk of the event by the time where ``H0`` is read."""
    return -np.expm1(-np.asarray(cumhaz) * np.exp(np.asarray(lp, dtype=np.float64)))


def with_cohort(baseline: Baseline, lp: np.ndarray) -> Baseline:
    """``baseline`` with the mean predicted survival of patients with log-hazards ``lp`` at
    each of its step times (an average over patients, no one's own curve)."""
    from dataclasses import replace

    curves = np.exp(-np.outer(np.exp(np.asarray(lp, dtype=np.float64)), baseline.cumhaz))
    return replace(baseline, cohort=curves.mean(axis=0))


def survival_curves(lp: np.ndarray, baseline: Baseline) -> pd.DataFrame:
    """Per patient (rows) the survival probability at each step time of the baseline
    (columns), starting at time 0 with 1."""
    times = np.concatenate([[0.0], baseline.times])
    cumhaz = np.concatenate([[0.0], baseline.cumhaz])
    surv = np.exp(-np.outer(np.exp(np.asarray(lp, dtype=np.float64)), cumhaz))
    return pd.DataFrame(surv, columns=pd.Index(times, name="time"))


def cross_fitted_risk(
    time: np.ndarray, event: np.ndarray, lp: np.ndarray, folds: np.ndarray, horizon: float
) -> np.ndarray:
    """Out-of-fold risks by the horizon: each fold's patients get the baseline estimated on
    the other folds' held-out log-hazards, as a new patient would."""
    risk = np.empty(len(lp))
    for f in np.unique(folds):
        here = folds == f
        base = fit_baseline(time[~here], event[~here], lp[~here], horizon)
        risk[here] = risk_by(lp[here], base.at_horizon)
    return risk


def partial_likelihood_terms(
    lp: np.ndarray, time: np.ndarray, event: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """Per row and member, the row's term of the negative Cox partial log-likelihood (Breslow
    ties) among the rows where ``mask[:, k]`` is True (0 for censored rows): the early-stopping
    score of each member on its own held-out rows. ``lp`` and ``mask`` are ``(rows, members)``.
    """
    order = np.argsort(-time, kind="stable")  # longest first: a cumulative sum is a risk set
    out = np.zeros_like(lp, dtype=np.float64)
    for k in range(lp.shape[1]):
        rows = order[mask[order, k]]
        z = lp[rows, k].astype(np.float64)
        top = z.max() if len(z) else 0.0
        log_risk = np.log(np.cumsum(np.exp(z - top))) + top
        # tied times share the risk set of the first of them (all rows with time >= t)
        t = time[rows]
        last = np.searchsorted(-t, -t, side="right") - 1
        out[rows, k] = event[rows] * (log_risk[last] - z)
    return out


def follow_up_from_dates(start: pd.Series, end: pd.Series, *, unit: str = "days") -> pd.Series:
    """The follow-up time from two date columns: ``end`` (event or last contact) minus
    ``start`` (entry), in ``unit`` ("days", "weeks", "months" of 30.4375 days, "years" of
    365.25 days). A patient whose dates are missing gets a missing time.

    Raises
    ------
    SchemaError
        Naming the column, if a date cannot be read, or an end date falls before its start
        (listing up to five rows as spreadsheet rows).
    """
    lengths = {"days": 1.0, "weeks": 7.0, "months": 30.4375, "years": 365.25}
    if unit not in lengths:
        raise SchemaError(f"The time unit must be one of {', '.join(lengths)}, got {unit!r}.")
    dates = []
    for series in (start, end):
        parsed = pd.to_datetime(series, errors="coerce", format="mixed", dayfirst=False)
        bad = series.notna() & parsed.isna()
        if bad.any():
            rows = ", ".join(str(int(i) + 2) for i in np.flatnonzero(bad.to_numpy())[:5])
            raise SchemaError(
                f"Column {series.name!r}: {int(bad.sum())} values are not dates (rows {rows}). "
                "Write dates as YYYY-MM-DD, or leave the cell empty."
            )
        dates.append(parsed)
    days = (dates[1] - dates[0]).dt.total_seconds() / 86_400
    backwards = days < 0
    if backwards.any():
        rows = ", ".join(str(int(i) + 2) for i in np.flatnonzero(backwards.to_numpy())[:5])
        raise SchemaError(
            f"Column {end.name!r} falls before {start.name!r} in {int(backwards.sum())} rows "
            f"(rows {rows}): the end of follow-up cannot precede its start. Check the two "
            "columns' order and the date format."
        )
    return (days / lengths[unit]).rename(f"follow_up_{unit}")
