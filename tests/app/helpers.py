"""What the AppTest modules share: driving the app, and reading what a page drew.

The fixtures that make AppTest usable at all (``_NavigationOnly``, a temporary MEDINN_HOME) are
in ``conftest.py`` beside this module.
"""

from __future__ import annotations

import base64
import re
import time

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from medinn_app import state

from ..conftest import ROOT

APP = str(ROOT / "app.py")
TIMEOUT = 120


class _NavigationOnly(PagesManager):
    """AppTest resets Streamlit's "old multipage app" flag before every run, and a folder named
    ``pages/`` turns it on again, so each run would execute the page file without ``app.py``
    (and ``runtime.ensure_navigation``'s rerun would drop the click being tested). In the real
    server ``st.navigation`` switches it off for good after the first run.

    ``test_home_and_data_do_not_import_tensorflow`` keeps a copy of its own: it runs in a fresh
    interpreter, and importing this module there would load pytest and the test fixtures."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


def new_app(**secrets) -> AppTest:
    """A new browser session on Home; ``secrets`` go to ``st.secrets``."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets.update(secrets)
    return at.run()


def goto(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def upload_frame(frame: pd.DataFrame, name: str) -> AppTest:
    """A new app on the Data page with ``frame`` uploaded as the CSV file ``name``."""
    at = goto(new_app(), "data")
    at.radio(key=state.W_DATA_SOURCE).set_value("Upload a file").run()
    content = frame.to_csv(index=False).encode()
    at.file_uploader(key=state.W_DATA_UPLOAD).set_value((name, content, "text/csv"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def load_sample(at: AppTest, name: str = "cardiology.csv") -> AppTest:
    goto(at, "data")
    at.selectbox(key=state.W_DATA_SAMPLE).select(name)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def wait_for_training(at: AppTest, seconds: float = 600) -> None:
    job = at.session_state[state.TRAIN_JOB]
    deadline = time.monotonic() + seconds
    while not job.done:
        assert time.monotonic() < deadline, "training did not finish in time"
        time.sleep(0.5)
    at.run()
    assert not at.exception, [e.value for e in at.exception]


_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


def shown(markdown: str) -> str:
    """Markdown as the user reads it: the backslash escapes of ``ui.plain`` taken out."""
    return _ESCAPED.sub(r"\1", markdown)


def texts(elements) -> list[str]:
    """The text of each element as the user reads it."""
    return [shown(e.value) for e in elements]


def table_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first table on the page with ``column`` (st.dataframe exposes no key in AppTest)."""
    for frame in at.dataframe:
        value = frame.value
        if column in value.columns or column == value.index.name:
            return value
    raise AssertionError(f"no table with a column {column!r}")


def the_explanation(at: AppTest):
    """The explanation the Explain page computed last."""
    kept = at.session_state[state.EXPLANATIONS]
    return next(reversed(kept.values()))[0]


def open_tab(at: AppTest, key: str, label: str) -> AppTest:
    """Open the tab ``label`` of the lazy tabs with ``key``, as a click in the browser does."""
    at.session_state[key] = label
    return at.run()


def charts(at: AppTest) -> dict[str, go.Figure]:
    """The page's plotly figures by their key."""
    return {
        chart.proto.id.rsplit("-", 1)[-1]: pio.from_json(chart.proto.spec, skip_invalid=True)
        for chart in at.get("plotly_chart")
    }


def numbers(values) -> np.ndarray:
    """An array of a figure read back from JSON (plotly writes NumPy arrays as base64)."""
    if isinstance(values, dict) and "bdata" in values:
        array = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
        return array.reshape(values["shape"]) if "shape" in values else array
    return np.asarray(values, dtype=float)
