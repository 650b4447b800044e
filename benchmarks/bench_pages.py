"""How fast the pages render, measured with Streamlit's AppTest (issues 3 and 7).

Run by hand from the repository root: ``python benchmarks/bench_pages.py --runs 5``
(``--suite home`` or ``--suite model`` runs one half; ``--root DIR`` times another checkout of
medinn, so that two versions can be compared in the same stretch of time).

Every run is a new Python process, as a server start would be, and AppTest shares one script
cache between its runs, as the server does (AppTest alone would compile each page again on
every run, 20-100 ms a page).

* **home**: Home, then Data with the cardiology sample chosen, in the fresh process (the
  imports of the first render included) and whether TensorFlow was imported; then the same
  in a second session of that process (a server that has run once) and a rerun of Data.
* **model**: once, the sample model is trained into a temporary ``MEDINN_HOME`` and two
  10,000-patient tables are written (``make_cardiology_cohort(10_000, seed=11)``, without and
  with the outcome). Each run uploads the labelled table on Data (the current dataset, its
  target chosen), loads the sample model on Models (TensorFlow's import included), uploads the
  10,000 patients on Predict (the seconds until the page is drawn), presses "Explain this
  patient" (until Explain is drawn, the DeepLIFT of all 10,000 included), and switches through
  Predict, Explain, Evaluate, Models, Data and Home three times. The first round computes scores, explanations and the evaluation of the 10,000
  patients; the second and third are the steady state, a page visited again.

Medians over the runs are printed with the load average; the JSON of every run is kept in
``--out`` when given.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HEADER = """
import json, os, sys, time
t0 = time.perf_counter()
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner.script_cache import ScriptCache
from streamlit.testing.v1 import AppTest, app_test
class NavigationOnly(PagesManager):  # see medinn_app/runtime.py: pages/ beside app.py
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False
app_test.PagesManager = NavigationOnly
SCRIPTS = ScriptCache()  # one per server; AppTest makes a new one, and compiles, every run
app_test.ScriptCache = lambda: SCRIPTS
import_s = time.perf_counter() - t0
"""

PROBE = (
    HEADER
    + """
start = time.perf_counter()
at = AppTest.from_file("app.py", default_timeout=120).run()
home = time.perf_counter() - start
start = time.perf_counter()
at.switch_page("pages/data.py").run()
data_open = time.perf_counter() - start
at.selectbox(key="data.sample").select("cardiology.csv").run()
data = time.perf_counter() - start
errors = [e.value for e in at.exception]
tensorflow = "tensorflow" in sys.modules
start = time.perf_counter()
at = AppTest.from_file("app.py", default_timeout=120).run()
home_warm = time.perf_counter() - start
start = time.perf_counter()
at.switch_page("pages/data.py").run()
at.selectbox(key="data.sample").select("cardiology.csv").run()
data_warm = time.perf_counter() - start
start = time.perf_counter()
at.run()
data_rerun = time.perf_counter() - start
print(json.dumps({"streamlit_import_s": import_s, "home_s": home, "data_open_s": data_open,
                  "data_s": data,
                  "home_warm_s": home_warm, "data_warm_s": data_warm,
                  "data_rerun_s": data_rerun, "tensorflow": tensorflow,
                  "errors": errors + [e.value for e in at.exception]}))
"""
)

PREPARE = """
import os
from medinn_app import loaders
from medinn_core.io import Registry
from medinn_core.synthetic import make_cardiology_cohort
from medinn_core.train import train_model
home = os.environ["MEDINN_HOME"]
data = loaders.read_sample(loaders.SAMPLE_DATASET)
result = train_model(data.frame, loaders.default_schema(data), loaders.sample_config())
Registry().save(result, loaders.SAMPLE_MODEL, loaders.SAMPLE_NOTE)
cohort = make_cardiology_cohort(10_000, seed=11, id_start=100_001)
cohort.to_csv(os.path.join(home, "labelled_10k.csv"), index=False)
cohort.drop(columns="mace_1y").to_csv(os.path.join(home, "patients_10k.csv"), index=False)
"""

PAGES = ("predict", "explain", "evaluate", "models", "data", "home")
MODEL_PROBE = (
    HEADER
    + """
home = os.environ["MEDINN_HOME"]
PAGES = ("predict", "explain", "evaluate", "models", "data", "home")
seconds = {}
def timed(name, action):
    start = time.perf_counter()
    action()
    seconds[name] = time.perf_counter() - start
    if at.exception:
        sys.exit(f"{name}: {[e.value for e in at.exception]}")
def upload(key, name):
    with open(os.path.join(home, name), "rb") as f:
        at.file_uploader(key=key).set_value((name, f.read(), "text/csv"))
    at.run()
def metric(label):
    return next(m.value for m in at.metric if m.label == label)
