"""Explain: why the model predicts what it does, for all patients and for one.

The contributions come from ``medinn_core.explain`` (computed once per model, patients, space
and class, and kept in this session); the figures from ``medinn_core.explain``. This
page never imports shap or keras itself.
"""

import math

import numpy as np
import pandas as pd
import streamlit as st

from medinn_app import explaining, runtime, state, ui
from medinn_core import explain
from medinn_core.errors import MedinnError
from medinn_core.explain import METHOD_LABELS
from medinn_core.predict import patient_labels, unusual_values
from medinn_core.schema import Kind, Task, as_label

runtime.ensure_navigation()

SPACES = {"probability": "Risk (%)", "logit": "Log-odds"}
# Dots drawn, not patients computed: every patient counts in every number and table. The
# browser draws each dot as an SVG element (6,000 took seconds on a 2-core machine), so the
# scatter plots show a random sample of patients, the same one on every run.
BEESWARM_DOTS = 1000  # about 80 patients a feature row
DEPENDENCE_DOTS = 1000

st.title("Explain")
active = ui.require_model()
model = active.model
schema = model.schema
task = Task(schema.task)
pre = model.preprocessor_
explaining.apply_request()

# -- which patients, and in which terms ---------------------------------------------------------
current = state.dataset()
predicted: state.Dataset | None = st.session_state.get(state.PREDICT_DATA)
labels = explaining.sources(current, predicted)
source = st.radio(
    "Patients to explain",
    list(labels),
    format_func=labels.get,
    horizontal=True,
    key=state.W_EXPLAIN_SOURCE,
    on_change=explaining.forget_patient,
)
try:
    data = explaining.patients(source, current, predicted)
except MedinnError as exc:
    st.error(str(exc))
    st.stop()
frame = data.frame

space, class_name = "probability", None
if task == Task.BINARY:
    space = st.radio(
        "Scale",
        list(SPACES),
        format_func=SPACES.get,
        horizontal=True,
        key=state.W_EXPLAIN_SPACE,
        help="Risk: contributions in percentage points of risk. Log-odds: contributions add "
        "up on the scale the network computes on, where effects are closer to additive.",
    )
elif task == Task.MULTICLASS:
    classes = list(model.classes_)
    class_name = st.selectbox(
        "Class to explain", classes, index=len(classes) - 1, key=state.W_EXPLAIN_CLASS
    )

try:
    with st.spinner(f"Explaining {len(frame):,} patients…"):
        expl, seconds = explaining.explanation(active, data, space, class_name)
except MedinnError as exc:
    st.error(f"{data.name}: {exc}")
    st.stop()

units = explaining.units(model)
imputed = explaining.imputed(model)
unit = explaining.output_unit(model)
outcome = explaining.output_name(model, class_name)
terms = {"output_unit": unit, "output_name": outcome}  # what the figures call the output
names = patient_labels(frame, schema.id_column).reset_index(drop=True)
st.caption(
    f"Method: {METHOD_LABELS.get(expl.method, expl.method)}, {len(frame):,} patients explained "
    f"in {seconds:.1f} s. Each patient's prediction is the average prediction "
    f"({explain.output_text(expl, expl.base_value, unit, outcome)}) plus the contributions of "
    "their values."
)
if expl.note:
    st.warning(expl.note, icon=":material/info:")

overview, dependence, one, what_if, cohorts = st.tabs(
    explaining.TABS, key=state.W_EXPLAIN_TAB, on_change="rerun"
)


# -- global -------------------------------------------------------------------------------------
def draw_global() -> None:
    st.plotly_chart(explain.importance_figure(expl, **terms), key="explain.importance")
    st.plotly_chart(
        explain.beeswarm_figure(expl, max_points=BEESWARM_DOTS, units=units, **terms),
        key="explain.beeswarm",
    )
    st.caption(
        "Each dot is a patient. Right of the line, the value raised the prediction; left, it "
        "lowered it. Colour: the patient's value of that feature, from low (blue) to high "
        "(vermillion); categories in alphabetical order; grey when missing."
    )


def draw_dependence() -> None:
    ranked = list(expl.importance().index)
    left, right = st.columns(2)
    feature = left.selectbox("Feature", ranked, key=state.W_EXPLAIN_FEATURE, persist_state="page")
    colour = right.selectbox(
        "Colour by",
        [None, *ranked],
        format_func=lambda f: "nothing" if f is None else f,
        key=state.W_EXPLAIN_COLOUR,
        persist_state="page",
    )
    st.plotly_chart(
        explain.dependence_figure(
            expl, feature, colour, max_points=DEPENDENCE_DOTS, units=units, **terms
        ),
        key="explain.dependence",
    )


