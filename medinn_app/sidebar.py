"""The sidebar: what the user is looking at, on every page."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from medinn_app import state, ui
from medinn_core import DISCLAIMER  # the report's too; Home imports it from here


def trained_when(created: str | None) -> str:
    """An ISO timestamp from the metadata as a short local-time text."""
    if not created:
        return "unknown"
    try:
        when = dt.datetime.fromisoformat(created)
    except ValueError:
        return created
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


def format_metric(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def render() -> None:
    """Draw the current dataset and model in the sidebar."""
    with st.sidebar:
        st.markdown("#### Dataset")
        data = state.dataset()
        if data is None:
            st.caption("None loaded yet.")
        else:
            rows, cols = data.shape
            schema = state.schema()
            target = schema.target if schema is not None and schema.target else "not chosen"
            st.markdown(
                f"**{ui.plain(data.name)}**  \n{rows:,} rows · {cols} columns  \n"
                f"Target: {ui.plain(target)}"
            )
        st.markdown("#### Model")
        active = state.active_model()
        if active is None:
            st.caption("None trained or loaded yet.")
        else:
            meta = active.metadata
            label, value = state.main_metric(meta)
            # an unsaved model is called "unsaved model": no "(not saved)" after it as well
            saved = "" if active.saved or "unsaved" in active.name else " (not saved)"
            st.markdown(
                f"**{ui.plain(active.name)}**{saved}  \n"
                f"{ui.plain(meta.get('task', '?'))} · target {ui.plain(meta.get('target', '?'))}  \n"
                f"Trained {ui.plain(trained_when(meta.get('created')))}  \n"
                f"{ui.plain(label)}: **{format_metric(value)}**"
            )
        st.divider()
        st.caption(DISCLAIMER)
