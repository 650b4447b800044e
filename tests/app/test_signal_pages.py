"""Signals through the pages, driven by AppTest: the Data page shows a trace sampled as columns
as one signal (confirm, rename, turn back), with clear messages for bad groups; the Train page
offers the CNN and shows its architecture; Explain shows a signal as one feature and each
sample's part; Predict and Evaluate work unchanged on a CNN."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medinn_app import state
from medinn_core.synthetic import make_heartbeat_cohort

from .helpers import (
    charts,
    goto,
    load_sample,
    new_app,
    numbers,
    open_tab,
    table_with,
    texts,
    the_explanation,
    upload_frame,
    wait_for_training,
)

USE_FIRST = f"{state.W_DATA_SIGNAL_USE}.ecg_000"


def _upload(frame: pd.DataFrame, name: str = "signals.csv", target: str | None = "event"):
    at = upload_frame(frame, name)
    if target is not None:
        at.selectbox(key=state.W_DATA_TARGET).select(target).run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def _heartbeat(n: int = 300, samples: int = 48, seed: int = 5) -> pd.DataFrame:
    return make_heartbeat_cohort(n, samples=samples, seed=seed)[0]


def _walk(rng: np.random.Generator, n: int, samples: int) -> np.ndarray:
    """Traces whose neighbouring samples are related (a random walk), as a real signal's."""
    return rng.normal(size=(n, samples)).cumsum(axis=1)


def _messages(at) -> str:
    return " ".join(texts(at.warning) + texts(at.error))


# -- Data ---------------------------------------------------------------------------------------
def test_data_shows_the_heartbeat_sample_as_one_signal_with_traces():
    at = load_sample(new_app(), "heartbeat.csv")
    schema = at.session_state[state.SCHEMA]
    assert [g.name for g in schema.signals] == ["ecg"] and schema.target == "event"
    table = table_with(at, "first column")
    assert table.to_dict("records") == [
        {"signal": "ecg", "samples": 128, "first column": "ecg_000", "last column": "ecg_127"}
    ]
    traces = charts(at)["data.signal_chart.ecg_000"]
    frame = at.session_state[state.DATASET].frame
    assert len(traces.data) == 5
    assert traces.data[0].name == frame["patient_id"].iloc[0]
    sample_cols = [f"ecg_{i:03d}" for i in range(128)]
    np.testing.assert_allclose(numbers(traces.data[0].y), frame.loc[0, sample_cols].astype(float))
    assert at.radio(key=USE_FIRST).value == "One signal input"
    assert any("Ready to train" in s for s in texts(at.success))


def test_rename_a_signal_and_a_refused_name_says_why():
    at = load_sample(new_app(), "heartbeat.csv")
    name_key = f"{state.W_DATA_SIGNAL_NAME}.ecg_000"
    at.text_input(key=name_key).set_value("lead II")
    at.form_submit_button(key=f"{state.W_DATA_SIGNAL_RENAME}.ecg_000").click().run()
    assert not at.exception
    assert [g.name for g in at.session_state[state.SCHEMA].signals] == ["lead II"]
    assert any("now called 'lead II'" in s for s in texts(at.success))
    at.text_input(key=name_key).set_value("age")
    at.form_submit_button(key=f"{state.W_DATA_SIGNAL_RENAME}.ecg_000").click().run()
    assert not at.exception
    assert [g.name for g in at.session_state[state.SCHEMA].signals] == ["lead II"]
    assert any("'age' is already a column's name" in s for s in texts(at.error))


def test_turn_a_signal_back_into_ordinary_columns_and_back_again():
    at = load_sample(new_app(), "heartbeat.csv")
    at.radio(key=USE_FIRST).set_value("Ordinary columns").run()
    assert not at.exception
    schema = at.session_state[state.SCHEMA]
    assert schema.signals == () and "ecg_050" in schema.feature_names
    # Still offered, as ordinary columns, with its traces.
    assert at.radio(key=USE_FIRST).value == "Ordinary columns"
    assert "data.signal_chart.ecg_000" in charts(at)
    goto(at, "train")
    assert at.selectbox(key=state.W_TRAIN_NETWORK).options == [
        "Automatic: the dense network for this data",
        "Dense network (MLP)",
    ]
    assert any("not offered" in c for c in texts(at.caption))
    goto(at, "data")
    at.radio(key=USE_FIRST).set_value("One signal input").run()
    assert [g.name for g in at.session_state[state.SCHEMA].signals] == ["ecg"]


def test_several_signals_and_ordinary_columns_coexist_and_gaps_are_reported():
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame({"age": rng.integers(30, 90, n), "event": np.arange(n) % 2})
    ecg, hr = _walk(rng, n, 20), 80 + _walk(rng, n, 24)
    for i in range(20):
        frame[f"ecg_{i:02d}"] = ecg[:, i].round(3)
    for i in range(1, 25):
        frame[f"hr_t{i:02d}"] = hr[:, i - 1].round(1)
    frame.loc[[3, 4, 5], "ecg_07"] = np.nan
    at = _upload(frame)
    schema = at.session_state[state.SCHEMA]
    assert [g.name for g in schema.signals] == ["ecg", "hr_t"]
    assert "age" in schema.feature_names
    table = table_with(at, "first column")
    assert list(table["signal"]) == ["ecg", "hr_t"] and list(table["samples"]) == [20, 24]
    assert {"data.signal_chart.ecg_00", "data.signal_chart.hr_t01"} <= set(charts(at))
    assert "3 missing sample(s) inside the traces of 3 patient(s)" in _messages(at)


