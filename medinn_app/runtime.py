"""Workarounds for three behaviours of Streamlit 1.67 that break this app.

1. A folder named ``pages/`` beside the entry point makes Streamlit run an old-style
   multipage app until ``st.navigation`` has run once in the process: the first run after a
   server start on a page URL (and every AppTest run) executes the page file alone, without
   ``app.py``'s navigation and sidebar. :func:`ensure_navigation`, called first by every page,
   switches to ``st.navigation`` and reruns.
2. After every script run Streamlit calls ``keras.backend.clear_session()``, which replaces
   Keras' global state for all threads and runs a full garbage collection (about 0.5 s with
   TensorFlow loaded). Models train in worker processes (:mod:`medinn_app.workers`), but
   other sessions' threads use loaded models and explain them meanwhile, and the one-second
   progress polls would each pay that collection. :func:`keep_keras_state`, called by
   ``app.py``, leaves Keras alone; medinn builds its networks with explicit names and seeds,
   so nothing accumulates across runs.
   ``runner.postScriptGC = false`` in ``.streamlit/config.toml`` drops the other collection.
3. Streamlit keeps uploaded files in memory (``MemoryUploadedFileManager``), but its server
   parses each upload with Starlette's multipart parser, which spools a file larger than
   1 MB to an anonymous temporary file on disk while the request is read. Patient files must
   not touch the disk: :func:`keep_uploads_in_memory`, called by ``app.py``, raises that
   threshold above ``server.maxUploadSize``.

A page that fails with a bug shows a plain message, never a traceback (:func:`bug_guard`, and
``client.showErrorDetails = "none"`` in ``.streamlit/config.toml`` for anything outside it).

It also imports the Data page's modules in the background once the first page is drawn
(:func:`preload_data_modules`), so that a new server's first visit to Data does not wait.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import script_runner

log = logging.getLogger(__name__)

BUG_MESSAGE = (
    "This page ran into an unexpected problem (a bug in medinn) and could not be drawn. Your "
    "data and model are still loaded: try another page, or reload this one. The details are "
    "in the server's log."
)
# Set (to anything) by developers and the tests: a bug then raises as it is, so that a test
# sees it as an exception and not as a message on the page.
DEBUG_ENV = "MEDINN_DEBUG"


@contextlib.contextmanager
def bug_guard(page: str) -> Iterator[None]:
    """Log a bug raised while a page is drawn, with its traceback, and show the user a plain
    message instead. ``st.stop`` and ``st.rerun`` pass through (they are not Exceptions)."""
    try:
        yield
    except Exception:
        if os.environ.get(DEBUG_ENV):
            raise
        log.exception("The page %r failed", page)
        st.error(BUG_MESSAGE, icon=":material/error:")


def ensure_navigation() -> None:
    """Rerun through ``app.py`` when Streamlit ran this page file on its own (see 1 above)."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def _clean_matplotlib_only() -> None:
    # Streamlit's own cleanup, without keras.backend.clear_session().
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def keep_uploads_in_memory() -> None:
    """Parse uploads up to ``server.maxUploadSize`` in memory, never spooled (see 3 above)."""
    from starlette.formparsers import MultiPartParser
    from streamlit import config

    limit = int(config.get_option("server.maxUploadSize")) * 1024 * 1024
    if MultiPartParser.spool_max_size <= limit:
        MultiPartParser.spool_max_size = limit + 1


def keep_keras_state() -> None:
    """Stop Streamlit from clearing Keras' global state after each script run (see 2 above)."""
    script_runner._clean_problem_modules = _clean_matplotlib_only


PRELOAD_DELAY_S = 0.3
# What the Data page imports (about 1.5 s on a 2-core machine); not TensorFlow.
_DATA_MODULES = (
    "pandas",
    "pyarrow",
    "plotly.graph_objects",
    "medinn_core.io",
    "medinn_core.schema",
    "medinn_core.validate",
    "medinn_core.figures",
    "medinn_core.signal_views",
    "medinn_app.tables",
    "medinn_app.loaders",
)


@functools.cache  # once per process
def preload_data_modules() -> None:
    """Import what the Data page needs in a background thread, so that the first visit to
    Data after a server start does not wait for pandas, pyarrow and plotly. ``app.py`` calls
    it after the first page is drawn: Home does not need them."""

    def work() -> None:
        # First let the server send the page's last messages: these imports hold the GIL
        # (begun at once, they delayed Home's first drawing by 0.8 s).
        time.sleep(PRELOAD_DELAY_S)
        for name in _DATA_MODULES:
            importlib.import_module(name)

    threading.Thread(target=work, name="medinn-preload", daemon=True).start()
