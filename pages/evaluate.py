"""Evaluate: how well the current model does on labelled patients it was not trained on.

One section per task; each shows what ``medinn_core.evaluation`` computes, drawn by
``medinn_core.evaluation``. Extend a section by adding tabs. The tabs are lazy: only the open one
is computed and sent, so the model report reads the closed tabs' choices from session state.
"""

import dataclasses

import numpy as np
import pandas as pd
import streamlit as st

from medinn_app import reporting, runtime, sources, state, ui
from medinn_core import evaluation
from medinn_core.errors import MedinnError
from medinn_core.evaluation import (
    compare_models,
    decision_curve,
    evaluate_binary,
    evaluate_multiclass,
    evaluate_regression,
    regression_by_group,
    sample_size,
    subgroup_table,
    threshold_metrics,
    threshold_presets,
)
from medinn_core.schema import Task
from medinn_core.train import baseline_output, estimator_output

runtime.ensure_navigation()

BOOTSTRAP_CHOICES = (0, 200, 1000)
DC_RANGE = (1, 50)  # the decision curve's threshold probabilities (%) until the user moves them

st.title("Evaluate")
active = ui.require_model()
model = active.model
schema = model.schema
task = Task(schema.task)

choices = sources.sources(active, state.dataset())
if not choices:
    st.info(
        f"Evaluation needs patients with a known outcome ('{schema.target}') that the model "
        "was not trained on. Load the table the model was trained on (its test split is used) "
        "or another labelled file on the Data page."
    )
    st.page_link("pages/data.py", label="Go to Data", icon=":material/table:")
    st.stop()
by_key = {c.key: c for c in choices}
left, right = st.columns([3, 1])
picked = by_key[
    left.selectbox(
        "Patients", list(by_key), format_func=lambda k: by_key[k].label, key=state.W_EVAL_SOURCE
    )
]
n_boot = right.selectbox(
    "Bootstrap resamples",
    BOOTSTRAP_CHOICES,
    index=1,
    key=state.W_EVAL_BOOT,
    help="For the 95 % intervals and curve bands; 0 skips them.",
)

cache_key = (active.token, picked.key, n_boot)
cached = st.session_state.get(state.EVALUATION)
if cached is None or cached[0] != cache_key:
    try:
        with st.spinner("Evaluating…"):
            y, output = sources.outputs(active, picked.rows())
            if task == Task.BINARY:
                result = evaluate_binary(y, output, threshold=state.threshold(), n_boot=n_boot)
            elif task == Task.MULTICLASS:
                result = evaluate_multiclass(y, output, model.classes_, n_boot=n_boot)
            else:
                result = evaluate_regression(y, output, n_boot=n_boot)
    except MedinnError as exc:
        st.error(str(exc))
        st.stop()
    cached = (cache_key, y, output, result, {})
    st.session_state[state.EVALUATION] = cached
_, y, output, result, memo = cached  # memo: what else was computed for this evaluation
rows = sources.labelled(active, picked.rows())  # in the order of y and output
for note in result.notes:
    st.info(note)


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


def subgroup_column() -> str | None:
    # persist_state: the choice outlives a closed Subgroups tab (the report uses it).
    return st.selectbox(
        "Split the patients by",
        sources.subgroup_columns(active, rows),
        index=None,
        placeholder="Choose a column (sex, an age band, a site…)",
        key=state.W_EVAL_SUBGROUP,
        help="Categories as they are; numbers cut at their quartiles.",
        persist_state="page",
    )


def chosen_subgroup() -> str | None:
    """The column chosen on the Subgroups tab, open or closed; None if these patients lack it."""
    column = st.session_state.get(state.W_EVAL_SUBGROUP)
    return column if column in sources.subgroup_columns(active, rows) else None


def chosen_range() -> tuple[int, int]:
    """The decision curve's threshold range (%) chosen on its tab, open or closed."""
    low, high = st.session_state.get(state.W_EVAL_DC_RANGE, DC_RANGE)
    return low, high


def subgroup_metrics(column: str, threshold: float) -> pd.DataFrame:
    """Binary metrics per group of ``column``, kept for this evaluation (they bootstrap)."""
    key = ("subgroups", column, threshold)
    if key not in memo:
        groups = sources.subgroup_values(rows, column)
        memo[key] = subgroup_table(y, output, groups, threshold, n_boot=n_boot)
    return memo[key]


