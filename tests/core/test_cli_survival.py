"""The CLI on a time-to-event outcome: train, predict, evaluate, explain and report."""

import json

import numpy as np
import pandas as pd
import pytest

from medinn_core.cli import main
from medinn_core.synthetic import make_survival_cohort


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_survival")
    train_csv, holdout_csv = folder / "train.csv", folder / "holdout.csv"
    make_survival_cohort(500, seed=31).to_csv(train_csv, index=False)
    make_survival_cohort(300, seed=32).to_csv(holdout_csv, index=False)
    out = folder / "model"
    args = ["train", str(train_csv), "--target", "death", "--time-column", "time"]
    assert main([*args, "--epochs", "10", "--horizon", "180", "--out", str(out)]) == 0
    return out, holdout_csv


def test_train_names_the_horizon_and_keeps_it(trained, capsys):
    out, _ = trained
    assert main(["info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["task"] == "survival"
    assert info["survival"]["horizon"] == 180
    assert info["survival"]["horizon_reason"].startswith("chosen by the user")
    assert "linear_cox" in info["baselines"]


def test_predict_writes_risk_range_and_log_hazard(trained, tmp_path, capsys):
    out, holdout = trained
    scores = tmp_path / "scores.csv"
    assert main(["predict", str(out), str(holdout), "--out", str(scores)]) == 0
    table = pd.read_csv(scores)
    assert list(table.columns) == ["patient_id", "risk", "risk_low", "risk_high", "risk_score"]
    assert table["risk"].between(0, 1).all()
    assert "by time 180" in capsys.readouterr().err


def test_evaluate_json_has_the_survival_keys(trained, tmp_path):
    out, holdout = trained
    path = tmp_path / "eval.json"
    assert main(["evaluate", str(out), str(holdout), "--json", str(path), "--bootstrap", "30"]) == 0
    result = json.loads(path.read_text())
    assert set(result["c_index"]) == {"value", "ci_low", "ci_high"}
    assert result["c_index"]["ci_low"] < result["c_index"]["value"] < result["c_index"]["ci_high"]
    assert result["horizon"] == 180
    for key in ("uno_c_index", "auroc_at_horizon", "brier_at_horizon", "integrated_brier"):
        assert 0 < result[key] < 1, key
    cal = result["calibration_at_horizon"]
    assert cal["slope"] is not None and len(cal["groups"]) == 10
    assert {"threshold", "net_benefit_model"} <= set(result["net_benefit_at_horizon"][0])
    assert result["baseline"]["name"] == "linear_cox"


def test_explain_adds_up_to_the_log_hazard(trained, tmp_path, capsys):
    out, holdout = trained
    path = tmp_path / "explain.csv"
    assert main(["explain", str(out), str(holdout), "--out", str(path)]) == 0
    assert "log-hazard" in capsys.readouterr().err
    table = pd.read_csv(path).set_index("patient_id")
    parts = table.drop(columns=["base_value", "log_hazard"])
    assert "time" not in parts.columns and "death" not in parts.columns
    total = parts.sum(axis=1) + table["base_value"]
    assert np.abs(total - table["log_hazard"]).max() <= 1e-5  # float32 text round trip
    scores = tmp_path / "scores.csv"
    assert main(["predict", str(out), str(holdout), "--out", str(scores)]) == 0
    assert np.allclose(pd.read_csv(scores)["risk_score"], table["log_hazard"].to_numpy(), atol=1e-5)


def test_report_has_a_survival_section(trained, tmp_path):
    out, holdout = trained
    path = tmp_path / "report.html"
    assert main(["report", str(out), str(holdout), "--out", str(path), "--bootstrap", "20"]) == 0
    html = path.read_text()
    for words in (
        "Harrell",
        "Calibration at the horizon",
        "Decision curve at the horizon",
        "linear_cox",
        "Follow-up time column",
        "none: the Breslow baseline",
        "chosen by the user",
    ):
        assert words in html, words


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d.assign(time=-d["time"]), "'time' is negative in 500 rows"),
        (lambda d: d.assign(death=0), "'death' holds one value ('0') in every row"),
        (
            lambda d: d.assign(time=pd.date_range("2020-01-01", periods=len(d)).astype(str)),
            "'time' holds dates",
        ),
    ],
)
def test_a_bad_time_or_event_column_is_one_error_line(tmp_path, capsys, change, words):
    path = tmp_path / "bad.csv"
    change(make_survival_cohort(500, seed=33)).to_csv(path, index=False)
    code = main(
        [
            "train",
            str(path),
            "--target",
            "death",
            "--time-column",
            "time",
            "--out",
            str(tmp_path / "m"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: ") and words in err[-1]
    assert "Traceback" not in "\n".join(err)


def test_the_survival_task_needs_a_time_column(tmp_path, capsys):
    path = tmp_path / "data.csv"
    make_survival_cohort(60, seed=34).to_csv(path, index=False)
    code = main(
        [
            "train",
            str(path),
            "--target",
            "death",
            "--task",
            "survival",
            "--out",
            str(tmp_path / "m"),
        ]
    )
    assert code == 2
    assert "--time-column" in capsys.readouterr().err
