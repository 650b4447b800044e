"""The Explain page's session side: which patients, and their explanations kept per session.

An explanation is computed by the core (:func:`medinn_core.explain.explain_bundle`) once per
(model, data fingerprint, space, class) and kept in ``st.session_state``: patient data and
what is derived from it never go into a cache shared between sessions. The Predict page asks
for a patient's explanation through :func:`request_patient`. The session-state and widget keys
are in :mod:`medinn_app.state` with the others.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import streamlit as st

from medinn_app import audit, loaders
from medinn_app.loaders import NEW_PATIENTS
from medinn_app.state import (
    EXPLAIN_REQUEST,
    EXPLAIN_SAMPLE,
    EXPLANATIONS,
    FINGERPRINTS,
    W_EXPLAIN_PATIENT,
    W_EXPLAIN_SOURCE,
    W_EXPLAIN_TAB,
    Dataset,
    active_model,
)

if TYPE_CHECKING:
    from medinn_core.explain import Explanation
    from medinn_core.io import Bundle

KEEP = 4  # explanations kept per session (switching space or class back costs nothing)
# Only the open tab is drawn (a tab switch reruns the page): the others' charts would cost
# seconds of drawing in the browser for large tables. The widgets in tabs keep their values
# while their tab is closed (persist_state="page").
TABS = ("Global", "Dependence", "One patient", "What-if", "Cohort comparison")
# A model with a signal (a trace sampled as columns) has one more: each sample's part.
SALIENCY_TAB = "Signal saliency"


def tabs(has_signals: bool) -> tuple[str, ...]:
    """The Explain page's tabs for a model with or without signals."""
    return (*TABS, SALIENCY_TAB) if has_signals else TABS


# -- Predict -> Explain -------------------------------------------------------------------------
def request_patient(source: str, position: int) -> None:
    """Ask the Explain page to open on this patient of Predict's ``source``."""
    st.session_state[EXPLAIN_REQUEST] = (source, int(position))


def apply_request() -> None:
    """Preset the Explain page's widgets from Predict's request, once, before they are drawn."""
    request = st.session_state.pop(EXPLAIN_REQUEST, None)
    if request is not None:
        st.session_state[W_EXPLAIN_SOURCE], st.session_state[W_EXPLAIN_PATIENT] = request
        st.session_state[W_EXPLAIN_TAB] = "One patient"  # open on that patient


def forget_patient() -> None:
    """Other patients were chosen: start again from the highest prediction."""
    st.session_state.pop(W_EXPLAIN_PATIENT, None)


def check_patient(n_patients: int) -> None:
    """Drop a chosen patient position that these patients do not have."""
    chosen = st.session_state.get(W_EXPLAIN_PATIENT)
    position = isinstance(chosen, int) and not isinstance(chosen, bool)
    if chosen is not None and not (position and 0 <= chosen < n_patients):  # stale or forged
        forget_patient()


# -- patients -----------------------------------------------------------------------------------
def sources(current: Dataset | None, predicted: Dataset | None) -> dict[str, str]:
    """The patients one can explain, as Predict offers them: key -> label."""
    found = {}
    if current is not None:
        found["current"] = f"Current dataset ({current.name})"
    sample = _sample()
    if sample is not None:
        found["sample"] = f"Sample: {sample}"
    if predicted is not None and predicted.source == "upload":
        found["upload"] = f"Patients scored on Predict ({predicted.name})"
    return found


def patients(source: str, current: Dataset | None, predicted: Dataset | None) -> Dataset:
    """The table of the chosen source; the sample is read once per session."""
    if source == "current" and current is not None:
        return current
    if source == "upload" and predicted is not None:
        return predicted
    if predicted is not None and predicted.source == "sample":
        return predicted
    held = st.session_state.get(EXPLAIN_SAMPLE)
    sample = _sample() or NEW_PATIENTS
    if held is None or held.name != sample:
        held = loaders.read_sample(sample)
        st.session_state[EXPLAIN_SAMPLE] = held
    return held


def _sample() -> str | None:
    """The sample file that fits the active model (see :func:`loaders.sample_to_score`)."""
    active = active_model()
    if active is None:
        return NEW_PATIENTS
    return loaders.sample_to_score(active.schema.feature_names)


def fingerprint(data: Dataset) -> str:
    """The data fingerprint of ``data``, computed once per loaded table."""
    known = st.session_state.setdefault(FINGERPRINTS, {})
    if data.token not in known:
        known.clear()  # only the tables in use matter
        known[data.token] = loaders.fingerprint(data.frame)
    return known[data.token]


# -- explanations -------------------------------------------------------------------------------
def explanation(
    active: Bundle, data: Dataset, space: str, class_name: str | None
) -> tuple[Explanation, float]:
    """The explanation of ``data`` (and the seconds it took), computed once per session.

    Raises
    ------
    medinn_core.errors.MedinnError
        If the model cannot explain these patients (missing columns, no background).
    """
    from medinn_core.explain import explain_bundle

    key = (active.key, fingerprint(data), space, class_name)
    kept: dict = st.session_state.setdefault(EXPLANATIONS, {})
    if key not in kept:
        start = time.perf_counter()
        result = explain_bundle(active, data.frame, space=space, class_name=class_name)
        audit.record("explain", active=active, n_patients=len(data.frame))
        for old in [k for k in kept if k[0] != key[0]]:  # another model's: never asked again
            kept.pop(old)
        while len(kept) >= KEEP:
            kept.pop(next(iter(kept)))  # the oldest
        kept[key] = (result, time.perf_counter() - start)
    return kept[key]