# -- one patient --------------------------------------------------------------------------------
order = np.argsort(-expl.output, kind="stable")  # the highest prediction first
explaining.check_patient(len(order))


def choose_patient() -> int:
    texts = explain.output_texts(expl, expl.output, unit, outcome)
    choices = [f"{name} · {text}" for name, text in zip(names.tolist(), texts, strict=True)]
    return st.selectbox(
        "Patient",
        order.tolist(),
        format_func=choices.__getitem__,
        key=state.W_EXPLAIN_PATIENT,
        persist_state="page",
        help="Sorted from the highest prediction down.",
    )


def draw_patient() -> None:
    reasons = unusual_values(active, row)
    if reasons:
        st.warning(
            f"Patient {patient} is unlike the patients the model learned from: "
            f"{'; '.join(reasons)}. This prediction and its explanation are less certain.",
            icon=":material/warning:",
        )
    st.markdown(
        "**" + explain.plain_sentence(expl, position, units, imputed=imputed, **terms) + "**"
    )
    st.plotly_chart(
        explain.waterfall_figure(
            expl,
            position,
            units,
            imputed,
            **terms,
            title=f"Patient {patient}: from the average to this patient",
        ),
        key="explain.waterfall",
    )
    st.caption(
        "Read from the top: the average prediction, then each value's push up (vermillion) or "
        "down (blue), to this patient's prediction at the bottom."
    )


# -- what-if ------------------------------------------------------------------------------------
def edit_field(col, raw):
    """An input prefilled with the patient's value (None stands for missing)."""
    key = f"{state.W_EXPLAIN_WHATIF_FIELD}.{data.token}.{position}.{col.name}"
    return ui.value_input(col, raw, pre, key)


def same(col, new, old) -> bool:
    """Whether an edited value is still the recorded one (missing equals missing)."""
    if col.kind == Kind.NUMERIC:
        old = pd.to_numeric(pd.Series([old]), errors="coerce").iloc[0]
        if new is None or pd.isna(old):
            return new is None and pd.isna(old)
        return math.isclose(float(new), float(old))
    if new is None or pd.isna(old):
        return new is None and pd.isna(old)
    return new == as_label(old)


def draw_what_if() -> None:
    st.caption(
        f"Change some of patient {patient}'s values and see how the prediction and its "
        "explanation change."
    )
    strongest = list(expl.contributions.iloc[position].abs().sort_values(ascending=False).index)
    picked = st.multiselect(
        "Values to change",
        strongest,
        default=strongest[:3],
        key=f"{state.W_EXPLAIN_WHATIF_PICK}.{data.token}.{position}",
        persist_state="page",
        help="Listed from the value that moves this patient's prediction most.",
    )
    recorded = row.iloc[0]
    edits = {}
    with st.form(key=state.W_EXPLAIN_WHATIF_FORM):
        fields = st.columns(3)
        for k, name in enumerate(picked):
            with fields[k % 3]:
                edits[name] = edit_field(schema.column(name), recorded[name])
        st.form_submit_button(
            "Show the new prediction", key=state.W_EXPLAIN_WHATIF_SUBMIT, type="primary"
        )
    changed = {
        name: v for name, v in edits.items() if not same(schema.column(name), v, recorded[name])
    }
    new = None
    if not changed:
        st.info("Change a value above and press 'Show the new prediction' to compare.")
    else:
        values = recorded.to_dict()
        values.update({name: np.nan if v is None else v for name, v in changed.items()})
        edited = pd.DataFrame([values], index=row.index)
        try:
            new = explaining.explain_rows(active, edited, space, class_name)
        except MedinnError as exc:
            st.error(str(exc))
    if new is not None:
        before, after = float(expl.output[position]), float(new.output[0])
        kind, value = explain.output_parts(new, after, unit, outcome)
        st.metric(
            f"{kind} with the changes",
            value,
            delta=explain.change_text(new, after - before, unit, outcome),
            delta_color="inverse" if task == Task.BINARY else "off",  # higher risk: worse
        )
        reasons = unusual_values(active, edited)
        if reasons:
            st.warning(
                f"With these values, the patient is unlike the training data: "
                f"{'; '.join(reasons)}. The new prediction is less certain.",
                icon=":material/warning:",
            )
        old_fig = explain.waterfall_figure(
            expl,
            position,
            units,
            imputed,
            include=list(changed),
            **terms,
            title="As recorded",
        )
        new_fig = explain.waterfall_figure(
            new,
            0,
            units,
            imputed,
            include=list(changed),
            **terms,
            title="With your changes",
        )
        explain.same_scale(old_fig, new_fig)
        was, now = st.columns(2)
        was.plotly_chart(old_fig, key="explain.whatif_before")
        now.plotly_chart(new_fig, key="explain.whatif_after")
        was.caption(explain.plain_sentence(expl, position, units, imputed=imputed, **terms))
        now.caption(explain.plain_sentence(new, 0, units, imputed=imputed, **terms))


