"""Validation: what is wrong with a table before a model is trained on it or scores it.

:func:`validate` returns a :class:`ValidationReport`: errors stop training, warnings do not.
Every message names the column, says what was found, and what medinn does or the user can do.
Row numbers in messages are spreadsheet rows: the header is row 1, the first patient row 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from medinn_core.errors import MedinnError, list_examples
from medinn_core.schema import _DATE, Kind, Schema, Task, labels, numeric_view
from medinn_core.signals import signal_issues
from medinn_core.survival import MIN_AT_RISK, at_risk_share

MIN_CLASS_ROWS = 10
MIN_ROWS = 20
MAX_MISSING_SHARE = 0.5
MIN_EVENTS_PER_PARAMETER = 10
# A number column named like a follow-up time whose AUROC for a binary outcome is this far from
# 0.5 probably records when the outcome happened (a leak): the survival task fits it.
_FOLLOW_UP_NAME = re.compile(
    r"(^|_)(time|times|follow_?up|fu|days|duration|survival|survival_?time|"
    r"time_?to_?\w+|los|length_?of_?stay)($|_)",
    re.IGNORECASE,
)
FOLLOW_UP_LEAK_AUROC = 0.2


@dataclass(frozen=True)
class Issue:
    """One finding: ``severity`` is "error" or "warning"; ``code`` is stable for tests and UI.

    ``message`` is what the user reads at upload: it may quote cells and row numbers.
    ``summary`` says the same without any cell value or row number, for what is kept (a model
    bundle's metadata); it is empty when the message quotes nothing.
    """

    severity: str
    code: str
    message: str
    column: str | None = None
    count: int = 0
    summary: str = ""

    @property
    def stored(self) -> str:
        """The text a saved model keeps: counts and column names, no patient value."""
        return self.summary or self.message

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "column": self.column,
            "count": self.count,
            "message": self.message,
            "summary": self.stored,
        }


@dataclass(frozen=True)
class ValidationReport:
    """The findings on one table for one schema."""

    errors: tuple[Issue, ...] = ()
    warnings: tuple[Issue, ...] = ()
    n_rows: int = 0
    n_usable_rows: int = 0
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing stops training."""
        return not self.errors

    def codes(self) -> set[str]:
        return {i.code for i in self.errors + self.warnings}

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "n_rows": self.n_rows,
            "n_usable_rows": self.n_usable_rows,
            "errors": [i.to_dict() for i in self.errors],
            "warnings": [i.to_dict() for i in self.warnings],
            "stats": dict(self.stats),
        }


def sheet_rows(index: pd.Index, limit: int = 5) -> str:
    """Spreadsheet row numbers of the first offending rows (header = row 1)."""
    rows = [str(int(i) + 2) if isinstance(i, (int, np.integer)) else repr(i) for i in index[:limit]]
    return ", ".join(rows)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _examples(values: pd.Series) -> str:
    return list_examples([str(v) for v in values.unique()[:5]], 5)


def count_parameters(schema: Schema, df: pd.DataFrame) -> int:
    """Approximate number of encoded model inputs (the 'parameters' of events per parameter)."""
    total = 0
    for col in schema.features:
        if col.kind == Kind.CATEGORICAL:
            total += max(1, min(df[col.name].nunique(), 50))
        else:
            total += 1 + int(df[col.name].isna().any())
    return total


