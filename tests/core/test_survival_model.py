"""A survival network: training, saving, scoring, survival curves, and its evaluation against
scikit-survival's own functions on the same predictions."""

import json

import numpy as np
import pytest

from medinn_core.config import TrainConfig
from medinn_core.evaluation import evaluate_bundle
from medinn_core.io import load_bundle, save_bundle
from medinn_core.predict import score_frame
from medinn_core.schema import infer_schema
from medinn_core.survival import MIN_EVENTS_PER_STEP
from medinn_core.synthetic import make_survival_cohort
from medinn_core.train import held_out, train_model

SMALL = TrainConfig(hidden_units=(16,), epochs=60, patience=8, learning_rate=3e-3, seed=1)


@pytest.fixture(scope="module")
def cohort():
    return make_survival_cohort(500, seed=4)


@pytest.fixture(scope="module")
def trained(cohort, tmp_path_factory):
    schema = infer_schema(cohort, "death", time_column="time", id_column="patient_id")
    result = train_model(cohort, schema, SMALL)
    folder = save_bundle(result, tmp_path_factory.mktemp("bundles") / "surv", "surv")
    return result, load_bundle(folder)


def test_training_gives_held_out_metrics_and_a_linear_cox_beside_it(trained):
    result, _ = trained
    assert result.scheme.name == "folds"
    assert 0.5 < result.metrics["c_index"] < 1
    low, high = result.intervals["c_index"]
    assert low < result.metrics["c_index"] < high
    assert 0 < result.metrics["brier_at_horizon"] < 0.25
    cox = result.baselines["linear_cox"]
    assert 0.5 < cox["c_index"] < 1
    assert len(cox["params"]["coef"][0]) == result.model.n_inputs
    assert len(result.model.member_best_epochs_) == 5  # each member stopped on its own fold


def test_the_bundle_keeps_an_aggregate_baseline_and_no_patient_time(trained, cohort):
    _, bundle = trained
    meta = json.loads((bundle.path / "metadata.json").read_text())
    surv = meta["survival"]
    assert surv["time_column"] == "time" and surv["horizon"] == bundle.schema.horizon
    assert "median follow-up" in surv["horizon_reason"]
    assert surv["recalibration"].startswith("none")
    steps = surv["baseline"]["times"]
    events = np.sort(cohort.loc[cohort["death"] == 1, "time"].to_numpy())
    assert len(steps) <= len(events) // MIN_EVENTS_PER_STEP
    # every stored step spans at least MIN_EVENTS_PER_STEP events
    assert np.all(np.diff(np.searchsorted(events, steps, side="right")) >= MIN_EVENTS_PER_STEP)
    assert np.all(np.diff(surv["baseline"]["cumulative_hazard"]) > 0)


def test_predict_writes_risk_by_the_horizon_its_range_and_the_log_hazard(trained, cohort):
    result, bundle = trained
    rows = cohort.head(50)
    scores = score_frame(bundle.model, rows)
    assert list(scores.columns) == ["patient_id", "risk", "risk_low", "risk_high", "risk_score"]
    assert scores["risk"].between(0, 1).all()
    assert (scores["risk_low"] <= scores["risk"]).all()
    assert (scores["risk"] <= scores["risk_high"]).all()
    order = np.argsort(scores["risk_score"].to_numpy())
    assert np.all(np.diff(scores["risk"].to_numpy()[order]) >= 0)  # one ranking
    fresh = score_frame(result.model, rows)
    assert np.allclose(fresh["risk"], scores["risk"], atol=1e-6)  # saved and reloaded
    shuffled = score_frame(bundle.model, rows[rows.columns[::-1]])
    assert np.allclose(shuffled["risk"], scores["risk"])


def test_survival_curves_fall_from_one_and_meet_the_risk_at_the_horizon(trained, cohort):
    _, bundle = trained
    rows = cohort.head(5)
    curves = bundle.model.survival_curves(rows)
    assert (curves.iloc[:, 0] == 1).all()
    assert np.all(np.diff(curves.to_numpy(), axis=1) <= 0)
    risk = score_frame(bundle.model, rows)["risk"].to_numpy()
    horizon = bundle.schema.horizon
    base = bundle.model.baseline_
    at = np.exp(-base.at_horizon * np.exp(bundle.model.predict(rows)))
    assert np.allclose(1 - at, risk)
    before = curves.columns[curves.columns <= horizon][-1]
    assert np.all(curves[before].to_numpy() >= 1 - risk - 0.05)


