"""Train: settings, live progress with a Stop button, test metrics beside baselines, save."""

import datetime as dt

import streamlit as st

from medinn_app import audit, loaders, runtime, state, tables, training, ui
from medinn_core.architecture import describe_architecture, network_choices
from medinn_core.config import ACTIVATIONS, SCHEMES, TrainConfig
from medinn_core.errors import MedinnError
from medinn_core.figures import history_figure
from medinn_core.schema import Task
from medinn_core.train import choose_scheme
from medinn_core.validate import validate

DEFAULTS = TrainConfig()


def show_job(job: training.TrainingJob | None) -> None:
    """A running job's progress (and nothing else on the page), or why the last one failed."""
    if job is not None and not job.done:
        st.subheader(f"Training a model for '{ui.plain(job.target)}'")
        training.progress_panel(job)
        st.stop()
    problem = training.failure(job)
    if problem:
        st.error(ui.plain(problem))


def check_data(data: state.Dataset, schema):
    """The validation report of the data; ends the page when it has errors."""
    report = validate(data.frame, schema)
    if not report.ok:
        st.error("The data has problems that stop training; fix them on the Data page first.")
        for issue in report.errors:
            st.error(ui.plain(issue.message), icon=":material/block:")
        st.page_link("pages/data.py", label="Go to Data", icon=":material/table:")
        st.stop()
    return report


# -- settings -----------------------------------------------------------------------------------
def describe_split(data: state.Dataset, schema, report) -> None:
    """What is about to be trained, and how the default ("auto") scheme will use the patients:
    the same choice the core makes, not a fixed split."""
    scheme = choose_scheme(report.n_usable_rows, DEFAULTS)
    if scheme.name == "folds":
        how = f"{scheme.describe()}."
    else:
        how = (
            f"{1 - DEFAULTS.validation_fraction - DEFAULTS.test_fraction:.0%} to train, "
            f"{DEFAULTS.validation_fraction:.0%} to validate (early stopping, threshold), "
            f"{DEFAULTS.test_fraction:.0%} to test (the metrics below)."
        )
    what, task = ui.plain(schema.target), str(schema.task)
    if schema.task == Task.SURVIVAL:
        what = ui.plain(f"the {tables.horizon_risk(schema)}")
        task = ui.plain(f"survival, follow-up time in '{schema.time_column}'")
    st.markdown(
        f"**{ui.plain(data.name)}**: predict {what} ({task}) from "
        f"{len(schema.features)} columns, on {report.n_usable_rows:,} patients. "
        f"With the automatic validation scheme: {ui.plain(how)}"
    )


def choose_network(schema) -> str:
    """The network to train (auto, dense, convolutional), what "auto" builds for this data
    and why; the convolutional network is offered only when the data has a signal."""
    choices = network_choices(schema)
    network = ui.selectbox(
        st,
        "Network",
        choices.options,
        format_func=choices.label,
        key=state.W_TRAIN_NETWORK,
        help="Dense network (MLP): dense layers read every input column. Convolutional "
        "network (CNN): a 1-D convolutional branch reads each signal's trace and recognises a "
        "shape wherever it lies along it; dense layers join it with the other columns.",
    )
    st.caption(ui.plain(choices.reason))
    return network


