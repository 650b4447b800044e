"""Explanation figures and the plain sentence: the numbers drawn are the explanation's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from medinn_core import explain as ep
from medinn_core.errors import DataError
from medinn_core.explain import Explanation, explain_model
from medinn_core.explain._wording import _percent
from medinn_core.schema import Kind
from medinn_core.synthetic import make_cardiology_cohort

N_PATIENTS = 400


@pytest.fixture(scope="session")
def explained(binary_result):
    """The shared small binary model explaining 400 new synthetic patients."""
    patients = make_cardiology_cohort(N_PATIENTS, seed=21, id_start=9001)
    model = binary_result.model
    expl = explain_model(model, binary_result.background, patients)
    features = model.schema.features
    units = {c.name: c.unit for c in features}
    imputed = {c.name: model.imputed_value(c.name) for c in features if c.kind == Kind.NUMERIC}
    return expl, units, imputed


def _literal(contributions: dict[str, float], raw: dict, base: float, **kwargs) -> Explanation:
    """A one-patient explanation written by hand."""
    index = pd.Index(["P1"], name="patient_id")
    frame = pd.DataFrame([contributions], index=index)
    output = np.array([base + sum(contributions.values())])
    return Explanation(
        contributions=frame,
        base_value=base,
        output=output,
        raw_values=pd.DataFrame([raw], index=index),
        method="deeplift",
        space=kwargs.pop("space", "probability"),
        class_name=kwargs.pop("class_name", "1"),
    )


def _waterfall(fig: go.Figure) -> go.Waterfall:
    (trace,) = [t for t in fig.data if isinstance(t, go.Waterfall)]
    return trace


# -- waterfall ----------------------------------------------------------------------------------
def test_waterfall_bars_sum_from_the_base_to_the_patients_risk(explained):
    expl, units, imputed = explained
    for i in (0, 17, int(np.argmax(expl.output)), N_PATIENTS - 1):
        trace = _waterfall(ep.waterfall_figure(expl, i, units, imputed))
        x = np.asarray(trace.x, dtype=float)
        assert list(trace.measure) == ["absolute"] + ["relative"] * (len(x) - 2) + ["total"]
        assert x[0] == pytest.approx(expl.base_value * 100)
        assert x[-1] == pytest.approx(expl.output[i] * 100)
        assert x[0] + x[1:-1].sum() == pytest.approx(x[-1], abs=1e-6)


def test_waterfall_lumps_the_smallest_features_into_one_bar(explained):
    expl, units, imputed = explained
    row = expl.contributions.iloc[3]
    order = row.abs().sort_values(ascending=False, kind="stable").index
    trace = _waterfall(ep.waterfall_figure(expl, 3, units, imputed, top=4))
    labels = list(trace.y)
    n_rest = len(row) - 4
    assert labels[0] == "Average prediction (base)" and labels[-1] == "This patient"
    assert [label.split(" = ")[0] for label in labels[1:5]] == list(order[:4])
    assert labels[5] == f"other {n_rest} features"
    assert trace.x[5] == pytest.approx(row[order[4:]].sum() * 100)
    assert len(labels) == 4 + 3


def test_waterfall_keeps_a_bar_for_each_feature_asked_for(explained):
    expl, units, imputed = explained
    row = expl.contributions.iloc[3]
    weakest = row.abs().idxmin()
    trace = _waterfall(ep.waterfall_figure(expl, 3, units, imputed, top=4, include=[weakest]))
    features = [label.split(" = ")[0] for label in trace.y[1:-2]]
    assert len(features) == 5 and features[-1] == weakest
    assert trace.y[-2] == f"other {len(row) - 5} features"
    x = np.asarray(trace.x, dtype=float)
    assert x[0] + x[1:-1].sum() == pytest.approx(x[-1], abs=1e-6)


def test_waterfall_labels_carry_units_and_imputed_values(explained):
    expl, units, imputed = explained
    raw = expl.raw_values
    i = int(np.flatnonzero(raw["hdl"].isna().to_numpy())[0])
    labels = list(_waterfall(ep.waterfall_figure(expl, i, units, imputed, top=20)).y)
    median = ep.format_number(imputed["hdl"])
    assert f"hdl = missing, imputed {median} mg/dL" in labels
    assert f"age = {int(raw['age'].iloc[i])} y" in labels
    assert f"systolic_bp = {int(raw['systolic_bp'].iloc[i])} mmHg" in labels
    assert f"smoking = {raw['smoking'].iloc[i]}" in labels
    assert f"prior_mi = {int(raw['prior_mi'].iloc[i])}" in labels
    assert len(labels) == expl.contributions.shape[1] + 2  # no "other" bar when all fit


def test_waterfall_of_a_regression_is_in_the_targets_unit():
    expl = _literal(
        {"age": 4.0, "weight": -1.5}, {"age": 70, "weight": 80.5}, 30.0, class_name=None
    )
    fig = ep.waterfall_figure(expl, 0, {"age": "y", "weight": "kg"}, {}, output_unit="mg/week")
    trace = _waterfall(fig)
    assert list(trace.x) == pytest.approx([30.0, 4.0, -1.5, 32.5])
    assert list(trace.y)[1:3] == ["age = 70 y", "weight = 80.5 kg"]
    assert fig.layout.xaxis.title.text == "Predicted value (mg/week)"
    assert "32.5 mg/week" in fig.layout.title.text


def test_waterfall_refuses_a_patient_who_is_not_there(explained):
    expl, units, imputed = explained
    with pytest.raises(DataError, match=f"{N_PATIENTS} patients"):
        ep.waterfall_figure(expl, N_PATIENTS, units, imputed)


def test_same_scale_gives_two_waterfalls_one_range(explained):
    expl, units, imputed = explained
    a = ep.waterfall_figure(expl, 0, units, imputed)
    b = ep.waterfall_figure(expl, int(np.argmax(expl.output)), units, imputed)
    ep.same_scale(a, b)
    assert a.layout.xaxis.range == b.layout.xaxis.range
    low, high = a.layout.xaxis.range
    for fig in (a, b):
        extent = ep.waterfall_extent(fig)
        assert low <= extent[0] and extent[1] <= high


# -- global views -------------------------------------------------------------------------------
def test_importance_order_equals_the_explanations(explained):
    expl, *_ = explained
    (bar,) = ep.importance_figure(expl, top=10).data
    importance = expl.importance()
    assert list(bar.y) == list(importance.index[:10])
    assert np.asarray(bar.x) == pytest.approx(importance.to_numpy()[:10] * 100)


def test_beeswarm_is_sampled_to_max_points_and_drawn_in_full_otherwise(explained):
    expl, *_ = explained
    top = 12
    fig = ep.beeswarm_figure(expl, top=top, max_points=600)
    n_dots = sum(len(t.x) for t in fig.data)
    assert 600 - top < n_dots <= 600
    per_feature = n_dots // top
    assert f"{per_feature:,} of {N_PATIENTS:,} patients shown" in fig.layout.title.text
    full = ep.beeswarm_figure(expl, top=top, max_points=10**6)
    assert sum(len(t.x) for t in full.data) == N_PATIENTS * top
    # every dot sits on its feature's row, the most important feature on top (row 0)
    y = np.concatenate([np.asarray(t.y, dtype=float) for t in full.data])
    assert np.all(np.abs(y - np.round(y)) < 0.45)
    assert list(full.layout.yaxis.ticktext) == list(expl.importance().index[:top])


def test_beeswarm_dots_are_the_contributions_and_missing_values_are_grey(explained):
    expl, *_ = explained
    feature = "hdl"
    rank = list(expl.importance().index).index(feature)
    fig = ep.beeswarm_figure(expl, top=rank + 1, max_points=10**6)
    on_row = [
        np.asarray(t.x, dtype=float)[np.round(np.asarray(t.y, dtype=float)) == rank]
        for t in fig.data
    ]
    drawn = np.sort(np.concatenate(on_row))
    assert drawn == pytest.approx(np.sort(expl.contributions[feature].to_numpy() * 100))
    missing = [t for t in fig.data if t.name == "Missing value"]
    assert missing and missing[0].marker.color == ep.MISSING_COLOUR


def test_normalised_values_scale_numbers_and_code_categories():
    numbers = ep.normalised_values(pd.Series([1.0, 2.0, 3.0, np.nan, 100.0]))
    assert np.isnan(numbers[3])
    assert np.nanmin(numbers) == 0.0 and np.nanmax(numbers) == 1.0
    assert numbers[0] < numbers[1] < numbers[2]
    levels = ep.normalised_values(pd.Series(["never", "current", None, "former"]))
    assert levels[1] == 0.0 and levels[3] == 0.5 and levels[0] == 1.0 and np.isnan(levels[2])
    assert np.all(ep.normalised_values(pd.Series([5, 5, 5])) == 0.5)


def test_dependence_plot_draws_values_against_contributions(explained):
    expl, units, _ = explained
    fig = ep.dependence_figure(expl, "age", units=units)
    (points,) = fig.data
    assert np.sort(np.asarray(points.x, dtype=float)) == pytest.approx(
        np.sort(expl.raw_values["age"].to_numpy(dtype=float))
    )
    assert np.sort(np.asarray(points.y, dtype=float)) == pytest.approx(
        np.sort(expl.contributions["age"].to_numpy() * 100)
    )
    assert fig.layout.xaxis.title.text == "age (y)"


def test_dependence_plot_coloured_by_a_category_has_a_trace_per_level(explained):
    expl, *_ = explained
    fig = ep.dependence_figure(expl, "hdl", color_by="smoking")
    names = {t.name for t in fig.data}
    assert {"smoking = current", "smoking = former", "smoking = never"} <= names
    n_hdl = int(expl.raw_values["hdl"].notna().sum())
    assert sum(len(t.x) for t in fig.data) == n_hdl  # missing hdl left out, and counted:
    assert f"{N_PATIENTS - n_hdl:,} patients missing hdl" in fig.layout.title.text
    by_age = ep.dependence_figure(expl, "smoking", color_by="age")
    assert by_age.data[0].marker.colorbar.title.text == "age"
    assert list(by_age.layout.xaxis.ticktext) == ["current", "former", "never"]
    zero_one = ep.dependence_figure(expl, "prior_mi")  # 0/1 numbers read as two levels
    assert list(zero_one.layout.xaxis.ticktext) == ["0", "1"]


def test_dependence_plot_names_an_unknown_feature(explained):
    expl, *_ = explained
    with pytest.raises(DataError, match="'cholesterol'"):
        ep.dependence_figure(expl, "cholesterol")


def test_cohort_bars_are_the_groups_mean_contributions(explained):
    expl, *_ = explained
    high = expl.output >= np.median(expl.output)
    fig = ep.compare_cohorts_figure(expl, high, ~high, ("High risk", "Low risk"), top=20)
    assert len(fig.data) == 2
    for trace, mask in zip(fig.data, (high, ~high), strict=True):
        means = expl.contributions[mask].mean()
        assert np.asarray(trace.x) == pytest.approx(means[list(trace.y)].to_numpy() * 100)
        # contributions add up, so a group's mean risk is the base plus its mean contributions
        assert expl.base_value + means.sum() == pytest.approx(expl.output[mask].mean())
        assert f"{int(mask.sum()):,} patients" in trace.name
    gap = (expl.contributions[high].mean() - expl.contributions[~high].mean()).abs()
    assert fig.data[0].y[0] == gap.idxmax()


def test_cohort_comparison_refuses_an_empty_group(explained):
    expl, *_ = explained
    nobody = np.zeros(N_PATIENTS, dtype=bool)
    with pytest.raises(DataError, match="'Women'"):
        ep.compare_cohorts_figure(expl, ~nobody, nobody, ("Men", "Women"))


# -- words --------------------------------------------------------------------------------------
def test_plain_sentence_names_what_raised_and_lowered_the_risk():
    expl = _literal(
        {
            "prior_mi": 0.06,
            "age": 0.05,
            "smoking": 0.04,
            "bmi": 0.025,
            "hdl": -0.02,
            "systolic_bp": -0.01,
            "site": -0.005,
        },
        {
            "prior_mi": 1,
            "age": 74,
            "smoking": "current",
            "bmi": 31.2,
            "hdl": 71.0,
            "systolic_bp": 118,
            "site": "B",
        },
        0.09,
    )
    units = {"age": "y", "bmi": "kg/m²", "hdl": "mg/dL", "systolic_bp": "mmHg"}
    assert ep.plain_sentence(expl, 0, units) == (
        "Risk 23 % (average 9 %). Raised most by prior_mi = 1, age = 74 y and smoking = current; "
        "lowered most by hdl = 71 mg/dL and systolic_bp = 118 mmHg."
    )


def test_plain_sentence_follows_the_explanation(explained):
    expl, units, imputed = explained
    i = int(np.argmax(expl.output))
    sentence = ep.plain_sentence(expl, i, units, imputed=imputed)
    assert sentence.startswith(f"Risk {_percent(expl.output[i])} %")
    factors = expl.top_factors(i)
    for feature in factors["feature"]:
        assert f"{feature} = " in sentence
    logit = _literal({"age": 0.5}, {"age": 80}, -2.0, space="logit")
    assert ep.plain_sentence(logit, 0, {"age": "y"}) == (
        "Log-odds -1.5 (average -2). Raised most by age = 80 y; nothing lowered it."
    )


def test_the_output_can_be_named_for_a_class_or_a_target():
    severe = _literal({"ecog": 0.1}, {"ecog": 2}, 0.2, class_name="severe")
    assert ep.plain_sentence(severe, 0, {}, output_name="Probability of severe") == (
        "Probability of severe 30 % (average 20 %). Raised most by ecog = 2; nothing lowered it."
    )
    dose = _literal({"weight": -2.5}, {"weight": 60}, 35.0, class_name=None)
    words = {"output_unit": "mg/week", "output_name": "Predicted dose"}
    assert ep.output_text(dose, 32.5, **words) == "predicted dose 32.5 mg/week"
    assert ep.change_text(dose, -2.5, **words) == "-2.5 mg/week"
    fig = ep.waterfall_figure(dose, 0, {"weight": "kg"}, {}, **words)
    assert fig.layout.xaxis.title.text == "Predicted dose (mg/week)"
    assert ep.importance_figure(dose, **words).layout.xaxis.title.text == (
        "Mean absolute change in predicted dose (mg/week)"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (67, "age = 67 y"),
        (67.0, "age = 67 y"),
        (0.954, "age = 0.954 y"),
        (np.nan, "age = missing, imputed 52.5 y"),
        ("?", "age = missing, imputed 52.5 y"),
        ("71", "age = 71 y"),
    ],
)
def test_describe_value_of_a_number(value, expected):
    assert ep.describe_value("age", value, {"age": "y"}, {"age": 52.5}) == expected


def test_describe_value_of_a_category():
    assert ep.describe_value("smoking", " current ") == "smoking = current"
    assert ep.describe_value("smoking", None, {}, {"smoking": None}) == "smoking = missing"
    assert ep.describe_value("diabetes", np.int64(1)) == "diabetes = 1"


def test_builders_never_change_the_global_template(explained):
    expl, units, imputed = explained
    before = pio.templates.default
    figures = [
        ep.importance_figure(expl),
        ep.beeswarm_figure(expl),
        ep.waterfall_figure(expl, 0, units, imputed),
        ep.dependence_figure(expl, "age", "sex"),
        ep.compare_cohorts_figure(expl, expl.output > 0.1, expl.output <= 0.1, ("a", "b")),
    ]
    assert pio.templates.default == before
    for fig in figures:
        assert fig.layout.template.layout.paper_bgcolor is not None


def test_the_sentence_names_no_push_that_no_bar_shows():
    """A risk lowered by 0.0001 (a bar drawn as -0.0 points) is not 'lowered most by'."""
    expl = _literal(
        {"age": 0.30, "hb": 0.05, "ane": -0.000_1},
        {"age": 70, "hb": 9.0, "ane": "no"},
        base=0.40,
        space="probability",
        class_name="ckd",
    )
    sentence = ep.plain_sentence(expl, 0, {"age": "y", "hb": "g/dL"})
    assert "nothing lowered it" in sentence and "ane" not in sentence
    assert list(expl.top_factors(0)["feature"]) == ["age", "hb"]
