"""The clinician's journey in a real browser: upload, target, train, ROC, explanation, download."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import ROOT

pytestmark = pytest.mark.e2e
CARDIOLOGY = ROOT / "sample_data" / "cardiology.csv"
LONG = 180_000  # ms: training and TensorFlow's first import take a while on 2 cores


def _go(page, server, path: str) -> None:
    page.goto(f"{server}/{path}")
    page.wait_for_selector("[data-testid='stSidebar']", timeout=LONG)


def _nav(page, label: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(label, exact=True).click()
    expect(page.get_by_role("heading", name=label, exact=True).first).to_be_visible(timeout=LONG)


def _pick(page, label: str, option: str) -> None:
    """Choose ``option`` in the Streamlit selectbox labelled ``label``."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label)
    box.click()
    page.get_by_role("option", name=option, exact=True).click()


def test_upload_train_evaluate_explain_download(page, server, shoot):
    _go(page, server, "")
    expect(page.get_by_text("support, not replace", exact=False).first).to_be_visible()
    shoot("01-home")

    # Data: upload the file through the real file input, then choose the target.
    _nav(page, "Data")
    page.get_by_text("Upload a file", exact=True).click()
    page.locator("input[type='file']").set_input_files(str(CARDIOLOGY))
    expect(page.get_by_text("4,000 rows", exact=False).first).to_be_visible(timeout=LONG)
    _pick(page, "Target column", "mace_1y")
    expect(page.get_by_text("Validation", exact=True).first).to_be_visible(timeout=LONG)
    shoot("02-data")

    # Train a short run and wait for the test-split metrics.
    _nav(page, "Train")
    epochs = page.get_by_label("Maximum epochs")
    epochs.fill("8")
    epochs.press("Tab")
    page.get_by_role("button", name="Train").click()
    expect(page.get_by_text("Result of the last run", exact=True)).to_be_visible(timeout=LONG)
    expect(page.get_by_text("Trained in", exact=False).first).to_be_visible()
    shoot("03-train")

    # Evaluate: the ROC curve is drawn.
    _nav(page, "Evaluate")
    page.get_by_role("tab", name="ROC").click()
    expect(page.locator(".js-plotly-plot >> visible=true").first).to_be_visible(timeout=LONG)
    expect(page.get_by_text("AUROC", exact=False).first).to_be_visible()
    shoot("04-evaluate")

    # Explain: the global view, then one patient's waterfall and plain sentence.
    _nav(page, "Explain")
    expect(page.locator(".js-plotly-plot >> visible=true").first).to_be_visible(timeout=LONG)
    shoot("05-explain-global")
    page.get_by_role("tab", name="One patient").click()
    expect(page.get_by_text("Raised most by", exact=False).first).to_be_visible(timeout=LONG)
    expect(page.locator(".js-plotly-plot >> visible=true").first).to_be_visible()
    shoot("05-explain-patient")
    page.get_by_role("tab", name="What-if").click()
    expect(page.get_by_role("button", name="Show the new prediction")).to_be_visible(timeout=LONG)
    shoot("05-explain-what-if")
    page.get_by_role("tab", name="Cohort comparison").click()
    expect(page.locator(".js-plotly-plot >> visible=true").first).to_be_visible(timeout=LONG)
    shoot("05-explain-cohorts")

    # Predict: download the predictions and check the file.
    _nav(page, "Predict")
    expect(page.get_by_text("patients", exact=False).first).to_be_visible(timeout=LONG)
    shoot("06-predict")
    with page.expect_download(timeout=LONG) as info:
        page.get_by_role("button", name="Download the predictions (CSV)").click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4000
    header = rows[0].keys()
    assert any("risk" in h for h in header)
    risks = [float(r[next(h for h in header if "risk" in h)]) for r in rows]
    assert all(0 <= r <= 100 for r in risks)
