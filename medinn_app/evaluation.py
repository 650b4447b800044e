"""Which labelled patients a model can be evaluated on, and its outputs for them.

The test split is rebuilt from the data the model was trained on: the split is seeded, so
the same table (same fingerprint), schema and settings give the same test patients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from medinn_app import loaders
from medinn_app.state import ActiveModel, Dataset
from medinn_core.schema import Task, labels


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


def test_split(active: ActiveModel, data: Dataset) -> pd.DataFrame | None:
    """The model's test patients when ``data`` is the table it was trained on, else None."""
    from medinn_core.train import split_rows

    schema = active.model.schema
    if schema.target not in data.frame.columns:
        return None
    if loaders.fingerprint(data.frame) != active.metadata.get("data_fingerprint"):
        return None
    usable = data.frame[data.frame[schema.target].notna()]
    split = split_rows(usable, schema, active.model.config)
    return usable.loc[split.test]


def sources(active: ActiveModel, data: Dataset | None) -> list[Source]:
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


def outputs(active: ActiveModel, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
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
