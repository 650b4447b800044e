import pandas as pd
import pytest

from medinn_core.errors import SchemaError
from medinn_core.io import read_table
from medinn_core.schema import (
    Kind,
    Schema,
    Task,
    detect_task,
    infer_column,
    infer_schema,
    numeric_view,
)

from ..conftest import SAMPLES


def kinds(schema):
    return {c.name: c.kind for c in schema.columns}


def test_breast_cancer_sample():
    df = read_table(SAMPLES / "breast_cancer.csv")
    s = infer_schema(df, "diagnosis")
    assert s.task == Task.BINARY
    assert s.classes == ("benign", "malignant")
    assert s.id_column == "id"
    assert len(s.features) == 30
    assert all(c.kind == Kind.NUMERIC for c in s.features)


def test_cardiology_sample():
    df = read_table(SAMPLES / "cardiology.csv")
    s = infer_schema(df, "mace_1y")
    k = kinds(s)
    assert s.task == Task.BINARY and s.positive_class == "1"
    assert s.id_column == "patient_id" and k["patient_id"] == Kind.IDENTIFIER
    assert k["sex"] == Kind.BINARY and k["smoking"] == Kind.CATEGORICAL
    assert k["age"] == Kind.NUMERIC and s.column("age").unit == "y"
    assert s.column("systolic_bp").unit == "mmHg" and s.column("bmi").nonzero
    assert "patient_id" not in s.feature_names and "mace_1y" not in s.feature_names


def test_drug_response_is_regression():
    df = read_table(SAMPLES / "drug_response.csv")
    s = infer_schema(df, "stable_dose_mg_week")
    assert s.task == Task.REGRESSION and s.classes == ()
    assert kinds(s)["cyp2c9"] == Kind.CATEGORICAL


def test_toxicity_is_multiclass():
    df = read_table(SAMPLES / "toxicity.csv")
    s = infer_schema(df, "toxicity_grade")
    assert s.task == Task.MULTICLASS
    assert set(s.classes) == {"none", "mild", "severe"}


def test_messy_export_reads_into_the_same_schema():
    messy = infer_schema(read_table(SAMPLES / "messy_export.csv"))
    clean = infer_schema(read_table(SAMPLES / "cardiology.csv"))
    assert kinds(messy)["smoking"] == kinds(clean)["smoking"] == Kind.CATEGORICAL
    assert set(messy.column("smoking").categories) == {"never", "former", "current"}


def test_personal_data_and_useless_columns_are_excluded_with_a_reason():
    df = pd.DataFrame(
        {
            "patient_name": [f"Name {i}" for i in range(30)],
            "date_of_birth": [f"19{50 + i}-01-0{1 + i % 9}" for i in range(30)],
            "contact": [f"p{i}@example.org" for i in range(30)],
            "phone": [f"+44 20 7946 {1000 + i}" for i in range(30)],
            "home_address": [f"{i} High Street" for i in range(30)],
            "admitted": [f"2024-03-{1 + i % 28:02d}" for i in range(30)],
            "ward": ["A"] * 30,
            "empty": [None] * 30,
            "notes": [f"patient reports pain in area {i} since visit" for i in range(30)],
            "code": [f"X{i:05d}" for i in range(30)],
            "age": list(range(40, 70)),
        }
    )
    s = infer_schema(df)
    reasons = {c.name: c.reason for c in s.columns}
    assert s.feature_names == ("age",)
    assert "name" in reasons["patient_name"]
    assert "date of birth" in reasons["date_of_birth"]
    assert "e-mail" in reasons["contact"]
    assert "phone" in reasons["phone"]
    assert "address" in reasons["home_address"]
    assert "date" in reasons["admitted"]
    assert "constant" in reasons["ward"]
    assert "missing" in reasons["empty"]
    assert "free text" in reasons["notes"]
    assert kinds(s)["code"] == Kind.IDENTIFIER


def test_user_overrides_kind_and_exclusion():
    df = read_table(SAMPLES / "cardiology.csv")
    s = infer_schema(df, "mace_1y")
    s2 = s.with_column("site", excluded=True, reason="site is not known at prediction")
    assert "site" not in s2.feature_names and "site" in s.feature_names
    s3 = s2.with_column("diabetes", kind="categorical")
    assert s3.column("diabetes").kind == Kind.CATEGORICAL
    with pytest.raises(SchemaError, match="'diabetes'.*unknown kind 'banana'"):
        s.with_column("diabetes", kind="banana")
    with pytest.raises(SchemaError, match="'nope' is not in the data"):
        s.with_column("nope", excluded=True)