def test_evaluation_equals_scikit_survival_on_the_same_predictions(trained, cohort):
    from sksurv.metrics import (
        brier_score,
        concordance_index_censored,
        concordance_index_ipcw,
        cumulative_dynamic_auc,
        integrated_brier_score,
    )
    from sksurv.util import Surv

    _, bundle = trained
    found = evaluate_bundle(bundle, cohort, n_boot=0)
    ev = found.evaluation
    lp = bundle.model.predict(cohort)
    time = cohort["time"].to_numpy(float)
    event = cohort["death"].to_numpy() == 1
    y = Surv.from_arrays(event, time)
    horizon = bundle.schema.horizon
    risk = 1 - np.exp(-bundle.model.baseline_.at_horizon * np.exp(lp))
    assert ev.c_index.value == pytest.approx(
        concordance_index_censored(event, time, lp)[0], abs=1e-6
    )
    assert ev.uno_c_index == pytest.approx(
        concordance_index_ipcw(y, y, lp, tau=ev.uno_tau)[0], abs=1e-6
    )
    auc = cumulative_dynamic_auc(y, y, lp, [horizon])[0][0]
    assert ev.auroc_at_horizon == pytest.approx(auc, abs=1e-6)
    brier = brier_score(y, y, (1 - risk)[:, None], [horizon])[1][0]
    assert ev.brier_at_horizon == pytest.approx(brier, abs=1e-6)
    grid = np.linspace(*ev.integrated_brier_range, 25)
    surv = np.exp(-np.outer(np.exp(lp), bundle.model.baseline_.at(grid)))
    assert ev.integrated_brier == pytest.approx(integrated_brier_score(y, y, surv, grid), abs=1e-6)
    out = found.to_dict()
    for key in ("c_index", "uno_c_index", "horizon", "auroc_at_horizon", "brier_at_horizon"):
        assert out[key] is not None, key
    assert set(out["c_index"]) == {"value", "ci_low", "ci_high"}
    assert out["calibration_at_horizon"]["slope"] > 0
    assert len(out["calibration_at_horizon"]["groups"]) == 10
    assert out["net_benefit_at_horizon"][0]["threshold"] == 0.01
    assert out["baseline"]["name"] == "linear_cox"
    json.dumps(out)


def test_the_internal_validation_is_rebuilt_from_the_saved_model(trained, cohort):
    result, bundle = trained
    rebuilt = held_out(bundle.model, cohort, baselines=False)
    again = evaluate_bundle(bundle, rebuilt.rows, output=rebuilt.output, n_boot=0)
    assert again.evaluation.c_index.value == pytest.approx(result.metrics["c_index"], abs=1e-5)


def test_bad_times_on_evaluation_are_named(trained, cohort):
    from medinn_core.errors import SchemaError

    _, bundle = trained
    bad = cohort.head(40).assign(time=lambda d: d["time"].where(d.index != 3, -1))
    with pytest.raises(SchemaError, match="'time' is missing, not a number, zero or negative in 1"):
        evaluate_bundle(bundle, bad, n_boot=0)


def test_the_pairwise_bootstrap_of_harrells_c_equals_scikit_survival_per_resample():
    from sksurv.metrics import concordance_index_censored

    from medinn_core.evaluation._bootstrap import bootstrap_indices
    from medinn_core.evaluation._survival import bootstrap_harrell_c

    rng = np.random.default_rng(5)
    n = 1500  # more than one block of pairs
    time = rng.integers(1, 60, n).astype(float)  # many tied times
    event = (rng.random(n) < 0.5).astype(float)
    score = np.round(rng.normal(size=n), 1)  # many tied scores
    picks = bootstrap_indices(n, 6, 2)
    found = bootstrap_harrell_c(time, event, score, picks)
    for value, p in zip(found, picks, strict=True):
        expected = concordance_index_censored(event[p] == 1, time[p], score[p])[0]
        assert value == pytest.approx(expected, abs=1e-12)


def test_kaplan_meier_by_risk_group_and_auroc_over_time(trained, cohort):
    from medinn_core.evaluation import auroc_over_time, km_by_risk_group

    _, bundle = trained
    lp = bundle.model.predict(cohort)
    time, event = cohort["time"].to_numpy(float), cohort["death"].to_numpy(float)
    curves, at_risk = km_by_risk_group(time, event, bundle.model.risk_at(lp))
    assert list(at_risk.index) == ["low", "middle", "high"]
    assert at_risk.iloc[:, 0].sum() == len(cohort)  # everyone at risk at time 0
    assert (at_risk.diff(axis=1).iloc[:, 1:] <= 0).all().all()
    end = curves.groupby("group", sort=False)["survival"].last()
    assert end["high"] < end["middle"] < end["low"]  # the model separates the groups
    over = auroc_over_time(time, event, lp)
    assert over["time"].is_monotonic_increasing and over["auroc"].between(0.5, 1).all()


def test_one_patients_curve_is_drawn_against_the_cohorts(trained, cohort):
    from medinn_core.predict import survival_curve

    _, bundle = trained
    table = survival_curve(bundle, cohort.head(1))
    assert list(table.columns) == ["time", "patient", "cohort"]
    assert table.iloc[0].tolist() == [0.0, 1.0, 1.0]
    assert table["cohort"].is_monotonic_decreasing and table["patient"].is_monotonic_decreasing
    risk = score_frame(bundle.model, cohort.head(1))["risk"].iloc[0]
    before = table[table["time"] <= bundle.schema.horizon]["patient"].iloc[-1]
    assert before >= 1 - risk - 1e-9


def test_the_split_scheme_validates_on_the_test_split(cohort):
    schema = infer_schema(cohort, "death", time_column="time", id_column="patient_id")
    config = TrainConfig(hidden_units=(8,), epochs=5, scheme="split", seed=2)
    result = train_model(cohort, schema, config)
    assert result.scheme.name == "split" and result.model.n_members == 2
    assert 0 < result.metrics["c_index"] < 1
    assert result.baselines["linear_cox"]["c_index"] is not None
    rebuilt = held_out(result.model, cohort, baselines=False)
    assert rebuilt.output is None and len(rebuilt.rows) == len(result.split.test)
