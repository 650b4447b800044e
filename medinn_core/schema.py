"""The schema: the single source of truth about a dataset's columns and a model's target.

A schema is inferred at upload (:func:`infer_schema`), edited by the user
(:meth:`Schema.with_column`, :meth:`Schema.with_edits`, :meth:`Schema.with_target`), saved as
JSON with every model and checked on every later upload.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from medinn_core.errors import SchemaError, list_examples
from medinn_core.signals import (
    SignalGroup,
    check_signal_groups,
    detect_signal_groups,
    renamed,
    ungrouped,
)

SCHEMA_VERSION = 1
MAX_CLASSES = 20
MAX_CATEGORY_LEVELS = 50


class Kind(StrEnum):
    """What a column is, and so how it is used."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BINARY = "binary"
    IDENTIFIER = "identifier"
    IGNORED = "ignored"


FEATURE_KINDS = (Kind.NUMERIC, Kind.CATEGORICAL, Kind.BINARY)
#: What a user may edit of a column (:meth:`Schema.with_edits`).
EDITABLE_FIELDS = ("kind", "include", "unit")


class Task(StrEnum):
    """What the target asks of the model."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"
    SURVIVAL = "survival"


@dataclass(frozen=True)
class Column:
    """One column: its kind, whether it is used, and what a clinician needs to read it.

    ``excluded`` columns are never model inputs; ``reason`` says why (shown to the user).
    ``valid_min``/``valid_max`` are the plausible range in ``unit``; ``nonzero`` marks a
    measurement that cannot be zero (a zero there is probably a missing value). ``measure`` is
    the key of the clinical measurement recognised by its name (:mod:`medinn_core.units`),
    ``unit_reason`` why its unit was assumed; ``code_hint`` says why a numeric column's values
    look like codes of categories (a proposal the user may take).
    """

    name: str
    kind: Kind
    excluded: bool = False
    reason: str = ""
    unit: str = ""
    description: str = ""
    valid_min: float | None = None
    valid_max: float | None = None
    nonzero: bool = False
    categories: tuple[str, ...] = ()
    measure: str = ""
    unit_reason: str = ""
    code_hint: str = ""

    @property
    def is_feature(self) -> bool:
        return not self.excluded and self.kind in FEATURE_KINDS


@dataclass(frozen=True)
class Schema:
    """Every column of a dataset plus the target and task.

    ``classes`` holds the target's labels as strings, in the order of the model's outputs; for
    a binary task the second one is the positive class (the event whose risk is predicted).

    A ``survival`` task (time to event) has the event column as its target (two classes, as a
    binary target: the second is the event, the first censoring) and ``time_column``, the
    follow-up time from the start of follow-up to the event or censoring (never an input).
    ``horizon`` is the time by which risks are predicted and evaluated, in that column's unit;
    ``horizon_reason`` says how it was chosen.

    ``signals`` are the signal groups (:mod:`medinn_core.signals`): numeric input columns read
    as one trace each by a convolutional network.
    """

    columns: tuple[Column, ...]
    target: str | None = None
    task: Task | None = None
    classes: tuple[str, ...] = ()
    id_column: str | None = None
    version: int = SCHEMA_VERSION
    notes: tuple[str, ...] = field(default=())
    time_column: str | None = None
    horizon: float | None = None
    horizon_reason: str = ""
    signals: tuple[SignalGroup, ...] = ()

    # -- access ---------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        """The column called ``name``; raises :class:`SchemaError` naming close matches."""
        for col in self.columns:
            if col.name == name:
                return col
        raise SchemaError(
            f"Column {name!r} is not in the data. Columns are: {list_examples(list(self.names), 12)}."
        )

    @property
    def features(self) -> tuple[Column, ...]:
        """Columns used as model inputs, in file order (never the target or the identifier)."""
        roles = (self.target, self.id_column, self.time_column)
        return tuple(c for c in self.columns if c.is_feature and c.name not in roles)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.features)

    @property
    def positive_class(self) -> str | None:
        return self.classes[1] if self.task == Task.BINARY and len(self.classes) == 2 else None

    @property
    def event_class(self) -> str | None:
        """The event's label: the positive class of a binary target, the event of a survival
        target (the other label is censoring); None for other tasks."""
        if self.task in (Task.BINARY, Task.SURVIVAL) and len(self.classes) == 2:
            return self.classes[1]
        return None

    def signal_of(self, name: str) -> SignalGroup | None:
        """The signal group column ``name`` is a sample of, or None."""
        return next((g for g in self.signals if name in g.columns), None)

    # -- edits (each returns a new schema) -------------------------------------------------
    def with_signals(self, groups: tuple[SignalGroup, ...] | list[SignalGroup]) -> Schema:
        """Set the signal groups (the user's confirmed, renamed or hand-made groups).

        Raises
        ------
        SchemaError
            Naming the group: a column that is not a numeric input, a column in two groups, a
            group too short to convolve, a name used twice or taken by a column.
        """
        numeric = [c.name for c in self.features if c.kind == Kind.NUMERIC]
        return replace(self, signals=check_signal_groups(list(groups), numeric, self.names))

    def with_signal_renamed(self, old: str, new: str) -> Schema:
        """Call signal ``old`` ``new`` (raises :class:`SchemaError` as :meth:`with_signals`)."""
        return self.with_signals(renamed(self.signals, old, str(new).strip()))

    def without_signal(self, name: str) -> Schema:
        """Turn signal ``name`` back into ordinary columns."""
        return replace(self, signals=ungrouped(self.signals, name))

    def with_column(self, name: str, **changes: Any) -> Schema:
        """Override one column's kind, excluded state, unit, range or description.

        Raises
        ------
        SchemaError
            If the column does not exist, the kind is unknown, or the change would make the
            target or identifier a feature.
        """
        col = self.column(name)
        if "kind" in changes:
            try:
                changes["kind"] = Kind(changes["kind"])
            except ValueError:
                kinds = ", ".join(k.value for k in Kind)
                raise SchemaError(
                    f"Column {name!r}: unknown kind {changes['kind']!r}. Choose one of {kinds}."
                ) from None
            if changes["kind"] in FEATURE_KINDS and "excluded" not in changes:
                changes.setdefault("excluded", False)
            if changes["kind"] == Kind.IGNORED:
                changes.setdefault("excluded", True)
        if "categories" in changes:
            changes["categories"] = tuple(str(c) for c in changes["categories"])
        if "unit" in changes and changes["unit"] != col.unit:
            changes = {**_unit_change(col, str(changes["unit"] or "")), **changes}
        new_col = replace(col, **changes)
        if new_col.kind == Kind.IDENTIFIER:
            new_col = replace(new_col, excluded=True, reason=new_col.reason or "identifier")
        if changes.get("excluded") is False and col.excluded and "reason" not in changes:
            new_col = replace(new_col, reason="")
        columns = tuple(new_col if c.name == name else c for c in self.columns)
        id_column = self.id_column
        if new_col.kind == Kind.IDENTIFIER and id_column is None:
            id_column = name
        elif new_col.kind != Kind.IDENTIFIER and id_column == name:
            id_column = None
        return replace(self, columns=columns, id_column=id_column)

    def with_id_column(self, name: str | None) -> Schema:
        """Make ``name`` the patient identifier (never a feature), or clear it with ``None``."""
        schema = self
        if self.id_column and self.id_column != name:
            schema = schema.with_column(self.id_column, kind=Kind.IGNORED, reason="identifier")
        if name is None:
            return replace(schema, id_column=None)
        schema = schema.with_column(name, kind=Kind.IDENTIFIER, reason="patient identifier")
        return replace(schema, id_column=name)

    def with_edits(self, edits: Mapping[str, Mapping[str, Any]]) -> Schema:
        """Apply a user's edits of columns, in column order: ``{name: {field: value}}`` with
        the fields ``kind`` (a :class:`Kind` value), ``include`` (a model input or not) and
        ``unit``; other fields are ignored.

        The kind ``identifier`` makes the column the patient identifier (the previous one is
        ignored from then on).

        Raises
        ------
        SchemaError
            If an edit is not allowed: an unknown kind or column, the target made an input,
            or a column of a kind that is never an input (identifier, ignored) included.
        """
        for name in edits:
            self.column(name)  # an unknown column is refused before any edit
        schema = self
        for name in self.names:
            if name in edits:
                schema = schema._with_edit(name, edits[name])
        return schema

    def _with_edit(self, name: str, edit: Mapping[str, Any]) -> Schema:
        changes = {k: v for k, v in edit.items() if k in EDITABLE_FIELDS}
        if name == self.target and changes.get("include"):
            raise SchemaError(
                f"Column {name!r} is the target: it cannot also be an input. Choose another "
                "target first."
            )
        if name == self.time_column and changes.get("include"):
            raise SchemaError(
                f"Column {name!r} is the follow-up time: it is known only at the end of "
                "follow-up, so it cannot be an input."
            )
        schema = self
        if changes.get("kind") == Kind.IDENTIFIER.value:
            schema = schema.with_id_column(name)
            changes.pop("kind")
            changes.pop("include", None)
        update: dict[str, Any] = {}
        if changes.get("kind"):
            update["kind"] = changes["kind"]
        if "include" in changes:
            include = bool(changes["include"])
            kind = update.get("kind", schema.column(name).kind)
            if include and kind in set(Kind) and kind not in FEATURE_KINDS:  # unknown: below
                raise SchemaError(
                    f"Column {name!r} is of kind {Kind(kind).value!r}, which is never a model "
                    "input. Change its kind to numeric, categorical or binary to include it."
                )
            update["excluded"] = not include
            if not include:
                update["reason"] = "excluded by the user"
        if "unit" in changes:
            update["unit"] = str(changes["unit"] or "")
        return schema.with_column(name, **update) if update else schema

    def with_target(
        self,
        df: pd.DataFrame,
        target: str,
        task: Task | str | None = None,
        *,
        time_column: str | None = None,
        horizon: float | None = None,
    ) -> Schema:
        """Choose the target column and detect (or set) the task and classes from ``df``.

        A ``time_column`` makes a survival task (the target is then the event column, read as
        a binary target); ``horizon`` defaults to :func:`medinn_core.survival.default_horizon`.

        Raises
        ------
        SchemaError
            If the column is missing, holds no values, or cannot serve the requested task; for
            survival, if the time column is missing or is the target.
        """
        self.column(target)
        if task in (None, "auto") and time_column is not None:
            task = Task.SURVIVAL
        task = detect_task(df[target], target) if task in (None, "auto") else Task(task)
        if task != Task.SURVIVAL and (time_column is not None or horizon is not None):
            raise SchemaError(
                f"A follow-up time column and a horizon belong to a survival task; the task "
                f"asked for is {task.value!r}. Choose the survival task, or leave them out."
            )
        if task == Task.SURVIVAL:
            distinct = labels(df[target].dropna()).unique()
            if len(distinct) == 1:
                raise SchemaError(
                    f"Event column {target!r} holds one value ({distinct[0]!r}) in every row: "
                    "either every patient is censored or every one had the event, and a "
                    "survival model needs both. Check the event column."
                )
            if len(distinct) > 2:
                raise SchemaError(
                    f"Event column {target!r} has {len(distinct)} distinct values, e.g. "
                    f"{list_examples(list(distinct[:5]))}: a survival task needs two, the event "
                    "(1, yes, dead) and censoring (0, no, alive)."
                )
        classes = target_classes(df[target], target, Task.BINARY if task == Task.SURVIVAL else task)
        roles = {target: "target"}
        reason = ""
        if task == Task.SURVIVAL:
            if time_column is None:
                raise SchemaError(
                    f"A survival task needs the follow-up time column beside the event column "
                    f"{target!r}: the time from the start of follow-up to the event or to the "
                    "end of follow-up. Name it (--time-column)."
                )
            self.column(time_column)
            if time_column == target:
                raise SchemaError(
                    f"Column {time_column!r} cannot be both the event and the follow-up time."
                )
            from medinn_core.survival import check_horizon, default_horizon

            times, events = _usable_times(df[time_column], df[target], classes)
            if horizon is None:
                horizon, reason = default_horizon(times, events, time_column)
            else:
                horizon = float(horizon)
                reason = check_horizon(times, horizon, time_column)
            roles[time_column] = "follow-up time"
        columns = tuple(
            replace(c, excluded=True, reason=roles[c.name]) if c.name in roles else c
            for c in self.columns
        )
        # The previous target (or time) goes back to being an ordinary column.
        for old in {self.target, self.time_column} - set(roles) - {None}:
            columns = tuple(
                replace(c, excluded=c.kind not in FEATURE_KINDS, reason="") if c.name == old else c
                for c in columns
            )
        id_column = None if self.id_column in roles else self.id_column
        return replace(
            self,
            columns=columns,
            target=target,
            task=task,
            classes=classes,
            id_column=id_column,
            time_column=time_column if task == Task.SURVIVAL else None,
            horizon=horizon if task == Task.SURVIVAL else None,
            horizon_reason=reason,
        )

    def with_event(self, event: str) -> Schema:
        """Make ``event`` the positive class of a binary target: the outcome whose risk the
        model predicts (``"ckd"`` rather than ``"notckd"``).

        Raises
        ------
        SchemaError
            If the task is not binary, or ``event`` is not one of the target's two classes.
        """
        if self.task not in (Task.BINARY, Task.SURVIVAL) or len(self.classes) != 2:
            raise SchemaError(
                "The event can be chosen for a binary target only (or a survival task's event "
                "column); choose a target with two outcomes first."
            )
        event = as_label(event)
        if event not in self.classes:
            raise SchemaError(
                f"{event!r} is not a value of the target {self.target!r}: its values are "
                f"{list_examples(list(self.classes))}. Choose one of them as the event."
            )
        other = next(c for c in self.classes if c != event)
        return replace(self, classes=(other, event))

    @property
    def event_text(self) -> str:
        """How pages, downloads and the report name what a binary model predicts: "risk of
        ckd" for a label that names the event, "risk of mace_1y = 1" for a code or a yes; the
        target's name for other tasks. A survival model's risk is by its horizon: "risk of
        death_event = 1 by time 180"."""
        event = self.event_class
        if event is None:
            return str(self.target or "")
        if len(event) >= 3 and event.isalpha() and event.lower() not in _POSITIVE:
            text = f"risk of {event}"
        else:
            text = f"risk of {self.target} = {event}"
        if self.task == Task.SURVIVAL and self.horizon is not None:
            text += f" by {self.time_column} {self.horizon:g}"
        return text

    # -- JSON ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["task"] = self.task.value if self.task else None
        for col in data["columns"]:
            col["kind"] = Kind(col["kind"]).value
            col["categories"] = list(col["categories"])
        data["classes"] = list(self.classes)
        data["notes"] = list(self.notes)
        data["signals"] = [g.to_dict() for g in self.signals]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        """Rebuild a schema saved by :meth:`to_dict`.

        Raises
        ------
        SchemaError
            If the data is not a medinn schema or comes from a newer version.
        """
        try:
            version = int(data.get("version", 0))
            if version > SCHEMA_VERSION:
                raise SchemaError(
                    f"This schema was written by a newer medinn (schema version {version}); "
                    "upgrade medinn to read it."
                )
            columns = tuple(
                Column(
                    **{**c, "kind": Kind(c["kind"]), "categories": tuple(c.get("categories", ()))}
                )
                for c in data["columns"]
            )
            task = Task(data["task"]) if data.get("task") else None
            return cls(
                columns=columns,
                target=data.get("target"),
                task=task,
                classes=tuple(str(c) for c in data.get("classes", ())),
                id_column=data.get("id_column"),
                version=version,
                notes=tuple(data.get("notes", ())),
                time_column=data.get("time_column"),
                horizon=None if data.get("horizon") is None else float(data["horizon"]),
                horizon_reason=str(data.get("horizon_reason") or ""),
                signals=tuple(SignalGroup.from_dict(g) for g in data.get("signals", ())),
            )
        except SchemaError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(f"Not a valid medinn schema: {exc}.") from None

    @classmethod
    def from_json(cls, text: str) -> Schema:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise SchemaError(f"The schema is not valid JSON: {exc}.") from None


def _usable_times(
    time: pd.Series, event: pd.Series, classes: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Times and 0/1 events of the rows whose time is a positive number and whose event is
    known (what the horizon is chosen from)."""
    t = numeric_view(time)
    e = labels(event).map({classes[0]: 0.0, classes[1]: 1.0}).astype("float64")
    ok = (t > 0) & np.isfinite(t) & e.notna()
    return t[ok].to_numpy(dtype=np.float64), e[ok].to_numpy(dtype=np.float64)


# -- inference -----------------------------------------------------------------------------

_ID_NAME = re.compile(
    r"^(id|uid|mrn|nhs(_?number)?|patient|record(_?id)?|encounter(_?id)?|subject(_?id)?)$"
    r"|(^|_)(id|mrn)$|^patient_?(id|no|number)$",
    re.IGNORECASE,
)
_PII_NAME = [
    (
        re.compile(r"(^|_)(first_?|last_?|sur|full_?|patient_?|given_?|family_?)?name$", re.I),
        "a name",
    ),
    (re.compile(r"dob|birth", re.I), "a date of birth"),
    (re.compile(r"address|street|postcode|post_?code|zip(_?code)?$|city$", re.I), "an address"),
    (re.compile(r"phone|mobile|fax|telephone", re.I), "a phone number"),
    (re.compile(r"e_?mail", re.I), "an e-mail address"),
    (
        re.compile(r"ssn|social_?security|passport|insurance_?(no|number)", re.I),
        "an official number",
    ),
]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.I)
_PHONE = re.compile(r"^\+?[\d\s().-]{7,}$")
_DATE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2})?)?$")
_CODE_ID = re.compile(r"^[A-Za-z]{0,6}[-_]?\d{3,}$")
_POSITIVE = (
    "1",
    "true",
    "yes",
    "y",
    "positive",
    "pos",
    "malignant",
    "present",
    "event",
    "died",
    "dead",
    "death",
    "abnormal",
    "disease",
    "case",
    "t",
)


# Labels that read as the absence of something ("notckd", "no", "non-smoker", "alive"): never
# the event when the other label is not such a word.
_ABSENCE = re.compile(
    r"^(not|non)([\W_]|[a-z])|^no([\W_]|$)|^(none|nil|never|normal|healthy|negative|neg|absent|"
    r"absence|alive|survived|survivor|benign|control|false|n|0)$",
    re.IGNORECASE,
)


def reads_as_absence(label: str) -> bool:
    """Whether a class label reads as the absence of something (``notckd``, ``no``,
    ``non-diabetic``, ``normal``, ``healthy``, ``negative``, ``absent``, ``alive``...)."""
    return bool(_ABSENCE.search(str(label).strip()))


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def as_label(value: Any) -> str:
    """The string form of a target value: 1, 1.0 and '1' are all '1'."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value).strip()


def labels(series: pd.Series) -> pd.Series:
    """Target values as string labels (missing stays missing)."""
    if _mixed(series):
        out = series.map(as_label, na_action="ignore")
        return out.astype("str") if out.notna().all() else out
    codes, names = label_codes(series)
    text = pc.take(pa.array(names, pa.large_string()), pa.array(codes, mask=codes < 0))
    return pd.Series(pd.array(text, dtype="str"), index=series.index, name=series.name)


def label_codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """:func:`labels` as codes (-1 where missing) into a list of labels, which may repeat
    (distinct values such as 1 and 1.0 share a label)."""
    # Each distinct value is labelled once (a call per cell dominated scoring large files),
    # except for Python objects, where 1 and True hash alike.
    if _mixed(series):
        codes, uniques = pd.factorize(series.map(as_label, na_action="ignore"))
        return codes, [str(u) for u in uniques]
    codes, uniques = pd.factorize(series)
    return codes, [as_label(v) for v in uniques]


def _mixed(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(series)


def numeric_view(series: pd.Series) -> pd.Series:
    """The column as floats, text that is not a number becoming NaN."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype("float64")
    if pd.api.types.is_numeric_dtype(series):
        return pd.to_numeric(series, errors="coerce").astype("float64")
    return pd.to_numeric(series.astype("str").str.strip(), errors="coerce").where(series.notna())


def detect_task(target: pd.Series, name: str = "target") -> Task:
    """Binary for two values, multiclass for 3 to 20, regression for many numbers.

    Raises
    ------
    SchemaError
        If the target has no values, one value, or many values that are not numbers.
    """
    values = target.dropna()
    if values.empty:
        raise SchemaError(
            f"Target column {name!r} holds no values: every row is missing. "
            "Choose the column that records the outcome."
        )
    n_distinct = labels(values).nunique()
    if n_distinct < 2:
        raise SchemaError(
            f"Target column {name!r} has a single value ({as_label(values.iloc[0])!r}) in every "
            "row: a model needs at least two outcomes to learn from. Check the export or choose "
            "another target."
        )
    numeric = numeric_view(values)
    all_numeric = numeric.notna().all()
    if n_distinct == 2:
        return Task.BINARY
    if all_numeric:
        integer_valued = bool(np.all(np.mod(numeric.to_numpy(), 1) == 0))
        if integer_valued and n_distinct <= MAX_CLASSES and n_distinct < len(values) / 10:
            return Task.MULTICLASS
        return Task.REGRESSION
    if n_distinct <= MAX_CLASSES:
        return Task.MULTICLASS
    raise SchemaError(
        f"Target column {name!r} has {n_distinct} distinct text values, e.g. "
        f"{list_examples(list(labels(values).unique()[:5]))}: medinn classifies up to "
        f"{MAX_CLASSES} classes. Group the values into fewer classes, or choose a numeric "
        "target for regression."
    )


def target_classes(target: pd.Series, name: str, task: Task) -> tuple[str, ...]:
    """The class labels in output order; for binary, (negative, positive).

    The positive class (the event whose risk is predicted) is a recognised event label (1,
    yes, true, positive, malignant...); else, when one label reads as the absence of something
    (``notckd``, ``no``, ``normal``, ``alive``...) and the other does not, the other one;
    otherwise the rarer class. :meth:`Schema.with_event` lets the user choose.
    """
    if task == Task.REGRESSION:
        if numeric_view(target.dropna()).isna().any():
            bad = target.dropna()[numeric_view(target.dropna()).isna()]
            raise SchemaError(
                f"Target column {name!r} must be numeric for regression: {len(bad)} values are "
                f"not numbers, e.g. {list_examples(list(bad.astype(str).unique()))}. "
                "Fix those cells or choose a classification task."
            )
        return ()
    lab = labels(target.dropna())
    counts = lab.value_counts()
    if task == Task.BINARY:
        if len(counts) != 2:
            raise SchemaError(
                f"Target column {name!r} has {len(counts)} distinct values, a binary task needs "
                "exactly 2. Choose 'multiclass' or 'regression', or another column."
            )
        known = [c for c in counts.index if c.lower() in _POSITIVE]
        absent = [c for c in counts.index if reads_as_absence(c)]
        if len(known) == 1:
            positive = known[0]
        elif len(absent) == 1:
            positive = next(c for c in counts.index if c != absent[0])
        else:
            ordered = sorted(counts.index, key=lambda c: (counts[c], _sort_key(c)))
            positive = (
                ordered[0] if counts.iloc[0] != counts.iloc[1] else max(counts.index, key=_sort_key)
            )
        negative = next(c for c in counts.index if c != positive)
        return (negative, positive)
    if len(counts) > MAX_CLASSES:
        raise SchemaError(
            f"Target column {name!r} has {len(counts)} classes; medinn classifies up to "
            f"{MAX_CLASSES}. Group the values or choose regression."
        )
    return tuple(sorted(counts.index, key=_sort_key))


# Names that say a column records an outcome, as whole words of the column's name.
_OUTCOME_NAME = re.compile(
    r"(^|_)(outcome|class|classification|death|died|dead|mortality|survival|diagnosis|target|"
    r"label|event|status|result|disease|response)($|_)"
)


def likely_targets(df: pd.DataFrame, schema: Schema) -> tuple[str, ...]:
    """Every column name, the likely outcomes first: a name such as outcome, class, death,
    diagnosis or target, then two-valued (binary) columns, then the last column; the rest
    follow in file order, identifiers and ignored columns at the end.

    A suggestion for the target picker only: any column may be chosen.
    """
    names = [str(c) for c in df.columns]
    last = names[-1] if names else None

    def rank(item: tuple[int, str]) -> tuple[int, int]:
        position, name = item
        try:
            col = schema.column(name)
        except SchemaError:
            return (9, position)
        if col.kind in (Kind.IDENTIFIER, Kind.IGNORED) and name != schema.target:
            return (8, position)
        by_name = bool(_OUTCOME_NAME.search(_norm(name)))
        binary = col.kind == Kind.BINARY
        score = 4 * by_name + 2 * binary + (name == last)
        return (-score, position)

    return tuple(name for _, name in sorted(enumerate(names), key=rank))


def _sort_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _unit_change(col: Column, unit: str) -> dict[str, Any]:
    """What changes with a column's unit: the plausible range, converted when the measurement
    knows the unit, else no range (medinn cannot check values in a unit it does not know)."""
    from medinn_core import units

    if col.measure:
        found = units.measure(col.measure)
        if unit in found.units:
            low, high = found.range_in(unit)
            return {"valid_min": low, "valid_max": high, "unit_reason": "chosen by the user"}
    return {
        "valid_min": None,
        "valid_max": None,
        "unit_reason": "chosen by the user; medinn does not know this unit, so it does not "
        "check the values' range",
    }


def _measured(name: str, values: pd.Series) -> Column | None:
    """A numeric column of a known clinical measurement, in the unit its values are in."""
    from medinn_core import units

    found = units.match(name)
    if found is None:
        return None
    choice = units.choose_unit(found, name, numeric_view(values).to_numpy())
    low, high = found.range_in(choice.unit)
    return Column(
        name,
        Kind.NUMERIC,
        unit=choice.unit,
        valid_min=low,
        valid_max=high,
        nonzero=found.nonzero,
        description=found.description,
        measure=found.key,
        unit_reason=choice.reason,
    )


# Names of amounts, which few whole numbers do not make codes: counts of things.
_COUNT_NAME = re.compile(r"count|number|^num|^n_|_n$|pregnan|children|vessels|^ca$|visits|days")
MAX_CODES = 10


def _code_hint(name: str, values: pd.Series) -> str:
    """Why a numeric column's few whole numbers look like codes of categories (chest-pain type
    1-4, thal 3/6/7), or '' if they do not."""
    numbers = numeric_view(values).dropna()
    distinct = np.unique(numbers.to_numpy())
    if not 3 <= distinct.size <= MAX_CODES or _COUNT_NAME.search(_norm(name)):
        return ""
    if not np.all(np.mod(distinct, 1) == 0) or distinct.min() < 0 or distinct.max() > 20:
        return ""
    shown = ", ".join(str(int(v)) for v in distinct)
    if np.any(np.diff(distinct) > 1):
        return (
            f"{distinct.size} whole numbers with gaps ({shown}): they look like codes of "
            "categories, not amounts"
        )
    return (
        f"only {distinct.size} whole numbers ({shown}): codes of categories (a type) or a "
        "scale (a grade)? Categories if the numbers are labels, not amounts"
    )


def _text_reason(name: str, values: pd.Series) -> str | None:
    """Why a text column is personal data or free text, or None if it is neither."""
    norm = _norm(name)
    for pattern, what in _PII_NAME:
        if pattern.search(norm):
            return f"personal data: the name suggests {what}"
    sample = values.astype("str").head(500)
    if sample.str.match(_EMAIL).mean() > 0.5:
        return "personal data: values look like e-mail addresses"
    if sample.str.match(_DATE).mean() > 0.8:
        return "a date: dates are not used as inputs; derive an age or a duration instead"
    if sample.str.match(_PHONE).mean() > 0.8 and sample.str.count(r"\d").mean() >= 7:
        return "personal data: values look like phone numbers"
    words = sample.str.count(r"\s+") + 1
    n_unique = values.nunique()
    mostly_unique = n_unique > 0.5 * len(values)
    if mostly_unique and (
        (n_unique >= 10 and words.mean() >= 3)
        or (n_unique > MAX_CATEGORY_LEVELS and words.mean() >= 2)
    ):
        return "free text: many unique multi-word values; medinn does not read free text"
    return None


def _mostly_numbers(values: pd.Series) -> bool:
    """Whether at least 90 % of the (non-missing) values read as numbers."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return True  # every one does
    if pd.api.types.is_string_dtype(values):
        # A number has a digit or spells infinity, and starts with neither a letter nor "_"
        # (but i and n, for inf and nan): if too few values could be numbers, parsing them all
        # (most of the time spent on a text column of a large table) cannot change the answer.
        text = pa.array(values.astype("str"), pa.large_string())  # pyarrow's regex, not re's
        maybe = pc.and_not(
            pc.match_substring_regex(text, r"\d|inf", ignore_case=True),
            pc.match_substring_regex(text, r"^\s*[A-HJ-MO-Za-hj-mo-z_]"),
        )
        if (pc.sum(maybe).as_py() or 0) < 0.9 * len(values):
            return False
    return float(numeric_view(values).notna().mean()) >= 0.9


def infer_column(series: pd.Series, name: str) -> Column:
    """Infer one column's kind, unit and plausible range from its name and values."""
    values = series.dropna()
    n = len(values)
    if n == 0:
        return Column(name, Kind.IGNORED, excluded=True, reason="every value is missing")
    is_numeric = _mostly_numbers(values)
    # Numbers are counted as numbers: writing a million of them as text took seconds.
    typed = pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
    as_text = None if typed else values.astype("str")
    n_unique = values.nunique() if typed else as_text.nunique()
    unique_share = n_unique / n
    if n_unique == 1:
        return Column(
            name,
            Kind.IGNORED,
            excluded=True,
            reason=f"constant: every value is {str(values.iloc[0])!r}",
        )
    if _ID_NAME.search(_norm(name)) and (unique_share > 0.5 or not is_numeric):
        return Column(name, Kind.IDENTIFIER, excluded=True, reason="identifier (by its name)")
    if not is_numeric:
        reason = _text_reason(name, values)
        if reason:
            return Column(name, Kind.IGNORED, excluded=True, reason=reason)
        if as_text is None:  # a numeric dtype whose values are mostly not numbers
            as_text = values.astype("str")
        if unique_share > 0.95 and n >= 20 and as_text.str.match(_CODE_ID).mean() > 0.9:
            return Column(
                name,
                Kind.IDENTIFIER,
                excluded=True,
                reason="identifier: every value is a unique code",
            )
    if n_unique == 2:
        cats = tuple(sorted(labels(values).unique(), key=_sort_key))
        return Column(name, Kind.BINARY, categories=cats)
    if is_numeric:
        return _measured(name, values) or Column(
            name, Kind.NUMERIC, code_hint=_code_hint(name, values)
        )
    if n_unique > MAX_CATEGORY_LEVELS and unique_share > 0.5:
        return Column(
            name,
            Kind.IGNORED,
            excluded=True,
            reason=f"too many distinct values for a category ({n_unique})",
        )
    cats = tuple(values.astype("str").value_counts().index)
    reason = ""
    if n_unique > MAX_CATEGORY_LEVELS:
        reason = f"{n_unique} categories: rare ones are grouped as 'other'"
    return Column(name, Kind.CATEGORICAL, categories=cats, reason=reason)


def infer_schema(
    df: pd.DataFrame,
    target: str | None = None,
    *,
    task: Task | str | None = None,
    id_column: str | None = None,
    exclude: tuple[str, ...] | list[str] = (),
    time_column: str | None = None,
    horizon: float | None = None,
) -> Schema:
    """Infer a schema from a table, optionally with the target, identifier and exclusions.

    A ``time_column`` (follow-up time) makes a survival task whose target is the event column;
    ``horizon`` is the time risks are predicted by (default: see
    :func:`medinn_core.survival.default_horizon`). Runs of numeric columns such as
    ``ecg_000 ... ecg_127`` become signal groups when their neighbouring samples are related
    in ``df`` (:func:`medinn_core.signals.detect_signal_groups`).

    Raises
    ------
    SchemaError
        If a named target, identifier or excluded column is not in the table, or the target
        cannot serve the task.
    """
    if df.columns.duplicated().any():
        dups = list(df.columns[df.columns.duplicated()].astype(str).unique())
        raise SchemaError(f"Duplicate column names: {list_examples(dups)}. Rename them.")
    schema = Schema(columns=tuple(infer_column(df[c], str(c)) for c in df.columns))
    for name in exclude:
        schema = schema.with_column(name, excluded=True, reason="excluded by the user")
    if id_column is not None:
        schema = schema.with_id_column(id_column)
    else:
        found = next((c.name for c in schema.columns if c.kind == Kind.IDENTIFIER), None)
        if found:
            schema = replace(schema, id_column=found)
    if target is not None:
        schema = schema.with_target(df, target, task, time_column=time_column, horizon=horizon)
    elif time_column is not None:
        raise SchemaError("A follow-up time column needs an event column as the target.")
    roles = {schema.target, schema.id_column, schema.time_column}
    groups, notes = detect_signal_groups(
        (
            (c.name, c.is_feature and c.kind == Kind.NUMERIC and c.name not in roles)
            for c in schema.columns
        ),
        df,
    )
    if groups or notes:
        schema = replace(schema, signals=groups, notes=(*schema.notes, *notes))
    return schema
