"""Explain: why the model predicts what it does, for all patients and for one.

The core explains (``medinn_core.explain``: the contributions, their figures and words, the
model's terms and the table of its inputs); :mod:`medinn_app.explaining` keeps each
explanation in this session. This page never imports shap or keras itself.
"""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from medinn_app import explaining, runtime, state, ui
from medinn_core import explain
from medinn_core.errors import MedinnError
from medinn_core.explain import METHOD_LABELS, Explanation, Terms
from medinn_core.figures import signal_importance_figure, signal_saliency_figure
from medinn_core.io import Bundle
from medinn_core.predict import patient_labels, uncertainty_sentence, unusual_values
from medinn_core.schema import Column, Kind, Task, as_label
from medinn_core.signal_views import by_signal, saliency, where_the_model_looks
from medinn_core.signals import SignalGroup

runtime.ensure_navigation()

SPACES = {"probability": "Risk (%)", "logit": "Log-odds"}
# Dots drawn, not patients computed: every patient counts in every number and table. The
# browser draws each dot as an SVG element (6,000 took seconds on a 2-core machine), so the
# scatter plots show a random sample of patients, the same one on every run.
BEESWARM_DOTS = 1000  # about 80 patients a feature row
DEPENDENCE_DOTS = 1000


@dataclass(frozen=True)
class Shown:
    """What every tab draws from: the model, the patients, their explanation and its terms."""

    active: Bundle
    data: state.Dataset
    expl: Explanation  # each signal summed into one feature (signal_views.by_signal)
    samples: Explanation  # each signal's samples apart, for the saliency view
    terms: Terms
    names: pd.Series  # each patient's label, by position
    space: str
    class_name: str | None

    @property
    def task(self) -> Task:
        return Task(self.active.task)

    @property
    def signals(self) -> tuple[SignalGroup, ...]:
        return self.active.schema.signals

    def tabular(self, features) -> list[str]:
        """``features`` without the signals (a trace has no single value to plot or edit)."""
        names = {g.name for g in self.signals}
        return [f for f in features if f not in names]

    def output_text(self, value: float) -> str:
        return explain.output_text(self.expl, value, **self.terms.output)


# -- which patients, and in which terms ---------------------------------------------------------
def choose_patients() -> state.Dataset:
    """The patients to explain, as Predict offers them; a table that cannot be read ends the
    page with its message."""
    current = state.dataset()
    predicted: state.Dataset | None = st.session_state.get(state.PREDICT_DATA)
    labels = explaining.sources(current, predicted)
    source = ui.radio(
        st,
        "Patients to explain",
        list(labels),
        format_func=lambda key: ui.plain(labels[key]),  # radio options are Markdown
        horizontal=True,
        key=state.W_EXPLAIN_SOURCE,
        on_change=explaining.forget_patient,
    )
    try:
        return explaining.patients(source, current, predicted)
    except MedinnError as exc:
        st.error(ui.plain(exc))
        st.stop()


def choose_output(active: Bundle) -> tuple[str, str | None]:
    """The space (binary: risk or log-odds) and the class (multiclass) to explain."""
    task = Task(active.task)
    if task == Task.BINARY:
        space = ui.radio(
            st,
            "Scale",
            list(SPACES),
            format_func=SPACES.get,
            horizontal=True,
            key=state.W_EXPLAIN_SPACE,
            help="Risk: contributions in percentage points of risk. Log-odds: contributions add "
            "up on the scale the network computes on, where effects are closer to additive.",
        )
        st.caption(f"Explains the model's {ui.plain(active.schema.event_text)}.")
        return space, None
    if task == Task.SURVIVAL:
        st.caption(
            ui.plain(
                "Contributions are to the log-hazard, the network's output, which ranks the "
                "patients: a positive one raises the hazard (the event comes earlier), a "
                "negative one lowers it, and they add up exactly. The "
                f"{active.schema.event_text} follows from the log-hazard but is not a sum of "
                "these contributions."
            )
        )
        return "probability", None
    if task == Task.MULTICLASS:
        classes = list(active.model.classes_)
        class_name = ui.selectbox(
            st, "Class to explain", classes, index=len(classes) - 1, key=state.W_EXPLAIN_CLASS
        )
        return "probability", class_name
    return "probability", None


