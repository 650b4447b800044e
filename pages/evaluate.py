"""Evaluate: how well the current model does on labelled patients it was not trained on.

The core evaluates (:func:`medinn_core.evaluation.evaluate_bundle`) and answers the page's later
questions from that evaluation; the page picks the section of the model's task and lays the
answers out. Extend a section by adding tabs. The tabs are lazy: only the open one is computed
and sent, so the model report reads the closed tabs' choices from session state.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from medinn_app import reporting, runtime, sources, state, tables, ui
from medinn_core import evaluation, figures
from medinn_core.errors import MedinnError
from medinn_core.evaluation import (
    GRADIENT_BOOSTING,
    ModelComparison,
    ModelEvaluation,
    SubgroupTable,
    ThresholdMetrics,
    build_report,
    evaluate_bundle,
)
from medinn_core.schema import Task

if TYPE_CHECKING:
    from medinn_core.io import Bundle

runtime.ensure_navigation()

BOOTSTRAP_CHOICES = (0, 200, 1000)
SMALL_GROUP = "Too few to judge"  # the subgroup table's too_small column, as it is shown
DC_RANGE = (1, 50)  # the decision curve's threshold probabilities (%) until the user moves them


# -- small helpers ------------------------------------------------------------------------------
def show(column, label: str, value, digits: int = 3) -> None:
    """A metric with its 95 % interval underneath (an Interval, a float, or None)."""
    if value is None:
        column.metric(label, "n/a")
        return
    point = getattr(value, "value", value)
    column.metric(label, f"{point:.{digits}f}")
    low, high = getattr(value, "ci_low", None), getattr(value, "ci_high", None)
    if low is not None and high is not None:
        column.caption(f"95 % CI {low:.{digits}f}–{high:.{digits}f}")


def memoized(memo: dict, key: Hashable, compute: Callable[[], Any]) -> Any:
    """``compute()``, kept in ``memo`` (this evaluation's store in the session) under ``key``."""
    if key not in memo:
        memo[key] = compute()
    return memo[key]


# -- which patients, and their evaluation -------------------------------------------------------
def pick_source(active: Bundle) -> tuple[sources.Source, int]:
    """The labelled patients and the bootstrap resamples chosen; ends the page without any."""
    choices = sources.sources(active, state.dataset())
    if not choices:
        st.info(
            "Evaluation needs patients with a known outcome "
            f"('{ui.plain(active.schema.target)}') that the model was not trained on. Load the table the model was trained on (its test split "
            "is used) or another labelled file on the Data page."
        )
        st.page_link("pages/data.py", label="Go to Data", icon=":material/table:")
        st.stop()
    by_key = {c.key: c for c in choices}
    left, right = st.columns([3, 1])
    picked = by_key[
        ui.selectbox(
            left,
            "Patients",
            list(by_key),
            format_func=lambda k: by_key[k].label,
            key=state.W_EVAL_SOURCE,
        )
    ]
    n_boot = ui.selectbox(
        right,
        "Bootstrap resamples",
        BOOTSTRAP_CHOICES,
        index=1,
        key=state.W_EVAL_BOOT,
        help="For the 95 % intervals and curve bands; 0 skips them.",
    )
    return picked, n_boot


def evaluated(
    active: Bundle, picked: sources.Source, n_boot: int
) -> tuple[Hashable, ModelEvaluation, dict]:
    """(cache key, evaluation, memo) of ``active`` on ``picked``, kept for this session until
    one of them changes; the memo keeps what else was computed for this evaluation. A
    ``MedinnError`` ends the page with its message."""
    key = (active.token, picked.key, n_boot)
    cached = st.session_state.get(state.EVALUATION)
    if cached is None or cached[0] != key:
        try:
            with st.spinner("Evaluating…"):
                result = evaluate_bundle(
                    active,
                    picked.rows(),
                    threshold=state.threshold(),
                    n_boot=n_boot,
                    source=picked.label,
                    output=picked.output,
                    baseline=(picked.baselines or {}).get("logistic_regression"),
                )
        except MedinnError as exc:
            st.error(ui.plain(exc))
            st.stop()
        cached = (key, result, {})
        st.session_state[state.EVALUATION] = cached
    return cached


# -- the choices that outlive their tab, and what depends on them ------------------------------
def subgroup_column(result: ModelEvaluation) -> str | None:
    # persist_state: the choice outlives a closed Subgroups tab (the report uses it).
    return ui.selectbox(
        st,
        "Split the patients by",
        result.subgroup_columns,
        index=None,
        placeholder="Choose a column (sex, an age band, a site…)",
        key=state.W_EVAL_SUBGROUP,
        help="Categories as they are; numbers cut at their quartiles.",
        persist_state="page",
    )


def chosen_subgroup(result: ModelEvaluation) -> str | None:
    """The column chosen on the Subgroups tab, open or closed; None if these patients lack it
    (or the model's task has no subgroup tables)."""
    column = st.session_state.get(state.W_EVAL_SUBGROUP)
    return column if column in result.subgroup_columns else None


def chosen_range() -> tuple[int, int]:
    """The decision curve's threshold range (%) chosen on its tab, open or closed."""
    low, high = st.session_state.get(state.W_EVAL_DC_RANGE, DC_RANGE)
    return low, high


def subgroups(
    result: ModelEvaluation, memo: dict, column: str, threshold: float | None
) -> SubgroupTable:
    """Performance by the groups of ``column``, kept for this evaluation (binary ones bootstrap)."""
    return memoized(
        memo, ("subgroups", column, threshold), lambda: result.subgroups(column, threshold)
    )


def logistic(result: ModelEvaluation, memo: dict) -> ModelComparison | None:
    """The network against its logistic regression, paired on these patients; None without
    one. The report shows this one only, so building it never fits gradient boosting."""
    return memoized(memo, "logistic", result.logistic_comparison)


def comparisons(
    active: Bundle, result: ModelEvaluation, memo: dict, picked: sources.Source
) -> list[ModelComparison]:
    """The logistic comparison and, when the training table is loaded, HistGradientBoosting
    fitted like the network (cross-fitted on its folds, or on its training split); paired on
    these patients."""
    if "comparisons" not in memo:
        found = [c for c in (logistic(result, memo),) if c is not None]
        cross_fitted = (picked.baselines or {}).get("gradient_boosting")
        if cross_fitted is not None:
            found.append(result.compare_outputs(cross_fitted, GRADIENT_BOOSTING))
        else:
            with st.spinner("Fitting gradient boosting on the training split…"):
                boosting = sources.gradient_boosting(active, state.dataset())
            if boosting is not None:
                found.append(result.compare_with(boosting, GRADIENT_BOOSTING))
        memo["comparisons"] = found
    return memo["comparisons"]


# -- binary -------------------------------------------------------------------------------------
def binary_section(
    active: Bundle, result: ModelEvaluation, memo: dict, picked: sources.Source
) -> float:
    """Headline numbers, the threshold's measures, presets and the tabs; returns the threshold."""
    ev = result.evaluation
    cal = ev.calibration
    event = active.schema.positive_class
    st.caption(
        f"The model gives the {ui.plain(active.schema.event_text)}; an event is a patient "
        f"with {ui.plain(active.schema.target)} = {ui.plain(event)}."
    )
    cols = st.columns(5)
    cols[0].metric("Patients", f"{ev.n:,}", help=f"{ev.events:,} events ({ui.plain(event)})")
    cols[1].metric("Prevalence", f"{ev.prevalence:.1%}")
    show(cols[2], "AUROC", ev.auroc)
    show(cols[3], "Brier score", cal.brier)
    show(cols[4], "Calibration slope", cal.slope, 2)
    if cal.interpretation:
        st.warning(ui.plain(cal.interpretation))

    st.subheader("At the decision threshold")
    threshold = ui.threshold_slider(state.W_EVAL_THRESHOLD)
    at = result.at(threshold)
    cols = st.columns(4)
    show(cols[0], "Sensitivity", at.sensitivity, 2)
    show(cols[1], "Specificity", at.specificity, 2)
    show(cols[2], "PPV", at.ppv, 2)
    show(cols[3], "NPV", at.npv, 2)
    cols = st.columns(4)
    show(cols[0], "F1", at.f1, 2)
    show(cols[1], "Positive likelihood ratio", at.lr_positive, 2)
    show(cols[2], "Negative likelihood ratio", at.lr_negative, 2)
    show(cols[3], "Number needed to evaluate", at.number_needed_to_evaluate, 1)
    with st.expander("Threshold presets, a clinic's prevalence, and sample size"):
        presets_and_prevalence(result, memo, threshold)
    binary_tabs(active, result, memo, threshold, at, picked)
    return threshold


def presets_and_prevalence(result: ModelEvaluation, memo: dict, threshold: float) -> None:
    left, right = st.columns(2)
    target = ui.number_input(
        left,
        "Target sensitivity (%)",
        50,
        99,
        90,
        key=state.W_EVAL_TARGET_SENS,
        help="The preset 'target sensitivity' is the highest threshold that reaches it.",
    )
    presets = memoized(
        memo,
        ("presets", target, threshold),
        lambda: result.presets(target_sensitivity=target / 100, user_threshold=threshold),
    )
    st.dataframe(
        presets.drop(columns="key").style.format(
            {c: "{:.3f}" for c in presets.columns if c not in ("key", "label")}, na_rep="n/a"
        ),
        hide_index=True,
        key="evaluate.presets_table",
    )
    usable = presets.dropna(subset=["threshold"])
    pick = ui.selectbox(
        left,
        "Use a preset as the decision threshold",
        list(usable["key"]),
        format_func=dict(zip(usable["key"], usable["label"], strict=True)).get,
        key=state.W_EVAL_PRESET,
    )

    def apply_preset() -> None:
        value = float(usable.set_index("key").loc[pick, "threshold"])
        st.session_state[state.THRESHOLD] = state.clamp_threshold(value)

    left.button("Apply", key=state.W_EVAL_APPLY_PRESET, on_click=apply_preset)
    prevalence = ui.number_input(
        right,
        "Prevalence in your clinic (%)",
        0.1,
        99.9,
        min(max(round(100 * result.evaluation.prevalence, 1), 0.1), 99.9),
        0.1,
        key=state.W_EVAL_PREVALENCE,
        help="PPV and NPV depend on how common the outcome is where the model is used.",
    )
    local = result.at(threshold, prevalence=prevalence / 100)
    a, b = right.columns(2)
    a.metric(
        "PPV at this prevalence",
        f"{local.ppv_at_prevalence:.2f}" if local.ppv_at_prevalence is not None else "n/a",
    )
    b.metric(
        "NPV at this prevalence",
        f"{local.npv_at_prevalence:.2f}" if local.npv_at_prevalence is not None else "n/a",
    )
    size = result.sample_size
    st.caption(
        f"Sample size: {size.n:,} patients, {size.events:,} events, "
        f"{size.n_parameters} model inputs after encoding, "
        f"{size.events_per_parameter:.1f} events per input."
    )
    if size.warning:
        st.warning(ui.plain(size.warning))


def binary_tabs(
    active: Bundle,
    result: ModelEvaluation,
    memo: dict,
    threshold: float,
    at: ThresholdMetrics,
    picked: sources.Source,
) -> None:
    ev = result.evaluation
    outcomes = figures.outcome_names(active.schema)
    (
        confusion_tab,
        roc_tab,
        pr_tab,
        calibration_tab,
        curve_tab,
        risk_tab,
        subgroups_tab,
        baseline_tab,
    ) = st.tabs(
        [
            "Confusion matrix",
            "ROC",
            "Precision–recall",
            "Calibration",
            "Decision curve",
            "Risk by outcome",
            "Subgroups",
            "Baseline",
        ],
        key=state.W_EVAL_TAB,
        on_change="rerun",
    )
    if confusion_tab.open:
        with confusion_tab:
            st.plotly_chart(
                ui.plain_figure(
                    evaluation.confusion_matrix_figure(
                        at.confusion_matrix(),
                        title=f"Confusion matrix at {threshold:.0%}",
                        outcomes=outcomes,
                    )
                ),
                key="evaluate.confusion",
            )
    if roc_tab.open:
        with roc_tab:
            st.plotly_chart(
                ui.plain_figure(evaluation.roc_figure(ev.roc_curve, ev.auroc)), key="evaluate.roc"
            )
    if pr_tab.open:
        with pr_tab:
            st.plotly_chart(
                ui.plain_figure(
                    evaluation.pr_figure(ev.pr_curve, ev.prevalence, ev.average_precision)
                ),
                key="evaluate.pr",
            )
    if calibration_tab.open:
        with calibration_tab:
            st.plotly_chart(
                ui.plain_figure(
                    evaluation.calibration_figure(
                        ev.calibration, ev.risk_distribution, outcomes=outcomes
                    )
                ),
                key="evaluate.calibration",
            )
    if curve_tab.open:
        with curve_tab:
            decision_curve_tab(result)
    if risk_tab.open:
        with risk_tab:
            st.plotly_chart(
                ui.plain_figure(
                    evaluation.risk_histogram_figure(ev.risk_distribution, outcomes=outcomes)
                ),
                key="evaluate.risk_distribution",
            )
    if subgroups_tab.open:
        with subgroups_tab:
            binary_subgroups_tab(result, memo, threshold)
    if baseline_tab.open:
        with baseline_tab:
            baseline_tab_body(comparisons(active, result, memo, picked), active.metadata)


def decision_curve_tab(result: ModelEvaluation) -> None:
    low, high = ui.slider(
        st,
        "Threshold probabilities (%)",
        1,
        99,
        DC_RANGE,
        key=state.W_EVAL_DC_RANGE,
        help="The risks at which a clinician would act: the net benefit is shown over them.",
        persist_state="page",  # outlives a closed tab: the report uses it
    )
    st.plotly_chart(
        ui.plain_figure(evaluation.decision_curve_figure(result.decision_curve(low, high))),
        key="evaluate.decision_curve",
    )
    st.caption(
        "Net benefit: true positives minus false positives weighted by the odds of the "
        "threshold, per patient. The model is useful where its curve lies above both "
        "treat-all and treat-none."
    )


def binary_subgroups_tab(result: ModelEvaluation, memo: dict, threshold: float) -> None:
    column = subgroup_column(result)
    if column is None:
        return
    shown = subgroups(result, memo, column, threshold)
    table = shown.table.rename(columns={"too_small": SMALL_GROUP})
    st.dataframe(
        table.style.apply(
            lambda r: ["color: #888"] * len(r) if r[SMALL_GROUP] else [""] * len(r), axis=1
        ),
        hide_index=True,
    )
    st.caption(
        f"Greyed rows ({SMALL_GROUP.lower()}): fewer than 30 events or non-events in the "
        "group, too few to judge."
    )
    st.plotly_chart(
        ui.plain_figure(
            evaluation.subgroup_forest_figure(
                shown.table, result.evaluation.auroc, title=f"AUROC by {shown.label}"
            )
        ),
        key="evaluate.subgroup_forest",
    )


def baseline_tab_body(compared: list[ModelComparison], metadata: dict) -> None:
    scheme = metadata.get("scheme") or {}
    folds = scheme.get("name") == "folds"
    fitted_on = f"the same {scheme.get('members', 5)} folds" if folds else "the same training split"
    unseen = " (each patient scored by models that did not see them)" if folds else ""
    if not compared:
        st.info("This model carries no logistic-regression baseline to compare with.")
        return
    table = pd.concat([c.to_frame().set_index("name") for c in compared]).drop_duplicates()
    st.dataframe(table.style.format("{:.3f}", na_rep="n/a"), key="evaluate.baseline_table")
    for comparison in compared:
        diff = comparison.auroc_difference
        other = comparison.models[1].name.lower()
        if diff is not None and diff.ci_low is not None:
            st.markdown(
                f"AUROC difference (network − {other}): **{diff.value:+.3f}** "
                f"(95 % CI {diff.ci_low:+.3f} to {diff.ci_high:+.3f}, paired "
                "bootstrap on the same patients)."
            )
    st.caption(
        f"The baselines were fitted on {fitted_on}{unseen}, with the same "
        "preprocessing. If an interval includes 0, the network has not shown that "
        "it earns its complexity on these patients."
    )
    if not any(c.models[1].name == GRADIENT_BOOSTING for c in compared):
        st.caption(
            "Gradient boosting is compared when the table the model was trained on "
            f"is loaded (it is refitted on {fitted_on}; bundles hold no "
            "fitted trees)."
        )


# -- multiclass and regression ------------------------------------------------------------------
def multiclass_section(result: ModelEvaluation) -> None:
    ev = result.evaluation
    cols = st.columns(5)
    cols[0].metric("Patients", f"{ev.n:,}")
    show(cols[1], "Accuracy", ev.accuracy)
    show(cols[2], "Balanced accuracy", ev.balanced_accuracy)
    show(cols[3], "Macro AUROC", ev.macro_auroc)
    show(cols[4], "Weighted AUROC", ev.weighted_auroc)
    confusion_tab, roc_tab, calibration_tab, per_class_tab = st.tabs(
        ["Confusion matrix", "ROC", "Calibration", "Per class"],
        key=state.W_EVAL_TAB,
        on_change="rerun",
    )
    if confusion_tab.open:
        with confusion_tab:
            st.plotly_chart(
                ui.plain_figure(evaluation.confusion_matrix_figure(ev.confusion)),
                key="evaluate.confusion",
            )
    if roc_tab.open:
        with roc_tab:
            st.plotly_chart(
                ui.plain_figure(evaluation.multiclass_roc_figure(ev.roc_curves, ev.per_class)),
                key="evaluate.roc",
            )
    if calibration_tab.open:
        with calibration_tab:
            st.plotly_chart(
                ui.plain_figure(evaluation.multiclass_calibration_figure(ev.calibration)),
                key="evaluate.calibration",
            )
    if per_class_tab.open:
        with per_class_tab:
            st.dataframe(ev.per_class, hide_index=True)


def regression_section(active: Bundle, result: ModelEvaluation, memo: dict) -> None:
    ev = result.evaluation
    unit = active.schema.column(active.schema.target).unit
    cols = st.columns(4)
    cols[0].metric("Patients", f"{ev.n:,}")
    show(cols[1], ui.plain(f"MAE {unit}".strip()), ev.mae)
    show(cols[2], ui.plain(f"RMSE {unit}".strip()), ev.rmse)
    show(cols[3], "R²", ev.r2)
    observed_tab, residuals_tab, subgroups_tab = st.tabs(
        ["Predicted against observed", "Residuals", "Subgroups"],
        key=state.W_EVAL_TAB,
        on_change="rerun",
    )
    if observed_tab.open:
        with observed_tab:
            st.plotly_chart(
                ui.plain_figure(evaluation.predicted_observed_figure(ev.points, unit=unit)),
                key="evaluate.predicted_observed",
            )
    if residuals_tab.open:
        with residuals_tab:
            st.plotly_chart(
                ui.plain_figure(evaluation.residuals_figure(ev.points, unit=unit)),
                key="evaluate.residuals",
            )
    if subgroups_tab.open:
        with subgroups_tab:
            regression_subgroups_tab(result, memo, unit)


def regression_subgroups_tab(result: ModelEvaluation, memo: dict, unit: str) -> None:
    column = subgroup_column(result)
    if column is None:
        return
    shown = subgroups(result, memo, column, None)
    st.dataframe(
        shown.table.rename(columns={"group": shown.label}).style.format(
            {"mae": "{:.3g}", "rmse": "{:.3g}", "bias": "{:+.3g}"}
        ),
        hide_index=True,
        key="evaluate.regression_subgroups",
    )
    st.plotly_chart(
        ui.plain_figure(
            evaluation.regression_subgroup_figure(
                shown.table, result.evaluation.mae.value, unit=unit, title=f"Error by {shown.label}"
            )
        ),
        key="evaluate.regression_subgroup_figure",
    )
    st.caption("Bias is the mean of predicted − observed: above 0, the model predicts too high.")


# -- survival -----------------------------------------------------------------------------------
SURVIVAL_TABS = (
    "Kaplan-Meier by risk group",
    "AUROC over time",
    "Calibration at the horizon",
    "Decision curve",
    "Subgroups",
    "Baseline",
)


def time_label(schema) -> str:
    """The time axis's title, as typed (``ui.plain_figure`` escapes a figure's text)."""
    unit = schema.column(schema.time_column).unit
    return f"{schema.time_column} ({unit})" if unit else str(schema.time_column)


def survival_section(active: Bundle, result: ModelEvaluation, memo: dict) -> None:
    """A survival model at its horizon: the C indices, AUROC and Brier score there, and the
    tabs of Kaplan-Meier curves, AUROC over time, calibration, net benefit, subgroups and the
    linear Cox model."""
    ev, schema = result.evaluation, active.schema
    h = f"{ev.horizon:g}"
    cols = st.columns(5)
    cols[0].metric("Patients", f"{ev.n:,}")
    cols[0].caption(f"{ev.events:,} events")
    show(cols[1], "Harrell's C", ev.c_index)
    show(cols[2], "Uno's C", ev.uno_c_index)
    show(cols[3], f"AUROC at {h}", ev.auroc_at_horizon)
    show(cols[4], f"Brier score at {h}", ev.brier_at_horizon)
    observed = "n/a" if ev.observed_risk is None else f"{ev.observed_risk:.1%}"
    integrated = (
        ""
        if ev.integrated_brier is None
        else (f" Integrated Brier score up to the horizon: {ev.integrated_brier:.3f}.")
    )
    st.caption(
        ui.plain(
            f"At the horizon ({tables.horizon_risk(schema)}): observed risk (Kaplan-Meier) "
            f"{observed}, mean predicted risk {ev.mean_predicted_risk:.1%}. Harrell's C with "
            "its 95 % bootstrap interval; Uno's C, the AUROC (cumulative/dynamic) and the "
            "Brier score weigh patients by their chance of still being followed (IPCW)."
            f"{integrated}"
        )
    )
    tabs = st.tabs(SURVIVAL_TABS, key=state.W_EVAL_TAB, on_change="rerun")
    km_tab, auroc_tab, calibration_tab, decision_tab, subgroups_tab, baseline_tab = tabs
    label = time_label(schema)
    if km_tab.open:
        with km_tab:
            curves, at_risk = memoized(
                memo,
                "km",
                lambda: evaluation.km_by_risk_group(result.time, result.observed, result.output),
            )
            st.plotly_chart(
                ui.plain_figure(figures.km_risk_groups_figure(curves, at_risk, ev.horizon, label)),
                key="evaluate.km",
            )
            st.caption(
                "The patients cut into three equal groups by their predicted risk; each group's "
                "observed event-free share over time (Kaplan-Meier). Under the plot: the "
                "patients of each group still followed at each time. Well-separated curves, in "
                "the order of the risk, show discrimination."
            )
    if auroc_tab.open:
        with auroc_tab:
            frame = memoized(
                memo,
                "auroc_over_time",
                lambda: evaluation.auroc_over_time(result.time, result.observed, result.output),
            )
            st.plotly_chart(
                ui.plain_figure(figures.auroc_over_time_figure(frame, ev.horizon, label)),
                key="evaluate.auroc_over_time",
            )
            st.caption(
                "At each time: how well the risk score separates the patients with an event by "
                "then from those still event-free after it (censoring-weighted)."
            )
    if calibration_tab.open:
        with calibration_tab:
            survival_calibration_tab(ev)
    if decision_tab.open:
        with decision_tab:
            if ev.net_benefit.empty:
                st.info(ui.plain(f"The horizon ({h}) lies past these patients' follow-up."))
            else:
                st.plotly_chart(
                    ui.plain_figure(
                        evaluation.decision_curve_figure(
                            ev.net_benefit, title=f"Decision curve at the horizon {h}"
                        )
                    ),
                    key="evaluate.decision_curve",
                )
                st.caption(
                    "Net benefit of acting on the risk by the horizon, against treating everyone "
                    "or no one; the event rates are Kaplan-Meier estimates, so a censored patient "
                    "counts for the time followed."
                )
    if subgroups_tab.open:
        with subgroups_tab:
            survival_subgroups_tab(result, memo)
    if baseline_tab.open:
        with baseline_tab:
            survival_baseline_tab(result)


def survival_calibration_tab(ev) -> None:
    if ev.calibration.empty:
        st.info(ui.plain(f"The horizon ({ev.horizon:g}) lies past these patients' follow-up."))
        return
    st.plotly_chart(
        ui.plain_figure(
            figures.survival_calibration_figure(ev.calibration, ev.horizon, ev.calibration_slope)
        ),
        key="evaluate.survival_calibration",
    )
    slope = "n/a" if ev.calibration_slope is None else f"{ev.calibration_slope:.2f}"
    st.caption(
        f"Per risk group: the mean predicted risk by the horizon against the Kaplan-Meier "
        f"observed risk. Calibration slope {slope}: 1 when the predicted differences in risk "
        "hold, below 1 when they are too extreme (overfitting)."
    )
    st.dataframe(
        ev.calibration.style.format({"predicted": "{:.1%}", "observed": "{:.1%}"}),
        hide_index=True,
        key="evaluate.survival_calibration_table",
    )


def survival_subgroups_tab(result: ModelEvaluation, memo: dict) -> None:
    column = subgroup_column(result)
    if column is None:
        return
    shown = subgroups(result, memo, column, None)
    st.dataframe(
        shown.table.rename(columns={"group": shown.label}).style.format(
            {"c_index": "{:.3f}", "predicted": "{:.1%}", "observed": "{:.1%}"}, na_rep="n/a"
        ),
        hide_index=True,
        key="evaluate.survival_subgroups",
    )
    st.caption(
        "Per group: Harrell's C within the group, and the mean predicted against the "
        "Kaplan-Meier observed risk by the horizon."
    )


def survival_baseline_tab(result: ModelEvaluation) -> None:
    compared = result.comparison
    if compared is None:
        st.info("This model carries no linear Cox model to compare with.")
        return
    names = ["Neural network", tables.MODEL_LABELS.get(compared.names[1], compared.names[1])]
    rows = [
        {"model": n, "Harrell's C": c.value, "95% CI low": c.ci_low, "95% CI high": c.ci_high}
        for n, c in zip(names, compared.c_index, strict=True)
    ]
    st.dataframe(
        pd.DataFrame(rows).style.format(precision=3, na_rep="n/a"),
        hide_index=True,
        key="evaluate.survival_baseline",
    )
    diff = compared.difference
    if diff.ci_low is not None:
        st.markdown(
            f"Harrell's C difference (network − {names[1].lower()}): **{diff.value:+.3f}** "
            f"(95 % CI {diff.ci_low:+.3f} to {diff.ci_high:+.3f}, paired bootstrap on the "
            "same patients)."
        )
    st.caption(
        "The linear Cox model was fitted on the model's training data with the same "
        "preprocessing. If the interval includes 0, the network has not shown that it earns "
        "its complexity on these patients."
    )


# -- the model report ---------------------------------------------------------------------------
def report_section(
    active: Bundle,
    picked: sources.Source,
    evaluation_key: Hashable,
    result: ModelEvaluation,
    memo: dict,
    *,
    threshold: float | None,
    curve_range: tuple[int, int] | None,
) -> None:
    """The report of what this page shows: the threshold and decision curve range (binary),
    the subgroups chosen and the logistic comparison; built on request."""
    st.caption(
        "One HTML file that opens offline: data, predictors, missing-data handling, training "
        "settings, performance with intervals, calibration, decision curve, subgroups and "
        "baselines, at the threshold and with the choices shown on this page."
    )
    intended_use = st.text_area(
        "Intended use (who, where, for which decision)", key=state.W_EVAL_INTENDED_USE
    )
    limitations = st.text_area("Limitations", key=state.W_EVAL_LIMITATIONS)
    # The choices of the tabs, open or closed; what depends on them is computed on request.
    split_by = chosen_subgroup(result)

    def report() -> str:
        shown = result.shown(
            threshold=threshold,
            decision_range=curve_range,
            subgroups=[subgroups(result, memo, split_by, threshold)] if split_by else [],
            comparison=logistic(result, memo),
        )
        return build_report(
            active,
            shown,
            data_name=picked.label,
            intended_use=intended_use,
            limitations=limitations,
            data=result.rows,
        )

    reporting.report_download(
        report,
        cache_key=(
            "evaluate",
            evaluation_key,
            threshold,
            curve_range,
            split_by,
            intended_use,
            limitations,
        ),
        file_name=f"{active.name}-report.html",
        build_key=state.W_EVAL_REPORT_BUILD,
        download_key=state.W_EVAL_REPORT,
    )


def main() -> None:
    st.title("Evaluate")
    active = ui.require_model()
    picked, n_boot = pick_source(active)
    key, result, memo = evaluated(active, picked, n_boot)
    for note in result.notes:
        st.info(ui.plain(note))
    threshold, curve_range = None, None
    task = Task(active.task)
    if task == Task.BINARY:
        threshold = binary_section(active, result, memo, picked)
        curve_range = chosen_range()
    elif task == Task.MULTICLASS:
        multiclass_section(result)
    elif task == Task.SURVIVAL:
        survival_section(active, result, memo)
    else:
        regression_section(active, result, memo)
    with st.expander("Model report"):
        report_section(
            active,
            picked,
            key,
            result,
            memo,
            threshold=threshold,
            curve_range=curve_range,
        )


main()
