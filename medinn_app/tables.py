"""Tables the pages show: the schema editor's rows, metrics, the registry, the risk table.

Pure functions (frames and dicts in, frames out) so that pages stay thin and tests can check
them without a browser.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from medinn_core.schema import Kind, Schema

EDITABLE = ("kind", "include", "unit")
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
}
MODEL_LABELS = {
    "logistic_regression": "Logistic regression",
    "linear_regression": "Linear (ridge) regression",
    "gradient_boosting": "Gradient boosting",
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


def apply_schema_edits(schema: Schema, edited_rows: Mapping[Any, Mapping[str, Any]]) -> Schema:
    """Apply the data editor's ``edited_rows`` (row position -> changed cells) to ``schema``.

    Raises
    ------
    medinn_core.errors.SchemaError
        If an edit is not allowed (unknown kind, or the target made an input).
    """
    from medinn_core.errors import SchemaError

    names = [c.name for c in schema.columns]
    for position, changes in sorted(edited_rows.items(), key=lambda item: int(item[0])):
        name = names[int(position)]
        changes = {k: v for k, v in changes.items() if k in EDITABLE}
        if name == schema.target and changes.get("include"):
            raise SchemaError(
                f"Column {name!r} is the target: it cannot also be an input. Choose another "
                "target first."
            )
        if changes.get("kind") == Kind.IDENTIFIER.value:
            schema = schema.with_id_column(name)
            changes.pop("kind")
            changes.pop("include", None)
        update: dict[str, Any] = {}
        if changes.get("kind"):
            update["kind"] = changes["kind"]
        if "include" in changes:
            include = bool(changes["include"])
            kind = Kind(update.get("kind", schema.column(name).kind))
            if include and kind not in (Kind.NUMERIC, Kind.CATEGORICAL, Kind.BINARY):
                raise SchemaError(
                    f"Column {name!r} is of kind {kind.value!r}, which is never a model input. "
                    "Change its kind to numeric, categorical or binary to include it."
                )
            update["excluded"] = not include
            if not include:
                update["reason"] = "excluded by the user"
        if "unit" in changes:
            update["unit"] = str(changes["unit"] or "")
        if update:
            schema = schema.with_column(name, **update)
    return schema


# -- metrics ------------------------------------------------------------------------------------
def metrics_table(
    metrics: Mapping[str, Any], baselines: Mapping[str, Mapping[str, Any]]
) -> pd.DataFrame:
    """Test-split metrics of the network beside each baseline: one row per metric."""
    columns = {"Neural network": metrics}
    for name, values in baselines.items():
        columns[MODEL_LABELS.get(name, name.replace("_", " ").capitalize())] = values
    keys = [k for k in metrics if k in METRIC_LABELS]
    table = pd.DataFrame(
        {label: [_number(values.get(k)) for k in keys] for label, values in columns.items()},
        index=pd.Index([METRIC_LABELS[k] for k in keys], name="metric (test split)"),
    )
    return table


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


# -- predictions --------------------------------------------------------------------------------
BANDS = ("low", "intermediate", "high")


def risk_band(risk: pd.Series, threshold: float) -> pd.Series:
    """'high' at or above the threshold, 'intermediate' from half of it, else 'low'."""
    band = np.where(
        risk >= threshold, "high", np.where(risk >= threshold / 2, "intermediate", "low")
    )
    return pd.Series(band, index=risk.index, dtype="str")


def unusual_flags(frame: pd.DataFrame, check) -> pd.Series:
    """Per patient: True where a value lies outside the training range or a category is new."""
    flags = pd.Series(False, index=frame.index)
    ranges = check.unusual()
    if not ranges.empty:
        flags |= ranges.reindex(frame.index, fill_value=False).astype(bool)
    for col, cats in check.unseen.items():
        values = frame[col].map(lambda v: str(v).strip() if pd.notna(v) else v)
        flags |= values.isin(set(cats))
    return flags


def unusual_summary(check) -> str:
    """One sentence per kind of finding: values outside the training range (patients per
    column) and categories never seen in training; empty when there is nothing to report."""
    parts = []
    if not check.out_of_range.empty:
        counts = check.out_of_range.sum()
        counts = counts[counts > 0]
        if len(counts):
            listed = ", ".join(f"{col} ({int(n)})" for col, n in counts.items())
            parts.append(
                f"Outside the training range (0.5th–99.5th percentile), patients per column: "
                f"{listed}."
            )
    for col, cats in check.unseen.items():
        parts.append(f"Column '{col}' has categories not seen in training: {', '.join(cats)}.")
    return " ".join(parts)


def unusual_reasons(frame: pd.DataFrame, check) -> pd.Series:
    """Per patient: the columns that make the patient unusual, as a short text."""
    parts = pd.Series([[] for _ in range(len(frame))], index=frame.index, dtype=object)
    if not check.out_of_range.empty:
        for col in check.out_of_range.columns:
            mask = check.out_of_range[col].reindex(frame.index, fill_value=False).astype(bool)
            for idx in frame.index[mask]:
                parts[idx].append(col)
    for col, cats in check.unseen.items():
        values = frame[col].map(lambda v: str(v).strip() if pd.notna(v) else v)
        for idx in frame.index[values.isin(set(cats))]:
            parts[idx].append(col)
    return parts.map(", ".join)


def patient_labels(frame: pd.DataFrame, id_column: str | None) -> pd.Series:
    """How each patient is named on screen: the identifier, else the spreadsheet row."""
    if id_column and id_column in frame.columns:
        return frame[id_column].astype("string").fillna("(no id)")
    rows = pd.Series(np.arange(len(frame)) + 2, index=frame.index)
    return rows.map(lambda r: f"row {r}").astype("string")


def risk_table(
    frame: pd.DataFrame,
    scores: pd.DataFrame,
    check,
    threshold: float,
    classes: tuple[str, str],
    id_column: str | None,
) -> pd.DataFrame:
    """Binary risks for display, highest first: patient, risk %, band, prediction, unusual."""
    return with_bands(risk_columns(frame, scores, check, id_column), scores, threshold, classes)


def risk_columns(
    frame: pd.DataFrame, scores: pd.DataFrame, check, id_column: str | None
) -> pd.DataFrame:
    """The part of :func:`risk_table` that the threshold does not change, highest risk first:
    patient, risk %, unusual and where. Computed once per model and table; the slider then
    only redraws the bands (:func:`with_bands`)."""
    table = pd.DataFrame(
        {
            "patient": patient_labels(frame, id_column),
            "risk (%)": scores["risk"] * 100,
            "unusual": unusual_flags(frame, check),
            "unusual in": unusual_reasons(frame, check),
        },
        index=frame.index,
    )
    return table.sort_values("risk (%)", ascending=False, kind="stable")


def with_bands(
    table: pd.DataFrame, scores: pd.DataFrame, threshold: float, classes: tuple[str, str]
) -> pd.DataFrame:
    """:func:`risk_columns`' table with each patient's band and prediction at ``threshold``
    (from the unrounded ``scores``), after the risk."""
    risk = scores["risk"].reindex(table.index)
    out = table.copy()
    out.insert(2, "band", risk_band(risk, threshold))
    out.insert(3, "prediction", np.where(risk >= threshold, classes[1], classes[0]))
    return out


def other_table(
    frame: pd.DataFrame, scores: pd.DataFrame, check, id_column: str | None
) -> pd.DataFrame:
    """Multiclass probabilities or regression values for display, with the unusual flag."""
    table = scores.drop(columns=[id_column], errors="ignore").copy()
    table.insert(0, "patient", patient_labels(frame, id_column))
    table["unusual"] = unusual_flags(frame, check)
    table["unusual in"] = unusual_reasons(frame, check)
    return table
