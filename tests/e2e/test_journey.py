"""The clinician's journey in a real browser: upload, target, train, ROC, explanation, download."""

from __future__ import annotations

import contextlib
import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from .conftest import ROOT, SCREENSHOTS

pytestmark = pytest.mark.e2e
CARDIOLOGY = ROOT / "sample_data" / "cardiology.csv"
LONG = 180_000  # ms: training and TensorFlow's first import take a while on 2 cores


def _go(page, server, path: str) -> None:
    page.goto(f"{server}/{path}")
    page.wait_for_selector("[data-testid='stSidebar']", timeout=LONG)


def _nav(page, label: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(label, exact=True).click()
    expect(page.get_by_role("heading", name=label, exact=True).first).to_be_visible(timeout=LONG)


def _pick(page, label: str, option: str, attempts: int = 3) -> None:
    """Choose ``option`` in the Streamlit selectbox labelled ``label``.

    A list opened while the page is still rerunning (just after an upload) is closed by the
    rerun and comes up empty; a user opens it again, and so does this, up to ``attempts``
    times.
    """
    box = page.get_by_test_id("stSelectbox").filter(has_text=label)
    for attempt in range(attempts):
        box.click()
        choice = page.get_by_role("option", name=option, exact=True)
        try:
            choice.click(timeout=10_000)
            return
        except PlaywrightTimeoutError:
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")


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
    # The tabs are lazy: the ROC chart is drawn by the rerun the click starts.
    roc = page.locator(".js-plotly-plot >> visible=true").filter(has_text="ROC curve")
    expect(roc.first).to_be_visible(timeout=LONG)
    expect(page.get_by_text("AUROC", exact=False).first).to_be_visible()
    shoot("04-evaluate")
    page.get_by_test_id("stExpander").filter(has_text="Model report").click()
    download = page.get_by_role("button", name="Download the model report (HTML)")
    for _ in range(3):  # a click during a rerun of the page can be dropped under load
        if download.is_visible():
            break
        with contextlib.suppress(AssertionError, PlaywrightTimeoutError):
            page.get_by_role("button", name="Build the report").click(timeout=10_000)
            expect(download).to_be_visible(timeout=LONG // 3)
    expect(download).to_be_visible()
    with page.expect_download(timeout=LONG) as report:
        download.click()
    html = Path(report.value.path()).read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html") and "Calibration" in html

    # Explain: the global view, then one patient's waterfall and plain sentence.
    _nav(page, "Explain")
    expect(page.locator(".js-plotly-plot >> visible=true").first).to_be_visible(timeout=LONG)
    shoot("05-explain-global")
    page.get_by_role("tab", name="Dependence").click()
    expect(page.get_by_text("Colour by", exact=True)).to_be_visible(timeout=LONG)
    expect(page.locator(".js-plotly-plot >> visible=true").first).to_be_visible(timeout=LONG)
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


def test_model_report_opens_offline(page, tmp_path):
    """The HTML report, written by the CLI, renders its figures with the network blocked."""
    from medinn_core.cli import main
    from medinn_core.synthetic import make_cardiology_cohort

    train_csv, holdout_csv = tmp_path / "train.csv", tmp_path / "holdout.csv"
    make_cardiology_cohort(600, seed=31).to_csv(train_csv, index=False)
    make_cardiology_cohort(300, seed=32).to_csv(holdout_csv, index=False)
    model, report = tmp_path / "model", tmp_path / "report.html"
    assert (
        main(["train", str(train_csv), "--target", "mace_1y", "--epochs", "3", "--out", str(model)])
        == 0
    )
    assert (
        main(
            [
                "report",
                str(model),
                str(holdout_csv),
                "--out",
                str(report),
                "--bootstrap",
                "50",
                "--subgroup",
                "sex",
            ]
        )
        == 0
    )
    blocked = []
    page.route("http*://**", lambda route: (blocked.append(route.request.url), route.abort()))
    page.goto(report.as_uri())
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Decision curve", exact=False).first).to_be_visible()
    assert page.locator(".js-plotly-plot").count() >= 4
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "07-report.png"))
    assert blocked == []  # the report asked for nothing online
