"""Predict: score patients, check their columns, a risk table, and one patient to try changes.

The core answers "score these patients" (:func:`medinn_core.predict.score_patients`), once per
model and table; a slider move only asks it for the bands and decisions at the new threshold.
"""

import functools

import pandas as pd
import streamlit as st

from medinn_app import audit, explaining, loaders, runtime, state, tables, ui
from medinn_core import figures
from medinn_core.errors import MedinnError
from medinn_core.io import Bundle
from medinn_core.predict import Scoring, score_patients, survival_curve, unusual_values
from medinn_core.schema import Task

# Light fills behind the band's word: readable, and the words carry the meaning without
# colour. A column setting, not a pandas Styler: styling 10,000 rows took seconds a run.
BAND_FILLS = {"low": "#D1E7DD", "intermediate": "#FFF3CD", "high": "#F8D7DA"}
PREDICT_TABS = ("All patients", "One patient: try a change")


# -- which patients -----------------------------------------------------------------------------
def choose_patients(current: state.Dataset | None, sample: str | None) -> tuple[str, state.Dataset]:
    """The source the user picked (current dataset, the sample that fits the model, or an
    upload) and its table."""
    sources = (["current"] if current is not None else []) + (["sample"] if sample else [])
    sources.append("upload")
    labels = {
        "current": f"Current dataset ({ui.plain(current.name)})" if current is not None else "",
        "sample": f"Sample: {sample}",
        "upload": "Upload a file",
    }
    source = ui.radio(
        st,
        "Patients to score",
        sources,
        format_func=labels.get,
        horizontal=True,
        key=state.W_PREDICT_SOURCE,
    )
    if source == "current":
        return source, current
    held: state.Dataset | None = st.session_state.get(state.PREDICT_DATA)
    if source == "sample":
        if held is None or held.source != "sample" or held.name != sample:
            held = loaders.read_sample(sample)
            st.session_state[state.PREDICT_DATA] = held
        return source, held
    upload = st.file_uploader(
        "CSV, Excel (.xlsx) or Parquet file of patients",
        type=loaders.UPLOAD_TYPES,
        key=state.W_PREDICT_UPLOAD,
    )
    if upload is None:
        st.info("Upload a file with the model's columns (the outcome column is not needed).")
        st.stop()
    fresh = st.session_state.get(state.PREDICT_UPLOAD_ID) != upload.file_id
    if held is None or held.source != "upload" or fresh:
        try:
            held = loaders.read_upload(upload.getvalue(), upload.name)
        except MedinnError as exc:
            st.error(ui.plain(f"{upload.name}: {exc}"))
            st.stop()
        st.session_state[state.PREDICT_DATA] = held
        st.session_state[state.PREDICT_UPLOAD_ID] = upload.file_id
    return source, held


# -- scores -------------------------------------------------------------------------------------
def scored(active: Bundle, data: state.Dataset) -> Scoring:
    """The core's scoring of ``data``, computed once per model and table (a slider move only
    re-bands it); ends the page with the core's message when the patients cannot be scored."""
    cache_key = (active.token, data.token)
    cached = st.session_state.get(state.PREDICTIONS)
    if cached is not None and cached[0] == cache_key:
        return cached[1]
    try:
        with st.spinner(f"Scoring {len(data.frame):,} patients…"):
            scoring = score_patients(active, data.frame, source=f"'{data.name}'")
        audit.record("predict", active=active, n_patients=len(data.frame))
    except MedinnError as exc:
        st.error(ui.plain(exc))
        st.stop()
    st.session_state[state.PREDICTIONS] = (cache_key, scoring)
    return scoring


def show_notes(scoring: Scoring) -> None:
    if scoring.ignored_message:
        st.caption(ui.plain(scoring.ignored_message))
    if scoring.unusual_message:
        st.warning(ui.plain(scoring.unusual_message), icon=":material/warning:")


def choose_threshold(every_tab, task: Task) -> float | None:
    """The decision threshold of a binary model: its slider in the open table tab, else the
    shared value; None for other tasks."""
    if task != Task.BINARY:
        return None
    if every_tab.open:
        with every_tab:
            return ui.threshold_slider(state.W_PREDICT_THRESHOLD)
    return state.threshold()


