"""Train + predict timings and discrimination of the default MLP against scikit-learn baselines.

Run by hand from the repository root:

    python benchmarks/bench_train.py            # cardiology sample and the 100,000-row cohort
    python benchmarks/bench_train.py --runs 3   # repeat and report medians

For each data set: the default ``TrainConfig`` MLP, ``LogisticRegression`` and
``HistGradientBoostingClassifier`` on the same split (the baselines use the MLP's fitted
preprocessing), test AUROC, fit seconds, and predict seconds; for synthetic cohorts also the
AUROC of the true risk model (the best any model can do).
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
from medinn_core.io import read_table
from medinn_core.schema import infer_schema
from medinn_core.synthetic import cardiology_true_risk, make_cardiology_cohort
from medinn_core.train import train_model

ROOT = Path(__file__).resolve().parents[1]


def run_once(df, target, seed):
    schema = infer_schema(df, target)
    # The dense network: lab_01..lab_24 are unrelated columns, not a trace.
    config = TrainConfig(seed=seed, network="mlp")
    start = time.perf_counter()
    result = train_model(df, schema, config)
    total = time.perf_counter() - start
    test = df.loc[result.split.test]
    start = time.perf_counter()
    result.model.predict_proba(df)
    predict_s = time.perf_counter() - start
    oracle = None
    if "systolic_bp" in df.columns:
        y = test[target].to_numpy()
        oracle = roc_auc_score(y, cardiology_true_risk(test))
    return {
        "mlp_auroc": result.metrics["auroc"],
        "lr_auroc": result.baselines["logistic_regression"]["auroc"],
        "hgb_auroc": result.baselines["gradient_boosting"]["auroc"],
        "oracle_auroc": oracle,
        "mlp_fit_s": total,
        "lr_fit_s": result.baselines["logistic_regression"]["fit_seconds"],
        "hgb_fit_s": result.baselines["gradient_boosting"]["fit_seconds"],
        "predict_all_s": predict_s,
        "epochs": len(result.history["loss"]),
        "rows": len(df),
        "columns": df.shape[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--only", choices=["sample", "large"])
    args = parser.parse_args()
    print(
        f"# {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    sets = []
    if args.only != "large":
        sets.append(
            ("cardiology.csv (sample)", read_table(ROOT / "sample_data" / "cardiology.csv"))
        )
    if args.only != "sample":
        sets.append(
            (
                f"cardiology cohort {args.rows:,} rows, 40 columns",
                make_cardiology_cohort(args.rows, seed=7, n_noise_features=24),
            )
        )
    for name, df in sets:
        runs = [run_once(df, "mace_1y", seed) for seed in range(args.runs)]
        print(
            f"\n## {name}: {runs[0]['rows']} rows, {runs[0]['columns']} columns, {args.runs} run(s), medians"
        )
        for key in runs[0]:
            values = [r[key] for r in runs if r[key] is not None]
            if values:
                print(
                    f"- {key}: {statistics.median(values):.4g}  (all: {', '.join(f'{v:.4g}' for v in values)})"
                )


if __name__ == "__main__":
    main()
