"""Figures of the Data, Train and Predict pages: the data profile, the training history, the
predicted risks. Evaluation and explanation figures live in their packages.

Each builder is pure: data in, ``plotly.graph_objects.Figure`` out; no Streamlit calls and no
change to plotly's global templates (the template is set per figure). Nothing here imports
scipy: the Data page draws with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from medinn_core.errors import DataError
from medinn_core.style import BAND_COLOURS, PALETTE, style, template

BLUE = PALETTE["model"]
ORANGE = PALETTE["event"]


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 320) -> go.Figure:
    fig.update_layout(
        template=template(),
        title={"text": title, "x": 0, "xanchor": "left"},
        xaxis_title=x,
        yaxis_title=y,
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


# -- Data page ----------------------------------------------------------------------------------
def outcome_balance(counts: pd.Series, target: str) -> go.Figure:
    """Bar chart of patients per outcome value (``counts`` from ``value_counts``)."""
    share = counts / max(int(counts.sum()), 1)
    fig = go.Figure(
        go.Bar(
            x=[str(v) for v in counts.index],
            y=counts.to_numpy(),
            text=[f"{n:,} ({s:.0%})" for n, s in zip(counts, share, strict=True)],
            textposition="auto",
            marker_color=BLUE,
        )
    )
    fig.update_xaxes(type="category")
    return _layout(fig, f"Outcome balance: {target}", target, "patients")


def missing_values(frame: pd.DataFrame) -> go.Figure:
    """Horizontal bars: share of missing cells in each column (columns in file order)."""
    share = frame.isna().mean()
    fig = go.Figure(
        go.Bar(
            x=share.to_numpy() * 100,
            y=[str(c) for c in share.index],
            orientation="h",
            text=[f"{s:.0%}" if s > 0 else "" for s in share],
            textposition="auto",
            marker_color=[ORANGE if s > 0.5 else BLUE for s in share],
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(range=[0, 100])
    height = max(240, 22 * len(share) + 90)
    return _layout(fig, "Missing values per column", "% of rows missing", "", height)


def column_distribution(series: pd.Series, name: str, numeric: bool, unit: str = "") -> go.Figure:
    """Histogram of a numeric column, or bars of the 30 most frequent values of another."""
    label = f"{name} ({unit})" if unit else name
    if numeric:
        values = pd.to_numeric(series, errors="coerce").dropna()
        fig = go.Figure(go.Histogram(x=values.to_numpy(), nbinsx=40, marker_color=BLUE))
        missing = int(series.isna().sum())
        title = f"Distribution of {name}" + (f" ({missing:,} missing)" if missing else "")
        return _layout(fig, title, label, "patients")
    counts = series.astype("string").fillna("(missing)").value_counts().head(30)
    fig = go.Figure(go.Bar(x=list(counts.index), y=counts.to_numpy(), marker_color=BLUE))
    fig.update_xaxes(type="category")
    return _layout(fig, f"Values of {name}", label, "patients")


# -- the event's names ------------------------------------------------------------------------
def outcome_names(schema) -> tuple[str, str]:
    """How figures and tables name a binary target's two outcomes, the event second:
    ("notckd", "ckd") when the event's label names it (``schema.event_text`` is "risk of
    ckd"), else the target with each value ("mace_1y = 0", "mace_1y = 1")."""
    negative, positive = schema.classes
    if schema.event_text == f"risk of {positive}":
        return (negative, positive)
    return (f"{schema.target} = {negative}", f"{schema.target} = {positive}")


# -- Predict page -------------------------------------------------------------------------------
def risk_histogram(
    risk: np.ndarray, threshold: float | None, *, x_title: str = "risk (%)"
) -> go.Figure:
    """Predicted risks (%) with the decision threshold marked (none for a survival model's
    risks by its horizon, named in ``x_title``)."""
    fig = go.Figure(
        go.Histogram(
            x=np.asarray(risk) * 100, xbins={"start": 0, "end": 100, "size": 2.5}, marker_color=BLUE
        )
    )
    if threshold is not None:
        fig.add_vline(
            x=threshold * 100,
            line_dash="dash",
            line_color=BAND_COLOURS["high"],
            annotation_text=f"threshold {threshold:.0%}",
        )
    fig.update_xaxes(range=[0, 100])
    return _layout(fig, "Predicted risk of the patients", x_title, "patients", 280)