at = AppTest.from_file("app.py", default_timeout=600).run()
at.switch_page("pages/data.py").run()
at.radio(key="data.source").set_value("Upload a file").run()
timed("data_upload", lambda: upload("data.upload", "labelled_10k.csv"))
timed("data_target", lambda: at.selectbox(key="data.target").select("mace_1y").run())
assert any("Ready to train: 10,000" in s.value for s in at.success)
at.switch_page("pages/models.py").run()
timed("load_model", lambda: at.button(key="models.load").click().run())
at.switch_page("pages/predict.py").run()
at.radio(key="predict.source").set_value("upload").run()
timed("predict_upload", lambda: upload("predict.upload", "patients_10k.csv"))
assert metric("Patients") == "10,000", metric("Patients")
timed("predict_rerun", lambda: at.run())
at.session_state["predict.tab"] = "One patient: try a change"  # the button's tab (not timed)
at.run()
timed("explain_upload", lambda: at.button(key="predict.explain").click().run())
assert any("10,000 patients explained" in c.value for c in at.caption)
timed("explain_rerun", lambda: at.run())
for round_ in range(3):
    for page in PAGES:
        timed(f"{page}.{round_}", lambda: at.switch_page(f"pages/{page}.py").run())
print(json.dumps(seconds))
"""
)


def _loads(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def _child(code: str, root: Path, home: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MEDINN_HOME": home, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(root)}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, env=env
    )
    if proc.returncode:
        sys.exit(f"benchmark process failed:\n{proc.stderr[-3000:]}")
    return proc


def _summary(results: list[dict], keys, loads: list[float]) -> dict:
    out = {}
    for key in keys:
        values = [r[key] for r in results]
        out[key] = {
            "median": round(statistics.median(values), 2),
            "runs": [round(v, 2) for v in values],
        }
        print(
            f"{key}: median {statistics.median(values):.2f} s (runs: "
            f"{', '.join(f'{v:.2f}' for v in values)})"
        )
    print(f"load average (1 min) at each run: {', '.join(f'{v:.1f}' for v in loads)}")
    return out


def home_suite(root: Path, runs: int) -> dict:
    """Home and Data in fresh processes, then warm (a second session)."""
    results, loads = [], []
    with tempfile.TemporaryDirectory() as home:
        for _ in range(runs):
            loads.append(os.getloadavg()[0])
            results.append(_loads(_child(PROBE, root, home).stdout))
    keys = (
        "streamlit_import_s",
        "home_s",
        "data_open_s",
        "data_s",
        "home_warm_s",
        "data_warm_s",
        "data_rerun_s",
    )
    summary = _summary(results, keys, loads)
    print("tensorflow imported:", any(r["tensorflow"] for r in results))
    print("errors:", [r["errors"] for r in results if r["errors"]])
    return {"summary": summary, "load": loads, "runs": results}


def model_suite(root: Path, runs: int, home: str | None) -> dict:
    """Predict, Explain and page switches with the sample model and 10,000 patients."""
    with tempfile.TemporaryDirectory(prefix="medinn-bench-") as tmp:
        home = home or tmp
        if not (Path(home) / "patients_10k.csv").exists():
            started = time.perf_counter()
            _child(PREPARE, root, home)
            print(f"prepared the sample model and tables in {time.perf_counter() - started:.0f} s")
        results, loads = [], []
        for i in range(runs):
            loads.append(os.getloadavg()[0])
            results.append(_loads(_child(MODEL_PROBE, root, home).stdout))
            print(f"run {i + 1}: {json.dumps({k: round(v, 2) for k, v in results[-1].items()})}")
    for r in results:  # the steady state: the median of the second and third visits
        for page in PAGES:
            r[f"{page}.steady"] = statistics.median([r[f"{page}.1"], r[f"{page}.2"]])
    keys = [
        "data_upload",
        "data_target",
        "load_model",
        "predict_upload",
        "predict_rerun",
        "explain_upload",
        "explain_rerun",
        *(f"{page}.0" for page in PAGES),
        *(f"{page}.steady" for page in PAGES),
    ]
    return {"summary": _summary(results, keys, loads), "load": loads, "runs": results}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--suite", choices=("home", "model", "all"), default="all")
    parser.add_argument("--root", type=Path, default=ROOT, help="the medinn checkout to time")
    parser.add_argument("--home", help="MEDINN_HOME prepared by an earlier model run (reused)")
    parser.add_argument("--out", type=Path, help="write every run's figures here (JSON)")
    args = parser.parse_args()
    found = {"root": str(args.root), "machine": platform.platform(), "cpus": os.cpu_count()}
    if args.suite in ("home", "all"):
        found["home"] = home_suite(args.root, args.runs)
    if args.suite in ("model", "all"):
        found["model"] = model_suite(args.root, args.runs, args.home)
    if args.out:
        args.out.write_text(json.dumps(found, indent=1))


if __name__ == "__main__":
    main()