# -- all patients -------------------------------------------------------------------------------
def draw_survival_table(table: pd.DataFrame, scoring: Scoring, schema) -> None:
    """A survival model's risks by its horizon, their range across the ensemble and the
    log-hazard that ranks the patients."""
    a, b = st.columns(2)
    a.metric("Patients", f"{len(table):,}")
    b.metric("Unusual patients", f"{int(table['unusual'].sum()):,}")
    risk = tables.horizon_risk(schema)
    st.caption(
        ui.plain(
            f"{risk[:1].upper() + risk[1:]}: the probability of the event by the horizon. "
            "Range: the lowest and highest risk among the ensemble's networks (each trained on "
            "other patients). Risk score: the log-hazard, which ranks the patients (higher = "
            "earlier event); the risk by any time follows from it. Unusual: a value outside "
            "the training range or a category never seen in training. Click a column header "
            "to sort."
        )
    )
    percent = {"min_value": 0.0, "max_value": 1.0, "format": "percent"}
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "risk": st.column_config.ProgressColumn(tables.risk_header(schema), **percent),
            "risk_low": st.column_config.NumberColumn("range: lowest", format="percent"),
            "risk_high": st.column_config.NumberColumn("range: highest", format="percent"),
            "risk_score": st.column_config.NumberColumn("risk score (log-hazard)", format="%.3f"),
            "unusual": st.column_config.CheckboxColumn("unusual"),
        },
    )
    st.plotly_chart(
        ui.plain_figure(
            figures.risk_histogram(
                scoring.outputs["risk"].to_numpy(), None, x_title=tables.risk_header(schema)
            )
        ),
        key="predict.histogram",
    )


def draw_table(table: pd.DataFrame, scoring: Scoring, threshold: float | None, schema) -> None:
    if scoring.task == Task.SURVIVAL:
        draw_survival_table(table, scoring, schema)
        return
    if scoring.task != Task.BINARY:
        st.dataframe(table, hide_index=True)
        return
    bands = table["band"].value_counts()
    a, b, c, d = st.columns(4)
    a.metric("Patients", f"{len(table):,}")
    b.metric(f"High risk (≥ {threshold:.0%})", f"{bands.get('high', 0):,}")
    c.metric(
        f"Intermediate ({threshold / 2:.0%}–{threshold:.0%})", f"{bands.get('intermediate', 0):,}"
    )
    d.metric("Unusual patients", f"{int(table['unusual'].sum()):,}")
    if "uncertain" in table.columns and table["uncertain"].any():
        st.warning(
            f"{int(table['uncertain'].sum()):,} patients are marked uncertain: the networks "
            f"of the ensemble fall on both sides of the {threshold:.0%} threshold, so the "
            "decision depends on which patients trained the network. Weigh it with care.",
            icon=":material/help:",
        )
    event = schema.event_text
    st.caption(
        f"{ui.plain(event[:1].upper() + event[1:])}. Band: high at or above the "
        "threshold, intermediate from half of it, low below. Unusual: a value outside the "
        "training range or a category never seen in training; the risk is less certain there. "
        "Range: the lowest and highest risk among the ensemble's networks (each trained on "
        "other patients); uncertain: the range straddles the threshold. "
        "Click a column header to sort."
    )
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "risk (%)": st.column_config.ProgressColumn(
                tables.risk_header(schema), min_value=0, max_value=100, format="%.1f%%"
            ),
            "band": st.column_config.MultiselectColumn(  # one word a cell, drawn as a label
                "band", options=list(BAND_FILLS), color=list(BAND_FILLS.values())
            ),
            "unusual": st.column_config.CheckboxColumn("unusual"),
            "uncertain": st.column_config.CheckboxColumn("uncertain"),
        },
    )
    st.plotly_chart(
        ui.plain_figure(figures.risk_histogram(scoring.outputs["risk"].to_numpy(), threshold)),
        key="predict.histogram",
    )