def test_edits_from_the_schema_table():
    df = read_table(SAMPLES / "cardiology.csv")
    s = infer_schema(df, "mace_1y")
    edited = s.with_edits(
        {
            "blood_group": {"include": False, "column": "ignored", "reason": "ignored"},
            "bmi": {"unit": "kg/m²"},
            "site": {"kind": "identifier", "include": True},
        }
    )
    assert "blood_group" not in edited.feature_names
    assert edited.column("blood_group").reason == "excluded by the user"
    assert edited.column("bmi").unit == "kg/m²"
    assert edited.id_column == "site" and "site" not in edited.feature_names
    assert edited.column("patient_id").kind == Kind.IGNORED  # the old identifier
    back = edited.with_edits({"blood_group": {"include": True}})
    assert "blood_group" in back.feature_names and back.column("blood_group").reason == ""
    assert s.with_edits({}) == s


@pytest.mark.parametrize(
    ("edits", "match"),
    [
        ({"mace_1y": {"include": True}}, "'mace_1y' is the target: it cannot also be an input"),
        ({"patient_id": {"include": True}}, "'patient_id' is of kind 'identifier', which is never"),
        ({"bmi": {"kind": "ignored", "include": True}}, "'bmi' is of kind 'ignored'"),
        ({"bmi": {"kind": "banana", "include": True}}, "'bmi': unknown kind 'banana'"),
        ({"nope": {"unit": "mg"}}, "'nope' is not in the data"),
    ],
)
def test_edits_that_are_not_allowed_are_refused(edits, match):
    s = infer_schema(read_table(SAMPLES / "cardiology.csv"), "mace_1y")
    with pytest.raises(SchemaError, match=match):
        s.with_edits({"age": {"unit": "years"}, **edits})


def test_json_round_trip():
    df = read_table(SAMPLES / "cardiology.csv")
    s = infer_schema(df, "mace_1y").with_column("bmi", unit="kg/m2", description="BMI")
    again = Schema.from_json(s.to_json())
    assert again == s
    with pytest.raises(SchemaError, match="not valid JSON"):
        Schema.from_json("{nope")
    with pytest.raises(SchemaError, match="newer medinn"):
        Schema.from_dict({**s.to_dict(), "version": 99})


def test_task_detection_and_refusals():
    assert detect_task(pd.Series(["yes", "no"] * 10)) == Task.BINARY
    assert detect_task(pd.Series([0, 1, 2] * 20)) == Task.MULTICLASS
    assert detect_task(pd.Series([1.5, 2.25, 3.0, 4.1] * 10)) == Task.REGRESSION
    with pytest.raises(SchemaError, match="'outcome'.*single value"):
        detect_task(pd.Series(["a"] * 10), "outcome")
    with pytest.raises(SchemaError, match="'outcome'.*every row is missing"):
        detect_task(pd.Series([None] * 10, dtype=float), "outcome")
    with pytest.raises(SchemaError, match="'outcome' has 500 distinct text values"):
        detect_task(pd.Series([f"class {i}" for i in range(500)]), "outcome")


def test_positive_class_is_the_event():
    df = pd.DataFrame({"x": range(40), "y": ["No"] * 30 + ["Yes"] * 10})
    assert infer_schema(df, "y").classes == ("No", "Yes")
    df = pd.DataFrame({"x": range(40), "y": ["common"] * 30 + ["rare"] * 10})
    assert infer_schema(df, "y").positive_class == "rare"
    df = pd.DataFrame({"x": range(40), "y": [0.0] * 30 + [1.0] * 10})
    assert infer_schema(df, "y").classes == ("0", "1")


@pytest.mark.parametrize("name", ["cardiology_holdout.csv", "new_patients.csv"])
def test_other_cardiology_files_infer_the_same_feature_kinds(name):
    reference = infer_schema(read_table(SAMPLES / "cardiology.csv"), "mace_1y")
    other = infer_schema(read_table(SAMPLES / name))
    for col in reference.features:
        assert other.column(col.name).kind == col.kind, col.name
    assert other.id_column == "patient_id"


@pytest.mark.parametrize("share", [0.0, 0.5, 0.88, 0.9, 0.95, 1.0])
def test_a_text_column_is_numeric_when_nine_in_ten_values_are_numbers(share):
    # Text columns where too few values could be numbers are rejected before parsing them all:
    # the kind must be the one that parsing every value gives.
    n = 200
    numbers = round(share * n)
    values = [f"{v / 10:.1f}" for v in range(numbers)] + ["high", "n/d", "Inf", "x1"] * n
    series = pd.Series(values[:n], dtype="str").sample(frac=1, random_state=0)
    expected = float(numeric_view(series).notna().mean()) >= 0.9
    assert (infer_column(series, "value").kind == Kind.NUMERIC) == expected
