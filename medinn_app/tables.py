"""Tables the pages show: the schema editor's rows, metrics, the registry, the settings.

Pure functions (frames and dicts in, frames out) so that pages stay thin and tests can check
them without a browser.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd

from medinn_core.schema import Schema, Task

METRIC_LABELS = {
    "auroc": "AUROC",
    "average_precision": "Average precision",
    "brier": "Brier score",
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "macro_auroc": "Macro AUROC",
    "mae": "MAE",
    "rmse": "RMSE",
    "r2": "R²",
    "coverage": "Coverage of the intervals or sets",
    "mean_interval_width": "Mean interval width",
    "mean_set_size": "Mean prediction-set size",
    "c_index": "Harrell's C",
    "uno_c_index": "Uno's C",
    "auroc_at_horizon": "AUROC at the horizon (cumulative/dynamic)",
    "brier_at_horizon": "Brier score at the horizon (IPCW)",
}
MODEL_LABELS = {
    "logistic_regression": "Logistic regression",
    "linear_regression": "Linear (ridge) regression",
    "gradient_boosting": "Gradient boosting",
    "linear_cox": "Linear Cox",
}


# -- schema -------------------------------------------------------------------------------------
def schema_frame(schema: Schema) -> pd.DataFrame:
    """One row per column: name, kind, included as a model input, unit, why it is excluded."""
    rows = []
    for col in schema.columns:
        role = ""
        if col.name == schema.target:
            role = "target"
        elif col.name == schema.id_column:
            role = "patient identifier"
        elif (signal := schema.signal_of(col.name)) is not None:
            sample = signal.columns.index(col.name) + 1
            role = f"sample {sample} of {signal.length} of signal '{signal.name}'"
        rows.append(
            {
                "column": col.name,
                "kind": col.kind.value,
                "include": col.name in schema.feature_names,
                "unit": col.unit,
                "reason": role or col.reason,
            }
        )
    return pd.DataFrame(rows, columns=["column", "kind", "include", "unit", "reason"])


def edited_columns(
    schema: Schema, edited_rows: Mapping[Any, Mapping[str, Any]]
) -> dict[str, Mapping[str, Any]]:
    """The data editor's ``edited_rows`` (row of :func:`schema_frame` -> changed cells) by
    column name, for :meth:`Schema.with_edits`."""
    return {schema.columns[int(row)].name: cells for row, cells in edited_rows.items()}


# -- predictions --------------------------------------------------------------------------------
def risk_header(schema: Schema) -> str:
    """The risk column's header in tables and downloads: "risk of ckd (%)"; a survival
    model's names its horizon: "risk of death = 1 by time 180 days (%)"."""
    return f"{horizon_risk(schema)} (%)"


def horizon_risk(schema: Schema) -> str:
    """What the model predicts, with a survival model's horizon and the time column's unit
    when it has one: "risk of death = 1 by time 180 days"."""
    text = schema.event_text
    if schema.task == Task.SURVIVAL and schema.time_column:
        unit = schema.column(schema.time_column).unit
        text += f" {unit}" if unit else ""
    return text


def predictions_csv(table: pd.DataFrame, schema: Schema) -> bytes:
    """Predict's table as a CSV file: a binary model's risk rounded and headed by the event
    ("risk of ckd (%)"), formulas escaped for spreadsheets."""
    from medinn_core.io import escape_formulas

    out = table
    if schema.task == Task.BINARY and "risk (%)" in table.columns:
        out = table.assign(**{"risk (%)": table["risk (%)"].round(2)})
        out = out.rename(columns={"risk (%)": risk_header(schema)})
    return escape_formulas(out).to_csv(index=False).encode("utf-8")


