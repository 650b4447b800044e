"""What the pages show of signal groups (:mod:`medinn_core.signals`): the Data page's table of
signals, a few patients' traces, the runs of columns that could be read as a signal, and the
Explain page's explanation with each signal as one feature and one patient's saliency.

Pure functions of schemas, frames and explanations, like the rest of the core; the figures
are :func:`medinn_core.figures.signal_traces_figure`, ``signal_saliency_figure`` and
``signal_importance_figure``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from medinn_core.errors import DataError, SchemaError, list_examples
from medinn_core.schema import Kind, Schema
from medinn_core.signals import (
    MIN_SIGNAL_LENGTH,
    SignalGroup,
    detect_signal_groups,
    group_total,
    mean_abs_along_trace,
    signal_contributions,
)

if TYPE_CHECKING:  # the Data page draws signals without the explanation or model modules
    from medinn_core.explain import Explanation

#: The columns of :func:`signal_table`.
SIGNAL_COLUMNS = ("signal", "samples", "first column", "last column")
#: Traces the Data page draws per signal.
PREVIEW_TRACES = 5


# -- the Data page ------------------------------------------------------------------------------
def signal_table(groups: Sequence[SignalGroup]) -> pd.DataFrame:
    """One row per signal: its name, number of samples, first and last column."""
    rows = [(g.name, g.length, g.columns[0], g.columns[-1]) for g in groups]
    return pd.DataFrame(rows, columns=list(SIGNAL_COLUMNS))


def trace_preview(
    frame: pd.DataFrame,
    group: SignalGroup,
    id_column: str | None = None,
    n: int = PREVIEW_TRACES,
) -> pd.DataFrame:
    """The traces of the first ``n`` patients who have at least one sample of ``group``: one
    row per patient (indexed by their label: the identifier, else the row number), one column
    per sample in trace order, missing samples as ``NaN``.

    Raises
    ------
    DataError
        If the table lacks some of the signal's columns.
    """
    absent = [c for c in group.columns if c not in frame.columns]
    if absent:
        raise DataError(
            f"Signal {group.name!r}: the table lacks {list_examples(absent)}. Load the table the "
            "schema was made for, or turn the signal back into ordinary columns."
        )
    from medinn_core.predict import patient_labels

    values = frame[list(group.columns)].apply(pd.to_numeric, errors="coerce")
    shown = values[values.notna().any(axis=1)].head(n)
    names = patient_labels(frame.loc[shown.index], id_column)
    return shown.set_axis([str(v) for v in names], axis=0)


def signal_problem(schema: Schema) -> str | None:
    """Why the schema's signals cannot be trained as they are (a sample column turned into a
    category or left out in the column table, say), or None when they can."""
    try:
        schema.with_signals(schema.signals)
    except SchemaError as exc:
        return str(exc)
    return None


def signal_candidates(schema: Schema) -> tuple[SignalGroup, ...]:
    """Runs of numeric input columns that could be read as a signal but are not one now: a
    signal turned back into ordinary columns, or a run whose odd column was fixed in the
    column table. Found as at upload (:func:`medinn_core.signals.detect_signal_groups`)."""
    taken = {c for g in schema.signals for c in g.columns}
    roles = {schema.target, schema.id_column, schema.time_column}
    found, _ = detect_signal_groups(
        (c.name, c.is_feature and c.kind == Kind.NUMERIC and c.name not in roles | taken)
        for c in schema.columns
    )
    return found


def non_numeric_samples(schema: Schema) -> list[str]:
    """A message for each run of sample-like columns that one or more non-numeric columns keep
    from being one signal (``ecg_005`` read as a category because a cell holds text): which
    columns, what they were read as, and the fix."""
    numeric: dict[str, list[str]] = {}
    odd: dict[str, list[str]] = {}
    roles = {schema.target, schema.id_column, schema.time_column}
    for col in schema.columns:
        prefix = _prefix(col.name)
        if prefix is None or col.name in roles:
            continue
        if col.kind == Kind.NUMERIC:
            numeric.setdefault(prefix, []).append(col.name)
        else:
            odd.setdefault(prefix, []).append(col.name)
    out = []
    for prefix, names in odd.items():
        n_numeric = len(numeric.get(prefix, ()))
        if n_numeric + len(names) < MIN_SIGNAL_LENGTH or n_numeric <= len(names):
            continue  # too short for a signal, or a run of categories (code_01 ... code_20)
        kinds = sorted({schema.column(n).kind.value for n in names})
        reasons = [schema.column(n).reason for n in names if schema.column(n).reason]
        why = f" ({reasons[0]})" if reasons else ""
        label = prefix.rstrip("_-. ") or prefix
        these = (
            f"Column {names[0]!r} looks like a sample"
            if len(names) == 1
            else f"Columns {list_examples(names)} look like samples"
        )
        out.append(
            f"{these} of signal {label!r} but {'is' if len(names) == 1 else 'are'} read "
            f"as {' and '.join(kinds)}{why}, not as numbers, so the trace is not read as one "
            "signal. A trace's samples must all be numbers: fix the values in the file (leave "
            "a missing sample as an empty cell) and load it again, or set the column's kind "
            "to numeric in the column table below and then read the columns as one signal."
        )
    return out


def _prefix(name: str) -> str | None:
    """The part of a name before its trailing digits (None without them)."""
    stripped = name.rstrip("0123456789")
    return stripped if stripped and stripped != name and not stripped[-1].isdigit() else None


# -- the Explain page ---------------------------------------------------------------------------
def trace_texts(traces: pd.DataFrame) -> pd.Series:
    """Each patient's trace (a row of sample columns) in words, as the value of its signal in
    figures and sentences: how many samples, and how many were missing (filled along the
    trace); missing (``NaN``) for a patient with no sample at all."""
    values = traces.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    missing = np.isnan(values).sum(axis=1)
    n = values.shape[1]
    texts = [
        np.nan if m == n else f"{n}-sample trace" + (f", {m} missing filled" if m else "")
        for m in missing.tolist()
    ]
    return pd.Series(texts, index=traces.index, dtype=object)


def by_signal(expl: Explanation, groups: Sequence[SignalGroup]) -> Explanation:
    """``expl`` with each signal's samples summed into one feature named for the signal, in
    the place of its first sample (the importance, beeswarm, waterfall and cohort views show
    a signal as one input). Its value is the trace in words (:func:`trace_texts`), missing
    when a patient has no trace. Contributions still add up to each output.

    Raises
    ------
    SchemaError
        If the explanation lacks a sample of a signal.
    """
    groups = [g for g in groups if g.columns]
    if not groups:
        return expl
    for g in groups:
        signal_contributions(expl.contributions, g)  # every sample present, or a clear error
    contributions = group_total(expl.contributions, groups)
    raw = expl.raw_values
    owner = {c: g for g in groups for c in g.columns}
    columns: dict[str, pd.Series] = {}
    for name in raw.columns:
        group = owner.get(name)
        if group is None:
            columns[name] = raw[name]
        elif group.name not in columns:
            columns[group.name] = trace_texts(raw[list(group.columns)])
    return replace(expl, contributions=contributions, raw_values=pd.DataFrame(columns))


@dataclass(frozen=True, eq=False)
class Saliency:
    """One patient's trace of a signal and what each sample adds to the output, in the unit
    the other Explain figures use (percentage points for a risk).

    Attributes
    ----------
    name : the signal.
    trace : the patient's samples as recorded (``NaN`` where missing).
    contributions : each sample's contribution, times ``factor``.
    unit : the words for them ("contribution (percentage points)").
    total : their sum in the explanation's own space: the signal's contribution as one
        feature (its bar in the waterfall).
    total_text : ``total`` as a signed change in words ("+11.9 percentage points").
    """

    name: str
    trace: np.ndarray
    contributions: np.ndarray
    unit: str
    total: float
    total_text: str


def saliency(
    expl: Explanation,
    group: SignalGroup,
    position: int,
    *,
    output_unit: str = "",
    output_name: str = "",
) -> Saliency:
    """Patient ``position``'s trace of ``group`` and each sample's contribution, from an
    explanation per sample (not :func:`by_signal`'s); ``output_unit`` and ``output_name``
    as in :mod:`medinn_core.explain`'s figures (``Terms.output``).

    Raises
    ------
    DataError
        If ``position`` is not a patient of the explanation.
    SchemaError
        If the explanation lacks a sample of the signal.
    """
    from medinn_core.explain import change_text, contribution_scale

    n = len(expl.contributions)
    if not 0 <= int(position) < n:
        raise DataError(
            f"Patient position {position} is out of range: the explanation covers {n} patients."
        )
    per_sample = signal_contributions(expl.contributions, group).iloc[int(position)]
    trace = pd.to_numeric(
        expl.raw_values[list(group.columns)].iloc[int(position)], errors="coerce"
    ).to_numpy(dtype=np.float64)
    values = per_sample.to_numpy(dtype=np.float64)
    factor, unit = contribution_scale(expl, output_unit, output_name)
    total = float(values.sum())
    return Saliency(
        group.name,
        trace,
        values * factor,
        f"contribution ({unit})" if unit else "contribution",
        total,
        change_text(expl, total, output_unit, output_name),
    )


def where_the_model_looks(
    expl: Explanation, group: SignalGroup, *, output_unit: str = "", output_name: str = ""
) -> tuple[pd.Series, str]:
    """The patients' mean absolute contribution of each sample of ``group`` along the trace
    (:func:`medinn_core.signals.mean_abs_along_trace`), in the unit of the other Explain
    figures, and the words for it ("mean |contribution| (percentage points)").

    Raises
    ------
    SchemaError
        If the explanation lacks a sample of the signal.
    """
    from medinn_core.explain import contribution_scale

    factor, unit = contribution_scale(expl, output_unit, output_name)
    mean_abs = mean_abs_along_trace(expl.contributions, group) * factor
    return mean_abs, f"mean |contribution| ({unit})" if unit else "mean |contribution|"