def test_bad_signal_groups_get_clear_messages():
    rng = np.random.default_rng(1)
    n = 40
    frame = pd.DataFrame({"age": rng.integers(30, 90, n), "event": np.arange(n) % 2})
    ecg, spo2, ppg = _walk(rng, n, 20), 97 + _walk(rng, n, 10), _walk(rng, n, 20)
    for i in range(20):
        if i != 11:  # ragged: ecg_11 is missing
            frame[f"ecg_{i:02d}"] = ecg[:, i].round(3)
    for i in range(10):  # too short to convolve
        frame[f"spo2_{i}"] = spo2[:, i].round(1)
    for i in range(20):  # one sample holds text
        frame[f"ppg_{i:02d}"] = ppg[:, i].round(3)
    frame["ppg_04"] = [f"{v}mV" for v in frame["ppg_04"]]
    at = _upload(frame)
    assert at.session_state[state.SCHEMA].signals == ()
    shown = _messages(at)
    assert "'ecg_11'" in shown and "missing from the trace" in shown
    assert "10 samples are too few to convolve (at least 16)" in shown
    assert "'ppg_04' looks like a sample of signal 'ppg'" in shown and "not as numbers" in shown


def test_a_sample_made_a_category_is_refused_with_the_fix():
    at = load_sample(new_app(), "heartbeat.csv")
    schema = at.session_state[state.SCHEMA]
    state_schema = schema.with_column("ecg_010", kind="categorical")
    at.session_state[state.SCHEMA] = state_schema
    at.run()
    assert not at.exception
    assert any("'ecg_010'" in s and "numeric model inputs" in s for s in texts(at.error))


# -- Train, Explain, Predict, Evaluate with a CNN -----------------------------------------------
@pytest.fixture(scope="module")
def trained():
    """An uploaded small heartbeat cohort (300 patients, 48-sample traces) and a CNN trained
    on it through the Train page (3 epochs)."""
    at = _upload(_heartbeat(), "heartbeat_small.csv")
    goto(at, "train")
    network = at.selectbox(key=state.W_TRAIN_NETWORK)
    assert network.options == [
        "Automatic: the convolutional network for this data",
        "Dense network (MLP)",
        "Convolutional network (CNN)",
    ]
    network.select("cnn")
    at.number_input(key=state.W_TRAIN_EPOCHS).set_value(3)
    at.form_submit_button(key=state.W_TRAIN_SUBMIT).click()
    at.run()
    assert not at.exception
    wait_for_training(at)
    job = at.session_state[state.TRAIN_JOB]
    assert job.error is None, job.error
    return at


def test_train_shows_the_cnn_architecture(trained):
    at = goto(trained, "train")
    result = at.session_state[state.TRAIN_RESULT]
    assert result.model.config.network == "cnn"
    assert any(
        c.startswith("Convolutional network: per signal ('ecg' (48 samples))")
        for c in texts(at.caption)
    )
    table = table_with(at, "layers")
    branch = table.loc[table["part"] == "signal 'ecg' (48 samples)", "layers"].item()
    assert branch.startswith("Conv1D 8 × 7 (relu) → average pool 4")
    assert set(table["part"]) >= {"dense layers", "linear path"}
    assert set(table["members"]) == {f"each of {result.model.n_members}"}


def test_explain_shows_the_signal_as_one_feature(trained):
    at = open_tab(goto(trained, "explain"), state.W_EXPLAIN_TAB, "Global")
    assert not at.exception
    samples = the_explanation(at)  # the core's, per sample
    sample_cols = [f"ecg_{i:03d}" for i in range(48)]
    total = samples.contributions[sample_cols].sum(axis=1)
    importance = charts(at)["explain.importance"].data[0]
    features = list(importance.y)
    assert "ecg" in features and not any(f.startswith("ecg_") for f in features)
    expected = total.abs().mean() * 100  # risk in percentage points
    assert numbers(importance.x)[features.index("ecg")] == pytest.approx(expected)
    beeswarm = charts(at)["explain.beeswarm"]
    ticks = list(beeswarm.layout.yaxis.ticktext)
    assert "ecg" in ticks and not any(t.startswith("ecg_") for t in ticks)

    at = open_tab(at, state.W_EXPLAIN_TAB, "One patient")
    position = at.selectbox(key=state.W_EXPLAIN_PATIENT).value
    waterfall = charts(at)["explain.waterfall"].data[0]
    labels = list(waterfall.y)
    assert "ecg = 48-sample trace" in labels
    bar = numbers(waterfall.x)[labels.index("ecg = 48-sample trace")]
    assert bar == pytest.approx(total.iloc[position] * 100)

    at = open_tab(at, state.W_EXPLAIN_TAB, "Cohort comparison")
    at.radio(key=state.W_EXPLAIN_COHORT_MODE).set_value("column").run()
    at.selectbox(key=state.W_EXPLAIN_COHORT_COLUMN).select("sex").run()
    assert "ecg" in list(charts(at)["explain.cohorts"].data[0].y)
    at = open_tab(at, state.W_EXPLAIN_TAB, "Dependence")
    options = at.selectbox(key=state.W_EXPLAIN_FEATURE).options
    assert "ecg" not in options and not any(o.startswith("ecg_") for o in options)


