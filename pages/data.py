"""Data: load a table, check and edit its schema, pick the target, see validation and profile."""

import pandas as pd
import streamlit as st

from medinn_app import loaders, runtime, state, tables, ui
from medinn_core import figures, units
from medinn_core.errors import MedinnError
from medinn_core.follow_up import likely_time_columns, with_follow_up
from medinn_core.schema import Kind, Schema, Task, labels, likely_targets
from medinn_core.signal_views import (
    non_numeric_samples,
    signal_candidates,
    signal_problem,
    signal_table,
    trace_preview,
)
from medinn_core.signals import SignalGroup, signal_issues
from medinn_core.validate import validate

SOURCES = ("Sample file", "Upload a file")
TIME_UNITS = ("days", "weeks", "months", "years")


# -- source -------------------------------------------------------------------------------------
def choose_source(current: state.Dataset | None) -> None:
    """The sample or upload choice; a newly chosen table becomes the dataset (and reruns)."""
    source = ui.radio(
        st,
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
    chosen = ui.selectbox(
        st,
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
            st.error(ui.plain(exc))
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
        st.error(ui.plain(f"{exc}{kept}"), icon=":material/block:")
        if current is None:
            st.stop()
    else:
        st.session_state[state.DATA_UPLOAD_ID] = upload.file_id
        st.rerun()


# -- first rows ---------------------------------------------------------------------------------
def show_first_rows(data: state.Dataset) -> None:
    rows, cols = data.frame.shape
    st.subheader(ui.plain(data.name))
    st.caption(f"{rows:,} rows · {cols} columns · first 10 rows shown")
    for note in data.notes:
        st.caption(f":material/info: {ui.plain(note)}")
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
    task = st.session_state[state.W_DATA_TASK]
    try:
        if task == Task.SURVIVAL.value:
            _use_survival(frame, current_schema.time_column)
            return
        new = current_schema.with_target(frame, current_schema.target, task)
        state.set_schema(new)
    except MedinnError as exc:
        st.session_state[state.SCHEMA_MESSAGE] = str(exc)


def _use_survival(frame: pd.DataFrame, time_column: str | None, horizon=None) -> None:
    """The survival task with ``time_column`` as the follow-up time (default: the most likely
    column) and ``horizon`` (default: the core's); a refusal becomes the page's message."""
    schema = state.schema()
    if time_column is None:
        candidates = likely_time_columns(frame, schema)
        if not candidates:
            st.session_state[state.SCHEMA_MESSAGE] = (
                "A survival task needs a follow-up time column, and the table has no other "
                "column. Add one, or compute it from two date columns below."
            )
            return
        time_column = candidates[0]
    try:
        new = schema.with_target(
            frame, schema.target, Task.SURVIVAL, time_column=time_column, horizon=horizon
        )
    except MedinnError as exc:
        st.session_state[state.SCHEMA_MESSAGE] = str(exc)
    else:
        state.set_schema(new)
        st.session_state[state.W_DATA_TASK] = Task.SURVIVAL.value


def choose_target(frame: pd.DataFrame, schema: Schema) -> None:
    st.subheader("Outcome to predict")
    columns = list(likely_targets(frame, schema))
    left, right = st.columns(2)
    ui.selectbox(
        left,
        "Target column",
        columns,
        index=columns.index(schema.target) if schema.target in columns else None,
        placeholder="Choose the outcome column",
        key=state.W_DATA_TARGET,
        on_change=_choose_target,
        args=(frame,),
    )
    tasks = [t.value for t in Task]
    ui.selectbox(
        right,
        "Task",
        tasks,
        index=tasks.index(schema.task.value) if schema.task else None,
        placeholder="Detected from the target",
        key=state.W_DATA_TASK,
        on_change=_choose_task,
        args=(frame,),
        disabled=schema.target is None,
        help="Detected from the target: two values make a binary task, a few classes "
        "multiclass, many numbers regression. Survival: the target is the event (died, "
        "relapsed) and a second column holds the follow-up time to it or to the end of "
        "follow-up.",
    )
    if schema.event_class is not None:
        choose_event(schema)
    if schema.task == Task.SURVIVAL:
        choose_follow_up(frame, schema)
    message = st.session_state.pop(state.SCHEMA_MESSAGE, None)
    if message:
        st.error(ui.plain(message))


def _choose_event() -> None:
    try:
        state.set_schema(state.schema().with_event(st.session_state[state.W_DATA_EVENT]))
    except MedinnError as exc:
        st.session_state[state.SCHEMA_MESSAGE] = str(exc)


def choose_event(schema: Schema) -> None:
    """Which of the two outcomes is the event whose risk the model predicts."""
    left, right = st.columns(2)
    st.session_state[state.W_DATA_EVENT] = schema.event_class  # follows the schema
    ui.selectbox(
        left,
        "Event (the outcome whose risk is predicted)",
        list(schema.classes),
        key=state.W_DATA_EVENT,
        on_change=_choose_event,
        help="medinn chose the outcome that names something present (ckd rather than notckd, "
        "died rather than alive), else the rarer one. Every page, download and the report "
        "name it.",
    )
    text = schema.event_text
    right.markdown(f"**{ui.plain(text[:1].upper() + text[1:])}**")
    right.caption("Every page, download and the report name the risk so.")


# -- survival: follow-up time and horizon ---------------------------------------------------------
def _choose_time(frame: pd.DataFrame) -> None:
    _use_survival(frame, st.session_state[state.W_DATA_TIME])  # a new column: its own horizon


def _choose_horizon(frame: pd.DataFrame) -> None:
    schema = state.schema()
    _use_survival(frame, schema.time_column, st.session_state[state.W_DATA_HORIZON])


def choose_follow_up(frame: pd.DataFrame, schema: Schema) -> None:
    """A survival task's follow-up time column and horizon (the core's default and why), and
    the follow-up computed from two date columns."""
    left, right = st.columns(2)
    options = list(likely_time_columns(frame, schema))
    st.session_state[state.W_DATA_TIME] = schema.time_column  # follows the schema
    ui.selectbox(
        left,
        "Follow-up time column",
        options,
        key=state.W_DATA_TIME,
        on_change=_choose_time,
        args=(frame,),
        help="The time from the start of follow-up (admission, diagnosis) to the event or to "
        "the end of follow-up, as a number (days, months). Columns named like a follow-up "
        "time come first.",
    )
    unit = schema.column(schema.time_column).unit if schema.time_column else ""
    if schema.horizon is not None:
        st.session_state[state.W_DATA_HORIZON] = float(schema.horizon)  # follows the schema
        ui.number_input(
            right,
            ui.plain(f"Horizon ({unit or f'in the unit of {schema.time_column!r}'})"),
            0.0,
            None,
            step=1.0,
            format="%g",
            key=state.W_DATA_HORIZON,
            on_change=_choose_horizon,
            args=(frame,),
            help="The time by which risks are predicted and evaluated ('risk of death by day "
            "180'). Every page, download and the report name it.",
        )
        right.caption(ui.plain(f"Horizon {schema.horizon:g}: {schema.horizon_reason}."))
    elif schema.horizon_reason:
        right.warning(ui.plain(schema.horizon_reason))
    dates_expander(frame, schema)


def dates_expander(frame: pd.DataFrame, schema: Schema) -> None:
    """Compute the follow-up time from two date columns; the column is added to this
    session's table."""
    with st.expander("Compute the follow-up time from two date columns"):
        names = [str(c) for c in frame.columns if c not in (schema.target, schema.id_column)]
        a, b, c = st.columns(3)
        start = ui.selectbox(
            a, "Start (entry, admission)", names, index=None, key=state.W_DATA_DATE_START
        )
        end = ui.selectbox(
            b, "End (event or last contact)", names, index=None, key=state.W_DATA_DATE_END
        )
        unit = ui.selectbox(c, "Unit", TIME_UNITS, key=state.W_DATA_DATE_UNIT)
        st.caption(
            "The new column is added to the table of this session only: the file is not "
            "changed and nothing is saved. It becomes the follow-up time."
        )
        if st.button(
            "Add the follow-up column",
            key=state.W_DATA_DATE_ADD,
            disabled=start is None or end is None,
            icon=":material/add:",
        ):
            add_follow_up(start, end, unit)


def add_follow_up(start: str, end: str, unit: str) -> None:
    data = state.dataset()
    try:
        frame, new, name = with_follow_up(data.frame, state.schema(), start, end, unit=unit)
    except MedinnError as exc:
        st.error(ui.plain(exc), icon=":material/block:")
        return
    note = (
        f"Column '{name}' ({end} minus {start}, in {unit}) was added in this session; the "
        "file is unchanged and nothing is saved."
    )
    state.set_frame(data, frame, new, note)
    state.flash(ui.plain(note))
    st.rerun()


def _offer_survival(frame: pd.DataFrame, time_column: str) -> None:
    _use_survival(frame, time_column)


# -- units and codes ----------------------------------------------------------------------------
def _choose_unit(name: str) -> None:
    unit = st.session_state[f"{state.W_DATA_UNIT}.{name}"]
    try:
        state.set_schema(state.schema().with_column(name, unit=unit))
    except MedinnError as exc:
        st.session_state[state.SCHEMA_MESSAGE] = str(exc)


def choose_units(schema: Schema) -> None:
    """Each recognised measurement's assumed unit and why; where the measurement is known in
    several units (cholesterol in mg/dL or mmol/L), a choice among them."""
    measured = [c for c in schema.features if c.measure]
    if not measured:
        return
    st.subheader("Units")
    st.caption(
        "medinn recognised these measurements by their names and read their unit from the "
        "values. Change a unit if it is wrong: the plausible range follows."
    )
    single = [c for c in measured if len(units.measure(c.measure).units) == 1]
    for col in measured:
        if col in single:
            continue
        key = f"{state.W_DATA_UNIT}.{col.name}"
        options = list(units.measure(col.measure).units)
        if col.unit not in options:
            options.append(col.unit)
        st.session_state[key] = col.unit  # follows the schema (also edited in the table)
        left, right = st.columns([1, 2], vertical_alignment="center")
        ui.selectbox(
            left,
            f"{ui.plain(col.name)} ({units.measure(col.measure).description})",
            options,
            key=key,
            on_change=_choose_unit,
            args=(col.name,),
        )
        right.caption(ui.plain(f"{col.unit}: {col.unit_reason}"))
    if single:
        shown = ui.plain(", ".join(f"{c.name} ({c.unit})" for c in single))
        each = "for each" if len(single) > 1 else "for it"
        st.caption(f"{shown}: the one unit medinn knows {each}.")


def _choose_codes() -> None:
    schema = state.schema()
    chosen = set(st.session_state[state.W_DATA_CODES])
    new = schema
    for col in schema.columns:
        if col.code_hint and col.is_feature:  # the ones offered
            kind = Kind.CATEGORICAL if col.name in chosen else Kind.NUMERIC
            if col.kind != kind:
                new = new.with_column(col.name, kind=kind)
    state.set_schema(new)


def choose_codes(schema: Schema) -> None:
    """Number columns whose few whole values look like codes: the user decides which are
    categories."""
    hinted = [c for c in schema.columns if c.code_hint and c.is_feature]
    if not hinted:
        return
    st.subheader("Numbers that may be codes")
    for col in hinted:
        st.caption(f"**{ui.plain(col.name)}**: {ui.plain(col.code_hint)}.")
    names = [c.name for c in hinted]
    st.session_state[state.W_DATA_CODES] = [
        c.name for c in hinted if c.kind == Kind.CATEGORICAL
    ]  # follows the schema
    ui.multiselect(
        st,
        "Treat as categories",
        names,
        key=state.W_DATA_CODES,
        on_change=_choose_codes,
        placeholder="None: all are used as amounts",
        help="A category gets one input per value (chest-pain type 1-4); an amount is one "
        "number, where 4 means more than 3.",
    )


# -- signals ------------------------------------------------------------------------------------
SIGNAL_USES = ("One signal input", "Ordinary columns")


def _use_signal(group: SignalGroup, key: str) -> None:
    schema = state.schema()
    try:
        if st.session_state[key] == SIGNAL_USES[0]:
            new = schema.with_signals([*schema.signals, group])
        else:
            new = schema.without_signal(group.name)
    except MedinnError as exc:
        st.session_state[state.SIGNAL_MESSAGE] = str(exc)
    else:
        state.set_schema(new)


def rename_signal(group: SignalGroup) -> None:
    """The signal's name, and a button that renames it (a refused name says why)."""
    first = group.columns[0]
    with st.form(f"{state.W_DATA_SIGNAL_FORM}.{first}", border=False):
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        name = left.text_input(
            "Signal name", group.name, max_chars=64, key=f"{state.W_DATA_SIGNAL_NAME}.{first}"
        )
        pressed = right.form_submit_button(
            "Rename", key=f"{state.W_DATA_SIGNAL_RENAME}.{first}", icon=":material/edit:"
        )
    if not pressed or name.strip() == group.name:
        return
    try:
        state.set_schema(state.schema().with_signal_renamed(group.name, name))
    except MedinnError as exc:
        st.error(ui.plain(exc), icon=":material/block:")
    else:
        state.flash(ui.plain(f"Signal '{group.name}' is now called '{name.strip()}'."))
        st.rerun()


def show_signal(frame: pd.DataFrame, schema: Schema, group: SignalGroup, used: bool) -> None:
    """One signal (``used``) or a run of columns that could be one: what it is, a few
    patients' traces, whether it is read as one input, its name, and its gaps."""
    first = group.columns[0]
    with st.container(border=True):
        st.markdown(
            f"**{ui.plain(group.name)}**: "
            + ui.plain(f"{group.length} samples, {first} ... {group.columns[-1]}")
        )
        key = f"{state.W_DATA_SIGNAL_USE}.{first}"
        st.session_state[key] = SIGNAL_USES[0 if used else 1]  # follows the schema
        ui.radio(
            st,
            "Read these columns as",
            SIGNAL_USES,
            horizontal=True,
            key=key,
            on_change=_use_signal,
            args=(group, key),
            help="One signal input: a convolutional network reads the trace as one input "
            "and the explanations show it as one feature. Ordinary columns: each sample is a "
            "number of its own, as any other column.",
        )
        if used:
            rename_signal(group)
        try:
            traces = trace_preview(frame, group, schema.id_column)
        except MedinnError as exc:
            st.error(ui.plain(exc))
            return
        if len(traces):
            st.plotly_chart(
                ui.plain_figure(figures.signal_traces_figure(traces, group.name)),
                key=f"data.signal_chart.{first}",
            )
        else:
            st.warning(ui.plain(f"No patient has a sample of '{group.name}'."))
        if used:
            for issue in signal_issues(frame, [group]):
                (st.error if issue[0] == "error" else st.warning)(ui.plain(issue[4]))


def show_signals(frame: pd.DataFrame, schema: Schema) -> None:
    """The signals medinn found (a trace sampled as many columns), the runs of columns that
    could be one, and why some runs are not read as a signal."""
    candidates = signal_candidates(schema)
    odd = non_numeric_samples(schema)
    if not (schema.signals or candidates or schema.notes or odd):
        return
    st.subheader("Signals")
    st.caption(
        "A signal is one trace sampled as many columns, such as a heartbeat in ecg_000 ... "
        "ecg_127. Read as one input, it is convolved: the network recognises a shape wherever "
        "it lies along the trace, and the explanations show the signal as one feature and "
        "each sample's part. Keep each signal medinn found, rename it, or read its columns as "
        "ordinary columns."
    )
    message = st.session_state.pop(state.SIGNAL_MESSAGE, None)
    if message:
        st.error(ui.plain(message), icon=":material/block:")
    problem = signal_problem(schema)
    if problem:
        st.error(ui.plain(problem), icon=":material/block:")
    if schema.signals:
        st.dataframe(signal_table(schema.signals), hide_index=True)
    for group in schema.signals:
        show_signal(frame, schema, group, used=True)
    for group in candidates:
        show_signal(frame, schema, group, used=False)
    for note in schema.notes:
        st.warning(ui.plain(note), icon=":material/info:")
    for text in odd:
        st.warning(ui.plain(text), icon=":material/info:")


# -- schema -------------------------------------------------------------------------------------
def edit_columns(frame: pd.DataFrame, schema: Schema) -> None:
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
    n_columns = frame.shape[1]
    edits = st.session_state[editor_key].get("edited_rows")
    if edits:
        try:
            state.set_schema(schema.with_edits(tables.edited_columns(schema, edits)))
        except MedinnError as exc:
            st.session_state[state.SCHEMA_MESSAGE] = str(exc)
            state.set_schema(schema)  # a fresh editor drops the refused edit
        st.rerun()
    st.caption(
        f"{len(schema.features)} of {n_columns} columns are model inputs"
        f"{_encoded_text(frame, schema)}."
    )


def _encoded_text(frame: pd.DataFrame, schema: Schema) -> str:
    """The ", N inputs after encoding" text, counted as the model counts (numbers, missing
    indicators, one-hot levels), or "" when the columns cannot be encoded yet."""
    n = loaders.encoded_inputs(frame, schema)
    return f", {n} inputs after encoding (missing indicators and category levels)" if n else ""


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
            st.error(ui.plain(issue.message), icon=":material/block:")
    for issue in report.warnings:
        st.warning(ui.plain(issue.message))
        if issue.code == "follow_up_leak" and issue.column in frame.columns:
            st.button(
                ui.plain(f"Train a survival model with '{issue.column}' as the follow-up time"),
                key=f"{state.W_DATA_USE_SURVIVAL}.{issue.column}",
                on_click=_offer_survival,
                args=(frame, issue.column),
                icon=":material/timeline:",
            )


# -- profile ------------------------------------------------------------------------------------
def show_profile(frame: pd.DataFrame, schema: Schema) -> None:
    st.subheader("Profile")
    left, right = st.columns(2)
    with left:
        if schema.target is None:
            st.info("The outcome balance appears once a target is chosen.")
        elif schema.task == Task.REGRESSION:
            st.plotly_chart(
                ui.plain_figure(
                    figures.column_distribution(frame[schema.target], schema.target, True)
                ),
                key="data.target_chart",
            )
        else:
            counts = labels(frame[schema.target].dropna()).value_counts()
            st.plotly_chart(
                ui.plain_figure(figures.outcome_balance(counts, schema.target)),
                key="data.balance_chart",
            )
    with right:
        st.plotly_chart(ui.plain_figure(figures.missing_values(frame)), key="data.missing_chart")

    columns = [str(c) for c in frame.columns]
    first = schema.feature_names[0] if schema.features else columns[0]
    picked = ui.selectbox(
        st,
        "Column to look at",
        columns,
        index=columns.index(first),
        key=state.W_DATA_PROFILE_COLUMN,
    )
    col = schema.column(picked)
    st.plotly_chart(
        ui.plain_figure(
            figures.column_distribution(frame[picked], picked, col.kind == Kind.NUMERIC, col.unit)
        ),
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
state.show_flash()
show_first_rows(data)
choose_target(data.frame, schema)
choose_units(schema)
choose_codes(schema)
show_signals(data.frame, schema)
edit_columns(data.frame, schema)
show_validation(data.frame, schema)
show_profile(data.frame, schema)