def explain_patients(
    active: Bundle, data: state.Dataset, space: str, class_name: str | None
) -> Shown:
    """The explanation of ``data`` with its terms, and the caption that says how it was made;
    a model that cannot explain these patients ends the page with the reason."""
    frame = data.frame
    try:
        with st.spinner(f"Explaining {len(frame):,} patients…"):
            expl, seconds = explaining.explanation(active, data, space, class_name)
    except MedinnError as exc:
        st.error(ui.plain(f"{data.name}: {exc}"))
        st.stop()
    shown = Shown(
        active=active,
        data=data,
        expl=by_signal(expl, active.schema.signals),
        samples=expl,
        terms=explain.explanation_terms(active, class_name),
        names=patient_labels(frame, active.schema.id_column).reset_index(drop=True),
        space=space,
        class_name=class_name,
    )
    st.caption(
        ui.plain(
            f"Method: {METHOD_LABELS.get(expl.method, expl.method)}, {len(frame):,} patients "
            f"explained in {seconds:.1f} s. Each patient's prediction is the average prediction "
            f"({shown.output_text(expl.base_value)}) plus the contributions of their values."
        )
    )
    if expl.note:
        st.warning(ui.plain(expl.note), icon=":material/info:")
    return shown


# -- global -------------------------------------------------------------------------------------
def draw_global(shown: Shown) -> None:
    expl, terms = shown.expl, shown.terms
    st.plotly_chart(
        ui.plain_figure(explain.importance_figure(expl, **terms.output)), key="explain.importance"
    )
    st.plotly_chart(
        ui.plain_figure(
            explain.beeswarm_figure(
                expl, max_points=BEESWARM_DOTS, units=terms.units, **terms.output
            )
        ),
        key="explain.beeswarm",
    )
    st.caption(
        "Each dot is a patient. Right of the line, the value raised the prediction; left, it "
        "lowered it. Colour: the patient's value of that feature, from low (blue) to high "
        "(vermillion); categories in alphabetical order; grey when missing."
    )


def draw_dependence(shown: Shown) -> None:
    expl, terms = shown.expl, shown.terms
    ranked = shown.tabular(expl.importance().index)
    if not ranked:
        st.info("The model has no input but its signals: see their saliency.")
        return
    left, right = st.columns(2)
    feature = ui.selectbox(
        left, "Feature", ranked, key=state.W_EXPLAIN_FEATURE, persist_state="page"
    )
    colour = ui.selectbox(
        right,
        "Colour by",
        [None, *ranked],
        format_func=lambda f: "nothing" if f is None else f,
        key=state.W_EXPLAIN_COLOUR,
        persist_state="page",
    )
    st.plotly_chart(
        ui.plain_figure(
            explain.dependence_figure(
                expl, feature, colour, max_points=DEPENDENCE_DOTS, units=terms.units, **terms.output
            )
        ),
        key="explain.dependence",
    )


# -- one patient --------------------------------------------------------------------------------
def choose_patient(shown: Shown) -> int:
    """The chosen patient's position, from a list sorted from the highest prediction down."""
    expl = shown.expl
    order = np.argsort(-expl.output, kind="stable")
    texts = explain.output_texts(expl, expl.output, **shown.terms.output)
    choices = [f"{name} · {text}" for name, text in zip(shown.names.tolist(), texts, strict=True)]
    return ui.selectbox(
        st,
        "Patient",
        order.tolist(),
        format_func=choices.__getitem__,
        key=state.W_EXPLAIN_PATIENT,
        persist_state="page",
        help="Sorted from the highest prediction down.",
    )


