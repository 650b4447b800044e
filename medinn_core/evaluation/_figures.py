"""Plotly figure builders for the dashboard and the HTML report.

Every builder is pure: it takes the data computed by the core (DataFrames and result
dataclasses) and returns a new ``plotly.graph_objects.Figure``. Builders never call Streamlit
and never touch plotly's global templates; each figure carries its own layout. Axis titles are
words a clinician reads ("1 − specificity (false-positive rate)"), risks are shown as
percentages, and colours come from ``PALETTE`` (Okabe-Ito, safe for colour-blind readers).

Sections: shared style, evaluation figures, training figures. Explanation figures are added
in their own section below.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from medinn_core.evaluation._bootstrap import Interval
from medinn_core.evaluation._calibration import CalibrationResult
from medinn_core.evaluation._thresholds import OUTCOME_LABELS
from medinn_core.style import CLASS_COLOURS, PALETTE, style


def _interval_text(name: str, interval: Interval | None, digits: int = 2) -> str:
    if interval is None:
        return f"{name} not defined"
    text = f"{name} {interval.value:.{digits}f}"
    if interval.ci_low is not None and interval.ci_high is not None:
        text += f" (95 % CI {interval.ci_low:.{digits}f}–{interval.ci_high:.{digits}f})"
    return text


def _band_traces(x, low, high, name: str, colour: str) -> list[go.Scatter]:
    # Upper bound, then lower bound filled up to it; nothing when the band was not computed.
    if np.any(np.isnan(np.asarray(low, dtype=float))):
        return []
    line = {"width": 0}
    return [
        go.Scatter(
            x=x,
            y=high,
            name=f"{name} (upper)",
            mode="lines",
            line=line,
            showlegend=False,
            hoverinfo="skip",
        ),
        go.Scatter(
            x=x,
            y=low,
            name=name,
            mode="lines",
            line=line,
            fill="tonexty",
            fillcolor=colour,
            hoverinfo="skip",
        ),
    ]


def _diagonal(name: str = "No discrimination") -> go.Scatter:
    return go.Scatter(
        x=[0, 1],
        y=[0, 1],
        name=name,
        mode="lines",
        hoverinfo="skip",
        line={"color": PALETTE["reference"], "dash": "dash", "width": 1},
    )


def _unit_axes(fig: go.Figure, x_title: str, y_title: str, **kwargs) -> go.Figure:
    axis = {"range": [0, 1], "tickformat": ".0%", "constrain": "domain"}
    fig.update_xaxes(title_text=x_title, **axis, **kwargs)
    fig.update_yaxes(title_text=y_title, **axis)
    return fig


FALSE_POSITIVE_RATE = "1 − specificity (false-positive rate)"
SENSITIVITY = "Sensitivity (true-positive rate)"
PREDICTED_RISK = "Predicted risk"


# -- evaluation figures ------------------------------------------------------------------------
def roc_figure(
    roc: pd.DataFrame, auroc: Interval | None = None, *, title: str = "ROC curve"
) -> go.Figure:
    """ROC curve with its bootstrap band and the diagonal of a useless test.

    ``roc`` has columns ``fpr``, ``tpr``, ``tpr_low``, ``tpr_high`` (``BinaryEvaluation.
    roc_curve``); ``auroc`` labels the curve.
    """
    fig = go.Figure(
        _band_traces(roc["fpr"], roc["tpr_low"], roc["tpr_high"], "95 % band", PALETTE["band"])
    )
    fig.add_trace(
        go.Scatter(
            x=roc["fpr"],
            y=roc["tpr"],
            mode="lines",
            name=_interval_text("AUROC", auroc),
            line={"color": PALETTE["model"], "width": 2.5},
            hovertemplate="1 − specificity %{x:.0%}<br>Sensitivity %{y:.1%}<extra></extra>",
        )
    )
    fig.add_trace(_diagonal())
    _unit_axes(fig, FALSE_POSITIVE_RATE, SENSITIVITY)
    return style(fig, title, yaxis_scaleanchor="x")


def pr_figure(
    pr: pd.DataFrame,
    prevalence: float,
    average_precision: Interval | None = None,
    *,
    title: str = "Precision–recall curve",
) -> go.Figure:
    """Precision-recall curve with its band; the prevalence line is what chance achieves.

    ``pr`` has columns ``recall``, ``precision``, ``precision_low``, ``precision_high``.
    """
    fig = go.Figure(
        _band_traces(
            pr["recall"], pr["precision_low"], pr["precision_high"], "95 % band", PALETTE["band"]
        )
    )
    fig.add_trace(
        go.Scatter(
            x=pr["recall"],
            y=pr["precision"],
            mode="lines",
            line_shape="hv",
            name=_interval_text("Average precision", average_precision),
            line={"color": PALETTE["model"], "width": 2.5},
            hovertemplate="Sensitivity %{x:.0%}<br>PPV %{y:.1%}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[prevalence, prevalence],
            mode="lines",
            hoverinfo="skip",
            name=f"Prevalence {prevalence:.1%} (no skill)",
            line={"color": PALETTE["reference"], "dash": "dash", "width": 1},
        )
    )
    _unit_axes(fig, "Sensitivity (recall)", "Positive predictive value (precision)")
    return style(fig, title)


def confusion_matrix_figure(
    counts: pd.DataFrame,
    *,
    title: str = "Confusion matrix",
    outcomes: tuple[str, str] | None = None,
) -> go.Figure:
    """Heatmap of a confusion matrix: observed rows, predicted columns.

    Colour shows the row share (so rare classes are as readable as common ones); each cell
    reads "count" over "row %". ``counts`` is ``ThresholdMetrics.confusion_matrix()`` or
    ``MulticlassEvaluation.confusion``; ``outcomes`` names a binary matrix's two outcomes, the
    event second (``medinn_core.figures.outcome_names``: "notckd", "ckd") instead of "no
    event" and "event".
    """
    if outcomes is not None and counts.shape == (2, 2):
        counts = counts.set_axis(list(outcomes), axis=0).set_axis(list(outcomes), axis=1)
    values = counts.to_numpy(dtype=float)
    totals = values.sum(axis=1, keepdims=True)
    shares = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
    text = [
        [f"{int(c):,}<br>{s:.0%} of row" for c, s in zip(row_c, row_s, strict=True)]
        for row_c, row_s in zip(values, shares, strict=True)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=shares,
            x=[str(c) for c in counts.columns],
            y=[str(i) for i in counts.index],
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"title": {"text": "Row share"}, "tickformat": ".0%"},
            name="confusion",
            hovertemplate="Observed %{y}, predicted %{x}<br>%{text}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="Predicted", side="bottom", type="category")
    fig.update_yaxes(title_text="Observed", autorange="reversed", type="category")
    return style(fig, title)


def _outcome_traces(outcomes: tuple[str, str]) -> tuple[tuple[str, str, str], ...]:
    """(outcome in a risk distribution, its name on the figure, colour), no event first."""
    return (
        (OUTCOME_LABELS[0], outcomes[0], PALETTE["non_event"]),
        (OUTCOME_LABELS[1], outcomes[1], PALETTE["event"]),
    )


def _risk_axis_limit(*arrays: np.ndarray) -> float:
    # Zoom on the risks that occur (rare outcomes crowd the corner of a 0-100 % plot).
    top = max(float(np.nanmax(a)) for a in arrays if len(a))
    return min(1.0, math.ceil(top * 1.1 * 20) / 20) if top > 0 else 1.0


#: Pixels from the bottom of a calibration plot to its note: below the tick labels (about 20)
#: and the axis title (about 25 more).
CALIBRATION_NOTE_SHIFT = 52
NOTE_WIDTH = 105  # characters of a line of the note


def calibration_figure(
    calibration: CalibrationResult,
    risk_distribution: pd.DataFrame | None = None,
    *,
    title: str = "Calibration",
    outcomes: tuple[str, str] = OUTCOME_LABELS,
) -> go.Figure:
    """Calibration plot: quantile bins with 95 % intervals, lowess curve and the ideal line,
    with the statistics in a note; below it a strip of the predicted-risk histogram (from
    ``risk_distribution``, both outcomes stacked, named by ``outcomes``) when given."""
    bins, smooth = calibration.bins, calibration.smooth
    strip = risk_distribution is not None
    fig = make_subplots(
        rows=2 if strip else 1,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.78, 0.22] if strip else None,
        vertical_spacing=0.04,
    )
    fig.add_trace(_diagonal("Ideal (predicted = observed)"), row=1, col=1)
    fig.add_trace(
        go.Scatter(
            x=smooth["predicted"],
            y=smooth["observed"],
            mode="lines",
            name="Smoothed (lowess)",
            line={"color": PALETTE["smooth"], "width": 2},
            hovertemplate="Predicted %{x:.1%}<br>Observed %{y:.1%}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=bins["mean_predicted"],
            y=bins["observed"],
            mode="markers",
            name=f"Observed in {len(bins)} risk groups (95 % CI)",
            marker={"color": PALETTE["model"], "size": 9},
            error_y={
                "type": "data",
                "array": bins["ci_high"] - bins["observed"],
                "arrayminus": bins["observed"] - bins["ci_low"],
                "thickness": 1.2,
            },
            customdata=np.column_stack([bins["n"], bins["events"]]),
            hovertemplate="Mean predicted %{x:.1%}<br>Observed %{y:.1%}"
            "<br>%{customdata[1]} events in %{customdata[0]} patients<extra></extra>",
        ),
        row=1,
        col=1,
    )
    if strip:
        for outcome, name, colour in _outcome_traces(outcomes):
            part = risk_distribution[risk_distribution["outcome"] == outcome]
            fig.add_trace(
                go.Bar(
                    x=(part["bin_left"] + part["bin_right"]) / 2,
                    y=part["count"],
                    width=part["bin_right"] - part["bin_left"],
                    name=f"Patients: {name}",
                    marker={"color": colour},
                    opacity=0.7,
                    hovertemplate="Risk %{x:.0%}<br>%{y} patients<extra></extra>",
                ),
                row=2,
                col=1,
            )
        fig.update_layout(barmode="stack")
        fig.update_yaxes(title_text="Patients", row=2, col=1)
    limit = _risk_axis_limit(bins["ci_high"], bins["mean_predicted"], smooth["predicted"])
    fig.update_xaxes(range=[0, limit], tickformat=".0%")
    fig.update_xaxes(title_text=PREDICTED_RISK, row=2 if strip else 1, col=1)
    fig.update_yaxes(
        title_text="Observed proportion with the outcome",
        range=[0, limit],
        tickformat=".0%",
        row=1,
        col=1,
    )
    notes = [
        _interval_text("Slope", calibration.slope),
        _interval_text("Intercept", calibration.intercept),
        f"O/E {calibration.oe_ratio:.2f}" if calibration.oe_ratio is not None else "O/E n/a",
        f"Brier {calibration.brier:.3f}",
    ]
    lines = [" · ".join(notes)]
    if calibration.interpretation:  # wrapped: plotly does not, and cuts the line
        lines += textwrap.wrap(calibration.interpretation, NOTE_WIDTH)
    # Below the x axis's tick labels and title, in pixels: a share of the plot's height put
    # the note on top of the axis title in a short figure.
    fig.add_annotation(
        text="<br>".join(lines),
        xref="paper",
        yref="paper",
        x=0,
        y=0,
        yshift=-CALIBRATION_NOTE_SHIFT,
        showarrow=False,
        align="left",
        xanchor="left",
        yanchor="top",
        font={"size": 11},
    )
    bottom = CALIBRATION_NOTE_SHIFT + 15 * len(lines) + 10
    return style(fig, title, margin={"l": 70, "r": 20, "t": 80, "b": bottom})


def decision_curve_figure(curve: pd.DataFrame, *, title: str = "Decision curve") -> go.Figure:
    """Net benefit of the model against treating all and treating none.

    ``curve`` is :func:`medinn_core.evaluation.decision_curve` output. The y axis is clipped a
    little below zero, since treat-all falls steeply at high thresholds.
    """
    x = curve["threshold"]
    fig = go.Figure()
    for column, name, colour, dash in (
        ("net_benefit_model", "Model", PALETTE["model"], "solid"),
        ("net_benefit_treat_all", "Treat all", PALETTE["treat_all"], "dash"),
        ("net_benefit_treat_none", "Treat none", PALETTE["treat_none"], "dot"),
    ):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=curve[column],
                mode="lines",
                name=name,
                line={"color": colour, "dash": dash, "width": 2.5 if name == "Model" else 1.5},
                hovertemplate=f"{name}<br>Threshold %{{x:.0%}}<br>Net benefit %{{y:.3f}}"
                "<extra></extra>",
            )
        )
    top = max(float(curve["net_benefit_model"].max()), float(curve["net_benefit_treat_all"].max()))
    top = max(top, 0.01) * 1.15
    fig.update_xaxes(
        title_text="Threshold probability (risk above which you would treat)", tickformat=".0%"
    )
    fig.update_yaxes(
        title_text="Net benefit (true positives per patient, net of harm)", range=[-0.25 * top, top]
    )
    return style(fig, title)


def risk_histogram_figure(
    distribution: pd.DataFrame,
    *,
    title: str = "Predicted risk by outcome",
    outcomes: tuple[str, str] = OUTCOME_LABELS,
) -> go.Figure:
    """Overlaid histograms of predicted risk for patients with and without the event.

    ``distribution`` is :func:`medinn_core.evaluation.risk_distribution` output; bars show the
    share of each outcome's patients, so groups of different size compare fairly. ``outcomes``
    names the two outcomes, the event second ("notckd", "ckd").
    """
    fig = go.Figure()
    for outcome, name, colour in _outcome_traces(outcomes):
        part = distribution[distribution["outcome"] == outcome]
        fig.add_trace(
            go.Bar(
                x=(part["bin_left"] + part["bin_right"]) / 2,
                y=part["share"],
                width=part["bin_right"] - part["bin_left"],
                marker={"color": colour},
                name=f"{name[:1].upper()}{name[1:]} (n = {int(part['count'].sum()):,})",
                opacity=0.6,
                customdata=part["count"],
                hovertemplate="Risk %{x:.0%}<br>%{y:.1%} of group (%{customdata} patients)"
                "<extra></extra>",
            )
        )
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title_text=PREDICTED_RISK, tickformat=".0%", range=[0, 1])
    fig.update_yaxes(title_text="Share of patients in the group", tickformat=".0%")
    return style(fig, title)


def subgroup_forest_figure(
    table: pd.DataFrame,
    overall: Interval | None = None,
    *,
    title: str = "AUROC by subgroup",
) -> go.Figure:
    """Forest plot of AUROC with 95 % CI per subgroup; groups too small to judge are grey.

    ``table`` is :func:`medinn_core.evaluation.subgroup_table` output; ``overall`` draws the
    whole-sample AUROC as a reference line.
    """
    labels = [
        f"{g} (n = {n:,}, {e:,} events)"
        for g, n, e in zip(table["group"], table["n"], table["events"], strict=True)
    ]
    table = table.assign(label=labels)
    fig = go.Figure()
    for small, name, colour in (
        (False, "Subgroup", PALETTE["model"]),
        (True, "Too few events to judge", PALETTE["too_small"]),
    ):
        part = table[table["too_small"] == small]
        if part.empty:
            continue
        fig.add_trace(
            go.Scatter(
                x=part["auroc"],
                y=part["label"],
                mode="markers",
                name=name,
                marker={"color": colour, "size": 10, "symbol": "square"},
                error_x={
                    "type": "data",
                    "array": part["auroc_ci_high"] - part["auroc"],
                    "arrayminus": part["auroc"] - part["auroc_ci_low"],
                    "color": colour,
                },
                hovertemplate="%{y}<br>AUROC %{x:.3f}<extra></extra>",
            )
        )
    if overall is not None:
        fig.add_vline(
            x=overall.value,
            line={"color": PALETTE["model"], "dash": "dash", "width": 1},
            annotation_text=f"All patients {overall.value:.2f}",
        )
    fig.add_vline(x=0.5, line={"color": PALETTE["reference"], "dash": "dot", "width": 1})
    fig.update_xaxes(title_text="AUROC (95 % CI)", range=[0.4, 1.0])
    fig.update_yaxes(
        title_text="", categoryorder="array", categoryarray=labels, autorange="reversed"
    )
    return style(fig, title, height=max(300, 120 + 40 * len(table)))


def multiclass_roc_figure(
    roc_curves: pd.DataFrame,
    per_class: pd.DataFrame | None = None,
    *,
    title: str = "ROC curves, each class against the rest",
) -> go.Figure:
    """One ROC curve per class (one-vs-rest); ``per_class`` adds each AUROC to the legend."""
    aurocs = (
        {} if per_class is None else dict(zip(per_class["class"], per_class["auroc"], strict=True))
    )
    fig = go.Figure()
    for i, (label, part) in enumerate(roc_curves.groupby("class", sort=False)):
        auroc = aurocs.get(label)
        name = (
            f"{label} (AUROC {auroc:.2f})"
            if auroc is not None and np.isfinite(auroc)
            else str(label)
        )
        fig.add_trace(
            go.Scatter(
                x=part["fpr"],
                y=part["tpr"],
                mode="lines",
                name=name,
                line={"color": CLASS_COLOURS[i % len(CLASS_COLOURS)], "width": 2},
            )
        )
    fig.add_trace(_diagonal())
    _unit_axes(fig, FALSE_POSITIVE_RATE, SENSITIVITY)
    return style(fig, title, yaxis_scaleanchor="x")


def multiclass_calibration_figure(
    calibration: pd.DataFrame, *, title: str = "Calibration, each class against the rest"
) -> go.Figure:
    """Observed against mean predicted probability in quantile bins, one line per class.

    ``calibration`` is ``MulticlassEvaluation.calibration`` (long frame with ``class``).
    """
    fig = go.Figure(_diagonal("Ideal (predicted = observed)"))
    for i, (label, part) in enumerate(calibration.groupby("class", sort=False)):
        fig.add_trace(
            go.Scatter(
                x=part["mean_predicted"],
                y=part["observed"],
                mode="lines+markers",
                name=str(label),
                line={"color": CLASS_COLOURS[i % len(CLASS_COLOURS)]},
                error_y={
                    "type": "data",
                    "array": part["ci_high"] - part["observed"],
                    "arrayminus": part["observed"] - part["ci_low"],
                    "thickness": 1,
                },
            )
        )
    _unit_axes(fig, "Predicted probability of the class", "Observed proportion in the class")
    return style(fig, title)


def _with_unit(text: str, unit: str) -> str:
    return f"{text} ({unit})" if unit else text


def predicted_observed_figure(
    points: pd.DataFrame, *, unit: str = "", title: str = "Predicted against observed"
) -> go.Figure:
    """Scatter of observed (y) against predicted (x) values with the identity line.

    ``points`` is ``RegressionEvaluation.points``; ``unit`` labels the axes (e.g. "mg/dL").
    """
    low = float(min(points["observed"].min(), points["predicted"].min()))
    high = float(max(points["observed"].max(), points["predicted"].max()))
    fig = go.Figure(
        go.Scatter(
            x=points["predicted"],
            y=points["observed"],
            mode="markers",
            name="Patients",
            marker={"color": PALETTE["model"], "size": 5, "opacity": 0.5},
            hovertemplate="Predicted %{x:.3g}<br>Observed %{y:.3g}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[low, high],
            y=[low, high],
            mode="lines",
            name="Identity (perfect prediction)",
            line={"color": PALETTE["reference"], "dash": "dash"},
            hoverinfo="skip",
        )
    )
    fig.update_xaxes(title_text=_with_unit("Predicted value", unit))
    fig.update_yaxes(title_text=_with_unit("Observed value", unit), scaleanchor="x")
    return style(fig, title)


def residuals_figure(
    points: pd.DataFrame, *, unit: str = "", title: str = "Residuals against predicted"
) -> go.Figure:
    """Residual (observed − predicted) against predicted value, with the zero line."""
    fig = go.Figure(
        go.Scatter(
            x=points["predicted"],
            y=points["residual"],
            mode="markers",
            name="Patients",
            marker={"color": PALETTE["model"], "size": 5, "opacity": 0.5},
            hovertemplate="Predicted %{x:.3g}<br>Residual %{y:.3g}<extra></extra>",
        )
    )
    fig.add_hline(y=0, line={"color": PALETTE["reference"], "dash": "dash"})
    fig.update_xaxes(title_text=_with_unit("Predicted value", unit))
    fig.update_yaxes(title_text=_with_unit("Residual: observed − predicted", unit))
    return style(fig, title)


def regression_subgroup_figure(
    by_group: pd.DataFrame,
    overall_mae: float | None = None,
    *,
    unit: str = "",
    title: str = "Error by subgroup",
) -> go.Figure:
    """Mean absolute error per subgroup (bars) and mean bias (diamonds, predicted − observed).

    ``by_group`` is ``RegressionEvaluation.by_group``; ``overall_mae`` draws the whole-sample
    MAE as a reference line.
    """
    labels = [f"{g} (n = {n:,})" for g, n in zip(by_group["group"], by_group["n"], strict=True)]
    fig = go.Figure(
        go.Bar(
            x=by_group["mae"],
            y=labels,
            orientation="h",
            name="Mean absolute error",
            marker={"color": PALETTE["model"]},
            hovertemplate="%{y}<br>MAE %{x:.3g}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=by_group["bias"],
            y=labels,
            mode="markers",
            name="Bias (predicted − observed)",
            marker={"color": PALETTE["baseline"], "size": 10, "symbol": "diamond"},
            hovertemplate="%{y}<br>Bias %{x:+.3g}<extra></extra>",
        )
    )
    if overall_mae is not None:
        fig.add_vline(
            x=overall_mae,
            line={"color": PALETTE["reference"], "dash": "dash", "width": 1},
            annotation_text=f"All patients {overall_mae:.3g}",
        )
    fig.add_vline(x=0, line={"color": PALETTE["reference"], "width": 1})
    fig.update_xaxes(title_text=_with_unit("Error", unit))
    fig.update_yaxes(
        title_text="", categoryorder="array", categoryarray=labels, autorange="reversed"
    )
    return style(fig, title, height=max(300, 120 + 40 * len(by_group)))
