"""Predict: score patients, check their columns, a risk table, and one patient to try changes."""

import pandas as pd
import streamlit as st

from medinn_app import audit, explaining, loaders, runtime, state, tables, ui
from medinn_core import figures
from medinn_core.errors import MedinnError
from medinn_core.io import escape_formulas
from medinn_core.predict import check_columns, score_frame
from medinn_core.schema import Kind, Task

runtime.ensure_navigation()

NEW_PATIENTS = "new_patients.csv"
# Light fills behind the band's word: readable, and the words carry the meaning without
# colour. A column setting, not a pandas Styler: styling 10,000 rows took seconds a run.
BAND_FILLS = {"low": "#D1E7DD", "intermediate": "#FFF3CD", "high": "#F8D7DA"}
PREDICT_TABS = ("All patients", "One patient: try a change")

st.title("Predict")
active = ui.require_model()
model = active.model
schema = model.schema
task = Task(schema.task)

# -- which patients -----------------------------------------------------------------------------
current = state.dataset()
sources = (["current"] if current is not None else []) + ["sample", "upload"]
labels = {
    "current": f"Current dataset ({current.name})" if current is not None else "",
    "sample": f"Sample: {NEW_PATIENTS}",
    "upload": "Upload a file",
}
source = st.radio(
    "Patients to score",
    sources,
    format_func=labels.get,
    horizontal=True,
    key=state.W_PREDICT_SOURCE,
)
held: state.Dataset | None = st.session_state.get(state.PREDICT_DATA)
if source == "current":
    data = current
elif source == "sample":
    if held is None or held.source != "sample":
        held = loaders.read_sample(NEW_PATIENTS)
        st.session_state[state.PREDICT_DATA] = held
    data = held
else:
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
            st.error(f"{upload.name}: {exc}")
            st.stop()
        st.session_state[state.PREDICT_DATA] = held
        st.session_state[state.PREDICT_UPLOAD_ID] = upload.file_id
    data = held
frame = data.frame

# -- column check -------------------------------------------------------------------------------
# The check, the scores and the threshold-free table are computed once per model and table.
cache_key = (active.token, data.token)
cached = st.session_state.get(state.PREDICTIONS)
if cached is None or cached[0] != cache_key:
    cached = None
check = cached[2] if cached is not None else check_columns(frame, model)
if check.missing:
    st.error(
        f"These patients lack {len(check.missing)} column(s) the model needs: "
        f"{', '.join(check.missing)}. Add them (empty cells are allowed) or load the model "
        "trained on these columns."
    )
    st.stop()
if check.extra:
    st.caption(f"Columns the model does not use (ignored): {', '.join(check.extra)}.")
unusual = tables.unusual_summary(check)
if unusual:
    st.warning(
        "Some patients are unlike the training data, so their risk is less certain; they are "
        f"marked unusual in the table. {unusual}",
        icon=":material/warning:",
    )

# -- scores -------------------------------------------------------------------------------------
if cached is None:
    try:
        with st.spinner(f"Scoring {len(frame):,} patients…"):
            # Padded as the command line pads: the same numbers to the last bit.
            scores = score_frame(model, frame, fixed_shape=True)
        audit.record("predict", active=active, n_patients=len(frame))
    except MedinnError as exc:
        st.error(str(exc))
        st.stop()
    if task == Task.BINARY:
        base = tables.risk_columns(frame, scores, check, schema.id_column)
    else:
        base = tables.other_table(frame, scores, check, schema.id_column)
    names = tables.patient_labels(frame, schema.id_column).to_dict()
    cached = (cache_key, scores, check, base, names)
    st.session_state[state.PREDICTIONS] = cached
_, scores, check, base, names = cached
st.session_state[state.PREDICTIONS_MADE] = True

st.subheader(f"{len(frame):,} patients")
# Lazy tabs: the patient picker (one option a patient) and an input a feature cost the browser
# a second on every visit; they are drawn only when their tab is open.
every_tab, one_tab = st.tabs(PREDICT_TABS, key=state.W_PREDICT_TAB, on_change="rerun")
if task == Task.BINARY:
    if every_tab.open:
        with every_tab:
            threshold = ui.threshold_slider(state.W_PREDICT_THRESHOLD)
    else:
        threshold = state.threshold()
    table = tables.with_bands(base, scores, threshold, model.classes_)
else:
    table = base


