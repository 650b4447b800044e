"""Benchmark: 1,000 bootstrap resamples of AUROC on 10,000 patients.

Compares medinn's vectorised bootstrap (``medinn_core.evaluation.bootstrap_auroc``) with the
naive loop that calls scikit-learn's ``roc_auc_score`` once per resample. The naive loop runs on
fewer resamples and is scaled up to 1,000. Both wall-clock and CPU time are reported, since CPU
time is steadier on a shared machine. The target of issue 4 is under 2 s.

Run: ``python benchmarks/bench_bootstrap.py [--patients 10000] [--resamples 1000]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medinn_core.evaluation import bootstrap_auroc, bootstrap_indices, evaluate_binary


def cohort(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lp = -1.5 + 1.2 * rng.normal(size=n)
    risk = 1 / (1 + np.exp(-lp))
    return rng.binomial(1, risk), risk


def timed(function, repeats: int) -> tuple[float, float]:
    """Median wall-clock and median CPU seconds of ``repeats`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--naive-resamples", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    y, p = cohort(args.patients)
    n_boot = args.resamples

    bootstrap_auroc(y, p, n_boot=10)  # warm-up
    fast_wall, fast_cpu = timed(lambda: bootstrap_auroc(y, p, n_boot=n_boot, seed=0), args.repeats)

    indices = bootstrap_indices(y.size, args.naive_resamples, seed=0)

    def naive() -> None:
        for rows in indices:
            roc_auc_score(y[rows], p[rows])

    naive_wall, naive_cpu = timed(naive, max(1, args.repeats // 2))
    scale = n_boot / args.naive_resamples
    full_wall, full_cpu = timed(lambda: evaluate_binary(y, p, n_boot=n_boot), 3)

    print(f"Bootstrap AUROC, {n_boot:,} resamples of {args.patients:,} patients")
    print(f"  vectorised (median of {args.repeats}): {fast_wall:.3f} s wall, {fast_cpu:.3f} s CPU")
    print(
        f"  naive sklearn loop ({args.naive_resamples} resamples x {scale:g}): "
        f"{naive_wall * scale:.2f} s wall, {naive_cpu * scale:.2f} s CPU"
    )
    print(
        f"  speed-up: {naive_wall * scale / fast_wall:.0f}x wall, "
        f"{naive_cpu * scale / fast_cpu:.0f}x CPU"
    )
    print(
        f"  evaluate_binary with all bands (median of 3): {full_wall:.3f} s wall, "
        f"{full_cpu:.3f} s CPU"
    )
    print(f"  target < 2 s: {'met' if fast_wall < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
