"""Every page with a survival model, driven by AppTest: one module-scoped run trains a small
network on sample_data/survival.csv (3 epochs) through the Train page and saves it; the tests
read what each page lays out."""

from __future__ import annotations

import numpy as np
import pytest

from medinn_app import state

from .helpers import (
    charts,
    goto,
    load_sample,
    new_app,
    numbers,
    open_tab,
    shown,
    texts,
    wait_for_training,
)

MODEL = "survival-test"


@pytest.fixture(scope="module")
def trained():
    at = load_sample(new_app(), "survival.csv")
    goto(at, "train")
    at.number_input(key=state.W_TRAIN_EPOCHS).set_value(3)
    at.form_submit_button(key=state.W_TRAIN_SUBMIT).click()
    at.run()
    assert not at.exception
    wait_for_training(at)
    job = at.session_state[state.TRAIN_JOB]
    assert job.error is None, job.error
    at.text_input(key=state.W_SAVE_NAME).set_value(MODEL)
    at.form_submit_button(key=state.W_SAVE_SUBMIT).click()
    at.run()
    assert not at.exception
    return at


def _metrics_table(at):
    for frame in at.dataframe:
        value = frame.value
        if "Linear Cox" in value.columns:
            return value
    raise AssertionError("no metrics table beside the linear Cox model")


# -- Train --------------------------------------------------------------------------------------
def test_train_shows_the_survival_metrics_beside_linear_cox(trained):
    at = goto(trained, "train")
    result = at.session_state[state.TRAIN_RESULT]
    table = _metrics_table(at)
    assert list(table.index) == [
        "Harrell's C",
        "Uno's C",
        "AUROC at the horizon (cumulative/dynamic)",
        "Brier score at the horizon (IPCW)",
    ]
    assert table.loc["Harrell's C", "Neural network"] == pytest.approx(result.metrics["c_index"])
    low, high = (float(x) for x in table.loc["Harrell's C", "95% CI"].split("–"))
    assert low < result.metrics["c_index"] < high
    assert 0.5 < table.loc["Uno's C", "Neural network"] < 1
    assert 0.5 < table.loc["Harrell's C", "Linear Cox"] < 1
    captions = " ".join(texts(at.caption))
    assert "risk of death = 1 by time 200" in captions and "Why this scheme" in captions
    assert any("5-fold" in s for s in texts(at.success))


# -- Predict ------------------------------------------------------------------------------------
def test_predict_shows_the_risk_by_the_horizon_its_range_and_the_log_hazard(trained):
    at = open_tab(goto(trained, "predict"), state.W_PREDICT_TAB, "All patients")
    assert not at.exception
    table = next(f.value for f in at.dataframe if "risk_score" in f.value.columns)
    assert len(table) == 2500
    risk = table["risk"].to_numpy()
    assert np.all((risk >= 0) & (risk <= 1)) and np.all(np.diff(risk) <= 0)  # highest first
    assert (table["risk_low"] <= table["risk"]).all() and (
        table["risk"] <= table["risk_high"]
    ).all()
    # the log-hazard ranks the patients as the risk does
    assert np.all(np.diff(table["risk_score"].to_numpy()) <= 1e-9)
    assert any("by time 200 days: the probability of the event" in c for c in texts(at.caption))
    assert "predict.histogram" in charts(at)


def test_predict_draws_one_patients_survival_curve_against_the_cohort(trained):
    at = open_tab(goto(trained, "predict"), state.W_PREDICT_TAB, "One patient: try a change")
    assert not at.exception
    metric = at.metric[0]
    assert "by time 200 days with these values" in metric.label
    figure = charts(at)["predict.survival_curve"]
    patient, cohort = (next(t for t in figure.data if t.name.startswith(n)) for n in ("This", "Co"))
    y = numbers(patient.y)
    assert y[0] == 1 and np.all(np.diff(y) <= 1e-12)  # a survival curve falls from 1
    assert np.all(np.isfinite(numbers(cohort.y)))
    x = numbers(patient.x)
    risk = float(metric.value.rstrip("%")) / 100
    dot = next(t for t in figure.data if t.name.startswith("At the horizon"))
    assert 1 - numbers(dot.y)[0] == pytest.approx(risk, abs=6e-4)
    # the curve's steps are aggregates of several events: close to the exact risk there
    assert 1 - y[np.searchsorted(x, 200, side="right") - 1] == pytest.approx(risk, abs=0.01)