def draw_table() -> None:
    if task != Task.BINARY:
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
    st.caption(
        f"Risk of {schema.target} = {schema.positive_class}. Band: high at or above the "
        "threshold, intermediate from half of it, low below. Unusual: a value outside the "
        "training range or a category never seen in training; the risk is less certain there. "
        "Click a column header to sort."
    )
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "risk (%)": st.column_config.ProgressColumn(
                "risk (%)", min_value=0, max_value=100, format="%.1f%%"
            ),
            "band": st.column_config.MultiselectColumn(  # one word a cell, drawn as a label
                "band", options=list(BAND_FILLS), color=list(BAND_FILLS.values())
            ),
            "unusual": st.column_config.CheckboxColumn("unusual"),
        },
    )
    st.plotly_chart(
        figures.risk_histogram(scores["risk"].to_numpy(), threshold), key="predict.histogram"
    )


def predictions_csv(shown=table, binary=task == Task.BINARY) -> bytes:
    """The table as a CSV file, written when the button is pressed (not on every run)."""
    out = shown.assign(**{"risk (%)": shown["risk (%)"].round(2)}) if binary else shown
    return escape_formulas(out).to_csv(index=False).encode("utf-8")


if every_tab.open:
    with every_tab:
        draw_table()
        st.download_button(
            "Download the predictions (CSV)",
            predictions_csv,
            file_name=f"predictions-{active.name}.csv",
            mime="text/csv",
            key=state.W_PREDICT_DOWNLOAD,
            on_click=audit.record_from_callback,  # the file downloads; then the audit line
            args=("export_predictions",),
            kwargs={"active": active, "n_patients": len(table)},
            icon=":material/download:",
        )
if not one_tab.open:
    st.stop()  # the rest of the page is the other tab

# -- one patient --------------------------------------------------------------------------------
with one_tab:
    st.caption("Prefilled from the chosen patient; change a value and the prediction follows.")
    order = list(table.index)  # highest risk first for binary models
    row_id = st.selectbox(
        "Patient",
        order,
        format_func=names.__getitem__,
        key=state.W_PREDICT_PATIENT,
        persist_state="page",  # kept while the other tab is open
    )
    if st.button("Explain this patient", key=state.W_PREDICT_EXPLAIN, icon=":material/insights:"):
        explaining.request_patient(source, frame.index.get_loc(row_id))
        st.switch_page("pages/explain.py")
    row = frame.loc[row_id]
    pre = model.preprocessor_
    values = {}
    columns = st.columns(4)
    for i, col in enumerate(schema.features):
        key = f"{state.W_PREDICT_FIELD}.{row_id}.{col.name}"
        with columns[i % 4]:
            values[col.name] = ui.value_input(col, row.get(col.name), pre, key)
    patient = pd.DataFrame([values])
    try:
        one = score_frame(model, patient)
    except MedinnError as exc:
        st.error(str(exc))
        st.stop()
    before = scores.loc[row_id]
    if task == Task.BINARY:
        risk, was = float(one["risk"].iloc[0]), float(before["risk"])
        band = tables.risk_band(pd.Series([risk]), threshold).iloc[0]
        st.metric(
            f"Risk with these values ({band})",
            f"{risk:.1%}",
            delta=f"{(risk - was) * 100:+.1f} points from {was:.1%}"
            if abs(risk - was) > 5e-4
            else None,
            delta_color="inverse",
        )
    elif task == Task.REGRESSION:
        value, was = float(one["prediction"].iloc[0]), float(before["prediction"])
        unit = schema.column(schema.target).unit
        st.metric(
            f"Predicted {schema.target}",
            f"{value:.4g} {unit}".strip(),
            delta=f"{value - was:+.3g} from {was:.4g}" if abs(value - was) > 1e-9 else None,
        )
    else:
        probs = one[[c for c in one.columns if c.startswith("p_")]].iloc[0]
        st.metric(f"Predicted {schema.target}", str(one["prediction"].iloc[0]))
        st.dataframe(probs.rename(lambda c: c[2:]).to_frame("probability"))
    outside = [
        col.name
        for col in schema.features
        if col.kind == Kind.NUMERIC
        and values[col.name] is not None
        and (bounds := pre.training_range(col.name)) is not None
        and not bounds[0] <= values[col.name] <= bounds[1]
    ]
    if outside:
        st.warning(
            f"Outside the training range: {', '.join(outside)}. The prediction is less certain."
        )
