"""The HTML model report: sections, numbers, escaping, offline, one copy of plotly.js."""

from __future__ import annotations

import html
import re

import pytest

from medinn_core.evaluation import (
    DISCLAIMER,
    NOT_STATED,
    build_report,
    evaluate_bundle,
)
from medinn_core.io import load_bundle, save_bundle

PLOTLY_MARKER = "* plotly.js v"  # the licence header at the top of the inline bundle
ATTACK = "<script>alert(1)</script>"
SECTIONS = (
    "Source data",
    "Outcome and predictors",
    "Missing data",
    "Model and training",
    "Performance",
    "Calibration",
    "Decision curve",
    "Subgroups",
    "Baseline comparison",
    "Intended use",
    "Limitations",
)


@pytest.fixture(scope="module")
def binary(saved_binary, cardiology_df):
    bundle = load_bundle(saved_binary)
    return bundle, evaluate_bundle(bundle, cardiology_df, n_boot=50)


@pytest.fixture(scope="module")
def binary_report(binary, cardiology_df):
    bundle, evaluation = binary
    return build_report(
        bundle,
        evaluation.shown(subgroups=["sex"]),
        data_name="cardio <cohort>.csv",
        intended_use=ATTACK,
        data=cardiology_df,
    )


def assert_offline_with_one_plotly(text: str) -> None:
    assert text.count(PLOTLY_MARKER) == 1
    assert not re.search(r"""src\s*=\s*["']?https?://""", text, re.IGNORECASE)
    assert not re.search(r"""<link[^>]+href\s*=\s*["']?https?://""", text, re.IGNORECASE)


def test_binary_report_has_every_section_and_the_disclaimer(binary_report):
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in binary_report, title
    assert binary_report.startswith("<!DOCTYPE html>")
    assert DISCLAIMER in binary_report
    assert "scikit-learn" in binary_report  # library versions in the footer


def test_binary_report_shows_the_numbers(binary, binary_report):
    _, evaluation = binary
    ev = evaluation.evaluation
    assert f"{ev.auroc.value:.3f} (95 % CI {ev.auroc.ci_low:.3f}–{ev.auroc.ci_high:.3f})" in (
        binary_report
    )
    assert f"{ev.calibration.slope.value:.2f}" in binary_report
    assert "Calibration slope" in binary_report
    assert f"{ev.threshold.sensitivity.value:.3f}" in binary_report
    assert "<td>Logistic regression</td>" in binary_report  # the paired comparison table
    assert "logistic_regression" not in binary_report  # said as a reader says it
    assert "AUROC difference" in binary_report
    assert "hba1c" in binary_report and "patient_id" in binary_report  # the schema table
    used = binary[0].metadata["batch_size_used"]  # the setting 0 means "automatic"
    assert f"<th>Setting: batch_size</th><td>automatic: {used}</td>" in binary_report


def test_binary_report_lists_the_settings_used_with_readable_headers(binary, binary_report):
    meta = binary[0].metadata
    folds = meta["scheme"]["name"] == "folds"
    for key in ("validation_fraction", "test_fraction", "split_members"):
        assert (f"<th>Setting: {key}</th>" in binary_report) is not folds, key
    assert ("<th>Setting: folds</th>" in binary_report) is folds
    cnn = meta["architecture"].startswith("Convolutional")
    assert ("<th>Setting: conv_kernel</th>" in binary_report) is cnn
    assert ("<th>Setting: knots</th>" in binary_report) is not cnn
    for header in ("Patients", "Events", "AUROC 95 % CI, low", "Too few to judge", "Brier score"):
        assert f"<th>{header}</th>" in binary_report, header
    for raw in ("too_small", "auroc_ci_low", "non_events", "oe_ratio"):
        assert f"<th>{raw}</th>" not in binary_report, raw
    assert "<td>True</td>" not in binary_report and "<td>False</td>" not in binary_report


def test_user_text_is_escaped_and_missing_text_is_flagged(binary_report):
    assert ATTACK not in binary_report
    assert html.escape(ATTACK) in binary_report
    assert "cardio &lt;cohort&gt;.csv" in binary_report
    assert NOT_STATED in binary_report  # limitations were left empty


def test_binary_report_is_offline_with_plotly_inline_once(binary_report):
    assert_offline_with_one_plotly(binary_report)
    assert binary_report.count("Plotly.newPlot") >= 7  # ROC, PR, ..., the subgroup forest


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("multiclass_result", ("Balanced accuracy", "Macro one-vs-rest AUROC")),
        ("regression_result", ("MAE", "RMSE", "R²")),
    ],
)
def test_multiclass_and_regression_reports_build(fixture, expected, request, tmp_path):
    result = request.getfixturevalue(fixture)
    bundle = load_bundle(save_bundle(result, tmp_path / "model", "other"))
    rows = result_frame(result)
    evaluation = evaluate_bundle(bundle, rows, n_boot=50)
    text = build_report(bundle, evaluation.shown(), data_name="held-out rows")
    for label in expected:
        assert label in text
    assert "<h2>Performance</h2>" in text and "<h2>Intended use</h2>" in text
    assert_offline_with_one_plotly(text)


def result_frame(result):
    """The rows a training result was fitted on, rebuilt from its synthetic generator."""
    from medinn_core.synthetic import make_drug_response, make_toxicity_cohort

    if result.model.schema.task == "multiclass":
        return make_toxicity_cohort(700, seed=3)
    return make_drug_response(700, seed=4)
