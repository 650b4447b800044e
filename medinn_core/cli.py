"""Command-line interface: ``python -m medinn_core`` or ``medinn``.

Exit codes: 0 success; 2 bad input or a bad model, with one ``error: <message>`` line on
stderr and no traceback; 1 only for bugs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from medinn_core.errors import ConfigError, DataError, MedinnError

log = logging.getLogger("medinn_core")

# Enough rows to amortise the cost per chunk, few enough to keep a 1,000,000-row file near
# 1 GB (TensorFlow alone is 0.65 GB); a multiple of the network's batch (65,536 rows), so that
# only the last chunk is padded.
PREDICT_CHUNK_ROWS = 2 * 65_536


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as for any bad input
        raise ConfigError(f"{message} (see '{self.prog} --help')")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="medinn", description="Train, use and evaluate clinical Keras models.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a model on a CSV and save it as a bundle folder")
    t.add_argument("data", help="CSV (or .xlsx/.parquet) with one row per patient")
    t.add_argument(
        "--target", required=True, help="the column to predict (survival: the event column)"
    )
    t.add_argument(
        "--task",
        default="auto",
        choices=["auto", "binary", "multiclass", "regression", "survival"],
        help="auto: survival with --time-column, else read from the target's values",
    )
    t.add_argument(
        "--time-column",
        help="survival: the follow-up time (from the start of follow-up to the event or to the "
        "end of follow-up, a positive number); never an input",
    )
    t.add_argument(
        "--horizon",
        type=float,
        help="survival: the time risks are predicted by, in the time column's unit (default: "
        "the median follow-up rounded down to a round number)",
    )
    t.add_argument(
        "--event",
        help="binary target: the value whose risk is predicted (default: a value such as 1, yes "
        "or dead, never one that reads as an absence such as 'notckd' or 'alive'; else the rarer)",
    )
    t.add_argument("--id-column", help="the patient identifier column (never used as an input)")
    t.add_argument("--exclude", nargs="+", default=[], metavar="COL", help="columns not to use")
    t.add_argument("--epochs", type=int, help="upper bound on epochs (default 100)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument(
        "--scheme",
        default="auto",
        choices=["auto", "folds", "split"],
        help="folds: 5-fold cross-fitting, the out-of-fold predictions are the internal "
        "validation; split: train/validation/test; auto (default): folds up to 20,000 patients",
    )
    t.add_argument(
        "--coverage",
        type=float,
        default=0.9,
        help="coverage of the regression intervals (lower, upper) and multiclass prediction "
        "sets (default 0.9)",
    )
    t.add_argument(
        "--network",
        default="auto",
        choices=["auto", "mlp", "cnn"],
        help="mlp: dense layers on every column; cnn: a 1-D convolutional branch per signal "
        "group (16+ columns such as ecg_000 ... ecg_127) joined with the other columns; "
        "auto (default): cnn when the data has a signal group",
    )
    t.add_argument("--name", help="model name stored in the bundle (default: the folder name)")
    t.add_argument("--note", default="", help="a free-text note stored with the model")
    t.add_argument("--out", required=True, help="bundle folder to create (must not exist)")

    pr = sub.add_parser("predict", help="score patients with a saved model")
    pr.add_argument("model", help="bundle folder")
    pr.add_argument("data", help="CSV of patients (columns in any order)")
    pr.add_argument("--out", required=True, help="CSV file to write")
    pr.add_argument("--threshold", type=float, help="decision threshold (default: the model's)")
    pr.add_argument(
        "--chunk-rows",
        type=int,
        default=PREDICT_CHUNK_ROWS,
        help=f"rows of a CSV read and scored at a time (default {PREDICT_CHUNK_ROWS:,})",
    )

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

    hp = sub.add_parser("hash-password", help="make a password hash for the app's password gate")
    hp.add_argument(
        "--stdin", action="store_true", help="read the password from standard input (no prompt)"
    )
    return p


def _read(path: str):
    from medinn_core.io import read_table, use_jemalloc

    if not Path(path).is_file():
        raise DataError(f"File '{path}' does not exist. Check the path.")
    use_jemalloc()  # a lower peak while a whole file is read
    return read_table(path)


def _load(args: argparse.Namespace):
    """The bundle named on the command line and the data file, both checked.

    The bundle's files are verified and the data read before the network is loaded, so a bad
    file is reported without the seconds TensorFlow takes to import.
    """
    from medinn_core.io import load_bundle, verify_bundle

    verify_bundle(args.model)
    df = _read(args.data)
    return load_bundle(args.model), df


def _rows_to_evaluate(bundle, df, data: str):
    """What to evaluate: ``(rows, output, baseline, held)``. On the very table the model was
    trained on, the internal validation as the app shows it (each patient's out-of-fold output
    and cross-fitted baselines, or the test split), not apparent in-sample metrics; on any
    other table, the model's scores of every row (output and baseline None, ``held`` empty);
    ``held`` names the internal validation ("out-of-fold predictions" or "test split")."""
    from medinn_core.io import fingerprint
    from medinn_core.train import held_out

    if fingerprint(df) != bundle.metadata.get("data_fingerprint"):
        return df, None, None, ""
    target = bundle.schema.target
    found = held_out(bundle.model, df[df[target].notna()])
    _status(
        f"note: '{data}' is the table this model was trained on: evaluating its internal "
        f"validation ({found.label}: patients the networks scoring them did not train on), "
        "not in-sample scores. For an external estimate, evaluate patients from elsewhere."
    )
    return found.rows, found.output, found.baselines.get("logistic_regression"), found.label


def _check_out(path: str, option: str = "--out") -> Path:
    """The output file named on the command line, checked before any work: its folder exists
    and is writable, and it is not a folder itself."""
    out = Path(path)
    folder = out.parent
    if out.is_dir():
        raise ConfigError(f"{option} '{out}' is a folder; give the name of a file to write.")
    if not folder.is_dir():
        raise ConfigError(
            f"Cannot write {option} '{out}': its folder '{folder}' does not exist. Create the "
            "folder or choose another path."
        )
    if not os.access(folder, os.W_OK):
        raise ConfigError(
            f"Cannot write {option} '{out}': its folder '{folder}' is not writable. Choose "
            "another path."
        )
    return out


def _check_audit() -> None:
    """Before any work: an output must never exist without its audit line."""
    from medinn_core.security import audit_path, check_log

    check_log(audit_path())


def _status(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


_SESSION = secrets.token_hex(8)  # one random token per CLI run, to group its audit lines


def _audit(
    action: str, bundle=None, n: int | None = None, folder: Path | None = None, name=None
) -> None:
    """One line in the audit log: the OS user, the model and a patient count, no values."""
    import getpass

    from medinn_core.security import audit_path, manifest_hash, record_event

    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        user = "unknown"
    if folder is not None:
        model, model_hash = name or folder.name, manifest_hash(folder)
    elif bundle is not None:
        model, model_hash = bundle.name, bundle.bundle_hash
    else:
        model = model_hash = None
    record_event(
        action,
        audit_path(),
        source="cli",
        user=user,
        auth="os",
        session=_SESSION,
        model=model,
        model_hash=model_hash,
        n_patients=n,
    )


def cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from medinn_core.config import TrainConfig
    from medinn_core.errors import SchemaError
    from medinn_core.io import save_bundle
    from medinn_core.schema import infer_schema
    from medinn_core.train import train_model

    out = Path(args.out)
    if out.exists():
        raise ConfigError(
            f"Output folder '{out}' already exists. Choose a new folder for the model."
        )
    _check_audit()
    df = _read(args.data)
    if args.target not in df.columns:
        raise DataError(
            f"Target column {args.target!r} is not in '{args.data}'. Columns: {', '.join(map(str, df.columns[:12]))}."
        )
    for col in [args.id_column, args.time_column, *args.exclude]:
        if col is not None and col not in df.columns:
            raise DataError(f"Column {col!r} (given on the command line) is not in '{args.data}'.")
    try:
        schema = infer_schema(
            df,
            args.target,
            task=args.task,
            id_column=args.id_column,
            exclude=args.exclude,
            time_column=args.time_column,
            horizon=args.horizon,
        )
        if args.event is not None:
            schema = schema.with_event(args.event)
    except SchemaError as exc:  # e.g. a target with one class: name the file as well
        raise SchemaError(f"'{args.data}' cannot be used for training: {exc}") from None
    config = TrainConfig(
        seed=args.seed, scheme=args.scheme, coverage=args.coverage, network=args.network
    )
    if args.epochs is not None:
        config = replace(config, epochs=args.epochs)
    started = time.perf_counter()

    def on_epoch(epoch: int, logs: dict[str, float]) -> None:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in logs.items())
        _status(
            f"epoch {epoch + 1}/{config.epochs}: {shown} ({time.perf_counter() - started:.0f} s)"
        )

    predicted = f"the {schema.event_text}" if schema.event_class else repr(schema.target)
    _status(f"Training a {schema.task} model for {predicted} on {len(schema.features)} columns")
    for group in schema.signals:
        _status(f"Signal {group.name!r}: {group.length} samples, {group.columns[0]} ... ")
    for note in schema.notes:
        _status(f"note: {note}")
    if schema.horizon is not None:
        _status(f"Horizon {schema.horizon:g}: {schema.horizon_reason}.")
    _audit("train_start", n=len(df))
    try:
        result = train_model(df, schema, config, on_epoch=on_epoch)
    except DataError as exc:  # validation refused the table: name the file, as the reader does
        raise DataError(f"'{args.data}' cannot be used for training: {exc}") from None
    for warning in result.report.warnings:
        _status(f"warning: {warning.message}")
    save_bundle(result, out, args.name or out.name, args.note)
    try:
        _audit("train_finish", folder=out, n=len(df) - result.n_rows_dropped, name=args.name)
    except MedinnError:  # the log broke while training: no model without its line
        shutil.rmtree(out, ignore_errors=True)
        raise
    shown = ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items() if v is not None)
    _status(f"Scheme: {result.scheme.describe()} ({result.scheme.reason}).")
    _status(f"Architecture: {load_architecture(out)}")
    held = "out-of-fold predictions" if result.scheme.name == "folds" else "test split"
    _status(f"Internal validation ({held}): {shown}. Saved to {out}")
    print(out)
    return 0


def _table_chunks(path: str, chunk_rows: int, as_float: Iterable[str] = ()) -> Iterator:
    """A CSV file in chunks of cleaned rows (``as_float`` columns parsed straight as floats);
    an Excel or Parquet file, read whole, as one."""
    from medinn_core.io import iter_csv_chunks

    if not Path(path).is_file():
        raise DataError(f"File '{path}' does not exist. Check the path.")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic in (b"PAR1", b"PK\x03\x04"):
        return iter([_read(path)])
    return iter_csv_chunks(path, chunk_rows=chunk_rows, as_float=as_float)


def _read_ahead(chunks: Iterator) -> Iterator:
    """``chunks``, the next one read in a thread while the caller scores this one.

    pyarrow, NumPy and TensorFlow release the GIL, so reading and scoring overlap.
    """
    from concurrent.futures import ThreadPoolExecutor

    try:
        with ThreadPoolExecutor(1, thread_name_prefix="medinn-read") as pool:
            ahead = pool.submit(next, chunks, None)
            while (chunk := ahead.result()) is not None:
                ahead = pool.submit(next, chunks, None)
                yield chunk
    finally:  # now, not at exit, when the modules its clean-up needs may be gone
        if hasattr(chunks, "close"):
            chunks.close()


@contextlib.contextmanager
def _written_at_end(path: Path) -> Iterator[BinaryIO]:
    """A file that becomes ``path`` only if the block ends without an error, so that a
    failure part way through a large file leaves no half-written output."""
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        handle = open(part, "xb")  # noqa: SIM115 (closed in the block below)
    except OSError as exc:
        raise ConfigError(
            f"Cannot write '{path}': {exc.strerror or exc}. Check that its folder exists and "
            "is writable."
        ) from None
    try:
        with handle:
            yield handle
        os.replace(part, path)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise ConfigError(f"Cannot write '{path}': {exc.strerror or exc}.") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def load_architecture(folder: Path) -> str:
    """The architecture sentence a saved bundle's metadata holds."""
    meta = json.loads((folder / "metadata.json").read_text())
    return str(meta.get("architecture") or "multilayer perceptron")


