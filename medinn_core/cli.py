"""Command-line interface: ``python -m medinn_core`` or ``medinn``.

Exit codes: 0 success; 2 bad input or a bad model, with one ``error: <message>`` line on
stderr and no traceback; 1 only for bugs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from medinn_core.errors import ConfigError, DataError, MedinnError

log = logging.getLogger("medinn_core")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as for any bad input
        raise ConfigError(f"{message} (see '{self.prog} --help')")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="medinn", description="Train, use and evaluate clinical Keras models.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a model on a CSV and save it as a bundle folder")
    t.add_argument("data", help="CSV (or .xlsx/.parquet) with one row per patient")
    t.add_argument("--target", required=True, help="the column to predict")
    t.add_argument("--task", default="auto", choices=["auto", "binary", "multiclass", "regression"])
    t.add_argument("--id-column", help="the patient identifier column (never used as an input)")
    t.add_argument("--exclude", nargs="+", default=[], metavar="COL", help="columns not to use")
    t.add_argument("--epochs", type=int, help="upper bound on epochs (default 100)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--name", help="model name stored in the bundle (default: the folder name)")
    t.add_argument("--note", default="", help="a free-text note stored with the model")
    t.add_argument("--out", required=True, help="bundle folder to create (must not exist)")

    pr = sub.add_parser("predict", help="score patients with a saved model")
    pr.add_argument("model", help="bundle folder")
    pr.add_argument("data", help="CSV of patients (columns in any order)")
    pr.add_argument("--out", required=True, help="CSV file to write")
    pr.add_argument("--threshold", type=float, help="decision threshold (default: the model's)")

    ev = sub.add_parser("evaluate", help="evaluate a saved model on labelled data")
    ev.add_argument("model")
    ev.add_argument("data", help="CSV that holds the target column")
    ev.add_argument("--json", required=True, dest="json_out", help="JSON file to write")
    ev.add_argument("--threshold", type=float)
    ev.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)"
    )

    rep = sub.add_parser("report", help="a self-contained HTML model report (works offline)")
    rep.add_argument("model")
    rep.add_argument("data", help="labelled CSV to evaluate on")
    rep.add_argument("--out", required=True, help="HTML file to write")
    rep.add_argument("--intended-use", default="", help="who the model is for and how")
    rep.add_argument("--limitations", default="", help="known limitations")
    rep.add_argument("--subgroup", nargs="+", default=[], metavar="COL", help="columns to split by")
    rep.add_argument("--bootstrap", type=int, default=1000)

    ex = sub.add_parser("explain", help="per-patient SHAP contributions of each input column")
    ex.add_argument("model")
    ex.add_argument("data", help="CSV of patients (columns in any order)")
    ex.add_argument("--out", required=True, help="CSV file to write")
    ex.add_argument("--class", dest="class_name", help="multiclass: the class to explain")
    ex.add_argument("--space", default="probability", choices=["probability", "logit"])

    info = sub.add_parser("info", help="print a bundle's metadata as JSON")
    info.add_argument("model")
    return p


def _read(path: str):
    from medinn_core.data import read_table

    if not Path(path).is_file():
        raise DataError(f"File '{path}' does not exist. Check the path.")
    return read_table(path)


def _load(args: argparse.Namespace):
    """The bundle named on the command line and the data file, both checked."""
    from medinn_core.registry import load_bundle

    return load_bundle(args.model), _read(args.data)


def _status(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from medinn_core.config import TrainConfig
    from medinn_core.registry import save_bundle
    from medinn_core.schema import infer_schema
    from medinn_core.train import train_model

    out = Path(args.out)
    if out.exists():
        raise ConfigError(
            f"Output folder '{out}' already exists. Choose a new folder for the model."
        )
    df = _read(args.data)
    if args.target not in df.columns:
        raise DataError(
            f"Target column {args.target!r} is not in '{args.data}'. Columns: {', '.join(map(str, df.columns[:12]))}."
        )
    for col in [args.id_column, *args.exclude]:
        if col is not None and col not in df.columns:
            raise DataError(f"Column {col!r} (given on the command line) is not in '{args.data}'.")
    schema = infer_schema(
        df, args.target, task=args.task, id_column=args.id_column, exclude=args.exclude
    )
    config = TrainConfig(seed=args.seed)
    if args.epochs is not None:
        config = replace(config, epochs=args.epochs)
    started = time.perf_counter()

    def on_epoch(epoch: int, logs: dict[str, float]) -> None:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in logs.items())
        _status(
            f"epoch {epoch + 1}/{config.epochs}: {shown} ({time.perf_counter() - started:.0f} s)"
        )

    _status(
        f"Training a {schema.task} model for {schema.target!r} on {len(schema.features)} columns"
    )
    result = train_model(df, schema, config, on_epoch=on_epoch)
    for warning in result.report.warnings:
        _status(f"warning: {warning.message}")
    save_bundle(result, out, args.name or out.name, args.note)
    shown = ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items() if v is not None)
    _status(f"Test split: {shown}. Saved to {out}")
    print(out)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from medinn_core.predict import escape_formulas, require_columns, score_frame

    bundle, df = _load(args)
    check = require_columns(df, bundle.model, f"'{args.data}'")
    for message in check.messages():
        _status(f"note: {message}")
    scores = score_frame(bundle.model, df, threshold=args.threshold)
    escape_formulas(scores).to_csv(args.out, index=False)
    _status(f"Scored {len(scores)} patients; wrote {args.out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from medinn_core.evaluate import evaluate_bundle

    bundle, df = _load(args)

    result = evaluate_bundle(
        bundle, df, threshold=args.threshold, n_boot=args.bootstrap, source=f"'{args.data}'"
    ).to_dict()
    Path(args.json_out).write_text(json.dumps(result, indent=2))
    _status(f"Evaluated {result['n']} patients; wrote {args.json_out}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from medinn_core.explain import explain_model
    from medinn_core.predict import escape_formulas

    bundle, df = _load(args)
    explanation = explain_model(
        bundle.model, bundle.background, df, space=args.space, class_name=args.class_name
    )
    table = explanation.contributions.copy()
    table["base_value"] = explanation.base_value
    table["output"] = explanation.output
    if bundle.schema.id_column and table.index.name == bundle.schema.id_column:
        table = table.reset_index()
    escape_formulas(table).to_csv(args.out, index=False)
    what = f" for class {explanation.class_name!r}" if explanation.class_name else ""
    _status(f"Explained {len(table)} patients{what} ({explanation.method}); wrote {args.out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from medinn_core.evaluate import evaluate_bundle, subgroup_table
    from medinn_core.report import build_report

    bundle, df = _load(args)
    result = evaluate_bundle(bundle, df, n_boot=args.bootstrap, source=f"'{args.data}'")
    groups = {}
    if args.subgroup and bundle.schema.task == "binary":
        labelled = df[df[bundle.schema.target].notna()]
        y = bundle.model.encode_target(labelled)
        p = bundle.model.predict_proba(labelled)[:, 1]
        for col in args.subgroup:
            if col not in df.columns:
                raise DataError(f"Subgroup column {col!r} is not in '{args.data}'.")
            groups[col] = subgroup_table(
                y, p, labelled[col].astype("str"), bundle.model.threshold_, n_boot=args.bootstrap
            )
    html = build_report(
        bundle,
        result,
        data_name=Path(args.data).name,
        intended_use=args.intended_use,
        limitations=args.limitations,
        subgroups=groups or None,
        data=df,
    )
    Path(args.out).write_text(html, encoding="utf-8")
    _status(f"Wrote the model report for {result.evaluation.n} patients to {args.out}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from medinn_core.registry import verify_bundle

    verify_bundle(args.model)
    print((Path(args.model) / "metadata.json").read_text())
    return 0


COMMANDS = {
    "train": cmd_train,
    "predict": cmd_predict,
    "evaluate": cmd_evaluate,
    "info": cmd_info,
    "explain": cmd_explain,
    "report": cmd_report,
}


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        args = _parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except MedinnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 2