def _check_numeric(df: pd.DataFrame, col, add) -> None:
    raw = df[col.name]
    values = numeric_view(raw)
    text = raw.notna() & values.isna()
    if text.any():
        bad = raw[text]
        add(
            "warning",
            "not_numeric",
            col.name,
            int(text.sum()),
            f"Column {col.name!r} should be numeric{_unit(col)}: {int(text.sum())} values are not "
            f"numbers, e.g. {_examples(bad.astype(str))} in rows {sheet_rows(bad.index)}. They are "
            "treated as missing; fix those cells, or change the column's kind to categorical.",
            f"Column {col.name!r}: {int(text.sum())} values were not numbers and were treated "
            "as missing.",
        )
    infinite = np.isinf(values.fillna(0))
    if infinite.any():
        add(
            "warning",
            "infinite",
            col.name,
            int(infinite.sum()),
            f"Column {col.name!r} holds {int(infinite.sum())} infinite values, e.g. "
            f"{_examples(raw[infinite].astype(str))} in rows {sheet_rows(values.index[infinite])} "
            "(a division by zero or a number too large, such as 1e309): they are treated as "
            "missing. Correct those cells in the source, or leave them empty.",
            f"Column {col.name!r}: {int(infinite.sum())} infinite values were treated as missing.",
        )
    if col.nonzero:
        zeros = values == 0
        if zeros.any():
            add(
                "warning",
                "impossible_zero",
                col.name,
                int(zeros.sum()),
                f"Column {col.name!r} has {int(zeros.sum())} zeros (rows "
                f"{sheet_rows(values.index[zeros])}), but a {col.description or col.name} of 0"
                f"{_unit(col, ' ')} is not possible: they are probably missing values and are "
                "treated as missing. Untick 'zero impossible' for this column if zeros are real.",
                f"Column {col.name!r}: {int(zeros.sum())} impossible zeros were treated as missing.",
            )
    finite = values[np.isfinite(values) & ~(col.nonzero & (values == 0))]
    if col.valid_min is not None and col.valid_max is not None and not finite.empty:
        out = finite[(finite < col.valid_min) | (finite > col.valid_max)]
        other = _fitting_unit(col, finite) if not out.empty else None
        if other is not None:
            add(
                "warning",
                "unit_mismatch",
                col.name,
                len(out),
                f"Column {col.name!r} has {len(out):,} values outside the plausible range "
                f"{col.valid_min:.3g}–{col.valid_max:.3g}{_unit(col, ' ')}, but its values are "
                f"plausible in {other}: the column is probably in {other}. Change its unit to "
                f"{other} (the values themselves look right).",
            )
        elif not out.empty:
            add(
                "warning",
                "out_of_range",
                col.name,
                len(out),
                f"Column {col.name!r} has {len(out)} values outside the plausible range "
                f"{col.valid_min:.3g}–{col.valid_max:.3g}{_unit(col, ' ')}, e.g. "
                f"{_examples(out.map('{:g}'.format))} in rows {sheet_rows(out.index)}. Check the "
                "unit of this column, or correct the values.",
                f"Column {col.name!r}: {len(out)} values outside the plausible range "
                f"{col.valid_min:.3g}–{col.valid_max:.3g}{_unit(col, ' ')}.",
            )


def _fitting_unit(col, values: pd.Series) -> str | None:
    """Another unit of the column's measurement in which its values are plausible."""
    if not col.measure:
        return None
    from medinn_core import units

    return units.unit_fitting(units.measure(col.measure), values.to_numpy(), but=col.unit)


def _unit(col, sep: str = "(") -> str:
    """' (mg/dL)' after a column name, or ' mg/dL' after a number (sep=' ')."""
    if not col.unit:
        return ""
    return f" {col.unit}" if sep == " " else f" ({col.unit})"


