"""Small pieces every page uses: polite stops for missing prerequisites, the shared threshold."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import streamlit as st

from medinn_app import state
from medinn_app.state import Dataset

if TYPE_CHECKING:  # annotations only: a light import for Home
    import plotly.graph_objects as go

    from medinn_core.io import Bundle
    from medinn_core.model import MedinnModel
    from medinn_core.schema import Column

DATA_PAGE = "pages/data.py"
TRAIN_PAGE = "pages/train.py"
MODELS_PAGE = "pages/models.py"
HOME_PAGE = "pages/home.py"


# Every ASCII punctuation mark that Markdown, GFM or Streamlit gives a meaning: links and
# images, emphasis, code, HTML, headings and lists at a line's start, tables, maths, emoji and
# Streamlit's ":red[...]" and ":material/...:" directives. Escaping "." ":" and "@" also keeps
# GFM from linking a bare address ("www.evil.example", "https://...", "a@b.org").
_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>$~:@&="})
# Plotly draws a few HTML tags in labels and hover text (<b>, <a href>, <br>...): user text is
# escaped to entities, keeping only the line breaks and <extra> the figure builders write.
_PLOTLY_KEPT = re.compile(r"(<br>|<extra>|</extra>)")
_BARE_AMPERSAND = re.compile(r"&(?!#?\w+;)")


def plain(text: object) -> str:
    """Text from a file or a user (a column name, a category, a file or model name, a note, a
    message quoting them) escaped for anything Streamlit renders as Markdown: ``st.markdown``,
    ``st.caption``, alerts, metric labels and values, widget labels and radio options. It reads
    the same; a link, an image or a directive in it shows as the characters typed."""
    return str(text).translate(_MARKDOWN)


def plain_figure(fig: go.Figure) -> go.Figure:
    """``fig`` with every text in it (titles, axis and tick labels, legend, annotations,
    category values, hover text) shown as typed: plotly's HTML escaped, its line breaks kept."""
    import plotly.graph_objects as go  # here: Home, which imports this module, draws no chart

    shown = fig.to_plotly_json()
    layout = {k: v if k == "template" else _plotly_text(v) for k, v in shown["layout"].items()}
    return go.Figure(data=_plotly_text(shown["data"]), layout=layout)


