"""What the pages show of signals: the Data page's table, traces and hints, and the Explain
page's explanation with a signal as one feature and one patient's saliency."""

import numpy as np
import pandas as pd
import pytest

from medinn_core.errors import DataError, SchemaError
from medinn_core.explain import Explanation
from medinn_core.schema import Kind, infer_schema
from medinn_core.signal_views import (
    by_signal,
    non_numeric_samples,
    saliency,
    signal_candidates,
    signal_problem,
    signal_table,
    trace_preview,
    where_the_model_looks,
)
from medinn_core.signals import SignalGroup


def _traces(n: int = 8, samples: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    # A random walk: neighbouring samples are related, as in a real trace.
    walk = rng.normal(size=(n, samples)).cumsum(axis=1).round(3)
    frame = pd.DataFrame(walk, columns=[f"ecg_{i:02d}" for i in range(samples)])
    frame.insert(0, "pid", [f"P{i}" for i in range(n)])
    frame["age"] = rng.integers(30, 80, n)
    frame["event"] = np.arange(n) % 2
    return frame


def test_table_and_preview_of_a_signal():
    frame = _traces()
    frame.loc[0, [c for c in frame.columns if c.startswith("ecg_")]] = np.nan  # no trace
    frame.loc[1, "ecg_03"] = np.nan  # a gap
    schema = infer_schema(frame, "event", id_column="pid")
    (group,) = schema.signals
    table = signal_table(schema.signals)
    assert table.to_dict("records") == [
        {"signal": "ecg", "samples": 20, "first column": "ecg_00", "last column": "ecg_19"}
    ]
    preview = trace_preview(frame, group, "pid", n=3)
    assert list(preview.index) == ["P1", "P2", "P3"]  # P0 has no sample at all
    assert list(preview.columns) == list(group.columns)
    assert np.isnan(preview.loc["P1", "ecg_03"])
    np.testing.assert_allclose(preview.loc["P2"], frame.loc[2, list(group.columns)].astype(float))
    with pytest.raises(DataError, match="'ecg_19'"):
        trace_preview(frame.drop(columns="ecg_19"), group)


def test_a_sample_made_a_category_is_a_problem_and_a_dropped_signal_a_candidate():
    schema = infer_schema(_traces(), "event", id_column="pid")
    assert signal_problem(schema) is None and signal_candidates(schema) == ()
    broken = schema.with_column("ecg_07", kind="categorical")
    assert "'ecg_07'" in signal_problem(broken)
    flat = schema.without_signal("ecg")
    assert signal_candidates(flat) == schema.signals
    assert flat.with_signals([*flat.signals, *signal_candidates(flat)]).signals == schema.signals


def test_a_text_column_inside_a_trace_gets_a_message_naming_it():
    frame = _traces(n=30)
    frame["ecg_05"] = frame["ecg_05"].astype(str)
    frame.loc[:, "ecg_05"] = [f"{v}?" for v in frame["ecg_05"]]  # every cell text
    schema = infer_schema(frame, "event", id_column="pid")
    assert schema.column("ecg_05").kind != Kind.NUMERIC and not schema.signals
    (message,) = non_numeric_samples(schema)
    assert "'ecg_05'" in message and "signal 'ecg'" in message and "numbers" in message
    assert non_numeric_samples(infer_schema(_traces(), "event", id_column="pid")) == []


GROUP = SignalGroup("ecg", ("ecg_0", "ecg_1", "ecg_2"))


def _explanation() -> Explanation:
    contributions = pd.DataFrame(
        {"age": [0.1, -0.2], "ecg_0": [0.3, 0.0], "ecg_1": [-0.1, 0.05], "ecg_2": [0.2, 0.1]},
        index=pd.Index(["A", "B"], name="pid"),
    )
    raw = pd.DataFrame(
        {"age": [50, 60], "ecg_0": [1.0, np.nan], "ecg_1": [2.0, np.nan], "ecg_2": [3.0, np.nan]},
        index=contributions.index,
    )
    raw.loc["B", "ecg_1"] = 0.5
    output = 0.4 + contributions.sum(axis=1).to_numpy()
    return Explanation(contributions, 0.4, output, raw, "deeplift", "logit", task="binary")


def test_by_signal_sums_a_signal_into_one_feature_and_stays_additive():
    expl = _explanation()
    grouped = by_signal(expl, [GROUP])
    assert list(grouped.contributions.columns) == ["age", "ecg"]
    np.testing.assert_allclose(grouped.contributions["ecg"], [0.4, 0.15])
    assert grouped.additivity_error < 1e-12
    assert list(grouped.raw_values["ecg"]) == ["3-sample trace", "3-sample trace, 2 missing filled"]
    assert grouped.importance().index[0] == "ecg"
    assert by_signal(expl, []) is expl
    with pytest.raises(SchemaError, match="'ecg_2'"):
        by_signal(
            Explanation(
                expl.contributions.drop(columns="ecg_2"),
                0.4,
                expl.output,
                expl.raw_values,
                "deeplift",
                "logit",
            ),
            [GROUP],
        )


def test_saliency_is_one_patients_trace_and_its_samples_parts():
    one = saliency(_explanation(), GROUP, 1)
    np.testing.assert_allclose(one.contributions, [0.0, 0.05, 0.1])
    assert np.isnan(one.trace[0]) and one.trace[1] == 0.5
    assert one.total == pytest.approx(0.15)
    assert one.unit == "contribution (log-odds)" and one.total_text == "+0.15"
    with pytest.raises(DataError, match="out of range"):
        saliency(_explanation(), GROUP, 2)


def test_a_risk_is_shown_in_percentage_points_as_in_the_other_explain_figures():
    logit = _explanation()
    risk = Explanation(
        logit.contributions,
        0.4,
        logit.output,
        logit.raw_values,
        "deeplift",
        "probability",
        class_name="1",
        task="binary",
    )
    one = saliency(risk, GROUP, 0)
    np.testing.assert_allclose(one.contributions, [30.0, -10.0, 20.0])
    assert one.total == pytest.approx(0.4) and one.total_text == "+40.0 percentage points"
    assert one.unit == "contribution (percentage points)"
    mean_abs, unit = where_the_model_looks(risk, GROUP)
    np.testing.assert_allclose(mean_abs, [15.0, 7.5, 15.0])
    assert unit == "mean |contribution| (percentage points)"
    assert list(where_the_model_looks(logit, GROUP)[0]) == pytest.approx([0.15, 0.075, 0.15])
