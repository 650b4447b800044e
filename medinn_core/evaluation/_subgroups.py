"""Performance by subgroup (sex, age band, site): is the model as good for everyone?

Groups with few events are flagged rather than hidden, since an AUROC from a handful of events
says little either way. Which columns patients can be split by, and the group of each patient
(categories as they are, numbers cut at their quartiles), are decided here too, so that the
app, the CLI and the report group patients alike.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from medinn_core.errors import ConfigError, DataError, list_examples
from medinn_core.evaluation._bootstrap import (
    as_binary_inputs,
    auroc_interval,
    check_bootstrap_settings,
    check_same_length,
)
from medinn_core.evaluation._calibration import calibration_slope_intercept
from medinn_core.evaluation._thresholds import threshold_metrics
from medinn_core.schema import Kind, Schema

#: Subgroups with fewer events (or non-events) than this are flagged as too small to judge.
MIN_SUBGROUP_EVENTS = 30
#: Label of the group of patients whose group value is missing.
MISSING_GROUP = "(missing)"
#: Numeric columns with at most this many distinct values are grouped as they are.
MAX_LEVELS_AS_IS = 6


def group_masks(groups: Any, n: int) -> list[tuple[str, np.ndarray]]:
    """``(label, mask)`` per group: categorical order, else sorted; missing values last as
    ``"(missing)"``.

    Raises
    ------
    DataError
        If there is not one group value per patient.
    """
    series = (
        groups if isinstance(groups, pd.Series) else pd.Series(np.asarray(groups, dtype=object))
    )
    series = series.reset_index(drop=True)
    check_same_length(groups=series, y_true=range(n))
    if isinstance(series.dtype, pd.CategoricalDtype):
        labels = [c for c in series.cat.categories if (series == c).any()]
    else:
        present = pd.unique(series.dropna())
        try:
            labels = sorted(present)
        except TypeError:
            labels = sorted(present, key=str)
    masks = [(str(label), (series == label).to_numpy(dtype=bool)) for label in labels]
    missing = series.isna().to_numpy()
    if missing.any():
        masks.append((MISSING_GROUP, missing))
    return masks


def subgroup_table(
    y_true: Any,
    y_prob: Any,
    groups: Any,
    threshold: float = 0.5,
    *,
    min_events: int = MIN_SUBGROUP_EVENTS,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Performance per subgroup (e.g. sex, an age band from :func:`age_bands`, a site).

    Returns one row per group with ``group``, ``n``, ``events``, ``non_events``,
    ``prevalence``, ``auroc``, ``auroc_ci_low``, ``auroc_ci_high`` (bootstrap, seeded),
    ``calibration_slope``, ``sensitivity`` and ``specificity`` at ``threshold``, and
    ``too_small``: True when events or non-events number fewer than ``min_events``, too few to
    judge the group. Missing group values form the group ``"(missing)"``. Undefined values
    (AUROC in a group with one outcome) are NaN.

    Raises
    ------
    DataError
        If the inputs are not 0/1 outcomes and risks in [0, 1], or lengths differ.
    ConfigError
        If ``threshold``, ``min_events`` or ``n_boot`` is out of range.
    """
    y, p = as_binary_inputs(y_true, y_prob)
    check_bootstrap_settings(n_boot, level)
    if min_events < 1:
        raise ConfigError(f"min_events must be >= 1, got {min_events}.")
    rows = []
    for label, mask in group_masks(groups, y.size):
        yg, pg = y[mask], p[mask]
        auroc = auroc_interval(yg, pg, n_boot, seed, level)
        slope, _ = calibration_slope_intercept(yg, pg)
        m = threshold_metrics(yg, pg, threshold)
        events = int(yg.sum())
        rows.append(
            {
                "group": label,
                "n": int(yg.size),
                "events": events,
                "non_events": int(yg.size - events),
                "prevalence": events / yg.size,
                "auroc": auroc.value if auroc else np.nan,
                "auroc_ci_low": auroc.ci_low if auroc and auroc.ci_low is not None else np.nan,
                "auroc_ci_high": auroc.ci_high if auroc and auroc.ci_high is not None else np.nan,
                "calibration_slope": slope.value if slope else np.nan,
                "sensitivity": m.sensitivity.value if m.sensitivity else np.nan,
                "specificity": m.specificity.value if m.specificity else np.nan,
                "too_small": min(events, yg.size - events) < min_events,
            }
        )
    return pd.DataFrame(rows)


