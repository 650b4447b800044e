"""Every page on models with extreme outputs: a near-separable outcome (risks at 0 and 1 and a
threshold outside 0.01-0.99), a constant predictor (every patient the same risk), and a tiny
test split (a handful of patients). Each is trained for real, saved, uploaded and loaded as a
user would, then taken through Predict, Explain, Evaluate and the model report: no exception,
no error message, no widget out of its range.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medinn_app import runtime, state
from medinn_core.config import TrainConfig
from medinn_core.schema import infer_schema

from .helpers import goto, new_app, open_tab, texts

EVALUATE_TABS = (
    "Confusion matrix",
    "ROC",
    "Precision–recall",
    "Calibration",
    "Decision curve",
    "Risk by outcome",
    "Subgroups",
    "Baseline",
)
EXPLAIN_TABS = ("Global", "Dependence", "One patient", "What-if", "Cohort comparison")


def _separable(seed: int = 1) -> pd.DataFrame:
    """An outcome that one lab value decides, with a gap between the classes: the network's
    risks go to 0 and 1, and the lowest risk among events (Youden's threshold) ends near 1."""
    rng = np.random.default_rng(seed)
    n = 400
    event = rng.random(n) < 0.3
    marker = np.where(event, rng.uniform(2, 4, n), rng.uniform(-4, 0, n))
    return pd.DataFrame(
        {
            "marker": np.round(marker, 3),
            "age": rng.integers(30, 90, n),
            "sex": rng.choice(["female", "male"], n),
            "ckd": np.where(event, "ckd", "notckd"),
        }
    )


def _noise(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(30, 90, n),
            "bmi": np.round(rng.normal(27, 4, n), 1),
            "sex": rng.choice(["female", "male"], n),
            "event": rng.permutation(np.arange(n) % 2),
        }
    )


CASES = {
    # label: (data, target, settings)
    "separable": (
        _separable(),
        "ckd",
        TrainConfig(hidden_units=(16,), epochs=100, patience=100, learning_rate=0.03, l2=0.0),
    ),
    # A penalty so strong that no input reaches the output: the same risk for everyone.
    "constant": (
        _noise(200, 2),
        "event",
        TrainConfig(
            hidden_units=(4,),
            epochs=40,
            patience=40,
            learning_rate=0.03,
            l2=10.0,
            dropout=0.0,
            wide=False,  # no linear path: nothing but the penalised layers
        ),
    ),
    # A split (not folds) so small that its test split has a handful of patients.
    "tiny": (_noise(40, 3), "event", TrainConfig(hidden_units=(4,), epochs=3, scheme="split")),
}


@pytest.fixture(scope="module", params=list(CASES))
def extreme(request, medinn_home):
    """An app with the case's table uploaded and its model (trained and saved) loaded."""
    from medinn_core.io import Registry
    from medinn_core.train import train_model

    frame, target, config = CASES[request.param]
    schema = infer_schema(frame, target)
    result = train_model(frame, schema, config)
    if request.param == "constant":  # every weight zero but the biases: one risk for all
        for layer in result.model.model_.layers:
            weights = layer.get_weights()
            if weights:
                layer.set_weights([np.zeros_like(weights[0]), *weights[1:]])
    name = f"extreme-{request.param}"
    Registry().save(result, name)

    at = goto(new_app(), "data")
    at.radio(key=state.W_DATA_SOURCE).set_value("Upload a file").run()
    content = frame.to_csv(index=False).encode()
    at.file_uploader(key=state.W_DATA_UPLOAD).set_value((f"{name}.csv", content, "text/csv"))
    at.run()
    at.selectbox(key=state.W_DATA_TARGET).select(target).run()
    goto(at, "models")
    at.selectbox(key=state.W_MODELS_PICK).select(name).run()
    at.button(key=state.W_MODELS_LOAD).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[state.ACTIVE_MODEL].name == name
    return request.param, at, result


def _clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at.error)


def test_the_cases_are_extreme(extreme):
    """The fixtures do what they claim, so the page tests below try what they say."""
    case, _, result = extreme
    risk = result.model.predict_proba(CASES[case][0])[:, 1]
    if case == "separable":
        assert not 0.01 <= result.model.threshold_ <= 0.99, result.model.threshold_
    elif case == "constant":
        assert np.ptp(risk) < 1e-6
    else:
        assert len(result.split.test) <= 8


def test_predict_draws_with_the_threshold_inside_the_slider(extreme):
    _, at, result = extreme
    at = open_tab(goto(at, "predict"), state.W_PREDICT_TAB, "All patients")
    _clean(at)
    slider = at.slider(key=state.W_PREDICT_THRESHOLD)
    low, high = state.THRESHOLD_RANGE
    assert low <= slider.value <= high
    assert slider.value == pytest.approx(min(max(result.model.threshold_, low), high), abs=5e-4)
    open_tab(at, state.W_PREDICT_TAB, "One patient: try a change")
    _clean(at)


def test_explain_draws_every_tab(extreme):
    _, at, _ = extreme
    at = goto(at, "explain")
    for tab in EXPLAIN_TABS:
        _clean(open_tab(at, state.W_EXPLAIN_TAB, tab))


def test_evaluate_draws_every_tab_and_the_report(extreme):
    case, at, _ = extreme
    at = goto(at, "evaluate")
    _clean(at)
    # the internal validation comes first: out of fold, or the test split of a split model
    expected = "test:" if case == "tiny" else "oof:"
    assert at.selectbox(key=state.W_EVAL_SOURCE).value.startswith(expected)
    for tab in EVALUATE_TABS:
        _clean(open_tab(at, state.W_EVAL_TAB, tab))
    at.selectbox(key=state.W_EVAL_PRESET).select("youden").run()
    at.button(key=state.W_EVAL_APPLY_PRESET).click().run()
    _clean(at)
    at.button(key=state.W_EVAL_REPORT_BUILD).click().run()
    _clean(at)
    assert at.session_state[state.REPORT][1].startswith(b"<!DOCTYPE html>")


def test_models_page_builds_the_report(extreme):
    _, at, _ = extreme
    at = goto(at, "models")
    at.button(key=state.W_MODELS_REPORT_BUILD).click().run()
    _clean(at)


def test_a_bug_on_a_page_shows_a_plain_message_and_no_traceback(monkeypatch, caplog):
    """The guard in app.py: the bug goes to the server log with its traceback; the browser
    gets a sentence."""
    from medinn_app import sidebar

    def broken() -> None:
        raise RuntimeError("secret detail /srv/medinn/app.py")

    monkeypatch.delenv(runtime.DEBUG_ENV)
    monkeypatch.setattr(sidebar, "render", broken)
    at = new_app()
    assert not at.exception
    assert texts(at.error) == [runtime.BUG_MESSAGE]
    assert "secret detail" in caplog.text and "Traceback" in caplog.text
    assert not any("secret detail" in str(e.value) for e in at.get("markdown"))
