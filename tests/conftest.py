"""Shared fixtures: small synthetic cohorts and models trained once per test session."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import pytest

from medinn_core.config import TrainConfig
from medinn_core.schema import infer_schema
from medinn_core.synthetic import make_cardiology_cohort, make_drug_response, make_toxicity_cohort

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_data"
FAST = TrainConfig(hidden_units=(16, 8), epochs=6, patience=3, seed=0, folds=3)


@pytest.fixture(scope="session", autouse=True)
def audit_log(tmp_path_factory):
    """Audit lines of the whole run go to a temporary file, never to ~/.medinn."""
    path = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDINN_AUDIT_LOG", str(path))
        yield path


@pytest.fixture(scope="session")
def cardiology_df():
    return make_cardiology_cohort(900, seed=11)


@pytest.fixture(scope="session")
def binary_result(cardiology_df):
    from medinn_core.train import train_model

    schema = infer_schema(cardiology_df, "mace_1y")
    return train_model(cardiology_df, schema, FAST)


@pytest.fixture(scope="session")
def multiclass_result():
    from medinn_core.train import train_model

    df = make_toxicity_cohort(700, seed=3)
    return train_model(df, infer_schema(df, "toxicity_grade"), FAST, baselines=False)


@pytest.fixture(scope="session")
def regression_result():
    from medinn_core.train import train_model

    df = make_drug_response(700, seed=4)
    return train_model(df, infer_schema(df, "stable_dose_mg_week"), FAST, baselines=False)


@pytest.fixture(scope="session")
def saved_binary(binary_result, tmp_path_factory):
    """A bundle folder of the binary model."""
    from medinn_core.io import save_bundle

    folder = tmp_path_factory.mktemp("bundles") / "cardio"
    save_bundle(binary_result, folder, "cardio", "test model")
    return folder


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory):
    """The bad-input corpus of tests/data/bad, generated once per session: file name to path."""
    from .data.bad.make_bad import write_corpus

    return write_corpus(tmp_path_factory.mktemp("bad_inputs"))