# -- Train page ---------------------------------------------------------------------------------
_METRIC_NAMES = MappingProxyType(
    {
        "loss": "Loss",
        "auroc": "AUROC",
        "auc": "AUROC",
        "accuracy": "Accuracy",
        "mae": "MAE",
        "rmse": "RMSE",
        "mse": "Mean squared error",
        "learning_rate": "Learning rate (log scale)",
        "lr": "Learning rate (log scale)",
    }
)
# Metrics drawn on a log axis: the learning rate halves on plateaus, from 1e-3 to 1.6e-5, a
# flat line at 0 on a linear axis.
_LOG_METRICS = frozenset({"learning_rate", "lr"})


def history_figure(
    history: Mapping[str, Sequence[float]],
    *,
    best_epoch: int | None = None,
    title: str = "Training history",
) -> go.Figure:
    """Loss and every other metric per epoch, training (solid) against validation (dashed).

    ``history`` is Keras' ``History.history`` (``{"loss": [...], "val_loss": [...], ...}``);
    each metric gets its own panel, loss first. ``best_epoch`` (1-based) marks the epoch whose
    weights were kept.

    Raises
    ------
    DataError
        If the history holds no values.
    """
    if not history or not any(len(v) for v in history.values()):
        raise DataError("The training history is empty: train a model before plotting it.")
    bases = sorted({k.removeprefix("val_") for k in history}, key=lambda b: (b != "loss", b))
    titles = [_METRIC_NAMES.get(b, b.replace("_", " ").capitalize()) for b in bases]
    fig = make_subplots(
        rows=len(bases),
        cols=1,
        shared_xaxes=True,
        subplot_titles=titles,
        vertical_spacing=0.08 if len(bases) > 1 else 0.0,
    )
    for row, base in enumerate(bases, start=1):
        for key, split, colour, dash in (
            (base, "Training", PALETTE["training"], "solid"),
            (f"val_{base}", "Validation", PALETTE["validation"], "dash"),
        ):
            values = history.get(key)
            if not values:
                continue
            fig.add_trace(
                go.Scatter(
                    x=np.arange(1, len(values) + 1),
                    y=list(values),
                    mode="lines",
                    name=split,
                    legendgroup=split,
                    showlegend=row == 1,
                    meta=key,
                    line={"color": colour, "dash": dash, "width": 2},
                    hovertemplate=f"{split} {titles[row - 1]}<br>Epoch %{{x}}: %{{y:.4g}}"
                    "<extra></extra>",
                ),
                row=row,
                col=1,
            )
        log = base in _LOG_METRICS
        fig.update_yaxes(
            title_text=titles[row - 1],
            type="log" if log else None,
            exponentformat="e" if log else None,
            row=row,
            col=1,
        )
    fig.update_xaxes(title_text="Epoch", row=len(bases), col=1)
    if best_epoch is not None:
        fig.add_vline(
            x=best_epoch,
            line={"color": PALETTE["reference"], "dash": "dot"},
            annotation_text=f"Best epoch {best_epoch}",
        )
    return style(fig, title, height=max(320, 260 * len(bases)))


# -- survival: Predict and Evaluate ---------------------------------------------------------------
GREY = PALETTE["reference"]
RISK_GROUP_COLOURS = MappingProxyType(
    {"low": PALETTE["non_event"], "middle": PALETTE["smooth"], "high": PALETTE["event"]}
)


def _horizon_line(fig: go.Figure, horizon: float, **where) -> None:
    fig.add_vline(
        x=horizon,
        line_dash="dash",
        line_color=GREY,
        annotation_text=f"horizon {horizon:g}",
        annotation_position="top right",
        **where,
    )