def cmd_predict(args: argparse.Namespace) -> int:
    from medinn_core.io import csv_bytes, load_bundle
    from medinn_core.predict import check_columns, combine_checks, require_columns, score_frame
    from medinn_core.schema import Kind

    out_path = _check_out(args.out)
    _check_audit()
    bundle = load_bundle(args.model)
    model, id_column = bundle.model, bundle.schema.id_column
    # Numeric features are parsed straight as floats: scoring reads them as floats anyway.
    numeric = [c.name for c in bundle.schema.features if c.kind == Kind.NUMERIC]
    chunks = _table_chunks(args.data, args.chunk_rows, numeric)

    def checked(chunks: Iterator) -> Iterator:
        for i, chunk in enumerate(chunks):  # every chunk has the first one's columns
            check = check_columns(chunk, model) if i else require_columns(chunk, model, source)
            yield chunk, combine_checks([check], model)  # kept small until the end

    source, checks, n = f"'{args.data}'", [], 0
    with _written_at_end(out_path) as out:
        # Checked beside reading, so that the two threads share the work about evenly.
        for chunk, check in _read_ahead(checked(chunks)):
            checks.append(check)
            scores = score_frame(model, chunk, threshold=args.threshold, fixed_shape=True)
            # The network computes in float32: more digits would be noise.
            outputs = [c for c in scores.columns if c != id_column and scores[c].dtype.kind == "f"]
            out.write(csv_bytes(scores.astype(dict.fromkeys(outputs, "float32")), header=not n))
            n += len(scores)
        _audit("predict", bundle, n=n)  # before the file appears: none without its line
    for message in combine_checks(checks, model).messages():
        _status(f"note: {message}")
    _status(f"Scored {n} patients; wrote {args.out}")
    if bundle.schema.horizon is not None:
        _status(
            f"risk: the {bundle.schema.event_text} (horizon {bundle.schema.horizon:g}); "
            "risk_low/risk_high: its range across the ensemble's networks; risk_score: the "
            "log-hazard, which ranks patients at any time."
        )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from medinn_core.evaluation import evaluate_bundle

    out = _check_out(args.json_out, "--json")
    _check_audit()
    bundle, df = _load(args)
    rows, output, baseline, held = _rows_to_evaluate(bundle, df, args.data)
    label = f"'{args.data}' ({held})" if held else f"'{args.data}'"
    result = evaluate_bundle(
        bundle,
        rows,
        threshold=args.threshold,
        n_boot=args.bootstrap,
        source=label,
        output=output,
        baseline=baseline,
    ).to_dict()
    result["evaluated_on"] = label
    with _written_at_end(out) as handle:
        handle.write(json.dumps(result, indent=2).encode("utf-8"))
        _audit("evaluate", bundle, n=result["n"])
    _status(f"Evaluated {result['n']} patients; wrote {args.json_out}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from medinn_core.explain import explain_model
    from medinn_core.io import escape_formulas

    out = _check_out(args.out)
    _check_audit()
    bundle, df = _load(args)
    explanation = explain_model(
        bundle.model,
        bundle.background,
        df,
        space=args.space,
        class_name=args.class_name,
        background_weights=bundle.background_weights,
    )
    table = explanation.contributions.copy()
    table["base_value"] = explanation.base_value
    # A survival network's output is the log-hazard: its contributions add up to it, not to
    # the risk by the horizon (which is not additive in the inputs).
    survival = bundle.schema.time_column is not None
    table["log_hazard" if survival else "output"] = explanation.output
    if bundle.schema.id_column and table.index.name == bundle.schema.id_column:
        table = table.reset_index()
    with _written_at_end(out) as handle:
        handle.write(escape_formulas(table).to_csv(index=False).encode("utf-8"))
        _audit("explain", bundle, n=len(table))
    what = f" for class {explanation.class_name!r}" if explanation.class_name else ""
    if survival:
        what = " (contributions add up to the log-hazard, the risk_score of predict)"
    _status(f"Explained {len(table)} patients{what} ({explanation.method}); wrote {args.out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from medinn_core.evaluation import build_report, evaluate_bundle

    out = _check_out(args.out)
    _check_audit()
    bundle, df = _load(args)
    rows, output, baseline, held = _rows_to_evaluate(bundle, df, args.data)
    label = f"'{args.data}' ({held})" if held else f"'{args.data}'"
    result = evaluate_bundle(
        bundle, rows, n_boot=args.bootstrap, source=label, output=output, baseline=baseline
    )
    name = Path(args.data).name
    html = build_report(
        bundle,
        result.shown(subgroups=args.subgroup),
        data_name=f"{name} ({held})" if held else name,
        intended_use=args.intended_use,
        limitations=args.limitations,
        data=rows,
    )
    with _written_at_end(out) as handle:
        handle.write(html.encode("utf-8"))
        _audit("report", bundle, n=result.evaluation.n)
    _status(f"Wrote the model report for {result.evaluation.n} patients to {args.out}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from medinn_core.io import verify_bundle

    verify_bundle(args.model)
    print((Path(args.model) / "metadata.json").read_text())
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    import getpass

    from medinn_core.security import hash_password

    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:  # never an argument: it would stay in the shell's history
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise ConfigError("The two passwords differ; nothing was made.")
    print(hash_password(password))
    _status("Put this in MEDINN_PASSWORD_HASH, or as password_hash in .streamlit/secrets.toml.")
    return 0


COMMANDS = {
    "train": cmd_train,
    "predict": cmd_predict,
    "evaluate": cmd_evaluate,
    "info": cmd_info,
    "explain": cmd_explain,
    "report": cmd_report,
    "hash-password": cmd_hash_password,
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
