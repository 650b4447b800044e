"""The follow-up helpers the Data page asks: which columns may hold the time, and a time
computed from two date columns added to the table and the schema."""

from __future__ import annotations

import pandas as pd
import pytest

from medinn_core.errors import SchemaError
from medinn_core.follow_up import likely_time_columns, with_follow_up
from medinn_core.schema import Kind, infer_schema


def _frame(n: int = 30) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"P{i}" for i in range(n)],
            "age": range(50, 50 + n),
            "sex": ["F", "M", "F"] * (n // 3),
            "fu_days": range(10, 10 + n),
            "start": ["2021-03-01"] * n,
            "end": pd.date_range("2021-03-02", periods=n).strftime("%Y-%m-%d"),
            "died": [1, 0, 0] * (n // 3),
        }
    )


def test_columns_named_like_a_follow_up_come_first_and_never_the_event_or_the_id():
    df = _frame()
    names = likely_time_columns(df, infer_schema(df, "died"))
    assert names[:2] == ("fu_days", "age")
    assert "died" not in names and "id" not in names
    assert set(names) == {"fu_days", "age", "sex", "start", "end"}


def test_a_follow_up_from_dates_becomes_the_time_of_a_survival_task_and_no_input():
    df = _frame()
    frame, schema, name = with_follow_up(df, infer_schema(df, "died"), "start", "end", unit="days")
    assert name == "follow_up_days"
    assert frame[name].tolist() == list(range(1, 31))
    assert list(df.columns) == list(frame.columns)[:-1]  # the input table is unchanged
    assert schema.task.value == "survival" and schema.time_column == name
    assert schema.column(name).kind == Kind.NUMERIC and schema.column(name).unit == "days"
    assert name not in schema.feature_names and schema.horizon is not None


def test_a_taken_name_gets_a_suffix_and_without_a_target_the_time_is_left_out():
    df = _frame().assign(follow_up_days=1)
    frame, schema, name = with_follow_up(df, infer_schema(df), "start", "end")
    assert name == "follow_up_days_2" and schema.task is None
    assert name not in schema.feature_names and frame[name].iloc[-1] == 30


def test_bad_dates_name_the_column():
    df = _frame()
    with pytest.raises(SchemaError, match="'sex'.*not dates"):
        with_follow_up(df, infer_schema(df, "died"), "start", "sex")
    with pytest.raises(SchemaError, match="'start' falls before 'end'"):
        with_follow_up(df, infer_schema(df, "died"), "end", "start")
    with pytest.raises(SchemaError, match="both 'end'"):
        with_follow_up(df, infer_schema(df, "died"), "end", "end")


@pytest.mark.parametrize(
    ("longest", "expected"),
    [(901, [0, 150, 300, 450, 600, 750, 900]), (24, [0, 4.5, 9, 13.5, 18, 22.5]), (0, [0])],
)
def test_numbers_at_risk_are_counted_at_round_times(longest, expected):
    from medinn_core.survival import round_times

    assert round_times(longest).tolist() == pytest.approx(expected)
