"""Which labelled patients a model can be evaluated on in this session, and the session's
gradient-boosting refit to compare it with. The evaluation itself is the core's
(:func:`medinn_core.evaluation.evaluate_bundle`).

The internal validation (out-of-fold predictions, or the test split) is rebuilt from the data
the model was trained on by the core (:func:`medinn_core.train.held_out`): folds and splits
are seeded, so the same table (same fingerprint), schema and settings give the same patients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from medinn_app import loaders, state
from medinn_app.state import Dataset

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
    output: Any = None  # out-of-fold outputs of ``frame`` (None: the model scores it)
    baselines: Any = None  # {name: cross-fitted outputs} for the same rows

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
    """The model's test patients when ``data`` is the table it was trained on and the model
    was trained on a split, else None."""
    found = _training_split(active, data)
    if found is None or getattr(active.model, "scheme_", "split") == "folds":
        return None
    usable, split = found
    return usable.loc[split.test]


def one_openmp_thread():
    """A context in which scikit-learn's gradient boosting runs on one OpenMP thread.

    In the server, where TensorFlow is loaded, one fit on 3,400 Framingham rows took 129 s
    with the default two threads on a busy 2-core machine and 2.5 s on one: the Evaluate and
    Models pages stayed blank for minutes while the baselines were refitted."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="openmp")


def internal_validation(active: Bundle, data: Dataset):
    """The core's :class:`~medinn_core.train.HeldOut` when ``data`` is the table ``active`` was
    trained on, else None; kept for this session until the model or the table changes."""
    from medinn_core.train import held_out

    key = ("held_out", active.token, data.token)
    cached = st.session_state.get(state.HELD_OUT)
    if cached is not None and cached[0] == key:
        return cached[1]
    schema = active.model.schema
    found = None
    if schema.target in data.frame.columns and loaders.fingerprint(
        data.frame
    ) == active.metadata.get("data_fingerprint"):
        with (
            st.spinner(
                "Rebuilding the internal validation (each patient's out-of-fold risk, and the "
                "baselines refitted on the same folds)…",
                show_time=True,
            ),
            one_openmp_thread(),
        ):
            found = held_out(active.model, data.frame[data.frame[schema.target].notna()])
    st.session_state[state.HELD_OUT] = (key, found)
    return found


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
    if found is not None and getattr(active.model, "scheme_", "split") != "folds":
        usable, split = found
        with one_openmp_thread():
            estimator = fit_gradient_boosting(active.model, usable.loc[split.train])
    st.session_state[state.GRADIENT_BOOSTING] = (key, estimator)
    return estimator


def sources(active: Bundle, data: Dataset | None) -> list[Source]:
    """Every labelled set the model can be evaluated on, the test split first."""
    target = active.model.schema.target
    found = []
    if data is not None:
        held = internal_validation(active, data)
        if held is not None and held.output is not None:
            found.append(
                Source(
                    f"oof:{data.token}",
                    f"Out-of-fold predictions on {data.name} ({len(held.rows):,} patients, "
                    "internal validation)",
                    held.rows,
                    output=held.output,
                    baselines=held.baselines,
                )
            )
        elif held is not None:
            found.append(
                Source(
                    f"test:{data.token}",
                    f"Test split of {data.name} ({len(held.rows):,} patients)",
                    held.rows,
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