def draw_patient(shown: Shown, position: int) -> None:
    expl, terms = shown.expl, shown.terms
    row, patient = shown.data.frame.iloc[[position]], shown.names.iloc[position]
    reasons = unusual_values(shown.active, row)
    if reasons:
        st.warning(
            ui.plain(
                f"Patient {patient} is unlike the patients the model learned from: "
                f"{'; '.join(reasons)}. This prediction and its explanation are less certain."
            ),
            icon=":material/warning:",
        )
    sentence = explain.plain_sentence(
        expl, position, terms.units, imputed=terms.imputed, **terms.output
    )
    st.markdown(f"**{ui.plain(sentence)}**")
    certainty = uncertainty_sentence(shown.active, row, state.threshold())
    if certainty:
        st.caption(ui.plain(certainty))
    st.plotly_chart(
        ui.plain_figure(
            explain.waterfall_figure(
                expl,
                position,
                terms.units,
                terms.imputed,
                **terms.output,
                title=f"Patient {patient}: from the average to this patient",
            )
        ),
        key="explain.waterfall",
    )
    st.caption(
        "Read from the top: the average prediction, then each value's push up (vermillion) or "
        "down (blue), to this patient's prediction at the bottom."
    )


# -- what-if ------------------------------------------------------------------------------------
def same(col: Column, new, old) -> bool:
    """Whether an edited value is still the recorded one (missing equals missing)."""
    if col.kind == Kind.NUMERIC:
        old = pd.to_numeric(pd.Series([old]), errors="coerce").iloc[0]
        if new is None or pd.isna(old):
            return new is None and pd.isna(old)
        return math.isclose(float(new), float(old))
    if new is None or pd.isna(old):
        return new is None and pd.isna(old)
    return new == as_label(old)


def edit_values(shown: Shown, position: int, row: pd.DataFrame) -> dict:
    """The form of the values to change, prefilled with the patient's (None stands for
    missing): the values the user changed, by feature."""
    schema, model, token = shown.active.schema, shown.active.model, shown.data.token
    strongest = shown.tabular(
        shown.expl.contributions.iloc[position].abs().sort_values(ascending=False).index
    )
    picked = ui.multiselect(
        st,
        "Values to change",
        strongest,
        default=strongest[:3],
        key=f"{state.W_EXPLAIN_WHATIF_PICK}.{token}.{position}",
        persist_state="page",
        help="Listed from the value that moves this patient's prediction most.",
    )
    recorded = row.iloc[0]
    edits = {}
    with st.form(key=state.W_EXPLAIN_WHATIF_FORM):
        fields = st.columns(3)
        for k, name in enumerate(picked):
            with fields[k % 3]:
                key = f"{state.W_EXPLAIN_WHATIF_FIELD}.{token}.{position}.{name}"
                edits[name] = ui.value_input(schema.column(name), recorded[name], model, key)
        st.form_submit_button(
            "Show the new prediction", key=state.W_EXPLAIN_WHATIF_SUBMIT, type="primary"
        )
    return {
        name: v for name, v in edits.items() if not same(schema.column(name), v, recorded[name])
    }


