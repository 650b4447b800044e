"""Home: what medinn does, where the user is, and the sample in one click."""

import streamlit as st

from medinn_app import audit, loaders, runtime, state, training, ui
from medinn_app.sidebar import DISCLAIMER
from medinn_core.errors import MedinnError


def introduce() -> None:
    st.title("medinn")
    st.markdown(
        "medinn trains a neural network on your patients' records to predict an outcome, such "
        "as a major cardiac event within a year. "
        "It shows each patient's predicted risk with the reasons behind it, and how well the "
        "model discriminates and is calibrated on patients it has not seen. "
        "Everything runs on this server, and the patients you load stay in your session only."
    )
    st.warning(
        f"**{DISCLAIMER}** A model is only as good as the data it learned from.",
        icon=":material/health_and_safety:",
    )


def show_progress(steps: list[tuple[str, bool, str]]) -> None:
    """The checklist: (label, done, page) a step."""
    st.subheader("Your progress")
    for number, (label, done, page) in enumerate(steps, start=1):
        mark = ":material/check_circle:" if done else ":material/radio_button_unchecked:"
        st.page_link(page, label=f"{number}. {label}" + (" — done" if done else ""), icon=mark)


def load_sample(job: training.TrainingJob | None) -> None:
    """The sample data with the sample model: loaded when saved, else trained (and saved)."""
    st.subheader("Try it with sample data")
    st.caption(
        "Loads sample_data/cardiology.csv (4,000 synthetic patients, outcome: major adverse "
        "cardiac event within a year) and the sample model. The first time, the model is "
        f"trained for a few epochs and saved as '{loaders.SAMPLE_MODEL}'."
    )
    if job is not None and job.save_as == loaders.SAMPLE_MODEL:
        st.markdown(f"**Training the sample model '{loaders.SAMPLE_MODEL}'**")
        training.progress_panel(job)
        st.stop()
    last = st.session_state.get(state.TRAIN_JOB)
    problem = training.failure(last)
    if problem and last.save_as == loaders.SAMPLE_MODEL:
        st.error(ui.plain(problem))
    if st.button(
        "Load sample data and model",
        key=state.W_HOME_SAMPLE,
        type="primary",
        icon=":material/download:",
        disabled=job is not None,
        help="A model is training; wait until it has finished." if job is not None else None,
    ):
        try:
            start_sample()
        except MedinnError as exc:
            st.error(ui.plain(exc))
            st.stop()
        st.rerun()


def start_sample() -> None:
    """Load the sample data, and the sample model or the training job that makes it.

    Raises
    ------
    medinn_core.errors.MedinnError
        If the sample or the registry cannot be read.
    """
    data = loaders.read_sample(loaders.SAMPLE_DATASET)
    schema = loaders.default_schema(data)
    state.set_dataset(data, schema)
    if loaders.SAMPLE_MODEL in loaders.registry().names():
        with st.spinner("Loading the sample model…"):
            state.set_active_model(loaders.load_registered(loaders.SAMPLE_MODEL))
        state.flash("Sample data and model loaded: open Predict to see the patients' risks.")
    else:
        audit.record("train_start", n_patients=len(data.frame))
        st.session_state[state.TRAIN_JOB] = training.start(
            data.frame,
            schema,
            loaders.sample_config(),
            save_as=loaders.SAMPLE_MODEL,
            note=loaders.SAMPLE_NOTE,
        )


# -- the page -----------------------------------------------------------------------------------
runtime.ensure_navigation()
introduce()
state.show_flash()
schema = state.schema()
show_progress(
    [
        ("Load a dataset", state.dataset() is not None, "pages/data.py"),
        ("Choose the target", schema is not None and schema.target is not None, "pages/data.py"),
        ("Train or load a model", state.active_model() is not None, "pages/train.py"),
        (
            "Make predictions",
            bool(st.session_state.get(state.PREDICTIONS_MADE)),
            "pages/predict.py",
        ),
    ]
)
load_sample(training.running())