def compared_with(name: str, other_output):
    return compare_models(
        y, output, other_output, names=("Neural network", name), n_boot=max(n_boot, 50)
    )


def logistic_comparison():
    """The network against its logistic regression, paired on these patients; None without
    one. The report shows this one only, so building it never fits gradient boosting."""
    if active.baseline is None:
        return None
    if "logistic" not in memo:
        x = model.transform(rows)
        memo["logistic"] = compared_with(
            "Logistic regression", baseline_output(active.baseline, task, x)
        )
    return memo["logistic"]


def baseline_comparisons() -> list:
    """The logistic comparison and, when the training table is loaded, HistGradientBoosting
    refitted on the same training split; paired on these patients."""
    if "comparisons" not in memo:
        found = [c for c in (logistic_comparison(),) if c is not None]
        with st.spinner("Fitting gradient boosting on the training split…"):
            boosting = sources.gradient_boosting(active, state.dataset())
        if boosting is not None:
            x = model.transform(rows)
            found.append(compared_with("Gradient boosting", estimator_output(boosting, task, x)))
        memo["comparisons"] = found
    return memo["comparisons"]


if task == Task.BINARY:
    cal = result.calibration
    cols = st.columns(5)
    cols[0].metric("Patients", f"{result.n:,}", help=f"{result.events:,} events")
    cols[1].metric("Prevalence", f"{result.prevalence:.1%}")
    show(cols[2], "AUROC", result.auroc)
    show(cols[3], "Brier score", cal.brier)
    show(cols[4], "Calibration slope", cal.slope, 2)
    if cal.interpretation:
        st.warning(cal.interpretation)

    st.subheader("At the decision threshold")
    threshold = ui.threshold_slider(state.W_EVAL_THRESHOLD)
    at = threshold_metrics(y, output, threshold)
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
        left, right = st.columns(2)
        target = left.number_input(
            "Target sensitivity (%)",
            50,
            99,
            90,
            key=state.W_EVAL_TARGET_SENS,
            help="The preset 'target sensitivity' is the highest threshold that reaches it.",
        )
        presets_key = ("presets", target, threshold)
        if presets_key not in memo:
            memo[presets_key] = threshold_presets(
                y, output, target_sensitivity=target / 100, user_threshold=threshold
            )
        presets = memo[presets_key]
        st.dataframe(
            presets.drop(columns="key").style.format(
                {c: "{:.3f}" for c in presets.columns if c not in ("key", "label")}, na_rep="n/a"
            ),
            hide_index=True,
            key="evaluate.presets_table",
        )
        usable = presets.dropna(subset=["threshold"])
        pick = left.selectbox(
            "Use a preset as the decision threshold",
            list(usable["key"]),
            format_func=dict(zip(usable["key"], usable["label"], strict=True)).get,
            key=state.W_EVAL_PRESET,
        )

        def apply_preset() -> None:
            value = float(usable.set_index("key").loc[pick, "threshold"])
            st.session_state[state.THRESHOLD] = state.clamp_threshold(value)

        left.button("Apply", key=state.W_EVAL_APPLY_PRESET, on_click=apply_preset)
        prevalence = right.number_input(
            "Prevalence in your clinic (%)",
            0.1,
            99.9,
            min(max(round(100 * result.prevalence, 1), 0.1), 99.9),
            0.1,
            key=state.W_EVAL_PREVALENCE,
            help="PPV and NPV depend on how common the outcome is where the model is used.",
        )
        local = threshold_metrics(y, output, threshold, prevalence=prevalence / 100)
        a, b = right.columns(2)
        a.metric(
            "PPV at this prevalence",
            f"{local.ppv_at_prevalence:.2f}" if local.ppv_at_prevalence is not None else "n/a",
        )
        b.metric(
            "NPV at this prevalence",
            f"{local.npv_at_prevalence:.2f}" if local.npv_at_prevalence is not None else "n/a",
        )
        size = sample_size(y, len(model.preprocessor_.feature_names_))
        st.caption(
            f"Sample size: {size.n:,} patients, {size.events:,} events, "
            f"{size.n_parameters} model inputs after encoding, "
            f"{size.events_per_parameter:.1f} events per input."
        )
        if size.warning:
            st.warning(size.warning)
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
                evaluation.confusion_matrix_figure(
                    at.confusion_matrix(), title=f"Confusion matrix at {threshold:.0%}"
                ),
                key="evaluate.confusion",
            )
    if roc_tab.open:
        with roc_tab:
            st.plotly_chart(
                evaluation.roc_figure(result.roc_curve, result.auroc), key="evaluate.roc"
            )
    if pr_tab.open:
        with pr_tab:
            st.plotly_chart(
                evaluation.pr_figure(result.pr_curve, result.prevalence, result.average_precision),
                key="evaluate.pr",
            )
    if calibration_tab.open:
        with calibration_tab:
            st.plotly_chart(
                evaluation.calibration_figure(cal, result.risk_distribution),
                key="evaluate.calibration",
            )
    if curve_tab.open:
        with curve_tab:
            low, high = st.slider(
                "Threshold probabilities (%)",
                1,
                99,
                DC_RANGE,
                key=state.W_EVAL_DC_RANGE,
                help=(
                    "The risks at which a clinician would act: the net benefit is shown over them."
                ),
                persist_state="page",  # outlives a closed tab: the report uses it
            )
            curve = decision_curve(y, output, np.arange(low, high + 1) / 100)
            st.plotly_chart(evaluation.decision_curve_figure(curve), key="evaluate.decision_curve")
            st.caption(
                "Net benefit: true positives minus false positives weighted by the odds of the "
                "threshold, per patient. The model is useful where its curve lies above both "
                "treat-all and treat-none."
            )
    if risk_tab.open:
        with risk_tab:
            st.plotly_chart(
                evaluation.risk_histogram_figure(result.risk_distribution),
                key="evaluate.risk_distribution",
            )
    if subgroups_tab.open:
        with subgroups_tab:
            column = subgroup_column()
            if column is not None:
                groups = sources.subgroup_values(rows, column)
                table = subgroup_metrics(column, threshold)
                st.dataframe(
                    table.style.apply(
                        lambda r: ["color: #888"] * len(r) if r["too_small"] else [""] * len(r),
                        axis=1,
                    ),
                    hide_index=True,
                )
                st.caption(
                    "too_small: fewer than 30 events or non-events in the group, too few to judge."
                )
                st.plotly_chart(
                    evaluation.subgroup_forest_figure(
                        table, result.auroc, title=f"AUROC by {groups.name or column}"
                    ),
                    key="evaluate.subgroup_forest",
                )
    if baseline_tab.open:
        with baseline_tab:
            comparisons = baseline_comparisons()
            if not comparisons:
                st.info("This model carries no logistic-regression baseline to compare with.")
            else:
                table = pd.concat(
                    [c.to_frame().set_index("name") for c in comparisons]
                ).drop_duplicates()
                st.dataframe(
                    table.style.format("{:.3f}", na_rep="n/a"), key="evaluate.baseline_table"
                )
                for compared in comparisons:
                    diff = compared.auroc_difference
                    other = compared.models[1].name.lower()
                    if diff is not None and diff.ci_low is not None:
                        st.markdown(
                            f"AUROC difference (network − {other}): **{diff.value:+.3f}** "
                            f"(95 % CI {diff.ci_low:+.3f} to {diff.ci_high:+.3f}, paired "
                            "bootstrap on the same patients)."
                        )
                st.caption(
                    "The baselines were fitted on the same training split with the same "
                    "preprocessing. If an interval includes 0, the network has not shown that "
                    "it earns its complexity on these patients."
                )
                if not any(c.models[1].name == "Gradient boosting" for c in comparisons):
                    st.caption(
                        "Gradient boosting is compared when the table the model was trained on "
                        "is loaded (it is refitted on the same training split; bundles hold no "
                        "fitted trees)."
                    )