def settings_form(schema) -> TrainConfig | None:
    """The settings the user submitted, or None when Train was not pressed; a setting that
    is not allowed ends the page with its message."""
    with st.form(state.W_TRAIN_FORM):
        network = choose_network(schema)
        left, right = st.columns(2)
        epochs = ui.number_input(
            left, "Maximum epochs", 1, 2000, DEFAULTS.epochs, key=state.W_TRAIN_EPOCHS
        )
        patience = ui.number_input(
            right,
            "Patience (epochs without improvement before stopping)",
            1,
            500,
            DEFAULTS.patience,
            key=state.W_TRAIN_PATIENCE,
        )
        with st.expander("Advanced settings"):
            a, b, c = st.columns(3)
            layers = a.text_input(
                "Hidden layers (units, first to last)",
                ",".join(map(str, DEFAULTS.hidden_units)),
                key=state.W_TRAIN_LAYERS,
            )
            activation = ui.selectbox(
                b,
                "Activation",
                ACTIVATIONS,
                index=ACTIVATIONS.index(DEFAULTS.activation),
                key=state.W_TRAIN_ACTIVATION,
                help="Only activations the explanations handle exactly are offered.",
            )
            dropout = ui.number_input(
                c, "Dropout", 0.0, 0.9, DEFAULTS.dropout, 0.05, key=state.W_TRAIN_DROPOUT
            )
            l2 = ui.number_input(
                a, "L2 penalty", 0.0, 1.0, DEFAULTS.l2, 1e-4, format="%.5f", key=state.W_TRAIN_L2
            )
            learning_rate = ui.number_input(
                b,
                "Learning rate",
                1e-5,
                1.0,
                DEFAULTS.learning_rate,
                1e-4,
                format="%.4f",
                key=state.W_TRAIN_LR,
            )
            batch_size = ui.number_input(
                c,
                "Batch size (0 = automatic)",
                0,
                65536,
                DEFAULTS.batch_size,
                key=state.W_TRAIN_BATCH,
            )
            seed = ui.number_input(a, "Seed", 0, 2**31 - 1, DEFAULTS.seed, key=state.W_TRAIN_SEED)
            class_weight = ui.selectbox(
                b,
                "Class weights",
                ("none", "balanced"),
                key=state.W_TRAIN_CLASS_WEIGHT,
                help="'balanced' weighs rare outcomes up; risks are then no longer calibrated.",
            )
            scheme = ui.selectbox(
                c,
                "Validation scheme",
                SCHEMES,
                key=state.W_TRAIN_SCHEME,
                help="auto: 5-fold cross-fitting up to 20,000 patients (every patient trains "
                "four of five networks and validates the fifth), a train/validation/test split "
                "above. The choice and its reason are shown with the result.",
            )
            coverage = ui.number_input(
                a,
                "Coverage of intervals and sets",
                0.5,
                0.99,
                DEFAULTS.coverage,
                0.01,
                key=state.W_TRAIN_COVERAGE,
                help="Regression: the conformal interval (lower, upper); multiclass: the "
                "prediction set. 0.9 means about 9 patients in 10 have the true value inside.",
            )
        submitted = st.form_submit_button(
            "Train", type="primary", key=state.W_TRAIN_SUBMIT, icon=":material/play_arrow:"
        )
    if not submitted:
        return None
    try:
        return TrainConfig(
            hidden_units=training.parse_layers(layers),
            activation=activation,
            dropout=float(dropout),
            l2=float(l2),
            learning_rate=float(learning_rate),
            batch_size=int(batch_size),
            epochs=int(epochs),
            patience=int(patience),
            class_weight=class_weight,
            seed=int(seed),
            scheme=scheme,
            coverage=float(coverage),
            network=network,
        )
    except MedinnError as exc:
        st.error(ui.plain(exc))
        st.stop()


def start_training(data: state.Dataset, schema, report, config: TrainConfig) -> None:
    """Start a training job (and rerun to show its progress)."""
    try:
        audit.record("train_start", n_patients=report.n_usable_rows)
    except MedinnError as exc:
        st.error(ui.plain(exc))
        st.stop()
    st.session_state[state.TRAIN_JOB] = training.start(data.frame, schema, config)
    st.rerun()