def test_predict_and_explain_offer_the_sample_that_fits_the_model(trained):
    """new_patients.csv lacks the survival model's columns: the sample offered is one that has
    them, and it is scored (it was a missing-columns message before)."""
    at = goto(trained, "predict")
    source = at.radio(key=state.W_PREDICT_SOURCE)
    assert "Sample: survival.csv" in source.options
    assert not any("new_patients" in o for o in source.options)
    source.set_value("sample").run()
    at = open_tab(at, state.W_PREDICT_TAB, "All patients")
    assert not at.exception and not at.error
    table = next(f.value for f in at.dataframe if "risk_score" in f.value.columns)
    assert len(table) == 2500
    at = goto(at, "explain")
    options = [shown(o) for o in at.radio(key=state.W_EXPLAIN_SOURCE).options]
    assert "Sample: survival.csv" in options and not any("new_patients" in o for o in options)


def test_no_sample_is_offered_when_none_has_the_models_columns():
    from medinn_app import loaders

    assert loaders.sample_to_score(["age", "sex", "bmi"]) == "new_patients.csv"
    assert loaders.sample_to_score(["time_in_ward", "age"]) is None
    assert loaders.sample_to_score(["age", "sodium"]) == "survival.csv"


# -- Explain ------------------------------------------------------------------------------------
def test_explain_speaks_of_the_log_hazard_and_its_waterfall_adds_up(trained):
    at = open_tab(goto(trained, "explain"), state.W_EXPLAIN_TAB, "Global")
    assert not at.exception
    expl = at.session_state[state.EXPLANATIONS]
    expl = next(reversed(expl.values()))[0]
    assert len(expl.contributions) == 2500
    assert set(expl.contributions.columns) == set(at.session_state[state.SCHEMA].feature_names)
    assert any("Contributions are to the log-hazard" in c for c in texts(at.caption))
    assert not any("Risk (%)" in r.label for r in at.radio)
    assert "explain.importance" in charts(at)
    total = expl.contributions.sum(axis=1).to_numpy() + expl.base_value
    assert np.abs(total - expl.output).max() <= 1e-5
    figures = charts(open_tab(at, state.W_EXPLAIN_TAB, "One patient"))
    position = at.selectbox(key=state.W_EXPLAIN_PATIENT).value
    bars = figures["explain.waterfall"].data[0]
    x = numbers(bars.x)
    assert x[-1] == pytest.approx(expl.output[position], abs=1e-6)  # the log-hazard, not a %
    assert x[0] + x[1:-1].sum() == pytest.approx(x[-1], abs=1e-6)
    assert any(m.startswith("**Log-hazard") for m in texts(at.markdown))


def test_explain_what_if_and_the_other_tabs_work_for_a_survival_model(trained):
    at = open_tab(goto(trained, "explain"), state.W_EXPLAIN_TAB, "What-if")
    position = at.selectbox(key=state.W_EXPLAIN_PATIENT).value
    token = at.session_state[state.DATASET].token
    at.multiselect(key=f"{state.W_EXPLAIN_WHATIF_PICK}.{token}.{position}").set_value(["age"]).run()
    age = at.number_input(key=f"{state.W_EXPLAIN_WHATIF_FIELD}.{token}.{position}.age")
    age.set_value(age.value + 10)
    at.button(key=state.W_EXPLAIN_WHATIF_SUBMIT).click().run()
    assert not at.exception, [e.value for e in at.exception]
    metric = next(m for m in at.metric if shown(m.label) == "Log-hazard with the changes")
    float(shown(metric.value))  # a log-hazard, not a percentage
    for tab, chart in (("Dependence", "explain.dependence"), ("Cohort comparison", None)):
        figures = charts(open_tab(at, state.W_EXPLAIN_TAB, tab))
        assert not at.exception, [e.value for e in at.exception]
        assert chart is None or chart in figures, tab


# -- Evaluate -----------------------------------------------------------------------------------
EVALUATE_TABS = {
    "Kaplan-Meier by risk group": "evaluate.km",
    "AUROC over time": "evaluate.auroc_over_time",
    "Calibration at the horizon": "evaluate.survival_calibration",
    "Decision curve": "evaluate.decision_curve",
}


def test_evaluate_lays_out_the_internal_validation_at_the_horizon(trained):
    at = goto(trained, "evaluate")
    assert at.selectbox(key=state.W_EVAL_SOURCE).value.startswith("oof:")
    result = at.session_state[state.TRAIN_RESULT]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Patients"] == "2,500"  # every patient, out of fold
    assert float(metrics["Harrell's C"]) == pytest.approx(result.metrics["c_index"], abs=1e-3)
    for label in ("Uno's C", "AUROC at 200", "Brier score at 200"):
        assert 0 < float(metrics[label]) < 1, label
    assert any(c.startswith("95 % CI") for c in texts(at.caption))
    for label, chart in EVALUATE_TABS.items():  # each tab draws its own chart, and only it
        assert list(charts(open_tab(at, state.W_EVAL_TAB, label))) == [chart], label
        assert not at.exception, label


