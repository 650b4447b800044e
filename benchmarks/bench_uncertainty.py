"""Held-out coverage and width of the conformal intervals and prediction sets (issue 13).

Run by hand from the repository root:

    python benchmarks/bench_uncertainty.py              # 5,000 training + 5,000 new patients
    python benchmarks/bench_uncertainty.py --n 5000 --seeds 0 1 2

Regression: ``make_drug_response`` (dose = (m + e)², e ~ N(0, sd)); medinn trains with the
defaults (coverage 0.9) on ``n`` patients and scores ``n`` new ones from another seed. Reported:
the share of new patients whose dose lies in [lower, upper], the interval's width, and the width
of the oracle's 90 % interval ((m ± 1.645 sd)², the narrowest any model could give with the
true mean). Multiclass: ``make_toxicity_cohort``, share of new patients whose grade is in the
prediction set, and the mean set size (the oracle's set from the true probabilities for
comparison).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from medinn_core import calibrate
from medinn_core.config import TrainConfig
from medinn_core.predict import score_frame
from medinn_core.schema import infer_schema
from medinn_core.synthetic import (
    DRUG_RESPONSE_NOISE_SD,
    _sqrt_dose_mean,
    make_drug_response,
    make_toxicity_cohort,
    toxicity_true_proba,
)
from medinn_core.train import train_model

Z90 = 1.6448536269514722


def regression(n: int, seed: int) -> dict:
    train = make_drug_response(n, seed=seed)
    new = make_drug_response(n, seed=seed + 1000)
    target = "stable_dose_mg_week"
    start = time.perf_counter()
    result = train_model(train, infer_schema(train, target), TrainConfig(seed=seed))
    seconds = time.perf_counter() - start
    scored = score_frame(result.model, new)
    y = new[target].to_numpy()
    inside = (scored["lower"] <= y) & (y <= scored["upper"])
    complete = new[["cyp2c9", "vkorc1"]].notna().all(axis=1).to_numpy()
    m = _sqrt_dose_mean(new[complete].fillna(0))
    low = np.maximum(m - Z90 * DRUG_RESPONSE_NOISE_SD, 0) ** 2
    high = (m + Z90 * DRUG_RESPONSE_NOISE_SD) ** 2
    return {
        "seed": seed,
        "scheme": result.scheme.name,
        "coverage": float(inside.mean()),
        "internal": result.metrics.get("coverage"),
        "width": float((scored["upper"] - scored["lower"]).mean()),
        "oracle_width": float((high - low).mean()),
        "rmse": result.metrics["rmse"],
        "seconds": seconds,
    }


def multiclass(n: int, seed: int) -> dict:
    train = make_toxicity_cohort(n, seed=seed)
    new = make_toxicity_cohort(n, seed=seed + 1000)
    target = "toxicity_grade"
    start = time.perf_counter()
    result = train_model(train, infer_schema(train, target), TrainConfig(seed=seed))
    seconds = time.perf_counter() - start
    model = result.model
    scored = score_frame(model, new)
    y = new[target].astype(str).to_numpy()
    sets = scored["prediction_set"].str.split("|")
    inside = np.array([label in members for label, members in zip(y, sets, strict=True)])
    true = toxicity_true_proba(new)
    index = {c: i for i, c in enumerate(model.classes_)}
    y_index = np.array([index[v] for v in y])
    # the oracle's conformal set at the same coverage, from the true probabilities of the
    # training patients
    q = calibrate.conformal_quantile(
        calibrate.class_scores(toxicity_true_proba(train), model.encode_target(train)), 0.9
    )
    oracle = calibrate.prediction_sets(true, q)
    return {
        "seed": seed,
        "scheme": result.scheme.name,
        "coverage": float(inside.mean()),
        "internal": result.metrics.get("coverage"),
        "size": float(sets.map(len).mean()),
        "oracle_size": float(oracle.sum(axis=1).mean()),
        "oracle_coverage": float(oracle[np.arange(len(y)), y_index].mean()),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    print(f"# {platform.node()} {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}")
    print(
        "\n| task | seed | scheme | held-out coverage | internal (out-of-fold) | width or set size | oracle | s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        r = regression(args.n, seed)
        print(
            f"| regression | {seed} | {r['scheme']} | {r['coverage']:.3f} | {r['internal']:.3f} | "
            f"{r['width']:.1f} mg/week | {r['oracle_width']:.1f} mg/week | {r['seconds']:.0f} |",
            flush=True,
        )
        m = multiclass(args.n, seed)
        print(
            f"| multiclass | {seed} | {m['scheme']} | {m['coverage']:.3f} | {m['internal']:.3f} | "
            f"{m['size']:.2f} classes | {m['oracle_size']:.2f} classes "
            f"(coverage {m['oracle_coverage']:.3f}) | {m['seconds']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
