"""Signal groups: detection, the user's edits, messages for bad groups, the preprocessing."""

import numpy as np
import pandas as pd
import pytest

from medinn_core.errors import SchemaError
from medinn_core.preprocess import Preprocessor
from medinn_core.schema import Schema, infer_schema
from medinn_core.signals import (
    MIN_NEIGHBOUR_CORRELATION,
    SignalGroup,
    detect_signal_groups,
    fill_traces,
    group_total,
    neighbour_correlation,
)
from medinn_core.synthetic import make_cardiology_cohort, make_heartbeat_cohort
from medinn_core.validate import validate


def _frame(n=40, samples=20, prefix="ecg_", seed=0):
    """A trace per row: each sample 0.8 times the one before plus fresh noise (standard
    normal at every sample, neighbours correlated 0.8), as a slow signal is."""
    rng = np.random.default_rng(seed)
    trace = np.empty((n, samples))
    trace[:, 0] = rng.normal(size=n)
    for i in range(1, samples):
        trace[:, i] = 0.8 * trace[:, i - 1] + 0.6 * rng.normal(size=n)
    df = pd.DataFrame({f"{prefix}{i:03d}": trace[:, i] for i in range(samples)})
    df["age"] = rng.normal(60, 10, n).round()
    df["sex"] = rng.choice(["m", "f"], n)
    df["y"] = np.tile([0, 1], n // 2)
    return df


def test_detects_a_group_in_trace_order_beside_ordinary_columns():
    df = _frame()
    df = df[["age", *reversed([f"ecg_{i:03d}" for i in range(20)]), "sex", "y"]]
    schema = infer_schema(df, "y")
    (group,) = schema.signals
    assert group.name == "ecg"
    assert group.columns == tuple(f"ecg_{i:03d}" for i in range(20))
    assert schema.signal_of("ecg_004") == group and schema.signal_of("age") is None


def test_several_groups_coexist_and_the_schema_round_trips():
    df = _frame().join(_frame(prefix="hr_t").filter(like="hr_t"))
    schema = infer_schema(df, "y")
    assert [g.name for g in schema.signals] == ["ecg", "hr_t"]
    assert Schema.from_json(schema.to_json()) == schema


def test_a_ragged_run_is_named_and_kept_as_ordinary_columns():
    df = _frame().drop(columns=["ecg_007", "ecg_011"])
    schema = infer_schema(df, "y")
    assert schema.signals == ()
    (note,) = schema.notes
    assert "'ecg'" in note and "'ecg_007'" in note and "'ecg_011'" in note


def test_a_short_run_is_not_grouped_and_says_why():
    schema = infer_schema(_frame(samples=10), "y")
    assert schema.signals == ()
    assert "too few to convolve" in schema.notes[0]


def test_rename_ungroup_and_refusals_name_the_group():
    schema = infer_schema(_frame(), "y")
    renamed = schema.with_signal_renamed("ecg", "lead II")
    assert renamed.signals[0].name == "lead II"
    assert renamed.without_signal("lead II").signals == ()
    with pytest.raises(SchemaError, match="no signal 'nope'"):
        schema.without_signal("nope")
    with pytest.raises(SchemaError, match="'age' is already a column"):
        schema.with_signal_renamed("ecg", "age")
    short = SignalGroup("short", tuple(f"ecg_{i:03d}" for i in range(8)))
    with pytest.raises(SchemaError, match="'short' has 8 samples: too few to convolve"):
        schema.with_signals([short])
    bad = SignalGroup("mixed", (*schema.signals[0].columns, "sex"))
    with pytest.raises(SchemaError, match="'mixed' includes 'sex'"):
        schema.with_signals([bad])
    excluded = schema.with_edits({"ecg_003": {"include": False}})
    with pytest.raises(SchemaError, match="'ecg' includes 'ecg_003'"):
        Preprocessor(excluded).fit(_frame())


def test_gaps_are_interpolated_along_the_trace_and_counted():
    trace = np.array([[1.0, np.nan, 3.0, np.nan], [np.nan] * 4, [np.nan, 2.0, np.nan, np.nan]])
    filled = fill_traces(trace, fallback=np.array([9.0, 9, 9, 9]))
    np.testing.assert_allclose(filled, [[1, 2, 3, 3], [9, 9, 9, 9], [2, 2, 2, 2]])
    df = _frame()
    df.loc[[2, 5], "ecg_004"] = np.nan
    df.loc[7, [f"ecg_{i:03d}" for i in range(20)]] = np.nan
    report = validate(df, infer_schema(df, "y"))
    gaps = next(i for i in report.warnings if i.code == "signal_gaps")
    assert gaps.count == 2 and "'ecg'" in gaps.message and "interpolation" in gaps.message
    empty = next(i for i in report.warnings if i.code == "signal_empty")
    assert empty.count == 1 and "average trace" in empty.message


def test_preprocessing_scales_a_trace_as_a_whole_and_reloads():
    df = _frame()
    schema = infer_schema(df, "y")
    pre = Preprocessor(schema).fit(df)
    ((name, start, stop),) = pre.signal_spans()
    assert (name, stop - start, stop) == ("ecg", 20, len(pre.feature_names_))
    x = pre.transform(df)
    raw = df[list(schema.signals[0].columns)].to_numpy()
    scaled = (raw - raw.mean()) / raw.std()
    np.testing.assert_allclose(x[:, start:stop], scaled, atol=1e-5)
    gappy = df.copy()
    gappy.loc[0, "ecg_005"] = np.nan
    xg = pre.transform(gappy)[0, start:stop]
    assert xg[5] == pytest.approx((xg[4] + xg[6]) / 2, abs=1e-6)
    again = Preprocessor.from_dict(pre.to_dict(), schema)
    np.testing.assert_array_equal(again.transform(df), x)


def test_group_total_sums_a_signal_into_one_feature():
    contributions = pd.DataFrame(
        [[1.0, 0.5, 0.25, 2.0]], columns=["age", "ecg_000", "ecg_001", "sex"]
    )
    summed = group_total(contributions, [SignalGroup("ecg", ("ecg_000", "ecg_001"))])
    assert list(summed.columns) == ["age", "ecg", "sex"]
    assert summed.loc[0, "ecg"] == 0.75


def test_a_sample_is_unusual_by_the_whole_trace_range():
    df = _frame(n=400)
    df.loc[0, "ecg_003"] = 3.0  # a spike where no other patient has one: not unusual
    pre = Preprocessor(infer_schema(df, "y")).fit(df)
    low, high = pre.training_range("ecg_003")
    assert (low, high) == pre.training_range("ecg_017")
    assert low < -2 and 2 < high < 3


# -- a run of columns is a signal only when neighbouring samples are related ----------------


def test_independent_lab_columns_are_not_a_signal_and_the_note_says_why():
    df = make_cardiology_cohort(500, seed=2, n_noise_features=24)
    schema = infer_schema(df, "mace_1y", id_column="patient_id")
    assert schema.signals == ()
    (note,) = [n for n in schema.notes if "'lab_01'" in n]
    assert "'lab_24'" in note and "neighbouring samples are unrelated" in note
    assert "group them by hand" in note
    r = neighbour_correlation(df, [f"lab_{k:02d}" for k in range(1, 25)])
    assert abs(r) < 0.1 and f"median correlation {round(r, 2) + 0.0:.2f}" in note
    # a name-only call (no data) still groups by the names alone
    names = [(c, c.startswith("lab_")) for c in df.columns]
    (group,) = detect_signal_groups(names)[0]
    assert group.name == "lab" and group.length == 24


def test_the_heartbeat_trace_is_a_signal():
    df, _ = make_heartbeat_cohort(300, seed=1)
    schema = infer_schema(df, "event", id_column="patient_id")
    (group,) = schema.signals
    assert group.length == 128
    assert neighbour_correlation(df, group.columns) > 1.5 * MIN_NEIGHBOUR_CORRELATION


def test_a_smooth_48_hour_vital_sign_is_a_signal():
    rng = np.random.default_rng(3)
    n, hours = 200, np.arange(1, 49)
    level = rng.normal(80, 10, (n, 1))  # each patient's own heart rate
    daily = 6 * np.sin(2 * np.pi * (hours[None, :] / 24 + rng.random((n, 1))))
    heart_rate = np.round(level + daily + rng.normal(0, 3, (n, 48)))
    df = pd.DataFrame(heart_rate, columns=[f"hr_t{h:02d}" for h in hours])
    df["y"] = rng.integers(0, 2, n)
    (group,) = infer_schema(df, "y").signals
    assert group.name == "hr_t" and group.columns[0] == "hr_t01" and group.length == 48


def test_a_short_run_of_unrelated_columns_gets_no_note():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(100, 10)), columns=[f"lab_{k}" for k in range(10)])
    df["y"] = rng.integers(0, 2, 100)
    schema = infer_schema(df, "y")
    assert schema.signals == () and schema.notes == ()