def draw_what_if(shown: Shown, position: int) -> None:
    expl, terms = shown.expl, shown.terms
    row = shown.data.frame.iloc[[position]]
    st.caption(
        f"Change some of patient {ui.plain(shown.names.iloc[position])}'s values and see how "
        "the prediction and its explanation change."
    )
    changed = edit_values(shown, position, row)
    if not changed:
        st.info("Change a value above and press 'Show the new prediction' to compare.")
        return
    values = row.iloc[0].to_dict()
    values.update({name: np.nan if v is None else v for name, v in changed.items()})
    edited = pd.DataFrame([values], index=row.index)
    try:
        new = by_signal(
            explain.explain_bundle(
                shown.active, edited, space=shown.space, class_name=shown.class_name
            ),
            shown.signals,
        )
    except MedinnError as exc:
        st.error(ui.plain(exc))
        return
    before, after = float(expl.output[position]), float(new.output[0])
    kind, value = explain.output_parts(new, after, **terms.output)
    st.metric(
        f"{ui.plain(kind)} with the changes",
        ui.plain(value),
        delta=ui.plain(explain.change_text(new, after - before, **terms.output)),
        delta_color=ui.risk_delta_colour(shown.active.schema)
        if shown.task == Task.BINARY
        else "off",
    )
    reasons = unusual_values(shown.active, edited)
    if reasons:
        st.warning(
            "With these values, the patient is unlike the training data: "
            f"{ui.plain('; '.join(reasons))}. The new prediction is less certain.",
            icon=":material/warning:",
        )
    old_fig = explain.waterfall_figure(
        expl,
        position,
        terms.units,
        terms.imputed,
        include=list(changed),
        **terms.output,
        title="As recorded",
    )
    new_fig = explain.waterfall_figure(
        new,
        0,
        terms.units,
        terms.imputed,
        include=list(changed),
        **terms.output,
        title="With your changes",
    )
    explain.same_scale(old_fig, new_fig)
    was, now = st.columns(2)
    was.plotly_chart(ui.plain_figure(old_fig), key="explain.whatif_before")
    now.plotly_chart(ui.plain_figure(new_fig), key="explain.whatif_after")
    for column, e, i in ((was, expl, position), (now, new, 0)):
        column.caption(
            ui.plain(
                explain.plain_sentence(e, i, terms.units, imputed=terms.imputed, **terms.output)
            )
        )


# -- cohorts ------------------------------------------------------------------------------------
def split_by_prediction(shown: Shown) -> tuple[np.ndarray, tuple[str, str]]:
    """High against low prediction: a binary model's patients at or above the shared decision
    threshold against the others, else those at or above the median prediction."""
    expl = shown.expl
    if shown.task == Task.BINARY:
        cut = state.threshold()
        st.caption(f"Split at the decision threshold, {cut:.0%}, which Predict and Evaluate share.")
        return expl.at_or_above(cut), (f"High risk (≥ {cut:.0%})", f"Low risk (< {cut:.0%})")
    high, middle = expl.above_median()
    st.caption(f"Split at the median prediction, {ui.plain(shown.output_text(middle))}.")
    return high, ("Above the median", "Below the median")


def split_by_column(
    shown: Shown, categorical: list[str]
) -> tuple[np.ndarray, np.ndarray, tuple[str, str]]:
    """Two groups of a category column, chosen by the user."""
    frame = shown.data.frame
    left, a_col, b_col = st.columns(3)
    column = ui.selectbox(
        left, "Column", categorical, key=state.W_EXPLAIN_COHORT_COLUMN, persist_state="page"
    )
    text = frame[column].map(lambda v: None if pd.isna(v) else as_label(v))
    levels = sorted(text.dropna().unique())
    a = ui.selectbox(
        a_col,
        "Group A",
        levels,
        index=0,
        key=f"{state.W_EXPLAIN_COHORT_A}.{column}",
        persist_state="page",
    )
    b = ui.selectbox(
        b_col,
        "Group B",
        levels,
        index=1,
        key=f"{state.W_EXPLAIN_COHORT_B}.{column}",
        persist_state="page",
    )
    return (text == a).to_numpy(), (text == b).to_numpy(), (f"{column} = {a}", f"{column} = {b}")


def draw_cohorts(shown: Shown) -> None:
    frame = shown.data.frame
    categorical = [
        c.name
        for c in shown.active.schema.features
        if c.kind != Kind.NUMERIC and frame[c.name].dropna().nunique() >= 2
    ]
    modes = {"prediction": "Predicted high against low", "column": "Two groups of a column"}
    mode = ui.radio(
        st,
        "Compare",
        list(modes) if categorical else ["prediction"],
        format_func=modes.get,
        horizontal=True,
        key=state.W_EXPLAIN_COHORT_MODE,
        persist_state="page",
    )
    if mode == "prediction":
        first, groups = split_by_prediction(shown)
        second = ~first
    else:
        first, second, groups = split_by_column(shown, categorical)
    if mode == "column" and groups[0] == groups[1]:
        st.info("Choose two different groups.")
    elif not first.any() or not second.any():
        st.info(
            f"Nobody is in '{ui.plain(groups[0] if not first.any() else groups[1])}': "
            "nothing to compare."
        )
    else:
        try:
            fig = explain.compare_cohorts_figure(
                shown.expl, first, second, groups, **shown.terms.output
            )
        except MedinnError as exc:
            st.error(ui.plain(exc))
        else:
            st.plotly_chart(ui.plain_figure(fig), key="explain.cohorts")
            st.caption(
                "Bars: the mean contribution of each feature in each group, the features that "
                "differ most first. A group's mean prediction is the average plus its bars."
            )