def survival_curve_figure(
    curve: pd.DataFrame, horizon: float, time_label: str, risk: float | None = None
) -> go.Figure:
    """One patient's survival curve against the cohort's (steps), the horizon marked, and
    with ``risk`` the patient's event-free probability at the horizon (1 - risk) as a dot: the
    exact value, where the curve's coarse steps (aggregates of several events) read close.

    ``curve`` is :func:`medinn_core.predict.survival_curve` output: ``time``, ``patient``,
    ``cohort`` (NaN when the model keeps no cohort curve, then not drawn)."""
    fig = go.Figure()
    if curve["cohort"].notna().any():
        fig.add_trace(
            go.Scatter(
                x=curve["time"],
                y=curve["cohort"],
                mode="lines",
                line_shape="hv",
                name="Cohort (mean of the held-out patients)",
                line={"color": GREY, "dash": "dot"},
                hovertemplate="Time %{x:g}<br>Event-free %{y:.1%}<extra>cohort</extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=curve["time"],
            y=curve["patient"],
            mode="lines",
            line_shape="hv",
            name="This patient",
            line={"color": BLUE, "width": 2.5},
            hovertemplate="Time %{x:g}<br>Event-free %{y:.1%}<extra>patient</extra>",
        )
    )
    if risk is not None:
        fig.add_trace(
            go.Scatter(
                x=[horizon],
                y=[1 - risk],
                mode="markers",
                name=f"At the horizon: risk {risk:.1%}",
                marker={"color": BLUE, "size": 10},
                hovertemplate="Horizon %{x:g}<br>Event-free %{y:.1%}<extra></extra>",
            )
        )
    _horizon_line(fig, horizon)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return _layout(
        fig, "Survival curve: this patient against the cohort", time_label, "event-free", 360
    )


def km_risk_groups_figure(
    curves: pd.DataFrame, at_risk: pd.DataFrame, horizon: float, time_label: str
) -> go.Figure:
    """Kaplan-Meier curves of the risk groups (steps) with the numbers still at risk in a
    table under the plot, the horizon marked.

    ``curves`` and ``at_risk`` are :func:`medinn_core.evaluation.km_by_risk_group` output."""
    groups = list(at_risk.index)
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.78, 0.22], vertical_spacing=0.14
    )
    for i, name in enumerate(groups):
        part = curves[curves["group"] == name]
        colour = RISK_GROUP_COLOURS.get(name, PALETTE["model"] if i == 0 else GREY)
        fig.add_trace(
            go.Scatter(
                x=part["time"],
                y=part["survival"],
                mode="lines",
                line_shape="hv",
                name=f"{name} risk",
                line={"color": colour, "width": 2},
                hovertemplate=f"{name} risk<br>Time %{{x:g}}<br>Event-free %{{y:.1%}}"
                "<extra></extra>",
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=[float(t) for t in at_risk.columns],
                y=[f"{name} "] * len(at_risk.columns),
                mode="text",
                text=[f"{int(n):,}" for n in at_risk.loc[name]],
                textfont={"color": colour},
                showlegend=False,
                hoverinfo="skip",
            ),
            row=2,
            col=1,
        )
    _horizon_line(fig, horizon, row=1, col=1)
    marks = [float(t) for t in at_risk.columns]  # the table's columns are the time ticks
    fig = _layout(fig, "Kaplan-Meier by predicted risk group", "", "", 500)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", title_text="event-free", row=1, col=1)
    fig.update_xaxes(title_text=time_label, tickvals=marks, showticklabels=True, row=1, col=1)
    fig.update_yaxes(  # a table, not a plot: the groups top to bottom, no grid
        title_text="at risk",
        categoryorder="array",
        categoryarray=[f"{g} " for g in groups][::-1],
        range=[-0.5, len(groups) - 0.5],
        showgrid=False,
        zeroline=False,
        row=2,
        col=1,
    )
    fig.update_xaxes(
        tickvals=marks, showticklabels=False, showgrid=False, zeroline=False, row=2, col=1
    )
    return fig


def auroc_over_time_figure(frame: pd.DataFrame, horizon: float, time_label: str) -> go.Figure:
    """The cumulative/dynamic AUROC at times across the follow-up (``time``, ``auroc``), the
    horizon marked and 0.5 (chance) drawn."""
    fig = go.Figure(
        go.Scatter(
            x=frame["time"],
            y=frame["auroc"],
            mode="lines+markers",
            name="AUROC",
            line={"color": BLUE},
            hovertemplate="Time %{x:g}<br>AUROC %{y:.3f}<extra></extra>",
        )
    )
    fig.add_hline(y=0.5, line_dash="dot", line_color=GREY, annotation_text="chance")
    _horizon_line(fig, horizon)
    fig.update_yaxes(range=[0.4, 1.0])
    return _layout(fig, "Time-dependent AUROC (cumulative/dynamic)", time_label, "AUROC", 340)


