"""Benchmark: patients explained per second, medinn's DeepLIFT against shap's explainers.

The network medinn saves with the default ``TrainConfig`` for a cohort of up to 20,000
patients (``build_inference_network``: 5 cross-fitted members of 64-32 units, each with its
linear and spline paths; ``--members 1`` for one) is trained for a few epochs on a synthetic
40-input cohort, and a 100-centroid background is summarised from its training rows. Then 2,000 patients are explained by medinn's vectorised DeepLIFT and by
``shap.DeepExplainer`` (median of 5 runs each), and a few patients by ``shap.KernelExplainer``
(``nsamples="auto"``), whose time is scaled per patient, since it is far too slow for 2,000.
Wall-clock and CPU time are both reported: CPU time is steadier on a shared machine.

Run: ``python benchmarks/bench_explain.py [--patients 2000] [--runs 5] [--kernel-patients 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medinn_core.config import TrainConfig
from medinn_core.explain import explain_encoded, summarize_background, tensorflow_exclusive
from medinn_core.network import build_inference_network, spline_knots

N_INPUTS = 40


def cohort(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """40 standardised inputs; true log-odds = 1.5 x0 - x1 + 0.8 x2 x3 + 0.5 x4^2 - 1."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_INPUTS)).astype(np.float32)
    logit = 1.5 * X[:, 0] - X[:, 1] + 0.8 * X[:, 2] * X[:, 3] + 0.5 * X[:, 4] ** 2 - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return X, y


def timed(function, repeats: int) -> tuple[float, float, object]:
    """Median wall-clock and CPU seconds of ``repeats`` calls, and the last result."""
    wall, cpu = [], []
    result = None
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        result = function()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu), result


def kernel_seconds_per_patient(model, X: np.ndarray, background: np.ndarray) -> tuple[float, float]:
    import shap

    def predict(z: np.ndarray) -> np.ndarray:
        return np.asarray(model([z.astype(np.float32)], training=False))

    explainer = shap.KernelExplainer(predict, background)
    w, c = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer.shap_values(X, nsamples="auto", silent=True)
    return (time.perf_counter() - w) / len(X), (time.process_time() - c) / len(X)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="training rows")
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kernel-patients", type=int, default=5)
    parser.add_argument("--background", type=int, default=100)
    parser.add_argument("--members", type=int, default=5, help="ensemble members (default 5)")
    args = parser.parse_args()
    import keras

    X, y = cohort(args.rows + args.patients)
    train, patients = X[: args.rows], X[args.rows :]
    config = TrainConfig()
    knots = spline_knots(train, config.knots)
    model = build_inference_network(N_INPUTS, "binary", 1, config, args.members, True, knots)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    with tensorflow_exclusive():
        model.fit(train, y[: args.rows], epochs=3, batch_size=64, verbose=0)
    background = summarize_background(train, k=args.background, seed=0)
    print(
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; keras {keras.__version__}; "
        f"{args.members} members of 64-32 units with linear and spline paths "
        f"({len(knots)} hinges), {N_INPUTS} inputs, {len(background)} background centroids, "
        f"{len(patients)} patients"
    )

    fast_wall, fast_cpu, fast = timed(
        lambda: explain_encoded(model, patients, background, method="deeplift"), args.runs
    )
    both_wall, both_cpu, _ = timed(
        lambda: explain_encoded(model, patients, background, method="deeplift", n_jobs=2),
        args.runs,
    )
    deep_wall, deep_cpu, deep = timed(
        lambda: explain_encoded(model, patients, background, method="deep"), args.runs
    )
    kernel_wall, kernel_cpu = kernel_seconds_per_patient(
        model, patients[: args.kernel_patients], background
    )

    n = len(patients)
    rows = [
        ("medinn DeepLIFT (vectorised, 1 thread)", fast_wall / n, fast_cpu / n),
        ("medinn DeepLIFT (vectorised, 2 threads)", both_wall / n, both_cpu / n),
        ("shap DeepExplainer", deep_wall / n, deep_cpu / n),
        (
            f"shap KernelExplainer ({args.kernel_patients} patients, scaled)",
            kernel_wall,
            kernel_cpu,
        ),
    ]
    print(f"{'method':<48}{'patients/s (wall)':>20}{'patients/s (CPU)':>20}")
    for name, wall, cpu in rows:
        print(f"{name:<48}{1 / wall:>20,.1f}{1 / cpu:>20,.1f}")
    print(
        f"DeepLIFT vs DeepExplainer: {deep_wall / fast_wall:,.0f}x wall, "
        f"{deep_cpu / fast_cpu:,.0f}x CPU"
    )
    print(
        f"DeepLIFT vs KernelExplainer: {kernel_wall * n / fast_wall:,.0f}x wall, "
        f"{kernel_cpu * n / fast_cpu:,.0f}x CPU"
    )
    gap = np.abs(fast.values - deep.values)
    print(
        f"additivity error: DeepLIFT {fast.additivity_error:.1e}, "
        f"DeepExplainer {deep.additivity_error:.1e}; |DeepLIFT - DeepExplainer|: median "
        f"{np.median(gap):.1e}, 99th percentile {np.quantile(gap, 0.99):.1e}, max {gap.max():.1e} "
        "(shap computes in float32)"
    )


if __name__ == "__main__":
    main()
