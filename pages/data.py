"""Data: load a table, check and edit its schema, pick the target, see validation and profile."""

import pandas as pd
import streamlit as st

from medinn_app import loaders, runtime, state, tables
from medinn_core import figures
from medinn_core.errors import MedinnError
from medinn_core.schema import Kind, Schema, Task, labels
from medinn_core.validate import validate

SOURCES = ("Sample file", "Upload a file")


# -- source -------------------------------------------------------------------------------------
def choose_source(current: state.Dataset | None) -> None:
    """The sample or upload choice; a newly chosen table becomes the dataset (and reruns)."""
    source = st.radio(
        "Source",
        SOURCES,
        horizontal=True,
        key=state.W_DATA_SOURCE,
        index=1 if current is not None and current.source == "upload" else 0,
    )
    if source == SOURCES[0]:
        choose_sample(current)
    else:
        choose_upload(current)


def choose_sample(current: state.Dataset | None) -> None:
    names = list(loaders.SAMPLES)
    chosen = st.selectbox(
        "Sample file",
        names,
        index=names.index(current.name)
        if current is not None and current.source == "sample" and current.name in names
        else None,
        placeholder="Choose a sample file",
        key=state.W_DATA_SAMPLE,
    )
    if chosen and (current is None or current.source != "sample" or current.name != chosen):
        try:
            data = loaders.read_sample(chosen)
            state.set_dataset(data, loaders.default_schema(data))
        except MedinnError as exc:
            st.error(str(exc))
            st.stop()
        st.rerun()  # the sidebar, drawn before this page, shows the new dataset


def choose_upload(current: state.Dataset | None) -> None:
    upload = st.file_uploader(
        "CSV, Excel (.xlsx) or Parquet file", type=loaders.UPLOAD_TYPES, key=state.W_DATA_UPLOAD
    )
    if upload is None or upload.file_id == st.session_state.get(state.DATA_UPLOAD_ID):
        return
    try:
        data = loaders.read_upload(upload.getvalue(), upload.name)
        state.set_dataset(data, loaders.default_schema(data))
    except MedinnError as exc:
        kept = f" Still using '{current.name}', loaded before." if current is not None else ""
        st.error(f"{exc}{kept}", icon=":material/block:")
        if current is None:
            st.stop()
    else:
        st.session_state[state.DATA_UPLOAD_ID] = upload.file_id
        st.rerun()


# -- first rows ---------------------------------------------------------------------------------
def show_first_rows(data: state.Dataset) -> None:
    rows, cols = data.frame.shape
    st.subheader(f"{data.name}")
    st.caption(f"{rows:,} rows · {cols} columns · first 10 rows shown")
    for note in data.notes:
        st.caption(f":material/info: {note}")
    st.dataframe(data.frame.head(10), hide_index=True)


# -- target and task ----------------------------------------------------------------------------
def _choose_target(frame: pd.DataFrame) -> None:
    target = st.session_state[state.W_DATA_TARGET]
    try:
        new = state.schema().with_target(frame, target)
    except MedinnError as exc:
        st.session_state[state.SCHEMA_MESSAGE] = str(exc)
    else:
        state.set_schema(new)
        st.session_state[state.W_DATA_TASK] = new.task.value


def _choose_task(frame: pd.DataFrame) -> None:
    current_schema = state.schema()
    try:
        new = current_schema.with_target(
            frame, current_schema.target, st.session_state[state.W_DATA_TASK]
        )
        state.set_schema(new)
    except MedinnError as exc:
        st.session_state[state.SCHEMA_MESSAGE] = str(exc)


def choose_target(frame: pd.DataFrame, schema: Schema) -> None:
    st.subheader("Outcome to predict")
    columns = [str(c) for c in frame.columns]
    left, right = st.columns(2)
    left.selectbox(
        "Target column",
        columns,
        index=columns.index(schema.target) if schema.target in columns else None,
        placeholder="Choose the outcome column",
        key=state.W_DATA_TARGET,
        on_change=_choose_target,
        args=(frame,),
    )
    tasks = [t.value for t in Task]
    right.selectbox(
        "Task",
        tasks,
        index=tasks.index(schema.task.value) if schema.task else None,
        placeholder="Detected from the target",
        key=state.W_DATA_TASK,
        on_change=_choose_task,
        args=(frame,),
        disabled=schema.target is None,
        help="Detected from the target: two values make a binary task, a few classes "
        "multiclass, many numbers regression.",
    )
    message = st.session_state.pop(state.SCHEMA_MESSAGE, None)
    if message:
        st.error(message)


