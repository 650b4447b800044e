"""One evaluation of a saved model for any task, the questions asked of it afterwards, and what
the report shows of it. Each answer is checked against the core's array functions on the same
outputs, or against the numbers recorded at training time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medinn_core.errors import ConfigError, DataError, SchemaError
from medinn_core.evaluation import (
    GRADIENT_BOOSTING,
    LOGISTIC_REGRESSION,
    MIN_COMPARISON_RESAMPLES,
    NETWORK,
    BinaryEvaluation,
    ModelEvaluation,
    SubgroupTable,
    build_report,
    decision_curve,
    evaluate_bundle,
    regression_by_group,
    sample_size,
    subgroup_table,
    subgroup_values,
    threshold_metrics,
    threshold_presets,
)
from medinn_core.io import load_bundle, save_bundle

N_BOOT = 60  # above MIN_COMPARISON_RESAMPLES: the two comparisons then agree


@pytest.fixture(scope="module")
def bundle(saved_binary):
    return load_bundle(saved_binary)


@pytest.fixture(scope="module")
def test_rows(binary_result, cardiology_df):
    """Labelled patients, with two rows whose outcome is unknown."""
    rows = cardiology_df.sample(300, random_state=1).copy()
    unknown = rows.iloc[:2].assign(mace_1y=np.nan)
    return pd.concat([rows, unknown])


@pytest.fixture(scope="module")
def evaluated(bundle, test_rows) -> ModelEvaluation:
    return evaluate_bundle(bundle, test_rows, n_boot=N_BOOT, source="'test.csv'")


@pytest.fixture(scope="module")
def other_tasks(multiclass_result, regression_result, tmp_path_factory):
    from medinn_core.synthetic import make_drug_response, make_toxicity_cohort

    folder = tmp_path_factory.mktemp("other_tasks")
    tox = load_bundle(save_bundle(multiclass_result, folder / "tox", "tox"))
    dose = load_bundle(save_bundle(regression_result, folder / "dose", "dose"))
    return (
        (tox, evaluate_bundle(tox, make_toxicity_cohort(150, seed=8), n_boot=N_BOOT)),
        (dose, evaluate_bundle(dose, make_drug_response(150, seed=8), n_boot=N_BOOT)),
    )


# -- the evaluation ---------------------------------------------------------------------------
def test_the_evaluation_keeps_the_labelled_rows_their_outcomes_and_outputs(
    bundle, evaluated, test_rows
):
    labelled = test_rows[test_rows["mace_1y"].notna()]
    assert evaluated.n_dropped == 2 and evaluated.to_dict()["n_rows_without_target"] == 2
    assert evaluated.rows.index.equals(labelled.index)
    assert np.array_equal(evaluated.observed, bundle.model.encode_target(labelled))
    assert np.allclose(evaluated.output, bundle.model.predict_proba(labelled)[:, 1])
    assert evaluated.inputs.shape == (len(labelled), len(bundle.model.preprocessor_.feature_names_))
    ev = evaluated.evaluation
    assert isinstance(ev, BinaryEvaluation) and ev.n == len(labelled)
    assert ev.threshold.threshold == pytest.approx(bundle.model.threshold_)


def test_the_sample_size_is_checked_and_its_warning_is_not_a_note(bundle, evaluated):
    expected = sample_size(evaluated.observed, evaluated.inputs.shape[1])
    assert evaluated.sample_size == expected
    assert expected.warning in evaluated.evaluation.notes  # the JSON output keeps it
    assert expected.warning not in evaluated.notes


def test_the_rows_must_have_the_outcome_and_the_inputs(bundle, test_rows):
    with pytest.raises(SchemaError, match="'test.csv' has no target column 'mace_1y'"):
        evaluate_bundle(bundle, test_rows.drop(columns="mace_1y"), source="'test.csv'")
    with pytest.raises(SchemaError, match="'test.csv' lacks 1 column.*'hdl'"):
        evaluate_bundle(bundle, test_rows.drop(columns="hdl"), source="'test.csv'")
    with pytest.raises(DataError, match="'mace_1y' in 'test.csv' is empty in every row"):
        evaluate_bundle(bundle, test_rows.assign(mace_1y=np.nan), source="'test.csv'")


# -- binary follow-up questions ---------------------------------------------------------------
def test_metrics_at_another_threshold_and_prevalence(evaluated):
    y, p = evaluated.observed, evaluated.output
    at = evaluated.at(0.2, prevalence=0.05)
    assert at.to_dict() == threshold_metrics(y, p, 0.2, 0.05).to_dict()
    assert at.ppv_at_prevalence < evaluated.at(0.2, prevalence=0.5).ppv_at_prevalence
    with pytest.raises(ConfigError, match="threshold"):
        evaluated.at(1.5)


def test_presets_and_decision_curve(evaluated):
    y, p = evaluated.observed, evaluated.output
    pd.testing.assert_frame_equal(
        evaluated.presets(0.8, user_threshold=0.3),
        threshold_presets(y, p, target_sensitivity=0.8, user_threshold=0.3),
    )
    curve = evaluated.decision_curve(5, 30)
    assert len(curve) == 26 and curve["threshold"].iloc[[0, -1]].tolist() == [0.05, 0.3]
    pd.testing.assert_frame_equal(curve, decision_curve(y, p, np.arange(5, 31) / 100))
    pd.testing.assert_frame_equal(evaluated.decision_curve(), evaluated.evaluation.decision_curve)
    with pytest.raises(ConfigError, match="got 30 % to 5 %"):
        evaluated.decision_curve(30, 5)


def test_subgroups_by_a_column_at_a_threshold(evaluated):
    table = evaluated.subgroups("sex", 0.25)
    groups = subgroup_values(evaluated.rows, "sex")
    expected = subgroup_table(
        evaluated.observed, evaluated.output, groups, 0.25, n_boot=N_BOOT, seed=0
    )
    assert (table.column, table.label) == ("sex", "sex")
    pd.testing.assert_frame_equal(table.table, expected)
    assert table.table["n"].sum() == len(evaluated.rows)
    assert evaluated.subgroups("age").label == "age band"  # numbers cut at their quartiles
    assert "sex" in evaluated.subgroup_columns and "mace_1y" not in evaluated.subgroup_columns
    with pytest.raises(DataError, match="Subgroup column 'ward' is not in 'test.csv'"):
        evaluated.subgroups("ward")


def test_comparisons_are_paired_and_named_for_a_reader(
    bundle, evaluated, binary_result, cardiology_df
):
    from medinn_core.train import baseline_output, fit_gradient_boosting, held_out

    logistic = evaluated.logistic_comparison()
    assert [m.name for m in logistic.models] == [NETWORK, LOGISTIC_REGRESSION]
    # the same pair as the JSON output's comparison, only named for a reader
    stored = evaluated.comparison
    assert [m.name for m in stored.models] == ["network", "logistic_regression"]
    assert logistic.auroc_difference == stored.auroc_difference
    base = baseline_output(bundle.baseline, "binary", evaluated.inputs)
    assert np.array_equal(base, evaluated.baseline_output)
    boosting = fit_gradient_boosting(bundle.model, cardiology_df.loc[binary_result.split.train])
    boosted = evaluated.compare_with(boosting)
    assert [m.name for m in boosted.models] == [NETWORK, GRADIENT_BOOSTING]
    # On the internal validation (out of fold), the cross-fitted gradient boosting is the
    # training-time baseline, number for number.
    held = held_out(bundle.model, cardiology_df)
    internal = evaluate_bundle(
        bundle,
        held.rows,
        n_boot=0,
        output=held.output,
        baseline=held.baselines["logistic_regression"],
    )
    assert internal.evaluation.auroc.value == pytest.approx(
        bundle.metadata["metrics"]["auroc"], abs=1e-5
    )
    boosted = internal.compare_outputs(held.baselines["gradient_boosting"])
    assert boosted.models[1].auroc.value == pytest.approx(
        bundle.metadata["baselines"]["gradient_boosting"]["auroc"], abs=1e-9
    )
    assert internal.logistic_comparison().models[1].auroc.value == pytest.approx(
        bundle.metadata["baselines"]["logistic_regression"]["auroc"], abs=1e-9
    )


def test_without_resamples_a_shown_comparison_still_has_an_interval(bundle, test_rows):
    quick = evaluate_bundle(bundle, test_rows, n_boot=0)
    assert quick.comparison.auroc_difference.ci_low is None  # as asked, for the JSON output
    shown = quick.logistic_comparison()
    assert shown.n_boot == MIN_COMPARISON_RESAMPLES and shown.auroc_difference.ci_low is not None


# -- what the report shows --------------------------------------------------------------------
def test_shown_defaults_to_the_evaluation_itself(evaluated):
    shown = evaluated.shown()
    assert shown.evaluation is evaluated
    assert shown.threshold is evaluated.evaluation.threshold
    assert shown.decision_curve is evaluated.evaluation.decision_curve
    assert shown.comparison is evaluated.comparison and shown.subgroups == ()


def test_shown_takes_the_page_choices(bundle, evaluated):
    computed = evaluated.subgroups("site", 0.3)
    logistic = evaluated.logistic_comparison()
    shown = evaluated.shown(
        threshold=0.3, decision_range=(5, 30), subgroups=["sex", computed], comparison=logistic
    )
    assert shown.threshold.to_dict() == evaluated.at(0.3).to_dict()
    assert len(shown.decision_curve) == 26 and shown.comparison is logistic
    assert [s.column for s in shown.subgroups] == ["sex", "site"] and shown.subgroups[1] is computed
    assert all(isinstance(s, SubgroupTable) for s in shown.subgroups)
    pd.testing.assert_frame_equal(shown.subgroups[0].table, evaluated.subgroups("sex", 0.3).table)

    html = build_report(bundle, shown, data_name="test split", data=evaluated.rows)
    assert "Confusion matrix at 30%" in html
    assert "<h3>sex</h3>" in html and "<h3>site</h3>" in html
    assert f"{NETWORK} − {LOGISTIC_REGRESSION}" in html


def test_a_report_refuses_another_models_evaluation(other_tasks, evaluated):
    (tox, _), _ = other_tasks
    with pytest.raises(ConfigError, match="evaluate this model to report on it"):
        build_report(tox, evaluated.shown(), data_name="x")


# -- multiclass and regression ----------------------------------------------------------------
def test_multiclass_has_no_threshold_and_no_subgroup_tables(other_tasks):
    (_, tox), _ = other_tasks
    assert tox.task == "multiclass" and tox.subgroup_columns == []
    assert tox.output.shape == (tox.evaluation.n, len(tox.evaluation.classes))
    assert tox.sample_size is None and tox.logistic_comparison() is None
    with pytest.raises(ConfigError, match="binary models; this model is multiclass"):
        tox.at(0.5)
    with pytest.raises(ConfigError, match="binary models; this model is multiclass"):
        tox.shown(threshold=0.5)
    with pytest.raises(ConfigError, match="binary and regression models"):
        tox.shown(subgroups=["sex"])
    assert tox.shown().threshold is None and tox.shown().decision_curve is None


def test_regression_error_by_subgroup_in_the_report(other_tasks):
    _, (dose_bundle, dose) = other_tasks
    table = dose.subgroups("sex")
    expected = regression_by_group(dose.observed, dose.output, subgroup_values(dose.rows, "sex"))
    pd.testing.assert_frame_equal(table.table, expected)
    with pytest.raises(ConfigError, match="no decision threshold"):
        dose.subgroups("sex", 0.5)
    html = build_report(dose_bundle, dose.shown(subgroups=["sex"]), data_name="x")
    assert html.count("<p>Error by group:</p>") == 1 and "<h2>Subgroups</h2>" not in html
