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
        help="Starts at the model's own threshold (Youden's J on the validation split). "
        "Predict and Evaluate share it.",
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
        return st.number_input(
            label,
            value=None if pd.isna(number) else float(number),
            format="%g",
            key=key,
            persist_state="page",
            placeholder="missing",
        )
    options = [
        c for c in model.training_categories(col.name) if c not in (MISSING_LEVEL, OTHER_LEVEL)
    ]
    shown = None if pd.isna(raw) else as_label(raw)
    if shown is not None and shown not in options:
        options.append(shown)
    return st.selectbox(
        label,
        options,
        index=options.index(shown) if shown is not None else None,
        key=key,
        persist_state="page",
        placeholder="missing",
    )