def _check_target(df: pd.DataFrame, schema: Schema, add) -> pd.Series:
    """Checks on the target; returns the mask of rows usable for training."""
    target = df[schema.target]
    missing = target.isna()
    if missing.all():
        add(
            "error",
            "target_all_missing",
            schema.target,
            len(df),
            f"Target column {schema.target!r} is empty in every row. Choose the column that "
            "records the outcome.",
        )
        return ~missing
    if missing.any():
        add(
            "warning",
            "target_missing",
            schema.target,
            int(missing.sum()),
            f"Target column {schema.target!r} is missing in {int(missing.sum())} rows (rows "
            f"{sheet_rows(target.index[missing])}): those rows are left out of training and "
            "evaluation.",
            f"Target column {schema.target!r}: {int(missing.sum())} rows without a target were "
            "left out of training and evaluation.",
        )
    present = target[~missing]
    if schema.task == Task.REGRESSION:
        values = numeric_view(present)
        bad = values.isna()
        if bad.any():
            add(
                "error",
                "target_not_numeric",
                schema.target,
                int(bad.sum()),
                f"Target column {schema.target!r} must be numeric for regression: "
                f"{int(bad.sum())} values are not numbers, e.g. {_examples(present[bad].astype(str))}"
                f" in rows {sheet_rows(present.index[bad])}. Fix them or choose a classification task.",
                f"Target column {schema.target!r}: {int(bad.sum())} values are not numbers.",
            )
        return ~missing
    counts = labels(present).value_counts()
    unknown = set(counts.index) - set(schema.classes)
    if unknown:
        add(
            "error",
            "target_unknown_class",
            schema.target,
            len(unknown),
            f"Target column {schema.target!r} holds values the schema does not know: "
            f"{list_examples(sorted(unknown))}. Choose the target again to refresh its classes.",
            f"Target column {schema.target!r} holds {len(unknown)} values the schema does not "
            "know.",
        )
    if len(counts) < 2:
        add(
            "error",
            "single_class",
            schema.target,
            len(present),
            f"Target column {schema.target!r} has a single class ({counts.index[0]!r}): a model "
            "needs examples of at least two outcomes.",
        )
    small = counts[counts < MIN_CLASS_ROWS]
    if len(counts) >= 2 and not small.empty:
        detail = ", ".join(f"{k!r} has {v}" for k, v in small.items())
        add(
            "error",
            "small_class",
            schema.target,
            int(small.sum()),
            f"Target column {schema.target!r}: {detail} rows; each class needs at least "
            f"{MIN_CLASS_ROWS} to train and test a model. Merge rare classes or add patients.",
        )
    return ~missing


