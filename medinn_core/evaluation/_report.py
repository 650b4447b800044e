"""A model report a clinician can take away: one self-contained HTML file.

Laid out along the TRIPOD+AI items a tool can fill (source data, outcome and predictors,
missing data, model and training, performance, calibration, decision curve, subgroups,
baseline comparison, intended use and limitations). Plotly figures are embedded with
plotly.js inline exactly once, and nothing is fetched from the network, so the file opens
offline. Every string that came from a user or a data file is escaped.

Pure: no file I/O and no Streamlit; the caller writes or serves the returned string.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
import plotly.graph_objects as go

from medinn_core import DISCLAIMER  # one definition, in the light package
from medinn_core.errors import ConfigError
from medinn_core.evaluation import _figures as plots
from medinn_core.evaluation._binary import BinaryEvaluation, ModelComparison
from medinn_core.evaluation._bundle import ReportInput, SubgroupTable
from medinn_core.evaluation._multiclass import MulticlassEvaluation
from medinn_core.evaluation._regression import RegressionEvaluation
from medinn_core.evaluation._survival import SurvivalComparison, SurvivalEvaluation
from medinn_core.figures import outcome_names
from medinn_core.schema import Schema

if TYPE_CHECKING:  # annotations only: the registry is not needed to write a report
    from medinn_core.io import Bundle

__all__ = ["DISCLAIMER", "NOT_STATED", "build_report"]

Evaluation = BinaryEvaluation | MulticlassEvaluation | RegressionEvaluation | SurvivalEvaluation

NOT_STATED = "Not stated: the author left this field empty."

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Arial, sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
h1 { border-bottom: 2px solid #0072B2; padding-bottom: .2em; }
h2 { margin-top: 2em; color: #0072B2; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
th { background: #f0f4f8; }
.placeholder { color: #a33; font-style: italic; }
.note { background: #fff8e1; border-left: 4px solid #E69F00; padding: .4em .8em; }
footer { margin-top: 3em; border-top: 1px solid #ccc; font-size: .9em; color: #555; }
.figure { margin: 1em 0; }
"""


# -- formatting ------------------------------------------------------------------------------
def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _num(value: Any, digits: int = 3) -> str:
    if _missing(value):
        return "n/a"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{float(value):.{digits}f}"


def _ci(interval: Mapping[str, Any] | None, digits: int = 3) -> str:
    """``0.812 (95 % CI 0.770–0.850)`` from an ``interval_dict``; "n/a" when undefined."""
    if not interval or _missing(interval.get("value")):
        return "n/a"
    text = _num(interval["value"], digits)
    low, high = interval.get("ci_low"), interval.get("ci_high")
    if not _missing(low) and not _missing(high):
        text += f" (95 % CI {_num(low, digits)}–{_num(high, digits)})"
    return text


def _rows(rows: list[tuple[str, str]]) -> str:
    """A two-column table of already formatted values (both escaped here)."""
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _frame(frame: pd.DataFrame, digits: int = 3) -> str:
    # pandas escapes cell text and headers by default.
    return frame.to_html(
        index=False, na_rep="n/a", float_format=lambda x: f"{x:.{digits}f}", border=0
    )


def _text(value: str) -> str:
    """The user's free text, escaped, or a visible placeholder when empty."""
    if not value or not value.strip():
        return f'<p class="placeholder">{_esc(NOT_STATED)}</p>'
    return "".join(f"<p>{_esc(p)}</p>" for p in value.strip().split("\n") if p.strip())


