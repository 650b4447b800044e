"""The default network against logistic regression and gradient boosting on small real cohorts.

Run by hand from the repository root (issue 13):

    python benchmarks/bench_small_data.py                      # breast cancer (scikit-learn)
    python benchmarks/bench_small_data.py --data pima.csv:Outcome stroke.csv:stroke
    python benchmarks/bench_small_data.py --splits 10 --jsonl out.jsonl

For each data set: 10 repeated stratified 70/30 splits (seeds 0-9). On each split medinn trains
with the default ``TrainConfig`` on the 70 % exactly as the CLI's ``train`` does
(``train_model``), and the network is scored on the 30 % it never saw. Logistic regression and
HistGradientBoosting are fitted on the same 70 % through the network's own preprocessing and
scored on the same 30 %. Reported per split and as means: held-out AUROC and calibration
slope (the slope of a logistic regression of the outcome on the logit of the predicted risk;
1 is ideal, below 1 means the risks are too extreme).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedShuffleSplit

from medinn_core.config import TrainConfig
from medinn_core.io import read_table
from medinn_core.schema import infer_schema
from medinn_core.train import _gradient_boosting, estimator_output, train_model


def breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.copy()
    frame["diagnosis"] = np.where(frame.pop("target") == 0, "malignant", "benign")
    return frame


def calibration_slope(y: np.ndarray, p: np.ndarray) -> float:
    logit = np.log(np.clip(p, 1e-7, 1 - 1e-7) / np.clip(1 - p, 1e-7, 1))
    fit = LogisticRegression(C=np.inf, max_iter=1000).fit(logit[:, None], y)
    return float(fit.coef_[0, 0])


def one_split(df: pd.DataFrame, target: str, seed: int, config: TrainConfig) -> dict:
    schema = infer_schema(df, target)
    usable = df[df[target].notna()]
    strata = usable[target].astype(str)
    cut = StratifiedShuffleSplit(1, test_size=0.3, random_state=seed)
    train_idx, test_idx = next(cut.split(usable, strata))
    train, test = usable.iloc[train_idx], usable.iloc[test_idx]
    start = time.perf_counter()
    result = train_model(
        train, schema, TrainConfig(**{**config.to_dict(), "seed": seed}), baselines=False
    )
    seconds = time.perf_counter() - start
    model = result.model
    y_train, y_test = model.encode_target(train), model.encode_target(test)
    x_train, x_test = model.transform(train), model.transform(test)
    row = {"seed": seed, "seconds": seconds, "scheme": result.scheme.name}
    p = model.predict_proba(test)[:, 1]
    row["network_auroc"] = roc_auc_score(y_test, p)
    row["network_slope"] = calibration_slope(y_test, p)
    row["recalibration"] = model.recalibration_.form
    for name, est in (
        ("logistic", LogisticRegression(max_iter=2000, C=1.0)),
        ("boosting", _gradient_boosting(model.schema.task, seed)),
    ):
        out = estimator_output(est.fit(x_train, y_train), "binary", x_test)
        row[f"{name}_auroc"] = roc_auc_score(y_test, out)
        row[f"{name}_slope"] = calibration_slope(y_test, out)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="*", default=[], metavar="FILE:TARGET")
    parser.add_argument("--no-breast-cancer", action="store_true")
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--jsonl", default=None, help="append each split's row here")
    args = parser.parse_args()
    sets = (
        []
        if args.no_breast_cancer
        else [("breast cancer (scikit-learn)", breast_cancer(), "diagnosis")]
    )
    for item in args.data:
        path, target = item.rsplit(":", 1)
        sets.append((Path(path).name, read_table(path), target))
    print(f"# {platform.node()} {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}")
    config = TrainConfig()
    for name, df, target in sets:
        rows = []
        print(f"\n### {name} ({len(df):,} patients, target {target})\n")
        print(
            "| split | network AUROC | logistic | boosting | network slope | logistic slope | boosting slope | recalibration | s |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for seed in range(args.splits):
            row = one_split(df, target, seed, config)
            rows.append(row)
            if args.jsonl:
                with open(args.jsonl, "a") as fh:
                    fh.write(json.dumps({"data": name, **row}) + "\n")
            print(
                f"| {seed} | {row['network_auroc']:.4f} | {row['logistic_auroc']:.4f} | "
                f"{row['boosting_auroc']:.4f} | {row['network_slope']:.2f} | "
                f"{row['logistic_slope']:.2f} | {row['boosting_slope']:.2f} | "
                f"{row['recalibration']} | {row['seconds']:.0f} |",
                flush=True,
            )
        mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0] if k.endswith("auroc")}
        median = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k.endswith("slope")}
        best = max(mean["logistic_auroc"], mean["boosting_auroc"])
        print(
            f"| **mean / median** | **{mean['network_auroc']:.4f}** | {mean['logistic_auroc']:.4f} | "
            f"{mean['boosting_auroc']:.4f} | **{median['network_slope']:.2f}** | "
            f"{median['logistic_slope']:.2f} | {median['boosting_slope']:.2f} | | |"
        )
        print(
            f"\nnetwork - best baseline: {mean['network_auroc'] - best:+.4f} "
            f"(target >= -0.005); median network slope {median['network_slope']:.2f} "
            "(target 0.8-1.25)"
        )


if __name__ == "__main__":
    main()
