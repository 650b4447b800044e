"""Synthetic clinical cohorts drawn from stated true models, for tests, benchmarks and samples.

Generators are pure: the same ``seed`` gives the same frame, and each part of a cohort has its own
random stream, so ``missing=False`` or noise columns leave every other value unchanged. The true
models are the constants below; the ``*_true_*`` functions compute them from the columns (for an
"oracle" AUROC, or to check that a feature without effect gets none). Plausible, not evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from medinn_core.errors import ConfigError, SchemaError, list_examples

Term = tuple[str, Any, Callable[[pd.DataFrame], Any]]

SEXES = ("F", "M")
SITES = ("A", "B", "C", "D")
BLOOD_GROUPS = ("O+", "A+", "B+", "AB+", "O-", "A-", "B-", "AB-")
BLOOD_GROUP_FREQUENCIES = (0.38, 0.34, 0.09, 0.03, 0.07, 0.06, 0.02, 0.01)
SMOKING = ("never", "former", "current")
CHEST_PAIN = ("typical", "atypical", "non_anginal", "none")
TOXICITY_GRADES = ("none", "mild", "severe")
# Genotypes, their frequencies (European ancestry, rounded) and IWPC effects on sqrt(dose).
CYP2C9 = ("*1/*1", "*1/*2", "*1/*3", "*2/*2", "*2/*3", "*3/*3")
CYP2C9_FREQUENCIES = (0.655, 0.2, 0.11, 0.015, 0.016, 0.004)
CYP2C9_EFFECTS = (0.0, -0.5211, -0.9357, -1.0616, -1.9206, -2.3312)
VKORC1 = ("G/G", "A/G", "A/A")
VKORC1_FREQUENCIES = (0.37, 0.48, 0.15)
VKORC1_EFFECTS = (0.0, -0.8677, -1.6974)
GENOTYPES = (
    ("cyp2c9", CYP2C9, CYP2C9_FREQUENCIES, CYP2C9_EFFECTS),
    ("vkorc1", VKORC1, VKORC1_FREQUENCIES, VKORC1_EFFECTS),
)

# Each true model is a table of (term, coefficient, definition): the sum of coefficient times
# term. Cardiology gives the log-odds of one-year MACE. Site, blood group, lab_XX, bmi, hdl, hba1c
# and creatinine have no direct effect: the last four relate to the outcome only through
# diabetes, age and sex, which keeps the risk exact on rows where they are blank.
CARDIOLOGY_MODEL: tuple[Term, ...] = (
    ("intercept", -4.75, lambda d: 1.0),
    ("age_minus_60", 0.05, lambda d: d["age"] - 60),
    ("age_minus_60_squared", 0.0015, lambda d: (d["age"] - 60) ** 2),
    ("sex_M", 0.35, lambda d: d["sex"] == "M"),
    ("systolic_bp_above_140", 0.06, lambda d: np.maximum(d["systolic_bp"] - 140, 0)),
    ("heart_rate_minus_70", 0.012, lambda d: d["heart_rate"] - 70),
    ("total_cholesterol_minus_200", 0.005, lambda d: d["total_cholesterol"] - 200),
    ("smoking_former", 0.5, lambda d: d["smoking"] == "former"),
    ("smoking_current", 1.2, lambda d: d["smoking"] == "current"),
    ("diabetes", 0.5, lambda d: d["diabetes"]),
    ("smoking_current_x_diabetes", 0.7, lambda d: (d["smoking"] == "current") * d["diabetes"]),
    ("chest_pain_typical", 0.7, lambda d: d["chest_pain"] == "typical"),
    ("chest_pain_atypical", 0.35, lambda d: d["chest_pain"] == "atypical"),
    ("chest_pain_non_anginal", 0.1, lambda d: d["chest_pain"] == "non_anginal"),
    ("prior_mi", 2.0, lambda d: d["prior_mi"]),
)
# Mean of sqrt(weekly warfarin dose, mg): the IWPC pharmacogenetic algorithm (NEJM 2009) for a
# patient of European ancestry, plus the genotype effects above and a target-INR term.
DRUG_RESPONSE_MODEL: tuple[Term, ...] = (
    ("intercept", 5.6044, lambda d: 1.0),
    ("age_decade", -0.2614, lambda d: d["age"] // 10),
    ("height_cm", 0.0087, lambda d: d["height"]),
    ("weight_kg", 0.0128, lambda d: d["weight"]),
    ("enzyme_inducer", 1.1816, lambda d: d["enzyme_inducer"]),
    ("amiodarone", -0.5503, lambda d: d["amiodarone"]),
    ("target_inr_minus_2_5", 0.7, lambda d: d["target_inr"] - 2.5),
)
DRUG_RESPONSE_NOISE_SD = 0.6
# Log-hazard of death after a heart-failure admission (per day, against the Weibull baseline
# below). The U-shaped sodium term is the non-linear one a linear Cox model cannot draw;
# random_lab has no effect.
SURVIVAL_MODEL: tuple[Term, ...] = (
    ("age_minus_65_per_10", 0.45, lambda d: (d["age"] - 65) / 10),
    ("ejection_fraction_minus_40_per_10", -0.5, lambda d: (d["ejection_fraction"] - 40) / 10),
    ("sodium_minus_138_per_4_squared", 0.6, lambda d: ((d["sodium"] - 138) / 4) ** 2),
    ("creatinine_log", 0.9, lambda d: np.log(d["creatinine"])),
    ("diabetes", 0.35, lambda d: d["diabetes"]),
)
# Weibull baseline hazard h0(t) = shape * scale * t ** (shape - 1), t in days; censoring by a
# uniform end of follow-up (study end) and by a constant drop-out hazard.
SURVIVAL_BASELINE_SCALE = 1.5e-3
SURVIVAL_BASELINE_SHAPE = 0.9
SURVIVAL_FOLLOW_UP_DAYS = (180, 900)
SURVIVAL_DROPOUT_PER_DAY = 2e-4
# Log-odds of grades "mild" and "severe" against "none"; coefficients are (mild, severe).
TOXICITY_MODEL: tuple[Term, ...] = (
    ("intercept", (-1.1, -2.9), lambda d: 1.0),
    ("dose_mg_m2_minus_1000", (0.003, 0.006), lambda d: d["dose_mg_m2"] - 1000),
    ("age_minus_60", (0.02, 0.04), lambda d: d["age"] - 60),
    ("creatinine_clearance_minus_80", (-0.01, -0.02), lambda d: d["creatinine_clearance"] - 80),
    ("dpyd_variant", (1.0, 2.5), lambda d: d["dpyd_variant"]),
    ("sex_F", (0.3, 0.4), lambda d: d["sex"] == "F"),
    ("ecog", (0.3, 0.7), lambda d: d["ecog"]),
)


def _check_count(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def _streams(seed: int, count: int) -> list[np.random.Generator]:
    """Independent generators, one per part of a cohort, all derived from ``seed``."""
    _check_count("seed", seed, 0)
    return [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(count)]


def _ids(prefix: str, n: int, start: int = 1) -> np.ndarray:
    return np.array([f"{prefix}{i:06d}" for i in range(start, start + n)])


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _draw(rng: np.random.Generator, probabilities: np.ndarray, labels: Sequence) -> np.ndarray:
    """One label per row, row ``i`` drawn with ``probabilities[i]``."""
    below = rng.random(len(probabilities))[:, None] > np.cumsum(probabilities, axis=1)
    return np.asarray(labels)[np.minimum(below.sum(axis=1), len(labels) - 1)]


def _rounded(values: np.ndarray, low: float, high: float, decimals: int = 0) -> np.ndarray:
    out = np.clip(values, low, high).round(decimals)
    return out.astype(np.int64) if decimals == 0 else out


def _linear(df: pd.DataFrame, model: tuple[Term, ...]) -> np.ndarray:
    """Sum of coefficient times term over ``model``: shape (rows,), or (rows, k) for k-tuples."""
    ones = np.ones(len(df))
    return sum(np.multiply.outer(ones * np.asarray(f(df), np.float64), b) for _, b, f in model)


def _require(df: pd.DataFrame, columns: Sequence[str], categories: Mapping[str, Sequence]) -> None:
    """Raise SchemaError unless ``df`` has ``columns`` and only known category values."""
    if absent := [c for c in columns if c not in df.columns]:
        raise SchemaError(
            f"The true model needs column(s) {list_examples(absent)}, which the frame lacks. "
            "Pass a frame made by the matching make_* function."
        )
    for column, allowed in categories.items():
        if bad := sorted(set(map(str, df[column].dropna().unique())) - set(allowed)):
            raise SchemaError(
                f"Column {column!r} must hold one of {list_examples(list(allowed))}, "
                f"found {list_examples(bad)}. Strip spaces and fix the spelling."
            )


def make_cardiology_cohort(
    n: int, *, seed: int = 0, n_noise_features: int = 0, missing: bool = True, id_start: int = 1
) -> pd.DataFrame:
    """Simulate a cardiology cohort with a one-year major adverse cardiac event outcome.

    Parameters
    ----------
    n : number of patients.
    seed : seeds every random draw.
    n_noise_features : extra standard-normal columns ``lab_01``, ``lab_02``... with no effect.
    missing : blank about 4 % of bmi, 8 % of hdl, 7 % of hba1c and 5 % of creatinine, missing
        at random given age (younger patients have fewer measurements).
    id_start : number of the first ``patient_id`` (``P000001`` by default).

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, age (years), sex (F/M), site (A-D), blood_group, bmi (kg/m²),
        systolic_bp (mmHg), heart_rate (bpm), total_cholesterol and hdl (mg/dL), hba1c (%),
        creatinine (mg/dL), smoking (never/former/current), diabetes (0/1), chest_pain
        (typical/atypical/non_anginal/none), prior_mi (0/1), any noise columns, and the outcome
        ``mace_1y`` (0/1, about 10 %) drawn from :func:`cardiology_true_risk`.

    Raises
    ------
    ConfigError
        If ``n`` or ``id_start`` is below 1, or ``n_noise_features`` or ``seed`` is negative.
    """
    _check_count("n", n, 1)
    _check_count("n_noise_features", n_noise_features, 0)
    _check_count("id_start", id_start, 1)
    rng, missing_rng, outcome_rng, noise_rng = _streams(seed, 4)
    age = _rounded(rng.normal(63, 11, n), 30, 90)
    decades = (age - 60) / 10
    male = rng.random(n) < 0.58
    site = rng.choice(SITES, size=n, p=(0.35, 0.25, 0.25, 0.15))
    blood_group = rng.choice(BLOOD_GROUPS, size=n, p=BLOOD_GROUP_FREQUENCIES)
    bmi = _rounded(rng.normal(28.5, 5.0, n), 16, 55, 1)
    zero = np.zeros(n)
    smoking_logits = [zero, -0.4 + 0.25 * decades + 0.3 * male, -0.8 - 0.35 * decades + 0.4 * male]
    smoking = _draw(rng, _softmax(np.column_stack(smoking_logits)), SMOKING)
    current = smoking == "current"
    diabetes = (rng.random(n) < _expit(-1.5 + 0.1 * (bmi - 28) + 0.25 * decades)).astype(np.int64)
    hba1c = np.where(diabetes == 1, rng.normal(7.6, 1.2, n), rng.normal(5.4, 0.35, n))
    sbp = 133 + 5 * decades + 0.6 * (bmi - 28) + 4 * diabetes + rng.normal(0, 16, n)
    heart_rate = 72 + 3 * current + 2 * diabetes + rng.normal(0, 11, n)
    cholesterol = 200 - 12 * male - 3 * decades + rng.normal(0, 38, n)
    hdl = 57 - 10 * male - 0.6 * (bmi - 28) - 4 * current - 3 * diabetes + rng.normal(0, 12, n)
    log_creatinine = np.log(np.where(male, 1.0, 0.8)) + 0.06 * decades + 0.1 * diabetes
    creatinine = np.exp(log_creatinine + rng.normal(0, 0.2, n))
    mi_logit = -2.8 + 0.35 * decades + 0.6 * male + 0.4 * diabetes + 0.4 * current
    prior_mi = (rng.random(n) < _expit(mi_logit)).astype(np.int64)
    pain_logits = [-1.8 + 0.8 * prior_mi + 0.15 * decades, zero - 0.9, zero - 0.9, zero]
    df = pd.DataFrame(
        {
            "patient_id": _ids("P", n, id_start),
            "age": age,
            "sex": np.where(male, "M", "F"),
            "site": site,
            "blood_group": blood_group,
            "bmi": bmi,
            "systolic_bp": _rounded(sbp, 85, 230),
            "heart_rate": _rounded(heart_rate, 40, 150),
            "total_cholesterol": _rounded(cholesterol, 100, 400),
            "hdl": _rounded(hdl, 20, 110).astype(np.float64),
            "hba1c": _rounded(hba1c + 0.02 * (bmi - 28), 4.0, 14.0, 1),
            "creatinine": _rounded(creatinine, 0.4, 8.0, 2),
            "smoking": smoking,
            "diabetes": diabetes,
            "chest_pain": _draw(rng, _softmax(np.column_stack(pain_logits)), CHEST_PAIN),
            "prior_mi": prior_mi,
        }
    )
    for k in range(1, n_noise_features + 1):
        df[f"lab_{k:02d}"] = noise_rng.normal(0, 1, n).round(3)
    df["mace_1y"] = (outcome_rng.random(n) < cardiology_true_risk(df)).astype(np.int64)
    for column, rate in (("bmi", 0.04), ("hdl", 0.08), ("hba1c", 0.07), ("creatinine", 0.05)):
        blank = missing_rng.random(n) < _expit(np.log(rate / (1 - rate)) - 0.3 * decades)
        df.loc[blank & missing, column] = np.nan
    return df


def cardiology_true_logit(df: pd.DataFrame) -> np.ndarray:
    """The true log-odds of ``mace_1y`` per row of a frame like :func:`make_cardiology_cohort`'s.

    The sum over ``CARDIOLOGY_MODEL``: age (linear and squared), sex, systolic BP above 140 mmHg
    (a threshold), heart rate, total cholesterol, smoking, diabetes, smoking × diabetes, chest
    pain and prior MI. No other column counts, and none of these is ever blank.

    Raises
    ------
    SchemaError
        If a column of the model is absent or holds an unknown category.
    """
    numeric = ["age", "systolic_bp", "heart_rate", "total_cholesterol", "diabetes", "prior_mi"]
    categories = {"sex": SEXES, "smoking": SMOKING, "chest_pain": CHEST_PAIN}
    _require(df, [*numeric, *categories], categories)
    return _linear(df, CARDIOLOGY_MODEL)


def cardiology_true_risk(df: pd.DataFrame) -> np.ndarray:
    """The true probability of ``mace_1y`` per row, ``expit(cardiology_true_logit(df))``.

    Raises
    ------
    SchemaError
        As :func:`cardiology_true_logit`.
    """
    return _expit(cardiology_true_logit(df))


def make_drug_response(n: int, *, seed: int = 0) -> pd.DataFrame:
    """Simulate stable warfarin doses, modelled on the IWPC pharmacogenetic data set.

    Parameters
    ----------
    n : number of patients.
    seed : seeds every random draw.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, age (years), sex (F/M), height (cm), weight (kg), cyp2c9 and vkorc1
        genotypes (5 % and 4 % missing completely at random), amiodarone and enzyme_inducer
        (0/1), target_inr (2.5 or 3.0), and the target ``stable_dose_mg_week``: ``(m + e)²``
        rounded to 0.1 mg (at least 0.1), ``m`` the mean square-root dose (``DRUG_RESPONSE_MODEL``
        plus the genotype effects) and ``e ~ Normal(0, DRUG_RESPONSE_NOISE_SD)``.

    Raises
    ------
    ConfigError
        If ``n`` is below 1 or ``seed`` is negative.
    """
    _check_count("n", n, 1)
    rng, missing_rng, outcome_rng = _streams(seed, 3)
    age = _rounded(rng.normal(62, 14, n), 18, 95)
    male = rng.random(n) < 0.55
    mean_height = np.where(male, 176.0, 163.0)
    height = _rounded(mean_height + rng.normal(0, 7, n), 140, 205)
    weight = np.where(male, 85.0, 71.0) + 0.7 * (height - mean_height) + rng.normal(0, 15, n)
    df = pd.DataFrame(
        {
            "patient_id": _ids("W", n),
            "age": age,
            "sex": np.where(male, "M", "F"),
            "height": height,
            "weight": _rounded(weight, 40, 180, 1),
            "cyp2c9": rng.choice(CYP2C9, size=n, p=CYP2C9_FREQUENCIES),
            "vkorc1": rng.choice(VKORC1, size=n, p=VKORC1_FREQUENCIES),
            "amiodarone": (rng.random(n) < 0.06).astype(np.int64),
            "enzyme_inducer": (rng.random(n) < 0.03).astype(np.int64),
            "target_inr": np.where(rng.random(n) < 0.12, 3.0, 2.5),
        }
    )
    root = _sqrt_dose_mean(df) + outcome_rng.normal(0, DRUG_RESPONSE_NOISE_SD, n)
    df["stable_dose_mg_week"] = np.maximum((root**2).round(1), 0.1)
    for column, rate in (("cyp2c9", 0.05), ("vkorc1", 0.04)):
        df[column] = df[column].mask(missing_rng.random(n) < rate)
    return df


def _sqrt_dose_mean(df: pd.DataFrame) -> np.ndarray:
    """Mean of sqrt(dose) given complete genotypes."""
    genotypes = sum(
        df[gene].map(dict(zip(labels, effects, strict=True))).to_numpy(np.float64)
        for gene, labels, _, effects in GENOTYPES
    )
    return _linear(df, DRUG_RESPONSE_MODEL) + genotypes


def drug_response_true_mean(df: pd.DataFrame) -> np.ndarray:
    """The true expected ``stable_dose_mg_week`` (mg/week) of each row of a drug-response frame.

    With ``m`` the mean square-root dose, the expected dose is ``m² + DRUG_RESPONSE_NOISE_SD²``.
    A missing genotype is averaged over its population frequencies (genotypes are independent
    of everything else and missing completely at random), so the value stays exact.

    Raises
    ------
    SchemaError
        If a column of the model is absent or holds an unknown genotype.
    """
    columns = ["age", "height", "weight", "cyp2c9", "vkorc1", "amiodarone", "enzyme_inducer"]
    _require(df, [*columns, "target_inr"], {"cyp2c9": CYP2C9, "vkorc1": VKORC1})
    filled = df.copy()
    variance = np.full(len(df), DRUG_RESPONSE_NOISE_SD**2)
    shift = np.zeros(len(df))
    for gene, labels, frequencies, effects in GENOTYPES:
        mean = float(np.dot(frequencies, effects))
        unknown = df[gene].isna().to_numpy()
        filled[gene] = df[gene].fillna(labels[0])  # the reference genotype, effect 0
        shift[unknown] += mean
        variance[unknown] += float(np.dot(frequencies, (np.asarray(effects) - mean) ** 2))
    return (_sqrt_dose_mean(filled) + shift) ** 2 + variance


def make_toxicity_cohort(n: int, *, seed: int = 0) -> pd.DataFrame:
    """Simulate capecitabine toxicity, a three-class outcome.

    Parameters
    ----------
    n : number of patients.
    seed : seeds every random draw.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, age (years), sex (F/M), ecog (performance status 0-2),
        creatinine_clearance (mL/min), dpyd_variant (0/1, carrier of a DPYD variant),
        dose_mg_m2 (mg/m² twice daily: 1000 or 1250, cut by 25 % below 50 mL/min), and
        ``toxicity_grade`` (none/mild/severe) drawn from :func:`toxicity_true_proba`.

    Raises
    ------
    ConfigError
        If ``n`` is below 1 or ``seed`` is negative.
    """
    _check_count("n", n, 1)
    rng, outcome_rng = _streams(seed, 2)
    age = _rounded(rng.normal(63, 11, n), 25, 90)
    male = rng.random(n) < 0.5
    ecog_logits = [np.zeros(n), 0.1 + 0.02 * (age - 63), -1.0 + 0.04 * (age - 63)]
    ecog = _draw(rng, _softmax(np.column_stack(ecog_logits)), (0, 1, 2))
    clearance = np.where(male, 1.0, 0.85) * (150 - age) * np.exp(rng.normal(0, 0.2, n))
    clearance = _rounded(clearance, 15, 180)
    # The label's 25 % dose cut for moderate renal impairment.
    dose = rng.choice((1000, 1250), size=n) * np.where(clearance < 50, 0.75, 1.0)
    df = pd.DataFrame(
        {
            "patient_id": _ids("T", n),
            "age": age,
            "sex": np.where(male, "M", "F"),
            "ecog": ecog.astype(np.int64),
            "creatinine_clearance": clearance,
            "dpyd_variant": (rng.random(n) < 0.06).astype(np.int64),
            "dose_mg_m2": np.rint(dose).astype(np.int64),
        }
    )
    df["toxicity_grade"] = _draw(outcome_rng, toxicity_true_proba(df), TOXICITY_GRADES)
    return df


def toxicity_true_proba(df: pd.DataFrame) -> np.ndarray:
    """The true probabilities of ``TOXICITY_GRADES`` (columns) per row, rows summing to 1.

    The log-odds of each grade against ``none`` is the sum over ``TOXICITY_MODEL``: dose, age,
    creatinine clearance, DPYD variant, female sex and ECOG score.

    Raises
    ------
    SchemaError
        If a column of the model is absent or holds an unknown category.
    """
    columns = ["dose_mg_m2", "age", "creatinine_clearance", "dpyd_variant", "sex", "ecog"]
    _require(df, columns, {"sex": SEXES})
    return _softmax(np.column_stack([np.zeros(len(df)), _linear(df, TOXICITY_MODEL)]))


def make_survival_cohort(n: int, *, seed: int = 0) -> pd.DataFrame:
    """Simulate deaths after a heart-failure admission, with follow-up time and censoring.

    Parameters
    ----------
    n : number of patients.
    seed : seeds every random draw.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, age (years), sex (F/M), ejection_fraction (%), sodium (mmol/L),
        creatinine (mg/dL), diabetes (0/1), random_lab (a measurement with no effect),
        ``time`` (days from admission to death or to the end of follow-up, at least 1) and
        ``death`` (1 died, 0 censored). Death times are drawn from a Weibull proportional
        hazard with the log-hazard :func:`survival_true_log_hazard`.

    Raises
    ------
    ConfigError
        If ``n`` is below 1 or ``seed`` is negative.
    """
    _check_count("n", n, 1)
    rng, event_rng, censor_rng = _streams(seed, 3)
    df = pd.DataFrame(
        {
            "patient_id": _ids("S", n),
            "age": _rounded(rng.normal(66, 11, n), 30, 95),
            "sex": np.where(rng.random(n) < 0.45, "F", "M"),
            "ejection_fraction": _rounded(rng.normal(38, 11, n), 10, 75),
            "sodium": _rounded(rng.normal(137, 4.5, n), 118, 152),
            "creatinine": _rounded(np.exp(rng.normal(0.15, 0.4, n)), 0.4, 9.0, 2),
            "diabetes": (rng.random(n) < 0.35).astype(np.int64),
            "random_lab": _rounded(rng.normal(100, 15, n), 40, 160),
        }
    )
    hazard = SURVIVAL_BASELINE_SCALE * np.exp(survival_true_log_hazard(df))
    # Inverse of the cumulative hazard scale * t ** shape * exp(lp).
    death = (-np.log(event_rng.random(n)) / hazard) ** (1 / SURVIVAL_BASELINE_SHAPE)
    end = censor_rng.uniform(*SURVIVAL_FOLLOW_UP_DAYS, n)
    dropout = censor_rng.exponential(1 / SURVIVAL_DROPOUT_PER_DAY, n)
    follow = np.minimum(end, dropout)
    df["time"] = np.maximum(np.ceil(np.minimum(death, follow)), 1).astype(np.int64)
    df["death"] = (death <= follow).astype(np.int64)
    return df


def survival_true_log_hazard(df: pd.DataFrame) -> np.ndarray:
    """The true log-hazard per row: the sum over ``SURVIVAL_MODEL`` (age, ejection fraction,
    a U-shaped sodium term, log creatinine, diabetes); sex and random_lab have no effect.

    Raises
    ------
    SchemaError
        If a column of the model is absent.
    """
    columns = ["age", "ejection_fraction", "sodium", "creatinine", "diabetes"]
    _require(df, columns, {})
    return _linear(df, SURVIVAL_MODEL)


# Heartbeat cohort: a 3.2-second rhythm strip of one lead sampled at 40 Hz (128 samples), with
# three to five beats at the patient's heart rate (so the beats lie at different places in every
# trace) and a T wave after each R spike. Some T waves are notched (bifid), a repolarisation
# abnormality: notched T waves mark long-QT syndrome type 2 and drugs that block the hERG
# potassium channel, and they herald torsades de pointes. The outcome follows the share of the
# strip's T waves that are notched. A notched T wave has the same area and the same energy as a
# smooth one, so neither the trace's sum nor its sum of squares reads the notch: a model must
# recognise the shape wherever the beats fall. A convolution does that once for every place; a
# dense network must learn it anew at each place.
HEARTBEAT_SAMPLES = 128
#: Samples per second of the heartbeat trace.
HEARTBEAT_RATE = 40
HEARTBEAT_MODEL: tuple[Term, ...] = (
    ("intercept", -0.6, lambda d: 1.0),
    ("notched_share_minus_0_5_per_0_25", 1.8, lambda d: (d["notched_share"] - 0.5) / 0.25),
    ("age_minus_60_per_10", 0.35, lambda d: (d["age"] - 60) / 10),
    ("sex_M", 0.4, lambda d: d["sex"] == "M"),
)
# The T wave, in standard deviations u of a Gaussian hump of _T_WIDTH samples: smooth,
# exp(-u^2/2); notched, (1 + b w) exp(-u^2/2) - b exp(-u^2/(2 w^2)), a narrow dip of width w at
# its centre. For the one depth b != 0 given by _notch_depth, both have the same area and the
# same energy.
_T_WIDTH = 2.2
_NOTCH_WIDTH = 0.45


def _notch_depth(w: float) -> float:
    """The depth ``b`` at which the notched T wave's energy equals the smooth one's (its area
    is equal for every ``b``): the non-zero root of the energy's difference, a quadratic."""
    root_pi, cross = np.sqrt(np.pi), np.sqrt(2 * np.pi / (1 + w**-2))
    return float((2 * cross - 2 * w * root_pi) / (root_pi * (w * w + w) - 2 * w * cross))