class _Figures:
    """Embeds figures, putting plotly.js inline with the first one only."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fig: go.Figure) -> str:
        first = self.count == 0
        self.count += 1
        inner = fig.to_html(full_html=False, include_plotlyjs=first, config={"displaylogo": False})
        return f'<div class="figure">{inner}</div>'


# -- sections --------------------------------------------------------------------------------
def _section(title: str, body: str) -> str:
    return f"<section><h2>{_esc(title)}</h2>{body}</section>"


def _source_data(
    meta: Mapping[str, Any], ev: Evaluation, data_name: str, data: pd.DataFrame | None
) -> str:
    rows = [
        ("Data set", data_name or "not stated"),
        ("Data fingerprint (SHA-256 of the training table)", meta.get("data_fingerprint", "n/a")),
        ("Patients evaluated", _num(int(ev.n))),
    ]
    if isinstance(ev, BinaryEvaluation):
        rows.append(("Events (prevalence)", f"{ev.events:,} ({ev.prevalence:.1%})"))
    if isinstance(ev, SurvivalEvaluation):
        rows.append(("Events observed (any time)", f"{ev.events:,}"))
    if meta.get("n_rows_dropped"):
        rows.append(("Rows dropped in training (no outcome)", _num(meta["n_rows_dropped"])))
    if isinstance(data, pd.DataFrame):
        for name in data.columns:
            if pd.api.types.is_datetime64_any_dtype(data[name]) and data[name].notna().any():
                rows.append(
                    (
                        f"Dates ({name})",
                        f"{data[name].min():%Y-%m-%d} to {data[name].max():%Y-%m-%d}",
                    )
                )
    return _rows(rows)


def _predictors(schema: Schema) -> str:
    rows = []
    for col in schema.columns:
        if col.name == schema.target:
            role = "outcome"
        elif col.name == schema.id_column:
            role = "identifier (never a predictor)"
        elif col.is_feature:
            role = "included"
        else:
            role = f"excluded: {col.reason}" if col.reason else "excluded"
        rows.append(
            {
                "column": col.name,
                "kind": str(col.kind),
                "unit": col.unit,
                "description": col.description,
                "use": role,
            }
        )
    classes = ", ".join(schema.classes) if schema.classes else ""
    outcome = f"Outcome: <b>{_esc(schema.target)}</b> ({_esc(schema.task)})"
    if classes:
        outcome += f", classes {_esc(classes)}"
        if schema.time_column:
            outcome += (
                f"; time to <b>{_esc(schema.event_class)}</b>, follow-up time in "
                f"<b>{_esc(schema.time_column)}</b> (never an input), censoring otherwise; the "
                f"model gives the {_esc(schema.event_text)}. Horizon: "
                f"{_esc(schema.horizon_reason)}"
            )
        if schema.positive_class:
            outcome += (
                f"; the predicted event is <b>{_esc(schema.positive_class)}</b>: the model gives "
                f"the {_esc(schema.event_text)}"
            )
    return f"<p>{outcome}.</p>" + _frame(pd.DataFrame(rows))


def _missing_data(schema: Schema, data: pd.DataFrame | None) -> str:
    body = (
        "<ul><li>Numeric predictors: missing values replaced by the training-split median, "
        "with a missing-value indicator added as an extra input.</li>"
        "<li>Categorical predictors: a missing value is its own level, "
        "&ldquo;(missing)&rdquo;; rare levels are grouped and levels unseen in training are "
        "handled as unknown.</li>"
        "<li>Patients without an outcome are left out of training and evaluation.</li></ul>"
    )
    if isinstance(data, pd.DataFrame):
        names = [c for c in schema.feature_names if c in data.columns]
        counts = pd.DataFrame(
            {
                "predictor": names,
                "missing": [int(data[c].isna().sum()) for c in names],
                "share": [float(data[c].isna().mean()) if len(data) else 0.0 for c in names],
            }
        )
        body += "<p>Missing values per predictor in the evaluated patients:</p>" + _frame(counts)
    return body


# Column names of the report's tables as a reader says them.
_HEADERS = {
    "name": "Model",
    "model": "Model",
    "group": "Group",
    "n": "Patients",
    "events": "Events",
    "non_events": "Non-events",
    "prevalence": "Prevalence",
    "auroc": "AUROC",
    "auroc_ci_low": "AUROC 95 % CI, low",
    "auroc_ci_high": "AUROC 95 % CI, high",
    "average_precision": "Average precision",
    "brier": "Brier score",
    "scaled_brier": "Scaled Brier score",
    "calibration_slope": "Calibration slope",
    "calibration_intercept": "Calibration intercept",
    "oe_ratio": "Observed / expected",
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "too_small": "Too few to judge",
    "c_index": "Harrell's C",
    "mae": "MAE",
    "rmse": "RMSE",
    "r2": "R²",
}
_MODEL_NAMES = {
    "network": "Neural network",
    "logistic_regression": "Logistic regression",
    "gradient_boosting": "Gradient boosting",
    "linear_regression": "Linear regression",
    "linear_cox": "Linear Cox",
}


def _readable(frame: pd.DataFrame) -> pd.DataFrame:
    """A results table with the reader's column names, model names and yes/blank flags."""
    out = frame.copy()
    for column in ("name", "model"):
        if column in out.columns:
            out[column] = out[column].map(lambda v: _MODEL_NAMES.get(str(v), v))
    if "too_small" in out.columns:
        out["too_small"] = out["too_small"].map(lambda v: "yes" if bool(v) else "")
    return out.rename(columns=lambda c: _HEADERS.get(str(c), str(c)))


