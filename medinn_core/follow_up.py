"""The follow-up time of a survival task, as the Data page asks for it: which columns may hold
it, and a follow-up computed from two date columns added to a table and its schema.

Apart from :mod:`medinn_core.survival` (numbers only), since these read and edit a schema
(which itself asks :mod:`~medinn_core.survival` for the default horizon).
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from medinn_core.errors import SchemaError
from medinn_core.schema import Kind, Schema, Task, infer_column
from medinn_core.survival import follow_up_from_dates
from medinn_core.validate import _FOLLOW_UP_NAME  # one rule for "named like a follow-up"


def likely_time_columns(df: pd.DataFrame, schema: Schema) -> tuple[str, ...]:
    """The columns that could hold the follow-up time of a survival task, most likely first:
    every column but the event (target) and the identifier, those named like a follow-up time
    (time, follow_up, days, duration...) and holding numbers first, then the other numbers,
    then the rest (a date column is offered too: validation then says how to turn it into a
    time)."""

    def rank(name: str) -> int:
        numeric = schema.column(name).kind == Kind.NUMERIC
        named = bool(_FOLLOW_UP_NAME.search(name.strip()))
        return 0 if named and numeric else 1 if named or numeric else 2

    names = [str(c) for c in df.columns if c not in (schema.target, schema.id_column)]
    return tuple(sorted(names, key=rank))


def with_follow_up(
    df: pd.DataFrame, schema: Schema, start: str, end: str, *, unit: str = "days"
) -> tuple[pd.DataFrame, Schema, str]:
    """``df`` with a follow-up time computed from two date columns (:func:`follow_up_from_dates`)
    added as a new column (``follow_up_days``, or ``follow_up_days_2`` when that name is taken),
    and ``schema`` with that column: the follow-up time of a survival task when the schema has
    a two-valued target, else left out of the inputs (a time recorded up to the outcome leaks
    it). Returns the new frame, schema and the column's name.

    Raises
    ------
    SchemaError
        As :func:`follow_up_from_dates`, or if ``start`` or ``end`` is not a column, or is the
        same column.
    """
    schema.column(start)
    schema.column(end)
    if start == end:
        raise SchemaError(
            f"The start and the end of follow-up are both {start!r}: choose two date columns."
        )
    time = follow_up_from_dates(df[start], df[end], unit=unit)
    name, n = str(time.name), 2
    while name in df.columns:
        name, n = f"{time.name}_{n}", n + 1
    frame = df.assign(**{name: time.to_numpy()})
    column = replace(
        infer_column(frame[name], name),
        excluded=True,
        reason=f"follow-up time: {end} minus {start}, in {unit}",
        unit=unit,
    )
    new = replace(schema, columns=(*schema.columns, column))
    if new.target is not None and new.task in (Task.BINARY, Task.SURVIVAL):
        new = new.with_target(frame, new.target, Task.SURVIVAL, time_column=name)
    return frame, new, name
