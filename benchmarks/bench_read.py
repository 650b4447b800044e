"""Reading and validating a 100 MB CSV upload (issue 7: under 10 s, memory under 4× the file).

Run by hand from the repository root: ``python benchmarks/bench_read.py --runs 5``.

Once: a CSV of about 100 MB, ``make_cardiology_cohort(480_000, seed=7, n_noise_features=24)``
with its outcome (41 columns), written as an export would be, with some cells blank.

Each run is a fresh Python process that imports pandas and medinn first, then times the rest
(wall clock and CPU time) and records its peak resident memory above what it held before:

* **medinn**: what the Data page does with an upload: ``load_table`` on the file's bytes (as
  Streamlit hands them over; the bytes are counted in the memory, as on the server; pyarrow
  set to jemalloc first, as the app sets it), then ``infer_schema`` with the outcome as target
  and ``validate``;
* **baseline**: ``pandas.read_csv`` of the same bytes with its default C parser, nothing else
  (no cleaning, no types checked, no validation).

The runs alternate (medinn, baseline, medinn, ...), so that the ratio compares figures from the
same stretch of time. Medians are printed with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
N_ROWS = 480_000

CHILD = """
import json, resource, sys, time
import pandas as pd
from medinn_core.io import load_table, use_jemalloc
from medinn_core.schema import infer_schema
from medinn_core.validate import validate
kind, path = sys.argv[1:3]

def rss_mb():
    with open("/proc/self/status") as status:
        line = next(l for l in status if l.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024

before = rss_mb()
start, cpu = time.perf_counter(), time.process_time()
with open(path, "rb") as handle:
    data = handle.read()
if kind == "medinn":
    use_jemalloc()  # as the app does before it reads an upload
    frame, info = load_table(data, name="cohort.csv")
    report = validate(frame, infer_schema(frame, "mace_1y", id_column="patient_id"))
    shape = list(frame.shape)
else:
    import io
    shape = list(pd.read_csv(io.BytesIO(data)).shape)
seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "cpu_s": cpu_s, "extra_mb": peak - before,
                  "shape": shape}))
"""


def _child(kind: str, path: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if proc.returncode:
        sys.exit(f"{kind} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from medinn_core.synthetic import make_cardiology_cohort

    with tempfile.TemporaryDirectory(prefix="medinn-bench-") as tmp:
        path = Path(tmp) / "cohort.csv"
        cohort = make_cardiology_cohort(N_ROWS, seed=7, n_noise_features=24)
        cohort.to_csv(path, index=False)
        size_mb = path.stat().st_size / 2**20
        print(f"{N_ROWS:,} rows, {cohort.shape[1]} columns, {size_mb:.1f} MB")
        del cohort
        runs: dict[str, list[dict]] = {"medinn": [], "baseline": []}
        for i in range(args.runs):
            for kind in runs:
                result = _child(kind, path)
                runs[kind].append(result)
                load = os.getloadavg()[0]
                print(f"run {i + 1} {kind}: {json.dumps(result)} load {load:.1f}", flush=True)
    summary = {}
    for kind, results in runs.items():
        summary[kind] = {
            "median_s": round(statistics.median(r["seconds"] for r in results), 2),
            "cpu_median_s": round(statistics.median(r["cpu_s"] for r in results), 2),
            "extra_mb_max": round(max(r["extra_mb"] for r in results)),
            "times_file_max": round(max(r["extra_mb"] for r in results) / size_mb, 2),
        }
    ratio = summary["medinn"]["median_s"] / summary["baseline"]["median_s"]
    print(json.dumps({**summary, "medinn_over_baseline": round(ratio, 2), "size_mb": size_mb}))
    print(f"finished {time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()}")


if __name__ == "__main__":
    main()
