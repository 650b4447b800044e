"""Plotly figures of an :class:`~medinn_core.explain.Explanation`.

Every builder is pure, like those of :mod:`medinn_core.evaluation`: an explanation in, a new
``plotly.graph_objects.Figure`` out, with its own layout and no change to plotly's global
templates. Sampling only thins the dots drawn; importances, means and sums always use every
patient.

Values are shown in the clinician's terms: a binary or multiclass model in probability space
is drawn in % (contributions in percentage points), log-odds as they are, a regression in the
target's unit (``output_unit``); ``output_name`` renames the output where "Risk" or
"Predicted value" would be vague ("Probability of severe", "Predicted dose"). Each patient's
value is labelled with its unit ("age = 67 y"), and a missing number with the value the model
used instead ("hdl = missing, imputed 52 mg/dL").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from medinn_core.errors import DataError
from medinn_core.explain._engine import Explanation
from medinn_core.explain._wording import (
    _check_feature,
    _check_patient,
    _first_upper,
    _scale,
)
from medinn_core.style import CLASS_COLOURS, PALETTE, style
from medinn_core.values import describe_value, format_number, is_missing

#: Low to high feature values (blue to vermillion, the Okabe-Ito ends of ``PALETTE``).
VALUE_COLOURS = ((0.0, PALETTE["non_event"]), (0.5, "#CC79A7"), (1.0, PALETTE["event"]))
MISSING_COLOUR = PALETTE["too_small"]
RAISES, LOWERS = PALETTE["event"], PALETTE["non_event"]


def normalised_values(values: pd.Series) -> np.ndarray:
    """A feature's values on 0 (low) to 1 (high), ``nan`` where missing, for dot colours.

    Numbers are scaled between their 5th and 95th percentiles (clipped), so that one extreme
    patient does not wash out the others; categories are coloured by their level code in sorted
    order (the first level 0, the last 1).
    """
    numeric = _numeric_or_none(values)
    if numeric is not None:
        x = numeric.to_numpy(dtype=np.float64)
        finite = x[np.isfinite(x)]
        if len(finite) == 0:
            return np.full(len(x), np.nan)
        low, high = np.quantile(finite, [0.05, 0.95])
        if high <= low:
            low, high = finite.min(), finite.max()
        if high <= low:
            return np.where(np.isfinite(x), 0.5, np.nan)
        return np.clip((x - low) / (high - low), 0.0, 1.0)
    codes, levels = _level_codes(values)
    if len(levels) <= 1:
        return np.where(np.isnan(codes), np.nan, 0.5)
    return codes / (len(levels) - 1)


def _level_codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """A category column as codes (floats, ``nan`` where missing) into its sorted levels."""
    text = _stripped_text(values)
    levels = sorted(text.dropna().unique())
    codes = text.map({level: k for k, level in enumerate(levels)})
    return codes.to_numpy(dtype=np.float64), levels


def _numeric_or_none(values: pd.Series) -> pd.Series | None:
    """The values as floats when every present value is a number, else None (categories)."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    present = _stripped_text(values).fillna("") != ""
    if not present.any():
        return None
    try:  # a category column fails on its few distinct values, before 10,000 are parsed
        distinct = pd.Series(pd.unique(values[present]), dtype=values.dtype)
    except TypeError:  # unhashable cells (lists) are not numbers
        distinct = values[present]
    if pd.to_numeric(distinct, errors="coerce").isna().any():
        return None
    return pd.to_numeric(values, errors="coerce").astype("float64")


def _stripped_text(values: pd.Series) -> pd.Series:
    """Each value as trimmed text, missing (``NaN``) where the value is; whole columns at once
    (a per-value ``map`` took most of a 10,000-patient figure's time)."""
    if pd.api.types.is_string_dtype(values) and not pd.api.types.is_object_dtype(values):
        text = values.str.strip()
        return text.astype(object).where(text.notna(), np.nan)
    present = values.notna()
    out = pd.Series(np.nan, index=values.index, dtype=object)
    out[present] = values[present].astype(str).str.strip()
    return out


def _patient_names(expl: Explanation) -> np.ndarray:
    return np.asarray([str(v) for v in expl.contributions.index], dtype=object)


