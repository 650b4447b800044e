import numpy as np
import pandas as pd
import pytest

from medinn_core.schema import infer_schema
from medinn_core.validate import _duplicated_rows, validate


def frame(n=40, **columns):
    rng = np.random.default_rng(0)
    base = {"age": rng.normal(55, 10, n).round(2), "y": [0, 1] * (n // 2)}
    base.update(columns)
    return pd.DataFrame(base)


def report_for(df, target="y"):
    return validate(df, infer_schema(df, target))


def issue(report, code):
    found = [i for i in report.errors + report.warnings if i.code == code]
    assert found, f"no {code!r} in {report.codes()}"
    return found[0]


def test_clean_frame_has_no_errors():
    r = report_for(frame(glucose=np.linspace(70, 200, 40)))
    assert r.ok and r.n_usable_rows == 40


def test_missing_target_rows_are_counted_and_dropped():
    df = frame()
    df.loc[[3, 7], "y"] = np.nan
    r = report_for(df)
    i = issue(r, "target_missing")
    assert i.severity == "warning" and i.count == 2 and "rows 5, 9" in i.message
    assert r.n_usable_rows == 38


def test_rare_class_is_an_error():
    df = frame(y=[0] * 35 + [1] * 5)
    i = issue(report_for(df), "small_class")
    assert i.severity == "error" and "'1' has 5" in i.message


def test_text_in_numeric_column_names_rows_and_values():
    values = [str(v) for v in range(100, 140)]
    values[2], values[15], values[20] = "abc", "abc", "n.d."
    r = report_for(frame(glucose=values))
    i = issue(r, "not_numeric")
    assert i.column == "glucose" and i.count == 3
    assert "3 values are not numbers" in i.message and "'abc'" in i.message
    assert "rows 4, 17, 22" in i.message


def test_impossible_zeros_flagged_as_probably_missing():
    g = np.linspace(70, 200, 40)
    g[[1, 2]] = 0
    i = issue(report_for(frame(glucose=g)), "impossible_zero")
    assert "'glucose'" in i.message and "2 zeros" in i.message and "probably missing" in i.message


def test_duplicates_repeated_ids_mostly_missing_and_leakage():
    df = frame()
    df.loc[1] = df.loc[0]
    df["patient_id"] = [f"P{i:03d}" for i in range(40)]
    df.loc[5, "patient_id"] = "P004"
    df["lab"] = [np.nan] * 30 + list(range(10))
    df["outcome_copy"] = df["y"].map({0: "alive", 1: "dead"})
    r = report_for(df)
    assert "P004" in issue(r, "repeated_id").message
    assert "'lab'" in issue(r, "mostly_missing").message
    assert "'outcome_copy'" in issue(r, "leakage").message


def test_duplicate_rows_without_identifier():
    df = frame()
    df.loc[1] = df.loc[0]
    assert "1 row repeats an earlier row" in issue(report_for(df), "duplicate_rows").message


def test_duplicate_rows_are_found_as_pandas_finds_them():
    # The check compares rows only where a hash of their values' codes repeats.
    rng = np.random.default_rng(5)
    for _ in range(100):
        n = int(rng.integers(1, 50))
        df = pd.DataFrame(
            {
                "x": rng.choice([1.0, np.nan, 2.5, -0.0, 0.0], n),
                "sex": pd.Series(rng.choice(["F", "M", "NA"], n), dtype="str").replace("NA", None),
                "n": rng.integers(0, 3, n),
            }
        )
        assert _duplicated_rows(df).equals(df.duplicated(keep="first"))


def test_a_measured_column_on_a_large_table_is_not_a_leak_but_a_coded_copy_is():
    rng = np.random.default_rng(6)
    n = 20_000
    y = rng.integers(0, 2, n)
    df = pd.DataFrame({"y": y, "lab": rng.normal(size=n) + y, "code": np.where(y, 7.0, 3.0)})
    report = report_for(df)
    leaks = [i.column for i in report.warnings if i.code == "leakage"]
    assert leaks == ["code"]


def test_low_events_per_parameter():
    rng = np.random.default_rng(1)
    cols = {f"lab{i}": rng.normal(size=60) for i in range(12)}
    df = pd.DataFrame({**cols, "y": [1] * 12 + [0] * 48})
    i = issue(report_for(df), "low_epp")
    assert "events per model input" in i.message


@pytest.mark.parametrize(
    ("change", "code"),
    [({"y": [1] * 40}, "single_class"), ({"y": [np.nan] * 40}, "target_all_missing")],
)
def test_unusable_targets_are_errors(change, code):
    df = frame(**change)
    from medinn_core.schema import Schema, infer_column

    schema = Schema(columns=tuple(infer_column(df[c], c) for c in df.columns), target="y")
    r = validate(df, schema)
    assert not r.ok
    assert "'y'" in issue(r, code).message


def test_too_few_rows_and_no_features():
    df = pd.DataFrame({"patient_id": [f"P{i}" for i in range(10)], "y": [0, 1] * 5})
    r = report_for(df)
    assert {"too_few_rows", "no_features"} <= r.codes()


def test_schema_columns_absent_from_table():
    df = frame()
    s = infer_schema(df, "y")
    r = validate(df.drop(columns="age"), s)
    assert "'age'" in issue(r, "missing_columns").message
