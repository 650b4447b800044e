"""Scoring new patients with a trained model: column checks, risk tables, chunked scoring.

:func:`score_patients` answers "score these patients": per patient the model's outputs, the
band and decision at a threshold, whether the patient is unusual and why, and the notes on the
table's columns. :func:`score_frame` scores one pandas batch and is the unit of work for
chunked scoring of large files here and on a cluster (Ray Data's ``map_batches``, Spark's
``mapInPandas``: see :mod:`medinn_core.batch`); :func:`csv_bytes` writes scores a chunk at a
time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from medinn_core.errors import DataError, ModelError, SchemaError, list_examples
from medinn_core.model import MedinnModel
from medinn_core.preprocess import clean_column
from medinn_core.schema import Kind, Task, labels

if TYPE_CHECKING:
    from medinn_core.io import Bundle

#: A binary model's risk bands, lowest first (see :func:`risk_bands`).
BANDS = ("low", "intermediate", "high")


def predicted_positive(risk: np.ndarray | pd.Series, threshold: float) -> np.ndarray:
    """Whether each risk predicts the event: at or above the threshold.

    The one place where a risk becomes a decision; the CLI, the Predict page and the bands
    all follow it.
    """
    return np.asarray(risk, dtype=np.float64) >= threshold


def risk_bands(risk: pd.Series, threshold: float) -> pd.Series:
    """Each risk's band: 'high' at or above the threshold, 'intermediate' from half of it,
    'low' below (same index as ``risk``)."""
    band = np.where(
        predicted_positive(risk, threshold),
        BANDS[2],
        np.where(predicted_positive(risk, threshold / 2), BANDS[1], BANDS[0]),
    )
    return pd.Series(band, index=risk.index, dtype="str")


@dataclass(frozen=True)
class ColumnCheck:
    """How a table's columns compare with what a model needs.

    ``out_of_range`` has one row per patient (same index as the table) and one boolean column
    per numeric feature, True where the value lies outside the training range;
    ``unseen`` maps a categorical column to categories never seen in training, and
    ``unseen_rows`` has one row per patient and one boolean column per such categorical
    column, True where the patient's value is one of them.
    """

    missing: tuple[str, ...]
    extra: tuple[str, ...]
    unseen: dict[str, tuple[str, ...]] = field(default_factory=dict)
    out_of_range: pd.DataFrame = field(default_factory=pd.DataFrame)
    unseen_rows: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def ok(self) -> bool:
        return not self.missing

    def _flags(self) -> tuple[list[str], np.ndarray]:
        """The columns that can make a patient unusual and a patients-by-columns flag array:
        values outside the training range first, then categories never seen in training."""
        frames = [f for f in (self.out_of_range, self.unseen_rows) if len(f.columns)]
        names = [str(c) for f in frames for c in f.columns]
        n = max(len(self.out_of_range.index), len(self.unseen_rows.index))
        if not frames:
            return names, np.zeros((n, 0), dtype=bool)
        return names, np.hstack([f.to_numpy(dtype=bool) for f in frames])

    def _index(self) -> pd.Index:
        if len(self.out_of_range.index):
            return self.out_of_range.index
        return self.unseen_rows.index

    def unusual(self) -> pd.Series:
        """Per patient: True when any value lies outside the training data's range or categories."""
        _, flags = self._flags()
        return pd.Series(flags.any(axis=1), index=self._index(), dtype=bool)

    def unusual_in(self) -> pd.Series:
        """Per patient: the columns that make the patient unusual, as ``"age, smoking"`` (values
        outside the training range first, then unseen categories); '' for the others."""
        names, flags = self._flags()
        text = np.full(len(flags), "", dtype=object)
        for row in np.flatnonzero(flags.any(axis=1)):
            text[row] = ", ".join(n for n, f in zip(names, flags[row], strict=True) if f)
        return pd.Series(text, index=self._index(), dtype="str")

    def messages(self) -> list[str]:
        out = []
        if self.missing:
            out.append(f"Missing columns the model needs: {list_examples(list(self.missing))}.")
        if self.extra:
            out.append(
                f"Columns the model does not use (ignored): {list_examples(list(self.extra))}."
            )
        for col, cats in self.unseen.items():
            out.append(
                f"Column {col!r} has categories not seen in training: {list_examples(list(cats))}; "
                "they are treated as 'other' or as no known category."
            )
        if not self.out_of_range.empty:
            counts = self.out_of_range.sum()
            for col, n in counts[counts > 0].items():
                out.append(
                    f"Column {col!r}: {int(n)} patient{'' if n == 1 else 's'} with values outside the training range."
                )
        return out


