"""Loading tables, sample files and model bundles for the app.

Tables are patient data: they are read on every request and kept in ``st.session_state`` by
the caller, never cached across sessions. A model bundle holds no patient rows, so a loaded
bundle is cached with ``st.cache_resource``, keyed by its folder and its manifest hash (a
renamed or re-saved bundle gets a new entry).

TensorFlow is imported only when a bundle is loaded or a model trained.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import streamlit as st

from medinn_app.state import ENCODED_INPUTS, Dataset

if TYPE_CHECKING:  # only annotations: Home, which imports this module, draws without pandas
    import pandas as pd

    from medinn_core.io import Bundle

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "sample_data"
# Sample files and the outcome each records (None: patients to score, no outcome).
SAMPLES = MappingProxyType(
    {
        "cardiology.csv": "mace_1y",
        "cardiology_holdout.csv": "mace_1y",
        "new_patients.csv": None,
        "breast_cancer.csv": "diagnosis",
        "drug_response.csv": "stable_dose_mg_week",
        "toxicity.csv": "toxicity_grade",
        "messy_export.csv": "mace_1y",
        "survival.csv": "death",
        "heartbeat.csv": "event",
    }
)
# Sample files whose outcome is a time to an event: the follow-up time column of each, and its
# unit (sample_data/README.md).
SAMPLE_TIME_COLUMNS = MappingProxyType({"survival.csv": ("time", "days")})
# Labelled samples of patients that no sample model was trained on, by target.
HOLDOUT_SAMPLES = MappingProxyType({"mace_1y": "cardiology_holdout.csv"})
SAMPLE_DATASET = "cardiology.csv"
# The sample of patients to score (no outcome) that Predict and Explain offer.
NEW_PATIENTS = "new_patients.csv"
SAMPLE_MODEL = "sample-cardiology"
# Few epochs: the sample model is trained on first use, while the user waits.
SAMPLE_SETTINGS = MappingProxyType(
    {"hidden_units": (32, 16), "epochs": 12, "patience": 4, "seed": 0}
)
SAMPLE_NOTE = (
    "Demo model trained by the app on sample_data/cardiology.csv with few epochs; "
    "synthetic patients, not for clinical use."
)
UPLOAD_TYPES = ("csv", "xlsx", "parquet")


# -- tables -------------------------------------------------------------------------------------
def read_upload(data: bytes, filename: str) -> Dataset:
    """Read an uploaded CSV, Excel or Parquet file (its bytes) as a :class:`Dataset`.

    Raises
    ------
    medinn_core.errors.DataError
        If the file cannot be read as a table (the message says why and what to do).
    """
    from medinn_core.io import load_table, use_jemalloc

    use_jemalloc()  # a lower peak while a large upload is read (process-wide, idempotent)
    frame, info = load_table(data, name=filename)
    return Dataset(name=filename, frame=frame, source="upload", notes=info.notes)


def read_sample(name: str) -> Dataset:
    """One of the files in ``sample_data/`` as a :class:`Dataset`."""
    from medinn_core.io import load_table

    if name not in SAMPLES:
        raise KeyError(name)
    frame, info = load_table(SAMPLE_DIR / name)
    return Dataset(name=name, frame=frame, source="sample", notes=info.notes)


def default_schema(data: Dataset):
    """The inferred schema, with the target already chosen for a sample file that has one (and
    its follow-up time, for a survival sample)."""
    from medinn_core.schema import infer_schema

    target = SAMPLES.get(data.name) if data.source == "sample" else None
    if target is not None and target not in data.frame.columns:
        target = None
    time_column, unit = SAMPLE_TIME_COLUMNS.get(data.name, (None, ""))
    if target is not None and time_column in data.frame.columns:
        schema = infer_schema(data.frame, target, task="survival", time_column=time_column)
        return schema.with_column(time_column, unit=unit, unit_reason="sample_data/README.md")
    return infer_schema(data.frame, target)


ENCODING_ROWS = 100_000  # rows the Data page's count of encoded inputs looks at, at most


def encoded_inputs(frame: pd.DataFrame, schema) -> int | None:
    """How many inputs the network would take after encoding ``frame`` by ``schema``, counted
    by the core's preprocessing (numbers, missing indicators, one-hot levels), as the model
    card's ``n_inputs``; None while the columns cannot be encoded. Kept for this session
    (the table is patient data: never in a shared cache)."""
    from medinn_core.errors import MedinnError
    from medinn_core.preprocess import Preprocessor

    kept = st.session_state.get(ENCODED_INPUTS)
    if kept is not None and kept[0] is frame and kept[1] == schema:
        return kept[2]
    rows = frame if schema.target is None else frame[frame[schema.target].notna()]
    if len(rows) > ENCODING_ROWS:  # a count, not a model: a sample keeps an edit quick
        rows = rows.sample(ENCODING_ROWS, random_state=0)
    try:
        n = len(Preprocessor(schema).fit(rows).feature_names_) if schema.features else None
    except MedinnError:
        n = None
    st.session_state[ENCODED_INPUTS] = (frame, schema, n)
    return n


def fingerprint(frame: pd.DataFrame) -> str:
    """The core's data fingerprint (the one stored in a model's metadata)."""
    from medinn_core.io import fingerprint as core_fingerprint

    return core_fingerprint(frame)


# -- models -------------------------------------------------------------------------------------
def registry():
    """The model registry under ``$MEDINN_HOME`` (default ``~/.medinn``)."""
    from medinn_core.io import Registry

    return Registry()


@st.cache_resource(max_entries=8, show_spinner=False)
def _cached_bundle(path: str, bundle_hash: str):
    from medinn_core.io import load_bundle

    bundle = load_bundle(path)
    if bundle.bundle_hash != bundle_hash:  # changed between the check and the load
        from medinn_core.errors import BundleError

        raise BundleError(f"Bundle '{path}' changed while it was loaded; load it again.")
    return bundle


def load_model(path: str | Path) -> Bundle:
    """Verify and load a bundle folder (cached by path and hash).

    Raises
    ------
    medinn_core.errors.BundleError
        If the bundle is missing, altered or cannot be loaded.
    """
    from medinn_core.io import verify_bundle

    bundle_hash = verify_bundle(path)
    return _cached_bundle(str(Path(path).resolve()), bundle_hash)


def load_registered(name: str) -> Bundle:
    """Load a model of the registry by name."""
    reg = registry()
    path = reg.path(name)
    if not path.exists():
        reg.load(name)  # raises the registry's own "no model called ..." message
    return load_model(path)


def sample_config():
    """The training settings of the sample model."""
    from medinn_core.config import TrainConfig

    return TrainConfig(**SAMPLE_SETTINGS)


@functools.cache
def _sample_columns(name: str) -> frozenset[str]:
    import pandas as pd

    return frozenset(pd.read_csv(SAMPLE_DIR / name, nrows=0).columns)


def sample_to_score(features) -> str | None:
    """The sample file to offer for scoring a model with these input columns: the new patients
    if they have them all, else the first sample that does (its outcome is not used), else
    None (a model trained on the user's own data: no sample fits it)."""
    needed = set(features)
    for name in (NEW_PATIENTS, *SAMPLES):
        if needed <= _sample_columns(name):
            return name
    return None
