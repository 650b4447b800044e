"""A real medinn server and Debian's Chromium for the browser tests.

On a machine without Chromium the tests skip with the reason; under ``CI=true`` a missing
browser is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """``streamlit run app.py`` on a free local port with a throw-away model registry."""
    port = _free_port()
    home = tmp_path_factory.mktemp("medinn_home")
    env = {**os.environ, "MEDINN_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2"}
    log = open(home / "server.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    break
        except OSError:
            time.sleep(0.3)
    else:
        proc.terminate()
        pytest.fail(f"The server did not start: {(home / 'server.log').read_text()[-2000:]}")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def shoot(page):
    """Save a full-page screenshot under tests/e2e/screenshots/ for a person to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(name: str) -> None:
        page.wait_for_timeout(500)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take
