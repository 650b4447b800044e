"""What the Explain page reads from the core: threshold splits, the terms, the inputs table."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from medinn_core.errors import ConfigError, DataError, ModelError
from medinn_core.explain import (
    INPUT_COLUMNS,
    explain_bundle,
    explain_model,
    explanation_terms,
    model_inputs,
)
from medinn_core.io import bundle_from_result
from medinn_core.schema import Kind
from medinn_core.synthetic import make_cardiology_cohort

THRESHOLDS = (0.05, 0.1, 0.2, 0.35, 0.5, 0.8)


@pytest.fixture(scope="module")
def binary_bundle(binary_result):
    return bundle_from_result(binary_result, "cardio")


@pytest.fixture(scope="module")
def patients():
    return make_cardiology_cohort(300, seed=31, id_start=7001)


@pytest.fixture(scope="module")
def both_spaces(binary_bundle, patients):
    """The same patients explained in probability and in log-odds space."""
    return tuple(explain_bundle(binary_bundle, patients, space=s) for s in ("probability", "logit"))


# -- at or above a risk threshold ---------------------------------------------------------------
@pytest.mark.parametrize("risk", THRESHOLDS)
def test_a_threshold_picks_the_same_patients_in_both_spaces(
    both_spaces, binary_bundle, patients, risk
):
    probability, logit = both_spaces
    high = probability.at_or_above(risk)
    assert high.dtype == bool and high.shape == (len(patients),)
    assert np.array_equal(high, logit.at_or_above(risk))
    assert np.array_equal(high, binary_bundle.model.predict_proba(patients)[:, 1] >= risk)


def test_thresholds_split_the_patients_into_nested_groups(both_spaces):
    probability, _ = both_spaces
    sizes = [int(probability.at_or_above(r).sum()) for r in THRESHOLDS]
    assert sizes == sorted(sizes, reverse=True)
    assert 0 < sizes[2] < len(probability.output)  # a real split at 20 %


def test_a_risk_threshold_must_lie_strictly_between_0_and_1(both_spaces):
    for risk in (0.0, 1.0, -0.2, 1.5):
        with pytest.raises(ConfigError, match="strictly between 0 and 1"):
            both_spaces[1].at_or_above(risk)


def test_a_risk_threshold_is_refused_where_the_output_is_not_a_risk(
    regression_result, multiclass_result
):
    from medinn_core.synthetic import make_drug_response, make_toxicity_cohort

    dose = explain_model(
        regression_result.model, regression_result.background, make_drug_response(20, seed=5)
    )
    with pytest.raises(ConfigError, match="predicted value, not a risk"):
        dose.at_or_above(0.5)
    toxicity = make_toxicity_cohort(20, seed=6)
    logits = explain_model(
        multiclass_result.model, multiclass_result.background, toxicity, space="logit"
    )
    with pytest.raises(ConfigError, match="only a binary model's output is a log-odds"):
        logits.at_or_above(0.5)
    # a class probability is a risk: compared as it is
    probability = explain_model(multiclass_result.model, multiclass_result.background, toxicity)
    assert np.array_equal(probability.at_or_above(0.3), probability.output >= 0.3)


def test_the_median_splits_the_patients_in_half(both_spaces):
    for expl in both_spaces:
        high, middle = expl.above_median()
        assert middle == pytest.approx(float(np.median(expl.output)))
        assert np.array_equal(high, expl.output >= middle)
        assert abs(int(high.sum()) - len(high) / 2) <= 1
    empty = dataclasses.replace(
        both_spaces[0],
        contributions=both_spaces[0].contributions.iloc[:0],
        output=both_spaces[0].output[:0],
        raw_values=both_spaces[0].raw_values.iloc[:0],
    )
    with pytest.raises(DataError, match="no patients"):
        empty.above_median()


# -- explaining a bundle ------------------------------------------------------------------------
def test_a_bundle_is_explained_against_its_own_background(binary_bundle, binary_result, patients):
    direct = explain_model(
        binary_result.model,
        binary_result.background,
        patients,
        background_weights=binary_result.background_weights,
    )
    expl = explain_bundle(binary_bundle, patients)
    assert expl.task == "binary" and expl.class_name == direct.class_name
    np.testing.assert_array_equal(expl.output, direct.output)
    np.testing.assert_array_equal(expl.contributions.to_numpy(), direct.contributions.to_numpy())


def test_the_average_prediction_weights_each_centroid_by_its_patients(
    binary_bundle, binary_result, cardiology_df, patients
):
    """k-means clusters differ in size: weighted by their shares, the explanations' starting
    point is nearer the cohort's mean prediction than a plain mean over the centroids."""
    weights = binary_bundle.background_weights
    assert weights.shape == (len(binary_bundle.background),)
    assert (weights > 0).all() and abs(weights.sum() - 1) < 1e-5
    assert weights.max() > 2 * weights.min()  # the shares really differ
    weighted = explain_bundle(binary_bundle, patients)
    plain = explain_model(binary_result.model, binary_result.background, patients)
    for expl in (weighted, plain):
        assert expl.additivity_error <= 1e-6
    np.testing.assert_allclose(weighted.output, plain.output, rtol=0, atol=1e-12)
    train = cardiology_df.loc[binary_result.split.train]
    mean_prediction = binary_result.model.predict_proba(train)[:, 1].mean()
    assert abs(weighted.base_value - mean_prediction) < abs(plain.base_value - mean_prediction)


