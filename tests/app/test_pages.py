"""The dashboard's pages, driven by Streamlit's AppTest (no browser).

One module-scoped journey trains a small model once (3 epochs); the other tests reuse it.
Every test points MEDINN_HOME at a temporary folder, so ~/.medinn is never touched.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from medinn_app import state

from ..conftest import ROOT
from .helpers import (
    APP,
    TIMEOUT,
    charts,
    goto,
    load_sample,
    new_app,
    numbers,
    open_tab,
    shown,
    table_with,
    texts,
    the_explanation,
    wait_for_training,
)

PAGES = ["data", "train", "models", "predict", "explain", "evaluate"]
JOURNEY_MODEL = "cardio-test"


# -- every page without a dataset or a model ------------------------------------------------------
def test_home_opens_with_an_empty_checklist_and_the_disclaimer():
    at = new_app()
    assert not at.exception
    assert at.title[0].value == "medinn"
    assert any("support, not replace, clinical judgment" in w for w in texts(at.warning))
    assert at.button(key=state.W_HOME_SAMPLE).label == "Load sample data and model"
    sidebar = " ".join(texts(at.sidebar.markdown) + texts(at.sidebar.caption))
    assert "None loaded yet" in sidebar and "None trained or loaded yet" in sidebar


@pytest.mark.parametrize("page", PAGES)
def test_every_page_says_what_to_do_first(page, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDINN_HOME", str(tmp_path))  # an empty registry
    at = goto(new_app(), page)
    assert at.info, f"{page} shows no st.info"
    message = at.info[0].value
    assert any(word in message for word in ("first", "No saved models")), message


def test_home_and_data_do_not_import_tensorflow():
    code = f"""