def validate(df: pd.DataFrame, schema: Schema) -> ValidationReport:
    """Check a table against a schema before training.

    Parameters
    ----------
    df : the table as read (raw columns).
    schema : the schema; its target must be set to check training-specific rules.

    Returns
    -------
    ValidationReport
        Errors (which stop training) and warnings (which do not), plus counts.
    """
    issues: list[Issue] = []

    def add(
        severity: str, code: str, column: str | None, count: int, message: str, summary: str = ""
    ) -> None:
        issues.append(Issue(severity, code, message, column, count, summary))

    missing_cols = [c.name for c in schema.columns if c.name not in df.columns]
    if missing_cols:
        add(
            "error",
            "missing_columns",
            missing_cols[0],
            len(missing_cols),
            f"The schema expects columns that are not in the table: "
            f"{list_examples(missing_cols)}. Upload the matching file or infer the schema again.",
        )
        return _report(issues, df, df.index == df.index)
    usable = pd.Series(True, index=df.index)
    if schema.target is None:
        add("error", "no_target", None, 0, "No target chosen. Pick the column to predict.")
    else:
        try:
            usable = _check_target(df, schema, add)
        except MedinnError as exc:
            add("error", "target_invalid", schema.target, 0, str(exc))
    if len(df) < MIN_ROWS:
        add(
            "error",
            "too_few_rows",
            None,
            len(df),
            f"The table has {len(df)} rows; medinn needs at least {MIN_ROWS} patients to train. "
            "Add patients, for example by combining files with the same columns.",
        )
    if not schema.features:
        roles = [f"{c.name!r}: {c.reason or c.kind}" for c in schema.columns]
        more = f" and {len(roles) - 5} more" if len(roles) > 5 else ""
        add(
            "error",
            "no_features",
            None,
            0,
            "No column is left to learn from: every column is excluded, the target or the "
            f"identifier ({', '.join(roles[:5])}{more}). Include at least one column in the "
            "schema.",
        )
    for col in schema.features:
        series = df[col.name]
        share = float(series.isna().mean())
        if share == 1:
            add(
                "warning",
                "all_missing",
                col.name,
                len(df),
                f"Column {col.name!r} is missing in every row; it carries no information. "
                "Exclude it.",
            )
            continue
        if share > MAX_MISSING_SHARE:
            add(
                "warning",
                "mostly_missing",
                col.name,
                int(series.isna().sum()),
                f"Column {col.name!r} is missing in {share:.0%} of rows; values are imputed, "
                "which may hide a pattern. Consider excluding it.",
            )
        if col.kind == Kind.NUMERIC:
            _check_numeric(df, col, add)
        elif col.kind == Kind.CATEGORICAL and series.nunique() > 50:
            add(
                "warning",
                "many_levels",
                col.name,
                int(series.nunique()),
                f"Column {col.name!r} has {series.nunique()} categories; categories seen in "
                "fewer than 1 % of rows are grouped as 'other'. Exclude it if it names beds, "
                "staff or places rather than a clinical category.",
            )
        if schema.target is not None and _leaks(series, df[schema.target]):
            add(
                "warning",
                "leakage",
                col.name,
                0,
                f"Column {col.name!r} determines the target {schema.target!r} exactly: it is "
                "probably the outcome under another name or recorded after it (leakage). "
                "Exclude it unless it is truly known before the outcome.",
            )
    _check_rows(df, schema, add)
    for issue in signal_issues(df, schema.signals):  # gaps in traces (medinn_core.signals)
        add(*issue)
    if schema.task == Task.SURVIVAL and schema.target is not None:
        usable &= _check_survival(df, schema, add)
    if schema.task == Task.BINARY:
        _check_follow_up_leak(df, schema, add)
    if (
        schema.target is not None
        and schema.task in (Task.BINARY, Task.MULTICLASS, Task.SURVIVAL)
        and schema.features
    ):
        counts = labels(df[schema.target].dropna()).value_counts()
        if len(counts) >= 2:
            events = int(counts.min())
            if schema.task == Task.SURVIVAL:  # the events, not the rarer outcome
                events = int(counts.get(schema.event_class, 0))
            params = count_parameters(schema, df)
            epp = events / max(params, 1)
            if epp < MIN_EVENTS_PER_PARAMETER:
                add(
                    "warning",
                    "low_epp",
                    schema.target,
                    events,
                    f"Only {epp:.1f} events per model input ({events} "
                    f"{'events' if schema.task == Task.SURVIVAL else 'in the rarest class'}, "
                    f"{params} inputs after encoding): under {MIN_EVENTS_PER_PARAMETER}, the "
                    "model may overfit. Exclude weak columns or add patients.",
                )
    return _report(issues, df, usable)