def predictions_file_name(model_name: str, schema: Schema) -> str:
    """ "risk-of-ckd-kidney-model.csv": the event and the model, in characters every file
    system takes."""
    binary = schema.task in (Task.BINARY, Task.SURVIVAL)
    what = schema.event_text if binary else f"predicted {schema.target}"
    slug = re.sub(r"[^0-9A-Za-z_]+", "-", f"{what} {model_name}").strip("-")
    return f"{slug or 'predictions'}.csv"


def default_model_name(data_name: str, now: dt.datetime) -> str:
    """The name a new model is offered: the data set's, then the date and time
    ("kidney_disease-20261206-0219"), so that models of several data sets on one outcome
    column (all "outcome") are told apart."""
    stem = re.sub(r"[^0-9A-Za-z_]+", "-", PurePath(data_name).stem).strip("-") or "model"
    return f"{stem[:40]}-{now:%Y%m%d-%H%M}"


# -- metrics ------------------------------------------------------------------------------------
def metrics_table(
    metrics: Mapping[str, Any],
    baselines: Mapping[str, Mapping[str, Any]],
    intervals: Mapping[str, Any] | None = None,
    held_out: str = "test split",
) -> pd.DataFrame:
    """Internal-validation metrics of the network beside each baseline: one row per metric.
    With ``intervals`` (metric -> (low, high)), the network's 95 % intervals follow its column
    as ``"0.81–0.86"``; ``held_out`` names the patients ("out-of-fold predictions")."""
    keys = [k for k in metrics if k in METRIC_LABELS]
    columns: dict[str, list] = {"Neural network": [_number(metrics.get(k)) for k in keys]}
    if intervals:
        columns["95% CI"] = [
            f"{intervals[k][0]:.3f}–{intervals[k][1]:.3f}" if k in intervals else "" for k in keys
        ]
    for name, values in baselines.items():
        label = MODEL_LABELS.get(name, name.replace("_", " ").capitalize())
        columns[label] = [_number(values.get(k)) for k in keys]
    index = pd.Index([METRIC_LABELS[k] for k in keys], name=f"metric ({held_out})")
    table = pd.DataFrame(columns, index=index)
    if "95% CI" in table.columns:
        table["95% CI"] = table["95% CI"].astype("str")
    return table


def numbers_format(table: pd.DataFrame, digits: int = 3) -> dict[str, str]:
    """A Styler ``format`` mapping for the number columns of ``table`` (text columns as-is)."""
    return {c: f"{{:.{digits}f}}" for c in table.columns if pd.api.types.is_numeric_dtype(table[c])}


def _number(value: Any) -> float:
    return float(value) if value is not None else float("nan")


def metric_text(value: Any, digits: int = 3) -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and np.isnan(value))
        else f"{value:.{digits}f}"
    )


# -- registry -----------------------------------------------------------------------------------
def registry_frame(entries: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The registry's models: name, task, target, test metrics, created, data fingerprint."""
    rows = []
    for meta in entries:
        metrics = meta.get("metrics") or {}
        shown = ", ".join(
            f"{METRIC_LABELS.get(k, k)} {v:.3f}" for k, v in metrics.items() if v is not None
        )
        rows.append(
            {
                "name": meta.get("name"),
                "task": meta.get("task", ""),
                "target": meta.get("target", ""),
                "test metrics": shown or meta.get("problem", ""),
                "created": str(meta.get("created", ""))[:19].replace("T", " "),
                "fingerprint": str(meta.get("data_fingerprint", "")).removeprefix("sha256:")[:12],
                "note": meta.get("note", ""),
            }
        )
    columns = ["name", "task", "target", "test metrics", "created", "fingerprint", "note"]
    return pd.DataFrame(rows, columns=columns)


def settings_frame(config: Mapping[str, Any]) -> pd.DataFrame:
    """The training settings as two columns (setting, value) for the model card."""
    rows = [
        {
            "setting": key.replace("_", " "),
            "value": ", ".join(map(str, v)) if isinstance(v, list) else str(v),
        }
        for key, v in config.items()
    ]
    return pd.DataFrame(rows, columns=["setting", "value"])
