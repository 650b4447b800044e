"""Tests of the synthetic cohorts, their stated true models, and the generated sample files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency, pearsonr
from sklearn.metrics import roc_auc_score

from medinn_core.errors import ConfigError, SchemaError
from medinn_core.synthetic import (
    CYP2C9,
    CYP2C9_FREQUENCIES,
    TOXICITY_GRADES,
    cardiology_true_logit,
    cardiology_true_risk,
    drug_response_true_mean,
    make_cardiology_cohort,
    make_drug_response,
    make_toxicity_cohort,
    toxicity_true_proba,
)

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data"
MAKERS = [make_cardiology_cohort, make_drug_response, make_toxicity_cohort]
LABS = ["bmi", "hdl", "hba1c", "creatinine"]


def load_make_samples():
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLE_DIR / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return make_cardiology_cohort(20_000, seed=11, n_noise_features=25)


@pytest.fixture(scope="module")
def drug() -> pd.DataFrame:
    return make_drug_response(20_000, seed=11)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("samples")
    load_make_samples().write_samples(out_dir)
    return out_dir


@pytest.mark.parametrize("make", MAKERS)
def test_same_seed_gives_the_same_frame(make):
    pd.testing.assert_frame_equal(make(300, seed=5), make(300, seed=5))


@pytest.mark.parametrize("make", MAKERS)
def test_different_seeds_give_different_frames(make):
    a, b = make(300, seed=5), make(300, seed=6)
    assert not a.drop(columns="patient_id").equals(b.drop(columns="patient_id"))


@pytest.mark.parametrize("make", MAKERS)
def test_patient_ids_are_unique_strings(make):
    df = make(500, seed=1)
    assert df["patient_id"].is_unique
    assert df["patient_id"].dtype == "str"
    assert df["patient_id"].str.fullmatch(r"[PWT]\d{6}").all()


def test_cardiology_columns_ranges_and_categories(cohort):
    assert cohort["age"].between(30, 90).all()
    assert set(cohort["sex"]) == {"F", "M"}
    assert set(cohort["site"]) == {"A", "B", "C", "D"}
    assert set(cohort["smoking"]) == {"never", "former", "current"}
    assert set(cohort["chest_pain"]) == {"typical", "atypical", "non_anginal", "none"}
    for column in ["diabetes", "prior_mi", "mace_1y"]:
        assert set(cohort[column]) == {0, 1}
    for column in ["sex", "site", "blood_group", "smoking", "chest_pain"]:
        assert cohort[column].dtype == "str"
    assert cohort["bmi"].dropna().between(16, 55).all()
    assert cohort["hba1c"].dropna().between(4, 14).all()
    assert cohort.columns[-1] == "mace_1y"


def test_cardiology_covariates_are_correlated_realistically(cohort):
    by_diabetes = cohort.groupby("diabetes")[["hba1c", "bmi", "systolic_bp"]].mean()
    assert (by_diabetes.loc[1] > by_diabetes.loc[0]).all()
    assert by_diabetes.loc[1, "hba1c"] > 7 > by_diabetes.loc[0, "hba1c"]
    assert cohort.groupby("sex")["hdl"].mean()["F"] > cohort.groupby("sex")["hdl"].mean()["M"]


def test_prevalence_is_eight_to_twelve_percent(cohort):
    assert 0.08 <= cohort["mace_1y"].mean() <= 0.12


def test_true_risk_matches_the_outcome(cohort):
    risk = cardiology_true_risk(cohort)
    assert np.all((risk > 0) & (risk < 1))
    assert roc_auc_score(cohort["mace_1y"], risk) > 0.8
    assert abs(risk.mean() - cohort["mace_1y"].mean()) < 0.01
    np.testing.assert_allclose(risk, 1 / (1 + np.exp(-cardiology_true_logit(cohort))))


@pytest.mark.parametrize(
    ("column", "high", "low"),
    [
        ("prior_mi", 1, 0),
        ("smoking", "current", "never"),
    ],
)
def test_strong_categorical_effects_raise_the_event_rate(cohort, column, high, low):
    rates = cohort.groupby(column)["mace_1y"].mean()
    assert rates[high] > 2 * rates[low]


def test_strong_numeric_effects_raise_the_event_rate(cohort):
    old, young = cohort["age"] >= 75, cohort["age"] < 55
    assert cohort.loc[old, "mace_1y"].mean() > 3 * cohort.loc[young, "mace_1y"].mean()
    high, normal = cohort["systolic_bp"] >= 160, cohort["systolic_bp"] < 140
    assert cohort.loc[high, "mace_1y"].mean() > 2 * cohort.loc[normal, "mace_1y"].mean()


def test_systolic_bp_acts_only_above_140(cohort):
    frame = cohort.head(50).copy()
    base = cardiology_true_logit(frame.assign(systolic_bp=100))
    np.testing.assert_allclose(cardiology_true_logit(frame.assign(systolic_bp=140)), base)
    assert np.all(cardiology_true_logit(frame.assign(systolic_bp=160)) > base)


def test_strong_features_rank_first_and_irrelevant_ones_get_zero(cohort):
    # Permutation importance of each column for the true logit: mean |change| when shuffled.
    rng = np.random.default_rng(0)
    base = cardiology_true_logit(cohort)
    importance = {}
    for column in cohort.columns.drop(["patient_id", "mace_1y"]):
        shuffled = cohort.assign(**{column: rng.permutation(cohort[column].to_numpy())})
        importance[column] = np.mean(np.abs(cardiology_true_logit(shuffled) - base))
    ranked = sorted(importance, key=importance.get, reverse=True)
    assert set(ranked[:4]) == {"age", "prior_mi", "systolic_bp", "smoking"}
    assert importance[ranked[3]] > 1.5 * importance[ranked[4]]
    for column in ["site", "blood_group", "lab_01", "lab_25", *LABS]:
        assert importance[column] == 0


def test_columns_without_effect_do_not_change_the_true_risk(cohort):
    irrelevant = ["site", "blood_group", *LABS] + [f"lab_{k:02d}" for k in range(1, 26)]
    rng = np.random.default_rng(0)
    shuffled = cohort.copy()
    for column in irrelevant:
        shuffled[column] = rng.permutation(shuffled[column].to_numpy())
    np.testing.assert_array_equal(cardiology_true_logit(shuffled), cardiology_true_logit(cohort))


@pytest.mark.parametrize("column", ["site", "blood_group"])
def test_irrelevant_categories_are_independent_of_the_outcome(cohort, column):
    _, p_value, _, _ = chi2_contingency(pd.crosstab(cohort[column], cohort["mace_1y"]))
    assert p_value > 0.001


def test_noise_features_are_independent_of_the_outcome(cohort):
    labs = [c for c in cohort.columns if c.startswith("lab_")]
    assert len(labs) == 25
    assert cohort.shape[1] >= 40
    for lab in labs:
        r, p_value = pearsonr(cohort[lab], cohort["mace_1y"])
        assert abs(r) < 0.03 and p_value > 0.001, lab


def test_noise_features_leave_the_other_columns_unchanged():
    plain = make_cardiology_cohort(400, seed=2)
    noisy = make_cardiology_cohort(400, seed=2, n_noise_features=3)
    assert [c for c in noisy.columns if c.startswith("lab_")] == ["lab_01", "lab_02", "lab_03"]
    pd.testing.assert_frame_equal(noisy[plain.columns], plain)


def test_missing_values_only_in_labs_and_at_plausible_rates(cohort):
    rates = cohort.isna().mean()
    assert rates[LABS].between(0.03, 0.10).all(), rates[LABS]
    assert rates.drop(LABS).eq(0).all()


def test_missing_values_depend_on_age(cohort):
    any_missing = cohort[LABS].isna().any(axis=1)
    assert any_missing[cohort["age"] < 50].mean() > any_missing[cohort["age"] >= 75].mean()


def test_missing_false_gives_the_same_cohort_without_gaps():
    gappy = make_cardiology_cohort(2000, seed=4)
    complete = make_cardiology_cohort(2000, seed=4, missing=False)
    assert not complete.isna().any().any()
    pd.testing.assert_frame_equal(complete.where(gappy.notna()), gappy)


def test_drug_response_target_is_positive_and_mostly_explained(drug):
    dose = drug["stable_dose_mg_week"]
    assert (dose > 0).all()
    assert 20 < dose.median() < 45
    residual = dose - drug_response_true_mean(drug)
    assert 1 - (residual**2).sum() / ((dose - dose.mean()) ** 2).sum() > 0.5
    assert abs(residual.mean()) < 0.3


def test_drug_response_genotypes_frequencies_and_gaps(drug):
    frequencies = drug["cyp2c9"].value_counts(normalize=True).reindex(list(CYP2C9))
    np.testing.assert_allclose(frequencies, CYP2C9_FREQUENCIES, atol=0.01)
    assert set(drug["vkorc1"].dropna()) == {"G/G", "A/G", "A/A"}
    assert drug[["cyp2c9", "vkorc1"]].isna().mean().between(0.02, 0.08).all()


def test_drug_response_true_mean_averages_an_unknown_genotype():
    row = make_drug_response(1, seed=3).assign(vkorc1="A/G")
    # The law of total expectation over the genotype's population frequencies.
    expected = sum(
        p * drug_response_true_mean(row.assign(cyp2c9=g))
        for g, p in zip(CYP2C9, CYP2C9_FREQUENCIES, strict=True)
    )
    unknown = row.assign(cyp2c9=pd.Series([np.nan], dtype="str"))
    np.testing.assert_allclose(drug_response_true_mean(unknown), expected)


def test_drug_response_known_pharmacogenetics():
    base = make_drug_response(1, seed=3).assign(cyp2c9="*1/*1", vkorc1="G/G", amiodarone=0)
    mean = drug_response_true_mean(base)[0]
    assert drug_response_true_mean(base.assign(vkorc1="A/A"))[0] < mean
    assert drug_response_true_mean(base.assign(cyp2c9="*3/*3"))[0] < mean
    assert drug_response_true_mean(base.assign(amiodarone=1))[0] < mean
    assert drug_response_true_mean(base.assign(enzyme_inducer=1))[0] > mean


def test_toxicity_has_three_classes_of_at_least_ten_percent():
    df = make_toxicity_cohort(20_000, seed=11)
    shares = df["toxicity_grade"].value_counts(normalize=True)
    assert set(shares.index) == set(TOXICITY_GRADES)
    assert (shares >= 0.10).all(), shares
    proba = toxicity_true_proba(df)
    assert proba.shape == (len(df), 3)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_allclose(proba.mean(axis=0), shares.reindex(TOXICITY_GRADES), atol=0.015)
    severe = df.groupby("dpyd_variant")["toxicity_grade"].apply(lambda g: (g == "severe").mean())
    assert severe[1] > 2 * severe[0]


def test_true_models_name_a_missing_column():
    df = make_cardiology_cohort(10, seed=0).drop(columns="prior_mi")
    with pytest.raises(SchemaError, match="'prior_mi'"):
        cardiology_true_risk(df)
    with pytest.raises(SchemaError, match="'dpyd_variant'"):
        toxicity_true_proba(make_toxicity_cohort(10).drop(columns="dpyd_variant"))


def test_true_models_reject_unknown_categories():
    df = make_cardiology_cohort(10, seed=0)
    df.loc[0, "smoking"] = " current"
    with pytest.raises(SchemaError, match=r"'smoking'.*' current'"):
        cardiology_true_logit(df)
    drug = make_drug_response(10).assign(cyp2c9="*4/*4")
    with pytest.raises(SchemaError, match="'cyp2c9'"):
        drug_response_true_mean(drug)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n must be"),
        ({"n": 10, "seed": -1}, "seed must be"),
        ({"n": 10, "n_noise_features": -1}, "n_noise_features must be"),
    ],
)
def test_bad_arguments_raise_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        make_cardiology_cohort(**kwargs)


@pytest.mark.parametrize(
    "name",
    [
        "breast_cancer.csv",
        "cardiology.csv",
        "cardiology_holdout.csv",
        "new_patients.csv",
        "drug_response.csv",
        "toxicity.csv",
        "messy_export.csv",
        "heartbeat.csv",
    ],
)
def test_committed_sample_file_equals_what_the_script_generates(regenerated, name):
    assert (regenerated / name).read_bytes() == (SAMPLE_DIR / name).read_bytes(), (
        f"sample_data/{name} differs from make_samples.py output; "
        "run `python sample_data/make_samples.py` and never edit the CSVs by hand."
    )


def test_sample_files_are_small_and_disjoint(regenerated):
    assert sum(p.stat().st_size for p in regenerated.iterdir()) < 3_000_000
    train = pd.read_csv(regenerated / "cardiology.csv")
    holdout = pd.read_csv(regenerated / "cardiology_holdout.csv")
    new = pd.read_csv(regenerated / "new_patients.csv")
    assert (len(train), len(holdout), len(new)) == (4000, 1000, 200)
    assert "mace_1y" in holdout.columns and "mace_1y" not in new.columns
    ids = [set(frame["patient_id"]) for frame in (train, holdout, new)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])


def test_breast_cancer_sample(regenerated):
    df = pd.read_csv(regenerated / "breast_cancer.csv")
    assert df.shape == (569, 32)
    assert df.columns[[0, 1, -2, -1]].tolist() == [
        "id",
        "mean_radius",
        "worst_fractal_dimension",
        "diagnosis",
    ]
    assert df["diagnosis"].value_counts().to_dict() == {"benign": 357, "malignant": 212}


def test_messy_export_is_messy(regenerated):
    raw = (regenerated / "messy_export.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = raw.split(b"\r\n")
    assert len(lines) == 302 and lines[-1] == b""
    assert b"\n" not in raw.replace(b"\r\n", b"")
    header = lines[0].decode("utf-8-sig").split(";")
    assert " age" in header and "sex " in header
    body = b"\r\n".join(lines[1:])
    for token in (b";?;", b";NA;", b";;", b"; current;", b";F ;"):
        assert token in body, token
