import json

import numpy as np
import pandas as pd
import pytest

from medinn_core.errors import ModelError, SchemaError
from medinn_core.preprocess import OTHER_LEVEL, Preprocessor
from medinn_core.schema import infer_schema


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame(
        {
            "age": rng.normal(60, 10, n).round(1),
            "glucose": rng.normal(110, 20, n).round(),
            "smoking": rng.choice(["never", "former", "current"], n, p=[0.5, 0.3, 0.2]),
            "site": rng.choice(["A", "B", "C", "rare"], n, p=[0.4, 0.3, 0.295, 0.005]),
            "sex": rng.choice(["F", "M"], n),
            "y": rng.integers(0, 2, n),
        }
    )
    df.loc[::7, "glucose"] = np.nan
    df.loc[::11, "smoking"] = np.nan
    df.loc[3, "glucose"] = 0  # impossible: treated as missing
    return df


def test_matches_scikit_learn_and_maps_every_column(data):
    schema = infer_schema(data, "y")
    pre = Preprocessor(schema).fit(data.iloc[:150])  # fit() itself checks equality with sklearn
    x = pre.transform(data)
    assert x.shape == (200, len(pre.feature_names_)) and x.dtype == np.float32
    assert set(pre.feature_of_) == set(schema.feature_names)
    assert pre.feature_of_.count("glucose") == 2  # scaled value + missing indicator
    assert pre.feature_of_.count("smoking") == 4  # three levels + (missing)
    # every encoded categorical row has exactly one level set
    for name in ("smoking", "sex"):
        cols = [i for i, f in enumerate(pre.feature_of_) if f == name]
        assert np.all(x[:, cols].sum(axis=1) == 1)


def test_fitted_on_training_rows_only(data):
    schema = infer_schema(data, "y")
    train = data.iloc[:150]
    pre = Preprocessor(schema).fit(train)
    shifted = data.copy()
    shifted.loc[150:, "age"] += 1000
    again = Preprocessor(schema).fit(shifted.iloc[:150])
    assert pre.to_dict() == again.to_dict()
    assert pre.imputed_value("age") == pytest.approx(train["age"].median())
    assert pre.state_["numbers"]["age"]["mean"] == pytest.approx(train["age"].mean())
    cleaned_glucose = train["glucose"].replace(0, np.nan)
    assert pre.imputed_value("glucose") == pytest.approx(cleaned_glucose.median())


def test_unknown_and_infrequent_categories(data):
    schema = infer_schema(data, "y")
    pre = Preprocessor(schema, min_frequency=0.02).fit(data)
    assert f"site = {OTHER_LEVEL}" in pre.feature_names_
    new = data.head(3).copy()
    new["site"] = ["Mars", "rare", "A"]
    x = pre.transform(new)
    other = pre.feature_names_.index(f"site = {OTHER_LEVEL}")
    assert x[0, other] == 1 and x[1, other] == 1 and x[2, other] == 0
    new["smoking"] = "vaping"  # no infrequent bucket: no level set at all
    cols = [i for i, f in enumerate(pre.feature_of_) if f == "smoking"]
    assert np.all(pre.transform(new)[:, cols] == 0)


def test_column_order_and_extras_do_not_matter(data):
    pre = Preprocessor(infer_schema(data, "y")).fit(data)
    shuffled = data[data.columns[::-1]].assign(extra=1)
    assert np.array_equal(pre.transform(data), pre.transform(shuffled))


def test_json_round_trip_runs_no_code(data):
    schema = infer_schema(data, "y")
    pre = Preprocessor(schema).fit(data)
    text = json.dumps(pre.to_dict())
    again = Preprocessor.from_dict(json.loads(text), schema)
    assert np.array_equal(again.transform(data), pre.transform(data))
    assert again.feature_of_ == pre.feature_of_


def test_refusals(data):
    schema = infer_schema(data, "y")
    with pytest.raises(ModelError, match="not fitted"):
        Preprocessor(schema).transform(data)
    pre = Preprocessor(schema).fit(data)
    with pytest.raises(SchemaError, match="'glucose'"):
        pre.transform(data.drop(columns="glucose"))
    with pytest.raises(ModelError, match="damaged"):
        Preprocessor.from_dict({"version": 1}, schema)


