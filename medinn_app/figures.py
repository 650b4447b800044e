"""Small plotly builders the app needs and ``medinn_core.plots`` does not offer.

Each builder is pure: data in, ``plotly.graph_objects.Figure`` out; no Streamlit calls and no
change to plotly's global templates (the template is set per figure).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

# The colours of medinn_core.plots (Okabe-Ito), without importing it: it pulls in scipy,
# which the Data page must not wait for.
BLUE = "#0072B2"
ORANGE = "#D55E00"
BAND_COLOURS = {"low": "#2E9E5B", "intermediate": "#E0A800", "high": "#C8372D"}


@functools.cache
def _template() -> go.layout.Template:
    """plotly_white cut to the traces drawn here, as ``medinn_core.plots`` does: the same
    look, a third of the copying per figure."""
    whole = pio.templates["plotly_white"]
    return go.layout.Template(
        layout=whole.layout, data={kind: whole.data[kind] for kind in ("bar", "histogram")}
    )


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 320) -> go.Figure:
    fig.update_layout(
        template=_template(),
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


# -- Predict page -------------------------------------------------------------------------------
def risk_histogram(risk: np.ndarray, threshold: float) -> go.Figure:
    """Predicted risks (%) with the decision threshold marked."""
    fig = go.Figure(
        go.Histogram(
            x=np.asarray(risk) * 100, xbins={"start": 0, "end": 100, "size": 2.5}, marker_color=BLUE
        )
    )
    fig.add_vline(
        x=threshold * 100,
        line_dash="dash",
        line_color=BAND_COLOURS["high"],
        annotation_text=f"threshold {threshold:.0%}",
    )
    fig.update_xaxes(range=[0, 100])
    return _layout(fig, "Predicted risk of the patients", "risk (%)", "patients", 280)
