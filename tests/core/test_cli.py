"""The CLI contract: commands, output columns, exit codes and one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from medinn_core.cli import main
from medinn_core.synthetic import make_cardiology_cohort

from ..conftest import ROOT, SAMPLES


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained by the CLI on a small cohort, and a held-out file."""
    folder = tmp_path_factory.mktemp("cli")
    train_csv, holdout_csv = folder / "train.csv", folder / "holdout.csv"
    make_cardiology_cohort(700, seed=21).to_csv(train_csv, index=False)
    make_cardiology_cohort(200, seed=22).to_csv(holdout_csv, index=False)
    out = folder / "model"
    code = main(
        ["train", str(train_csv), "--target", "mace_1y", "--epochs", "4", "--out", str(out)]
    )
    assert code == 0
    return out, holdout_csv


def test_train_writes_a_bundle_and_reports_progress(trained, capsys):
    out, _ = trained
    assert (out / "manifest.json").is_file()
    assert main(["info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["target"] == "mace_1y" and info["name"] == "model" and info["epochs_run"] <= 4


def test_predict_columns_and_shuffle_invariance(trained, tmp_path):
    out, holdout = trained
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["predict", str(out), str(holdout), "--out", str(first)]) == 0
    df = pd.read_csv(holdout)
    shuffled = tmp_path / "shuffled.csv"
    df[df.columns[::-1]].assign(extra_column=7).to_csv(shuffled, index=False)
    assert main(["predict", str(out), str(shuffled), "--out", str(second)]) == 0
    a, b = pd.read_csv(first), pd.read_csv(second)
    assert list(a.columns) == ["patient_id", "risk", "risk_low", "risk_high", "prediction"]
    assert (a["risk_low"] <= a["risk"]).all() and (a["risk"] <= a["risk_high"]).all()
    assert len(a) == 200 and a["risk"].between(0, 1).all()
    pd.testing.assert_frame_equal(a, b)


def test_evaluate_writes_the_headline_numbers(trained, tmp_path):
    out, holdout = trained
    report = tmp_path / "eval.json"
    assert (
        main(["evaluate", str(out), str(holdout), "--json", str(report), "--bootstrap", "50"]) == 0
    )
    result = json.loads(report.read_text())
    assert result["n"] == 200 and result["task"] == "binary"
    assert 0 <= result["auroc"]["value"] <= 1 and 0 <= result["brier"] <= 1
    for key in (
        "average_precision",
        "calibration_slope",
        "calibration_intercept",
        "oe_ratio",
        "scaled_brier",
        "threshold",
        "sensitivity",
        "specificity",
        "ppv",
        "npv",
    ):
        assert key in result, key
    assert {"threshold", "model", "treat_all"} <= set(result["net_benefit"][0])
    assert result["baseline"]["name"] == "logistic_regression"
    assert 0 <= result["baseline"]["auroc"]["value"] <= 1


def test_evaluate_on_the_training_table_evaluates_the_internal_validation(
    trained, tmp_path, capsys
):
    """Not apparent in-sample metrics: the out-of-fold predictions, as the app shows them, with
    the AUROC stored at training time, number for number."""
    out, holdout = trained
    train_csv = out.parent / "train.csv"
    report = tmp_path / "e.json"
    args = ["--json", str(report), "--bootstrap", "20"]
    assert main(["evaluate", str(out), str(train_csv), *args]) == 0
    assert "is the table this model was trained on" in capsys.readouterr().err
    result = json.loads(report.read_text())
    info = json.loads((out / "metadata.json").read_text())
    assert info["scheme"]["name"] == "folds"
    assert "out-of-fold predictions" in result["evaluated_on"]
    assert result["auroc"]["value"] == pytest.approx(info["metrics"]["auroc"], abs=1e-9)
    assert result["n"] == info["split"]["train"]
    html = tmp_path / "r.html"
    assert main(["report", str(out), str(train_csv), "--out", str(html), "--bootstrap", "20"]) == 0
    assert "out-of-fold predictions" in html.read_text()
    assert "is the table this model was trained on" in capsys.readouterr().err
    assert main(["evaluate", str(out), str(holdout), *args]) == 0
    assert "trained on" not in capsys.readouterr().err
    assert json.loads(report.read_text())["evaluated_on"] == f"'{holdout}'"


def test_evaluate_multiclass_and_regression_bundles(multiclass_result, regression_result, tmp_path):
    from medinn_core.evaluation import evaluate_bundle
    from medinn_core.io import load_bundle, save_bundle
    from medinn_core.synthetic import make_drug_response, make_toxicity_cohort

    save_bundle(multiclass_result, tmp_path / "tox", "tox")
    save_bundle(regression_result, tmp_path / "dose", "dose")
    tox = evaluate_bundle(
        load_bundle(tmp_path / "tox"), make_toxicity_cohort(150, seed=8), n_boot=30
    )
    d = tox.to_dict()
    assert d["task"] == "multiclass" and d["n"] == 150 and 0 <= d["accuracy"]["value"] <= 1
    assert "macro_auroc" in d
    dose = evaluate_bundle(
        load_bundle(tmp_path / "dose"), make_drug_response(150, seed=8), n_boot=30
    )
    d = dose.to_dict()
    assert d["task"] == "regression" and {"mae", "rmse", "r2"} <= set(d)


def test_report_is_one_offline_html_file(trained, tmp_path):
    out, holdout = trained
    report = tmp_path / "report.html"
    args = [
        "report",
        str(out),
        str(holdout),
        "--out",
        str(report),
        "--bootstrap",
        "30",
        "--subgroup",
        "sex",
        "--intended-use",
        "Adults in <clinic>",
    ]
    assert main(args) == 0
    html = report.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "Adults in &lt;clinic&gt;" in html and "Calibration" in html
    assert 'src="http' not in html and "<script src=" not in html  # nothing fetched online


def test_explain_adds_up_to_the_predicted_risk(trained, tmp_path):
    out, holdout = trained
    explained, predicted = tmp_path / "x.csv", tmp_path / "p.csv"
    assert main(["explain", str(out), str(holdout), "--out", str(explained)]) == 0
    assert main(["predict", str(out), str(holdout), "--out", str(predicted)]) == 0
    x, p = pd.read_csv(explained), pd.read_csv(predicted)
    assert x.columns[0] == "patient_id" and list(x.columns[-2:]) == ["base_value", "output"]
    assert "smoking" in x.columns and "smoking = current" not in x.columns  # grouped per column
    features = x.columns[1:-2]
    assert np.allclose(x["base_value"] + x[features].sum(axis=1), x["output"], atol=1e-5)
    assert np.allclose(x["output"], p["risk"], atol=1e-5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "nope.csv", "--target", "y", "--out", "{tmp}/m"], "'nope.csv' does not exist"),
        (
            ["train", str(SAMPLES / "cardiology.csv"), "--target", "nope", "--out", "{tmp}/m"],
            "'nope'",
        ),
        (
            ["predict", "{tmp}", str(SAMPLES / "new_patients.csv"), "--out", "{tmp}/p.csv"],
            "manifest",
        ),
        (["train", str(SAMPLES / "cardiology.csv"), "--out", "{tmp}/m"], "--target"),
        (["info", "{tmp}/missing"], "does not exist"),
    ],
)
def test_bad_input_exits_2_with_one_error_line(args, message, tmp_path, capsys):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_missing_columns_are_named(trained, tmp_path, capsys):
    out, holdout = trained
    thin = tmp_path / "thin.csv"
    pd.read_csv(holdout).drop(columns=["age", "smoking"]).to_csv(thin, index=False)
    assert main(["predict", str(out), str(thin), "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    assert "'age'" in err and "'smoking'" in err and "thin.csv" in err


def test_subprocess_exit_code_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "medinn_core",
            "train",
            str(bad),
            "--target",
            "y",
            "--out",
            str(tmp_path / "m"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error: ") and "bad.csv" in proc.stderr


def test_multiclass_and_regression_predict_columns(multiclass_result, regression_result, tmp_path):
    from medinn_core.predict import score_frame
    from medinn_core.synthetic import make_drug_response, make_toxicity_cohort

    tox = score_frame(multiclass_result.model, make_toxicity_cohort(30, seed=5))
    classes = multiclass_result.model.classes_
    assert list(tox.columns) == [
        "patient_id",
        *[f"p_{c}" for c in classes],
        "prediction",
        "prediction_set",
    ]
    assert np.allclose(tox[[f"p_{c}" for c in classes]].sum(axis=1), 1)
    reg = score_frame(regression_result.model, make_drug_response(30, seed=5))
    assert list(reg.columns) == ["patient_id", "prediction", "lower", "upper"]
    assert (reg["lower"] < reg["prediction"]).all() and (reg["prediction"] < reg["upper"]).all()