def check_columns(df: pd.DataFrame, model: MedinnModel) -> ColumnCheck:
    """Compare a table's columns and values with the model's schema and training data."""
    schema = model.schema
    needed = schema.feature_names
    missing = tuple(c for c in needed if c not in df.columns)
    known = set(needed) | {schema.target, schema.id_column, schema.time_column}
    extra = tuple(str(c) for c in df.columns if c not in known)
    if missing:
        return ColumnCheck(missing, extra)
    unseen, ranges, new_rows = {}, {}, {}
    pre = model.preprocessor_
    for col in schema.features:
        series = df[col.name]
        if col.kind == Kind.NUMERIC:
            bounds = pre.training_range(col.name)
            if bounds is not None:
                values = clean_column(series, col)
                ranges[col.name] = ((values < bounds[0]) | (values > bounds[1])).to_numpy()
        else:
            seen = set(pre.training_categories(col.name))
            distinct = series
            if not pd.api.types.is_object_dtype(series):  # distinct values suffice
                distinct = pd.Series(series.dropna().unique())
            values = set(clean_column(distinct, col).dropna())
            new = sorted(v for v in values if v not in seen)
            if new:  # rare: only then is every row's label worth working out
                unseen[col.name] = tuple(new)
                new_rows[col.name] = clean_column(series, col).isin(new).to_numpy()
    frame = pd.DataFrame(ranges, index=df.index) if ranges else pd.DataFrame(index=df.index)
    return ColumnCheck(missing, extra, unseen, frame, pd.DataFrame(new_rows, index=df.index))


def require_columns(df: pd.DataFrame, model: MedinnModel, source: str = "the data") -> ColumnCheck:
    """:func:`check_columns`, raising when a needed column is missing.

    Raises
    ------
    SchemaError
        Naming the missing columns and the file.
    """
    check = check_columns(df, model)
    if check.missing:
        raise SchemaError(
            f"{source} lacks {len(check.missing)} column(s) the model needs: "
            f"{list_examples(list(check.missing))}. Add them (empty cells are allowed) or use "
            "the model trained on this file's columns."
        )
    return check


def combine_checks(checks: Iterable[ColumnCheck], model: MedinnModel) -> ColumnCheck:
    """The check of a whole table from the checks of its chunks (one or more): the same messages.

    Missing and extra columns come from the first check (every chunk of a file has the same
    columns); unseen categories are pooled; out-of-range and unseen-category flags are
    concatenated as sparse frames (flags are rare), so ``combine_checks([check], model)`` is a
    small copy to keep.
    """
    checks = list(checks)
    pooled: dict[str, set[str]] = {}
    for check in checks:
        for col, cats in check.unseen.items():
            pooled.setdefault(col, set()).update(cats)
    names = [c for c in model.schema.feature_names if c in pooled]
    unseen = {c: tuple(sorted(pooled[c])) for c in names}
    sparse = pd.SparseDtype(bool, False)
    flags = [c.out_of_range.astype(sparse) for c in checks if len(c.out_of_range.columns)]
    out_of_range = pd.concat(flags) if flags else pd.DataFrame()
    # Each chunk flags only the columns where it met a new category; False elsewhere.
    rows = [c.unseen_rows.reindex(columns=names, fill_value=False).astype(sparse) for c in checks]
    unseen_rows = pd.concat(rows) if names else pd.DataFrame()
    return ColumnCheck(checks[0].missing, checks[0].extra, unseen, out_of_range, unseen_rows)