# Settings that only one scheme or one kind of network uses: the report lists the ones used.
_SPLIT_ONLY = ("validation_fraction", "test_fraction", "split_members")
_FOLDS_ONLY = ("folds",)
_CNN_ONLY = ("conv_filters", "conv_kernel", "conv_pool")
_MLP_ONLY = ("knots",)


def _used_settings(config: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """The training settings this model used (a split's fractions are not shown for a
    cross-fitted model, nor a convolution's kernel for a dense network)."""
    folds = (meta.get("scheme") or {}).get("name") == "folds"
    cnn = str(meta.get("architecture") or "").startswith("Convolutional")
    unused = set(_SPLIT_ONLY if folds else _FOLDS_ONLY) | set(_MLP_ONLY if cnn else _CNN_ONLY)
    if not meta.get("scheme"):  # saved before schemes: every setting, as it was
        unused = set(_CNN_ONLY) if not cnn else set()
    return {k: v for k, v in config.items() if k not in unused}


def _setting(key: str, value: Any, meta: Mapping[str, Any]) -> str:
    """A training setting as a reader understands it: batch size 0 is "automatic: 64"."""
    if key == "batch_size" and not value:
        used = meta.get("batch_size_used")
        return f"automatic: {used}" if used else "automatic"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "network" and value == "auto":
        cnn = str(meta.get("architecture") or "").startswith("Convolutional")
        return f"auto: {'convolutional' if cnn else 'dense (no signal columns)'}"
    return str(value)


def _recalibration(meta: Mapping[str, Any]) -> str:
    from medinn_core.calibrate import Recalibration

    if meta.get("survival"):
        return str(meta["survival"].get("recalibration", "none"))
    if "recalibration" not in meta:
        return "n/a (saved before recalibration existed)"
    return Recalibration.from_dict(meta["recalibration"]).describe()


def _coverage(meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The conformal intervals' or sets' target coverage and what the internal validation
    reached."""
    conformal = meta.get("conformal") or {}
    metrics = meta.get("metrics") or {}
    if "coverage" not in metrics:
        return []
    target = conformal.get("coverage", 0.9)
    kind = "intervals (lower, upper)" if "mean_interval_width" in metrics else "prediction sets"
    size = metrics.get("mean_interval_width", metrics.get("mean_set_size"))
    return [
        (
            f"Coverage of the {target:.0%} conformal {kind}, internal validation",
            f"{metrics['coverage']:.3f} (mean {'width' if 'interval' in kind else 'size'} "
            f"{_num(size)})",
        )
    ]


def _survival_training(meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A survival model's horizon, risk and baseline hazard; a classifier's threshold."""
    surv = meta.get("survival")
    if not surv:
        return [
            ("Decision threshold", _num(meta.get("threshold"))),
            ("Threshold rule", meta.get("threshold_rule") or "n/a"),
        ]
    base = surv.get("baseline") or {}
    return [
        ("Follow-up time column", str(surv.get("time_column"))),
        ("Horizon", f"{_num(surv.get('horizon'))}: {surv.get('horizon_reason', '')}"),
        ("Risk predicted", str(surv.get("risk", ""))),
        ("Ranking score", str(surv.get("risk_score", ""))),
        ("Baseline cumulative hazard", f"{base.get('estimator', '')}; {base.get('note', '')}"),
    ]


def _training(meta: Mapping[str, Any]) -> str:
    config = meta.get("config") or {}
    split = meta.get("split") or {}
    rows = [("Architecture", str(meta.get("architecture") or "multilayer perceptron"))]
    rows += [
        (f"Setting: {k}", _setting(k, v, meta)) for k, v in _used_settings(config, meta).items()
    ]
    rows += [
        ("Model inputs after encoding", _num(meta.get("n_inputs"))),
        ("Epochs run", _num(meta.get("epochs_run"))),
        ("Best epoch (weights kept)", _num(meta.get("best_epoch"))),
        ("Stopped by the user", "yes" if meta.get("stopped_by_user") else "no"),
    ]
    scheme = meta.get("scheme") or {}
    if scheme.get("name") == "folds":
        members = scheme.get("members")
        rows += [
            (
                "Validation scheme",
                f"{members}-fold cross-fitting on {_num(split.get('train'))} patients: "
                f"{members} networks, each trained on the other folds and stopped early on its "
                "own; the model averages them; internal validation on the out-of-fold "
                "predictions",
            ),
            ("Why this scheme", scheme.get("reason", "n/a")),
        ]
    else:
        rows.append(
            (
                "Split (train / validation / test)",
                " / ".join(_num(split.get(k)) for k in ("train", "validation", "test")),
            )
        )
        if scheme:
            rows.append(("Networks averaged", _num(scheme.get("members"))))
    rows += [
        (
            "Patients grouped (one patient's rows together)",
            "yes" if meta.get("grouped_split") else "no",
        ),
        ("Recalibration (closed test on held-out logits)", _recalibration(meta)),
        *_coverage(meta),
        *_survival_training(meta),
        ("Created", meta.get("created", "n/a")),
    ]
    body = _rows(rows)
    warnings = meta.get("warnings") or []
    if warnings:
        body += "<p>Warnings raised on the training data:</p><ul>"
        body += "".join(f"<li>{_esc(w)}</li>" for w in warnings) + "</ul>"
    return body


def _binary_performance(d: Mapping[str, Any], ev: BinaryEvaluation) -> str:
    rows = [
        ("AUROC", _ci(d["auroc"])),
        ("Average precision", _ci(d["average_precision"])),
        ("Brier score", _num(d["brier"])),
        ("Scaled Brier score", _num(d["scaled_brier"])),
        ("Threshold", _num(d["threshold"])),
        ("Sensitivity", _ci(d["sensitivity"])),
        ("Specificity", _ci(d["specificity"])),
        ("PPV", _ci(d["ppv"])),
        ("NPV", _ci(d["npv"])),
        ("F1", _num(d["f1"])),
        ("Positive likelihood ratio", _num(d["lr_positive"], 2)),
        ("Negative likelihood ratio", _num(d["lr_negative"], 2)),
        ("Number needed to evaluate", _num(d["number_needed_to_evaluate"], 1)),
    ]
    body = _rows(rows)
    body += (
        f"<p>Intervals: {d['n_boot']:,} bootstrap resamples of patients (seed {d['seed']}) "
        "for AUROC and average precision; Wilson intervals at the threshold.</p>"
    )
    if ev.sample_size is not None:
        s = ev.sample_size
        body += _rows(
            [
                ("Model inputs after encoding", _num(s.n_parameters)),
                ("Events per model input", _num(s.events_per_parameter, 1)),
            ]
        )
    return body


def _binary_calibration(
    d: Mapping[str, Any], ev: BinaryEvaluation, fig: _Figures, outcomes: tuple[str, str]
) -> str:
    cal = ev.calibration
    rows = [
        ("Calibration slope", _ci(cal.to_dict().get("slope"), 2)),
        (
            "Calibration intercept (calibration-in-the-large)",
            _ci(cal.to_dict().get("intercept"), 2),
        ),
        ("Observed / expected events", _num(d["oe_ratio"], 2)),
    ]
    sentence = cal.interpretation or (
        "Slope and intercept are close to their ideal values (1 and 0): predicted risks match "
        "observed event rates in these patients."
    )
    return (
        _rows(rows)
        + f'<p class="note">{_esc(sentence)}</p>'
        + fig(plots.calibration_figure(cal, ev.risk_distribution, outcomes=outcomes))
    )


def _subgroups(subgroups: tuple[SubgroupTable, ...], ev: BinaryEvaluation, fig: _Figures) -> str:
    if not subgroups:
        return '<p class="placeholder">No subgroups were chosen for this report.</p>'
    body = "<p>Groups with fewer than 30 events or non-events are marked too small to judge.</p>"
    for shown in subgroups:
        column = shown.column
        body += f"<h3>{_esc(column)}</h3>" + _frame(_readable(shown.table))
        body += fig(plots.subgroup_forest_figure(shown.table, ev.auroc, title=f"AUROC by {column}"))
    return body


def _baseline(
    comparison: ModelComparison | SurvivalComparison | None, meta: Mapping[str, Any]
) -> str:
    if isinstance(comparison, SurvivalComparison):
        d = comparison.to_dict()
        return "<p>Both models scored on the same patients (Harrell's C).</p>" + _rows(
            [
                (comparison.names[0], _ci(d["network"])),
                (comparison.names[1], _ci(d["baseline"]["c_index"])),
                ("Difference (network − linear Cox, paired bootstrap)", _ci(d["difference"])),
            ]
        )
    if comparison is not None:
        diff = comparison.to_dict()["auroc_difference"]
        names = " − ".join(_MODEL_NAMES.get(m.name, m.name) for m in comparison.models[:2])
        return (
            "<p>Both models scored on the same patients.</p>"
            + _frame(_readable(comparison.to_frame()))
            + _rows([(f"AUROC difference ({names}, paired bootstrap)", _ci(diff))])
        )
    baselines = meta.get("baselines") or {}
    if not baselines:
        return '<p class="placeholder">No baseline model was fitted.</p>'
    metrics = meta.get("metrics") or {}
    table = pd.DataFrame(
        [{"model": "network", **metrics}]
        + [{"model": name, **values} for name, values in baselines.items()]
    )
    keep = [c for c in table.columns if c == "model" or pd.api.types.is_numeric_dtype(table[c])]
    return (
        "<p>Internal-validation metrics from training (same folds or split, same "
        "preprocessing); no paired comparison on the evaluated patients.</p>"
        + _frame(_readable(table[keep]))
    )


def _survival_sections(shown: ReportInput, fig: _Figures) -> list[tuple[str, str]]:
    ev = shown.evaluation.evaluation
    d = ev.to_dict()
    cal = d["calibration_at_horizon"]
    h = f"{ev.horizon:g}"
    rows = [
        ("Harrell's C-index (95% bootstrap CI)", _ci(d["c_index"])),
        (f"Uno's C-index (truncated at {_num(ev.uno_tau)})", _num(d["uno_c_index"])),
        (f"Cumulative/dynamic AUROC at {h}", _num(d["auroc_at_horizon"])),
        (f"Brier score at {h} (IPCW)", _num(d["brier_at_horizon"])),
        ("Integrated Brier score (IPCW, up to the horizon)", _num(d["integrated_brier"])),
    ]
    calibration = _rows(
        [
            ("Calibration slope (Cox coefficient of the log-hazard)", _num(cal["slope"])),
            (f"Observed risk by {h} (Kaplan-Meier)", _num(cal["observed_risk"])),
            (f"Mean predicted risk by {h}", _num(cal["mean_predicted_risk"])),
            ("Observed / expected", _num(cal["observed_over_expected"])),
        ]
    )
    body = (
        f"<p>Risks are predicted by the horizon {_esc(ev.time_column)} {h}; the ranking score "
        "is the network's log-hazard. Censoring-weighted metrics use the Kaplan-Meier "
        "estimate of these patients' censoring (scikit-survival).</p>" + _rows(rows)
    )
    sections = [
        ("Performance", body),
        (
            "Calibration at the horizon",
            calibration
            + "<p>By risk decile: mean predicted risk against the Kaplan-Meier observed risk."
            "</p>" + _frame(ev.calibration),
        ),
    ]
    if len(ev.net_benefit):
        sections.append(
            (
                "Decision curve at the horizon",
                "<p>Net benefit of acting on the risk by the horizon against treating everyone "
                "or no one; event rates by Kaplan-Meier, so censored patients count for the "
                "time they were followed.</p>" + fig(plots.decision_curve_figure(ev.net_benefit)),
            )
        )
    for table in shown.subgroups:
        sections.append((f"Subgroups: {table.label}", _frame(table.table)))
    return sections


def _performance_sections(shown: ReportInput, fig: _Figures, unit: str) -> list[tuple[str, str]]:
    ev = shown.evaluation.evaluation
    d = ev.to_dict()
    if isinstance(ev, SurvivalEvaluation):
        return _survival_sections(shown, fig)
    if isinstance(ev, BinaryEvaluation):
        at = shown.threshold
        d.update(at.to_dict())  # the threshold shown, which may not be the evaluation's own
        outcomes = outcome_names(shown.evaluation.schema)
        return [
            (
                "Performance",
                _binary_performance(d, ev)
                + fig(plots.roc_figure(ev.roc_curve, ev.auroc))
                + fig(plots.pr_figure(ev.pr_curve, ev.prevalence, ev.average_precision))
                + fig(
                    plots.confusion_matrix_figure(
                        at.confusion_matrix(),
                        title=f"Confusion matrix at {at.threshold:.0%}",
                        outcomes=outcomes,
                    )
                )
                + fig(plots.risk_histogram_figure(ev.risk_distribution, outcomes=outcomes)),
            ),
            ("Calibration", _binary_calibration(d, ev, fig, outcomes)),
            (
                "Decision curve",
                "<p>Net benefit of acting on the model against treating everyone or no one, "
                "over a range of threshold probabilities.</p>"
                + fig(plots.decision_curve_figure(shown.decision_curve)),
            ),
        ]
    if isinstance(ev, MulticlassEvaluation):
        rows = [
            ("Accuracy", _ci(d.get("accuracy"))),
            ("Balanced accuracy", _ci(d.get("balanced_accuracy"))),
            ("Macro one-vs-rest AUROC", _ci(d.get("macro_auroc"))),
            ("Weighted one-vs-rest AUROC", _ci(d.get("weighted_auroc"))),
        ]
        return [
            (
                "Performance",
                _rows(rows)
                + _frame(ev.per_class)
                + fig(plots.confusion_matrix_figure(ev.confusion))
                + fig(plots.multiclass_roc_figure(ev.roc_curves, ev.per_class)),
            ),
            ("Calibration", fig(plots.multiclass_calibration_figure(ev.calibration))),
        ]
    assert isinstance(ev, RegressionEvaluation)
    suffix = f" ({unit})" if unit else ""
    rows = [
        (f"MAE{suffix}", _ci(d.get("mae"))),
        (f"RMSE{suffix}", _ci(d.get("rmse"))),
        ("R²", _ci(d.get("r2"))),
        (f"Mean error (bias){suffix}", _num(d.get("bias"))),
    ]
    body = _rows(rows) + fig(plots.predicted_observed_figure(ev.points, unit=unit))
    body += fig(plots.residuals_figure(ev.points, unit=unit))
    for table in shown.subgroups:
        if len(shown.subgroups) > 1:
            body += f"<h3>{_esc(table.column)}</h3>"
        body += "<p>Error by group:</p>" + _frame(table.table)
    return [("Performance", body)]


# -- the report ------------------------------------------------------------------------------
def build_report(
    bundle: Bundle,
    shown: ReportInput,
    *,
    data_name: str,
    intended_use: str = "",
    limitations: str = "",
    data: pd.DataFrame | None = None,
) -> str:
    """One self-contained HTML page describing a model and its evaluation (TRIPOD+AI items).

    Parameters
    ----------
    bundle : the model reported: its metadata, schema and name.
    shown : what to show of the model's evaluation, from
        :meth:`~medinn_core.evaluation.ModelEvaluation.shown`.
    data_name : name of the evaluated data set, shown as given (escaped).
    intended_use, limitations : the author's free text; a visible "not stated" otherwise.
    data : the evaluated rows, to count missing values per predictor and show date ranges.

    Returns
    -------
    str
        A complete HTML document that needs no network (plotly.js is inline, once).

    Raises
    ------
    ConfigError
        If ``shown`` evaluates a model of another task or outcome than ``bundle``'s.
    """
    meta = dict(bundle.metadata or {})
    schema = bundle.schema
    evaluated = shown.evaluation
    if evaluated.task != bundle.task or evaluated.schema.target != schema.target:
        raise ConfigError(
            f"The evaluation is of a {evaluated.task} model of {evaluated.schema.target!r}, "
            f"but '{bundle.name}' is a {bundle.task} model of {schema.target!r}: evaluate this "
            "model to report on it."
        )
    ev = evaluated.evaluation
    fig = _Figures()
    unit = schema.column(schema.target).unit if schema.target in schema.names else ""
    sections = [
        ("Source data", _source_data(meta, ev, data_name, data)),
        ("Outcome and predictors", _predictors(schema)),
        ("Missing data", _missing_data(schema, data)),
        ("Model and training", _training(meta)),
        *_performance_sections(shown, fig, unit),
    ]
    if isinstance(ev, BinaryEvaluation):
        sections.append(("Subgroups", _subgroups(shown.subgroups, ev, fig)))
    sections.append(("Baseline comparison", _baseline(shown.comparison, meta)))
    sections.append(("Intended use", _text(intended_use)))
    sections.append(("Limitations", _text(limitations)))
    notes = ev.notes
    if notes:
        sections.append(("Notes", "<ul>" + "".join(f"<li>{_esc(n)}</li>" for n in notes) + "</ul>"))

    name = meta.get("name") or bundle.name
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    libraries = meta.get("libraries") or {}
    versions = ", ".join(f"{k} {v}" for k, v in libraries.items()) or "not recorded"
    head = (
        f"<h1>Model report: {_esc(name)}</h1>"
        f"<p>Task: {_esc(meta.get('task', schema.task))}, outcome {_esc(schema.target)}. "
        f"Report generated {_esc(today)}; model created {_esc(meta.get('created', 'n/a'))}.</p>"
    )
    if meta.get("note"):
        head += f"<p>Note: {_esc(meta['note'])}</p>"
    body = "".join(_section(title, content) for title, content in sections)
    footer = (
        f"<footer><p>Made with medinn. Libraries: {_esc(versions)}.</p>"
        f"<p><b>{_esc(DISCLAIMER)}</b></p></footer>"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Model report: {_esc(name)}</title><style>{_CSS}</style></head>"
        f"<body>{head}{body}{footer}</body></html>"
    )
