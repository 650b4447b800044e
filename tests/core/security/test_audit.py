"""The audit log: one JSON line per action, who/when/which model/how many, never values."""

import datetime as dt
import json
import re
import stat
import threading

import pytest

from medinn_core.cli import main
from medinn_core.errors import ConfigError
from medinn_core.security import _audit as audit

FIELDS = [
    "time",
    "source",
    "user",
    "auth",
    "session",
    "action",
    "model",
    "model_hash",
    "n_patients",
]


def _event(**changes):
    fields = {"source": "cli", "user": "alice", "session": "abc123", "n_patients": 3} | changes
    return fields


def test_one_line_per_event_with_the_fields_in_order(tmp_path):
    path = tmp_path / "logs" / "audit.jsonl"
    audit.record_event("predict", path, model="cardio", model_hash="0" * 64, **_event())
    audit.record_event("delete_model", path, **_event(n_patients=None))
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert list(first) == FIELDS
    assert first["action"] == "predict" and first["n_patients"] == 3
    when = dt.datetime.fromisoformat(first["time"])
    assert when.utcoffset() == dt.timedelta(0)
    assert audit.read_log(path)[1]["action"] == "delete_model"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # user names: the owner reads it


@pytest.mark.parametrize(
    ("action", "changes", "message"),
    [
        ("peek", {}, "Unknown audit action 'peek'"),
        ("predict", {"source": "web"}, "Unknown audit source 'web'"),
        ("predict", {"n_patients": -1}, "count of patients"),
        ("predict", {"n_patients": 2.5}, "count of patients"),
    ],
)
def test_events_are_checked(tmp_path, action, changes, message):
    with pytest.raises(ConfigError, match=message):
        audit.record_event(action, tmp_path / "a.jsonl", **_event(**changes))
    assert not (tmp_path / "a.jsonl").exists()


def test_where_the_log_goes(tmp_path):
    assert audit.audit_path({"MEDINN_HOME": str(tmp_path)}) == tmp_path / "audit.jsonl"
    assert audit.audit_path({"MEDINN_AUDIT_LOG": str(tmp_path / "x.jsonl")}) == tmp_path / "x.jsonl"
    assert audit.audit_path({"MEDINN_AUDIT_LOG": "off"}) is None
    assert (
        audit.record_event("predict", None, **_event()).action == "predict"
    )  # off: nothing written


def test_a_log_that_cannot_be_written_is_an_error_with_the_fix(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="Cannot write the audit log.*MEDINN_AUDIT_LOG=off"):
        audit.record_event("predict", tmp_path / "file" / "audit.jsonl", **_event())


def test_concurrent_writers_never_interleave(tmp_path):
    path = tmp_path / "audit.jsonl"

    def write(user):
        for _ in range(50):
            audit.record_event("predict", path, **_event(user=user))

    threads = [threading.Thread(target=write, args=(f"user{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events = audit.read_log(path)  # every line parses
    assert len(events) == 400
    assert {e["user"] for e in events} == {f"user{i}" for i in range(8)}


def test_cli_predict_is_audited_without_patient_values(
    saved_binary, cardiology_df, tmp_path, monkeypatch
):
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("MEDINN_AUDIT_LOG", str(log))
    patients = cardiology_df.head(30)
    data = tmp_path / "patients.csv"
    patients.to_csv(data, index=False)
    assert main(["predict", str(saved_binary), str(data), "--out", str(tmp_path / "p.csv")]) == 0
    assert main(["explain", str(saved_binary), str(data), "--out", str(tmp_path / "e.csv")]) == 0
    events = audit.read_log(log)
    assert [e["action"] for e in events] == ["predict", "explain"]
    event = events[0]
    assert list(event) == FIELDS
    assert event["source"] == "cli" and event["auth"] == "os" and event["user"]
    assert event["model"] == "cardio" and event["n_patients"] == 30
    assert re.fullmatch(r"[0-9a-f]{64}", event["model_hash"])
    assert re.fullmatch(r"[0-9a-f]{16}", event["session"])
    assert events[1]["session"] == event["session"]  # one random token per process
    assert_no_patient_values(log.read_text(), patients)


def assert_no_patient_values(text: str, patients) -> None:
    """Every line has only the audit fields, in their closed forms; no identifier, category or
    measurement of these patients is in the log or in its only free text (user and model)."""
    events = [json.loads(line) for line in text.splitlines()]
    for event in events:
        assert list(event) == FIELDS
        assert event["action"] in audit.ACTIONS and event["source"] in audit.SOURCES
        assert event["auth"] in {"oidc", "password", "os", "none"}
        assert event["n_patients"] is None or type(event["n_patients"]) is int
        assert event["model_hash"] is None or re.fullmatch(r"[0-9a-f]{64}", event["model_hash"])
        assert re.fullmatch(r"[0-9a-f]{16}", event["session"])
        dt.datetime.fromisoformat(event["time"])
    for value in patients["patient_id"]:
        assert value not in text, f"patient {value!r} is in the audit log"
    free = " ".join(f"{event['user']} {event['model']}" for event in events)
    for column in patients.columns:
        for value in patients[column].dropna().astype(str).unique():
            found = re.search(rf"(?<![\w.]){re.escape(value)}(?![\w.])", free)
            assert not found, f"{column} value {value!r} is in the audit log"


def test_a_line_separator_in_a_model_name_does_not_break_the_log(tmp_path):
    """JSON leaves U+2028 and U+0085 unescaped; str.splitlines() split the line there, and
    read_log failed on the whole file."""
    path = tmp_path / "audit.jsonl"
    for name in ("ward\u2028model", "next\x85line\u2029x", "plain"):
        audit.record_event("save_model", path, **_event(model=name))
    assert [e["model"] for e in audit.read_log(path)] == [
        "ward\u2028model",
        "next\x85line\u2029x",
        "plain",
    ]


def test_check_log_creates_an_empty_owner_only_log_or_refuses(tmp_path):
    path = tmp_path / "logs" / "audit.jsonl"
    audit.check_log(path)
    assert path.read_bytes() == b"" and stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(ConfigError, match="Cannot write the audit log"):
        audit.check_log(tmp_path / "logs")  # a folder
    audit.check_log(None)  # the log is off
