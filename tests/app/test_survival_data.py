"""The Data page for a time-to-event outcome: the follow-up time, the horizon, the leak offer
and the follow-up computed from two dates (AppTest, no training)."""

from __future__ import annotations

import pandas as pd

from medinn_app import state

from .helpers import goto, load_sample, new_app, shown, texts


def _schema(at):
    return at.session_state[state.SCHEMA]


def test_the_survival_sample_comes_with_its_time_column_and_horizon():
    at = load_sample(new_app(), "survival.csv")
    schema = _schema(at)
    assert (schema.task.value, schema.target, schema.time_column) == ("survival", "death", "time")
    assert at.selectbox(key=state.W_DATA_TASK).value == "survival"
    assert at.selectbox(key=state.W_DATA_TIME).value == "time"
    assert at.number_input(key=state.W_DATA_HORIZON).value == 200
    assert any("median follow-up time" in c for c in texts(at.caption))
    assert any("Ready to train: 2,500 of 2,500 rows" in s for s in texts(at.success))
    assert "time" not in schema.feature_names  # the follow-up time is never an input
    assert schema.column("time").unit == "days"
    assert shown(at.number_input(key=state.W_DATA_HORIZON).label) == "Horizon (days)"
    assert not at.error


def test_a_binary_target_with_a_follow_up_column_warns_and_offers_survival():
    at = load_sample(new_app(), "survival.csv")
    at.selectbox(key=state.W_DATA_TASK).select("binary").run()
    assert _schema(at).task.value == "binary" and "time" in _schema(at).feature_names
    assert any("looks like a follow-up time" in w for w in texts(at.warning))
    at.button(key=f"{state.W_DATA_USE_SURVIVAL}.time").click().run()
    assert not at.exception
    schema = _schema(at)
    assert (schema.task.value, schema.time_column, schema.horizon) == ("survival", "time", 200)
    assert not any("looks like a follow-up time" in w for w in texts(at.warning))


def test_choosing_the_survival_task_picks_the_follow_up_column_and_the_horizon_is_editable():
    at = load_sample(new_app(), "survival.csv")
    at.selectbox(key=state.W_DATA_TASK).select("binary").run()
    at.selectbox(key=state.W_DATA_TASK).select("survival").run()
    assert _schema(at).time_column == "time"
    at.number_input(key=state.W_DATA_HORIZON).set_value(100.0).run()
    assert not at.exception
    schema = _schema(at)
    assert schema.horizon == 100 and schema.horizon_reason.startswith("chosen by the user")
    assert any("Horizon 100: chosen by the user" in c for c in texts(at.caption))


def test_a_bad_time_column_gets_the_cores_message_not_a_traceback():
    at = load_sample(new_app(), "survival.csv")
    at.selectbox(key=state.W_DATA_TIME).select("sex").run()  # text, not a time
    assert not at.exception
    assert _schema(at).time_column == "sex"
    errors = " ".join(texts(at.error))
    assert "Follow-up time column 'sex' is not a number" in errors


def _upload(at, frame: pd.DataFrame, name: str = "dates.csv"):
    goto(at, "data")
    at.radio(key=state.W_DATA_SOURCE).set_value("Upload a file").run()
    at.file_uploader(key=state.W_DATA_UPLOAD).set_value(
        (name, frame.to_csv(index=False).encode(), "text/csv")
    )
    return at.run()


def _dates_frame() -> pd.DataFrame:
    n = 60
    return pd.DataFrame(
        {
            "patient_id": [f"P{i:03d}" for i in range(n)],
            "admitted": ["2020-01-01"] * n,
            "last_seen": pd.date_range("2020-01-11", periods=n, freq="5D").strftime("%Y-%m-%d"),
            "died": [0, 1, 1] * (n // 3),
            "age": range(40, 40 + n),
        }
    )


def test_follow_up_from_two_dates_is_added_to_the_session_table_only():
    at = _upload(new_app(), _dates_frame())
    at.selectbox(key=state.W_DATA_TARGET).select("died").run()
    at.selectbox(key=state.W_DATA_TASK).select("survival").run()
    at.selectbox(key=state.W_DATA_DATE_START).select("admitted").run()
    at.selectbox(key=state.W_DATA_DATE_END).select("last_seen").run()
    at.selectbox(key=state.W_DATA_DATE_UNIT).select("weeks").run()
    at.button(key=state.W_DATA_DATE_ADD).click().run()
    assert not at.exception
    frame = at.session_state[state.DATASET].frame
    assert frame["follow_up_weeks"].iloc[0] == 10 / 7
    schema = _schema(at)
    assert (schema.task.value, schema.time_column) == ("survival", "follow_up_weeks")
    assert "follow_up_weeks" not in schema.feature_names
    assert any("nothing is saved" in s for s in texts(at.success))
    assert at.selectbox(key=state.W_DATA_TIME).value == "follow_up_weeks"


def test_follow_up_from_dates_in_the_wrong_order_gets_the_cores_message():
    at = _upload(new_app(), _dates_frame())
    at.selectbox(key=state.W_DATA_TARGET).select("died").run()
    at.selectbox(key=state.W_DATA_TASK).select("survival").run()
    at.selectbox(key=state.W_DATA_DATE_START).select("last_seen").run()
    at.selectbox(key=state.W_DATA_DATE_END).select("admitted").run()
    at.button(key=state.W_DATA_DATE_ADD).click().run()
    assert not at.exception
    assert any("'admitted' falls before 'last_seen'" in e for e in texts(at.error))
    assert "follow_up_days" not in at.session_state[state.DATASET].frame.columns


def test_a_zero_horizon_and_a_many_valued_event_get_the_cores_messages():
    at = load_sample(new_app(), "survival.csv")
    at.number_input(key=state.W_DATA_HORIZON).set_value(0.0).run()
    assert not at.exception
    assert any("The horizon must be a positive time" in e for e in texts(at.error))
    assert _schema(at).horizon == 200  # the refused horizon is not kept
    at = load_sample(new_app(), "cardiology.csv")
    at.selectbox(key=state.W_DATA_TARGET).select("site").run()  # four values
    at.selectbox(key=state.W_DATA_TASK).select("survival").run()
    assert not at.exception
    assert any("'site' has 4 distinct values" in e for e in texts(at.error))
    assert _schema(at).task.value == "multiclass"
