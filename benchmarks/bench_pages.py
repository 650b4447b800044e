"""How fast Home and Data render in a fresh process, measured with Streamlit's AppTest.

Run by hand from the repository root: ``python benchmarks/bench_pages.py --runs 5``.
Each run starts a new Python process (as a server start would), renders Home, then Data with
the cardiology sample chosen, and reports the seconds for each and whether TensorFlow was
imported. Medians over the runs are printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys, time
t0 = time.perf_counter()
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest, app_test
class NavigationOnly(PagesManager):  # see medinn_app/runtime.py: pages/ beside app.py
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False
app_test.PagesManager = NavigationOnly
import_s = time.perf_counter() - t0
start = time.perf_counter()
at = AppTest.from_file("app.py", default_timeout=120).run()
home = time.perf_counter() - start
start = time.perf_counter()
at.switch_page("pages/data.py").run()
at.selectbox(key="data.sample").select("cardiology.csv").run()
data = time.perf_counter() - start
print(json.dumps({"streamlit_import_s": import_s, "home_s": home, "data_s": data,
                  "tensorflow": "tensorflow" in sys.modules,
                  "errors": [e.value for e in at.exception]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as home:
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, "-c", PROBE],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
                env={**__import__("os").environ, "MEDINN_HOME": home},
            )
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    for key in ("streamlit_import_s", "home_s", "data_s"):
        values = [r[key] for r in results]
        print(
            f"{key}: median {statistics.median(values):.2f} s (runs: "
            f"{', '.join(f'{v:.2f}' for v in values)})"
        )
    print("tensorflow imported:", any(r["tensorflow"] for r in results))
    print("errors:", [r["errors"] for r in results if r["errors"]])


if __name__ == "__main__":
    main()
