"""A signal journey in a real browser: upload a small heartbeat export (a trace sampled as
ecg_000 ... ecg_047), see it as one signal with its traces, train the convolutional network
(3 epochs) and see its architecture, then open Explain's saliency view."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .test_journey import LONG, _go, _nav, _pick

pytestmark = pytest.mark.e2e


def _chart(page, title: str):
    return page.locator(".js-plotly-plot >> visible=true").filter(has_text=title).first


def test_upload_signal_train_cnn_and_see_its_saliency(page, server, shoot, tmp_path):
    from medinn_core.synthetic import make_heartbeat_cohort

    csv = tmp_path / "heartbeat_small.csv"
    make_heartbeat_cohort(300, samples=48, seed=5)[0].to_csv(csv, index=False)

    _go(page, server, "")
    _nav(page, "Data")
    page.get_by_text("Upload a file", exact=True).click()
    page.locator("input[type='file']").set_input_files(str(csv))
    expect(page.get_by_text("300 rows", exact=False).first).to_be_visible(timeout=LONG)
    expect(page.get_by_role("heading", name="Signals")).to_be_visible(timeout=LONG)
    expect(page.get_by_text("48 samples, ecg_000 ... ecg_047").first).to_be_visible()
    expect(_chart(page, "Signal ecg: 5 traces")).to_be_visible(timeout=LONG)
    _pick(page, "Target column", "event")
    expect(page.get_by_text("Ready to train", exact=False).first).to_be_visible(timeout=LONG)
    shoot("signal-01-data")

    _nav(page, "Train")
    expect(page.get_by_role("combobox", name="Network")).to_have_value(
        "Automatic: the convolutional network for this data", timeout=LONG
    )
    expect(
        page.get_by_text("Automatic builds the convolutional network", exact=False)
    ).to_be_visible()
    epochs = page.get_by_label("Maximum epochs")
    epochs.fill("3")
    epochs.press("Tab")
    page.get_by_role("button", name="Train").click()
    expect(page.get_by_text("Result of the last run", exact=True)).to_be_visible(timeout=LONG)
    expect(page.get_by_text("Convolutional network: per signal", exact=False).first).to_be_visible()
    shoot("signal-02-train")

    _nav(page, "Explain")
    expect(_chart(page, "What matters most")).to_be_visible(timeout=LONG)
    page.get_by_role("tab", name="Signal saliency").click()
    expect(_chart(page, "what each sample adds")).to_be_visible(timeout=LONG)
    expect(_chart(page, "where the model looks")).to_be_visible(timeout=LONG)
    expect(page.get_by_text("48 samples of 'ecg' add", exact=False).first).to_be_visible()
    shoot("signal-03-saliency")