def draw_download(active: Bundle, table: pd.DataFrame, task: Task) -> None:
    st.download_button(
        "Download the predictions (CSV)",
        audit.audited(  # made when asked for, and audited each time it is made
            "export_predictions",
            functools.partial(tables.predictions_csv, table, active.schema),
            active=active,
            n_patients=len(table),
        ),
        file_name=tables.predictions_file_name(active.name, active.schema),
        mime="text/csv",
        key=state.W_PREDICT_DOWNLOAD,
        on_click="ignore",  # the download needs no rerun
        icon=":material/download:",
    )


# -- one patient --------------------------------------------------------------------------------
def choose_patient(scoring: Scoring, frame: pd.DataFrame, source: str):
    """The patient picked (an index label of ``frame``), highest risk first for binary models;
    the button that opens the patient on Explain."""
    names = scoring.patients.to_dict()
    row_id = ui.selectbox(
        st,
        "Patient",
        list(frame.index[scoring.order]),
        format_func=names.__getitem__,
        key=state.W_PREDICT_PATIENT,
        persist_state="page",  # kept while the other tab is open
    )
    if st.button("Explain this patient", key=state.W_PREDICT_EXPLAIN, icon=":material/insights:"):
        explaining.request_patient(source, frame.index.get_loc(row_id))
        st.switch_page("pages/explain.py")
    return row_id


def edited_patient(active: Bundle, row: pd.Series, row_id) -> pd.DataFrame:
    """The patient's values, one input a feature prefilled from ``row``, as a one-row table.
    A signal's samples (a trace sampled as columns) are kept as recorded: a trace is not
    edited one sample at a time."""
    signals = active.schema.signals
    in_signal = {c for g in signals for c in g.columns}
    values = {name: row.get(name) for name in in_signal}
    columns = st.columns(4)
    editable = [col for col in active.schema.features if col.name not in in_signal]
    for i, col in enumerate(editable):
        key = f"{state.W_PREDICT_FIELD}.{row_id}.{col.name}"
        with columns[i % 4]:
            values[col.name] = ui.value_input(col, row.get(col.name), active.model, key)
    if signals:
        kept = ", ".join(f"'{g.name}' ({g.length} samples)" for g in signals)
        st.caption(
            ui.plain(
                f"The trace of {kept} is kept as recorded; Explain's Signal saliency shows what "
                "each sample adds."
            )
        )
    return pd.DataFrame([values])


def show_survival(active: Bundle, patient: pd.DataFrame, one: Scoring, before: pd.Series) -> None:
    """The edited patient's risk by the horizon beside the recorded one, its range and
    log-hazard, and the patient's survival curve against the cohort's."""
    schema = active.schema
    outputs = one.outputs.iloc[0]
    risk, was = float(outputs["risk"]), float(before["risk"])
    text = tables.horizon_risk(schema)
    st.metric(
        ui.plain(f"{text[:1].upper() + text[1:]} with these values"),
        f"{risk:.1%}",
        delta=f"{(risk - was) * 100:+.1f} points from {was:.1%}"
        if abs(risk - was) > 5e-4
        else None,
        delta_color=ui.risk_delta_colour(schema),
    )
    parts = []
    if "risk_low" in outputs.index:
        low, high = float(outputs["risk_low"]), float(outputs["risk_high"])
        parts.append(f"Range across the ensemble's networks: {low:.1%} to {high:.1%}.")
    parts.append(f"Risk score (log-hazard): {float(outputs['risk_score']):.3f}.")
    st.caption(" ".join(parts))
    try:
        curve = survival_curve(active, patient)
    except MedinnError as exc:
        st.error(ui.plain(exc))
        return
    unit = schema.column(schema.time_column).unit
    time_label = f"{schema.time_column} ({unit})" if unit else str(schema.time_column)
    st.plotly_chart(
        ui.plain_figure(figures.survival_curve_figure(curve, schema.horizon, time_label, risk)),
        key="predict.survival_curve",
    )
    st.caption(
        "The probability of being event-free over time for this patient (with the values "
        "above) and the mean of the held-out patients of training. The gap at the horizon is "
        "the difference in risk."
    )


