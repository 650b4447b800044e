"""The Data page on real-looking exports: the target picker suggests outcomes first, the event
is shown and chosen, each measurement's unit is shown with why and can be changed, number
columns that look like codes are proposed as categories, and the inputs after encoding are
counted as the model counts them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medinn_app import state
from medinn_core.config import TrainConfig

from .helpers import goto, texts, upload_frame


def _kidney(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Labels ckd / notckd, the disease the commoner one (as in the UCI export)."""
    rng = np.random.default_rng(seed)
    ckd = rng.random(n) < 0.6
    return pd.DataFrame(
        {
            "age": rng.integers(20, 90, n),
            "hemo": np.round(np.where(ckd, rng.normal(10, 2, n), rng.normal(15, 1.5, n)), 1),
            "htn": rng.choice(["yes", "no"], n),
            "classification": np.where(ckd, "ckd", "notckd"),
            "visit_note_code": rng.integers(100, 999, n),
        }
    )


def _si_units(n: int = 150, seed: int = 1) -> pd.DataFrame:
    """Cholesterol, glucose in mmol/L, creatinine in µmol/L, creatine kinase in U/L."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(40, 95, n),
            "cholesterol": np.round(rng.normal(5.2, 1.0, n).clip(2.5, 9), 2),
            "creatinine": np.round(rng.normal(90, 25, n).clip(40, 300)),
            "glucose": np.round(rng.normal(6.0, 1.5, n).clip(3, 20), 1),
            "creatinine_phosphokinase": rng.integers(30, 3000, n),
            "death_event": rng.permutation(np.arange(n) % 3 == 0).astype(int),
        }
    )


def _cleveland(n: int = 200, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(30, 80, n),
            "cp": rng.integers(1, 5, n),
            "thal": rng.choice([3, 6, 7], n),
            "ca": rng.integers(0, 4, n),
            "chol": rng.integers(150, 350, n),
            "num": rng.integers(0, 2, n),
        }
    )


# -- the target and the event ------------------------------------------------------------------
def test_the_target_picker_lists_likely_outcomes_first():
    at = upload_frame(_kidney(), "kidney.csv")
    options = at.selectbox(key=state.W_DATA_TARGET).options
    assert options[0] == "classification"  # named as an outcome, not in file order
    assert options[1] == "htn"  # two values
    assert sorted(options) == sorted(_kidney().columns)


def test_the_event_is_shown_and_the_user_chooses_it():
    at = upload_frame(_kidney(), "kidney.csv")
    at.selectbox(key=state.W_DATA_TARGET).select("classification").run()
    event = at.selectbox(key=state.W_DATA_EVENT)
    assert event.value == "ckd" and sorted(event.options) == ["ckd", "notckd"]
    assert "**Risk of ckd**" in texts(at.markdown)
    event.select("notckd").run()
    assert not at.exception
    assert at.session_state[state.SCHEMA].positive_class == "notckd"
    assert at.selectbox(key=state.W_DATA_EVENT).value == "notckd"
    assert "**Risk of notckd**" in texts(at.markdown)


def test_no_event_choice_for_a_target_with_more_than_two_outcomes():
    at = upload_frame(_cleveland().assign(num=np.arange(200) % 3), "three.csv")
    at.selectbox(key=state.W_DATA_TARGET).select("num").run()
    assert at.selectbox(key=state.W_DATA_TASK).value == "multiclass"
    assert state.W_DATA_EVENT not in [s.key for s in at.selectbox]


# -- units -------------------------------------------------------------------------------------
def test_si_units_are_recognised_shown_and_raise_no_warning():
    at = upload_frame(_si_units(), "heart_failure_si.csv")
    at.selectbox(key=state.W_DATA_TARGET).select("death_event").run()
    assert not at.error and not at.exception
    assert not any("unit" in w or "plausible" in w for w in texts(at.warning)), texts(at.warning)
    assert at.selectbox(key=f"{state.W_DATA_UNIT}.cholesterol").value == "mmol/L"
    assert at.selectbox(key=f"{state.W_DATA_UNIT}.glucose").value == "mmol/L"
    assert at.selectbox(key=f"{state.W_DATA_UNIT}.creatinine").value == "µmol/L"
    reasons = " ".join(texts(at.caption))
    assert "mmol/L: most values" in reasons and "µmol/L: most values" in reasons
    assert "creatinine_phosphokinase (U/L)" in reasons  # an enzyme, not creatinine
    schema = at.session_state[state.SCHEMA]
    assert schema.column("creatinine_phosphokinase").measure != "creatinine"
    table = at.data_editor[0].value.set_index("column")
    assert table.loc["cholesterol", "unit"] == "mmol/L"
    goto(at, "train")  # and the Train page, which checks the data again, agrees
    assert not at.error and not at.exception
    assert not any("unit" in w or "plausible" in w for w in texts(at.warning)), texts(at.warning)
    assert at.form_submit_button(key=state.W_TRAIN_SUBMIT) is not None


def test_changing_a_unit_moves_the_plausible_range():
    at = upload_frame(_si_units(), "heart_failure_si.csv")
    at.selectbox(key=state.W_DATA_TARGET).select("death_event").run()
    at.selectbox(key=f"{state.W_DATA_UNIT}.cholesterol").select("mg/dL").run()
    assert not at.exception
    col = at.session_state[state.SCHEMA].column("cholesterol")
    assert col.unit == "mg/dL" and col.unit_reason == "chosen by the user"
    assert at.selectbox(key=f"{state.W_DATA_UNIT}.cholesterol").value == "mg/dL"
    # values of 2.5-9 are implausible in mg/dL: now validation says so, and names the unit
    assert any("cholesterol" in w and "mmol/L" in w for w in texts(at.warning)), texts(at.warning)


# -- codes -------------------------------------------------------------------------------------
def test_code_like_numbers_are_proposed_as_categories_and_the_user_decides():
    at = upload_frame(_cleveland(), "cleveland.csv")
    codes = at.multiselect(key=state.W_DATA_CODES)
    assert set(codes.options) == {"cp", "thal"}  # ca counts vessels: an amount
    assert codes.value == []
    captions = " ".join(texts(at.caption))
    assert "**thal**: 3 whole numbers with gaps (3, 6, 7)" in captions
    codes.select("cp").run()
    assert not at.exception
    schema = at.session_state[state.SCHEMA]
    assert schema.column("cp").kind == "categorical" and schema.column("thal").kind == "numeric"
    assert at.multiselect(key=state.W_DATA_CODES).value == ["cp"]
    at.multiselect(key=state.W_DATA_CODES).unselect("cp").run()
    assert at.session_state[state.SCHEMA].column("cp").kind == "numeric"


# -- inputs after encoding ---------------------------------------------------------------------
@pytest.mark.parametrize("codes", [(), ("cp", "thal")])
def test_the_inputs_after_encoding_are_the_models(codes):
    from medinn_core.train import train_model

    frame = _cleveland()
    frame.loc[frame.index % 7 == 0, "chol"] = np.nan  # a missing indicator
    at = upload_frame(frame, "cleveland.csv")
    at.selectbox(key=state.W_DATA_TARGET).select("num").run()
    if codes:
        at.multiselect(key=state.W_DATA_CODES).set_value(list(codes)).run()
    schema = at.session_state[state.SCHEMA]
    result = train_model(frame, schema, TrainConfig(hidden_units=(4,), epochs=1))
    shown = next(c for c in texts(at.caption) if "inputs after encoding" in c)
    assert f", {result.model.n_inputs} inputs after encoding" in shown, shown


# -- the model's default name ------------------------------------------------------------------
def test_a_new_model_is_named_after_the_data_set_not_the_target():
    from medinn_core.train import train_model

    frame = _kidney()
    at = upload_frame(frame, "kidney disease (UCI).csv")
    at.selectbox(key=state.W_DATA_TARGET).select("classification").run()
    schema = at.session_state[state.SCHEMA]
    at.session_state[state.TRAIN_RESULT] = train_model(
        frame, schema, TrainConfig(hidden_units=(4,), epochs=1)
    )
    goto(at, "train")
    assert not at.error, texts(at.error)
    name = at.text_input(key=state.W_SAVE_NAME).value
    assert name.startswith("kidney-disease-UCI-2"), name
    assert "classification" not in name
