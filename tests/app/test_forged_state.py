"""A forged widget state does not break a page.

A browser sends each widget's value to the server, and a client of its own can send any value:
out of a slider's or a number box's range, a choice that is not offered, a value of the wrong
type. Every widget of every page is given such values here (as ``st.session_state`` holds
them); the page must draw without an exception, the widget back in range or at its default.
"""

from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest

from medinn_app import explaining, state

from .helpers import goto, load_sample, new_app

WIDGETS = (
    "selectbox",
    "radio",
    "multiselect",
    "number_input",
    "slider",
    "select_slider",
    "text_input",
    "text_area",
)
FORGED = {
    "number_input": ["forged", 1e300, -1e300, float("nan"), [1.0]],
    "slider": ["forged", 1e300, -5.0, None, [0.1, 0.2, 0.3]],
    "select_slider": ["forged", 10**9, None],
    "selectbox": ["forged", 10**9, None, ["forged"]],
    "radio": ["forged", 10**9, None],
    "multiselect": [5, "forged", ["forged"], None],
    # A browser sends text as text and a box as true or false (AppTest itself cannot send
    # anything else for them): a long text and a link are what a client can forge there.
    "text_input": ["x" * 100_000, "[forged](https://evil.example)"],
    "text_area": ["x" * 100_000, "[forged](https://evil.example)"],
}
TABS = {
    "predict": (state.W_PREDICT_TAB, ("All patients", "One patient: try a change")),
    "explain": (state.W_EXPLAIN_TAB, explaining.TABS),
    "evaluate": (state.W_EVAL_TAB, None),  # the labels of the tabs drawn
}


@pytest.fixture
def session(medinn_home, saved_binary):
    """The cardiology sample as the dataset and a saved model of it loaded."""
    shutil.copytree(saved_binary, medinn_home / "models" / "cardio", dirs_exist_ok=True)
    at = load_sample(new_app())
    goto(at, "models")
    at.button(key=state.W_MODELS_LOAD).click().run()
    assert at.session_state[state.ACTIVE_MODEL].name == "cardio"
    return at


def widgets(at: AppTest) -> list[tuple[str, str]]:
    """(kind, key) of every widget with a key on the page as drawn."""
    return [
        (kind, widget.key) for kind in WIDGETS for widget in at.get(kind) if widget.key is not None
    ]


def forge_every_widget(at: AppTest, page: str, tab: tuple[str, str] | None = None) -> list:
    """Give each widget of the page (in ``tab``, a key and a label) each forged value; the
    ones that raised.

    The value is set while another page is open, as code would set it: AppTest cannot draw a
    page whose selectbox holds a value it does not offer, whatever the app does with it."""
    raised = []
    for kind, key in widgets(at):
        original = at.session_state[key]
        for value in FORGED[kind]:
            goto(at, "home")
            if tab is not None:
                at.session_state[tab[0]] = tab[1]
            at.session_state[key] = value
            at.switch_page(f"pages/{page}.py").run()
            if at.exception:
                raised.append((kind, key, value))
        goto(at, "home")
        if tab is not None:
            at.session_state[tab[0]] = tab[1]
        at.session_state[key] = original  # the next widget finds the page as the user left it
        at.switch_page(f"pages/{page}.py").run()
    return raised


@pytest.mark.parametrize("page", ["data", "train", "models", "predict", "explain", "evaluate"])
def test_forged_widget_values_do_not_raise(session, page):
    at = goto(session, page)
    key, labels = TABS.get(page, (None, ()))
    assert widgets(at)
    raised = forge_every_widget(at, page)
    for label in labels if labels is not None else [t.label for t in at.tabs]:
        at.session_state[key] = label
        at.run()
        raised += forge_every_widget(at, page, (key, label))
    assert not raised


def test_a_forged_tab_and_threshold_are_reset(session):
    at = goto(session, "predict")
    at.session_state[state.W_PREDICT_TAB] = "[forged](https://evil.example)"
    at.session_state[state.W_PREDICT_THRESHOLD] = 7.5
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert 0 < at.slider(key=state.W_PREDICT_THRESHOLD).value < 1
