"""Evaluation metrics, each checked against an independent computation.

scikit-learn for discrimination, confusion matrices and errors; statsmodels for the logistic
recalibration model, Wilson intervals and lowess; small tables worked by hand for net benefit.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import expit, logit
from sklearn import metrics
from statsmodels.nonparametric.smoothers_lowess import lowess as sm_lowess
from statsmodels.stats.proportion import proportion_confint

from medinn_core.errors import ConfigError, DataError
from medinn_core.evaluation import (
    age_bands,
    binary_resamples,
    bootstrap_auroc,
    bootstrap_average_precision,
    bootstrap_indices,
    calibration,
    calibration_bins,
    calibration_slope_intercept,
    compare_models,
    decision_curve,
    evaluate_binary,
    evaluate_multiclass,
    evaluate_regression,
    lowess,
    predictive_values,
    regression_by_group,
    regression_resamples,
    risk_distribution,
    roc_curve_frame,
    sample_size,
    sensitivity_threshold,
    subgroup_table,
    threshold_metrics,
    threshold_presets,
    wilson_interval,
    youden_threshold,
)


def cohort(n: int, seed: int = 0, *, intercept: float = -1.0, distortion: float = 1.0):
    """Outcomes drawn from true risks; the reported risks have their logit scaled by
    ``distortion`` (1 = perfectly calibrated, 2 = overconfident, 0.5 = underconfident)."""
    rng = np.random.default_rng(seed)
    lp = intercept + 1.5 * rng.normal(size=n)
    y = rng.binomial(1, expit(lp))
    return y, expit(distortion * lp)


@pytest.fixture(scope="module")
def data():
    return cohort(2000, seed=1)


@pytest.fixture(scope="module")
def evaluation(data):
    y, p = data
    return evaluate_binary(y, p, n_boot=300, seed=0, n_parameters=12, prevalence=0.1)


def assert_plain_json(value):
    """Only JSON types, no NaN: what ``evaluate --json`` writes."""
    json.dumps(value, allow_nan=False)
    if isinstance(value, dict):
        assert all(isinstance(k, str) for k in value)
        for v in value.values():
            assert_plain_json(v)
    elif isinstance(value, list):
        for v in value:
            assert_plain_json(v)
    else:
        assert value is None or type(value) in (str, int, float, bool), type(value)


# -- the vectorised bootstrap ------------------------------------------------------------------
@pytest.mark.parametrize("rounding", [None, 2])  # continuous risks, and heavily tied ones
def test_vectorised_bootstrap_equals_sklearn_on_each_resample(data, rounding):
    y, p = data
    p = p if rounding is None else np.round(p, rounding)
    idx = bootstrap_indices(y.size, 4, seed=7)
    auroc = bootstrap_auroc(y, p, indices=idx)
    ap = bootstrap_average_precision(y, p, indices=idx)
    for b, rows in enumerate(idx):
        assert auroc[b] == pytest.approx(metrics.roc_auc_score(y[rows], p[rows]), abs=1e-12)
        assert ap[b] == pytest.approx(metrics.average_precision_score(y[rows], p[rows]), abs=1e-12)


def test_bootstrap_is_seeded_and_reproducible(data):
    y, p = data
    first = bootstrap_auroc(y, p, n_boot=50, seed=3)
    np.testing.assert_array_equal(first, bootstrap_auroc(y, p, n_boot=50, seed=3))
    assert not np.array_equal(first, bootstrap_auroc(y, p, n_boot=50, seed=4))
    np.testing.assert_array_equal(
        bootstrap_indices(30, 5, seed=1), bootstrap_indices(30, 5, seed=1)
    )


def test_stratified_indices_keep_each_stratum_size():
    strata = np.array([0] * 7 + [1] * 3)
    idx = bootstrap_indices(10, 200, seed=0, strata=strata)
    assert idx.shape == (200, 10)
    assert np.all(strata[idx].sum(axis=1) == 3)


def test_resample_with_one_class_gives_nan_not_an_error():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.7, 0.8])
    idx = np.array([[0, 1, 0, 1], [0, 1, 2, 3]])
    auroc = bootstrap_auroc(y, p, indices=idx)
    assert np.isnan(auroc[0]) and auroc[1] == 1.0


def test_ci_contains_the_estimate_and_narrows_with_n():
    widths = []
    for n in (300, 3000):
        y, p = cohort(n, seed=5)
        ev = evaluate_binary(y, p, n_boot=400, seed=0)
        for interval in (ev.auroc, ev.average_precision):
            assert interval.ci_low < interval.value < interval.ci_high
        widths.append(ev.auroc.ci_high - ev.auroc.ci_low)
    assert widths[1] < widths[0] / 2  # about 1/sqrt(10)


# -- discrimination and curves -----------------------------------------------------------------
def test_point_estimates_match_sklearn(data, evaluation):
    y, p = data
    assert evaluation.auroc.value == pytest.approx(metrics.roc_auc_score(y, p), abs=1e-12)
    assert evaluation.average_precision.value == pytest.approx(
        metrics.average_precision_score(y, p), abs=1e-12
    )
    assert evaluation.n == y.size and evaluation.events == y.sum()


def test_roc_curve_on_the_grid_interpolates_sklearn_curve():
    y, p = cohort(300, seed=3)
    p = np.round(p, 2)  # ties make diagonal steps
    fpr, tpr, _ = metrics.roc_curve(y, p, drop_intermediate=False)
    expected = []
    for f in np.linspace(0, 1, 101):
        j = np.flatnonzero(fpr <= f + 1e-12)[-1]  # highest sensitivity at this FPR
        k = min(j + 1, fpr.size - 1)
        slope = (tpr[k] - tpr[j]) / (fpr[k] - fpr[j]) if k > j else 0.0
        expected.append(tpr[j] + slope * (f - fpr[j]))
    point = binary_resamples(y, p, np.arange(y.size)[None, :], curves=True)
    frame = roc_curve_frame(point.roc_tpr[0])
    np.testing.assert_allclose(frame["tpr"].to_numpy()[1:], expected, atol=1e-9)
    assert frame[["fpr", "tpr"]].iloc[0].tolist() == [0, 0] and frame["fpr"].iloc[-1] == 1
    assert frame["tpr_low"].isna().all()  # no resamples, no band


def test_pr_curve_is_precision_at_first_threshold_reaching_each_recall():
    y, p = cohort(200, seed=4)
    p = np.round(p, 2)
    grid = np.linspace(0, 1, 101)
    rows = []
    for t in np.unique(p)[::-1]:  # brute force, highest threshold first
        flagged = p >= t
        rows.append((flagged[y == 1].mean(), y[flagged].mean()))
    recall, precision = np.array(rows).T
    expected = [precision[np.flatnonzero(recall >= max(r, 1e-12))[0]] for r in grid]
    ev = evaluate_binary(y, p, n_boot=0)
    np.testing.assert_allclose(ev.pr_curve["precision"], expected, atol=1e-12)


def test_curve_bands_surround_the_curves(evaluation):
    roc, pr = evaluation.roc_curve, evaluation.pr_curve
    assert np.all(np.diff(roc["tpr"]) >= 0)
    assert np.all(roc["tpr_low"] <= roc["tpr_high"])
    inside = (roc["tpr_low"] - 1e-9 <= roc["tpr"]) & (roc["tpr"] <= roc["tpr_high"] + 1e-9)
    assert inside.mean() > 0.95
    assert np.all(pr["precision_low"] <= pr["precision_high"])
    assert roc[["tpr_low", "tpr_high"]].stack().between(0, 1).all()


# -- threshold views ---------------------------------------------------------------------------
def test_threshold_metrics_match_sklearn_and_statsmodels(data):
    y, p = data
    m = threshold_metrics(y, p, 0.3)
    flagged = (p >= 0.3).astype(int)
    tn, fp, fn, tp = metrics.confusion_matrix(y, flagged).ravel()
    assert (m.tp, m.fp, m.tn, m.fn) == (tp, fp, tn, fn)
    np.testing.assert_array_equal(m.confusion_matrix().to_numpy(), [[tn, fp], [fn, tp]])
    assert m.sensitivity.value == pytest.approx(metrics.recall_score(y, flagged))
    assert m.specificity.value == pytest.approx(metrics.recall_score(1 - y, 1 - flagged))
    assert m.ppv.value == pytest.approx(metrics.precision_score(y, flagged))
    assert m.npv.value == pytest.approx(metrics.precision_score(1 - y, 1 - flagged))
    assert m.f1 == pytest.approx(metrics.f1_score(y, flagged))
    for interval, k, n in (
        (m.sensitivity, tp, tp + fn),
        (m.specificity, tn, tn + fp),
        (m.ppv, tp, tp + fp),
        (m.npv, tn, tn + fn),
    ):
        low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert (interval.ci_low, interval.ci_high) == pytest.approx((low, high), abs=1e-12)
    sens, spec = m.sensitivity.value, m.specificity.value
    assert m.lr_positive == pytest.approx(sens / (1 - spec))
    assert m.lr_negative == pytest.approx((1 - sens) / spec)
    assert m.number_needed_to_evaluate == pytest.approx(1 / m.ppv.value)


def test_wilson_interval_vectorised_matches_statsmodels():
    k, n = np.array([0, 3, 50, 99, 100]), np.array([10, 10, 100, 100, 100])
    low, high = wilson_interval(k, n)
    sm_low, sm_high = proportion_confint(k, n, alpha=0.05, method="wilson")
    np.testing.assert_allclose(low, sm_low, atol=1e-12)
    np.testing.assert_allclose(high, sm_high, atol=1e-12)


def test_ppv_npv_for_another_prevalence_follow_bayes(data):
    y, p = data
    m = threshold_metrics(y, p, 0.3, prevalence=0.05)
    # At the data's own prevalence Bayes gives back the observed PPV and NPV.
    ppv, npv = predictive_values(m.sensitivity.value, m.specificity.value, m.prevalence)
    assert (ppv, npv) == pytest.approx((m.ppv.value, m.npv.value))
    # Worked by hand: sens 0.9, spec 0.8, prevalence 5 %.
    assert predictive_values(0.9, 0.8, 0.05) == pytest.approx(
        (0.045 / (0.045 + 0.19), 0.76 / (0.76 + 0.005))
    )
    expected = predictive_values(m.sensitivity.value, m.specificity.value, 0.05)
    assert (m.ppv_at_prevalence, m.npv_at_prevalence) == pytest.approx(expected)
    assert m.target_prevalence == 0.05


def test_undefined_threshold_measures_are_none_and_json_safe():
    m = threshold_metrics([0, 1, 0, 1], [0.1, 0.4, 0.2, 0.3], threshold=0.9)
    assert m.tp == m.fp == 0
    assert m.ppv is None and m.number_needed_to_evaluate is None and m.lr_negative == 1.0
    assert m.specificity.value == 1 and m.lr_positive is None
    assert_plain_json(m.to_dict())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"threshold": 1.5}, "threshold must be a probability"), ({"prevalence": 0}, "prevalence")],
)
def test_threshold_settings_are_checked(data, kwargs, match):
    y, p = data
    with pytest.raises(ConfigError, match=match):
        threshold_metrics(y, p, **{"threshold": 0.5, **kwargs})


def test_threshold_presets_match_brute_force():
    y, p = cohort(400, seed=6)
    p = np.round(p, 3)
    candidates = np.unique(p)
    sens = np.array([np.mean(p[y == 1] >= t) for t in candidates])
    spec = np.array([np.mean(p[y == 0] < t) for t in candidates])
    assert youden_threshold(y, p) == candidates[np.argmax(sens + spec - 1)]
    assert sensitivity_threshold(y, p, 0.9) == candidates[sens >= 0.9].max()
    presets = threshold_presets(y, p, user_threshold=0.25).set_index("key")
    assert list(presets.index) == ["default", "youden", "target_sensitivity", "user"]
    assert presets.loc["target_sensitivity", "sensitivity"] >= 0.9
    assert presets.loc["user", "threshold"] == 0.25
    assert presets.loc["youden", "youden_j"] == pytest.approx(np.max(sens + spec - 1))


def test_evaluate_binary_can_use_a_preset_threshold(data):
    y, p = data
    ev = evaluate_binary(y, p, threshold="youden", n_boot=0)
    assert ev.threshold.threshold == youden_threshold(y, p)
    with pytest.raises(ConfigError, match="'median'"):
        evaluate_binary(y, p, threshold="median", n_boot=0)


# -- decision curve ----------------------------------------------------------------------------
def test_net_benefit_on_a_table_worked_by_hand():
    y = [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    p = [0.9, 0.6, 0.15, 0.7, 0.3, 0.25, 0.1, 0.05, 0.05, 0.02]
    dc = decision_curve(y, p, thresholds=[0.1, 0.2, 0.5]).set_index("threshold")
    # pt 0.1: treat risk >= 0.1, TP 3 (0.9, 0.6, 0.15), FP 4 (0.7, 0.3, 0.25, 0.1); odds 1/9.
    assert dc.loc[0.1, "net_benefit_model"] == pytest.approx(3 / 10 - 4 / 10 / 9)
    assert dc.loc[0.1, "net_benefit_treat_all"] == pytest.approx(0.3 - 0.7 / 9)
    # pt 0.2: TP 2, FP 3 (0.7, 0.3, 0.25); odds 1/4.
    assert dc.loc[0.2, "net_benefit_model"] == pytest.approx(0.2 - 0.3 / 4)
    # pt 0.5: TP 2, FP 1 (0.7); odds 1. Treat all: 0.3 - 0.7 = -0.4.
    assert dc.loc[0.5, "net_benefit_model"] == pytest.approx(0.1)
    assert dc.loc[0.5, "net_benefit_treat_all"] == pytest.approx(-0.4)
    assert (dc["net_benefit_treat_none"] == 0).all()
    avoided = (dc["net_benefit_model"] - dc["net_benefit_treat_all"]) / (dc.index / (1 - dc.index))
    np.testing.assert_allclose(dc["interventions_avoided_per_100"], avoided * 100)


def test_decision_curve_default_range_and_checks(data):
    y, p = data
    dc = decision_curve(y, p)
    assert len(dc) == 50 and dc["threshold"].iloc[0] == 0.01 and dc["threshold"].iloc[-1] == 0.5
    assert dc["threshold"].iloc[5] == 0.06  # no arange noise
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        decision_curve(y, p, thresholds=[0.0, 0.2])


# -- calibration -------------------------------------------------------------------------------
def test_slope_and_intercept_match_statsmodels_glm(data):
    y, p = data
    p = np.clip(p * 1.2 - 0.03, 0.001, 0.999)  # miscalibrate a little
    slope, intercept = calibration_slope_intercept(y, p)
    lp = logit(p)
    glm_slope = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
    glm_intercept = sm.GLM(y, np.ones(y.size), family=sm.families.Binomial(), offset=lp).fit()
    assert slope.value == pytest.approx(glm_slope.params[1], abs=1e-8)
    assert intercept.value == pytest.approx(glm_intercept.params[0], abs=1e-8)
    low, high = glm_slope.conf_int()[1]
    assert (slope.ci_low, slope.ci_high) == pytest.approx((low, high), abs=1e-6)
    low, high = glm_intercept.conf_int()[0]
    assert (intercept.ci_low, intercept.ci_high) == pytest.approx((low, high), abs=1e-6)


@pytest.mark.parametrize(
    ("distortion", "low", "high", "phrase"),
    [
        (1.0, 0.9, 1.1, None),
        (2.0, 0.4, 0.6, "too extreme (overfitting)"),
        (0.5, 1.7, 2.3, "too modest (underfitting)"),
    ],
)
def test_calibration_slope_of_synthetic_predictors(distortion, low, high, phrase):
    y, p = cohort(20_000, seed=8, distortion=distortion)
    cal = calibration(y, p)
    assert low < cal.slope.value < high
    if phrase is None:
        assert abs(cal.intercept.value) < 0.05
        assert cal.oe_ratio == pytest.approx(1, abs=0.05)
        assert cal.interpretation is None
    else:
        assert phrase in cal.interpretation
        assert cal.interpretation.startswith(f"Slope {cal.slope.value:.2f}")


def test_intercept_interpretation_when_risks_are_too_low():
    y, p = cohort(20_000, seed=9)
    cal = calibration(y, expit(logit(p) - 0.6))
    assert cal.intercept.value == pytest.approx(0.6, abs=0.07)
    assert "underestimated on average" in cal.interpretation
    assert cal.oe_ratio > 1


def test_intercept_words_never_contradict_observed_over_expected():
    """Near-separable risks (0.001 and 0.999 with a few misses) give a large log-odds intercept
    while observed and expected events agree: the words follow the O/E, and the slope that
    cannot be estimated is said so."""
    from medinn_core.evaluation import Interval, interpret_calibration

    words = interpret_calibration(None, Interval(1.30, 0.2, 2.4), oe_ratio=1.01)
    assert "slope cannot be estimated" in words
    assert "neither over- nor underestimated" in words and "underestimated on average" not in words
    assert "overestimated on average (observed/expected 0.80)" in interpret_calibration(
        Interval(1.0, 0.9, 1.1), Interval(-0.5, -0.8, -0.2), oe_ratio=0.8
    )
    y = np.array([0] * 60 + [1] * 40)
    p = np.where(y == 1, 0.999, 0.001)
    p[[0, 60]] = [0.999, 0.001]  # one miss each way
    cal = calibration(y, p)
    assert cal.oe_ratio == pytest.approx(1.0, abs=0.05)
    assert "underestimated on average" not in (cal.interpretation or "")
    assert "overestimated on average" not in (cal.interpretation or "")


def test_brier_scores_and_oe_ratio(data):
    y, p = data
    cal = calibration(y, p)
    brier = metrics.brier_score_loss(y, p)
    assert cal.brier == pytest.approx(brier)
    prev = y.mean()
    assert cal.scaled_brier == pytest.approx(1 - brier / (prev * (1 - prev)))
    assert cal.oe_ratio == pytest.approx(y.sum() / p.sum())
    assert cal.expected_events == pytest.approx(p.sum())


def test_calibration_bins_are_quantile_groups_with_wilson_intervals(data):
    y, p = data
    bins = calibration(y, p, n_bins=10).bins
    assert bins["n"].tolist() == [200] * 10 and bins["events"].sum() == y.sum()
    assert np.all(np.diff(bins["mean_predicted"]) > 0)
    assert np.all(bins["risk_max"].to_numpy()[:-1] <= bins["risk_min"].to_numpy()[1:])
    np.testing.assert_allclose(bins["observed"], bins["events"] / bins["n"])
    low, high = proportion_confint(bins["events"], bins["n"], method="wilson")
    np.testing.assert_allclose(bins["ci_low"], low, atol=1e-12)
    np.testing.assert_allclose(bins["ci_high"], high, atol=1e-12)
    assert len(calibration_bins(y[:5], p[:5], 10)) == 5  # never more bins than patients


def test_lowess_matches_statsmodels():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=500)
    y = rng.binomial(1, x).astype(float)
    grid = np.linspace(x.min(), x.max(), 40)
    expected = sm_lowess(y, x, frac=2 / 3, it=0, delta=0.0, xvals=grid)
    np.testing.assert_allclose(lowess(x, y, grid), expected, atol=1e-6)


def test_smoothed_curve_tracks_a_calibrated_model():
    y, p = cohort(20_000, seed=10)
    cal = calibration(y, p)
    middle = cal.smooth[(cal.smooth["predicted"] > 0.1) & (cal.smooth["predicted"] < 0.8)]
    np.testing.assert_allclose(middle["observed"], middle["predicted"], atol=0.05)
    assert cal.ici < 0.02


def test_separation_and_single_class_do_not_crash():
    slope, intercept = calibration_slope_intercept([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert slope is None  # perfect separation: the slope runs off to infinity
    assert intercept is not None  # the offset model still has a finite fit
    constant, _ = calibration_slope_intercept([0, 1, 0, 1], [0.3] * 4)
    assert constant is None  # one distinct risk: no slope to estimate
    certain = evaluate_binary([0, 1, 0, 1], [0.0, 1.0, 0.0, 1.0], n_boot=50)
    assert certain.auroc.value == 1 and certain.calibration.smooth["observed"].notna().all()
    assert_plain_json(certain.to_dict())
    ev = evaluate_binary([0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4], n_boot=50)
    assert ev.auroc is None and ev.average_precision is None
    assert ev.calibration.slope is None and ev.calibration.scaled_brier is None
    assert "Only one outcome class" in ev.notes[0]
    assert_plain_json(ev.to_dict())


# -- input checks ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        ([0, 1, 1], [0.2, 0.5], "y_true has 3, y_prob has 2"),
        ([0, 1, np.nan], [0.2, 0.5, 0.1], r"1 missing values \(NaN\), e.g. at positions 2"),
        ([0, 1, 1], [0.2, 1.5, -0.1], "2 values are outside"),
        ([0, 2, 1], [0.2, 0.5, 0.1], "coded 0 .no event. / 1 .event.; found 2.0"),
        (["no", "yes"], [0.2, 0.5], "must hold numbers"),
        ([], [], "empty"),
    ],
)
def test_bad_inputs_raise_clear_data_errors(y, p, match):
    with pytest.raises(DataError, match=match):
        evaluate_binary(y, p, n_boot=0)


def test_keras_shaped_output_and_series_are_accepted(data):
    y, p = data
    ev = evaluate_binary(pd.Series(y, dtype="Int64"), p[:, None], n_boot=0)
    assert ev.auroc.value == pytest.approx(metrics.roc_auc_score(y, p))


def test_bootstrap_settings_are_checked(data):
    y, p = data
    with pytest.raises(ConfigError, match="n_boot"):
        evaluate_binary(y, p, n_boot=-1)
    with pytest.raises(ConfigError, match="n_bins"):
        calibration(y, p, n_bins=1)


# -- the whole binary evaluation ---------------------------------------------------------------
def test_binary_to_dict_has_the_cli_keys_in_plain_json(evaluation):
    d = evaluation.to_dict()
    assert_plain_json(d)
    required = (
        "auroc average_precision brier scaled_brier calibration_slope calibration_intercept "
        "oe_ratio threshold sensitivity specificity ppv npv net_benefit n task"
    )
    assert set(required.split()) <= set(d)
    assert d["task"] == "binary" and d["n"] == 2000
    assert set(d["auroc"]) == {"value", "ci_low", "ci_high"}
    assert set(d["average_precision"]) == {"value", "ci_low", "ci_high"}
    assert set(d["net_benefit"][0]) == {"threshold", "model", "treat_all"}
    assert d["calibration_slope"] == evaluation.calibration.slope.value
    assert d["threshold"] == 0.5 and d["ppv_at_prevalence"] is not None
    assert d["sample_size"]["n_parameters"] == 12


def test_binary_evaluation_is_reproducible(data):
    y, p = data
    first = evaluate_binary(y, p, n_boot=100, seed=2).to_dict()
    assert first == evaluate_binary(y, p, n_boot=100, seed=2).to_dict()
    assert first != evaluate_binary(y, p, n_boot=100, seed=3).to_dict()


def test_no_bootstrap_gives_estimates_without_bounds(data):
    y, p = data
    ev = evaluate_binary(y, p, n_boot=0)
    assert ev.auroc.ci_low is None and ev.roc_curve["tpr_low"].isna().all()
    assert_plain_json(ev.to_dict())


def test_risk_distribution_counts_every_patient(data):
    y, p = data
    dist = risk_distribution(y, p, n_bins=20)
    assert len(dist) == 40
    assert dist.groupby("outcome")["count"].sum().to_dict() == {
        "event": y.sum(),
        "no event": (1 - y).sum(),
    }
    np.testing.assert_allclose(dist.groupby("outcome")["share"].sum(), 1)
    counts, _ = np.histogram(p[y == 1], bins=np.linspace(0, 1, 21))
    np.testing.assert_array_equal(dist[dist["outcome"] == "event"]["count"], counts)


def test_sample_size_events_per_parameter():
    y = np.r_[np.ones(45), np.zeros(955)]
    small = sample_size(y, 9)
    assert (small.n, small.events, small.non_events) == (1000, 45, 955)
    assert small.events_per_parameter == 5
    assert "Only 5.0 events per model input" in small.warning
    assert sample_size(y, 4).warning is None  # 11.25 per input
    with pytest.raises(ConfigError, match="n_parameters"):
        sample_size(y, 0)


# -- baselines ---------------------------------------------------------------------------------
def test_compare_models_pairs_the_bootstrap():
    y, p = cohort(3000, seed=11)
    noisy = expit(logit(p) + np.random.default_rng(0).normal(0, 1.5, y.size))
    comparison = compare_models(y, p, noisy, names=("network", "logistic"), n_boot=300)
    network, baseline = comparison.models
    assert network.auroc.value == pytest.approx(metrics.roc_auc_score(y, p))
    assert baseline.brier == pytest.approx(metrics.brier_score_loss(y, noisy))
    diff = comparison.auroc_difference
    assert diff.value == pytest.approx(network.auroc.value - baseline.auroc.value)
    assert 0 < diff.ci_low < diff.value < diff.ci_high
    same = compare_models(y, p, p.copy(), n_boot=100).auroc_difference
    assert (same.value, same.ci_low, same.ci_high) == (0, 0, 0)  # paired: identical resamples
    d = comparison.to_dict()
    assert_plain_json(d)
    assert d["baseline"]["name"] == "logistic" and d["baseline"]["auroc"]["value"] > 0.5
    table = comparison.to_frame()
    assert list(table["name"]) == ["network", "logistic"]
    assert {"auroc", "auroc_ci_low", "auroc_ci_high", "brier", "calibration_slope"} <= set(table)
    assert table["auroc_ci_low"].iloc[0] == network.auroc.ci_low


# -- subgroups ---------------------------------------------------------------------------------
def test_subgroup_table_matches_per_group_metrics():
    y, p = cohort(1500, seed=12)
    rng = np.random.default_rng(0)
    site = pd.Series(rng.choice(["north", "south", "tiny"], p=[0.5, 0.45, 0.05], size=y.size))
    site[:10] = None
    table = subgroup_table(y, p, site, threshold=0.3, n_boot=200).set_index("group")
    assert list(table.index) == ["north", "south", "tiny", "(missing)"]
    assert table["n"].sum() == y.size
    for name in ("north", "south"):
        mask = (site == name).to_numpy()
        row = table.loc[name]
        assert row["events"] == y[mask].sum()
        assert row["auroc"] == pytest.approx(metrics.roc_auc_score(y[mask], p[mask]))
        assert row["auroc_ci_low"] < row["auroc"] < row["auroc_ci_high"]
        flagged = p[mask] >= 0.3
        assert row["sensitivity"] == pytest.approx(metrics.recall_score(y[mask], flagged))
        slope, _ = calibration_slope_intercept(y[mask], p[mask])
        assert row["calibration_slope"] == pytest.approx(slope.value)
        assert not row["too_small"]
    assert table.loc["tiny", "too_small"] and table.loc["(missing)", "too_small"]


def test_subgroups_keep_categorical_order():
    y, p = cohort(600, seed=13)
    bands = pd.Series(pd.Categorical(["old", "young"] * 300, categories=["young", "old", "none"]))
    table = subgroup_table(y, p, bands, n_boot=0)
    assert table["group"].tolist() == ["young", "old"]  # empty category left out
    with pytest.raises(DataError, match="groups has 599"):
        subgroup_table(y, p, bands[:599])


def test_age_bands():
    ages = pd.Series([25, 40, 59, 60, 79, 80, 95, None], name="age")
    bands = age_bands(ages, [40, 60, 80])
    assert bands.name == "age band"
    assert list(bands.cat.categories) == ["<40", "40–59", "60–79", "≥80"]
    assert bands.tolist()[:7] == ["<40", "40–59", "40–59", "60–79", "60–79", "≥80", "≥80"]
    assert pd.isna(bands.iloc[7]) and bands.cat.ordered
    weights = age_bands(pd.Series([55.5, 70.2]), [60.5])
    assert list(weights.cat.categories) == ["<60.5", "≥60.5"]
    assert list(age_bands(pd.Series([1.5, 2.5]), [2, 3]).cat.categories) == [
        "<2",
        "2 to <3",
        "≥3",
    ]
    with pytest.raises(ConfigError, match="increasing"):
        age_bands(ages, [60, 40])
    with pytest.raises(DataError, match=r"'age'.*'old'"):
        age_bands(pd.Series([30, "old"], name="age"), [40])


# -- multiclass --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def multiclass_data():
    rng = np.random.default_rng(14)
    scores = rng.normal(size=(1200, 3)) * 1.5 + np.array([0.5, 0.0, -0.5])
    probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    codes = np.array([rng.choice(3, p=row) for row in probs])
    return np.array(["mild", "moderate", "severe"])[codes], codes, probs


def test_multiclass_metrics_match_sklearn(multiclass_data):
    labels, codes, probs = multiclass_data
    classes = ["mild", "moderate", "severe"]
    ev = evaluate_multiclass(labels, probs, classes, n_boot=200)
    predicted = probs.argmax(axis=1)
    assert ev.accuracy.value == pytest.approx(metrics.accuracy_score(codes, predicted))
    assert ev.balanced_accuracy.value == pytest.approx(
        metrics.balanced_accuracy_score(codes, predicted)
    )
    for average, interval in (("macro", ev.macro_auroc), ("weighted", ev.weighted_auroc)):
        expected = metrics.roc_auc_score(codes, probs, multi_class="ovr", average=average)
        assert interval.value == pytest.approx(expected)
        assert interval.ci_low < interval.value < interval.ci_high
    np.testing.assert_array_equal(ev.confusion, metrics.confusion_matrix(codes, predicted))
    np.testing.assert_allclose(ev.confusion_normalised.sum(axis=1), 1)
    precision, recall, f1, support = metrics.precision_recall_fscore_support(codes, predicted)
    np.testing.assert_allclose(ev.per_class["precision"], precision)
    np.testing.assert_allclose(ev.per_class["recall"], recall)
    np.testing.assert_allclose(ev.per_class["f1"], f1)
    np.testing.assert_array_equal(ev.per_class["n"], support)
    for j in range(3):
        assert ev.per_class["auroc"][j] == pytest.approx(
            metrics.roc_auc_score(codes == j, probs[:, j])
        )
    assert ev.calibration.groupby("class")["n"].sum().tolist() == [1200] * 3
    assert set(ev.roc_curves["class"]) == set(classes)
    d = ev.to_dict()
    assert_plain_json(d)
    assert (
        d["task"] == "multiclass"
        and d["n"] == 1200
        and set(d["macro_auroc"])
        == {
            "value",
            "ci_low",
            "ci_high",
        }
    )


def test_multiclass_with_an_absent_class_says_so(multiclass_data):
    labels, _, probs = multiclass_data
    keep = labels != "severe"
    ev = evaluate_multiclass(labels[keep], probs[keep], ["mild", "moderate", "severe"], n_boot=50)
    assert np.isnan(ev.per_class["auroc"][2]) and "'severe'" in ev.notes[0]
    mask = np.isin(labels[keep], ["mild", "moderate"])
    assert mask.all()
    expected = np.mean(
        [
            metrics.roc_auc_score(labels[keep] == c, probs[keep][:, j])
            for j, c in enumerate(["mild", "moderate"])
        ]
    )
    assert ev.macro_auroc.value == pytest.approx(expected)


@pytest.mark.parametrize(
    ("labels", "probs", "match"),
    [
        (["a", "b"], [[0.5, 0.4], [0.2, 0.8]], "summing to 1; 1 rows do not"),
        (["a", "c"], [[0.5, 0.5], [0.2, 0.8]], "not among the classes 'a', 'b': 'c'"),
        (["a", "b"], [[0.5, 0.5]], r"shape \(2, 2\)"),
    ],
)
def test_multiclass_input_errors(labels, probs, match):
    with pytest.raises(DataError, match=match):
        evaluate_multiclass(labels, probs, ["a", "b"], n_boot=0)


# -- regression --------------------------------------------------------------------------------
def test_regression_metrics_match_sklearn():
    rng = np.random.default_rng(15)
    y = rng.normal(120, 20, size=800)
    pred = y + rng.normal(3, 10, size=800)
    sex = rng.choice(["F", "M"], size=800)
    ev = evaluate_regression(y, pred[:, None], groups=sex, n_boot=300)
    assert ev.mae.value == pytest.approx(metrics.mean_absolute_error(y, pred))
    assert ev.rmse.value == pytest.approx(metrics.root_mean_squared_error(y, pred))
    assert ev.r2.value == pytest.approx(metrics.r2_score(y, pred))
    assert ev.bias == pytest.approx(np.mean(pred - y))
    for interval in (ev.mae, ev.rmse, ev.r2):
        assert interval.ci_low < interval.value < interval.ci_high
    np.testing.assert_allclose(ev.points["residual"], y - pred)
    f = sex == "F"
    row = ev.by_group.set_index("group").loc["F"]
    assert row["mae"] == pytest.approx(metrics.mean_absolute_error(y[f], pred[f]))
    assert row["n"] == f.sum()
    d = ev.to_dict()
    assert_plain_json(d)
    assert {"mae", "rmse", "r2", "n", "task"} <= set(d) and d["task"] == "regression"


def test_regression_bootstrap_equals_sklearn_on_each_resample():
    rng = np.random.default_rng(16)
    y = rng.normal(size=300) * 1000 + 1e6  # large offset: sums of squares stay accurate
    pred = y + rng.normal(size=300) * 300
    idx = bootstrap_indices(300, 3, seed=0)
    boot = regression_resamples(y, pred, idx)
    for b, rows in enumerate(idx):
        assert boot["mae"][b] == pytest.approx(metrics.mean_absolute_error(y[rows], pred[rows]))
        assert boot["rmse"][b] == pytest.approx(
            metrics.root_mean_squared_error(y[rows], pred[rows])
        )
        assert boot["r2"][b] == pytest.approx(metrics.r2_score(y[rows], pred[rows]), abs=1e-9)


def test_regression_with_constant_outcome_has_no_r2():
    ev = evaluate_regression([5.0] * 30, np.linspace(4, 6, 30), n_boot=50)
    assert ev.r2 is None and "R² is undefined" in ev.notes[0]
    assert_plain_json(ev.to_dict())
    table = regression_by_group([1.0, 2, 3, 4], [1.5, 2, 2, 4], ["a", "a", "b", None])
    assert table["group"].tolist() == ["a", "b", "(missing)"]
    assert table["mae"].tolist() == [0.25, 1.0, 0.0]


def test_evaluation_imports_neither_streamlit_nor_test_only_packages():
    code = (
        "import sys, medinn_core.evaluation, medinn_core.evaluation; "
        "print([m for m in ('streamlit', 'statsmodels', 'keras') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
