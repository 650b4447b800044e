"""The bad-input corpus (tests/data/bad) uploaded through the app: an ``st.error`` that names the
file or column and the fix, no exception, and the data and model loaded before stay loaded."""

from __future__ import annotations

import re
import tomllib

import pytest
from streamlit.testing.v1 import AppTest

from medinn_app import loaders, state
from medinn_core.io import DEFAULT_MAX_BYTES

from ..conftest import ROOT
from ..data.bad.make_bad import BY_NAME, CASES
from .helpers import goto, load_sample, new_app, texts

# A browser refuses files over server.maxUploadSize before the app sees them (see the last test).
UPLOADED = [c for c in CASES if c.build is not None]
READ_ERRORS = [pytest.param(c, id=c.name) for c in UPLOADED if c.stage == "read" and c.outcome == "error"]  # fmt: skip
TRAIN_FINDINGS = [pytest.param(c, id=c.name) for c in CASES if c.stage == "train" and not c.include]


def upload(at: AppTest, case, content: bytes, key: str = state.W_DATA_UPLOAD) -> AppTest:
    at.file_uploader(key=key).set_value((case.name, content, "text/csv"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(scope="module")
def session() -> AppTest:
    """One browser session with the sample cardiology data loaded, on the upload tab."""
    at = load_sample(new_app())
    at.radio(key=state.W_DATA_SOURCE).set_value("Upload a file").run()
    assert not at.exception
    return at


@pytest.mark.parametrize("case", READ_ERRORS)
def test_a_refused_upload_keeps_the_data_loaded_before(case, session, bad_files, medinn_home):
    before = session.session_state[state.DATASET]
    schema = session.session_state[state.SCHEMA]
    upload(session, case, bad_files[case.name].read_bytes())
    errors = [e for e in texts(session.error) if re.search(case.match, e)]
    assert errors, texts(session.error)
    assert f"Still using '{before.name}'" in errors[0]
    assert session.session_state[state.DATASET] is before
    assert session.session_state[state.SCHEMA] is schema
    # the session goes on: the page still shows the data loaded before, with its target
    assert before.name in texts(session.subheader)
    assert session.selectbox(key=state.W_DATA_TARGET).value == "mace_1y"
    assert session.data_editor
    assert not list(medinn_home.glob("models/*"))  # nothing written to the registry


def test_the_first_upload_refused_shows_only_the_error(bad_files):
    at = goto(new_app(), "data")
    at.radio(key=state.W_DATA_SOURCE).set_value("Upload a file").run()
    upload(at, BY_NAME["report.pdf.csv"], bad_files["report.pdf.csv"].read_bytes())
    assert any("'report.pdf.csv' is a PDF document" in e for e in texts(at.error))
    assert state.DATASET not in at.session_state
    assert not at.data_editor


@pytest.mark.parametrize("case", TRAIN_FINDINGS)
def test_choosing_the_target_shows_what_stops_or_worries_training(case, session, bad_files):
    upload(session, case, bad_files[case.name].read_bytes())
    assert session.session_state[state.DATASET].name == case.name
    session.selectbox(key=state.W_DATA_TARGET).select(case.target).run()
    assert not session.exception, [e.value for e in session.exception]
    shown = texts(session.error if case.outcome == "error" else session.warning)
    assert any(re.search(case.match, m) for m in shown), shown
    if case.outcome == "warning":
        assert not session.error


def test_an_empty_column_is_shown_as_left_out(session, bad_files):
    case = BY_NAME["feature_all_missing.csv"]
    upload(session, case, bad_files[case.name].read_bytes())
    columns = session.data_editor[0].value.set_index("column")
    assert not columns.loc["lactate", "include"]
    assert columns.loc["lactate", "reason"] == "every value is missing"


def test_the_browser_refuses_what_the_reader_would(bad_files):
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 1024 * 1024 <= DEFAULT_MAX_BYTES
    assert bad_files["huge_2gb.csv"].stat().st_size > DEFAULT_MAX_BYTES


# -- Predict: the model stays loaded --------------------------------------------------------------
@pytest.fixture(scope="module")
def predicting(saved_binary) -> AppTest:
    """A session with the saved cardiology model active, on Predict's upload tab."""
    at = new_app()
    at.session_state[state.ACTIVE_MODEL] = loaders.load_model(saved_binary)
    goto(at, "predict")
    at.radio(key=state.W_PREDICT_SOURCE).set_value("upload").run()
    assert not at.exception
    return at


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("model_mismatch.csv", r"lacks 2 column\(s\) the model needs: 'age', 'systolic_bp'"),
        ("report.pdf.csv", r"'report\.pdf\.csv' is a PDF document.*Export"),
        ("ragged_rows.csv", r"'ragged_rows\.csv' has rows with more values"),
    ],
)
def test_patients_the_model_cannot_score_keep_the_model(name, expected, predicting, bad_files):
    active = predicting.session_state[state.ACTIVE_MODEL]
    upload(predicting, BY_NAME[name], bad_files[name].read_bytes(), state.W_PREDICT_UPLOAD)
    assert any(re.search(expected, e) for e in texts(predicting.error)), texts(predicting.error)
    assert predicting.session_state[state.ACTIVE_MODEL] is active
