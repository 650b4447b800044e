"""Cold start and page timings in a real browser (issue 7): ``streamlit run`` and Chromium.

Run by hand from the repository root: ``python benchmarks/bench_pages_browser.py --runs 5``
(Playwright drives ``/usr/bin/chromium``, or ``$MEDINN_CHROMIUM``; ``--root DIR`` times another
checkout of medinn).

Once: the sample model is trained into a temporary ``MEDINN_HOME`` and the two 10,000-patient
tables of ``bench_pages.py`` are written. The servers are started by ``tests.server``, as for
the browser tests. The browser is started before the runs, so that its
own start-up is not counted. Each run starts a new server, as after a deployment:

* **cold start**: from spawning ``streamlit run app.py --server.headless true`` on a free port
  to ``/_stcore/health`` answering, to ``/`` answering, and to the Home page drawn in the
  browser (its title visible and the script run finished);
* **Data, first visit**: the sidebar link clicked until Data is drawn, then (timed apart) the
  cardiology sample chosen, in that first session of the new server (imports included,
  TensorFlow not imported);
* **warm Home and Data**: the same in a second browser session (a new tab) of that server;
* **with the model**, in a third session: the labelled table uploaded on Data and its target
  chosen; the sample model loaded on Models; the 10,000 patients uploaded on Predict (from
  choosing the file to the page drawn); "Explain this patient" (until Explain is drawn, the
  DeepLIFT of all 10,000 included); then three rounds of sidebar clicks through Predict,
  Explain, Evaluate, Models, Data and Home. The first
  round computes scores, explanations and the evaluation; the second and third are the steady
  state.

A page counts as drawn when its title is on screen and Streamlit reports the script run as
finished (``data-test-script-state="notRunning"``), so every chart and table has arrived.
Medians over the runs are printed with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench_pages import PAGES, PREPARE, _child

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.server import streamlit_server  # noqa: E402 - after the repository is on the path

CHROMIUM = os.environ.get("MEDINN_CHROMIUM", "/usr/bin/chromium")
TITLES = {
    "home": "medinn",
    "data": "Data",
    "predict": "Predict",
    "explain": "Explain",
    "evaluate": "Evaluate",
    "models": "Models",
}
NAV = {page: title for page, title in TITLES.items() if page != "home"} | {"home": "Home"}
LONG = 300_000  # ms: loading TensorFlow on a busy two-core machine


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _drawn(page, title: str) -> None:
    """Wait until ``title`` heads the page and the script run has finished."""
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name=title, exact=True).first).to_be_visible(timeout=LONG)
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(
        timeout=LONG
    )


def _timed(seconds: dict, name: str, action) -> None:
    start = time.perf_counter()
    action()
    seconds[name] = time.perf_counter() - start


def _nav(page, name: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(NAV[name], exact=True).click()
    _drawn(page, TITLES[name])


def _pick(page, label: str, option: str) -> None:
    """Choose ``option`` in the Data page's selectbox ``label``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    for attempt in range(3):
        page.get_by_test_id("stSelectbox").filter(has_text=label).click()
        page.keyboard.type(option)  # the list is virtual: a late option is drawn once filtered
        choice = page.get_by_role("option", name=option, exact=True)
        try:  # a list opened while the page was still rerunning can come up empty: again
            choice.click(timeout=LONG // 10 if attempt < 2 else LONG)
            return
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
            _drawn(page, "Data")


def _sample_data(page) -> None:
    """On Data, choose the cardiology sample (read, schema, validation, profile)."""
    _pick(page, "Sample file", "cardiology.csv")
    page.get_by_text("4,000 rows", exact=False).first.wait_for(timeout=LONG)
    _drawn(page, "Data")


def _with_model(page, home: str, seconds: dict) -> None:
    """The labelled table on Data, the sample model, then Predict, Explain and the rounds."""
    _nav(page, "data")
    page.get_by_text("Upload a file", exact=True).click()
    page.locator("input[type='file']").set_input_files(str(Path(home) / "labelled_10k.csv"))
    page.get_by_text("10,000 rows", exact=False).first.wait_for(timeout=LONG)
    _drawn(page, "Data")
    _pick(page, "Target column", "mace_1y")
    page.get_by_text("Ready to train", exact=False).wait_for(timeout=LONG)
    _drawn(page, "Data")
    _nav(page, "models")

    def load() -> None:
        page.get_by_role("button", name="Load as the current model").click()
        page.get_by_text("This is the current model", exact=False).wait_for(timeout=LONG)
        _drawn(page, "Models")

    _timed(seconds, "load_model_s", load)
    _nav(page, "predict")
    page.get_by_text("Upload a file", exact=True).click()
    page.locator("input[type='file']").wait_for(state="attached", timeout=LONG)

    def predict() -> None:
        page.locator("input[type='file']").set_input_files(str(Path(home) / "patients_10k.csv"))
        page.get_by_text("10,000 patients", exact=True).wait_for(timeout=LONG)
        _drawn(page, "Predict")

    _timed(seconds, "predict_upload_s", predict)
    # The button is on Predict's second tab (not timed: the step starts at the click).
    page.get_by_role("tab", name="One patient: try a change").click()
    page.get_by_role("button", name="Explain this patient").wait_for(timeout=LONG)
    _drawn(page, "Predict")

    def explain() -> None:
        page.get_by_role("button", name="Explain this patient").click()
        page.get_by_text("10,000 patients explained", exact=False).wait_for(timeout=LONG)
        _drawn(page, "Explain")

    _timed(seconds, "explain_upload_s", explain)
    for round_ in range(3):
        for name in PAGES:
            _timed(seconds, f"{name}.{round_}", lambda name=name: _nav(page, name))


def _new_page(browser):
    """A new browser session; its clicks wait as long as a busy page needs."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(LONG)
    return page


def one_run(browser, root: Path, home: str) -> dict:
    """A new server: cold start, first and warm Home and Data, then the model's pages."""
    with (
        tempfile.TemporaryDirectory(prefix="medinn-log-") as logs,
        # The health check polled often: its time is measured.
        streamlit_server(home, root=root, log=Path(logs) / "server.log", poll=0.02) as server,
    ):
        url, started = server.url, server.started
        seconds = {"health_s": server.healthy - started}
        if _answers(url):
            seconds["index_s"] = time.perf_counter() - started
        first = _new_page(browser)
        first.goto(url)
        _drawn(first, "medinn")
        seconds["home_drawn_s"] = time.perf_counter() - started
        _timed(seconds, "first_data_s", lambda: _nav(first, "data"))
        _timed(seconds, "first_sample_s", lambda: _sample_data(first))
        first.close()
        page = _new_page(browser)
        _timed(seconds, "warm_home_s", lambda: (page.goto(url), _drawn(page, "medinn")))
        _timed(seconds, "warm_data_s", lambda: _nav(page, "data"))
        _timed(seconds, "warm_sample_s", lambda: _sample_data(page))
        page.close()
        page = _new_page(browser)
        page.goto(url)
        _drawn(page, "medinn")
        _with_model(page, home, seconds)
        page.close()
    return seconds


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--root", type=Path, default=ROOT, help="the medinn checkout to time")
    parser.add_argument("--home", help="MEDINN_HOME prepared by an earlier run (reused)")
    parser.add_argument("--out", type=Path, help="write every run's figures here (JSON)")
    args = parser.parse_args()
    results, loads = [], []
    with tempfile.TemporaryDirectory(prefix="medinn-bench-") as tmp, sync_playwright() as pw:
        home = args.home or tmp
        if not (Path(home) / "patients_10k.csv").exists():
            _child(PREPARE, args.root, home)
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        for i in range(args.runs):
            loads.append(os.getloadavg()[0])
            results.append(one_run(browser, args.root, home))
            print(f"run {i + 1}: {json.dumps({k: round(v, 2) for k, v in results[-1].items()})}")
        browser.close()
    for r in results:
        for name in PAGES:
            r[f"{name}.steady"] = statistics.median([r[f"{name}.1"], r[f"{name}.2"]])
    keys = [k for k in results[0] if k[-2:] not in (".1", ".2")]
    summary = {}
    for key in keys:
        values = [r[key] for r in results]
        summary[key] = round(statistics.median(values), 2)
        print(
            f"{key}: median {statistics.median(values):.2f} s (runs: "
            f"{', '.join(f'{v:.2f}' for v in values)})"
        )
    print(f"load average (1 min) at each run: {', '.join(f'{v:.1f}' for v in loads)}")
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "load": loads, "runs": results}))


if __name__ == "__main__":
    main()
