"""The cross-fitted ensemble: schemes, members, recalibration, held-out outputs, uncertainty
columns, exact explanations (issue 13)."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, softmax

from medinn_core import calibrate
from medinn_core.config import TrainConfig
from medinn_core.errors import ConfigError
from medinn_core.io import load_bundle, save_bundle
from medinn_core.predict import score_frame, score_patients
from medinn_core.schema import infer_schema
from medinn_core.synthetic import make_drug_response, make_toxicity_cohort
from medinn_core.train import (
    FOLDS_UP_TO,
    assign_folds,
    choose_scheme,
    held_out,
    train_model,
)

from ..conftest import FAST


def test_small_uploads_are_cross_fitted_and_large_ones_split():
    config = TrainConfig()
    small, large = choose_scheme(300, config), choose_scheme(FOLDS_UP_TO + 1, config)
    assert (small.name, small.n_members) == ("folds", 5)
    assert "300 patients" in small.reason
    assert (large.name, large.n_members) == ("split", config.split_members)
    assert "20,000" in large.reason
    assert choose_scheme(FOLDS_UP_TO, config).name == "folds"
    assert choose_scheme(300, replace(config, scheme="split")).name == "split"
    assert choose_scheme(50_000, replace(config, scheme="folds")).name == "folds"
    with pytest.raises(ConfigError, match="coverage"):
        TrainConfig(coverage=1.0)


def test_folds_are_stratified_seeded_and_keep_a_patient_together(cardiology_df):
    schema = infer_schema(cardiology_df, "mace_1y")
    folds = assign_folds(cardiology_df, schema, TrainConfig())
    assert np.array_equal(folds, assign_folds(cardiology_df, schema, TrainConfig()))
    assert sorted(np.unique(folds)) == [0, 1, 2, 3, 4]
    prevalence = cardiology_df["mace_1y"].mean()
    for f in range(5):
        assert cardiology_df["mace_1y"][folds == f].mean() == pytest.approx(prevalence, abs=0.02)
    repeated = pd.concat([cardiology_df, cardiology_df.iloc[:200]], ignore_index=True)
    folds = assign_folds(repeated, infer_schema(repeated, "mace_1y"), TrainConfig())
    per_patient = pd.Series(folds).groupby(repeated["patient_id"].to_numpy()).nunique()
    assert per_patient.max() == 1


def test_every_patient_is_validated_out_of_fold(binary_result, cardiology_df):
    model = binary_result.model
    assert binary_result.scheme.name == "folds" and model.n_members == FAST.folds
    held = model.heldout_
    assert len(held["rows"]) == len(cardiology_df)  # nobody set aside
    # the internal validation is the out-of-fold one, and is rebuilt the same from the table
    rebuilt = held_out(model, cardiology_df)
    assert rebuilt.output is not None and len(rebuilt.rows) == len(cardiology_df)
    assert np.allclose(rebuilt.output, held["output"], atol=1e-5)
    from sklearn.metrics import roc_auc_score

    auroc = roc_auc_score(model.encode_target(cardiology_df), rebuilt.output)
    assert auroc == pytest.approx(binary_result.metrics["auroc"], abs=1e-4)
    # the baselines are cross-fitted on the same folds
    assert set(rebuilt.baselines) == {"logistic_regression", "gradient_boosting"}
    assert rebuilt.baselines["logistic_regression"].shape == (len(cardiology_df),)


def test_the_model_is_the_recalibrated_mean_of_its_members(binary_result, cardiology_df):
    model = binary_result.model
    x = model.transform(cardiology_df.head(50))
    logits = model.member_output(x, space="logit")  # (rows, members, 1), recalibrated
    assert logits.shape == (50, model.n_members, 1)
    assert np.allclose(expit(logits.mean(axis=1)[:, 0]), model.raw_output(x)[:, 0], atol=1e-5)
    assert not np.allclose(logits[:, 0], logits[:, 1])  # the members differ
    scored = score_frame(model, cardiology_df.head(50))
    assert list(scored.columns) == ["patient_id", "risk", "risk_low", "risk_high", "prediction"]
    probs = expit(logits[:, :, 0])
    assert np.allclose(scored["risk_low"], np.minimum(probs.min(axis=1), scored["risk"]))
    assert np.allclose(scored["risk_high"], np.maximum(probs.max(axis=1), scored["risk"]))
    assert (scored["risk_low"] <= scored["risk"]).all()
    assert (scored["risk"] <= scored["risk_high"]).all()


def test_uncertain_patients_straddle_the_threshold(binary_result, cardiology_df, saved_binary):
    bundle = load_bundle(saved_binary)
    scoring = score_patients(bundle, cardiology_df)
    out = scoring.outputs
    threshold = float(np.median(out["risk"]))
    flagged = scoring.uncertain(threshold)
    expected = (out["risk_low"] < threshold) & (out["risk_high"] >= threshold)
    assert flagged.equals(expected.astype(bool)) and flagged.any()
    table = scoring.table(threshold)
    assert {"range (%)", "uncertain"} <= set(table.columns)
    first = table.iloc[0]
    low, high = (float(v) for v in first["range (%)"].split("–"))
    assert low <= first["risk (%)"] + 0.5 and first["risk (%)"] - 0.5 <= high


def test_a_saved_ensemble_keeps_its_scheme_recalibration_and_ranges(
    binary_result, cardiology_df, saved_binary
):
    bundle = load_bundle(saved_binary)
    meta = bundle.metadata
    assert meta["scheme"]["name"] == "folds" and meta["scheme"]["members"] == FAST.folds
    assert meta["threshold_rule"] == "Youden's J on the out-of-fold predictions"
    assert meta["recalibration"]["form"] in ("none", "intercept", "intercept and slope")
    before = score_frame(binary_result.model, cardiology_df.head(100))
    after = score_frame(bundle.model, cardiology_df.head(100))
    pd.testing.assert_frame_equal(before, after, atol=1e-6, check_exact=False)
    rebuilt = held_out(bundle.model, cardiology_df)
    assert np.allclose(rebuilt.output, binary_result.model.heldout_["output"], atol=1e-5)


def test_closed_test_recalibration_corrects_only_what_is_off():
    rng = np.random.default_rng(0)
    true_logit = rng.normal(-1, 1.2, 20_000)
    y = (rng.random(20_000) < expit(true_logit)).astype(float)
    assert calibrate.fit_recalibration("binary", true_logit, y).form == "none"
    shifted = calibrate.fit_recalibration("binary", true_logit + 1.0, y)
    assert shifted.form == "intercept" and shifted.intercept == pytest.approx(-1.0, abs=0.1)
    extreme = calibrate.fit_recalibration("binary", 2.0 * true_logit, y)
    assert extreme.form == "intercept and slope"
    assert extreme.slope == pytest.approx(0.5, abs=0.05)
    k_logits = rng.normal(0, 1, (20_000, 3))
    classes = np.array([rng.choice(3, p=p) for p in softmax(k_logits, axis=1)])
    assert calibrate.fit_recalibration("multiclass", k_logits, classes).form == "none"
    hot = calibrate.fit_recalibration("multiclass", 3.0 * k_logits, classes)
    assert hot.form == "temperature" and hot.slope == pytest.approx(1 / 3, abs=0.05)


def test_conformal_quantile_has_the_finite_sample_rank():
    scores = np.arange(1, 20, dtype=float)  # 19 scores: rank ceil(20 * 0.9) = 18
    assert calibrate.conformal_quantile(scores, 0.9) == 18.0
    assert calibrate.conformal_quantile(np.arange(5.0), 0.9) == float("inf")  # too few
    sets = calibrate.prediction_sets(np.array([[0.5, 0.3, 0.2], [0.05, 0.05, 0.9]]), 0.75)
    assert sets.tolist() == [[True, True, False], [False, False, True]]  # 1 - 0.2 > 0.75


def test_regression_intervals_cover_new_patients(tmp_path):
    """On 5,000 new patients, 90 % intervals fitted on 2,000 cover 0.87-0.93 of them, and every
    output column is there."""
    train = make_drug_response(2000, seed=11)
    new = make_drug_response(5000, seed=12)
    target = "stable_dose_mg_week"
    config = replace(FAST, epochs=40, patience=5)
    result = train_model(train, infer_schema(train, target), config, baselines=False)
    assert 0.85 <= result.metrics["coverage"] <= 0.95
    scored = score_frame(result.model, new)
    assert list(scored.columns) == ["patient_id", "prediction", "lower", "upper"]
    y = new[target].to_numpy()
    coverage = ((scored["lower"] <= y) & (y <= scored["upper"])).mean()
    assert 0.87 <= coverage <= 0.93
    half = result.model.conformal_quantile
    assert np.allclose(scored["upper"] - scored["prediction"], half)
    folder = save_bundle(result, tmp_path / "dose", "dose")
    again = score_frame(load_bundle(folder).model, new.head(20))
    pd.testing.assert_frame_equal(again, scored.head(20), atol=1e-6, check_exact=False)


def test_multiclass_sets_cover_new_patients():
    train = make_toxicity_cohort(2000, seed=21)
    new = make_toxicity_cohort(5000, seed=22)
    target = "toxicity_grade"
    config = replace(FAST, epochs=40, patience=5)
    result = train_model(train, infer_schema(train, target), config, baselines=False)
    model = result.model
    scored = score_frame(model, new)
    assert list(scored.columns)[-2:] == ["prediction", "prediction_set"]
    sets = scored["prediction_set"].str.split("|")
    assert all(p in s for p, s in zip(scored["prediction"], sets, strict=True))
    assert all(set(s) <= set(model.classes_) for s in sets)
    y = new[target].astype(str)
    coverage = np.mean([label in s for label, s in zip(y, sets, strict=True)])
    assert 0.87 <= coverage <= 0.93
    assert 0.85 <= result.metrics["coverage"] <= 0.95
    assert 1.0 <= result.metrics["mean_set_size"] < len(model.classes_)


def test_ensemble_explanations_add_up_and_average_the_members(binary_result, cardiology_df):
    from medinn_core.explain import dense_stack_from_model, explain_encoded

    model = binary_result.model
    x = model.transform(cardiology_df.head(40))
    background = binary_result.background
    expl = explain_encoded(model.model_, x, background, space="logit")
    assert expl.method == "deeplift"
    total = expl.base_values + expl.values.sum(axis=1)
    assert np.max(np.abs(total - expl.outputs)) <= 1e-6
    risk = explain_encoded(model.model_, x, background)  # probability space adds up too
    assert np.max(np.abs(risk.base_values + risk.values.sum(axis=1) - risk.outputs)) <= 1e-6
    assert np.allclose(risk.outputs, model.raw_output(x)[:, 0], atol=1e-6)
    # the mean of what each member alone (with its own linear path) contributes
    stack = dense_stack_from_model(model.model_)
    assert len(stack.members) == model.n_members
    from medinn_core.explain._deeplift import DenseStack, EnsembleStack, deeplift

    names = {layer.name for layer in model.model_.layers}
    assert "spline_basis" in names and len(stack.paths) == 1  # the defaults draw splines
    basis_kernel, basis_bias = model.model_.get_layer("spline_basis").get_weights()
    members = []
    for k, member in enumerate(stack.members):
        linear = np.zeros_like(stack.linear)
        if f"member_{k}_linear" in names:
            linear = np.asarray(model.model_.get_layer(f"member_{k}_linear").get_weights()[0])
        (spline,) = model.model_.get_layer(f"member_{k}_spline").get_weights()
        path = DenseStack(
            (basis_kernel.astype(float), spline.astype(float)),
            (basis_bias.astype(float), np.zeros(spline.shape[1])),
            ("relu", "linear"),
        )
        members.append(EnsembleStack((member,), linear, "linear", (path,)))
    parts = [deeplift(m, x, background)[0][..., 0] for m in members]
    assert np.allclose(expl.values, np.sum(parts, axis=0), atol=1e-9)
    assert isinstance(stack.members[0], DenseStack)


def test_split_scheme_trains_several_members_on_the_training_split(cardiology_df):
    schema = infer_schema(cardiology_df, "mace_1y")
    config = replace(FAST, scheme="split", split_members=2)
    result = train_model(cardiology_df, schema, config)
    model = result.model
    assert result.scheme.name == "split" and model.n_members == 2
    assert len(result.split.test) > 0 and result.split.folds is None
    held = held_out(model, cardiology_df)
    assert held.output is None and held.rows.index.equals(
        cardiology_df.loc[result.split.test].index
    )
    assert set(result.baselines) == {"logistic_regression", "gradient_boosting"}


def test_spline_knots_are_averages_of_many_rows_and_skip_indicators():
    from medinn_core.network import spline_knots

    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(size=2000), rng.integers(0, 2, 2000), rng.normal(size=2000)])
    knots = spline_knots(x, 5)
    assert set(knots[:, 0].astype(int)) == {0, 2}  # the 0/1 column gets none
    assert len(knots) == 10
    ranked = np.sort(x[:, 0])
    for q, knot in zip(np.arange(1, 6) / 6, knots[knots[:, 0] == 0, 1], strict=True):
        band = ranked[int(np.floor((q - 0.05) * 2000)) : int(np.ceil((q + 0.05) * 2000))]
        assert knot == pytest.approx(band.mean(), abs=5e-4) and len(band) >= 200
    # no knot is one patient's value: each is rounded off every row
    assert np.min(np.abs(x[:, [0]] - knots[knots[:, 0] == 0, 1][None, :])) > 0
    assert len(spline_knots(x, 0)) == 0


def test_the_spline_path_draws_a_threshold_the_linear_model_cannot():
    # risk rises only above x = 1 (as blood pressure above 140 does); 8 noise inputs
    rng = np.random.default_rng(3)
    n = 4000
    df = pd.DataFrame(rng.normal(size=(n, 9)), columns=["x", *[f"noise_{i}" for i in range(8)]])
    logit = -2.5 + 3.0 * np.maximum(df["x"] - 1.0, 0)
    df["event"] = (rng.random(n) < expit(logit)).astype(int)
    new = pd.DataFrame(rng.normal(size=(n, 9)), columns=df.columns[:-1])
    true_new = expit(-2.5 + 3.0 * np.maximum(new["x"] - 1.0, 0))
    schema = infer_schema(df, "event")
    config = replace(FAST, epochs=40, patience=5)
    gaps = {}
    for knots in (0, 5):
        model = train_model(df, schema, replace(config, knots=knots), baselines=False).model
        names = {layer.name for layer in model.model_.layers}
        assert ("spline_basis" in names) == (knots > 0)
        risk = model.predict_proba(new)[:, 1]
        above = new["x"].to_numpy() > 1.5
        gaps[knots] = float(np.mean(np.abs(risk - true_new)[above]))
    # above the threshold, hinges follow the true risk more closely than the straight line
    # and the hidden layers do (measured: 0.12 against 0.20)
    assert gaps[5] < 0.8 * gaps[0]


def test_the_architecture_sentence_names_the_spline_path_only_when_there_is_one():
    from medinn_core.network import describe_network

    with_spline = describe_network(TrainConfig(network="mlp"), (), 13, 5)
    assert "spline path (hinges at up to 5 knots" in with_spline
    assert "ensemble of 5 members" in with_spline
    assert "spline" not in describe_network(TrainConfig(network="mlp", knots=0), (), 13, 5)
