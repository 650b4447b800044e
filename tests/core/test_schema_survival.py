"""The survival task in the schema and in validation: follow-up time, horizon, bad times."""

import numpy as np
import pandas as pd
import pytest

from medinn_core.errors import SchemaError
from medinn_core.schema import Schema, Task, infer_schema
from medinn_core.survival import (
    MIN_EVENTS_PER_STEP,
    breslow,
    default_horizon,
    fit_baseline,
    partial_likelihood_terms,
    risk_by,
)
from medinn_core.validate import validate


def _cohort(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(40, 90, n)
    return pd.DataFrame(
        {
            "age": age,
            "sodium": rng.integers(125, 150, n),
            "days": rng.integers(5, 400, n),
            "status": np.where(rng.random(n) < 0.5, "dead", "alive"),
        }
    )


def test_a_time_column_makes_a_survival_task_with_the_event_as_target():
    df = _cohort()
    schema = infer_schema(df, "status", time_column="days")
    assert schema.task == Task.SURVIVAL
    assert schema.classes == ("alive", "dead")
    assert schema.event_class == "dead" and schema.positive_class is None
    assert schema.time_column == "days"
    assert schema.feature_names == ("age", "sodium")  # the time is never an input
    assert schema.column("days").reason == "follow-up time"
    assert "median follow-up" in schema.horizon_reason
    assert schema.horizon == 150  # median 193 rounded down
    assert schema.event_text == "risk of status = dead by days 150"
    with pytest.raises(SchemaError, match="'days' is the follow-up time"):
        schema.with_edits({"days": {"include": True}})
    again = Schema.from_json(schema.to_json())
    assert again == schema
    assert infer_schema(df, "status", task="survival", time_column="days", horizon=90).horizon == 90


def test_the_default_horizon_is_a_round_time_inside_the_follow_up():
    times = np.array([10.0, 40, 70, 130, 180, 250, 300, 420, 500, 640])
    events = np.array([1.0, 0, 1, 1, 0, 1, 0, 1, 0, 0])
    horizon, reason = default_horizon(times, events, "days")
    assert horizon == 200  # median 215 rounded down
    assert "50% of patients are still followed" in reason


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task": "survival"}, "needs the follow-up time column"),
        ({"time_column": "status"}, "both the event and the follow-up time"),
        ({"time_column": "nope"}, "'nope' is not in the data"),
        ({"task": "binary", "time_column": "days"}, "belong to a survival task"),
        ({"time_column": "days", "horizon": -3}, "horizon must be a positive time"),
    ],
)
def test_a_survival_target_that_cannot_work_is_refused_by_name(kwargs, match):
    with pytest.raises(SchemaError, match=match):
        infer_schema(_cohort(), "status", **kwargs)


def test_an_event_column_with_one_value_says_every_patient_is_censored():
    df = _cohort().assign(status="alive")
    with pytest.raises(SchemaError, match="'status' holds one value .* censored"):
        infer_schema(df, "status", time_column="days")


def _codes(df: pd.DataFrame, time_values) -> set[str]:
    schema = infer_schema(_cohort(), "status", time_column="days")
    report = validate(df.assign(days=time_values), schema)
    return {i.code for i in report.errors}, report


@pytest.mark.parametrize(
    ("bad", "code", "words"),
    [
        (-4, "time_negative", "is negative in 1 row"),
        (0, "time_zero", "is zero in 1 row"),
        (np.nan, "time_missing", "is missing in 1 row"),
        ("soon", "time_not_numeric", "is not a number in 1 row"),
    ],
)
def test_bad_follow_up_times_are_errors_naming_the_column_and_rows(bad, code, words):
    df = _cohort()
    times = df["days"].astype(object)
    times.iloc[3] = bad
    codes, report = _codes(df, times)
    assert code in codes
    issue = next(i for i in report.errors if i.code == code)
    assert issue.column == "days"
    assert f"'days' {words} (rows 5)" in issue.message
    assert "5" not in issue.stored.replace("'days'", "")  # no row number kept


def test_a_date_column_given_as_time_is_refused_with_the_fix():
    df = _cohort()
    dates = pd.Series(pd.date_range("2020-01-01", periods=len(df)).strftime("%Y-%m-%d"))
    codes, report = _codes(df, dates)
    assert codes == {"time_is_date"}
    assert "end date minus the start date" in report.errors[0].message