def _check_survival(df: pd.DataFrame, schema: Schema, add) -> pd.Series:
    """Checks on the follow-up time of a survival task; returns the rows with a usable time."""
    name = schema.time_column
    if name is None or name not in df.columns:
        add(
            "error",
            "no_time_column",
            name,
            0,
            "A survival task needs a follow-up time column (time to the event or to the end "
            "of follow-up). Choose it.",
        )
        return pd.Series(False, index=df.index)
    raw = df[name]
    values = numeric_view(raw)
    text = raw[raw.notna() & values.isna()].astype("str").str.strip()
    if len(text) and text.str.match(_DATE).mean() > 0.5:
        add(
            "error",
            "time_is_date",
            name,
            len(text),
            f"Follow-up time column {name!r} holds dates, e.g. {_examples(text)}: the time must "
            "be a number (days, months...) from the start of follow-up to the event or to the "
            "end of follow-up. Compute it as the end date minus the start date.",
            f"Follow-up time column {name!r} holds dates, not numbers of days or months.",
        )
        return values.notna()
    checks = [
        ("time_not_numeric", raw.notna() & values.isna(), "is not a number"),
        ("time_missing", raw.isna(), "is missing"),
        ("time_negative", values < 0, "is negative"),
        ("time_zero", values == 0, "is zero"),
    ]
    for code, bad, what in checks:
        if bad.any():
            n = int(bad.sum())
            add(
                "error",
                code,
                name,
                n,
                f"Follow-up time column {name!r} {what} in {_plural(n, 'row', 'rows')} (rows "
                f"{sheet_rows(df.index[bad])}): every patient needs a positive time from the "
                "start of follow-up to the event or to the end of follow-up. Fix those cells "
                "(an event on the first day can be given a time of 0.5) or drop the rows.",
                f"Follow-up time column {name!r} {what} in {_plural(n, 'row', 'rows')}.",
            )
    usable = values > 0
    event = labels(df[schema.target]) == schema.event_class
    if not (event & usable).any():
        add(
            "error",
            "all_censored",
            schema.target,
            int(usable.sum()),
            f"Event column {schema.target!r}: every patient is censored (no "
            f"{schema.event_class!r}): a survival model needs observed events. Check that the "
            "event column and its event value are the right ones.",
        )
    times = values[usable].to_numpy()
    if schema.horizon is not None and len(times):
        share = at_risk_share(times, schema.horizon)
        if share < MIN_AT_RISK:
            add(
                "warning",
                "horizon_past_follow_up",
                name,
                0,
                f"The horizon {schema.horizon:g} lies past most of the follow-up in {name!r}: "
                f"{share:.0%} of patients are still followed there (the longest time is "
                f"{times.max():g}), so risks by then are extrapolated. Choose a shorter horizon.",
                f"The horizon {schema.horizon:g} lies past most of the follow-up in {name!r}: "
                f"{share:.0%} of patients are still followed there.",
            )
    return usable


def _check_follow_up_leak(df: pd.DataFrame, schema: Schema, add) -> None:
    """Warn when a number input of a binary task is named like a follow-up time and strongly
    tied to the outcome: it records when the outcome happened, so it leaks."""
    from sklearn.metrics import roc_auc_score

    if schema.target is None or schema.event_class is None:
        return
    event = (labels(df[schema.target]) == schema.event_class).to_numpy()
    known = df[schema.target].notna().to_numpy()
    for col in schema.features:
        if col.kind != Kind.NUMERIC or not _FOLLOW_UP_NAME.search(col.name.strip()):
            continue
        values = numeric_view(df[col.name]).to_numpy()
        ok = known & np.isfinite(values)
        if ok.sum() < MIN_ROWS or len(np.unique(event[ok])) < 2:
            continue
        auroc = roc_auc_score(event[ok], values[ok])
        if abs(auroc - 0.5) >= FOLLOW_UP_LEAK_AUROC:
            add(
                "warning",
                "follow_up_leak",
                col.name,
                0,
                f"Column {col.name!r} looks like a follow-up time and is strongly tied to "
                f"{schema.target!r} (AUROC {auroc:.2f} alone): a time recorded up to the event "
                "or the end of follow-up leaks the outcome. Exclude it, or train a survival "
                f"model with {col.name!r} as the follow-up time (task 'survival').",
            )