def test_numbers_as_floats_integers_or_text_encode_to_the_same_bits(data):
    """A large file's reader hands numeric features over as float64 (``as_float``); a small
    upload's reader as int64 or text: the network must see the same inputs either way."""
    schema = infer_schema(data, "y")
    pre = Preprocessor(schema).fit(data)
    as_float = data.astype({"glucose": "float64", "age": "float64"})
    as_text = data.astype({"glucose": "str", "age": "str"})
    as_text.loc[data["glucose"].isna(), "glucose"] = np.nan
    as_text.loc[5, "age"] = "not a number"  # read as missing by every path
    as_float.loc[5, "age"] = np.nan
    # Binary and categorical columns stored as Python objects, categories or integer codes.
    as_objects = data.astype({"smoking": "object", "sex": "category"})
    expected = pre.transform(as_float)
    for frame in (as_text, as_objects.assign(age=as_float["age"])):
        assert np.array_equal(pre.transform(frame).view(np.int32), expected.view(np.int32))
    assert expected.flags.c_contiguous and expected.dtype == np.float32


def test_a_level_few_patients_share_is_folded_and_named_nowhere():
    """Eight rows of one patient are frequent enough for scikit-learn, but the level would
    name that patient in every saved bundle: it is encoded, and saved, as '(other)'."""
    rng = np.random.default_rng(1)
    n = 200
    df = pd.DataFrame(
        {
            "pid": [f"P{i}" for i in range(n)],
            "age": rng.normal(60, 10, n).round(1),
            "ward": rng.choice(["north", "south", "east"], n),
            "y": rng.integers(0, 2, n),
        }
    )
    df.loc[:7, "pid"] = "ZQX-ONE-PATIENT"
    df.loc[:7, "ward"] = "ZQXWARD13"  # 8 rows, 1 patient
    df.loc[8:12, "ward"] = "hospice"  # 5 rows, 5 patients: kept
    schema = infer_schema(df, "y", id_column="pid")
    assert "ZQXWARD13" in schema.column("ward").categories  # as inferred at upload
    pre = Preprocessor(schema).fit(df)
    saved = json.dumps(pre.to_dict()) + pre.saved_schema().to_json()
    assert "ZQXWARD13" not in saved and "ZQX-ONE-PATIENT" not in saved
    assert "hospice" in saved
    assert pre.saved_schema().column("ward").categories == tuple(pre.training_categories("ward"))
    other = pre.feature_names_.index(f"ward = {OTHER_LEVEL}")
    x = pre.transform(df)
    assert np.all(x[:8, other] == 1) and np.all(x[8:, other] == 0)
    unseen = pre.transform(df.head(2).assign(ward="Mars"))
    assert np.array_equal(unseen, x[:2])  # the same inputs as the folded level: '(other)'
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())), schema)
    assert np.array_equal(again.transform(df), x)


def test_a_rare_answer_of_a_yes_no_column_is_kept_unless_few_patients_give_it():
    """Framingham's prevalentStroke: 25 'Yes' in 4,240 rows (under 1 %) were folded into
    '(other)', and the training patients' own answer was then reported as never seen."""
    n = 1000
    df = pd.DataFrame(
        {
            "age": np.linspace(40, 80, n),
            "stroke": ["No"] * (n - 8) + ["Yes"] * 8,  # 0.8 % of rows, 8 patients
            "rare_flag": ["No"] * (n - 3) + ["Yes"] * 3,  # 3 patients: folded (privacy)
            "y": [0, 1] * (n // 2),
        }
    )
    schema = infer_schema(df, "y")
    assert schema.column("stroke").kind.value == "binary"
    pre = Preprocessor(schema).fit(df)
    assert pre.training_categories("stroke") == ["No", "Yes"]
    assert "stroke = Yes" in pre.feature_names_
    assert "Yes" not in pre.training_categories("rare_flag")
    x = pre.transform(df)
    yes = pre.feature_names_.index("stroke = Yes")
    assert x[:, yes].sum() == 8


def test_without_identifier_rows_are_patients():
    df = pd.DataFrame(
        {
            "age": np.arange(100.0),
            "ward": ["a"] * 48 + ["b"] * 48 + ["c"] * 4,
            "y": [0, 1] * 50,
        }
    )
    pre = Preprocessor(infer_schema(df, "y")).fit(df)
    assert pre.training_categories("ward") == ["(other)", "a", "b"]
