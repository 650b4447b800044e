"""The model report's two steps on a page: build it on request, then download ready bytes.

Building renders every figure (a second or more), so it runs when asked, not on every rerun.
The bytes stay in this session's memory, keyed by what the report shows, until that changes;
the download button then serves them as they are. (A download button with a deferred callable
timed out in the browser when the build was slow.)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import streamlit as st

from medinn_app import state, ui
from medinn_core.errors import MedinnError


def report_download(
    make_html: Callable[[], str],
    *,
    cache_key: Hashable,
    file_name: str,
    build_key: str,
    download_key: str,
) -> bytes | None:
    """A "Build the report" button and, once built for ``cache_key``, the download button.

    Returns the report's bytes when they are ready, else None. A ``MedinnError`` while
    building is shown with ``st.error``; the page goes on.
    """
    cached = st.session_state.get(state.REPORT)
    ready = cached[1] if cached is not None and cached[0] == cache_key else None
    if st.button(
        "Build the report",
        key=build_key,
        icon=":material/description:",
        disabled=ready is not None,
        help="Renders every figure into one HTML file; the download appears below.",
    ):
        try:
            with st.spinner("Building the report…"):
                ready = make_html().encode("utf-8")
        except MedinnError as exc:
            st.error(ui.plain(exc))
            return None
        st.session_state[state.REPORT] = (cache_key, ready)
    if ready is None:
        st.caption("Build the report to download it; it shows the settings above.")
        return None
    st.download_button(
        "Download the model report (HTML)",
        data=ready,
        file_name=file_name,
        mime="text/html",
        on_click="ignore",
        key=download_key,
        icon=":material/download:",
    )
    return ready
