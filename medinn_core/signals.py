"""Signal columns: a trace sampled as many columns (``ecg_000 ... ecg_127``), read as one input.

A clinical export often carries a waveform, a ward's hourly vital signs or a spectrum as one
column per sample. :func:`detect_signal_groups` finds them (at least :data:`MIN_SIGNAL_LENGTH`
numeric columns sharing a prefix, with consecutive numeric suffixes); the schema records each
as a :class:`SignalGroup` (its name and its columns in trace order), which the user may
rename or turn back into ordinary columns (:meth:`medinn_core.schema.Schema.with_signals`).
The preprocessing fills missing samples inside a trace by linear interpolation along it
(:func:`fill_traces`) and the convolutional network reads each group as one trace.

This module imports nothing from the rest of medinn but the errors, so the schema can use it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from medinn_core.errors import SchemaError, list_examples

#: The fewest samples a trace needs to be read as a signal (and convolved).
MIN_SIGNAL_LENGTH = 16
# Runs this long but shorter than MIN_SIGNAL_LENGTH get a note saying why they are not grouped.
_NOTE_FROM = 8
_SUFFIX = re.compile(r"^(.*?\D)(\d+)$")
#: A run of columns is a signal only if the median correlation of each sample with the next,
#: over the patients, reaches this. Unrelated columns give about 0 (|r| within 3 / sqrt(rows)
#: for one pair, and the median over 15 or more pairs is tighter still: under 0.1 from 40
#: rows); a trace's neighbouring samples share its slow parts (baseline, waves several
#: samples wide, a patient's level): 0.56 on the heartbeat cohort (its R spikes span about
#: two samples), 0.93 for hourly heart rates (tests/core/test_signals.py), 0.00 for the
#: cardiology cohort's 24 noise labs. 0.3 sits well clear of both sides.
MIN_NEIGHBOUR_CORRELATION = 0.3
# Below this many rows the correlation cannot tell related from unrelated; names decide.
_MIN_CORRELATION_ROWS = 20
# The correlation reads at most this many rows (evenly spaced), so a large upload costs no more.
_CORRELATION_ROWS = 5_000


@dataclass(frozen=True)
class SignalGroup:
    """One signal input: its ``name`` and its ``columns`` in trace order (first sample first)."""

    name: str
    columns: tuple[str, ...]

    @property
    def length(self) -> int:
        return len(self.columns)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "columns": list(self.columns)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignalGroup:
        return cls(str(data["name"]), tuple(str(c) for c in data["columns"]))


def _split(name: str) -> tuple[str, int, str] | None:
    """``(prefix, number, digits)`` of a name ending in digits after a non-digit prefix."""
    match = _SUFFIX.match(name)
    if match is None:
        return None
    return match.group(1), int(match.group(2)), match.group(2)


def _group_name(prefix: str) -> str:
    return prefix.rstrip("_-. ") or prefix


def detect_signal_groups(
    columns: Iterable[tuple[str, bool]],
    data: pd.DataFrame | None = None,
) -> tuple[tuple[SignalGroup, ...], tuple[str, ...]]:
    """Find signal groups among columns given as ``(name, is_numeric_input)`` in file order.

    A group is :data:`MIN_SIGNAL_LENGTH` or more numeric input columns sharing a prefix whose
    numeric suffixes run without a gap (ordered by suffix). With ``data`` (the table, or a
    sample of its rows) a run is a signal only when its neighbouring samples are related: the
    median correlation of each column with the next, over the rows, is at least
    :data:`MIN_NEIGHBOUR_CORRELATION` (:func:`neighbour_correlation`). Returns the groups and
    notes for the user: a ragged run (a suffix missing), a run too short to convolve, or a
    run of unrelated columns (24 lab values ``lab_01 ... lab_24``) stays as ordinary columns,
    and the note names it.
    """
    runs: dict[str, list[tuple[int, str, str]]] = {}
    for name, numeric in columns:
        parts = _split(name)
        if parts is None or not numeric:
            continue
        prefix, number, digits = parts
        runs.setdefault(prefix, []).append((number, digits, name))
    groups, notes = [], []
    for prefix, members in runs.items():
        if len(members) < _NOTE_FROM:
            continue
        members.sort()
        numbers = [m[0] for m in members]
        label = _group_name(prefix)
        names = [m[2] for m in members]
        if len(set(numbers)) < len(numbers):
            notes.append(
                f"Columns {names[0]!r} ... {names[-1]!r} look like one signal {label!r}, but "
                "some suffixes repeat (e.g. '1' and '01'); they are kept as ordinary columns."
            )
            continue
        related = None if data is None else neighbour_correlation(data, names)
        if related is not None and related < MIN_NEIGHBOUR_CORRELATION:
            if len(members) >= MIN_SIGNAL_LENGTH:  # shorter runs could not be a signal anyway
                notes.append(
                    f"Columns {names[0]!r} ... {names[-1]!r} look like a series but "
                    "neighbouring samples are unrelated (median correlation "
                    f"{round(related, 2) + 0.0:.2f}); kept as ordinary columns; group them by hand if they "
                    "are one signal."
                )
            continue
        absent = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
        if absent:
            width = len(members[0][1])
            missing = [f"{prefix}{n:0{width}d}" for n in absent]
            notes.append(
                f"Columns {names[0]!r} ... {names[-1]!r} look like one signal {label!r}, but "
                f"{len(absent)} sample column(s) are missing from the trace: "
                f"{list_examples(missing)}. They are kept as ordinary columns; add the missing "
                "column(s) (empty cells are allowed) to read them as one signal."
            )
            continue
        if len(members) < MIN_SIGNAL_LENGTH:
            notes.append(
                f"Columns {names[0]!r} ... {names[-1]!r} could be one signal {label!r}, but "
                f"{len(members)} samples are too few to convolve (at least "
                f"{MIN_SIGNAL_LENGTH}); they are kept as ordinary columns."
            )
            continue
        groups.append(SignalGroup(label, tuple(names)))
    return _unique_names(groups), tuple(notes)


def neighbour_correlation(data: pd.DataFrame, columns: Sequence[str]) -> float | None:
    """The median, over neighbouring pairs of ``columns`` (in the order given), of the
    correlation between the two samples over the rows (at most :data:`_CORRELATION_ROWS`,
    evenly spaced), or None with fewer than :data:`_MIN_CORRELATION_ROWS` rows (too few to
    tell). A missing value counts as its column's mean; a constant column's pairs are left
    out (0.0 when every pair is)."""
    if len(data) < _MIN_CORRELATION_ROWS:
        return None
    step = -(-len(data) // _CORRELATION_ROWS)
    values = data[list(columns)].iloc[::step].apply(pd.to_numeric, errors="coerce")
    values = values.to_numpy(np.float64, copy=True)
    values[~np.isfinite(values)] = np.nan
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # an empty column: no mean
        z = (values - np.nanmean(values, axis=0)) / np.nanstd(values, axis=0)
    z = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)  # a missing value: its column's mean
    varies = (z != 0).any(axis=0)
    pairs = varies[:-1] & varies[1:]
    if not pairs.any():
        return 0.0
    r = (z[:, :-1] * z[:, 1:]).mean(axis=0)
    return float(np.median(r[pairs]))


def _unique_names(groups: list[SignalGroup]) -> tuple[SignalGroup, ...]:
    seen: dict[str, int] = {}
    out = []
    for g in groups:
        n = seen.get(g.name, 0)
        seen[g.name] = n + 1
        out.append(g if n == 0 else SignalGroup(f"{g.name}_{n + 1}", g.columns))
    return tuple(out)


def check_signal_groups(
    groups: Sequence[SignalGroup], numeric_inputs: Sequence[str], all_names: Sequence[str]
) -> tuple[SignalGroup, ...]:
    """Check groups the user set against the schema's columns; returns them as a tuple.

    Raises
    ------
    SchemaError
        Naming the group: a column that is not a numeric input, a column in two groups, a
        group too short to convolve, or a name used twice or taken by a column.
    """
    numeric = set(numeric_inputs)
    owner: dict[str, str] = {}
    names: set[str] = set()
    for g in groups:
        if not g.name.strip():
            raise SchemaError("A signal needs a name; give each signal group a non-empty name.")
        if g.name in names:
            raise SchemaError(f"Two signals are called {g.name!r}; give each a name of its own.")
        if g.name in all_names and g.name not in g.columns:
            raise SchemaError(
                f"Signal name {g.name!r} is already a column's name; choose another name."
            )
        names.add(g.name)
        if len(g.columns) < MIN_SIGNAL_LENGTH:
            raise SchemaError(
                f"Signal {g.name!r} has {len(g.columns)} samples: too few to convolve (at least "
                f"{MIN_SIGNAL_LENGTH}). Keep its columns as ordinary columns instead."
            )
        bad = [c for c in g.columns if c not in numeric]
        if bad:
            raise SchemaError(
                f"Signal {g.name!r} includes {list_examples(bad)}, which must be numeric model "
                "inputs; include them as numeric columns or turn the signal back into "
                "ordinary columns."
            )
        for c in g.columns:
            if c in owner:
                raise SchemaError(
                    f"Column {c!r} is in two signals, {owner[c]!r} and {g.name!r}; a sample "
                    "belongs to one trace."
                )
            owner[c] = g.name
    return tuple(groups)


def renamed(groups: Sequence[SignalGroup], old: str, new: str) -> tuple[SignalGroup, ...]:
    """The groups with signal ``old`` called ``new``.

    Raises
    ------
    SchemaError
        If there is no signal ``old``.
    """
    _require(groups, old)
    return tuple(SignalGroup(new, g.columns) if g.name == old else g for g in groups)


def ungrouped(groups: Sequence[SignalGroup], name: str) -> tuple[SignalGroup, ...]:
    """The groups without signal ``name`` (its columns become ordinary columns).

    Raises
    ------
    SchemaError
        If there is no signal ``name``.
    """
    _require(groups, name)
    return tuple(g for g in groups if g.name != name)


def _require(groups: Sequence[SignalGroup], name: str) -> None:
    if name not in {g.name for g in groups}:
        known = [g.name for g in groups]
        raise SchemaError(
            f"There is no signal {name!r}; the signals are: "
            f"{list_examples(known) if known else 'none'}."
        )


def fill_traces(values: np.ndarray, fallback: np.ndarray | None = None) -> np.ndarray:
    """Traces ``(rows, samples)`` with missing samples filled by linear interpolation along
    the trace (the nearest known sample before the first or after the last one). A trace
    with no sample at all becomes ``fallback`` (a typical trace), or stays missing."""
    out = np.array(values, dtype=np.float64, copy=True)
    nan = np.isnan(out)
    if not nan.any():
        return out
    positions = np.arange(out.shape[1])
    for i in np.flatnonzero(nan.any(axis=1)):
        known = ~nan[i]
        if known.any():
            out[i, ~known] = np.interp(positions[~known], positions[known], out[i, known])
        elif fallback is not None:
            out[i] = fallback
    return out


def signal_issues(df: pd.DataFrame, groups: Sequence[SignalGroup]) -> list[tuple]:
    """Warnings about the traces of ``df``, as ``(severity, code, column, count, message,
    summary)`` for :func:`medinn_core.validate.validate`: missing samples inside traces (and
    how they are filled) and patients with no trace at all. Counts only, no values."""
    out = []
    for g in groups:
        present = [c for c in g.columns if c in df.columns]
        if len(present) < len(g.columns):
            absent = [c for c in g.columns if c not in df.columns]
            out.append(
                (
                    "error",
                    "signal_ragged",
                    g.name,
                    len(absent),
                    f"Signal {g.name!r} lacks {len(absent)} sample column(s): "
                    f"{list_examples(absent)}. Add them (empty cells are allowed) or turn "
                    "the signal back into ordinary columns.",
                    "",
                )
            )
            continue
        values = df[list(g.columns)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
        nan = ~np.isfinite(values)
        empty = nan.all(axis=1)
        partial = nan.any(axis=1) & ~empty
        if partial.any():
            n = int(nan[partial].sum())
            text = (
                f"Signal {g.name!r}: {n} missing sample(s) inside the traces of "
                f"{int(partial.sum())} patient(s); they are filled by linear interpolation "
                "along each trace."
            )
            out.append(("warning", "signal_gaps", g.name, n, text, text))
        if empty.any():
            text = (
                f"Signal {g.name!r}: {int(empty.sum())} patient(s) have no trace at all; the "
                "model reads the training patients' average trace for them."
            )
            out.append(("warning", "signal_empty", g.name, int(empty.sum()), text, text))
    return out


def group_total(contributions: pd.DataFrame, groups: Sequence[SignalGroup]) -> pd.DataFrame:
    """Per-column contributions with each signal's samples summed into one column named for
    the signal (placed where its first sample was), for importance and waterfall views."""
    owner = {c: g.name for g in groups for c in g.columns}
    if not owner:
        return contributions
    keys = [owner.get(c, c) for c in contributions.columns]
    summed = contributions.T.groupby(keys, sort=False).sum().T
    return summed.reindex(columns=list(dict.fromkeys(keys)))


def signal_contributions(contributions: pd.DataFrame, group: SignalGroup) -> pd.DataFrame:
    """Each patient's contribution of every sample of ``group`` (rows: patients, columns: the
    samples in trace order), from an explanation's per-column contributions.

    Raises
    ------
    SchemaError
        If the contributions lack a sample of the group (the model did not read it).
    """
    absent = [c for c in group.columns if c not in contributions.columns]
    if absent:
        raise SchemaError(
            f"The explanation has no contribution for {list_examples(absent)} of signal "
            f"{group.name!r}: the model was trained without these samples."
        )
    return contributions[list(group.columns)]


def mean_abs_along_trace(contributions: pd.DataFrame, group: SignalGroup) -> pd.Series:
    """The cohort's mean absolute contribution of each sample of ``group``, indexed by the
    sample's position along the trace (0 first): where along the trace the model looks."""
    per_sample = signal_contributions(contributions, group).abs().mean(axis=0)
    return pd.Series(per_sample.to_numpy(), index=pd.RangeIndex(group.length), name=group.name)
