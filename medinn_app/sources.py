"""Which labelled patients a model can be evaluated on, and its outputs for them.

The test split is rebuilt from the data the model was trained on: the split is seeded, so
the same table (same fingerprint), schema and settings give the same test patients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import streamlit as st

from medinn_app import loaders, state
from medinn_app.state import Dataset
from medinn_core.schema import Task, labels

if TYPE_CHECKING:  # annotations only: a light import for Home
    from medinn_core.io import Bundle


@dataclass(frozen=True)
class Source:
    """Labelled patients to evaluate on: a key for caches, a label for the user, the rows
    (or the sample file to read them from)."""

    key: str
    label: str
    frame: pd.DataFrame | None = None
    sample: str | None = None

    def rows(self) -> pd.DataFrame:
        return self.frame if self.frame is not None else loaders.read_sample(self.sample).frame


def _training_split(active: Bundle, data: Dataset):
    """(labelled rows, Split) when ``data`` is the table the model was trained on, else None."""
    from medinn_core.train import split_rows

    schema = active.model.schema
    if schema.target not in data.frame.columns:
        return None
    if loaders.fingerprint(data.frame) != active.metadata.get("data_fingerprint"):
        return None
    usable = data.frame[data.frame[schema.target].notna()]
    return usable, split_rows(usable, schema, active.model.config)


def test_split(active: Bundle, data: Dataset) -> pd.DataFrame | None:
    """The model's test patients when ``data`` is the table it was trained on, else None."""
    found = _training_split(active, data)
    if found is None:
        return None
    usable, split = found
    return usable.loc[split.test]


def gradient_boosting(active: Bundle, data: Dataset | None) -> Any | None:
    """HistGradientBoosting refitted on the model's training split (the seeded fit behind the
    training-time baseline) when the table the model was trained on is loaded, else None.

    Bundles never hold a pickled estimator, so it is refitted here (seconds) and kept in this
    session's memory until the model or the table changes.
    """
    from medinn_core.train import fit_gradient_boosting

    if data is None:
        return None
    key = (active.token, data.token)
    cached = st.session_state.get(state.GRADIENT_BOOSTING)
    if cached is not None and cached[0] == key:
        return cached[1]
    found = _training_split(active, data)
    estimator = None
    if found is not None:
        usable, split = found
        estimator = fit_gradient_boosting(active.model, usable.loc[split.train])
    st.session_state[state.GRADIENT_BOOSTING] = (key, estimator)
    return estimator


def sources(active: Bundle, data: Dataset | None) -> list[Source]:
    """Every labelled set the model can be evaluated on, the test split first."""
    target = active.model.schema.target
    found = []
    if data is not None:
        test = test_split(active, data)
        if test is not None:
            found.append(
                Source(
                    f"test:{data.token}",
                    f"Test split of {data.name} ({len(test):,} patients)",
                    test,
                )
            )
        elif target in data.frame.columns:
            rows = data.frame[data.frame[target].notna()]
            found.append(
                Source(
                    f"current:{data.token}", f"All of {data.name} ({len(rows):,} patients)", rows
                )
            )
    holdout = loaders.HOLDOUT_SAMPLES.get(target)
    if holdout is not None:
        found.append(
            Source(
                f"sample:{holdout}",
                f"Sample: {holdout} (other patients, never used in training)",
                sample=holdout,
            )
        )
    return found


def outputs(active: Bundle, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Observed outcomes and model outputs for the rows that have an outcome.

    Binary: (0/1 codes, risk of the positive class); multiclass: (labels, probability
    matrix); regression: (values, predictions).

    Raises
    ------
    medinn_core.errors.SchemaError
        If the target column or a needed input column is missing.
    """
    model = active.model
    schema = model.schema
    task = Task(schema.task)
    rows = frame[frame[schema.target].notna()] if schema.target in frame.columns else frame
    if task == Task.REGRESSION:
        return model.encode_target(rows), model.predict(rows)
    if task == Task.BINARY:
        return model.encode_target(rows), model.predict_proba(rows)[:, 1]
    model.encode_target(rows)  # raises on unknown classes
    return labels(rows[schema.target]).to_numpy(dtype=object), model.predict_proba(rows)


# -- subgroups and the model report -------------------------------------------------------------
#: Numeric columns with at most this many distinct values are grouped as they are.
MAX_LEVELS_AS_IS = 6


def labelled(active: Bundle, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` with an outcome, in the order :func:`outputs` scores them."""
    target = active.model.schema.target
    return frame[frame[target].notna()] if target in frame.columns else frame


def subgroup_columns(active: Bundle, frame: pd.DataFrame) -> list[str]:
    """Columns to split patients by: the model's inputs first, then other kept columns."""
    schema = active.model.schema
    skip = {schema.target, schema.id_column}
    names = [c for c in schema.feature_names if c in frame.columns]
    names += [
        c.name
        for c in schema.columns
        if c.name in frame.columns
        and c.name not in skip
        and c.name not in names
        and c.kind in ("categorical", "binary", "numeric")
    ]
    return names


def subgroup_values(frame: pd.DataFrame, column: str) -> pd.Series:
    """The group of each patient: categories as they are, numbers cut at their quartiles
    (rounded) with :func:`~medinn_core.evaluation.age_bands`; few-valued numbers as they are."""
    from medinn_core.evaluation import age_bands

    values = frame[column]
    numbers = pd.to_numeric(values, errors="coerce")
    numeric = bool(numbers.notna().sum()) and numbers.notna().sum() == values.notna().sum()
    if not numeric or numbers.nunique() <= MAX_LEVELS_AS_IS:
        return values.reset_index(drop=True)
    quartiles = numbers.quantile([0.25, 0.5, 0.75]).to_numpy()
    spread = float(numbers.max() - numbers.min())
    digits = max(0, 2 - int(np.floor(np.log10(spread)))) if spread > 0 else 0
    edges = np.unique(np.round(quartiles, digits))
    edges = edges[(edges > numbers.min()) & (edges <= numbers.max())]
    if edges.size == 0:
        return values.reset_index(drop=True)
    return age_bands(numbers.rename(column), edges).reset_index(drop=True)


def report_html(
    active: Bundle,
    result,
    *,
    data_name: str,
    rows: pd.DataFrame,
    intended_use: str,
    limitations: str,
    comparison=None,
    subgroups: dict[str, pd.DataFrame] | None = None,
) -> str:
    """The HTML model report for an evaluation shown on a page, with the paired comparison
    against the logistic-regression baseline when there is one."""
    from medinn_core.evaluation import ModelEvaluation, build_report

    evaluation = ModelEvaluation(active.name, str(active.model.schema.task), result, comparison)
    return build_report(
        active,
        evaluation,
        data_name=data_name,
        intended_use=intended_use,
        limitations=limitations,
        subgroups=subgroups,
        data=rows,
    )


def bundle_report_html(
    active: Bundle,
    source: Source,
    *,
    intended_use: str,
    limitations: str,
    n_boot: int = 1000,
) -> str:
    """The HTML model report of ``active`` evaluated on ``source`` at the model's own threshold
    (the Models page's report; the Evaluate page reports what it shows).

    Raises
    ------
    medinn_core.errors.MedinnError
        If the rows lack a column the model needs, or the outcome.
    """
    from medinn_core.evaluation import build_report, evaluate_bundle

    rows = source.rows()
    evaluation = evaluate_bundle(active, rows, n_boot=n_boot, source=source.label)
    return build_report(
        active,
        evaluation,
        data_name=source.label,
        intended_use=intended_use,
        limitations=limitations,
        data=labelled(active, rows),
    )
