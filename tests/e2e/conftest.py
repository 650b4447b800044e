"""A real medinn server and Debian's Chromium for the browser tests.

On a machine without Chromium the tests skip with the reason; under ``CI=true`` a missing
browser is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ..server import ROOT, ServerError, streamlit_server

__all__ = ["ROOT", "SCREENSHOTS"]  # for the tests of this folder

CHROMIUM = os.environ.get("MEDINN_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


def _browser_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


@pytest.fixture(scope="session", autouse=True)
def _require_browser():
    if _browser_available():
        return
    reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}: under CI=true the browser tests must run.")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {
        **browser_context_args,
        "viewport": {"width": 1400, "height": 1000},
        "accept_downloads": True,
    }


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """``streamlit run app.py`` on a free local port with a throw-away model registry."""
    home = tmp_path_factory.mktemp("medinn_home")
    try:
        with streamlit_server(home, timeout=60) as running:
            yield running.url
    except ServerError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def shoot(page):
    """Save a full-page screenshot under tests/e2e/screenshots/ for a person to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(name: str) -> None:
        page.wait_for_timeout(500)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take