import json, sys, time
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest, app_test
class NavigationOnly(PagesManager):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False
app_test.PagesManager = NavigationOnly
start = time.perf_counter()
at = AppTest.from_file({APP!r}, default_timeout={TIMEOUT}).run()
home = time.perf_counter() - start
at.switch_page("pages/data.py").run()
at.selectbox(key="{state.W_DATA_SAMPLE}").select("cardiology.csv").run()
heavy = [m for m in ("tensorflow", "keras", "shap") if m in sys.modules]
print(json.dumps({{"heavy": heavy, "home": home, "errors": [e.value for e in at.exception],
                  "rows": len(at.data_editor[0].value)}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["errors"] == []
    assert result["heavy"] == []
    assert result["rows"] == 17  # the Data page drew the schema of cardiology.csv


def test_the_data_modules_are_preloaded_once_in_the_background_without_tensorflow():
    code = """
import sys, threading, time
from medinn_app import runtime
before = "pandas" in sys.modules
runtime.preload_data_modules()
runtime.preload_data_modules()  # once per process
workers = [t for t in threading.enumerate() if t.name == "medinn-preload"]
for t in workers:
    t.join(60)
print(before, len(workers), all(m in sys.modules for m in runtime._DATA_MODULES),
      any(m in sys.modules for m in ("tensorflow", "keras", "shap")))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "1", "True", "False"]


# -- Data ---------------------------------------------------------------------------------------
def test_data_shows_schema_validation_and_profile():
    at = load_sample(new_app())
    schema = at.data_editor[0].value
    assert len(schema) == 17
    by_name = schema.set_index("column")
    assert by_name.loc["mace_1y", "reason"] == "target"
    assert by_name.loc["patient_id", "kind"] == "identifier"
    assert not by_name.loc["patient_id", "include"]
    assert by_name.loc["systolic_bp", "unit"] == "mmHg"
    assert by_name["include"].sum() == 15
    assert any("Ready to train: 4,000 of 4,000 rows" in s for s in texts(at.success))
    assert not at.error
    assert at.selectbox(key=state.W_DATA_TARGET).value == "mace_1y"
    assert at.selectbox(key=state.W_DATA_TASK).value == "binary"
    assert len(at.get("plotly_chart")) == 3  # outcome balance, missing values, one column
    assert "4,000 rows · 17 columns" in " ".join(texts(at.sidebar.markdown))


def test_data_schema_edit_excludes_a_column():
    at = load_sample(new_app())
    editor = at.data_editor[0].key
    row = int(at.data_editor[0].value.reset_index().query("column == 'blood_group'").index[0])
    at.session_state[editor] = {
        "edited_rows": {row: {"include": False}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert not at.exception
    schema = at.data_editor[0].value.set_index("column")
    assert not schema.loc["blood_group", "include"]
    assert schema.loc["blood_group", "reason"] == "excluded by the user"
    assert "blood_group" not in at.session_state[state.SCHEMA].feature_names


def test_data_target_without_outcomes_blocks_training():
    at = load_sample(new_app())
    at.selectbox(key=state.W_DATA_TARGET).select("prior_mi").run()
    assert at.session_state[state.SCHEMA].target == "prior_mi"
    at.selectbox(key=state.W_DATA_TARGET).select("site").run()  # four values: multiclass
    assert at.selectbox(key=state.W_DATA_TASK).value == "multiclass"
    at.selectbox(key=state.W_DATA_TASK).select("binary").run()  # refused: 4 values
    assert any("exactly 2" in e for e in texts(at.error))
    assert not at.exception


def test_bad_upload_shows_an_error_not_a_traceback():
    at = goto(new_app(), "data")
    at.radio(key=state.W_DATA_SOURCE).set_value("Upload a file").run()
    at.file_uploader(key=state.W_DATA_UPLOAD).set_value(
        ("export.xlsx", b"PK\x03\x04 this is no workbook", "application/octet-stream")
    )
    at.run()
    assert not at.exception
    assert any("export.xlsx" in e and "Excel" in e for e in texts(at.error))
    assert state.DATASET not in at.session_state


def test_good_upload_replaces_the_dataset():
    at = goto(new_app(), "data")
    at.radio(key=state.W_DATA_SOURCE).set_value("Upload a file").run()
    frame = pd.DataFrame({"id": range(1, 41), "age": range(40, 80), "event": [0, 1] * 20})
    at.file_uploader(key=state.W_DATA_UPLOAD).set_value(
        ("mine.csv", frame.to_csv(index=False).encode(), "text/csv")
    )
    at.run()
    assert not at.exception
    assert texts(at.subheader)[0] == "mine.csv"
    assert len(at.data_editor[0].value) == 3


# -- the journey: train, save, list, predict, evaluate ------------------------------------------
@pytest.fixture(scope="module")
def trained():
    """An app that loaded cardiology.csv, trained 3 epochs and saved the model."""
    at = load_sample(new_app())
    goto(at, "train")
    at.number_input(key=state.W_TRAIN_EPOCHS).set_value(3)
    at.form_submit_button(key=state.W_TRAIN_SUBMIT).click()
    at.run()
    assert not at.exception
    job = at.session_state[state.TRAIN_JOB]
    progress_seen = not job.done and at.button(key=state.W_TRAIN_STOP) is not None
    wait_for_training(at)
    assert job.error is None, job.error
    at.text_input(key=state.W_SAVE_NAME).set_value(JOURNEY_MODEL)
    at.form_submit_button(key=state.W_SAVE_SUBMIT).click()
    at.run()
    assert not at.exception
    return at, progress_seen


def test_train_describes_the_scheme_the_defaults_will_use():
    # 4,000 patients are cross-fitted by default: the page must not promise a test split
    at = goto(load_sample(new_app()), "train")
    text = " ".join(texts(at.markdown))
    assert "4,000 patients" in text
    assert "5-fold cross-fitting" in text
    assert "to test" not in text


def test_training_shows_metrics_beside_baselines(trained):
    at, progress_seen = trained
    assert progress_seen
    table = table_with(at, "Neural network")
    assert list(table.columns) == [
        "Neural network",
        "95% CI",
        "Logistic regression",
        "Gradient boosting",
    ]
    low, high = (float(v) for v in table.loc["AUROC", "95% CI"].split("–"))
    assert low <= table.loc["AUROC", "Neural network"] <= high
    assert any("cross-fitting" in s for s in texts(at.success))
    assert list(table.index) == ["AUROC", "Average precision", "Brier score"]
    assert 0.6 < table.loc["AUROC", "Neural network"] <= 1
    assert 0.6 < table.loc["AUROC", "Logistic regression"] <= 1
    result = at.session_state[state.TRAIN_RESULT]
    assert len(result.history["loss"]) == 3
    assert any(f"Saved in the registry as '{JOURNEY_MODEL}'" in s for s in texts(at.success))
    sidebar = " ".join(texts(at.sidebar.markdown))
    assert JOURNEY_MODEL in sidebar and "AUROC" in sidebar


def test_sidebar_and_model_card_name_out_of_fold_metrics_after_cross_fitting(trained):
    # cardiology.csv (4,000 patients) is cross-fitted: there is no test split to name
    at = goto(trained[0], "models")
    sidebar = " ".join(texts(at.sidebar.markdown))
    assert "Out-of-fold AUROC" in sidebar and "Test AUROC" not in sidebar
    assert "Out-of-fold AUROC" in [shown(m.label) for m in at.metric]


def test_training_is_audited_with_counts_not_values(trained, audit_log):
    from medinn_core.security import read_log

    session = trained[0].session_state[state.AUDIT_SESSION]
    events = [e for e in read_log(audit_log) if e["session"] == session]
    actions = [e["action"] for e in events]
    assert (
        actions.index("train_start") < actions.index("train_finish") < actions.index("save_model")
    )
    finished = events[actions.index("train_finish")]
    assert finished["model"] == "unsaved model" and finished["n_patients"] == 4000
    assert events[actions.index("save_model")]["model"] == JOURNEY_MODEL


def test_models_lists_and_describes_the_saved_model(trained):
    at = goto(trained[0], "models")
    table = table_with(at, "fingerprint")
    assert list(table["name"]) == [JOURNEY_MODEL]
    assert table.loc[0, "task"] == "binary" and table.loc[0, "target"] == "mace_1y"
    assert "AUROC" in table.loc[0, "test metrics"]
    assert at.selectbox(key=state.W_MODELS_PICK).value == JOURNEY_MODEL
    metrics = {shown(m.label): shown(m.value) for m in at.metric}
    assert metrics["Target"] == "mace_1y"
    settings = table_with(at, "setting").set_index("setting")["value"]
    assert settings["epochs"] == "3"
    assert at.download_button(key=state.W_MODELS_DOWNLOAD).label == "Download as .zip"


def test_predict_scores_every_patient_sorted_by_risk(trained):
    at = goto(trained[0], "predict")
    table = table_with(at, "risk (%)")
    assert len(table) == 4000
    risk = table["risk (%)"]
    assert risk.between(0, 100).all()
    assert risk.is_monotonic_decreasing
    assert set(table["band"]) <= {"low", "intermediate", "high"}
    assert table["patient"].str.startswith("P").all()
    threshold = at.slider(key=state.W_PREDICT_THRESHOLD).value
    high = table["risk (%)"] >= threshold * 100
    assert (table.loc[high, "prediction"] == "1").all()
    assert (table.loc[~high, "prediction"] == "0").all()
    assert {m.label: m.value for m in at.metric}["Patients"] == "4,000"

    at.radio(key=state.W_PREDICT_SOURCE).set_value("sample").run()
    assert not at.exception
    assert len(table_with(at, "risk (%)")) == 200


def test_predict_threshold_is_shared_with_evaluate(trained):
    at = open_tab(goto(trained[0], "predict"), state.W_PREDICT_TAB, "All patients")
    at.slider(key=state.W_PREDICT_THRESHOLD).set_value(0.3).run()
    table = table_with(at, "risk (%)")
    assert (table.loc[table["risk (%)"] >= 30, "band"] == "high").all()
    goto(at, "evaluate")
    assert at.slider(key=state.W_EVAL_THRESHOLD).value == pytest.approx(0.3)


def test_predict_one_patient_follows_changed_values(trained):
    at = open_tab(goto(trained[0], "predict"), state.W_PREDICT_TAB, "All patients")
    at.radio(key=state.W_PREDICT_SOURCE).set_value("sample").run()
    assert not at.get("selectbox") and "predict.histogram" in charts(at)  # lazy: one tab drawn
    open_tab(at, state.W_PREDICT_TAB, ONE_PATIENT)
    assert "predict.histogram" not in charts(at)
    first = at.selectbox(key=state.W_PREDICT_PATIENT).value
    age = at.number_input(key=f"{state.W_PREDICT_FIELD}.{first}.age")
    before = next(
        m for m in at.metric if shown(m.label).startswith("Risk of mace_1y = 1 with these values")
    )
    assert not before.delta  # unchanged values give the table's risk
    age.set_value(age.value + 30).run()
    after = next(
        m for m in at.metric if shown(m.label).startswith("Risk of mace_1y = 1 with these values")
    )
    assert after.value != before.value
    assert after.delta is not None and "points from" in after.delta


def test_predict_names_missing_columns(trained):
    at = goto(trained[0], "predict")
    at.radio(key=state.W_PREDICT_SOURCE).set_value("upload").run()
    frame = pd.read_csv(ROOT / "sample_data" / "new_patients.csv").drop(columns=["age", "hdl"])
    at.file_uploader(key=state.W_PREDICT_UPLOAD).set_value(
        ("no_age.csv", frame.to_csv(index=False).encode(), "text/csv")
    )
    at.run()
    assert not at.exception
    assert any("age" in e and "hdl" in e for e in texts(at.error))


def test_evaluate_refits_the_baselines_on_one_openmp_thread(trained, monkeypatch):
    # with TensorFlow loaded, two OpenMP threads made one gradient-boosting fit 50x slower
    from threadpoolctl import threadpool_info

    import medinn_core.train

    real, threads = medinn_core.train.held_out, []

    def held_out(*args, **kwargs):
        threads.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp")
        return real(*args, **kwargs)

    monkeypatch.setattr(medinn_core.train, "held_out", held_out)
    at = trained[0]
    at.session_state[state.HELD_OUT] = None
    goto(at, "evaluate")
    assert threads and set(threads) == {1}


def test_evaluate_uses_the_out_of_fold_predictions(trained):
    at = goto(trained[0], "evaluate")
    result = at.session_state[state.TRAIN_RESULT]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Patients"] == f"{len(result.split.train):,}"  # every patient, out of fold
    auroc = float(metrics["AUROC"])
    assert auroc == pytest.approx(result.metrics["auroc"], abs=1e-3)
    tabs = {
        "Confusion matrix": "evaluate.confusion",
        "ROC": "evaluate.roc",
        "Precision–recall": "evaluate.pr",
        "Calibration": "evaluate.calibration",
        "Decision curve": "evaluate.decision_curve",
        "Risk by outcome": "evaluate.risk_distribution",
    }
    for label, chart in tabs.items():  # each tab draws its own chart, and only it
        assert list(charts(open_tab(at, state.W_EVAL_TAB, label))) == [chart], label


def test_evaluate_draws_only_the_open_tab(trained):
    """A new session's Evaluate page computes and sends its first tab only: gradient boosting
    (seconds on a large table) waits for the Baseline tab, and a report built meanwhile does
    without it; a choice made in a tab outlives the tab's closing."""
    at = load_sample(new_app())
    goto(at, "models")
    at.selectbox(key=state.W_MODELS_PICK).select(JOURNEY_MODEL).run()
    at.button(key=state.W_MODELS_LOAD).click().run()
    goto(at, "evaluate")
    assert at.selectbox(key=state.W_EVAL_SOURCE).value.startswith("oof:")
    assert list(charts(at)) == ["evaluate.confusion"]
    assert state.GRADIENT_BOOSTING not in at.session_state

    open_tab(at, state.W_EVAL_TAB, "Decision curve")
    at.slider(key=state.W_EVAL_DC_RANGE).set_range(5, 30).run()
    open_tab(at, state.W_EVAL_TAB, "ROC")
    at.run()  # Streamlit drops the value of a widget left undrawn for two runs, unless kept
    assert list(charts(at)) == ["evaluate.roc"]
    at.button(key=state.W_EVAL_REPORT_BUILD).click().run()
    assert not at.exception, [e.value for e in at.exception]
    key, html = at.session_state[state.REPORT]
    assert (5, 30) in key and "Neural network − Logistic regression" in html.decode()
    assert state.GRADIENT_BOOSTING not in at.session_state

    open_tab(at, state.W_EVAL_TAB, "Decision curve")
    assert at.slider(key=state.W_EVAL_DC_RANGE).value == (5, 30)
    x = numbers(charts(at)["evaluate.decision_curve"].data[0].x)
    assert x.min() == pytest.approx(0.05) and x.max() == pytest.approx(0.30)
    assert not at.exception, [e.value for e in at.exception]


def test_evaluate_presets_prevalence_and_sample_size(trained):
    at = goto(trained[0], "evaluate")
    labels = [m.label for m in at.metric]
    for label in ("F1", "Positive likelihood ratio", "Number needed to evaluate"):
        assert label in labels
    presets = table_with(at, "youden_j")
    assert len(presets) == 4  # 0.5, Youden's J, the target sensitivity, and the slider's own
    assert presets["label"].str.startswith("Youden").any()
    at.selectbox(key=state.W_EVAL_PRESET).select("youden").run()
    at.button(key=state.W_EVAL_APPLY_PRESET).click().run()
    assert not at.exception, [e.value for e in at.exception]
    youden = presets.loc[presets["label"].str.startswith("Youden"), "threshold"].iloc[0]
    assert at.slider(key=state.W_EVAL_THRESHOLD).value == pytest.approx(round(youden, 3))

    def ppv_at_prevalence():
        return float(next(m.value for m in at.metric if m.label == "PPV at this prevalence"))

    common = ppv_at_prevalence()
    at.number_input(key=state.W_EVAL_PREVALENCE).set_value(1.0).run()
    assert ppv_at_prevalence() < common  # a rarer outcome lowers the PPV (Bayes)
    assert any("events per input" in c.value for c in at.caption)


def test_evaluate_compares_with_the_logistic_and_boosting_baselines(trained):
    at = open_tab(goto(trained[0], "evaluate"), state.W_EVAL_TAB, "Baseline")
    table = table_with(at, "brier")
    assert list(table.index) == ["Neural network", "Logistic regression", "Gradient boosting"]
    assert table["auroc"].between(0, 1).all()
    # Out of fold, the cross-fitted baselines are the training-time ones, number for number.
    baselines = at.session_state[state.ACTIVE_MODEL].metadata["baselines"]
    assert table.loc["Gradient boosting", "auroc"] == pytest.approx(
        baselines["gradient_boosting"]["auroc"], abs=1e-9
    )
    assert table.loc["Logistic regression", "auroc"] == pytest.approx(
        baselines["logistic_regression"]["auroc"], abs=1e-9
    )
    differences = [m.value for m in at.markdown if "AUROC difference" in m.value]
    assert len(differences) == 2 and "gradient boosting" in differences[1]
    # cross-fitted: the caption says so, not "the same training split"
    captions = " ".join(texts(at.caption))
    assert "fitted on the same 5 folds" in captions and "training split" not in captions


def test_evaluate_decision_curve_follows_the_chosen_range(trained):
    at = open_tab(goto(trained[0], "evaluate"), state.W_EVAL_TAB, "Decision curve")
    first = numbers(charts(at)["evaluate.decision_curve"].data[0].x)
    assert first.min() == pytest.approx(0.01) and first.max() == pytest.approx(0.50)
    at.slider(key=state.W_EVAL_DC_RANGE).set_range(5, 30).run()
    assert not at.exception, [e.value for e in at.exception]
    model = charts(at)["evaluate.decision_curve"].data[0]
    x = numbers(model.x)
    assert x.min() == pytest.approx(0.05) and x.max() == pytest.approx(0.30) and x.size == 26
    # the same net benefit as the core's formula at 10 %: TP/n - FP/n * pt / (1 - pt)
    evaluated = at.session_state[state.EVALUATION][1]
    y, output = evaluated.observed, evaluated.output
    treated = output >= 0.10
    expected = ((treated & (y == 1)).sum() - (treated & (y == 0)).sum() * 0.1 / 0.9) / y.size
    assert numbers(model.y)[list(np.round(x, 2)).index(0.10)] == pytest.approx(expected)
    at.slider(key=state.W_EVAL_DC_RANGE).set_range(1, 50).run()


def test_models_page_builds_the_report_of_the_current_model(trained):
    at = goto(trained[0], "models")
    assert at.selectbox(key=state.W_MODELS_PICK).value == JOURNEY_MODEL
    assert at.selectbox(key=state.W_MODELS_REPORT_SOURCE).value.startswith("oof:")
    assert not [b for b in at.get("download_button") if state.W_MODELS_REPORT in b.proto.id]
    at.text_area(key=state.W_MODELS_INTENDED_USE).input("Screening in cardiology clinic")
    at.button(key=state.W_MODELS_REPORT_BUILD).click().run()
    assert not at.exception, [e.value for e in at.exception]
    buttons = [b for b in at.get("download_button") if state.W_MODELS_REPORT in b.proto.id]
    assert len(buttons) == 1
    html = at.session_state[state.REPORT][1].decode()  # the bytes the button serves
    assert html.startswith("<!DOCTYPE html>") and "Screening in cardiology clinic" in html
    assert JOURNEY_MODEL in html and "Decision curve" in html


def test_explain_lists_the_model_inputs(trained):
    at = goto(trained[0], "explain")
    assert len(table_with(at, "seen in training")) == 15


# -- Explain ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample_model(tmp_path_factory):
    """An app that loaded the sample data and model from Home (a small sample model: 2 epochs)."""
    from medinn_app import loaders

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDINN_HOME", str(tmp_path_factory.mktemp("sample_home")))
        mp.setattr(loaders, "SAMPLE_SETTINGS", {"hidden_units": (8,), "epochs": 2, "seed": 0})
        at = new_app()
        at.button(key=state.W_HOME_SAMPLE).click().run()
        wait_for_training(at)
    assert at.session_state[state.ACTIVE_MODEL].name == loaders.SAMPLE_MODEL
    return at


ONE_PATIENT = "One patient: try a change"  # Predict's second tab


def test_explain_shows_why_for_the_sample_model(sample_model):
    from medinn_core import explain as ep
    from medinn_core.explain._wording import _percent

    at = open_tab(goto(sample_model, "explain"), state.W_EXPLAIN_TAB, "Global")
    expl = the_explanation(at)
    assert len(expl.contributions) == 4000
    assert any("Method: DeepLIFT (medinn, exact)" in c for c in texts(at.caption))
    figures = charts(at)
    assert list(figures["explain.importance"].data[0].y) == list(expl.importance().index[:15])
    # Only the open tab is drawn.
    assert set(figures) == {"explain.importance", "explain.beeswarm"}
    figures = charts(open_tab(at, state.W_EXPLAIN_TAB, "Dependence"))
    assert set(figures) == {"explain.dependence"}

    figures = charts(open_tab(at, state.W_EXPLAIN_TAB, "One patient"))
    assert set(figures) == {"explain.waterfall"}
    top = int(np.argmax(expl.output))
    assert at.selectbox(key=state.W_EXPLAIN_PATIENT).value == top  # the highest risk first
    waterfall = figures["explain.waterfall"]
    patient = expl.contributions.index[top]
    assert patient in waterfall.layout.title.text
    bars = waterfall.data[0]
    assert bars.type == "waterfall"
    x = numbers(bars.x)
    assert x[-1] == pytest.approx(expl.output[top] * 100)
    assert x[0] + x[1:-1].sum() == pytest.approx(x[-1])
    terms = ep.explanation_terms(at.session_state[state.ACTIVE_MODEL])
    units, imputed = terms.units, terms.imputed
    strongest = expl.contributions.iloc[top].abs().sort_values(ascending=False).index[:10]
    raw = expl.raw_values.iloc[top]
    expected = [ep.describe_value(f, raw[f], units, imputed) for f in strongest]
    assert list(bars.y[1:11]) == expected  # with units: "age = 74 y"
    assert any(units[f] and expected[k].endswith(units[f]) for k, f in enumerate(strongest))
    sentence = ep.plain_sentence(expl, top, units, imputed=imputed)
    assert sentence.startswith(f"Risk {_percent(expl.output[top])} %")
    assert f"**{sentence}**" in texts(at.markdown)


def test_explain_what_if_compares_the_old_and_new_waterfall(sample_model):

    at = open_tab(goto(sample_model, "explain"), state.W_EXPLAIN_TAB, "What-if")
    position = at.selectbox(key=state.W_EXPLAIN_PATIENT).value
    assert any("Change a value above" in i for i in texts(at.info))
    token = at.session_state[state.DATASET].token
    at.multiselect(key=f"{state.W_EXPLAIN_WHATIF_PICK}.{token}.{position}").set_value(["age"]).run()
    age = at.number_input(key=f"{state.W_EXPLAIN_WHATIF_FIELD}.{token}.{position}.age")
    age.set_value(age.value + 40)  # beyond the oldest patient in training: unusual
    at.button(key=state.W_EXPLAIN_WHATIF_SUBMIT).click().run()
    assert not at.exception, [e.value for e in at.exception]
    metric = next(m for m in at.metric if m.label == "Risk with the changes")
    assert metric.delta.endswith("percentage points")
    figures = charts(at)
    before, after = figures["explain.whatif_before"], figures["explain.whatif_after"]
    assert before.layout.xaxis.range == after.layout.xaxis.range
    was, now = numbers(before.data[0].x)[-1], numbers(after.data[0].x)[-1]
    assert was == pytest.approx(the_explanation(at).output[position] * 100)
    assert now != pytest.approx(was)
    assert any("age = " in label for label in after.data[0].y)
    assert any("outside the training range" in w for w in texts(at.warning))


def test_explain_switches_to_log_odds_and_compares_a_columns_groups(sample_model):

    at = goto(sample_model, "explain")
    at.radio(key=state.W_EXPLAIN_SPACE).set_value("logit").run()
    assert not at.exception, [e.value for e in at.exception]
    assert the_explanation(at).space == "logit"
    open_tab(at, state.W_EXPLAIN_TAB, "One patient")
    assert charts(at)["explain.waterfall"].layout.xaxis.title.text == "Log-odds"
    open_tab(at, state.W_EXPLAIN_TAB, "Cohort comparison")
    at.radio(key=state.W_EXPLAIN_COHORT_MODE).set_value("column").run()
    at.selectbox(key=state.W_EXPLAIN_COHORT_COLUMN).select("smoking").run()
    assert not at.exception, [e.value for e in at.exception]
    names = [trace.name for trace in charts(at)["explain.cohorts"].data]
    assert names[0].startswith("smoking = current") and names[1].startswith("smoking = former")


def test_predict_links_a_patient_to_its_explanation(sample_model):

    at = goto(sample_model, "predict")
    at.radio(key=state.W_PREDICT_SOURCE).set_value("sample").run()
    open_tab(at, state.W_PREDICT_TAB, ONE_PATIENT)
    picker = at.selectbox(key=state.W_PREDICT_PATIENT)
    second = picker.options[1]
    picker.select_index(1).run()
    chosen = at.selectbox(key=state.W_PREDICT_PATIENT).value
    open_tab(at, state.W_PREDICT_TAB, "All patients")
    open_tab(at, state.W_PREDICT_TAB, ONE_PATIENT)  # the choice outlives the closed tab
    assert at.selectbox(key=state.W_PREDICT_PATIENT).value == chosen
    at.button(key=state.W_PREDICT_EXPLAIN).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Explain"
    assert at.radio(key=state.W_EXPLAIN_SOURCE).value == "sample"
    position = at.selectbox(key=state.W_EXPLAIN_PATIENT).value
    assert second in charts(at)["explain.waterfall"].layout.title.text
    assert len(the_explanation(at).contributions) == 200 and position >= 0


def test_explain_keeps_choices_made_in_tabs_that_are_closed(sample_model):
    at = open_tab(goto(sample_model, "explain"), state.W_EXPLAIN_TAB, "Dependence")
    at.selectbox(key=state.W_EXPLAIN_FEATURE).select("age").run()
    open_tab(at, state.W_EXPLAIN_TAB, "One patient")
    picker = at.selectbox(key=state.W_EXPLAIN_PATIENT)
    third = picker.options[2]
    picker.select_index(2).run()
    chosen = at.selectbox(key=state.W_EXPLAIN_PATIENT).value
    open_tab(at, state.W_EXPLAIN_TAB, "Dependence")
    assert at.selectbox(key=state.W_EXPLAIN_FEATURE).value == "age"
    assert "explain.waterfall" not in charts(at)
    open_tab(at, state.W_EXPLAIN_TAB, "What-if")  # the same patient, picked on either tab
    assert at.selectbox(key=state.W_EXPLAIN_PATIENT).value == chosen
    assert any(third.split(" · ")[0] in c for c in texts(at.caption))
    assert not at.exception, [e.value for e in at.exception]


def test_explain_without_a_model_says_what_to_do_first(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDINN_HOME", str(tmp_path))
    at = goto(new_app(), "explain")
    assert "Train a model or load one first" in at.info[0].value
    assert not at.get("plotly_chart")


def test_home_ticks_the_steps_done(trained):
    at = goto(trained[0], "predict")
    goto(at, "home")
    labels = [link.label for link in at.get("page_link")]
    assert sum("done" in label for label in labels) == 4, labels


def test_home_loads_the_sample_and_trains_the_sample_model_once(tmp_path, monkeypatch):
    from medinn_app import loaders

    monkeypatch.setenv("MEDINN_HOME", str(tmp_path))
    monkeypatch.setattr(loaders, "SAMPLE_SETTINGS", {"hidden_units": (8,), "epochs": 2, "seed": 0})
    at = new_app()
    at.button(key=state.W_HOME_SAMPLE).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Training the sample model" in " ".join(texts(at.markdown))
    wait_for_training(at)
    assert any(f"'{loaders.SAMPLE_MODEL}' is loaded" in s for s in texts(at.success))
    active = at.session_state[state.ACTIVE_MODEL]
    assert active.name == loaders.SAMPLE_MODEL and active.saved
    assert at.session_state[state.DATASET].name == "cardiology.csv"
    assert (tmp_path / "models" / loaders.SAMPLE_MODEL / "manifest.json").is_file()
    sidebar = " ".join(texts(at.sidebar.markdown))
    assert "cardiology.csv" in sidebar and loaders.SAMPLE_MODEL in sidebar
    labels = [link.label for link in at.get("page_link")]
    assert sum("done" in label for label in labels) == 3, labels

    # A second session loads the saved sample model instead of training again.
    created = active.metadata["created"]
    again = new_app()
    again.button(key=state.W_HOME_SAMPLE).click().run()
    assert any("Sample data and model loaded" in s for s in texts(again.success))
    assert again.session_state[state.ACTIVE_MODEL].metadata["created"] == created


def test_stop_keeps_the_best_model_so_far():
    at = load_sample(new_app(), "breast_cancer.csv")
    goto(at, "train")
    at.number_input(key=state.W_TRAIN_EPOCHS).set_value(500)
    at.number_input(key=state.W_TRAIN_PATIENCE).set_value(500)
    at.form_submit_button(key=state.W_TRAIN_SUBMIT).click().run()
    job = at.session_state[state.TRAIN_JOB]
    deadline = time.monotonic() + 300
    while len(job.epochs) < 2:
        assert time.monotonic() < deadline and not job.done
        time.sleep(0.2)
    at.run()
    assert "of 500" in at.get("progress")[0].proto.text
    at.button(key=state.W_TRAIN_STOP).click().run()
    assert job.stop.is_set()
    wait_for_training(at)
    result = at.session_state[state.TRAIN_RESULT]
    assert result.model.stopped_by_user_
    assert 2 <= len(result.history["loss"]) < 500
    assert any("stopped by you" in s for s in texts(at.success))
    assert "Neural network" in table_with(at, "Neural network").columns


# -- Evaluate: subgroups and the model report ---------------------------------------------------
def test_evaluate_subgroups_by_sex_and_offers_the_report(sample_model):
    at = open_tab(goto(sample_model, "evaluate"), state.W_EVAL_TAB, "Subgroups")
    assert at.selectbox(key=state.W_EVAL_SOURCE).value.startswith("oof:")
    at.selectbox(key=state.W_EVAL_SUBGROUP).select("sex").run()
    assert not at.exception, [e.value for e in at.exception]
    table = table_with(at, "Too few to judge")  # not the raw too_small
    rows = split_rows_of(at)
    assert list(table["group"]) == sorted(rows["sex"].dropna().unique())
    assert table["n"].sum() == len(rows)
    assert "evaluate.subgroup_forest" in charts(at)
    assert not [b for b in at.get("download_button") if state.W_EVAL_REPORT in b.proto.id]
    open_tab(at, state.W_EVAL_TAB, "ROC")  # the report keeps the choice of a closed tab
    at.text_area(key=state.W_EVAL_INTENDED_USE).input("Triage in clinic")
    at.button(key=state.W_EVAL_REPORT_BUILD).click().run()
    assert not at.exception, [e.value for e in at.exception]
    buttons = [b for b in at.get("download_button") if state.W_EVAL_REPORT in b.proto.id]
    assert len(buttons) == 1
    assert buttons[0].proto.label == "Download the model report (HTML)"
    report = at.session_state[state.REPORT][1].decode()  # the bytes the button serves
    assert "<h3>sex</h3>" in report and "Triage in clinic" in report
    # A changed setting makes the built report stale: the download goes until it is rebuilt.
    at.text_area(key=state.W_EVAL_INTENDED_USE).input("Triage in the emergency room").run()
    assert not [b for b in at.get("download_button") if state.W_EVAL_REPORT in b.proto.id]


def trained_briefly(sample: str) -> AppTest:
    """A session that loaded ``sample`` and trained a tiny network (8 units, 2 epochs) on it."""
    at = load_sample(new_app(), sample)
    goto(at, "train")
    at.text_input(key=state.W_TRAIN_LAYERS).set_value("8")
    at.number_input(key=state.W_TRAIN_EPOCHS).set_value(2)
    at.form_submit_button(key=state.W_TRAIN_SUBMIT).click().run()
    wait_for_training(at)
    return at


def test_evaluate_regression_error_by_subgroup():
    at = trained_briefly("drug_response.csv")
    open_tab(goto(at, "evaluate"), state.W_EVAL_TAB, "Subgroups")
    assert any(m.label.startswith("MAE") for m in at.metric)
    at.selectbox(key=state.W_EVAL_SUBGROUP).select("sex").run()
    assert not at.exception, [e.value for e in at.exception]
    table = table_with(at, "bias")
    evaluated = at.session_state[state.EVALUATION][1]
    y, output = evaluated.observed, evaluated.output
    rows = split_rows_of(at)
    assert table["n"].sum() == len(rows) == len(y)
    for _, row in table.iterrows():
        mask = (rows["sex"] == row["sex"]).to_numpy()
        assert row["mae"] == pytest.approx(np.abs(output[mask] - y[mask]).mean())
    figure = charts(at)["evaluate.regression_subgroup_figure"]
    assert figure.data[0].name == "Mean absolute error"


def test_evaluate_multiclass_views():
    at = trained_briefly("toxicity.csv")
    goto(at, "evaluate")
    result = at.session_state[state.EVALUATION][1].evaluation
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Macro AUROC"]) == pytest.approx(result.macro_auroc.value, abs=1e-3)
    assert float(metrics["Weighted AUROC"]) == pytest.approx(result.weighted_auroc.value, abs=1e-3)
    assert list(charts(at)) == ["evaluate.confusion"]
    assert list(charts(open_tab(at, state.W_EVAL_TAB, "Calibration"))) == ["evaluate.calibration"]
    roc = charts(open_tab(at, state.W_EVAL_TAB, "ROC"))["evaluate.roc"]
    assert len(roc.data) >= len(result.classes)
    open_tab(at, state.W_EVAL_TAB, "Per class")
    assert list(table_with(at, "f1")["class"]) == [str(c) for c in result.classes]


def split_rows_of(at: AppTest) -> pd.DataFrame:
    """The patients of the model's internal validation (all of them, out of fold, for a
    cross-fitted model; its test split otherwise), as the core rebuilds them."""
    from medinn_core.train import held_out

    active = at.session_state[state.ACTIVE_MODEL]
    frame = at.session_state[state.DATASET].frame
    usable = frame[frame[active.model.schema.target].notna()]
    return held_out(active.model, usable, baselines=False).rows