def score_frame(
    model: MedinnModel,
    df: pd.DataFrame,
    threshold: float | None = None,
    *,
    fixed_shape: bool = False,
) -> pd.DataFrame:
    """Score one batch: the identifier (when the model has one), then the task's columns.

    Binary: ``risk`` (probability of the event), ``risk_low`` and ``risk_high`` (the lowest
    and highest risk among the ensemble's networks) and ``prediction`` (label at the
    threshold); multiclass: ``p_<class>`` per class, ``prediction`` and ``prediction_set``
    (the classes of the conformal set, joined by ``|``); regression: ``prediction``, ``lower``
    and ``upper`` (the conformal interval). The uncertainty columns are left out for models
    saved before ensembles. Nothing depends on other rows of the batch; with ``fixed_shape``
    (see :meth:`MedinnModel.raw_output`) not even the last bit, so that scoring a file in
    chunks gives the same numbers as scoring it whole.
    """
    from medinn_core import calibrate

    schema = model.schema
    out = pd.DataFrame(index=df.index)
    if schema.id_column and schema.id_column in df.columns:
        out[schema.id_column] = df[schema.id_column]
    x = model.transform(df)
    if schema.task == Task.BINARY:  # the ensemble's risk and its members' from one pass
        raw, members = model.output_and_members(x, fixed_shape=fixed_shape)
    else:
        raw = model.raw_output(x, fixed_shape=fixed_shape)
    quantile = model.conformal_quantile
    if schema.task == Task.REGRESSION:
        out["prediction"] = raw[:, 0]
        if np.isfinite(quantile):
            out["lower"] = raw[:, 0] - quantile
            out["upper"] = raw[:, 0] + quantile
        return out
    if schema.task == Task.SURVIVAL:
        risk = model.risk_at(raw[:, 0])
        out["risk"] = risk
        members = model.member_output(x, fixed_shape=fixed_shape)  # risks by the horizon
        if members is not None:
            out["risk_low"] = np.minimum(members[:, :, 0].min(axis=1), risk)
            out["risk_high"] = np.maximum(members[:, :, 0].max(axis=1), risk)
        out["risk_score"] = raw[:, 0]
        return out
    proba = model.proba_from_output(raw)
    classes = pd.array(list(model.classes_), dtype="str")  # text, but not Python objects
    if schema.task == Task.BINARY:
        cut = model.threshold_ if threshold is None else threshold
        out["risk"] = proba[:, 1]
        if members is not None:
            out["risk_low"] = np.minimum(members[:, :, 0].min(axis=1), proba[:, 1])
            out["risk_high"] = np.maximum(members[:, :, 0].max(axis=1), proba[:, 1])
        out["prediction"] = classes.take(predicted_positive(proba[:, 1], cut).astype(np.intp))
    else:
        for j, cls in enumerate(model.classes_):
            out[f"p_{cls}"] = proba[:, j]
        out["prediction"] = classes.take(np.argmax(proba, axis=1))
        if np.isfinite(quantile):
            sets = calibrate.prediction_sets(proba, quantile)
            names = np.asarray(model.classes_, dtype=object)
            out["prediction_set"] = pd.array(["|".join(names[row]) for row in sets], dtype="str")
    return out


def survival_curve(bundle: Bundle, patient: pd.DataFrame) -> pd.DataFrame:
    """One patient's survival curve against the cohort's: columns ``time`` (the baseline's
    step times, from 0), ``patient`` (the probability of being event-free by then) and
    ``cohort`` (the mean over the held-out patients of training; NaN for a model saved
    without it). The horizon is ``bundle.schema.horizon``.

    Raises
    ------
    ModelError
        If the model is not a survival model, or ``patient`` is not one row.
    SchemaError
        If a column the model needs is missing.
    """
    model = bundle.model
    if len(patient) != 1:
        raise ModelError(f"A survival curve is drawn for one patient; got {len(patient)} rows.")
    require_columns(patient, model)
    curves = model.survival_curves(patient)
    base = model.baseline_
    cohort = (
        np.r_[1.0, base.cohort] if base.cohort is not None else np.full(curves.shape[1], np.nan)
    )
    return pd.DataFrame(
        {
            "time": curves.columns.to_numpy(dtype=np.float64),
            "patient": curves.iloc[0].to_numpy(),
            "cohort": cohort,
        }
    )


