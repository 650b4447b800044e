"""A time-to-event journey in a real browser: upload survival.csv, choose the event and the
survival task with its follow-up time, train a short run, see one patient's survival curve on
Predict and the Kaplan-Meier curves by risk group on Evaluate."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import ROOT
from .test_journey import LONG, _go, _nav, _pick

pytestmark = pytest.mark.e2e
SURVIVAL = ROOT / "sample_data" / "survival.csv"


def _chart(page, title: str):
    return page.locator(".js-plotly-plot >> visible=true").filter(has_text=title).first


def test_upload_survival_train_predict_curve_and_kaplan_meier(page, server, shoot):
    _go(page, server, "")
    _nav(page, "Data")
    page.get_by_text("Upload a file", exact=True).click()
    page.locator("input[type='file']").set_input_files(str(SURVIVAL))
    expect(page.get_by_text("2,500 rows", exact=False).first).to_be_visible(timeout=LONG)
    _pick(page, "Target column", "death")
    # As a binary target, the follow-up column leaks: the page warns and offers survival.
    expect(page.get_by_text("looks like a follow-up time", exact=False).first).to_be_visible(
        timeout=LONG
    )
    _pick(page, "Task", "survival")
    box = page.get_by_test_id("stSelectbox").filter(has_text="Follow-up time column")
    expect(box).to_contain_text("time", timeout=LONG)
    expect(page.get_by_text("the median follow-up time", exact=False).first).to_be_visible()
    expect(page.get_by_text("Ready to train", exact=False).first).to_be_visible(timeout=LONG)
    shoot("survival-01-data")

    _nav(page, "Train")
    epochs = page.get_by_label("Maximum epochs")
    epochs.fill("3")
    epochs.press("Tab")
    page.get_by_role("button", name="Train").click()
    expect(page.get_by_text("Result of the last run", exact=True)).to_be_visible(timeout=LONG)
    expect(page.get_by_text("Harrell's C", exact=False).first).to_be_visible()
    shoot("survival-02-train")

    _nav(page, "Predict")
    page.get_by_role("tab", name="One patient: try a change").click()
    expect(_chart(page, "Survival curve")).to_be_visible(timeout=LONG)
    expect(page.get_by_text("by time 200 with these values", exact=False).first).to_be_visible()
    shoot("survival-03-predict")

    _nav(page, "Evaluate")
    km = _chart(page, "Kaplan-Meier by predicted risk group")
    expect(km).to_be_visible(timeout=LONG)
    expect(km).to_contain_text("at risk")
    expect(page.get_by_text("Harrell's C", exact=False).first).to_be_visible()
    shoot("survival-04-evaluate")