def test_all_censored_few_events_and_a_late_horizon_are_reported():
    df = _cohort(60)
    schema = infer_schema(df, "status", time_column="days")
    censored = df.assign(status=np.where(np.arange(60) == 0, "dead", "alive"))
    censored.loc[0, "days"] = -1  # the only event has no usable time
    report = validate(censored, schema)
    assert "all_censored" in report.codes()
    late = infer_schema(df, "status", time_column="days", horizon=399)
    codes = validate(df, late).codes()
    assert "horizon_past_follow_up" in codes
    assert "low_epp" not in codes  # 30 events, 2 inputs
    wide = df.assign(**{f"x{i}": np.arange(60) % (i + 2) for i in range(6)})
    report = validate(wide, infer_schema(wide, "status", time_column="days"))
    assert any(i.code == "low_epp" and "events" in i.message for i in report.warnings)


def test_a_binary_target_warns_when_a_follow_up_time_leaks_it():
    rng = np.random.default_rng(1)
    died = rng.random(200) < 0.3
    df = pd.DataFrame(
        {
            "age": rng.integers(40, 90, 200),
            "time": np.where(died, rng.integers(5, 60, 200), rng.integers(30, 300, 200)),
            "DEATH_EVENT": died.astype(int),
        }
    )
    report = validate(df, infer_schema(df, "DEATH_EVENT"))
    leak = [i for i in report.warnings if i.code == "follow_up_leak"]
    assert [i.column for i in leak] == ["time"]
    assert "task 'survival'" in leak[0].message
    quiet = df.assign(time=rng.integers(5, 300, 200))
    assert "follow_up_leak" not in validate(quiet, infer_schema(quiet, "DEATH_EVENT")).codes()
    aged = df.rename(columns={"time": "age_years"})  # tied to the outcome, not a follow-up
    assert "follow_up_leak" not in validate(aged, infer_schema(aged, "DEATH_EVENT")).codes()


def test_breslow_matches_scikit_survival_and_the_stored_steps_are_aggregate():
    from sksurv.linear_model.coxph import BreslowEstimator

    rng = np.random.default_rng(3)
    n = 400
    lp = rng.normal(0, 1, n)
    time = np.ceil(rng.exponential(100 * np.exp(-lp))).astype(float)
    event = (rng.random(n) < 0.7).astype(float)
    times, cumhaz = breslow(time, event, lp)
    reference = BreslowEstimator().fit(lp, event == 1, time)
    assert np.allclose(
        cumhaz,
        reference.cum_baseline_hazard_.y[np.isin(reference.cum_baseline_hazard_.x, times)],
        atol=1e-10,
    )
    base = fit_baseline(time, event, lp, 50.0)
    assert base.at_horizon == pytest.approx(reference.cum_baseline_hazard_(50.0), abs=1e-10)
    assert len(base.times) <= event.sum() / MIN_EVENTS_PER_STEP + 1
    assert np.all(np.diff(base.cumhaz) >= 0)
    survival = reference.get_survival_function(lp[:3])
    assert np.allclose(risk_by(lp[:3], base.at_horizon), [1 - f(50.0) for f in survival])


def test_partial_likelihood_terms_sum_to_the_cox_negative_log_likelihood():
    time = np.array([5.0, 3, 3, 8, 1, 6])
    event = np.array([1.0, 1, 0, 0, 1, 1])
    lp = np.array([[0.2], [-0.1], [0.4], [0.0], [1.0], [-0.5]])
    terms = partial_likelihood_terms(lp, time, event, np.ones_like(lp, dtype=bool))
    expected = sum(
        event[i] * (np.log(np.exp(lp[time >= time[i], 0]).sum()) - lp[i, 0]) for i in range(6)
    )
    assert terms.sum() == pytest.approx(expected)


def test_follow_up_is_computed_from_two_date_columns_and_bad_dates_are_named():
    from medinn_core.survival import follow_up_from_dates

    df = pd.DataFrame(
        {
            "admitted": ["2021-01-01", "2021-03-15", None, "2021-06-01"],
            "last_seen": ["2021-01-31", "2022-03-15", "2021-05-05", "2021-06-01"],
        }
    )
    days = follow_up_from_dates(df["admitted"], df["last_seen"])
    assert days.iloc[[0, 1, 3]].tolist() == [30.0, 365.0, 0.0] and np.isnan(days.iloc[2])
    months = follow_up_from_dates(df["admitted"], df["last_seen"], unit="months")
    assert months.iloc[1] == pytest.approx(12.0, abs=0.01)
    swapped = df.assign(last_seen=["2020-12-01", "2022-01-01", None, "2021-07-01"])
    with pytest.raises(
        SchemaError, match="'last_seen' falls before 'admitted' in 1 rows \\(rows 2\\)"
    ):
        follow_up_from_dates(swapped["admitted"], swapped["last_seen"])
    junk = df.assign(admitted=["2021-01-01", "soon", None, "2021-06-01"])
    with pytest.raises(SchemaError, match="'admitted': 1 values are not dates \\(rows 3\\)"):
        follow_up_from_dates(junk["admitted"], junk["last_seen"])
