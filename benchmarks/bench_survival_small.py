"""The survival network against linear Cox on small cohorts of the heart-failure export's shape.

Run by hand from the repository root (issue 14):

    python benchmarks/bench_survival_small.py                 # WHAS500 and simulated cohorts
    python benchmarks/bench_survival_small.py --seeds 5

Cohorts, each a few hundred patients with a follow-up time and death:

- ``whas500``: the Worcester Heart Attack Study sample bundled with scikit-survival (500
  patients, 215 deaths, follow-up ``lenfol`` days; ``sksurv.datasets.load_whas500``, no
  download). The heart-failure export (299 patients) is not redistributed with medinn.
- ``simulated_299``: 299 patients of :func:`medinn_core.synthetic.make_survival_cohort`, one
  cohort per seed.

medinn trains with the default ``TrainConfig`` exactly as the CLI's ``train`` does
(``train_model``: 5-fold cross-fitting below 20,000 patients). The linear Cox model
(scikit-survival, small ridge) is cross-fitted on the same folds through the network's own
preprocessing. Both are scored by Harrell's C of their out-of-fold log-hazards on every
patient.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from medinn_core.config import TrainConfig
from medinn_core.schema import infer_schema
from medinn_core.synthetic import make_survival_cohort
from medinn_core.train import train_model


def whas500() -> pd.DataFrame:
    from sksurv.datasets import load_whas500

    x, y = load_whas500()
    frame = x.astype({c: "float64" for c in x.columns if str(x[c].dtype) == "category"})
    return frame.assign(time=y["lenfol"], death=y["fstat"].astype(int))


def run(name: str, df: pd.DataFrame, seed: int) -> dict:
    schema = infer_schema(df, "death", time_column="time")
    start = time.perf_counter()
    result = train_model(df, schema, TrainConfig(seed=seed))
    network = result.metrics["c_index"]
    cox = result.baselines["linear_cox"]["c_index"]
    return {
        "cohort": name,
        "seed": seed,
        "patients": len(df),
        "events": int(df["death"].sum()),
        "network_c": round(network, 4),
        "linear_cox_c": round(cox, 4),
        "difference": round(network - cox, 4),
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for seed in range(args.seeds):
        rows.append(run("whas500", whas500(), seed))
        rows.append(run("simulated_299", make_survival_cohort(299, seed=100 + seed), seed))
        print(pd.DataFrame(rows[-2:]).to_string(index=False, header=seed == 0), flush=True)
    table = pd.DataFrame(rows)
    print(table.groupby("cohort")[["network_c", "linear_cox_c", "difference"]].mean().round(4))
    print("worst difference per cohort:")
    print(table.groupby("cohort")["difference"].min())
    return int(np.any(table.groupby("cohort")["difference"].mean() < -0.01))


if __name__ == "__main__":
    raise SystemExit(main())
