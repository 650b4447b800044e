"""The look every medinn figure shares: colours (Okabe-Ito, safe for colour-blind readers), a
trimmed plotly template and the layout of titles, legends and margins.

Builders set the template per figure and never change plotly's global templates. Importing
this module costs plotly only (no scipy): the Data page draws with it.
"""

from __future__ import annotations

import functools
from types import MappingProxyType

import plotly.graph_objects as go
import plotly.io as pio

#: Colours of every figure, defined once (Okabe-Ito).
PALETTE = MappingProxyType(
    {
        "model": "#0072B2",
        "band": "rgba(0, 114, 178, 0.18)",
        "baseline": "#E69F00",
        "smooth": "#009E73",
        "reference": "#8C8C8C",
        "treat_all": "#D55E00",
        "treat_none": "#4D4D4D",
        "event": "#D55E00",
        "non_event": "#0072B2",
        "too_small": "#BBBBBB",
        "training": "#0072B2",
        "validation": "#D55E00",
    }
)
#: Colours of classes, in class order (cycled when there are more classes).
CLASS_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")
_TEMPLATE = "plotly_white"
#: The kinds of trace drawn here that the template has defaults for.
_TEMPLATE_TRACES = ("bar", "heatmap", "histogram", "scatter")


@functools.cache
def template() -> go.layout.Template:
    """``_TEMPLATE`` cut to the kinds of trace drawn here: the same look, but each figure
    copies and checks a third of it (plotly's whole template cost about 20 ms a figure)."""
    whole = pio.templates[_TEMPLATE]
    return go.layout.Template(
        layout=whole.layout, data={kind: whole.data[kind] for kind in _TEMPLATE_TRACES}
    )


def style(fig: go.Figure, title: str, **layout) -> go.Figure:
    base = {
        "template": template(),
        "title": {"text": title, "x": 0.0, "xanchor": "left"},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0.0},
        "margin": {"l": 70, "r": 20, "t": 80, "b": 60},
        "hovermode": "closest",
    }
    fig.update_layout(**{**base, **layout})
    return fig


#: Colours of the Predict page's risk bands.
BAND_COLOURS = MappingProxyType({"low": "#2E9E5B", "intermediate": "#E0A800", "high": "#C8372D"})