def _plotly_text(value):
    import numpy as np

    if isinstance(value, str):
        parts = _PLOTLY_KEPT.split(value)
        return "".join(
            part
            if i % 2
            else _BARE_AMPERSAND.sub("&amp;", part).replace("<", "&lt;").replace(">", "&gt;")
            for i, part in enumerate(parts)
        )
    if isinstance(value, dict):
        return {k: _plotly_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plotly_text(v) for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "OUS":
        return np.array([_plotly_text(v) for v in value.ravel()], dtype=object).reshape(value.shape)
    return value


def risk_delta_colour(schema) -> str:
    """``delta_color`` of a change in a binary model's risk: a rise toward an event that is
    bad (ckd, died) red, a rise toward one that reads as health (notckd, alive, chosen as the
    event by the user) green."""
    from medinn_core.schema import reads_as_absence

    event = schema.positive_class
    return "normal" if event is not None and reads_as_absence(event) else "inverse"


def require_dataset() -> Dataset:
    """The current dataset, or end the page with a note on how to get one."""
    data = state.dataset()
    if data is None:
        st.info("Upload or pick a dataset first, on the Data page.")
        st.page_link(DATA_PAGE, label="Go to Data", icon=":material/table:")
        st.stop()
    return data


def require_target():
    """The schema with a target chosen, or end the page."""
    schema = state.schema()
    if schema is None or schema.target is None:
        st.info("Choose the target (the outcome to predict) on the Data page first.")
        st.page_link(DATA_PAGE, label="Go to Data", icon=":material/table:")
        st.stop()
    return schema


def require_model() -> Bundle:
    """The active model, or end the page with a note on how to get one."""
    active = state.active_model()
    if active is None:
        st.info(
            "Train a model or load one first: train on the Train page, load a saved one on the "
            "Models page, or load the sample data and model on Home."
        )
        cols = st.columns(3)
        cols[0].page_link(TRAIN_PAGE, label="Go to Train", icon=":material/model_training:")
        cols[1].page_link(MODELS_PAGE, label="Go to Models", icon=":material/inventory_2:")
        cols[2].page_link(HOME_PAGE, label="Go to Home", icon=":material/home:")
        st.stop()
    return active


def threshold_slider(key: str) -> float:
    """The decision threshold, shared between pages (the widget's own state is per page).

    Streamlit forgets a widget's value when its page is left, so the value lives under
    ``state.THRESHOLD`` and is copied into the widget before it is drawn, clamped to the
    slider's range (a near-separable outcome gives thresholds such as 0.9922 or 0.004).
    """

    def keep() -> None:
        st.session_state[state.THRESHOLD] = state.clamp_threshold(st.session_state[key])

    st.session_state[key] = state.threshold()
    return st.slider(
        "Decision threshold (risk at which a patient is flagged)",
        min_value=state.THRESHOLD_RANGE[0],
        max_value=state.THRESHOLD_RANGE[1],
        step=state.THRESHOLD_STEP,
        format="%.3f",
        key=key,
        on_change=keep,
        help="Starts at the model's own threshold (Youden's J on its held-out predictions: "
        "out-of-fold under cross-fitting, else the validation split). 0.150 means a risk of "
        "15 %. Predict and Evaluate share it.",
    )


def value_input(col: Column, raw: Any, model: MedinnModel, key: str) -> Any:
    """An input for one feature, prefilled with a patient's recorded value (None stands for
    missing): a number box for a number, else a choice among the categories ``model`` saw in
    training and the recorded one. Kept while its tab is closed (``persist_state="page"``)."""
    import pandas as pd  # here: Home, which imports this module, draws without pandas

    from medinn_core.preprocess import MISSING_LEVEL, OTHER_LEVEL
    from medinn_core.schema import Kind, as_label

    label = plain(f"{col.name} ({col.unit})" if col.unit else col.name)
    if col.kind == Kind.NUMERIC:
        number = pd.to_numeric(pd.Series([raw]), errors="coerce").iloc[0]
        return number_input(
            st,
            label,
            value=None if pd.isna(number) else float(number),
            format="%g",
            key=key,
            empty=True,  # emptied: the value is missing
            persist_state="page",
            placeholder="missing",
        )
    options = [
        c for c in model.training_categories(col.name) if c not in (MISSING_LEVEL, OTHER_LEVEL)
    ]
    shown = None if pd.isna(raw) else as_label(raw)
    if shown is not None and shown not in options:
        options.append(shown)
    return selectbox(
        st,
        label,
        options,
        index=options.index(shown) if shown is not None else None,
        key=key,
        empty=True,  # no choice: the value is missing
        persist_state="page",
        placeholder="missing",
    )


# -- widgets whose stored value is checked first -------------------------------------------------
# A browser sends each widget's value, and a client of its own can send any: a choice that is
# not offered, a number out of range or of the wrong type. Streamlit resets some and raises on
# others, and a page would fail on the rest. These wrappers forget such a value before the
# widget is drawn, so the widget starts again from its default. ``where`` is ``st`` or a column.
def selectbox(where, label: str, options, *, key: str, empty: bool = False, **kwargs):
    """``where.selectbox`` whose stored value is one of ``options``; None (no choice) only
    with ``index=None`` or where ``empty`` allows it."""
    options = list(options)
    none = empty or kwargs.get("index", 0) is None
    _forget_unless(key, lambda v: _offered(v, options, none=none))
    return where.selectbox(label, options, key=key, **kwargs)


def radio(where, label: str, options, *, key: str, **kwargs):
    """``where.radio`` whose stored value is one of ``options``."""
    options = list(options)
    _forget_unless(key, lambda v: _offered(v, options, none=kwargs.get("index", 0) is None))
    return where.radio(label, options, key=key, **kwargs)


def multiselect(where, label: str, options, *, key: str, **kwargs):
    """``where.multiselect`` whose stored value is a list of ``options``."""
    options = list(options)
    _forget_unless(
        key, lambda v: isinstance(v, list | tuple) and all(_offered(x, options) for x in v)
    )
    return where.multiselect(label, options, key=key, **kwargs)


def number_input(
    where,
    label: str,
    min_value=None,
    max_value=None,
    value="min",
    step=None,
    *,
    key: str,
    empty: bool = False,
    **kw,
):
    """``where.number_input`` whose stored value is a number in range, of the widget's type;
    None (an empty box) only if the widget starts empty or ``empty`` allows it."""
    given = [v for v in (min_value, max_value, value, step) if _given(v)]
    integer = bool(given) and all(isinstance(v, int) for v in given)
    none = empty or value is None
    _forget_unless(key, lambda v: _number_in(v, min_value, max_value, integer, none=none))
    return where.number_input(label, min_value, max_value, value, step, key=key, **kw)


def slider(where, label: str, min_value, max_value, value=None, step=None, *, key: str, **kw):
    """``where.slider`` whose stored value (a number, or a pair for a range) lies in range."""

    def valid(v) -> bool:
        if isinstance(value, list | tuple):
            return (
                isinstance(v, list | tuple)
                and len(v) == 2
                and all(_number_in(x, min_value, max_value, False) for x in v)
                and v[0] <= v[1]
            )
        return _number_in(v, min_value, max_value, False)

    _forget_unless(key, valid)
    return where.slider(label, min_value, max_value, value, step, key=key, **kw)


def _forget_unless(key: str, valid) -> None:
    if key in st.session_state and not valid(st.session_state[key]):
        del st.session_state[key]


def _offered(value, options: list, none: bool = False) -> bool:
    if value is None:
        return none
    try:
        return any(_same_kind(value, option) and value == option for option in options)
    except (TypeError, ValueError):  # a value that does not compare, such as an array
        return False


def _same_kind(a, b) -> bool:
    """Whether ``a`` may stand for option ``b``: numbers for numbers (NumPy's too), text for
    text, else the same type (so True is not taken for 1, nor "1" for 1)."""
    import numbers

    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b)
    if isinstance(a, numbers.Real) and isinstance(b, numbers.Real):
        return True
    if isinstance(a, str) and isinstance(b, str):
        return True
    return type(a) is type(b)


def _given(value) -> bool:
    return value is not None and not isinstance(value, str)  # number_input's value="min"


def _number_in(value, low, high, integer: bool, none: bool = False) -> bool:
    import math

    if value is None:
        return none
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if integer and not isinstance(value, int):
        return False
    return (
        math.isfinite(value) and (low is None or value >= low) and (high is None or value <= high)
    )