# -- schema -------------------------------------------------------------------------------------
def edit_columns(schema: Schema, n_columns: int) -> None:
    """The schema table; an edit becomes the new schema (and reruns)."""
    st.subheader("Columns")
    st.caption(
        "Each column's kind and whether the model uses it. Edit a kind, a unit or the include "
        "box; the reason says why medinn left a column out."
    )
    editor_key = f"{state.W_DATA_EDITOR}.{st.session_state.get(state.SCHEMA_VERSION, 0)}"
    st.data_editor(
        tables.schema_frame(schema),
        key=editor_key,
        hide_index=True,
        disabled=["column", "reason"],
        column_config={
            "column": st.column_config.TextColumn("Column"),
            "kind": st.column_config.SelectboxColumn(
                "Kind", options=[k.value for k in Kind], required=True
            ),
            "include": st.column_config.CheckboxColumn("Include", help="Used as a model input"),
            "unit": st.column_config.TextColumn("Unit"),
            "reason": st.column_config.TextColumn("Why excluded / role", width="large"),
        },
    )
    edits = st.session_state[editor_key].get("edited_rows")
    if edits:
        try:
            state.set_schema(schema.with_edits(tables.edited_columns(schema, edits)))
        except MedinnError as exc:
            st.session_state[state.SCHEMA_MESSAGE] = str(exc)
            state.set_schema(schema)  # a fresh editor drops the refused edit
        st.rerun()
    st.caption(f"{len(schema.features)} of {n_columns} columns are model inputs.")


# -- validation ---------------------------------------------------------------------------------
def show_validation(frame: pd.DataFrame, schema: Schema) -> None:
    st.subheader("Validation")
    if schema.target is None:
        st.info("Choose the target column above to check the data for training.")
        return
    report = validate(frame, schema)
    if report.ok:
        st.success(
            f"Ready to train: {report.n_usable_rows:,} of {report.n_rows:,} rows have an "
            f"outcome, {len(report.warnings)} warning(s)."
        )
        st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    else:
        st.error(f"{len(report.errors)} problem(s) must be fixed before training:")
        for issue in report.errors:
            st.error(issue.message, icon=":material/block:")
    for issue in report.warnings:
        st.warning(issue.message)


# -- profile ------------------------------------------------------------------------------------
def show_profile(frame: pd.DataFrame, schema: Schema) -> None:
    st.subheader("Profile")
    left, right = st.columns(2)
    with left:
        if schema.target is None:
            st.info("The outcome balance appears once a target is chosen.")
        elif schema.task == Task.REGRESSION:
            st.plotly_chart(
                figures.column_distribution(frame[schema.target], schema.target, True),
                key="data.target_chart",
            )
        else:
            counts = labels(frame[schema.target].dropna()).value_counts()
            st.plotly_chart(
                figures.outcome_balance(counts, schema.target), key="data.balance_chart"
            )
    with right:
        st.plotly_chart(figures.missing_values(frame), key="data.missing_chart")

    columns = [str(c) for c in frame.columns]
    first = schema.feature_names[0] if schema.features else columns[0]
    picked = st.selectbox(
        "Column to look at", columns, index=columns.index(first), key=state.W_DATA_PROFILE_COLUMN
    )
    col = schema.column(picked)
    st.plotly_chart(
        figures.column_distribution(frame[picked], picked, col.kind == Kind.NUMERIC, col.unit),
        key="data.column_chart",
    )


# -- the page -----------------------------------------------------------------------------------
runtime.ensure_navigation()
st.title("Data")
st.caption("One row per patient, one column per measurement, and a column with the outcome.")
choose_source(state.dataset())
data = state.dataset()
if data is None:
    st.info("Upload or pick a dataset first: choose a sample file above, or upload your own.")
    st.stop()
schema = state.schema()
show_first_rows(data)
choose_target(data.frame, schema)
edit_columns(schema, data.frame.shape[1])
show_validation(data.frame, schema)
show_profile(data.frame, schema)