def _sample(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted positions of ``size`` patients out of ``n`` (all of them when ``n <= size``)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def _swarm_offsets(x: np.ndarray, rng: np.random.Generator, width: float = 0.38) -> np.ndarray:
    """Vertical offsets that stack dots with similar x, as a beeswarm does (0, +1, -1, +2...)."""
    n = len(x)
    if n == 0:
        return np.zeros(0)
    span = float(x.max() - x.min())
    bins = np.zeros(n, dtype=np.int64)
    if span > 0:
        bins = np.minimum(((x - x.min()) / span * 80).astype(np.int64), 79)
    order = rng.permutation(n)
    rank = pd.Series(bins[order]).groupby(bins[order]).cumcount().to_numpy()
    layer = (rank + 1) // 2 * np.where(rank % 2 == 1, 1, -1)
    step = min(width / max(int(np.abs(layer).max()), 1), 0.06)
    offsets = np.zeros(n)
    offsets[order] = layer * step
    return offsets


def _value_colourbar(title: str) -> dict[str, Any]:
    return {
        "title": {"text": title, "side": "right"},
        "tickvals": [0, 1],
        "ticktext": ["low", "high"],
        "thickness": 12,
        "len": 0.6,
    }


# -- global views -------------------------------------------------------------------------------
def importance_figure(
    expl: Explanation,
    top: int = 15,
    *,
    output_unit: str = "",
    output_name: str = "",
    title: str | None = None,
) -> go.Figure:
    """Mean absolute contribution per original feature, the most important on top.

    The order is :meth:`Explanation.importance`'s; only the first ``top`` features are drawn.
    """
    scale = _scale(expl, output_unit, output_name)
    importance = expl.importance()
    shown = importance.head(top)
    fig = go.Figure(
        go.Bar(
            x=shown.to_numpy() * scale.factor,
            y=list(shown.index),
            orientation="h",
            name="Mean |contribution|",
            marker={"color": PALETTE["model"]},
            text=[f"{v * scale.factor:.2g}" for v in shown],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}<br>Mean |contribution| %{x:.3g}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", type="category", automargin=True)
    fig.update_xaxes(title_text=scale.axis(f"Mean absolute {scale.change}"))
    if title is None:
        more = f" (top {len(shown)} of {len(importance)})" if len(shown) < len(importance) else ""
        title = f"What matters most, over {len(expl.contributions):,} patients{more}"
    return style(fig, title, height=max(280, 26 * len(shown) + 130), showlegend=False)


def beeswarm_figure(
    expl: Explanation,
    top: int = 12,
    max_points: int = 2000,
    seed: int = 0,
    *,
    output_unit: str = "",
    output_name: str = "",
    units: Mapping[str, str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Each patient a dot per feature: its contribution (x), coloured by the feature's value.

    Features are ordered by importance, the most important on top. When the patients times
    the features exceed ``max_points``, a random sample of patients (the same for every
    feature, drawn with ``seed``) is drawn; colours are normalised over all patients (see
    :func:`normalised_values`). Missing values are grey.
    """
    scale = _scale(expl, output_unit, output_name)
    features = list(expl.importance().index[:top])
    n = len(expl.contributions)
    keep = _sample(n, max(1, max_points // max(len(features), 1)), seed)
    rng = np.random.default_rng(seed)
    names = _patient_names(expl)[keep]
    xs, ys, colours, hover = [], [], [], []
    for rank, feature in enumerate(features):
        x = expl.contributions[feature].to_numpy()[keep] * scale.factor
        raw = expl.raw_values[feature]
        xs.append(x)
        ys.append(rank + _swarm_offsets(x, rng))
        colours.append(normalised_values(raw)[keep])
        labels = [describe_value(feature, v, units) for v in raw.to_numpy()[keep]]
        hover.append(np.column_stack([names, labels]))
    x, y, colour = np.concatenate(xs), np.concatenate(ys), np.concatenate(colours)
    custom = np.concatenate(hover) if hover else np.empty((0, 2), dtype=object)
    present = ~np.isnan(colour)
    template = "%{customdata[0]}<br>%{customdata[1]}<br>Contribution %{x:+.3g}<extra></extra>"
    fig = go.Figure(
        go.Scatter(
            x=x[present],
            y=y[present],
            mode="markers",
            name="Patients",
            showlegend=False,
            marker={
                "color": colour[present],
                "colorscale": [list(stop) for stop in VALUE_COLOURS],
                "cmin": 0,
                "cmax": 1,
                "size": 5,
                "opacity": 0.8,
                "colorbar": _value_colourbar("Feature value"),
            },
            customdata=custom[present],
            hovertemplate=template,
        )
    )
    if (~present).any():
        fig.add_trace(
            go.Scatter(
                x=x[~present],
                y=y[~present],
                mode="markers",
                name="Missing value",
                marker={"color": MISSING_COLOUR, "size": 5, "opacity": 0.8},
                customdata=custom[~present],
                hovertemplate=template,
            )
        )
    fig.add_vline(x=0, line={"color": PALETTE["reference"], "width": 1})
    fig.update_yaxes(
        tickvals=list(range(len(features))),
        ticktext=features,
        range=[len(features) - 0.5, -0.5],
        showgrid=False,
        zeroline=False,
        automargin=True,
    )
    fig.update_xaxes(title_text=scale.axis(_first_upper(scale.change)))
    if title is None:
        shown = f"{len(keep):,} of {n:,} patients shown" if len(keep) < n else f"{n:,} patients"
        title = f"How each feature moves each patient ({shown})"
    return style(fig, title, height=max(320, 34 * len(features) + 150))


def dependence_figure(
    expl: Explanation,
    feature: str,
    color_by: str | None = None,
    *,
    max_points: int = 5000,
    seed: int = 0,
    output_unit: str = "",
    output_name: str = "",
    units: Mapping[str, str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """A feature's contribution (y) against its value (x), optionally coloured by another.

    Categories, and numbers with at most two values (0/1), are spread along x around their
    level; missing values of ``feature`` are left
    out (the title counts them). A numeric ``color_by`` uses a colour scale in its own values,
    a categorical one a colour per level; patients missing it are grey. At most
    ``max_points`` patients are drawn (a random sample with ``seed``).

    Raises
    ------
    DataError
        If ``feature`` or ``color_by`` is not an explained feature.
    """
    _check_feature(expl, feature)
    if color_by is not None:
        _check_feature(expl, color_by, "Colour-by feature")
    scale = _scale(expl, output_unit, output_name)
    unit = (units or {}).get(feature) or ""
    raw = expl.raw_values[feature]
    numeric = _numeric_or_none(raw)
    if numeric is not None and numeric.nunique() <= 2:  # a 0/1 column reads best as two levels
        raw = raw.map(lambda v: v if is_missing(v) else format_number(v))
        numeric = None
    if numeric is not None:
        x_all = numeric.to_numpy(dtype=np.float64)
        present = np.isfinite(x_all)
        levels: list[str] = []
    else:
        x_all, levels = _level_codes(raw)
        present = ~np.isnan(x_all)
    positions = np.flatnonzero(present)
    positions = positions[_sample(len(positions), max_points, seed)]
    x = x_all[positions]
    if levels:
        x = x + np.random.default_rng(seed).uniform(-0.25, 0.25, len(x))
    y = expl.contributions[feature].to_numpy()[positions] * scale.factor
    names = _patient_names(expl)[positions]
    own = [describe_value(feature, v, units) for v in raw.to_numpy()[positions]]
    fig = go.Figure()
    if color_by is None:
        custom = np.column_stack([names, own]) if len(names) else np.empty((0, 2))
        fig.add_trace(_dependence_points(x, y, custom, "Patients", {"color": PALETTE["model"]}))
    else:
        _add_coloured_points(fig, expl, color_by, positions, x, y, names, own, units)
    fig.add_hline(y=0, line={"color": PALETTE["reference"], "width": 1})
    axis = f"{feature} ({unit})" if unit else feature
    if levels:
        fig.update_xaxes(tickvals=list(range(len(levels))), ticktext=levels, title_text=axis)
    else:
        fig.update_xaxes(title_text=axis)
    fig.update_yaxes(title_text=scale.axis(f"{_first_upper(scale.change)} from {feature}"))
    if title is None:
        n_missing = int((~present).sum())
        title = f"How {feature} moves the prediction" + (
            f" ({n_missing:,} patients missing {feature} not shown)" if n_missing else ""
        )
    return style(fig, title, height=420)


def _dependence_points(x, y, custom, name: str, marker: dict[str, Any]) -> go.Scatter:
    return go.Scatter(
        x=x,
        y=y,
        mode="markers",
        name=name,
        marker={"size": 6, "opacity": 0.7, **marker},
        customdata=custom,
        hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>Contribution %{y:+.3g}"
        + ("<br>%{customdata[2]}" if custom.shape[1] > 2 else "")
        + "<extra></extra>",
    )


def _add_coloured_points(fig, expl, color_by, positions, x, y, names, own, units) -> None:
    """Dependence points coloured by ``color_by``: a colour scale for numbers, a colour per
    category, grey where it is missing."""
    other = expl.raw_values[color_by]
    values = other.to_numpy()[positions]
    label = np.asarray([describe_value(color_by, v, units) for v in values], dtype=object)
    custom = np.column_stack([names, own, label]) if len(names) else np.empty((0, 3), dtype=object)
    numeric = _numeric_or_none(other)
    if numeric is not None:
        c = numeric.to_numpy(dtype=np.float64)[positions]
        finite = np.isfinite(c)
        unit = (units or {}).get(color_by) or ""
        low, high = (
            np.quantile(c[finite], [0.05, 0.95]) if finite.any() else (0.0, 1.0)
        )  # as the beeswarm: one extreme patient does not wash out the rest
        fig.add_trace(
            _dependence_points(
                x[finite],
                y[finite],
                custom[finite],
                "Patients",
                {
                    "color": c[finite],
                    "colorscale": [list(stop) for stop in VALUE_COLOURS],
                    "cmin": float(low),
                    "cmax": float(high) if high > low else float(low) + 1.0,
                    "colorbar": {
                        "title": {"text": f"{color_by} ({unit})" if unit else color_by},
                        "thickness": 12,
                        "len": 0.6,
                    },
                },
            )
        )
        missing = ~finite
    else:
        codes, levels = _level_codes(pd.Series(values))
        for k, level in enumerate(levels):
            mask = codes == k
            colour = CLASS_COLOURS[k % len(CLASS_COLOURS)]
            fig.add_trace(
                _dependence_points(
                    x[mask], y[mask], custom[mask], f"{color_by} = {level}", {"color": colour}
                )
            )
        missing = np.isnan(codes)
    if missing.any():
        fig.add_trace(
            _dependence_points(
                x[missing],
                y[missing],
                custom[missing],
                f"{color_by} missing",
                {"color": MISSING_COLOUR},
            )
        )


def compare_cohorts_figure(
    expl: Explanation,
    mask_a: Sequence[bool] | np.ndarray | pd.Series,
    mask_b: Sequence[bool] | np.ndarray | pd.Series,
    names: tuple[str, str] | Sequence[str],
    top: int = 12,
    *,
    output_unit: str = "",
    output_name: str = "",
    title: str | None = None,
) -> go.Figure:
    """Mean contribution of each feature in two groups of patients, side by side.

    The features that differ most between the groups come first. Each group's legend entry
    gives its size and mean prediction; since contributions add up, a group's mean prediction
    is the base value plus the sum of its bars (all features, not only those drawn).

    Raises
    ------
    DataError
        If a mask does not have one entry per patient, or selects nobody.
    """
    scale = _scale(expl, output_unit, output_name)
    n = len(expl.contributions)
    masks = []
    for name, mask in zip(names, (mask_a, mask_b), strict=True):
        array = np.asarray(mask, dtype=bool)
        if array.shape != (n,):
            raise DataError(
                f"Group {name!r} must mark each of the {n} explained patients, got {array.shape}."
            )
        if not array.any():
            raise DataError(f"Group {name!r} has no patients: choose another split.")
        masks.append(array)
    means = [expl.contributions[m].mean() for m in masks]
    order = (means[0] - means[1]).abs().sort_values(ascending=False, kind="stable").index[:top]
    fig = go.Figure()
    for name, mask, mean, colour in zip(
        names, masks, means, (PALETTE["event"], PALETTE["non_event"]), strict=True
    ):
        label = f"{name}: {int(mask.sum()):,} patients, mean {scale.output.lower()} "
        label += scale.value(float(expl.output[mask].mean()))
        fig.add_trace(
            go.Bar(
                x=mean[order].to_numpy() * scale.factor,
                y=list(order),
                orientation="h",
                name=label,
                marker={"color": colour},
                hovertemplate=f"{name}<br>%{{y}}<br>Mean contribution %{{x:+.3g}}<extra></extra>",
            )
        )
    fig.add_vline(x=0, line={"color": PALETTE["reference"], "width": 1})
    fig.update_yaxes(autorange="reversed", type="category", automargin=True)
    fig.update_xaxes(title_text=scale.axis(f"Mean {scale.change}"))
    if title is None:
        title = f"{names[0]} against {names[1]}: where the groups differ most"
    return style(fig, title, barmode="group", height=max(320, 40 * len(order) + 160))


# -- one patient --------------------------------------------------------------------------------
def waterfall_figure(
    expl: Explanation,
    i: int,
    units: Mapping[str, str],
    imputed: Mapping[str, float | None],
    top: int = 10,
    *,
    include: Sequence[str] = (),
    output_unit: str = "",
    output_name: str = "",
    title: str | None = None,
) -> go.Figure:
    """From the base value (the average prediction) to patient ``i``'s prediction.

    The ``top`` features with the largest contributions get a bar each, labelled with the
    patient's value and unit; the rest are lumped into one "other N features" bar. The bars
    add up exactly: first bar (base) + the changes = last bar (the patient).

    Parameters
    ----------
    i : the patient's position (0-based), not its index label.
    units : feature -> unit, for the labels ("age = 67 y").
    imputed : feature -> the value that replaces a missing number (None for categories).
    include : features that get a bar of their own even outside the ``top`` (values a
        what-if changed), in their place by size.

    Raises
    ------
    DataError
        If ``i`` is not a patient's position.
    """
    _check_patient(expl, i)
    scale = _scale(expl, output_unit, output_name)
    row = expl.contributions.iloc[i]
    raw = expl.raw_values.iloc[i]
    order = list(row.abs().sort_values(ascending=False, kind="stable").index)
    chosen = set(order[:top]) | set(include)
    shown, rest = [f for f in order if f in chosen], [f for f in order if f not in chosen]
    if len(rest) == 1:  # a bar named "other 1 features" hides a name for nothing
        shown, rest = order, []
    labels = ["Average prediction (base)"]
    labels += [describe_value(f, raw.get(f, np.nan), units, imputed) for f in shown]
    changes = [float(row[f]) for f in shown]
    if rest:
        labels.append(f"other {len(rest)} features")
        changes.append(float(row[rest].sum()))
    labels.append("This patient")
    output = float(expl.output[i])
    values = np.asarray([expl.base_value, *changes, output]) * scale.factor
    text = [scale.value(expl.base_value)]
    text += [scale.delta(c) for c in changes] + [scale.value(output)]
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            y=labels,
            x=values,
            measure=["absolute"] + ["relative"] * len(changes) + ["total"],
            text=text,
            textposition="outside",
            cliponaxis=False,
            name="Contribution",
            increasing={"marker": {"color": RAISES}},
            decreasing={"marker": {"color": LOWERS}},
            totals={"marker": {"color": PALETTE["treat_none"]}},
            connector={"line": {"color": PALETTE["reference"], "width": 1, "dash": "dot"}},
            hovertemplate="%{y}<br>%{text}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", type="category", automargin=True)
    fig.update_xaxes(title_text=f"{scale.output} ({scale.unit})" if scale.unit else scale.output)
    if title is None:
        patient = expl.contributions.index[i]
        title = (
            f"Patient {patient}: {scale.output.lower()} {scale.value(output)} "
            f"(average {scale.value(expl.base_value)})"
        )
    return style(fig, title, height=max(320, 30 * len(labels) + 140), showlegend=False)


def waterfall_extent(fig: go.Figure) -> tuple[float, float]:
    """The lowest and highest running totals a waterfall reaches (for aligning two)."""
    trace = next(t for t in fig.data if isinstance(t, go.Waterfall))
    total, reached = 0.0, []
    for value, measure in zip(trace.x, trace.measure, strict=True):
        if measure == "absolute":
            total = float(value)
        elif measure == "relative":
            total += float(value)
        reached.append(total)
    return min(0.0, *reached), max(reached)


def same_scale(*figures: go.Figure, pad: float = 0.15) -> None:
    """Give waterfalls one x range, so that two patients' bars compare at a glance."""
    extents = [waterfall_extent(fig) for fig in figures]
    low, high = min(e[0] for e in extents), max(e[1] for e in extents)
    margin = (high - low) * pad or 1.0
    for fig in figures:
        fig.update_xaxes(range=[low - (margin if low < 0 else 0), high + margin])