def _t_wave(u: np.ndarray, notched: np.ndarray) -> np.ndarray:
    """T waves ``(rows, samples)`` at ``u`` standard deviations from their centres, notched
    where ``notched`` (per row) is True; peak 1 when smooth."""
    b = _notch_depth(_NOTCH_WIDTH) * notched[:, None]
    return (1 + b * _NOTCH_WIDTH) * np.exp(-0.5 * u**2) - b * np.exp(-0.5 * (u / _NOTCH_WIDTH) ** 2)


def make_heartbeat_cohort(
    n: int, *, samples: int = HEARTBEAT_SAMPLES, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray]:
    """Simulate patients with a rhythm strip each, sampled as ``ecg_000 ...`` columns.

    Each trace is one lead at :data:`HEARTBEAT_RATE` samples per second: beats at the
    patient's heart rate (50 to 110 per minute, varying 3 % from beat to beat) from a random
    start, each a P wave, a QRS complex and a T wave whose delay after the R spike shortens
    with the heart rate (as the QT interval does). Each T wave is smooth or notched (bifid):
    each patient has a propensity (0 to 1) and each beat is notched with that probability.
    The share of notched T waves in the strip drives the outcome (``HEARTBEAT_MODEL``) with
    age and sex. Notched T waves mark an abnormal repolarisation (long-QT syndrome type 2,
    hERG-blocking drugs) and foretell torsades de pointes; a cardiologist reads them beat by
    beat, wherever the beats fall. A notched T wave has the area and the energy of a smooth
    one, so no sum of the samples (or of their squares) reads it (see the comment above
    ``HEARTBEAT_SAMPLES``).

    Parameters
    ----------
    n : number of patients.
    samples : samples per trace (at least 48).
    seed : seeds every random draw.

    Returns
    -------
    frame : ``patient_id``, age (years), sex (F/M), systolic_bp (mmHg, no effect), the trace
        ``ecg_000`` ... (mV, with baseline wander and noise), and the outcome ``event`` (0/1).
    true_risk : each patient's true probability of the event (``HEARTBEAT_MODEL``), for the
        oracle AUROC; the share of notched T waves (those whose centre lies in the strip) is
        not a column.

    Raises
    ------
    ConfigError
        If ``n`` is below 1, ``samples`` below 48, or ``seed`` negative.
    """
    _check_count("n", n, 1)
    _check_count("samples", samples, 48)
    rng, trace_rng, event_rng = _streams(seed, 3)
    frame = pd.DataFrame(
        {
            "patient_id": _ids("H", n),
            "age": _rounded(rng.normal(60, 12, n), 20, 95),
            "sex": np.where(rng.random(n) < 0.5, "F", "M"),
            "systolic_bp": _rounded(rng.normal(130, 15, n), 85, 200),
        }
    )
    t = np.arange(samples, dtype=np.float64)[None, :]
    rr = 60 * HEARTBEAT_RATE / trace_rng.uniform(50, 110, n)  # samples between beats
    propensity = trace_rng.uniform(0, 1, n)
    t_height = trace_rng.uniform(0.25, 0.4, n)
    r_height = trace_rng.uniform(0.8, 1.3, n)
    wander = 0.1 * np.sin(
        2 * np.pi * (t / samples * trace_rng.uniform(0.3, 1.0, (n, 1)) + trace_rng.random((n, 1)))
    )
    trace = wander + trace_rng.normal(0, 0.03, (n, samples))
    # beats from one interval before the trace to its end; the first falls at a random phase
    n_beats = int(np.ceil(samples / rr.min())) + 2
    gaps = rr[:, None] * (1 + trace_rng.normal(0, 0.03, (n, n_beats)))
    r_at = np.cumsum(gaps, axis=1) - rr[:, None] * (1 + trace_rng.random((n, 1)))
    t_lag = 0.3 * HEARTBEAT_RATE * np.sqrt(gaps / HEARTBEAT_RATE)  # Bazett: QT ~ sqrt(RR)
    notched = trace_rng.random((n, n_beats)) < propensity[:, None]
    beat_size = 1 + trace_rng.normal(0, 0.05, (n, n_beats))
    for b in range(n_beats):
        d = t - r_at[:, b : b + 1]  # samples after this beat's R spike
        size = beat_size[:, b : b + 1]
        trace += size * 0.12 * np.exp(-0.5 * ((d + 6.5) / 1.5) ** 2)  # P wave
        trace += size * r_height[:, None] * np.exp(-0.5 * (d / 0.8) ** 2)  # R spike
        trace -= size * 0.2 * np.exp(-0.5 * ((d - 1.6) / 0.7) ** 2)  # S wave
        u = (d - t_lag[:, b : b + 1]) / _T_WIDTH
        trace += size * t_height[:, None] * _t_wave(u, notched[:, b])
    t_at = r_at + t_lag
    seen = (t_at >= 0) & (t_at <= samples - 1)
    share = np.where(
        seen.any(axis=1), (notched & seen).sum(axis=1) / np.maximum(seen.sum(axis=1), 1), propensity
    )
    width = max(3, len(str(samples - 1)))
    ecg = pd.DataFrame(np.round(trace, 2), columns=[f"ecg_{i:0{width}d}" for i in range(samples)])
    terms = frame.assign(notched_share=share)
    risk = _expit(_linear(terms, HEARTBEAT_MODEL))
    frame = pd.concat([frame, ecg], axis=1)
    frame["event"] = (event_rng.random(n) < risk).astype(np.int64)
    return frame, risk