def _leaks(feature: pd.Series, target: pd.Series) -> bool:
    both = (feature.notna() & target.notna()).to_numpy()
    if both.sum() < MIN_ROWS:
        return False
    t_codes, t_values = pd.factorize(target[both])
    # A leak has at most max(target classes, 20) feature labels. Labels merge spellings of one
    # value ('1', '1.0', ' 1'), a few per label: a feature with many times more distinct raw
    # values cannot leak. A measurement is passed over on its first rows, which cannot hold
    # more distinct values than the whole column.
    most = 10 * max(len(t_values), 20)
    if feature[both].iloc[:5000].nunique() > most:
        return False
    f_codes, f_values = pd.factorize(feature[both])
    if len(f_values) > most:
        return False
    # Distinct pairs give the same answer as all rows, and labelling them is fast.
    pairs = np.unique(f_codes * len(t_values) + t_codes)
    f = labels(pd.Series(f_values.take(pairs // len(t_values))))
    t = labels(pd.Series(t_values.take(pairs % len(t_values))))
    if t.nunique() < 2 or f.nunique() > max(t.nunique(), 20):
        return False
    return bool((pd.DataFrame({"f": f, "t": t}).groupby("f")["t"].nunique() == 1).all())


def _duplicated_rows(df: pd.DataFrame) -> pd.Series:
    """``df.duplicated(keep="first")``, about twice as fast on large tables: rows are compared
    in full only where a hash of their values' codes repeats (codes, not the values: hashing
    text turned each column into Python strings first, 100 MB more on a 100 MB file)."""
    hashed = np.zeros(len(df), dtype=np.uint64)
    for i in range(df.shape[1]):
        column = df.iloc[:, i]
        if column.dtype == np.float64:  # hashed as they are, once -0.0 and NaNs are made one
            values = column.to_numpy() + 0.0
            values[np.isnan(values)] = np.nan
        else:  # codes: equal values, equal codes; missing is -1
            values = pd.factorize(column)[0]
        hashed = hashed * np.uint64(1_000_003) + pd.util.hash_array(values)
    candidates = pd.Series(hashed).duplicated(keep=False).to_numpy()
    out = np.zeros(len(df), dtype=bool)
    if candidates.any():
        out[candidates] = df[candidates].duplicated(keep="first").to_numpy()
    return pd.Series(out, index=df.index)


def _check_rows(df: pd.DataFrame, schema: Schema, add) -> None:
    dups = _duplicated_rows(df)
    if schema.id_column is None and dups.any():
        add(
            "warning",
            "duplicate_rows",
            None,
            int(dups.sum()),
            f"{_plural(int(dups.sum()), 'row repeats', 'rows repeat')} an earlier row exactly "
            f"(rows {sheet_rows(df.index[dups])}). Check the export for duplicated records.",
            _duplicates_summary(int(dups.sum())),
        )
    if schema.id_column is not None and schema.id_column in df.columns:
        ids = df[schema.id_column]
        repeated = ids[ids.duplicated(keep=False) & ids.notna()]
        if not repeated.empty:
            n_patients = repeated.nunique()
            add(
                "warning",
                "repeated_id",
                schema.id_column,
                int(n_patients),
                f"Identifier {schema.id_column!r} repeats: {n_patients} patients appear in more "
                f"than one row, e.g. {_examples(repeated.astype(str))}. The split keeps each "
                "patient's rows together so no patient is in both training and test.",
                f"Identifier {schema.id_column!r} repeats: {n_patients} patients appear in more "
                "than one row; the split kept each patient's rows together.",
            )
        if dups.any():
            add(
                "warning",
                "duplicate_rows",
                None,
                int(dups.sum()),
                f"{_plural(int(dups.sum()), 'row repeats', 'rows repeat')} an earlier row "
                f"exactly (rows {sheet_rows(df.index[dups])}). Check the export for duplicated "
                "records.",
                _duplicates_summary(int(dups.sum())),
            )


def _duplicates_summary(n: int) -> str:
    return f"{_plural(n, 'row repeats', 'rows repeat')} an earlier row exactly."


def _report(issues: list[Issue], df: pd.DataFrame, usable) -> ValidationReport:
    errors = tuple(i for i in issues if i.severity == "error")
    warnings = tuple(i for i in issues if i.severity == "warning")
    return ValidationReport(
        errors=errors, warnings=warnings, n_rows=len(df), n_usable_rows=int(np.sum(usable))
    )