elif task == Task.MULTICLASS:
    cols = st.columns(5)
    cols[0].metric("Patients", f"{result.n:,}")
    show(cols[1], "Accuracy", result.accuracy)
    show(cols[2], "Balanced accuracy", result.balanced_accuracy)
    show(cols[3], "Macro AUROC", result.macro_auroc)
    show(cols[4], "Weighted AUROC", result.weighted_auroc)
    confusion_tab, roc_tab, calibration_tab, per_class_tab = st.tabs(
        ["Confusion matrix", "ROC", "Calibration", "Per class"],
        key=state.W_EVAL_TAB,
        on_change="rerun",
    )
    if confusion_tab.open:
        with confusion_tab:
            st.plotly_chart(
                evaluation.confusion_matrix_figure(result.confusion), key="evaluate.confusion"
            )
    if roc_tab.open:
        with roc_tab:
            st.plotly_chart(
                evaluation.multiclass_roc_figure(result.roc_curves, result.per_class),
                key="evaluate.roc",
            )
    if calibration_tab.open:
        with calibration_tab:
            st.plotly_chart(
                evaluation.multiclass_calibration_figure(result.calibration),
                key="evaluate.calibration",
            )
    if per_class_tab.open:
        with per_class_tab:
            st.dataframe(result.per_class, hide_index=True)