def test_explain_saliency_view_colours_the_trace_by_each_samples_part(trained):
    at = open_tab(goto(trained, "explain"), state.W_EXPLAIN_TAB, "Signal saliency")
    assert not at.exception
    samples = the_explanation(at)
    sample_cols = [f"ecg_{i:03d}" for i in range(48)]
    position = at.selectbox(key=state.W_EXPLAIN_PATIENT).value
    figures = charts(at)
    assert set(figures) == {"explain.saliency", "explain.saliency_cohort"}
    dots = figures["explain.saliency"].data[1]
    np.testing.assert_allclose(
        numbers(dots.marker.color), samples.contributions[sample_cols].iloc[position] * 100
    )
    frame = at.session_state[state.DATASET].frame
    np.testing.assert_allclose(numbers(dots.y), frame.loc[position, sample_cols].astype(float))
    cohort = figures["explain.saliency_cohort"].data[0]
    np.testing.assert_allclose(
        numbers(cohort.y), samples.contributions[sample_cols].abs().mean(axis=0) * 100
    )
    assert "percentage points" in figures["explain.saliency_cohort"].layout.yaxis.title.text
    assert any(
        "48 samples of 'ecg' add" in t and "percentage points in all" in t
        for t in texts(at.markdown)
    )


def test_predict_and_evaluate_work_unchanged_on_a_cnn(trained):
    at = open_tab(goto(trained, "predict"), state.W_PREDICT_TAB, "All patients")
    assert not at.exception
    table = table_with(at, "risk (%)")
    assert len(table) == 300 and table["risk (%)"].between(0, 100).all()
    at = open_tab(at, state.W_PREDICT_TAB, "One patient: try a change")
    assert not at.exception
    # The trace is kept as recorded: inputs for age, sex and systolic_bp, not for 48 samples.
    fields = [w for w in at.get("number_input") if w.key.startswith(state.W_PREDICT_FIELD)]
    assert 1 <= len(fields) <= 3
    assert any("trace of 'ecg' (48 samples) is kept as recorded" in c for c in texts(at.caption))
    assert any(m.label.startswith("Risk") for m in at.metric)
    at = open_tab(goto(trained, "evaluate"), state.W_EVAL_TAB, "ROC")
    assert not at.exception
    assert "evaluate.roc" in charts(at)
    at = open_tab(at, state.W_EVAL_TAB, "Subgroups")
    assert not at.exception
    options = at.selectbox(key=state.W_EVAL_SUBGROUP).options
    assert "sex" in options and not any(o.startswith("ecg_") for o in options)


# -- text from the file ------------------------------------------------------------------------
HOSTILE = "<b>x</b>[re-login](https://evil.example/s)_"


def test_a_signal_named_as_markup_is_shown_as_text_on_every_page():
    from .test_hostile_text import assert_no_markup, each_tab

    rng = np.random.default_rng(4)
    n = 120
    frame = pd.DataFrame({"age": rng.integers(30, 90, n), "event": np.arange(n) % 2})
    trace = _walk(rng, n, 20)
    for i in range(20):
        frame[f"{HOSTILE}{i:02d}"] = trace[:, i].round(3)
    at = _upload(frame)
    (group,) = at.session_state[state.SCHEMA].signals
    assert group.name == HOSTILE.rstrip("_")
    assert_no_markup(at)
    first = group.columns[0]
    at.text_input(key=f"{state.W_DATA_SIGNAL_NAME}.{first}").set_value(
        "![i](https://evil.example/i)"
    )
    at.form_submit_button(key=f"{state.W_DATA_SIGNAL_RENAME}.{first}").click().run()
    assert [g.name for g in at.session_state[state.SCHEMA].signals] == [
        "![i](https://evil.example/i)"
    ]
    assert_no_markup(at)
    goto(at, "train")
    assert_no_markup(at)
    at.text_input(key=state.W_TRAIN_LAYERS).set_value("4")
    at.number_input(key=state.W_TRAIN_EPOCHS).set_value(1)
    at.form_submit_button(key=state.W_TRAIN_SUBMIT).click().run()
    wait_for_training(at)
    assert at.session_state[state.TRAIN_JOB].error is None
    assert_no_markup(at)
    at = goto(at, "explain")
    labels = [t.label for t in at.tabs]
    assert labels[-1] == "Signal saliency"
    each_tab(at, state.W_EXPLAIN_TAB, labels)
