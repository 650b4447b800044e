"""The journey on the shapes that broke real exports (issue 16): a near-separable outcome whose
labels name an absence (``ckd`` / ``notckd``: the event must be ``ckd``), and an outcome whose
labels carry no event word at all. Every page, and the report, must come up with no error."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from .test_journey import LONG, _go, _nav, _pick

pytestmark = pytest.mark.e2e


def _kidney_like(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Haemoglobin and creatinine almost separate the two classes, as in the kidney export."""
    rng = np.random.default_rng(seed)
    ckd = rng.random(n) < 0.6
    return pd.DataFrame(
        {
            "age": rng.normal(55, 15, n).round(),
            "hemo": np.where(ckd, rng.normal(10.5, 1.5, n), rng.normal(15.2, 1.2, n)).round(1),
            "sc": np.where(ckd, rng.normal(3.5, 1.5, n).clip(0.6), rng.normal(0.9, 0.2, n)).round(
                2
            ),
            "htn": np.where(ckd & (rng.random(n) < 0.7), "yes", "no"),
            "classification": np.where(ckd, "ckd", "notckd"),
        }
    )


def _no_event_word(n: int = 300, seed: int = 1) -> pd.DataFrame:
    """Labels ``B`` / ``M`` (as in breast-cancer exports): nothing says which is the event."""
    rng = np.random.default_rng(seed)
    radius = rng.normal(14, 3.5, n)
    texture = rng.normal(19, 4, n)
    p = 1 / (1 + np.exp(-(0.9 * (radius - 15) + 0.15 * (texture - 19))))
    return pd.DataFrame(
        {
            "radius_mean": radius.round(2),
            "texture_mean": texture.round(2),
            "diagnosis": np.where(rng.random(n) < p, "M", "B"),
        }
    )


def _no_error(page) -> None:
    page.wait_for_timeout(1500)
    assert page.locator("[data-testid='stException']").count() == 0
    errors = page.locator("[data-testid='stAlertContentError']")
    assert errors.count() == 0, errors.all_inner_texts()


@pytest.mark.parametrize(
    ("name", "frame", "target", "event"),
    [
        ("kidney_like.csv", _kidney_like, "classification", "ckd"),
        ("no_event_word.csv", _no_event_word, "diagnosis", None),
    ],
)
def test_hard_shapes_go_through_every_page(page, server, tmp_path, name, frame, target, event):
    path = tmp_path / name
    frame().to_csv(path, index=False)
    _go(page, server, "")
    _nav(page, "Data")
    page.get_by_text("Upload a file", exact=True).click()
    page.locator("input[type='file']").set_input_files(str(path))
    expect(page.get_by_text("300 rows", exact=False).first).to_be_visible(timeout=LONG)
    _pick(page, "Target column", target)
    expect(page.get_by_text("Validation", exact=True).first).to_be_visible(timeout=LONG)
    if event is not None:  # the event is the disease, not its absence, and it is said
        expect(page.get_by_text(f"risk of {event}", exact=False).first).to_be_visible(timeout=LONG)
    _no_error(page)

    _nav(page, "Train")
    epochs = page.get_by_label("Maximum epochs")
    epochs.fill("6")
    epochs.press("Tab")
    page.get_by_role("button", name="Train").click()
    expect(page.get_by_text("Result of the last run", exact=True)).to_be_visible(timeout=LONG)
    expect(page.get_by_text("cross-fitting", exact=False).first).to_be_visible()
    _no_error(page)

    _nav(page, "Predict")
    expect(page.get_by_text("300 patients", exact=False).first).to_be_visible(timeout=LONG)
    _no_error(page)
    page.get_by_role("tab", name="One patient").click()
    expect(page.get_by_text("Range across the ensemble", exact=False).first).to_be_visible(
        timeout=LONG
    )
    _no_error(page)

    _nav(page, "Explain")
    expect(page.locator(".js-plotly-plot >> visible=true").first).to_be_visible(timeout=LONG)
    page.get_by_role("tab", name="One patient").click()
    expect(page.get_by_text("networks of the ensemble", exact=False).first).to_be_visible(
        timeout=LONG
    )
    _no_error(page)

    _nav(page, "Evaluate")
    expect(page.get_by_text("AUROC", exact=False).first).to_be_visible(timeout=LONG)
    for tab in ("ROC", "Calibration", "Decision curve", "Subgroups"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(1000)
        _no_error(page)
    page.get_by_test_id("stExpander").filter(has_text="Model report").click()
    download = page.get_by_role("button", name="Download the model report (HTML)")
    for _ in range(3):
        if download.is_visible():
            break
        with contextlib.suppress(AssertionError, PlaywrightTimeoutError):
            page.get_by_role("button", name="Build the report").click(timeout=10_000)
            expect(download).to_be_visible(timeout=LONG // 3)
    expect(download).to_be_visible()
    _no_error(page)