# -- cohorts ------------------------------------------------------------------------------------
def draw_cohorts() -> None:
    categorical = [
        c.name
        for c in schema.features
        if c.kind != Kind.NUMERIC and frame[c.name].dropna().nunique() >= 2
    ]
    modes = {"prediction": "Predicted high against low", "column": "Two groups of a column"}
    mode = st.radio(
        "Compare",
        list(modes) if categorical else ["prediction"],
        format_func=modes.get,
        horizontal=True,
        key=state.W_EXPLAIN_COHORT_MODE,
        persist_state="page",
    )
    if mode == "prediction":
        if task == Task.BINARY:
            cut = state.threshold()
            bar = math.log(cut / (1 - cut)) if space == "logit" else cut
            first = expl.output >= bar
            groups = (f"High risk (≥ {cut:.0%})", f"Low risk (< {cut:.0%})")
            st.caption(
                f"Split at the decision threshold, {cut:.0%}, which Predict and Evaluate share."
            )
        else:
            middle = float(np.median(expl.output))
            first = expl.output >= middle
            groups = ("Above the median", "Below the median")
            st.caption(
                f"Split at the median prediction, {explain.output_text(expl, middle, unit, outcome)}."
            )
        second = ~first
    else:
        left, a_col, b_col = st.columns(3)
        column = left.selectbox(
            "Column", categorical, key=state.W_EXPLAIN_COHORT_COLUMN, persist_state="page"
        )
        text = frame[column].map(lambda v: None if pd.isna(v) else as_label(v))
        levels = sorted(text.dropna().unique())
        a = a_col.selectbox(
            "Group A",
            levels,
            index=0,
            key=f"{state.W_EXPLAIN_COHORT_A}.{column}",
            persist_state="page",
        )
        b = b_col.selectbox(
            "Group B",
            levels,
            index=1,
            key=f"{state.W_EXPLAIN_COHORT_B}.{column}",
            persist_state="page",
        )
        first, second = (text == a).to_numpy(), (text == b).to_numpy()
        groups = (f"{column} = {a}", f"{column} = {b}")
    if mode == "column" and groups[0] == groups[1]:
        st.info("Choose two different groups.")
    elif not first.any() or not second.any():
        st.info(
            f"Nobody is in '{groups[0] if not first.any() else groups[1]}': nothing to compare."
        )
    else:
        try:
            fig = explain.compare_cohorts_figure(expl, first, second, groups, **terms)
        except MedinnError as exc:
            st.error(str(exc))
        else:
            st.plotly_chart(fig, key="explain.cohorts")
            st.caption(
                "Bars: the mean contribution of each feature in each group, the features that "
                "differ most first. A group's mean prediction is the average plus its bars."
            )


if overview.open:
    with overview:
        draw_global()
if dependence.open:
    with dependence:
        draw_dependence()
if one.open or what_if.open:  # both about the patient chosen in either
    with one if one.open else what_if:
        position = choose_patient()
        patient = names.iloc[position]
        row = frame.iloc[[position]]
        if one.open:
            draw_patient()
        else:
            draw_what_if()
if cohorts.open:
    with cohorts:
        draw_cohorts()

# -- inputs -------------------------------------------------------------------------------------
with st.expander(f"The {len(schema.features)} inputs of '{active.name}'"):
    rows = []
    for col in schema.features:
        if col.kind == Kind.NUMERIC:
            bounds = pre.training_range(col.name)
            seen = "" if bounds is None else f"{bounds[0]:.4g} to {bounds[1]:.4g}"
            fill = pre.imputed_value(col.name)
            missing = "" if fill is None else f"replaced by the median, {fill:.4g}"
        else:
            seen = ", ".join(pre.training_categories(col.name))
            missing = "its own category"
        rows.append(
            {
                "input": col.name,
                "kind": col.kind.value,
                "unit": col.unit,
                "seen in training": seen,
                "when missing": missing,
                "description": col.description,
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption(
        f"Encoded into {len(pre.feature_names_)} network inputs. Values outside the training "
        "range (0.5th to 99.5th percentile) make a patient unusual."
    )