def test_saved_bundles_keep_the_background_weights(saved_binary, binary_result):
    from medinn_core.io import load_bundle

    loaded = load_bundle(saved_binary)
    np.testing.assert_allclose(
        loaded.background_weights, binary_result.background_weights, atol=1e-6
    )
    older = dataclasses.replace(
        loaded, metadata={k: v for k, v in loaded.metadata.items() if k != "background_weights"}
    )
    assert older.background_weights is None  # bundles saved before: equal weights
    assert explain_bundle(older, make_cardiology_cohort(20, seed=5)).additivity_error <= 1e-6


def test_a_bundle_without_background_is_refused_by_name(binary_bundle, patients):
    old = dataclasses.replace(binary_bundle, background=None)
    with pytest.raises(ModelError, match="Model 'cardio' has no background summary"):
        explain_bundle(old, patients)


# -- terms --------------------------------------------------------------------------------------
def test_a_binary_models_terms(binary_bundle):
    model = binary_bundle.model
    terms = explanation_terms(binary_bundle)
    features = model.schema.features
    assert dict(terms.units) == {c.name: c.unit for c in features}
    assert terms.units["age"] == "y"
    for col in features:
        if col.kind == Kind.NUMERIC:
            assert terms.imputed[col.name] == model.imputed_value(col.name) is not None
        else:
            assert terms.imputed[col.name] is None
    assert terms.output == {"output_unit": "", "output_name": ""}  # a risk, in %
    with pytest.raises(TypeError):
        terms.units["age"] = "months"  # read-only


def test_a_multiclass_models_terms_name_the_class(multiclass_result):
    bundle = bundle_from_result(multiclass_result, "toxicity")
    classes = list(multiclass_result.model.classes_)
    assert explanation_terms(bundle).output_name == f"Probability of {classes[-1]}"
    assert explanation_terms(bundle, classes[0]).output == {
        "output_unit": "",
        "output_name": f"Probability of {classes[0]}",
    }
    with pytest.raises(ConfigError, match="'fatal' is not one of the model's classes"):
        explanation_terms(bundle, "fatal")


def test_a_regression_models_terms_carry_the_targets_unit(regression_result):
    model = copy.copy(regression_result.model)
    target = model.schema.target
    model.schema = model.schema.with_column(target, unit="mg/week")
    bundle = dataclasses.replace(bundle_from_result(regression_result, "dose"), model=model)
    terms = explanation_terms(bundle)
    assert terms.output == {"output_unit": "mg/week", "output_name": f"Predicted {target}"}


# -- the inputs table ---------------------------------------------------------------------------
def test_the_inputs_table_lists_what_the_model_learned(binary_bundle, binary_result):
    model = binary_bundle.model
    inputs = model_inputs(binary_bundle)
    table = inputs.table.set_index("input")
    assert tuple(inputs.table.columns) == INPUT_COLUMNS
    assert list(table.index) == list(model.schema.feature_names)
    assert inputs.n_encoded == model.n_inputs == binary_result.background.shape[1]
    assert inputs.n_encoded > len(table)  # one-hot levels and missing indicators

    age = table.loc["age"]
    low, high = model.training_range("age")
    assert (age["kind"], age["unit"]) == ("numeric", "y")
    assert age["seen in training"] == f"{low:.4g} to {high:.4g}"
    assert age["when missing"] == f"replaced by the median, {model.imputed_value('age'):.4g}"

    site = table.loc["site"]
    assert site["kind"] == "categorical" and site["when missing"] == "its own category"
    assert site["seen in training"].split(", ") == model.training_categories("site")
    assert table.loc["sex", "kind"] == "binary"
