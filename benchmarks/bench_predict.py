"""Batch scoring of a 1,000,000-row, 40-column CSV with ``python -m medinn_core predict``.

Run by hand from the repository root: ``python benchmarks/bench_predict.py --runs 5``.

Once: a CSV of 1,000,000 synthetic patients (``make_cardiology_cohort`` with 24 noise
columns, without the outcome: ``patient_id`` and 39 inputs) and a model trained for a few
epochs on 3,000 other patients with the same columns, saved as a bundle.

Each run is a fresh Python process that imports TensorFlow first, then times the rest:

* **medinn**: ``medinn_core.cli.main(["predict", ...])`` as the command line runs it, streaming
  the file in chunks;
* **baseline**: the whole file read with ``read_table``, one ``keras.Model.predict`` call on all
  of its encoded rows (Keras' default batch size), written with pandas' ``to_csv``.

Both report seconds after TensorFlow has loaded (wall clock, and CPU time of all threads, which
other jobs on the machine disturb less) and the process's peak resident memory; the runs
alternate, so that the ratio compares figures from the same stretch of time. Last, the chunked
output is compared byte for byte with the output of scoring the file as one chunk.
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
sys.path.insert(0, str(ROOT))
N_ROWS = 1_000_000

CHILD = """
import json, resource, sys, time
started = time.perf_counter()
import keras, tensorflow
tf_s = time.perf_counter() - started
kind, bundle, data, out = sys.argv[1:5]
start, usage = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
if kind == "medinn":
    from medinn_core.cli import main
    assert main(["predict", bundle, data, "--out", out, *sys.argv[5:]]) == 0
else:
    from medinn_core.io import read_table
    from medinn_core.io import escape_formulas
    from medinn_core.predict import require_columns
    from medinn_core.io import load_bundle
    model = load_bundle(bundle).model
    df = read_table(data, max_bytes=2**40)
    require_columns(df, model)
    proba = model.model_.predict([model.transform(df)], verbose=0)[:, 0]
    scores = df[["patient_id"]].assign(risk=proba, prediction=(proba >= 0.5).astype(int))
    escape_formulas(scores).to_csv(out, index=False)
seconds = time.perf_counter() - start
end = resource.getrusage(resource.RUSAGE_SELF)
cpu_s = end.ru_utime + end.ru_stime - usage.ru_utime - usage.ru_stime
print(json.dumps({"tf_import_s": tf_s, "seconds": seconds, "cpu_s": cpu_s,
                  "peak_mb": end.ru_maxrss / 1024}))
"""


def _prepare(folder: Path) -> tuple[Path, Path]:
    from medinn_core.config import TrainConfig
    from medinn_core.io import save_bundle
    from medinn_core.schema import infer_schema
    from medinn_core.synthetic import make_cardiology_cohort
    from medinn_core.train import train_model

    data = folder / "patients.csv"
    cohort = make_cardiology_cohort(N_ROWS, seed=7, n_noise_features=24, id_start=10_000)
    cohort.drop(columns="mace_1y").to_csv(data, index=False)
    train = make_cardiology_cohort(3000, seed=8, n_noise_features=24)
    schema = infer_schema(train, "mace_1y", id_column="patient_id")
    result = train_model(
        train, schema, TrainConfig(epochs=5, seed=0, network="mlp"), baselines=False
    )
    bundle = folder / "model"
    save_bundle(result, bundle, "bench")
    return bundle, data


def _child(kind: str, bundle: Path, data: Path, out: Path, *extra: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(bundle), str(data), str(out), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)},
    )
    if proc.returncode:
        sys.exit(f"{kind} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chunk-rows", type=int, help="passed to predict (default: its own)")
    args = parser.parse_args()
    extra = ["--chunk-rows", str(args.chunk_rows)] if args.chunk_rows else []
    with tempfile.TemporaryDirectory(prefix="medinn-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        bundle, data = _prepare(folder)
        size_mb = data.stat().st_size / 2**20
        print(
            f"prepared {N_ROWS:,} rows, {size_mb:.0f} MB in {time.perf_counter() - started:.0f} s"
        )
        runs: dict[str, list[dict[str, float]]] = {"medinn": [], "baseline": []}
        for i in range(args.runs):
            for kind in runs:
                result = _child(kind, bundle, data, folder / f"{kind}.csv", *extra)
                runs[kind].append(result)
                print(f"run {i + 1} {kind}: {json.dumps(result)} load {os.getloadavg()[0]:.1f}")
        whole = _child("medinn", bundle, data, folder / "whole.csv", "--chunk-rows", "2000000")
        same = (folder / "medinn.csv").read_bytes() == (folder / "whole.csv").read_bytes()
    print(f"one chunk: {json.dumps(whole)}")
    print(f"chunked output byte-identical to one chunk: {same}")
    summary = {}
    for kind, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        summary[kind] = {
            "median_s": round(seconds, 2),
            "runs_s": [round(r["seconds"], 2) for r in results],
            "cpu_median_s": round(statistics.median(r.get("cpu_s", 0) for r in results), 2),
            "patients_per_s": round(N_ROWS / seconds),
            "peak_mb_max": round(max(r["peak_mb"] for r in results)),
            "tf_import_s": round(statistics.median(r["tf_import_s"] for r in results), 2),
        }
    speedup = summary["baseline"]["median_s"] / summary["medinn"]["median_s"]
    print(json.dumps({**summary, "baseline_over_medinn": round(speedup, 2), "same": same}))


if __name__ == "__main__":
    main()
