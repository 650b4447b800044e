"""Tests of medinn_core.units: names matched as whole terms, units read from the values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medinn_core import units
from medinn_core.schema import Kind, infer_schema
from medinn_core.validate import validate


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("serum_creatinine", "creatinine"),
        ("Creatinine (mg/dL)", "creatinine"),
        ("creatinine_phosphokinase", "creatine_kinase"),  # an enzyme, not creatinine
        ("CreatinineClearance", None),
        ("chol", "cholesterol"),
        ("HDL_cholesterol", "hdl"),
        ("cholesterol_hdl_ratio", None),
        ("Glucose", "glucose"),
        ("fasting_blood_sugar", None),  # Cleveland's yes/no above 120 mg/dL
        ("urine_glucose", None),
        ("BloodPressure", "diastolic"),
        ("resting_BP", "systolic"),
        ("sysBP", "systolic"),  # Framingham: not the diastolic "bp"
        ("diaBP", "diastolic"),
        ("max_HR", "heart_rate"),
        ("ca", None),  # Cleveland's count of vessels, not calcium
        ("Albumin_and_Globulin_Ratio", None),
        ("Alkaline_Phosphotase", "liver_enzyme"),
        ("hemo", "haemoglobin"),
        ("HbA1c", "hba1c"),
        ("DiabetesPedigreeFunction", None),
        ("chest_pain_type", None),
        ("time", None),
    ],
)
def test_names_match_whole_clinical_terms(name, key):
    found = units.match(name)
    assert (found.key if found else None) == key


def test_every_range_converts_between_the_units_of_its_measurement():
    for measure in units.MEASURES:
        for unit in measure.units:
            low, high = measure.range_in(unit)
            assert 0 <= low < high, (measure.key, unit)
            back = units.convert(low, unit, measure.units[0], measure)
            assert back == pytest.approx(measure.plausible[0], rel=1e-9), (measure.key, unit)


def test_conversions_agree_with_clinical_factors():
    # the factors printed in laboratory handbooks, to three digits
    glucose, cholesterol, creatinine = (
        units.measure(k) for k in ("glucose", "cholesterol", "creatinine")
    )
    assert units.convert(100, "mg/dL", "mmol/L", glucose) == pytest.approx(5.55, abs=0.01)
    assert units.convert(200, "mg/dL", "mmol/L", cholesterol) == pytest.approx(5.17, abs=0.01)
    assert units.convert(1, "mg/dL", "µmol/L", creatinine) == pytest.approx(88.4, abs=0.1)
    assert units.convert(14, "g/dL", "g/L") == pytest.approx(140)
    assert units.convert(98.6, "°F", "°C") == pytest.approx(37.0)
    with pytest.raises(ValueError, match="does not convert"):
        units.convert(1, "mg/dL", "mmol/L")  # no molar mass given


@pytest.mark.parametrize(
    ("key", "mean", "sd", "expected"),
    [
        ("cholesterol", 5.2, 1.1, "mmol/L"),
        ("cholesterol", 210, 40, "mg/dL"),
        ("creatinine", 90, 30, "µmol/L"),
        ("creatinine", 1.1, 0.4, "mg/dL"),
        ("glucose", 6.0, 1.5, "mmol/L"),
        ("glucose", 120, 30, "mg/dL"),
        ("haemoglobin", 135, 15, "g/L"),
        ("temperature", 98.4, 1.0, "°F"),
        ("height", 1.70, 0.1, "m"),
    ],
)
def test_the_unit_is_read_from_the_values(key, mean, sd, expected):
    values = np.random.default_rng(7).normal(mean, sd, 500)
    choice = units.choose_unit(units.measure(key), key, values)
    assert choice.unit == expected
    assert expected in choice.reason
    assert expected not in choice.alternatives


def test_a_unit_in_the_name_decides_and_no_values_assume_the_conventional_one():
    glucose = units.measure("glucose")
    assert units.choose_unit(glucose, "glucose_mmol", [150, 160]).unit == "mmol/L"
    empty = units.choose_unit(glucose, "glucose", [])
    assert empty.unit == "mg/dL" and empty.alternatives == ("mmol/L",)


def test_values_that_fit_another_unit_are_told_apart_from_wrong_values():
    cholesterol = units.measure("cholesterol")
    si = np.random.default_rng(3).normal(5.2, 1.1, 2833)
    assert units.unit_fitting(cholesterol, si, but="mg/dL") == "mmol/L"
    wrong = [180, 220, 5000, 9000]  # not plausible in either unit
    assert units.unit_fitting(cholesterol, wrong, but="mg/dL") is None


# -- in the schema and the validation ------------------------------------------------------------
def _si_cohort(n: int = 600, seed: int = 5) -> pd.DataFrame:
    """Patients recorded in SI units, as in most of the world."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(25, 90, n),
            "cholesterol": np.round(rng.lognormal(np.log(5.2), 0.18, n), 2),
            "creatinine": np.round(rng.lognormal(np.log(85), 0.3, n)),
            "glucose": np.round(rng.lognormal(np.log(6.0), 0.25, n), 1),
            "creatinine_phosphokinase": np.round(rng.lognormal(np.log(250), 1.0, n)),
            "chest_pain_type": rng.integers(1, 5, n),
            "thal": rng.choice([3, 6, 7], n),
            "event": rng.integers(0, 2, n),
        }
    )


def test_si_units_are_recognised_and_raise_no_unit_warning():
    frame = _si_cohort()
    schema = infer_schema(frame, "event")
    recognised = {c.name: c.unit for c in schema.columns if c.unit}
    assert recognised == {
        "age": "y",
        "cholesterol": "mmol/L",
        "creatinine": "µmol/L",
        "glucose": "mmol/L",
        "creatinine_phosphokinase": "U/L",  # an enzyme: no creatinine unit
    }
    assert "typical in mmol/L" in schema.column("cholesterol").unit_reason
    codes = {w.code for w in validate(frame, schema).warnings}
    assert not codes & {"out_of_range", "unit_mismatch"}


def test_a_wrong_unit_is_named_as_such_not_blamed_on_the_values():
    frame = _si_cohort()
    schema = infer_schema(frame, "event").with_column("cholesterol", unit="mg/dL")
    assert (schema.column("cholesterol").valid_min, schema.column("cholesterol").valid_max) == (
        50,
        1000,
    )
    warning = next(w for w in validate(frame, schema).warnings if w.column == "cholesterol")
    assert warning.code == "unit_mismatch"
    assert "probably in mmol/L" in warning.message and "correct" not in warning.message
    unknown = schema.with_column("glucose", unit="mg%")
    assert unknown.column("glucose").valid_min is None  # no range checked in an unknown unit
    assert "does not know this unit" in unknown.column("glucose").unit_reason


def test_few_whole_numbers_are_proposed_as_categories_with_the_reason():
    schema = infer_schema(_si_cohort(), "event")
    assert "with gaps (3, 6, 7)" in schema.column("thal").code_hint
    assert "(1, 2, 3, 4)" in schema.column("chest_pain_type").code_hint
    assert schema.column("thal").kind == Kind.NUMERIC  # proposed, not imposed
    assert schema.column("age").code_hint == ""
    counts = pd.DataFrame({"n_children": [0, 1, 2, 3, 1, 2] * 5, "y": [0, 1] * 15})
    assert infer_schema(counts, "y").column("n_children").code_hint == ""  # an amount