else:
    unit = schema.column(schema.target).unit
    cols = st.columns(4)
    cols[0].metric("Patients", f"{result.n:,}")
    show(cols[1], f"MAE {unit}".strip(), result.mae)
    show(cols[2], f"RMSE {unit}".strip(), result.rmse)
    show(cols[3], "R²", result.r2)
    observed_tab, residuals_tab, subgroups_tab = st.tabs(
        ["Predicted against observed", "Residuals", "Subgroups"],
        key=state.W_EVAL_TAB,
        on_change="rerun",
    )
    if observed_tab.open:
        with observed_tab:
            st.plotly_chart(
                evaluation.predicted_observed_figure(result.points, unit=unit),
                key="evaluate.predicted_observed",
            )
    if residuals_tab.open:
        with residuals_tab:
            st.plotly_chart(
                evaluation.residuals_figure(result.points, unit=unit), key="evaluate.residuals"
            )
    if subgroups_tab.open:
        with subgroups_tab:
            column = subgroup_column()
            if column is not None:
                groups = sources.subgroup_values(rows, column)
                by_group = regression_by_group(y, output, groups)
                st.dataframe(
                    by_group.rename(columns={"group": groups.name or column}).style.format(
                        {"mae": "{:.3g}", "rmse": "{:.3g}", "bias": "{:+.3g}"}
                    ),
                    hide_index=True,
                    key="evaluate.regression_subgroups",
                )
                st.plotly_chart(
                    evaluation.regression_subgroup_figure(
                        by_group,
                        result.mae.value,
                        unit=unit,
                        title=f"Error by {groups.name or column}",
                    ),
                    key="evaluate.regression_subgroup_figure",
                )
                st.caption(
                    "Bias is the mean of predicted − observed: above 0, the model predicts "
                    "too high."
                )

with st.expander("Model report"):
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
    split_by = chosen_subgroup() if task != Task.MULTICLASS else None
    curve_range = chosen_range() if task == Task.BINARY else None

    def report() -> str:
        shown, comparison, subgroups = result, None, None
        if task == Task.BINARY:
            low, high = curve_range
            curve = decision_curve(y, output, np.arange(low, high + 1) / 100)
            shown = dataclasses.replace(result, threshold=at, decision_curve=curve)
            comparison = logistic_comparison()
            subgroups = {}
            if split_by is not None:
                subgroups[split_by] = subgroup_metrics(split_by, threshold)
        elif task == Task.REGRESSION and split_by is not None:
            groups = sources.subgroup_values(rows, split_by)
            shown = dataclasses.replace(result, by_group=regression_by_group(y, output, groups))
        return sources.report_html(
            active,
            shown,
            data_name=picked.label,
            rows=rows,
            intended_use=intended_use,
            limitations=limitations,
            comparison=comparison,
            subgroups=subgroups,
        )

    reporting.report_download(
        report,
        cache_key=(
            "evaluate",
            cache_key,
            threshold if task == Task.BINARY else None,
            curve_range,
            split_by,
            intended_use,
            limitations,
        ),
        file_name=f"{active.name}-report.html",
        build_key=state.W_EVAL_REPORT_BUILD,
        download_key=state.W_EVAL_REPORT,
    )