def show_change(one: Scoring, before: pd.Series, threshold: float | None, schema) -> None:
    """The edited patient's prediction beside the recorded one."""
    outputs = one.outputs.iloc[0]
    if one.task == Task.BINARY:
        risk, was = float(outputs["risk"]), float(before["risk"])
        band = one.bands(threshold).iloc[0]
        event = schema.event_text
        st.metric(
            f"{ui.plain(event[:1].upper() + event[1:])} with these values ({band})",
            f"{risk:.1%}",
            delta=f"{(risk - was) * 100:+.1f} points from {was:.1%}"
            if abs(risk - was) > 5e-4
            else None,
            delta_color=ui.risk_delta_colour(schema),
        )
        if "risk_low" in outputs.index:
            low, high = float(outputs["risk_low"]), float(outputs["risk_high"])
            straddles = bool(one.uncertain(threshold).iloc[0])
            st.caption(
                f"Range across the ensemble's networks: {low:.1%} to {high:.1%}"
                + (
                    f" — it straddles the {threshold:.0%} threshold: the decision is uncertain."
                    if straddles
                    else "."
                )
            )
    elif one.task == Task.REGRESSION:
        value, was = float(outputs["prediction"]), float(before["prediction"])
        unit = schema.column(schema.target).unit
        st.metric(
            f"Predicted {ui.plain(schema.target)}",
            ui.plain(f"{value:.4g} {unit}".strip()),
            delta=f"{value - was:+.3g} from {was:.4g}" if abs(value - was) > 1e-9 else None,
        )
        if "lower" in outputs.index:
            coverage = one.coverage
            st.caption(
                ui.plain(f"{coverage:.0%} interval: {float(outputs['lower']):.4g} to ")
                + ui.plain(f"{float(outputs['upper']):.4g} {unit}".strip())
                + " (conformal: on the internal validation it held the true value for "
                f"{coverage:.0%} of patients)."
            )
    else:
        probs = outputs[[c for c in outputs.index if c.startswith("p_")]]
        st.metric(f"Predicted {ui.plain(schema.target)}", ui.plain(outputs["prediction"]))
        if "prediction_set" in outputs.index:
            st.caption(
                f"{one.coverage:.0%} prediction set: "
                f"{ui.plain(outputs['prediction_set'].replace('|', ', '))} "
                "(conformal: the classes the model cannot rule out at this coverage)."
            )
        st.dataframe(probs.rename(lambda c: c[2:]).to_frame("probability"))


def draw_one_patient(
    active: Bundle, scoring: Scoring, data: state.Dataset, source: str, threshold: float | None
) -> None:
    st.caption("Prefilled from the chosen patient; change a value and the prediction follows.")
    row_id = choose_patient(scoring, data.frame, source)
    patient = edited_patient(active, data.frame.loc[row_id], row_id)
    try:
        one = score_patients(active, patient, fixed_shape=False)  # one row: no padded batch
    except MedinnError as exc:
        st.error(ui.plain(exc))
        st.stop()
    if one.task == Task.SURVIVAL:
        show_survival(active, patient, one, scoring.outputs.loc[row_id])
    else:
        show_change(one, scoring.outputs.loc[row_id], threshold, active.schema)
    reasons = unusual_values(active, patient)
    if reasons:
        st.warning(
            "With these values, the patient is unlike the training data: "
            f"{ui.plain('; '.join(reasons))}. "
            "The prediction is less certain."
        )


# -- the page -----------------------------------------------------------------------------------
runtime.ensure_navigation()
st.title("Predict")
active = ui.require_model()
source, data = choose_patients(
    state.dataset(), loaders.sample_to_score(active.schema.feature_names)
)
scoring = scored(active, data)
show_notes(scoring)
st.session_state[state.PREDICTIONS_MADE] = True

st.subheader(f"{len(data.frame):,} patients")
# Lazy tabs: the patient picker (one option a patient) and an input a feature cost the browser
# a second on every visit; they are drawn only when their tab is open.
every_tab, one_tab = st.tabs(PREDICT_TABS, key=state.W_PREDICT_TAB, on_change="rerun")
threshold = choose_threshold(every_tab, scoring.task)
if every_tab.open:
    with every_tab:
        table = scoring.table(threshold)
        draw_table(table, scoring, threshold, active.schema)
        draw_download(active, table, scoring.task)
if one_tab.open:
    with one_tab:
        draw_one_patient(active, scoring, data, source, threshold)