def survival_calibration_figure(
    table: pd.DataFrame, horizon: float, slope: float | None
) -> go.Figure:
    """Calibration at the horizon: per risk group the mean predicted risk against the
    Kaplan-Meier observed risk (``predicted``, ``observed``, ``n``, ``events``), and the ideal
    line; the calibration slope in the title."""
    top = float(max(table["predicted"].max(), table["observed"].max(), 0.05)) * 1.05
    fig = go.Figure(
        go.Scatter(
            x=[0, top],
            y=[0, top],
            mode="lines",
            name="Ideal (predicted = observed)",
            line={"color": GREY, "dash": "dash"},
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=table["predicted"],
            y=table["observed"],
            mode="markers+lines",
            name="Risk groups",
            marker={"color": BLUE, "size": 9},
            line={"color": BLUE, "width": 1},
            customdata=np.column_stack([table["n"], table["events"]]),
            hovertemplate="Predicted %{x:.1%}<br>Observed (Kaplan-Meier) %{y:.1%}<br>"
            "%{customdata[0]} patients, %{customdata[1]} events<extra></extra>",
        )
    )
    fig.update_xaxes(range=[0, top], tickformat=".0%")
    fig.update_yaxes(range=[0, top], tickformat=".0%")
    slope_text = "" if slope is None else f" · slope {slope:.2f}"
    return _layout(
        fig,
        f"Calibration at the horizon {horizon:g}{slope_text}",
        "predicted risk by the horizon",
        "observed risk (Kaplan-Meier)",
        380,
    )


# -- Signals (a trace sampled as columns, see medinn_core.signals) ------------------------------
def signal_traces_figure(traces: pd.DataFrame, name: str, labels: Sequence[str] = ()) -> go.Figure:
    """A few patients' traces: ``traces`` has one row per patient and one column per sample
    in trace order (e.g. ``frame[list(group.columns)].head(5)``); ``labels`` name the rows."""
    fig = go.Figure()
    positions = np.arange(traces.shape[1])
    names = list(labels) or [str(i) for i in traces.index]
    for row, label in zip(traces.to_numpy(dtype=np.float64), names, strict=False):
        fig.add_trace(go.Scatter(x=positions, y=row, mode="lines", name=str(label)))
    return _layout(fig, f"Signal {_plain(name)}: {len(traces)} traces", "sample", _plain(name))


def signal_saliency_figure(
    trace: Sequence[float],
    contributions: Sequence[float],
    name: str,
    unit: str = "contribution",
) -> go.Figure:
    """One patient's trace, each sample coloured by its contribution to the output (red
    raises it, blue lowers it; the scale is symmetric around 0); ``unit`` titles the colour
    bar ("Change in risk (percentage points)")."""
    values = np.asarray(trace, dtype=np.float64)
    weights = np.asarray(contributions, dtype=np.float64)
    if values.shape != weights.shape:
        raise DataError(
            f"Signal {name!r}: {len(values)} samples but {len(weights)} contributions; pass the "
            "contributions of the same trace."
        )
    limit = float(np.nanmax(np.abs(weights))) if weights.size else 0.0
    positions = np.arange(len(values))
    fig = go.Figure(
        [
            go.Scatter(
                x=positions, y=values, mode="lines", line={"color": "#BBBBBB"}, showlegend=False
            ),
            go.Scatter(
                x=positions,
                y=values,
                mode="markers",
                marker={
                    "color": weights,
                    "colorscale": "RdBu_r",
                    "cmin": -limit or -1.0,
                    "cmax": limit or 1.0,
                    "size": 7,
                    "colorbar": {"title": _plain(unit)},
                },
                customdata=weights,
                hovertemplate="sample %{x}<br>value %{y:.4g}<br>contribution %{customdata:+.4g}"
                "<extra></extra>",
                showlegend=False,
            ),
        ]
    )
    return _layout(fig, f"Signal {_plain(name)}: what each sample adds", "sample", _plain(name))


def signal_importance_figure(
    mean_abs: pd.Series, name: str, unit: str = "mean |contribution|"
) -> go.Figure:
    """The cohort's mean absolute contribution along the trace
    (:func:`medinn_core.signals.mean_abs_along_trace`); ``unit`` titles the y axis."""
    fig = go.Figure(
        go.Scatter(
            x=np.asarray(mean_abs.index),
            y=mean_abs.to_numpy(dtype=np.float64),
            mode="lines",
            fill="tozeroy",
            line={"color": BLUE},
        )
    )
    return _layout(fig, f"Signal {_plain(name)}: where the model looks", "sample", _plain(unit))


def _plain(text: str) -> str:
    """A name from a file, safe in a plotly title (which reads a few HTML tags)."""
    import html

    return html.escape(str(text))
