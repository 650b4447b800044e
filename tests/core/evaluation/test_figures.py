"""Evaluation figures carry the right traces, data and labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest
from scipy.special import expit

from medinn_core import evaluation as plots
from medinn_core.errors import DataError
from medinn_core.evaluation import (
    evaluate_binary,
    evaluate_multiclass,
    evaluate_regression,
    subgroup_table,
)
from medinn_core.evaluation._figures import _interval_text
from medinn_core.figures import history_figure
from medinn_core.style import CLASS_COLOURS, PALETTE


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(0)
    lp = -1 + 1.5 * rng.normal(size=1500)
    y = rng.binomial(1, expit(lp))
    sex = rng.choice(["female", "male", "other"], p=[0.5, 0.47, 0.03], size=y.size)
    p = expit(lp)
    return y, p, sex, evaluate_binary(y, p, n_boot=200, seed=0)


def trace(fig, name):
    found = [t for t in fig.data if t.name == name]
    assert len(found) == 1, [t.name for t in fig.data]
    return found[0]


def test_roc_figure_draws_the_curve_band_and_diagonal(binary):
    *_, ev = binary
    fig = plots.roc_figure(ev.roc_curve, ev.auroc)
    curve = trace(fig, _interval_text("AUROC", ev.auroc))
    np.testing.assert_array_equal(curve.x, ev.roc_curve["fpr"])
    np.testing.assert_array_equal(curve.y, ev.roc_curve["tpr"])
    assert curve.name.startswith(f"AUROC {ev.auroc.value:.2f} (95 % CI")
    assert curve.line.color == PALETTE["model"]
    np.testing.assert_array_equal(trace(fig, "95 % band").y, ev.roc_curve["tpr_low"])
    np.testing.assert_array_equal(trace(fig, "95 % band (upper)").y, ev.roc_curve["tpr_high"])
    assert trace(fig, "95 % band").fill == "tonexty"
    assert list(trace(fig, "No discrimination").x) == [0, 1]
    assert fig.layout.xaxis.title.text == "1 − specificity (false-positive rate)"
    assert fig.layout.yaxis.title.text == "Sensitivity (true-positive rate)"
    assert fig.layout.xaxis.tickformat == ".0%"


def test_roc_without_bootstrap_has_no_band(binary):
    y, p, *_ = binary
    ev = evaluate_binary(y, p, n_boot=0)
    fig = plots.roc_figure(ev.roc_curve, ev.auroc)
    assert [t.name for t in fig.data] == [f"AUROC {ev.auroc.value:.2f}", "No discrimination"]


def test_pr_figure_has_the_prevalence_line(binary):
    *_, ev = binary
    fig = plots.pr_figure(ev.pr_curve, ev.prevalence, ev.average_precision)
    curve = trace(fig, _interval_text("Average precision", ev.average_precision))
    np.testing.assert_array_equal(curve.y, ev.pr_curve["precision"])
    chance = trace(fig, f"Prevalence {ev.prevalence:.1%} (no skill)")
    assert list(chance.y) == [ev.prevalence, ev.prevalence]
    assert fig.layout.yaxis.title.text == "Positive predictive value (precision)"


def test_confusion_matrix_shows_counts_and_row_shares(binary):
    *_, ev = binary
    counts = ev.threshold.confusion_matrix()
    heatmap = plots.confusion_matrix_figure(counts).data[0]
    np.testing.assert_allclose(
        heatmap.z, counts.to_numpy() / counts.to_numpy().sum(axis=1)[:, None]
    )
    assert list(heatmap.x) == ["no event", "event"] and list(heatmap.y) == ["no event", "event"]
    tp_share = ev.threshold.tp / (ev.threshold.tp + ev.threshold.fn)
    assert heatmap.text[1][1] == f"{ev.threshold.tp:,}<br>{tp_share:.0%} of row"


def test_confusion_matrix_with_an_empty_row_does_not_divide_by_zero():
    counts = pd.DataFrame([[0, 0], [3, 5]], index=["a", "b"], columns=["a", "b"])
    heatmap = plots.confusion_matrix_figure(counts).data[0]
    assert np.asarray(heatmap.z)[0].tolist() == [0, 0]


def test_calibration_figure_has_bins_curve_ideal_and_histogram(binary):
    *_, ev = binary
    cal = ev.calibration
    fig = plots.calibration_figure(cal, ev.risk_distribution)
    bins = trace(fig, "Observed in 10 risk groups (95 % CI)")
    np.testing.assert_allclose(bins.x, cal.bins["mean_predicted"])
    np.testing.assert_allclose(bins.y, cal.bins["observed"])
    np.testing.assert_allclose(bins.error_y.array, cal.bins["ci_high"] - cal.bins["observed"])
    np.testing.assert_allclose(bins.error_y.arrayminus, cal.bins["observed"] - cal.bins["ci_low"])
    np.testing.assert_allclose(trace(fig, "Smoothed (lowess)").y, cal.smooth["observed"])
    assert list(trace(fig, "Ideal (predicted = observed)").y) == [0, 1]
    events = trace(fig, "Patients: event")
    assert events.yaxis == "y2" and sum(events.y) == ev.events
    assert sum(trace(fig, "Patients: no event").y) == ev.n - ev.events
    note = fig.layout.annotations[0].text
    assert f"Slope {cal.slope.value:.2f}" in note and f"Brier {cal.brier:.3f}" in note
    without = plots.calibration_figure(cal)
    assert {t.name for t in without.data} == {
        "Ideal (predicted = observed)",
        "Smoothed (lowess)",
        "Observed in 10 risk groups (95 % CI)",
    }


def test_calibration_figure_shows_the_interpretation():
    rng = np.random.default_rng(1)
    lp = -1 + 1.5 * rng.normal(size=3000)
    y = rng.binomial(1, expit(lp))
    ev = evaluate_binary(y, expit(2 * lp), n_boot=0)
    note = plots.calibration_figure(ev.calibration).layout.annotations[0].text
    assert "too extreme (overfitting)" in note


def test_decision_curve_figure_clips_the_y_axis(binary):
    *_, ev = binary
    dc = ev.decision_curve
    fig = plots.decision_curve_figure(dc)
    np.testing.assert_allclose(trace(fig, "Model").y, dc["net_benefit_model"])
    np.testing.assert_allclose(trace(fig, "Treat all").y, dc["net_benefit_treat_all"])
    np.testing.assert_allclose(trace(fig, "Treat none").y, 0)
    low, high = fig.layout.yaxis.range
    assert dc["net_benefit_treat_all"].min() < low < 0  # treat-all's plunge is cut off
    assert high > max(dc["net_benefit_model"].max(), dc["net_benefit_treat_all"].max())
    assert fig.layout.xaxis.tickformat == ".0%"


def test_risk_histogram_shows_shares_per_outcome(binary):
    *_, ev = binary
    fig = plots.risk_histogram_figure(ev.risk_distribution)
    event = trace(fig, f"Event (n = {ev.events:,})")
    expected = ev.risk_distribution.query("outcome == 'event'")["share"]
    np.testing.assert_allclose(event.y, expected)
    assert event.marker.color == PALETTE["event"]
    assert fig.layout.barmode == "overlay"


def test_subgroup_forest_greys_out_small_groups(binary):
    y, p, sex, ev = binary
    table = subgroup_table(y, p, sex, n_boot=100)
    fig = plots.subgroup_forest_figure(table, ev.auroc)
    judged, small = trace(fig, "Subgroup"), trace(fig, "Too few events to judge")
    assert small.marker.color == PALETTE["too_small"]
    assert [label.split(" (")[0] for label in small.y] == ["other"]
    ok = table[~table["too_small"]]
    np.testing.assert_allclose(judged.x, ok["auroc"])
    np.testing.assert_allclose(judged.error_x.array, ok["auroc_ci_high"] - ok["auroc"])
    assert judged.y[0] == f"female (n = {ok['n'].iloc[0]:,}, {ok['events'].iloc[0]:,} events)"
    assert any(shape.x0 == ev.auroc.value for shape in fig.layout.shapes)


def test_multiclass_figures():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet([2, 2, 2], size=600)
    labels = np.array(["a", "b", "c"])[[rng.choice(3, p=row) for row in probs]]
    ev = evaluate_multiclass(labels, probs, ["a", "b", "c"], n_boot=0)
    fig = plots.multiclass_roc_figure(ev.roc_curves, ev.per_class)
    assert len(fig.data) == 4 and fig.data[-1].name == "No discrimination"
    first = ev.roc_curves[ev.roc_curves["class"] == "a"]
    np.testing.assert_array_equal(fig.data[0].y, first["tpr"])
    assert fig.data[0].name == f"a (AUROC {ev.per_class['auroc'][0]:.2f})"
    assert [t.line.color for t in fig.data[:3]] == list(CLASS_COLOURS[:3])
    heatmap = plots.confusion_matrix_figure(ev.confusion).data[0]
    np.testing.assert_allclose(heatmap.z, ev.confusion_normalised)
    calib = plots.multiclass_calibration_figure(ev.calibration)
    assert [t.name for t in calib.data] == ["Ideal (predicted = observed)", "a", "b", "c"]


def test_regression_figures():
    rng = np.random.default_rng(3)
    y = rng.normal(100, 15, size=300)
    ev = evaluate_regression(y, y + rng.normal(0, 5, size=300), n_boot=0)
    fig = plots.predicted_observed_figure(ev.points, unit="mg/dL")
    points = trace(fig, "Patients")
    np.testing.assert_array_equal(points.x, ev.points["predicted"])
    np.testing.assert_array_equal(points.y, ev.points["observed"])
    identity = trace(fig, "Identity (perfect prediction)")
    assert identity.x[0] == identity.y[0] and identity.x[1] == identity.y[1]
    assert identity.x[0] <= ev.points[["observed", "predicted"]].min().min()
    assert fig.layout.xaxis.title.text == "Predicted value (mg/dL)"
    residuals = plots.residuals_figure(ev.points)
    np.testing.assert_array_equal(residuals.data[0].y, ev.points["residual"])
    assert residuals.layout.shapes[0].y0 == 0


def test_regression_subgroup_figure_shows_error_and_bias_per_group():
    rng = np.random.default_rng(5)
    y = rng.normal(100, 15, size=400)
    site = rng.choice(["north", "south"], size=y.size)
    # the south site is predicted 10 units too high: its bias and MAE must show it
    pred = y + rng.normal(0, 3, size=y.size) + np.where(site == "south", 10.0, 0.0)
    ev = evaluate_regression(y, pred, groups=site, n_boot=0)
    fig = plots.regression_subgroup_figure(ev.by_group, ev.mae.value, unit="mg")
    bars = trace(fig, "Mean absolute error")
    bias = dict(
        zip(
            trace(fig, "Bias (predicted − observed)").y,
            trace(fig, "Bias (predicted − observed)").x,
            strict=True,
        )
    )
    south = next(label for label in bars.y if label.startswith("south"))
    north = next(label for label in bars.y if label.startswith("north"))
    assert bias[south] == pytest.approx(10, abs=1) and bias[north] == pytest.approx(0, abs=1)
    mae = dict(zip(bars.y, bars.x, strict=True))
    assert mae[south] > 3 * mae[north]
    assert f"n = {(site == 'south').sum():,}" in south
    assert fig.layout.xaxis.title.text == "Error (mg)"


def test_history_figure_has_loss_and_other_metrics():
    history = {
        "loss": [0.7, 0.6, 0.55],
        "val_loss": [0.72, 0.64, 0.6],
        "auroc": [0.6, 0.7, 0.75],
        "val_auroc": [0.58, 0.66, 0.7],
    }
    fig = history_figure(history, best_epoch=3)
    by_key = {t.meta: t for t in fig.data}
    assert set(by_key) == set(history)
    assert (
        list(by_key["val_loss"].x) == [1, 2, 3]
        and list(by_key["val_loss"].y) == history["val_loss"]
    )
    assert by_key["loss"].yaxis == "y" and by_key["auroc"].yaxis == "y2"  # loss on top
    assert by_key["val_auroc"].line.dash == "dash"
    assert [a.text for a in fig.layout.annotations][:2] == ["Loss", "AUROC"]
    only_loss = history_figure({"loss": [1.0, 0.5]})
    assert len(only_loss.data) == 1
    with pytest.raises(DataError, match="history is empty"):
        history_figure({})


def test_builders_never_change_the_global_template(binary):
    *_, ev = binary
    before = pio.templates.default
    plots.roc_figure(ev.roc_curve, ev.auroc)
    plots.calibration_figure(ev.calibration, ev.risk_distribution)
    fig = plots.decision_curve_figure(ev.decision_curve)
    assert pio.templates.default == before
    assert fig.layout.template.layout.paper_bgcolor is not None  # each figure has its own
    fig.to_json()  # serialisable, as the report and the page need
