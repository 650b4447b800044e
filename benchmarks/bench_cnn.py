"""The convolutional network on the heartbeat cohort (issue 15): CNN against the dense network,
gradient boosting and the oracle; training time, scoring and explanation speed, additivity.

Run by hand from the repository root:

    python benchmarks/bench_cnn.py                     # 10,000 patients, seeds 0-2
    python benchmarks/bench_cnn.py --n 5000 --seeds 0 1 2 3 4

``make_heartbeat_cohort(n, seed)`` (a rhythm strip of 128 samples with several beats, whose
T-wave notch drives the outcome, + age, sex, systolic_bp: 130 feature columns + id and
outcome). Each network trains with the default ``TrainConfig`` (``network``
``"cnn"`` or ``"mlp"``, ``train_model`` without baselines) and is scored on ``n`` new patients
(the cohort with seed + 1000). Gradient boosting (scikit-learn's HistGradientBoosting, as the
baseline medinn stores) fits the same encoded, flattened columns. The oracle is the true risk
of the new patients. Speeds: batch scoring of the new patients (``predict_proba``, median
of 5; "eager": the preprocessing and one eager call of the network on all the rows, as
medinn scored before it called a CNN compiled in batches; a CNN/MLP ratio per seed, from the
same run), and
DeepLIFT explanations of 2,000 of them against the bundle's background (2 threads), with the
largest additivity error. Medians over the seeds are printed last.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.metrics import roc_auc_score

from medinn_core.config import TrainConfig
from medinn_core.explain import explain_encoded
from medinn_core.schema import infer_schema
from medinn_core.synthetic import make_heartbeat_cohort
from medinn_core.train import _gradient_boosting, train_model


def _eager(network, x):
    for i in range(0, len(x), 65_536):
        network([x[i : i + 65_536]], training=False)


def _median_seconds(work, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(n: int, seed: int, network: str) -> dict[str, float]:
    df, _ = make_heartbeat_cohort(n, seed=seed)
    new, risk = make_heartbeat_cohort(n, seed=seed + 1000)
    schema = infer_schema(df, "event", id_column="patient_id")
    start = time.perf_counter()
    result = train_model(df, schema, TrainConfig(seed=seed, network=network), baselines=False)
    seconds = time.perf_counter() - start
    model = result.model
    y = new["event"].to_numpy()
    p = model.predict_proba(new)[:, 1]  # builds the stacked scoring graph once
    scoring = len(new) / _median_seconds(lambda: model.predict_proba(new))
    # as scored before (same rows): one eager call of the network on up to 65,536 rows
    eager = len(new) / _median_seconds(lambda: _eager(model.model_, model.transform(new)))
    x_new = model.transform(new)[:2000]
    start = time.perf_counter()
    explained = explain_encoded(model.model_, x_new, result.background, n_jobs=2)
    explaining = len(x_new) / (time.perf_counter() - start)
    out = {
        "auroc": roc_auc_score(y, p),
        "oracle": roc_auc_score(y, risk),
        "train_s": seconds,
        "scoring": scoring,
        "eager": eager,
        "explaining": explaining,
        "additivity": explained.additivity_error,
        "members": model.n_members,
        "epochs": max(model.member_best_epochs_),
    }
    if network == "cnn":
        boosting = _gradient_boosting(model.schema.task, seed)
        boosting.fit(model.transform(df), model.encode_target(df))
        out["boosting"] = roc_auc_score(y, boosting.predict_proba(model.transform(new))[:, 1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    print(f"# {platform.node()} {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"# load average {os.getloadavg()}")
    print(
        "\n| seed | network | AUROC | oracle | ratio | boosting | train s | members | "
        "scoring /s | eager /s | explain /s | additivity |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows: dict[str, list[dict[str, float]]] = {"cnn": [], "mlp": []}
    for seed in args.seeds:
        for network in ("cnn", "mlp"):
            r = run(args.n, seed, network)
            rows[network].append(r)
            boosting = f"{r['boosting']:.4f}" if "boosting" in r else ""
            print(
                f"| {seed} | {network} | {r['auroc']:.4f} | {r['oracle']:.4f} | "
                f"{r['auroc'] / r['oracle']:.3f} | {boosting} | {r['train_s']:.0f} | "
                f"{r['members']:.0f} | {r['scoring']:,.0f} | {r['eager']:,.0f} | "
                f"{r['explaining']:,.0f} | {r['additivity']:.1e} |",
                flush=True,
            )
        cnn, mlp = rows["cnn"][-1]["scoring"], rows["mlp"][-1]["scoring"]
        print(f"# seed {seed}: CNN/MLP scoring {cnn / mlp:.2f}, load {os.getloadavg()}")
    for network, results in rows.items():
        median = {k: statistics.median(r[k] for r in results) for k in results[0]}
        print(
            f"| median | {network} | {median['auroc']:.4f} | {median['oracle']:.4f} | "
            f"{median['auroc'] / median['oracle']:.3f} | "
            f"{median.get('boosting', float('nan')):.4f} | {median['train_s']:.0f} | "
            f"{median['members']:.0f} | {median['scoring']:,.0f} | {median['eager']:,.0f} | "
            f"{median['explaining']:,.0f} | "
            f"{max(r['additivity'] for r in results):.1e} |"
        )


if __name__ == "__main__":
    main()
