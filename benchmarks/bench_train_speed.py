"""Training speed on the 100,000-row, 40-column cohort (issue 7's target: under 60 s).

Run by hand from the repository root:

    python benchmarks/bench_train_speed.py            # 5 runs (seeds 0-4), medians
    python benchmarks/bench_train_speed.py --runs 1

Each run, on the same seeded split and the same encoded inputs:

* medinn: ``MedinnModel.fit`` with the default ``TrainConfig`` to early stopping (the network
  alone), and ``train_model`` as the app runs it (validation, network, threshold, logistic
  regression and gradient-boosting baselines, the explainer's background);
* baseline: scikit-learn's ``MLPClassifier`` with the same layers, activation, L2, batch size
  and learning rate, for the same number of epochs as medinn ran.

Samples per second are training rows × epochs / fit seconds; the ratio is medinn's over
scikit-learn's, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier

from medinn_core.config import TrainConfig
from medinn_core.model import MedinnModel
from medinn_core.schema import infer_schema
from medinn_core.synthetic import make_cardiology_cohort
from medinn_core.train import split_rows, train_model

TARGET = "mace_1y"


def run_once(df, seed: int) -> dict[str, float]:
    schema = infer_schema(df, TARGET)
    # The dense network: lab_01..lab_24 are unrelated columns, not a trace.
    config = TrainConfig(seed=seed, network="mlp")
    split = split_rows(df, schema, config)
    train, val, test = (df.loc[idx] for idx in (split.train, split.validation, split.test))

    model = MedinnModel(schema, config)
    start = time.perf_counter()
    model.fit(train, val)
    fit_s = time.perf_counter() - start
    epochs = len(model.history_["loss"])
    y_test = model.encode_target(test)
    auroc = roc_auc_score(y_test, model.predict_proba(test)[:, 1])

    start = time.perf_counter()
    train_model(df, schema, config)
    pipeline_s = time.perf_counter() - start

    x_train, y_train = model.transform(train), model.encode_target(train)
    sk = MLPClassifier(
        hidden_layer_sizes=config.hidden_units,
        activation=config.activation,
        alpha=config.l2,
        batch_size=model.batch_size(len(train)),
        learning_rate_init=config.learning_rate,
        max_iter=epochs,
        n_iter_no_change=epochs + 1,
        tol=0.0,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        sk.fit(x_train, y_train)
        sk_s = time.perf_counter() - start
    sk_auroc = roc_auc_score(y_test, sk.predict_proba(model.transform(test))[:, 1])
    rows = len(train)
    return {
        "network_fit_s": fit_s,
        "train_model_s": pipeline_s,
        "epochs": epochs,
        "medinn_samples_per_s": rows * epochs / fit_s,
        "sklearn_fit_s": sk_s,
        "sklearn_samples_per_s": rows * sk.n_iter_ / sk_s,
        "ratio_medinn_over_sklearn": (rows * epochs / fit_s) / (rows * sk.n_iter_ / sk_s),
        "medinn_auroc": auroc,
        "sklearn_auroc_same_epochs": sk_auroc,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}, "
        f"load average at start {load:.1f}"
    )
    df = make_cardiology_cohort(args.rows, seed=7, n_noise_features=24)
    runs = []
    for seed in range(args.runs):
        runs.append(run_once(df, seed))
        print(f"seed {seed}: " + ", ".join(f"{k} {v:.4g}" for k, v in runs[-1].items()), flush=True)
    print(f"\n## {args.rows:,} rows, {df.shape[1] - 1} input columns, {args.runs} run(s): medians")
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(
            f"- {key}: {statistics.median(values):.4g}  (all: {', '.join(f'{v:.4g}' for v in values)})"
        )
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