def score_chunks(model: MedinnModel, chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Score an iterable of batches one at a time (bounded memory)."""
    for chunk in chunks:
        require_columns(chunk, model)
        yield score_frame(model, chunk, fixed_shape=True)


# -- scoring a table of patients ------------------------------------------------------------------
def patient_labels(frame: pd.DataFrame, id_column: str | None) -> pd.Series:
    """How each patient is named on screen: the identifier, else the spreadsheet row
    (``"row 2"`` for the first patient, under the header line)."""
    if id_column and id_column in frame.columns:
        return frame[id_column].astype("string").fillna("(no id)")
    rows = pd.Series(np.arange(len(frame)) + 2, index=frame.index)
    return rows.map(lambda r: f"row {r}").astype("string")


@dataclass(frozen=True)
class Scoring:
    """A table of patients scored by one model, before any threshold (:func:`score_patients`).

    Every per-patient attribute has the table's index. A threshold is applied afterwards, as
    often as a slider moves, by :meth:`bands`, :meth:`decisions` and :meth:`table`.

    Attributes
    ----------
    task : Task
        The model's task.
    classes : tuple of str
        The model's classes (for a binary model the second is the event); empty for regression.
    threshold : float
        The model's own decision threshold (binary models; 0.5 otherwise).
    patients : pandas.Series
        Each patient's label: the identifier, else ``"row N"`` of the spreadsheet.
    outputs : pandas.DataFrame
        :func:`score_frame`'s columns without the identifier: the task's outputs (``risk``
        and ``prediction`` at the model's threshold; ``p_<class>`` and ``prediction``; or
        ``prediction``).
    check : ColumnCheck
        How the table's columns and values compare with the training data.
    unusual : pandas.Series
        True where a value lies outside the training range (0.5th to 99.5th percentile) or a
        category was never seen in training.
    unusual_in : pandas.Series
        The columns that make each patient unusual (``"age, smoking"``; '' for the others).
    order : numpy.ndarray
        The patients' row positions in the order shown: highest risk first for a binary
        model (ties in table order), else the table's order.
    coverage : float
        The coverage of the regression intervals and multiclass prediction sets.
    """

    task: Task
    classes: tuple[str, ...]
    threshold: float
    patients: pd.Series
    outputs: pd.DataFrame
    check: ColumnCheck
    unusual: pd.Series
    unusual_in: pd.Series
    order: np.ndarray
    coverage: float = 0.9

    def _risk(self) -> pd.Series:
        if self.task != Task.BINARY:
            raise ModelError(
                f"Bands and decisions at a threshold are for binary models; this one is "
                f"{self.task.value}. Read its predictions from 'outputs'."
            )
        return self.outputs["risk"]

    def bands(self, threshold: float) -> pd.Series:
        """Each patient's band at ``threshold`` (see :func:`risk_bands`).

        Raises
        ------
        ModelError
            If the model is not binary.
        """
        return risk_bands(self._risk(), threshold)

    def decisions(self, threshold: float) -> pd.Series:
        """Each patient's predicted label at ``threshold``: the event at or above it.

        Raises
        ------
        ModelError
            If the model is not binary.
        """
        yes = predicted_positive(self._risk(), threshold)
        classes = pd.array(list(self.classes), dtype="str")
        return pd.Series(classes.take(yes.astype(np.intp)), index=self.outputs.index)

    def uncertain(self, threshold: float) -> pd.Series:
        """Per patient: True when the ensemble's networks fall on both sides of ``threshold``
        (``risk_low < threshold <= risk_high``); all False for a model without members.

        Raises
        ------
        ModelError
            If the model is not binary.
        """
        self._risk()
        if "risk_low" not in self.outputs.columns:
            return pd.Series(False, index=self.outputs.index, dtype=bool)
        low = ~predicted_positive(self.outputs["risk_low"], threshold)
        high = predicted_positive(self.outputs["risk_high"], threshold)
        return pd.Series(low & high, index=self.outputs.index, dtype=bool)

    def table(self, threshold: float | None = None) -> pd.DataFrame:
        """The table a clinician reads, one row per patient in :attr:`order`.

        Binary: ``patient``, ``risk (%)``, ``range (%)`` (the lowest and highest risk among
        the ensemble's networks, as ``"12–18"``), ``band`` and ``prediction`` at ``threshold``
        (default the model's), ``uncertain`` (the range straddles the threshold, so another
        network of the ensemble would have decided otherwise), ``unusual``, ``unusual in``.
        Multiclass and regression: ``patient``, the task's outputs (with the prediction set or
        interval), ``unusual``, ``unusual in`` (``threshold`` unused).
        """
        if self.task != Task.BINARY:
            table = self.outputs.copy()
            table.insert(0, "patient", self.patients)
        else:
            cut = self.threshold if threshold is None else threshold
            table = pd.DataFrame(
                {
                    "patient": self.patients,
                    "risk (%)": self.outputs["risk"] * 100,
                    "band": self.bands(cut),
                    "prediction": self.decisions(cut),
                }
            )
            if "risk_low" in self.outputs.columns:
                low, high = self.outputs["risk_low"] * 100, self.outputs["risk_high"] * 100
                table.insert(
                    2,
                    "range (%)",
                    pd.array(
                        [f"{a:.0f}–{b:.0f}" for a, b in zip(low, high, strict=True)], dtype="str"
                    ),
                )
                table.insert(5, "uncertain", self.uncertain(cut))
        table["unusual"] = self.unusual
        table["unusual in"] = self.unusual_in
        return table.iloc[self.order]

    @property
    def ignored_message(self) -> str:
        """The columns the model does not use, as a sentence; '' when there are none."""
        if not self.check.extra:
            return ""
        return f"Columns the model does not use (ignored): {', '.join(self.check.extra)}."

    @property
    def unusual_message(self) -> str:
        """Why some patients are marked unusual, as a few sentences; '' when none are."""
        parts = []
        counts = self.check.out_of_range.sum() if len(self.check.out_of_range.columns) else None
        if counts is not None and (counts > 0).any():
            listed = ", ".join(f"{col} ({int(n)})" for col, n in counts[counts > 0].items())
            parts.append(
                "Outside the training range (0.5th–99.5th percentile), patients per column: "
                f"{listed}."
            )
        for col, cats in self.check.unseen.items():
            parts.append(f"Column '{col}' has categories not seen in training: {', '.join(cats)}.")
        if not parts:
            return ""
        return (
            "Some patients are unlike the training data, so their risk is less certain; they "
            f"are marked unusual in the table. {' '.join(parts)}"
        )


def score_patients(
    bundle: Bundle, frame: pd.DataFrame, *, fixed_shape: bool = True, source: str = "the data"
) -> Scoring:
    """Score a table of patients: outputs, who is unusual and why, and the column notes.

    Parameters
    ----------
    bundle : Bundle
        The model to score with.
    frame : pandas.DataFrame
        One row per patient with the model's columns, in any order; others are ignored.
    fixed_shape : bool, default True
        Score in fixed-shape batches (see :meth:`MedinnModel.raw_output`): each patient's
        numbers are then the command line's to the bit, whatever the table's size.
    source : str, default "the data"
        How the table is named in the message about missing columns (a quoted file name).

    Returns
    -------
    Scoring
        The threshold-free answer; apply a threshold with its methods.

    Raises
    ------
    SchemaError
        If the table lacks columns the model needs (naming them all, up to five).
    """
    model = bundle.model
    check = require_columns(frame, model, source)
    id_column = model.schema.id_column
    outputs = score_frame(model, frame, fixed_shape=fixed_shape)
    outputs = outputs.drop(columns=[id_column]) if id_column in outputs.columns else outputs
    task = Task(model.schema.task)
    order = np.arange(len(frame))
    if task in (Task.BINARY, Task.SURVIVAL):
        order = np.argsort(-outputs["risk"].to_numpy(), kind="stable")
    return Scoring(
        task=task,
        classes=tuple(str(c) for c in model.classes_),
        threshold=float(model.threshold_),
        patients=patient_labels(frame, id_column),
        outputs=outputs,
        check=check,
        unusual=check.unusual(),
        unusual_in=check.unusual_in(),
        order=order,
        coverage=float((getattr(model, "conformal_", None) or {}).get("coverage", 0.9)),
    )


def unusual_values(bundle: Bundle, patient: pd.DataFrame) -> list[str]:
    """Why one patient is unlike the training data, one phrase per value: values outside the
    training range (0.5th to 99.5th percentile) and categories never seen in training.

    ``"age = 120 y lies outside the training range (30 to 90 y)"``,
    ``"sex = other was never seen in training"``; an empty list for a usual patient.

    Raises
    ------
    DataError
        If ``patient`` is not a table of exactly one row.
    SchemaError
        If it lacks columns the model needs.
    """
    from medinn_core.values import describe_value, format_number

    if len(patient) != 1:
        raise DataError(
            f"unusual_values describes one patient: got a table of {len(patient)} rows. "
            "Pass the patient's row as a one-row table (df.iloc[[i]])."
        )
    model = bundle.model
    check = require_columns(patient, model)
    units = {c.name: c.unit for c in model.schema.features}
    found = []
    flags = check.out_of_range.iloc[0] if len(check.out_of_range.columns) else pd.Series()
    for col in flags.index[flags.to_numpy(dtype=bool)]:
        low, high = model.preprocessor_.training_range(col)
        unit = f" {units[col]}" if units.get(col) else ""
        found.append(
            f"{describe_value(col, patient[col].iloc[0], units)} lies outside the training "
            f"range ({format_number(low)} to {format_number(high)}{unit})"
        )
    for col, cats in check.unseen.items():
        found.append(f"{col} = {', '.join(cats)} was never seen in training")
    return found


def target_of(df: pd.DataFrame, model: MedinnModel) -> pd.Series:
    """The target column as labels (classification) for evaluating; raises when absent."""
    name = model.schema.target
    if name not in df.columns:
        raise SchemaError(
            f"The data has no target column {name!r}; evaluation needs the true outcome."
        )
    return labels(df[name])


def uncertainty_sentence(
    bundle: Bundle, patient: pd.DataFrame, threshold: float | None = None
) -> str:
    """How certain one patient's prediction is, in a sentence; '' for a model saved before
    ensembles. Binary: the range of the risk across the ensemble's networks, and whether it
    straddles ``threshold`` (default the model's); regression: the conformal interval;
    multiclass: the conformal prediction set."""
    model = bundle.model
    scored = score_frame(model, patient).iloc[0]
    coverage = float((getattr(model, "conformal_", None) or {}).get("coverage", 0.9))
    task = Task(model.schema.task)
    if task == Task.SURVIVAL and "risk_low" in scored.index:
        return (
            f"Across the {model.n_members} networks of the ensemble (each trained on other "
            f"patients) the {model.schema.event_text} ranges from "
            f"{float(scored['risk_low']):.1%} to {float(scored['risk_high']):.1%}."
        )
    if task == Task.BINARY and "risk_low" in scored.index:
        cut = model.threshold_ if threshold is None else threshold
        low, high = float(scored["risk_low"]), float(scored["risk_high"])
        text = (
            f"Across the {model.n_members} networks of the ensemble (each trained on other "
            f"patients) the risk ranges from {low:.1%} to {high:.1%}"
        )
        if low < cut <= high:
            return text + f": it straddles the {cut:.0%} threshold, so the decision is uncertain."
        return text + "."
    if task == Task.REGRESSION and "lower" in scored.index:
        unit = model.schema.column(model.schema.target).unit or ""
        return (
            f"{coverage:.0%} interval: {float(scored['lower']):.4g} to "
            f"{float(scored['upper']):.4g} {unit}".strip()
            + f" (conformal: it held the true value for about {coverage:.0%} of patients in "
            "the internal validation)."
        )
    if task == Task.MULTICLASS and "prediction_set" in scored.index:
        return (
            f"{coverage:.0%} prediction set: {str(scored['prediction_set']).replace('|', ', ')} "
            "(conformal: the classes the model cannot rule out at this coverage)."
        )
    return ""
