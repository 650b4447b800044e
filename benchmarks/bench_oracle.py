"""The default model against the true risk on the 20,000-patient synthetic cohort (issue 13).

Run by hand from the repository root:

    python benchmarks/bench_oracle.py                 # seeds 0-2
    python benchmarks/bench_oracle.py --n 20000 --seeds 0 1 2 3 4

``make_cardiology_cohort(n, seed, n_noise_features=24)`` (40 input columns, 16 of them noise);
medinn trains with the default ``TrainConfig`` (``train_model``) and is scored on ``n`` new
patients (the cohort with seed + 1000); the oracle is the true risk of the same new patients
(``cardiology_true_risk``), the best AUROC any model can reach. The logistic regression stored
with the model is scored on them too. Target: network >= 0.99 x oracle.
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

from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from medinn_core.config import TrainConfig
from medinn_core.schema import infer_schema
from medinn_core.synthetic import cardiology_true_risk, make_cardiology_cohort
from medinn_core.train import train_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--scheme", default="auto", choices=["auto", "folds", "split"])
    args = parser.parse_args()
    print(f"# {platform.node()} {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}")
    print("\n| seed | scheme | network AUROC | oracle | ratio | logistic | s |")
    print("|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        df = make_cardiology_cohort(args.n, seed=seed, n_noise_features=24)
        start = time.perf_counter()
        config = TrainConfig(seed=seed, scheme=args.scheme, network="mlp")
        result = train_model(df, infer_schema(df, "mace_1y"), config, baselines=False)
        seconds = time.perf_counter() - start
        model = result.model
        new = make_cardiology_cohort(args.n, seed=seed + 1000, n_noise_features=24)
        y = new["mace_1y"].to_numpy()
        network = roc_auc_score(y, model.predict_proba(new)[:, 1])
        oracle = roc_auc_score(y, cardiology_true_risk(new))
        x_train, x_new = model.transform(df), model.transform(new)
        logistic = LogisticRegression(max_iter=2000).fit(x_train, model.encode_target(df))
        base = roc_auc_score(y, logistic.predict_proba(x_new)[:, 1])
        print(
            f"| {seed} | {result.scheme.name} | {network:.4f} | {oracle:.4f} | "
            f"**{network / oracle:.4f}** | {base:.4f} | {seconds:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
