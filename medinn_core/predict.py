"""Scoring new patients with a trained model: column checks, risk tables, chunked scoring.

:func:`score_frame` scores one pandas batch and is the unit of work for chunked scoring of
large files here and on a cluster (Ray Data's ``map_batches``, Spark's ``mapInPandas``: see
:mod:`medinn_core.batch`); :func:`csv_bytes` writes scores a chunk at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from medinn_core.errors import SchemaError, list_examples
from medinn_core.model import MedinnModel
from medinn_core.preprocess import clean_column
from medinn_core.schema import Kind, Task, labels


@dataclass(frozen=True)
class ColumnCheck:
    """How a table's columns compare with what a model needs.

    ``out_of_range`` has one row per patient (same index as the table) and one boolean column
    per numeric feature, True where the value lies outside the training range;
    ``unseen`` maps a categorical column to categories never seen in training.
    """

    missing: tuple[str, ...]
    extra: tuple[str, ...]
    unseen: dict[str, tuple[str, ...]] = field(default_factory=dict)
    out_of_range: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def ok(self) -> bool:
        return not self.missing

    def unusual(self) -> pd.Series:
        """Per patient: True when any value lies outside the training data's range or categories."""
        flags = self.out_of_range.any(axis=1) if not self.out_of_range.empty else None
        return flags if flags is not None else pd.Series(dtype=bool)

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
    known = set(needed) | {schema.target, schema.id_column}
    extra = tuple(str(c) for c in df.columns if c not in known)
    if missing:
        return ColumnCheck(missing, extra)
    unseen, ranges = {}, {}
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
            if not pd.api.types.is_object_dtype(series):  # distinct values suffice
                series = pd.Series(series.dropna().unique())
            values = set(clean_column(series, col).dropna())
            new = sorted(v for v in values if v not in seen)
            if new:
                unseen[col.name] = tuple(new)
    frame = pd.DataFrame(ranges, index=df.index) if ranges else pd.DataFrame(index=df.index)
    return ColumnCheck(missing, extra, unseen, frame)


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
    columns); unseen categories are pooled; out-of-range flags are concatenated as a sparse
    frame (flags are rare), so ``combine_checks([check], model)`` is a small copy to keep.
    """
    checks = list(checks)
    pooled: dict[str, set[str]] = {}
    for check in checks:
        for col, cats in check.unseen.items():
            pooled.setdefault(col, set()).update(cats)
    unseen = {c: tuple(sorted(pooled[c])) for c in model.schema.feature_names if c in pooled}
    sparse = pd.SparseDtype(bool, False)
    flags = [c.out_of_range.astype(sparse) for c in checks if len(c.out_of_range.columns)]
    out_of_range = pd.concat(flags) if flags else pd.DataFrame()
    return ColumnCheck(checks[0].missing, checks[0].extra, unseen, out_of_range)


def score_frame(
    model: MedinnModel,
    df: pd.DataFrame,
    threshold: float | None = None,
    *,
    fixed_shape: bool = False,
) -> pd.DataFrame:
    """Score one batch: the identifier (when the model has one), then the task's columns.

    Binary: ``risk`` (probability of the positive class) and ``prediction`` (label at the
    threshold); multiclass: ``p_<class>`` per class and ``prediction``; regression:
    ``prediction``. Nothing depends on other rows of the batch; with ``fixed_shape`` (see
    :meth:`MedinnModel.raw_output`) not even the last bit, so that scoring a file in chunks
    gives the same numbers as scoring it whole.
    """
    schema = model.schema
    out = pd.DataFrame(index=df.index)
    if schema.id_column and schema.id_column in df.columns:
        out[schema.id_column] = df[schema.id_column]
    if schema.task == Task.REGRESSION:
        out["prediction"] = model.predict(df, fixed_shape=fixed_shape)
        return out
    proba = model.predict_proba(df, fixed_shape=fixed_shape)
    classes = pd.array(list(model.classes_), dtype="str")  # text, but not Python objects
    if schema.task == Task.BINARY:
        cut = model.threshold_ if threshold is None else threshold
        out["risk"] = proba[:, 1]
        out["prediction"] = classes.take((proba[:, 1] >= cut).astype(np.intp))
    else:
        for j, cls in enumerate(model.classes_):
            out[f"p_{cls}"] = proba[:, j]
        out["prediction"] = classes.take(np.argmax(proba, axis=1))
    return out


def score_chunks(model: MedinnModel, chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Score an iterable of batches one at a time (bounded memory)."""
    for chunk in chunks:
        require_columns(chunk, model)
        yield score_frame(model, chunk, fixed_shape=True)


def target_of(df: pd.DataFrame, model: MedinnModel) -> pd.Series:
    """The target column as labels (classification) for evaluating; raises when absent."""
    name = model.schema.target
    if name not in df.columns:
        raise SchemaError(
            f"The data has no target column {name!r}; evaluation needs the true outcome."
        )
    return labels(df[name])
