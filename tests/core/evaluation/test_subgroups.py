"""Which columns patients are split by, and each patient's group: small literal frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medinn_core.errors import DataError
from medinn_core.evaluation import MAX_LEVELS_AS_IS, subgroup_columns, subgroup_values
from medinn_core.schema import infer_schema


def test_categories_stay_as_they_are_on_a_fresh_index():
    frame = pd.DataFrame({"sex": ["female", None, "male", "female"]}, index=[7, 3, 9, 1])
    groups = subgroup_values(frame, "sex")
    assert list(groups.index) == [0, 1, 2, 3]
    assert groups.name == "sex"
    assert groups[0] == "female" and pd.isna(groups[1]) and groups[2] == "male"


def test_few_valued_numbers_stay_as_they_are():
    values = list(range(MAX_LEVELS_AS_IS)) * 2
    groups = subgroup_values(pd.DataFrame({"stage": values}), "stage")
    assert list(groups) == values and groups.name == "stage"


def test_many_valued_numbers_are_cut_at_their_rounded_quartiles():
    ages = pd.DataFrame({"age": [30, 35, 41, 44, 52, 58, 63, 67, 71, 80, np.nan]})
    groups = subgroup_values(ages, "age")
    quartiles = ages["age"].quantile([0.25, 0.5, 0.75]).round(1)  # spread 50: 1 decimal
    assert groups.name == "age band"
    assert list(groups.cat.categories) == [
        f"<{quartiles.iloc[0]:g}",
        f"{quartiles.iloc[0]:g} to <{quartiles.iloc[1]:g}",
        f"{quartiles.iloc[1]:g} to <{quartiles.iloc[2]:g}",
        f"≥{quartiles.iloc[2]:g}",
    ]
    assert groups.isna().sum() == 1  # missing stays missing
    assert groups.value_counts().min() >= 2  # every band holds patients


def test_numbers_written_as_text_are_banded_too():
    frame = pd.DataFrame({"bmi": [str(v) for v in np.linspace(18.0, 40.0, 12)]})
    assert subgroup_values(frame, "bmi").name == "bmi band"


def test_an_unknown_column_is_named():
    with pytest.raises(DataError, match="'weight' is not in the data"):
        subgroup_values(pd.DataFrame({"age": [1, 2]}), "weight")


def test_subgroup_columns_put_the_inputs_first_and_never_the_target_or_the_id():
    frame = pd.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(8)],
            "site": ["a", "b"] * 4,
            "age": [40, 50, 60, 70, 45, 55, 65, 75],
            "sex": ["female", "male"] * 4,
            "event": [0, 1] * 4,
        }
    )
    schema = infer_schema(frame, "event", id_column="patient_id").with_column(
        "site", excluded=True, reason="not a predictor"
    )
    assert subgroup_columns(schema, frame) == ["age", "sex", "site"]
    assert subgroup_columns(schema, frame.drop(columns="sex")) == ["age", "site"]


def test_subgroup_columns_never_offer_a_signals_samples():
    rng = np.random.default_rng(0)
    trace = rng.normal(size=(30, 16)).cumsum(axis=1)  # related neighbours, as a real trace
    frame = pd.DataFrame(trace, columns=[f"ecg_{i:02d}" for i in range(16)])
    frame["sex"] = ["female", "male"] * 15
    frame["event"] = [0, 1, 1] * 10
    schema = infer_schema(frame, "event")
    assert [g.name for g in schema.signals] == ["ecg"]
    assert subgroup_columns(schema, frame) == ["sex"]
    flat = schema.without_signal("ecg")
    assert subgroup_columns(flat, frame) == [*(f"ecg_{i:02d}" for i in range(16)), "sex"]