def age_bands(series: pd.Series, edges: Any) -> pd.Series:
    """An ordered categorical band column from a numeric one, e.g. age.

    ``edges=[40, 60, 80]`` gives bands ``<40``, ``40–59``, ``60–79``, ``≥80`` for whole-number
    data (``40 to <60`` style labels otherwise). Each band includes its lower edge. Missing
    values stay missing.

    Raises
    ------
    ConfigError
        If ``edges`` is empty or not strictly increasing.
    DataError
        If the column holds values that are not numbers.
    """
    cut = np.asarray(edges, dtype=float)
    if cut.ndim != 1 or cut.size == 0 or np.any(~np.isfinite(cut)) or np.any(np.diff(cut) <= 0):
        raise ConfigError(
            f"Band edges must be increasing numbers, e.g. [40, 60, 80]; got {edges!r}."
        )
    name = series.name if isinstance(series, pd.Series) else None
    series = pd.Series(series)
    values = pd.to_numeric(series, errors="coerce")
    bad = series.index[values.isna() & series.notna()]
    if len(bad):
        raise DataError(
            f"Column {name!r} must be numeric to make bands: {len(bad)} values are not numbers, "
            f"e.g. {list_examples([str(series[i]) for i in bad])}."
        )
    whole = np.all(cut == np.round(cut)) and np.all(values.dropna() == np.round(values.dropna()))

    def fmt(x: float) -> str:
        return f"{x:g}"

    labels = [f"<{fmt(cut[0])}"]
    for low, high in itertools.pairwise(cut):
        labels.append(f"{fmt(low)}–{fmt(high - 1)}" if whole else f"{fmt(low)} to <{fmt(high)}")
    labels.append(f"≥{fmt(cut[-1])}")
    bands = pd.cut(values, np.r_[-np.inf, cut, np.inf], right=False, labels=labels, ordered=True)
    return pd.Series(bands, index=series.index, name=f"{name} band" if name else "band")


def subgroup_columns(schema: Schema, frame: pd.DataFrame) -> list[str]:
    """Columns of ``frame`` to split patients by: the model's inputs first (in the schema's
    order), then the other categorical, binary and numeric columns of the schema. The target
    and the patient identifier are never offered, nor a signal's samples (one sample of a
    trace is no way to group patients)."""
    skip = {schema.target, schema.id_column} | {c for g in schema.signals for c in g.columns}
    names = [c for c in schema.feature_names if c in frame.columns and c not in skip]
    names += [
        c.name
        for c in schema.columns
        if c.name in frame.columns
        and c.name not in skip
        and c.name not in names
        and c.kind in (Kind.CATEGORICAL, Kind.BINARY, Kind.NUMERIC)
    ]
    return names


def subgroup_values(frame: pd.DataFrame, column: str) -> pd.Series:
    """The group of each patient (row) of ``frame`` by ``column``, in row order, on a fresh
    0-based index.

    Categories are kept as they are; so are numbers with at most ``MAX_LEVELS_AS_IS`` distinct
    values. Other numbers are cut with :func:`age_bands` at their quartiles, rounded to about
    three significant digits of the column's spread (the series is then named
    ``"<column> band"``). Missing values stay missing.

    Raises
    ------
    DataError
        If ``column`` is not a column of ``frame``.
    """
    if column not in frame.columns:
        raise DataError(
            f"Column {column!r} is not in the data; choose one of "
            f"{list_examples([str(c) for c in frame.columns])}."
        )
    values = frame[column]
    numbers = pd.to_numeric(values, errors="coerce")
    numeric = bool(numbers.notna().sum()) and numbers.notna().sum() == values.notna().sum()
    if not numeric or numbers.nunique() <= MAX_LEVELS_AS_IS:
        return values.reset_index(drop=True)
    quartiles = numbers.quantile([0.25, 0.5, 0.75]).to_numpy()
    spread = float(numbers.max() - numbers.min())
    digits = max(0, 2 - int(np.floor(np.log10(spread)))) if spread > 0 else 0
    edges = np.unique(np.round(quartiles, digits))
    edges = edges[(edges > numbers.min()) & (edges <= numbers.max())]
    if edges.size == 0:
        return values.reset_index(drop=True)
    return age_bands(numbers.rename(column), edges).reset_index(drop=True)