# -- result -------------------------------------------------------------------------------------
def show_result(result) -> None:
    model = result.model
    meta_epochs = len(result.history.get("loss", []))
    st.subheader("Result of the last run")
    how = "stopped by you" if model.stopped_by_user_ else f"{meta_epochs} epochs"
    scheme = result.scheme
    folds = scheme.name == "folds"
    held = "out-of-fold predictions" if folds else "test split"
    st.success(
        f"Trained in {result.seconds:.0f} s ({how}). Scheme: {scheme.describe()}. "
        + (
            f"All {len(result.split.train):,} patients were used."
            if folds
            else f"Test split: {len(result.split.test):,} patients never seen in training."
        )
    )
    st.caption(
        ui.plain(
            f"Why this scheme: {scheme.reason}. Recalibration: {model.recalibration_.describe()}"
        )
    )
    table = tables.metrics_table(result.metrics, result.baselines, result.intervals, held)
    st.dataframe(table.style.format(tables.numbers_format(table), na_rep="n/a"))
    same = "on the same folds" if folds else "on the same split"
    if model.schema.task == Task.SURVIVAL:
        st.caption(
            ui.plain(
                f"Internal validation at the horizon ({tables.horizon_risk(model.schema)}): "
                "Harrell's C with its 95% bootstrap interval, Uno's C (censoring-weighted), the "
                "cumulative/dynamic AUROC and the censoring-weighted Brier score at the "
                "horizon. Higher is better for the C indices and the AUROC, lower for the "
                f"Brier score. The linear Cox model is fitted {same} with the same "
                "preprocessing."
            )
        )
    else:
        st.caption(
            "Internal validation with 95% bootstrap intervals. Higher is better for AUROC, "
            "average precision, accuracy and R²; lower is better for the Brier score, MAE and "
            f"RMSE. The baselines are fitted {same} with the same preprocessing."
        )
    show_architecture(model)
    st.plotly_chart(
        ui.plain_figure(history_figure(result.history, best_epoch=model.best_epoch_)),
        key="train.history_chart",
    )
    if result.report.warnings:
        with st.expander(f"{len(result.report.warnings)} data warning(s) stored with the model"):
            for issue in result.report.warnings:
                st.warning(ui.plain(issue.message))


def show_architecture(model) -> None:
    """What the trained network is made of, read from the network itself: the sentence the
    report prints and, per member, each signal's convolutional branch, the dense layers and
    the linear path."""
    try:
        arch = describe_architecture(model)
    except MedinnError as exc:
        st.caption(ui.plain(exc))
        return
    st.markdown("**Architecture**")
    st.caption(ui.plain(arch.sentence))
    st.dataframe(
        arch.table,
        hide_index=True,
        column_config={
            "members": st.column_config.TextColumn("members", width=80),
            "part": st.column_config.TextColumn("part", width=200),
            "layers": st.column_config.TextColumn("layers", width=560),
            "parameters": st.column_config.NumberColumn("parameters", width=90),
        },
    )
    st.caption(
        f"{arch.n_parameters:,} parameters in all. "
        + ("Conv1D f × k: f filters, each spanning k samples. " if arch.kind == "cnn" else "")
        + "The members are trained side by side and averaged; the parts of a member add up to "
        "its output."
    )


def save_form(result, data: state.Dataset) -> None:
    """Save the result to the registry under a name, or say where it was saved."""
    saved = st.session_state.get(state.TRAIN_SAVED)
    if saved:
        st.success(f"Saved in the registry as '{ui.plain(saved)}'.")
        st.page_link("pages/predict.py", label="Go to Predict", icon=":material/person_search:")
        return
    st.subheader("Save the model")
    with st.form(state.W_SAVE_FORM):
        name = st.text_input(
            "Name",
            tables.default_model_name(data.name, dt.datetime.now()),
            max_chars=64,
            key=state.W_SAVE_NAME,
        )
        note = st.text_area("Note (what, why, on which data)", key=state.W_SAVE_NOTE)
        save = st.form_submit_button(
            "Save to the registry", key=state.W_SAVE_SUBMIT, icon=":material/save:"
        )
    if save:
        try:
            path = loaders.registry().save(result, name, note)
            state.set_active_model(loaders.load_model(path))
            audit.record("save_model", active=state.active_model())
        except MedinnError as exc:
            st.error(ui.plain(exc))
            st.stop()
        st.session_state[state.TRAIN_SAVED] = path.name
        st.rerun()


# -- the page -----------------------------------------------------------------------------------
runtime.ensure_navigation()
st.title("Train")
data = ui.require_dataset()
schema = ui.require_target()
show_job(st.session_state.get(state.TRAIN_JOB))
report = check_data(data, schema)
describe_split(data, schema, report)
config = settings_form(schema)
if config is not None:
    start_training(data, schema, report, config)
result = st.session_state.get(state.TRAIN_RESULT)
if result is not None:
    show_result(result)
    save_form(result, data)
