"""The CLI never leaves an output without its audit line, and checks where it writes before
it computes: an unwritable audit log, a log that breaks during the work, and an --out in a
folder that does not exist each end with one error line, exit 2 and nothing written."""

import json

import pytest

from medinn_core.cli import main
from medinn_core.synthetic import make_cardiology_cohort

COMMANDS = {
    "predict": ["--out", "{out}.csv"],
    "evaluate": ["--json", "{out}.json", "--bootstrap", "20"],
    "explain": ["--out", "{out}.csv"],
    "report": ["--out", "{out}.html", "--bootstrap", "20"],
}


@pytest.fixture(scope="module")
def holdout(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli_audit") / "holdout.csv"
    make_cardiology_cohort(60, seed=41).to_csv(path, index=False)
    return path


def _argv(command: str, model, data, out) -> list[str]:
    return [command, str(model), str(data), *(a.format(out=out) for a in COMMANDS[command])]


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and err[-1].startswith("error: ") and "Traceback" not in "".join(err)
    return err[-1]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unwritable_audit_log_stops_before_any_output(
    command, saved_binary, holdout, tmp_path, monkeypatch, capsys
):
    log = tmp_path / "audit-is-a-folder"
    log.mkdir()
    monkeypatch.setenv("MEDINN_AUDIT_LOG", str(log))
    out = tmp_path / "result"
    assert main(_argv(command, saved_binary, holdout, out)) == 2
    assert "audit log" in _error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit-is-a-folder"]


def test_train_with_an_unwritable_audit_log_trains_nothing(holdout, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MEDINN_AUDIT_LOG", str(tmp_path))  # a folder
    out = tmp_path / "model"
    assert main(["train", str(holdout), "--target", "mace_1y", "--out", str(out)]) == 2
    assert "audit log" in _error_line(capsys) and not out.exists()


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_a_log_that_breaks_during_the_work_leaves_no_output(
    command, saved_binary, holdout, tmp_path, monkeypatch, capsys
):
    """The fault: the log is writable when checked, then its folder becomes a file."""
    import medinn_core.security as security

    log_folder = tmp_path / "logs"
    monkeypatch.setenv("MEDINN_AUDIT_LOG", str(log_folder / "audit.jsonl"))
    checked = security.check_log

    def check_then_break(path):
        checked(path)
        path.unlink()
        log_folder.rmdir()
        log_folder.write_text("not a folder any more")

    monkeypatch.setattr(security, "check_log", check_then_break)
    out = tmp_path / "result"
    assert main(_argv(command, saved_binary, holdout, out)) == 2
    assert "audit log" in _error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs"]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_out_in_a_missing_folder_fails_before_reading_anything(
    command, saved_binary, tmp_path, capsys, audit_log
):
    before = audit_log.read_bytes() if audit_log.exists() else b""
    out = tmp_path / "no" / "such" / "folder" / "result"
    # The data file does not exist either: the output is checked first, before any work.
    assert main(_argv(command, saved_binary, tmp_path / "missing.csv", out)) == 2
    line = _error_line(capsys)
    assert "does not exist" in line and "folder" in line and str(out.parent) in line
    assert (audit_log.read_bytes() if audit_log.exists() else b"") == before


def test_the_audit_line_is_written_with_the_output(saved_binary, holdout, tmp_path, audit_log):
    out = tmp_path / "scores.csv"
    assert main(["predict", str(saved_binary), str(holdout), "--out", str(out)]) == 0
    last = json.loads(audit_log.read_text().splitlines()[-1])
    assert out.is_file() and last["action"] == "predict" and last["n_patients"] == 60
