"""Tests of medinn_core.predict: scoring a table of patients, bands and decisions at a
threshold, who is unusual and why."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medinn_core.errors import DataError, ModelError, SchemaError
from medinn_core.explain import format_number
from medinn_core.io import bundle_from_result
from medinn_core.predict import (
    check_columns,
    combine_checks,
    predicted_positive,
    risk_bands,
    score_frame,
    score_patients,
    unusual_values,
)
from medinn_core.synthetic import make_cardiology_cohort, make_drug_response, make_toxicity_cohort

TABLE = [
    "patient",
    "risk (%)",
    "range (%)",
    "band",
    "prediction",
    "uncertain",
    "unusual",
    "unusual in",
]


@pytest.fixture(scope="module")
def binary(binary_result):
    return bundle_from_result(binary_result, "cardio")


@pytest.fixture(scope="module")
def patients(binary):
    """Twelve patients like those of training but three: one too old, one vaping (a category
    never seen), one both."""
    df = make_cardiology_cohort(60, seed=21).drop(columns="mace_1y")
    usual = ~check_columns(df, binary.model).unusual()
    df = df[usual].head(12).reset_index(drop=True)
    df.loc[2, "age"] = 140
    df.loc[5, "smoking"] = "vaping"
    df.loc[7, ["age", "smoking"]] = [150, "vaping"]
    df["note"] = "free text"  # not a model column
    return df


@pytest.fixture(scope="module")
def scored(binary, patients):
    return score_patients(binary, patients)


# -- the rule -----------------------------------------------------------------------------------
def test_bands_and_decisions_follow_the_threshold_rule():
    risk = pd.Series([0.1, 0.2, 0.25, 0.4, 0.9], index=list("abcde"))
    assert risk_bands(risk, 0.4).tolist() == ["low", "intermediate", "intermediate", "high", "high"]
    assert risk_bands(risk, 0.4).index.tolist() == list("abcde")
    assert predicted_positive(risk, 0.4).tolist() == [False, False, False, True, True]


def test_bands_and_decisions_at_a_threshold(scored):
    risk = scored.outputs["risk"]
    threshold = float(risk.iloc[3])  # a patient exactly at the threshold
    bands, decisions = scored.bands(threshold), scored.decisions(threshold)
    assert bands.iloc[3] == "high" and decisions.iloc[3] == scored.classes[1]
    assert (bands[risk >= threshold] == "high").all()
    assert (bands[(risk >= threshold / 2) & (risk < threshold)] == "intermediate").all()
    assert (bands[risk < threshold / 2] == "low").all()
    assert (decisions == np.where(risk >= threshold, scored.classes[1], scored.classes[0])).all()


# -- the same numbers as score_frame ------------------------------------------------------------
def test_scores_are_score_frames_numbers(scored, binary, patients):
    frame = score_frame(binary.model, patients, fixed_shape=True)
    pd.testing.assert_frame_equal(scored.outputs, frame.drop(columns="patient_id"))
    pd.testing.assert_series_equal(
        scored.decisions(binary.model.threshold_), frame["prediction"], check_names=False
    )
    assert scored.patients.tolist() == patients["patient_id"].tolist()
    assert scored.outputs["risk"].between(0, 1).all()


@pytest.mark.parametrize(
    ("result", "cohort"),
    [("multiclass_result", make_toxicity_cohort), ("regression_result", make_drug_response)],
)
def test_other_tasks_keep_their_columns(request, result, cohort):
    bundle = bundle_from_result(request.getfixturevalue(result), "other")
    columns = ["patient"] + [f"p_{c}" for c in bundle.model.classes_]  # none for regression
    df = cohort(15, seed=9)
    scoring = score_patients(bundle, df)
    frame = score_frame(bundle.model, df, fixed_shape=True)
    pd.testing.assert_frame_equal(
        scoring.outputs, frame.drop(columns=[bundle.schema.id_column], errors="ignore")
    )
    table = scoring.table()
    assert list(table.columns)[: len(columns)] == columns
    assert list(table.columns)[-2:] == ["unusual", "unusual in"]
    uncertainty = ["prediction_set"] if columns[1:] else ["lower", "upper"]
    assert list(table.columns)[len(columns) : -2] == ["prediction", *uncertainty]
    assert table.index.tolist() == df.index.tolist()  # the table's order
    with pytest.raises(ModelError, match="binary models"):
        scoring.bands(0.5)


def test_shuffled_columns_give_the_same_result(binary, patients, scored):
    shuffled = patients[list(reversed(patients.columns))]
    again = score_patients(binary, shuffled)
    pd.testing.assert_frame_equal(again.table(0.3), scored.table(0.3))
    assert again.unusual_message == scored.unusual_message


# -- the table a clinician reads ----------------------------------------------------------------
def test_the_table_is_sorted_by_risk_with_bands_at_the_threshold(scored, patients):
    table = scored.table(0.3)
    assert list(table.columns) == TABLE
    assert table["risk (%)"].is_monotonic_decreasing
    assert sorted(table.index) == list(patients.index)
    assert (table.loc[table["risk (%)"] >= 30, "band"] == "high").all()
    assert (table.loc[table["risk (%)"] >= 30, "prediction"] == scored.classes[1]).all()
    assert (table.loc[table["risk (%)"] < 30, "prediction"] == scored.classes[0]).all()
    assert table.index.tolist() == patients.index[scored.order].tolist()


def test_patients_without_an_identifier_are_named_by_their_spreadsheet_row(binary, patients):
    scoring = score_patients(binary, patients.drop(columns="patient_id"))
    assert scoring.patients.tolist() == [f"row {i}" for i in range(2, 14)]


# -- unusual patients ---------------------------------------------------------------------------
def test_unusual_by_range_and_by_unseen_category_with_reasons(scored):
    assert scored.unusual[scored.unusual].index.tolist() == [2, 5, 7]
    assert scored.unusual_in[[2, 5, 7]].tolist() == ["age", "smoking", "age, smoking"]
    assert scored.unusual_in.drop([2, 5, 7]).eq("").all()
    assert scored.unusual_message.startswith("Some patients are unlike the training data")
    assert "patients per column: age (2)." in scored.unusual_message
    assert "Column 'smoking' has categories not seen in training: vaping." in (
        scored.unusual_message
    )
    assert scored.ignored_message == "Columns the model does not use (ignored): note."


def test_the_column_check_reads_ranges_and_categories(binary, patients):
    check = check_columns(patients, binary.model)
    assert check.unusual()[check.unusual()].index.tolist() == [2, 5, 7]
    assert check.unseen == {"smoking": ("vaping",)}
    assert check.unseen_rows["smoking"].tolist() == [i in (5, 7) for i in range(12)]


def test_chunk_checks_flag_the_same_patients_as_the_whole(binary, patients):
    whole = check_columns(patients, binary.model)
    chunks = [check_columns(patients.iloc[i : i + 4], binary.model) for i in (0, 4, 8)]
    combined = combine_checks(chunks, binary.model)
    assert combined.messages() == whole.messages()
    pd.testing.assert_series_equal(combined.unusual(), whole.unusual())
    pd.testing.assert_series_equal(combined.unusual_in(), whole.unusual_in())


def test_a_usual_table_says_nothing(binary):
    scoring = score_patients(binary, make_cardiology_cohort(8, seed=3).iloc[:0])
    assert scoring.unusual_message == "" and scoring.ignored_message == ""
    assert len(scoring.table(0.5)) == 0


def test_one_unusual_patient_is_described_value_by_value(binary, patients):
    low, high = binary.model.preprocessor_.training_range("age")
    reasons = unusual_values(binary, patients.loc[[7]])
    assert reasons == [
        f"age = 150 y lies outside the training range ({format_number(low)} to "
        f"{format_number(high)} y)",
        "smoking = vaping was never seen in training",
    ]
    assert unusual_values(binary, patients.loc[[0]]) == []
    with pytest.raises(DataError, match="one patient: got a table of 2 rows"):
        unusual_values(binary, patients.loc[[0, 1]])


# -- columns the model needs --------------------------------------------------------------------
def test_missing_columns_raise_the_one_message(binary, patients):
    with pytest.raises(
        SchemaError,
        match=r"^'mine\.csv' lacks 2 column\(s\) the model needs: 'age', 'smoking'\. Add them",
    ):
        score_patients(binary, patients.drop(columns=["smoking", "age"]), source="'mine.csv'")