# -- signals ------------------------------------------------------------------------------------
def draw_saliency(shown: Shown) -> None:
    """A signal's part, sample by sample: the chosen patient's trace coloured by what each
    sample adds, and where along the trace the model looks over all the patients."""
    signals = {g.name: g for g in shown.signals}
    names = list(signals)
    name = ui.selectbox(
        st,
        "Signal",
        names,
        key=state.W_EXPLAIN_SIGNAL,
        persist_state="page",
        disabled=len(names) == 1,
    )
    group = signals[name]
    position = choose_patient(shown)
    try:
        one = saliency(shown.samples, group, position, **shown.terms.output)
    except MedinnError as exc:
        st.error(ui.plain(exc))
        return
    patient = shown.names.iloc[position]
    st.markdown(
        ui.plain(
            f"Patient {patient}: the {group.length} samples of '{name}' add {one.total_text} in all, "
            "the signal's bar in the One patient tab."
        )
    )
    st.plotly_chart(
        ui.plain_figure(signal_saliency_figure(one.trace, one.contributions, name, one.unit)),
        key="explain.saliency",
    )
    st.caption(
        "Each dot is a sample of the trace as recorded, coloured by what it adds to this "
        "patient's prediction: red raises it, blue lowers it, pale adds little. Gaps are "
        "missing samples, which the model fills along the trace."
    )
    mean_abs, unit = where_the_model_looks(shown.samples, group, **shown.terms.output)
    st.plotly_chart(
        ui.plain_figure(signal_importance_figure(mean_abs, name, unit)),
        key="explain.saliency_cohort",
    )
    st.caption(
        f"The mean absolute contribution of each sample over the {len(shown.names):,} "
        "patients: where along the trace the model looks. A shape that moves along the "
        "trace spreads its weight over the places where it occurs."
    )


# -- inputs -------------------------------------------------------------------------------------
def draw_inputs(active: Bundle) -> None:
    inputs = explain.model_inputs(active)
    with st.expander(f"The {len(inputs.table)} inputs of '{ui.plain(active.name)}'"):
        st.dataframe(inputs.table, hide_index=True)
        st.caption(
            f"Encoded into {inputs.n_encoded} network inputs. Values outside the training "
            "range (0.5th to 99.5th percentile) make a patient unusual."
        )


def draw_tabs(shown: Shown) -> None:
    """Only the open tab is drawn; One patient, What-if and Signal saliency (a model with a
    signal) share the chosen patient."""
    overview, dependence, one, what_if, cohorts, *signal = st.tabs(
        explaining.tabs(bool(shown.signals)), key=state.W_EXPLAIN_TAB, on_change="rerun"
    )
    explaining.check_patient(len(shown.expl.output))
    if overview.open:
        with overview:
            draw_global(shown)
    if dependence.open:
        with dependence:
            draw_dependence(shown)
    if one.open or what_if.open:
        with one if one.open else what_if:
            position = choose_patient(shown)
            if one.open:
                draw_patient(shown, position)
            else:
                draw_what_if(shown, position)
    if cohorts.open:
        with cohorts:
            draw_cohorts(shown)
    if signal and signal[0].open:
        with signal[0]:
            draw_saliency(shown)


st.title("Explain")
active = ui.require_model()
explaining.apply_request()
data = choose_patients()
space, class_name = choose_output(active)
draw_tabs(explain_patients(active, data, space, class_name))
draw_inputs(active)
