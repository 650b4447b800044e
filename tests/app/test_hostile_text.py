"""Text from a file or a user, written as markup, is shown as text on every page.

A table whose column names, category values, outcome, file name, bad cells, model name and
note are Markdown links and images to evil.example (or HTML) goes through Data, Train, Models,
Predict, Explain and Evaluate. No element that Streamlit renders as Markdown may hold such a
link or image, or a bare address that GFM would turn into one, and no plotly figure may hold
the raw HTML: plotly draws ``<b>``, ``<a href>`` and others in its labels and hover text.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from medinn_app import explaining, state

from .helpers import charts, goto, new_app, wait_for_training

LINK = "[expired: re-login](https://evil.example/login)"
IMAGE = "![x](https://evil.example/b)"
BOLD = "<b>x</b>"
BOLD_ESCAPED = "&lt;b&gt;x&lt;/b&gt;"
EVENT = "[died](https://evil.example/d)"
FILE = "[data](https://evil.example/f).csv"
MODEL = "www.evil.example login"
NOTE = "[re-login](https://evil.example/n) <b>n</b> ![i](https://evil.example/i)"

# Fields of Streamlit's element protos whose text the browser renders as Markdown: bodies of
# markdown, captions, headings and alerts; labels, help and values of widgets and metrics;
# the labels of expanders and tabs; the options of radio buttons.
MARKDOWN_FIELDS = {"body", "label", "help", "delta", "tooltip", "caption"}
MARKDOWN_OPTIONS = {"Radio"}

_markdown = MarkdownIt("commonmark").enable("strikethrough")


def hostile_table(n: int = 240, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(60, 10, n).round(0)
    link = rng.normal(0, 1, n).round(3)
    bold = rng.normal(5, 2, n).round(2)
    level = rng.choice([BOLD, "![y](https://evil.example/y)", "www.evil.example"], n)
    logit = 0.08 * (age - 60) + 1.2 * link + 0.8 * (level == BOLD)
    event = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "patient_id": [f"P{i:04d}" for i in range(n)],
            "age": age.astype(object),
            LINK: link,
            IMAGE: level,
            BOLD: bold,
            "outcome": np.where(event, EVENT, "alive"),
        }
    )
    frame.loc[7, "age"] = "[bad](https://evil.example/v)"  # a cell the warnings quote
    return frame


def markdown_texts(node) -> list[str]:
    """Every string that ``node`` and its children hand to Streamlit's Markdown renderer."""
    found: list[str] = []

    def walk(message) -> None:
        for field, value in message.ListFields():
            if field.type == field.TYPE_MESSAGE:
                for item in value if field.is_repeated else [value]:
                    walk(item)
            elif field.type == field.TYPE_STRING:
                markdown = field.name in MARKDOWN_FIELDS or (
                    field.name == "options" and message.DESCRIPTOR.name in MARKDOWN_OPTIONS
                )
                if markdown:
                    found.extend(value if field.is_repeated else [value])

    def visit(item) -> None:
        proto = getattr(item, "proto", None)
        if proto is not None and hasattr(proto, "ListFields"):
            walk(proto)
        children = getattr(item, "children", None)
        for child in (children.values() if isinstance(children, dict) else children) or []:
            visit(child)

    visit(node)
    return found


def tokens(text: str):
    for token in _markdown.parse(text):
        yield token
        yield from token.children or []


def markup_shown(at: AppTest) -> list[str]:
    """What on the page a browser would draw as a link, an image or HTML."""
    found = []
    for text in markdown_texts(at._tree):
        if "evil.example" in text:
            found.append(f"a bare address GFM links: {text!r}")
        for token in tokens(text):
            if token.type in ("link_open", "image") or token.type.startswith("html"):
                found.append(f"{token.type} in {text!r}")
    for key, figure in charts(at).items():
        for text in figure_texts(figure):
            if any(tag in text for tag in ("<b>", "</b>", "<a ", "<img")):
                found.append(f"raw HTML in figure {key}: {text!r}")
    return found


def assert_no_markup(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not markup_shown(at)


def figure_texts(figure) -> list[str]:
    """Every text of a plotly figure as plotly.js receives it (the JSON escapes "<" as \\u003c)."""
    found: list[str] = []

    def walk(value) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key != "template":
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(json.loads(figure.to_json()))
    return found


def all_figure_texts(at: AppTest) -> list[str]:
    return [text for figure in charts(at).values() for text in figure_texts(figure)]


def each_tab(at: AppTest, key: str, labels) -> None:
    for label in labels:
        at.session_state[key] = label
        at.run()
        assert_no_markup(at)


@pytest.fixture(scope="module")
def journey():
    """Upload the table, pick the outcome, train a tiny network, save it with a hostile name."""
    at = goto(new_app(), "data")
    at.radio(key=state.W_DATA_SOURCE).set_value("Upload a file").run()
    csv = hostile_table().to_csv(index=False).encode()
    at.file_uploader(key=state.W_DATA_UPLOAD).set_value((FILE, csv, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key=state.W_DATA_TARGET).select("outcome").run()
    assert_no_markup(at)
    data_figures = all_figure_texts(at)
    goto(at, "train")
    at.text_input(key=state.W_TRAIN_LAYERS).set_value("8")
    at.number_input(key=state.W_TRAIN_EPOCHS).set_value(2)
    at.form_submit_button(key=state.W_TRAIN_SUBMIT).click().run()
    wait_for_training(at)
    at.text_input(key=state.W_SAVE_NAME).set_value(MODEL)
    at.text_area(key=state.W_SAVE_NOTE).set_value(NOTE)
    at.form_submit_button(key=state.W_SAVE_SUBMIT).click().run()
    assert_no_markup(at)
    return at, data_figures


def test_data_and_train_show_markup_as_text(journey):
    at, data_figures = journey
    assert BOLD_ESCAPED in data_figures  # the missing-values chart names every column
    assert MODEL in at.session_state[state.ACTIVE_MODEL].name


def test_models_shows_markup_as_text(journey):
    at = goto(journey[0], "models")
    assert_no_markup(at)
    assert any("evil" in t for t in markdown_texts(at._tree))  # the note is there, escaped


def test_predict_shows_markup_as_text(journey):
    at = goto(journey[0], "predict")
    assert_no_markup(at)
    each_tab(at, state.W_PREDICT_TAB, ("One patient: try a change", "All patients"))


def test_explain_shows_markup_as_text(journey):
    at = goto(journey[0], "explain")
    assert_no_markup(at)
    each_tab(at, state.W_EXPLAIN_TAB, explaining.TABS)


def test_evaluate_shows_markup_as_text(journey):
    at = goto(journey[0], "evaluate")
    assert_no_markup(at)
    each_tab(at, state.W_EVAL_TAB, [t.label for t in at.tabs])
