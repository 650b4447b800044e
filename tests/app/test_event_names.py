"""Every page, download and the report name the event ("risk of ckd"), never the target and a
value ("classification = ckd") where the label says it, nor "event" / "no event"; a change of
risk is coloured by whether it goes toward an event that is bad."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from streamlit.proto.Metric_pb2 import Metric

from medinn_app import state, tables, ui
from medinn_core.config import TrainConfig
from medinn_core.schema import infer_schema

from .helpers import charts, goto, new_app, open_tab, texts


def _kidney(n: int = 300, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ckd = rng.random(n) < 0.6
    return pd.DataFrame(
        {
            "age": rng.integers(20, 90, n),
            "hemo": np.round(np.where(ckd, rng.normal(11, 2, n), rng.normal(14, 1.5, n)), 1),
            "sex": rng.choice(["female", "male"], n),
            "classification": np.where(ckd, "ckd", "notckd"),
        }
    )


def _session(name: str, event: str):
    """An app with the kidney table loaded and a model of ``event`` trained, saved, loaded."""
    from medinn_core.io import Registry
    from medinn_core.train import train_model

    frame = _kidney()
    schema = infer_schema(frame, "classification").with_event(event)
    result = train_model(frame, schema, TrainConfig(hidden_units=(8,), epochs=5, seed=0))
    Registry().save(result, name)
    at = goto(new_app(), "data")
    at.radio(key=state.W_DATA_SOURCE).set_value("Upload a file").run()
    content = frame.to_csv(index=False).encode()
    at.file_uploader(key=state.W_DATA_UPLOAD).set_value((f"{name}.csv", content, "text/csv"))
    at.run()
    at.selectbox(key=state.W_DATA_TARGET).select("classification").run()
    goto(at, "models")
    at.selectbox(key=state.W_MODELS_PICK).select(name).run()
    at.button(key=state.W_MODELS_LOAD).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(scope="module")
def ckd(medinn_home):
    return _session("kidney", "ckd")


@pytest.fixture(scope="module")
def healthy(medinn_home):
    """The user chose the healthy class as the event."""
    return _session("kidney-notckd", "notckd")


def _clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at.error)


def _column_labels(at) -> list[str]:
    """The headers the Predict table shows (its column configuration)."""
    frame = next(f for f in at.dataframe if "risk (%)" in f.value.columns)
    config = json.loads(frame.proto.columns)
    return [c.get("label") for c in config.values() if isinstance(c, dict)]


def test_predict_names_the_event(ckd):
    at = open_tab(goto(ckd, "predict"), state.W_PREDICT_TAB, "All patients")
    _clean(at)
    captions = " ".join(texts(at.caption))
    assert "Risk of ckd. Band" in captions and "classification = ckd" not in captions
    assert "risk of ckd (%)" in _column_labels(at)
    open_tab(at, state.W_PREDICT_TAB, "One patient: try a change")
    _clean(at)
    assert at.metric[0].label.startswith("Risk of ckd with these values")


def test_the_downloaded_predictions_name_the_event(ckd):
    schema = ckd.session_state[state.ACTIVE_MODEL].schema
    table = pd.DataFrame(
        {"patient": ["a", "b"], "risk (%)": [12.3456, 80.0], "band": ["low", "high"]}
    )
    csv = tables.predictions_csv(table, schema).decode()
    assert csv.splitlines()[0] == "patient,risk of ckd (%),band"
    assert "12.35" in csv
    assert tables.predictions_file_name("kidney", schema) == "risk-of-ckd-kidney.csv"
    coded = infer_schema(pd.DataFrame({"a": range(8), "mace_1y": [0, 1] * 4}), "mace_1y")
    assert tables.predictions_file_name("cardio", coded) == "risk-of-mace_1y-1-cardio.csv"


def test_explain_names_the_event(ckd):
    at = goto(ckd, "explain")
    _clean(at)
    assert "Explains the model's risk of ckd." in texts(at.caption)


def test_evaluate_names_the_outcomes_not_event_and_no_event(ckd):
    at = goto(ckd, "evaluate")
    _clean(at)
    assert any("The model gives the risk of ckd" in c for c in texts(at.caption))
    at = open_tab(at, state.W_EVAL_TAB, "Confusion matrix")
    heatmap = charts(at)["evaluate.confusion"].data[0]
    assert list(heatmap.x) == ["notckd", "ckd"] and list(heatmap.y) == ["notckd", "ckd"]
    at = open_tab(at, state.W_EVAL_TAB, "Risk by outcome")
    names = [t.name for t in charts(at)["evaluate.risk_distribution"].data]
    assert names[0].startswith("Notckd (n = ") and names[1].startswith("Ckd (n = "), names
    at = open_tab(at, state.W_EVAL_TAB, "Calibration")
    names = {t.name for t in charts(at)["evaluate.calibration"].data}
    assert {"Patients: ckd", "Patients: notckd"} <= names
    at = open_tab(at, state.W_EVAL_TAB, "Subgroups")
    at.selectbox(key=state.W_EVAL_SUBGROUP).select("sex").run()
    _clean(at)
    assert not any("too_small" in c for c in texts(at.caption))
    assert not any("too_small" in f.value.columns for f in at.dataframe)
    at.button(key=state.W_EVAL_REPORT_BUILD).click().run()
    _clean(at)
    report = at.session_state[state.REPORT][1].decode()
    assert "the model gives the risk of ckd" in report
    assert '"Patients: no event"' not in report and '"Patients: ckd"' in report


def test_a_change_toward_a_healthy_event_is_not_drawn_as_bad(ckd, healthy):
    assert ui.risk_delta_colour(ckd.session_state[state.ACTIVE_MODEL].schema) == "inverse"
    assert ui.risk_delta_colour(healthy.session_state[state.ACTIVE_MODEL].schema) == "normal"
    at = open_tab(goto(healthy, "predict"), state.W_PREDICT_TAB, "All patients")
    _clean(at)
    assert "Risk of notckd. Band" in " ".join(texts(at.caption))
    at = open_tab(at, state.W_PREDICT_TAB, "One patient: try a change")
    patient = at.selectbox(key=state.W_PREDICT_PATIENT).value
    at.number_input(key=f"{state.W_PREDICT_FIELD}.{patient}.hemo").set_value(7.0).run()
    _clean(at)
    metric = at.metric[0]
    assert metric.label.startswith("Risk of notckd with these values")
    assert metric.delta.startswith("-")  # anaemia lowers the risk of being healthy: bad news
    assert metric.proto.color == Metric.MetricColor.RED, metric.proto