def test_evaluate_kaplan_meier_has_three_risk_groups_and_numbers_at_risk(trained):
    at = open_tab(goto(trained, "evaluate"), state.W_EVAL_TAB, "Kaplan-Meier by risk group")
    figure = charts(at)["evaluate.km"]
    curves = [t for t in figure.data if t.mode == "lines"]
    at_risk = [t for t in figure.data if t.mode == "text"]
    assert [t.name for t in curves] == ["low risk", "middle risk", "high risk"]
    counts = [[int(n.replace(",", "")) for n in t.text] for t in at_risk]
    assert sum(c[0] for c in counts) == 2500  # everyone is at risk at time 0
    assert all(np.all(np.diff(c) <= 0) for c in counts)
    # survival by the horizon is highest in the low-risk group
    surv = [numbers(t.y)[np.searchsorted(numbers(t.x), 200, side="right") - 1] for t in curves]
    assert surv[0] > surv[2]


def test_evaluate_subgroups_and_the_linear_cox_comparison(trained):
    at = open_tab(goto(trained, "evaluate"), state.W_EVAL_TAB, "Subgroups")
    at.selectbox(key=state.W_EVAL_SUBGROUP).select("sex").run()
    assert not at.exception
    table = next(f.value for f in at.dataframe if "c_index" in f.value.columns)
    assert sorted(table["sex"]) == ["F", "M"] and table["n"].sum() == 2500
    assert table["c_index"].between(0, 1).all()
    at = open_tab(at, state.W_EVAL_TAB, "Baseline")
    table = next(f.value for f in at.dataframe if "Harrell's C" in f.value.columns)
    assert list(table["model"]) == ["Neural network", "Linear Cox"]
    assert any("Harrell's C difference (network − linear cox)" in m for m in texts(at.markdown))


def test_evaluate_report_has_the_survival_sections(trained):
    at = goto(trained, "evaluate")
    at.button(key=state.W_EVAL_REPORT_BUILD).click().run()
    assert not at.exception, [e.value for e in at.exception]
    html = at.session_state[state.REPORT][1].decode()
    assert "Calibration at the horizon" in html and "Decision curve at the horizon" in html
    assert "by time 200" in html and "linear" in html.lower()


def test_evaluate_on_a_labelled_table_loaded_on_the_data_page(trained, tmp_path):
    from medinn_core.synthetic import make_survival_cohort

    at = goto(trained, "data")
    at.radio(key=state.W_DATA_SOURCE).set_value("Upload a file").run()
    holdout = make_survival_cohort(400, seed=5)
    at.file_uploader(key=state.W_DATA_UPLOAD).set_value(
        ("holdout.csv", holdout.to_csv(index=False).encode(), "text/csv")
    )
    at.run()
    at = goto(at, "evaluate")
    assert at.selectbox(key=state.W_EVAL_SOURCE).value.startswith("current:")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Patients"] == "400" and 0 < float(metrics["Harrell's C"]) < 1
    assert list(charts(at)) == ["evaluate.km"]


# -- Models -------------------------------------------------------------------------------------
def test_models_card_shows_the_horizon_and_the_survival_metrics(trained):
    at = goto(trained, "models")
    assert at.selectbox(key=state.W_MODELS_PICK).value == MODEL
    metrics = {shown(m.label): shown(m.value) for m in at.metric}
    assert metrics["Task"] == "survival" and float(metrics["Out-of-fold Harrell's C"]) > 0.5
    card = " ".join(texts(at.markdown))
    assert "**Follow-up time**: time" in card and "**Horizon**: 200 (the median" in card
    table = _metrics_table(at)
    assert "Harrell's C" in table.index and "Uno's C" in table.index
    registry = next(f.value for f in at.dataframe if "fingerprint" in f.value.columns)
    assert "Harrell's C" in registry.loc[0, "test metrics"]
    at.button(key=state.W_MODELS_REPORT_BUILD).click().run()
    assert not at.exception, [e.value for e in at.exception]
    html = at.session_state[state.REPORT][1].decode()
    assert MODEL in html and "Harrell" in html and "Horizon" in html
