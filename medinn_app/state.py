"""Every session-state key of the app, and the few records stored under them.

Patient data lives here, in ``st.session_state`` (one browser session), never in a cache
shared between sessions. Widget keys are listed too, so that no page invents its own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import streamlit as st

if TYPE_CHECKING:  # pandas is imported by the pages that read tables: Home draws without it
    import pandas as pd

    from medinn_core.io import Bundle

# -- application state ------------------------------------------------------------------------
DATASET = "medinn.dataset"  # Dataset: the table the user works on
DATA_UPLOAD_ID = "medinn.data_upload_id"  # file id of the upload already read (not re-read)
SCHEMA = "medinn.schema"  # Schema of DATASET, as edited on the Data page
SCHEMA_VERSION = "medinn.schema_version"  # bumps when SCHEMA changes, to refresh the editor
SCHEMA_MESSAGE = "medinn.schema_message"  # an error from the last schema edit, shown once
SIGNAL_MESSAGE = "medinn.signal_message"  # an error from the last signal edit, shown once
ENCODED_INPUTS = "medinn.encoded_inputs"  # (frame, schema, inputs after encoding) of the
#   Data page's last count
TRAIN_JOB = "medinn.train_job"  # TrainingJob: queued, training in a worker, or finished
TRAIN_RESULT = "medinn.train_result"  # TrainingResult of the last finished run
TRAIN_SAVED = "medinn.train_saved"  # registry name under which TRAIN_RESULT was saved
ACTIVE_MODEL = "medinn.active_model"  # Bundle: the model every page uses (saved or not)
THRESHOLD = "medinn.threshold"  # decision threshold shared by Predict and Evaluate
PREDICT_DATA = "medinn.predict_data"  # Dataset read on the Predict page (sample or upload)
PREDICT_UPLOAD_ID = "medinn.predict_upload_id"  # file id of the upload in PREDICT_DATA
PREDICTIONS = "medinn.predictions"  # (cache key, predict.Scoring) of the last scoring, for
#   Predict's reruns
EVALUATION = "medinn.evaluation"  # (cache key, ModelEvaluation, memo) of the last run
PREDICTIONS_MADE = "medinn.predictions_made"  # True once risks were shown for some patients
FLASH = "medinn.flash"  # a success message to show after a rerun

# -- widget keys --------------------------------------------------------------------------------
W_HOME_SAMPLE = "home.load_sample"
W_DATA_SOURCE = "data.source"
W_DATA_SAMPLE = "data.sample"
W_DATA_UPLOAD = "data.upload"
W_DATA_TARGET = "data.target"
W_DATA_TASK = "data.task"
W_DATA_EDITOR = "data.schema_editor"  # suffixed with SCHEMA_VERSION
W_DATA_PROFILE_COLUMN = "data.profile_column"
W_DATA_EVENT = "data.event"
W_DATA_UNIT = "data.unit"  # suffixed with the column
W_DATA_CODES = "data.codes"  # the code-like number columns the user treats as categories
W_DATA_TIME = "data.time_column"  # survival: the follow-up time column
W_DATA_HORIZON = "data.horizon"  # survival: the time risks are predicted by
W_DATA_USE_SURVIVAL = "data.use_survival"  # the leak warning's offer, suffixed with the column
W_DATA_DATE_START = "data.date_start"  # follow-up from two dates: the start column
W_DATA_DATE_END = "data.date_end"  # ... the end column
W_DATA_DATE_UNIT = "data.date_unit"  # ... the unit of the time
W_DATA_DATE_ADD = "data.date_add"  # ... the button that adds the column
W_DATA_SIGNAL_USE = "data.signal_use"  # one signal or ordinary columns, suffixed with its first
#   column (a signal keeps its widgets when renamed)
W_DATA_SIGNAL_FORM = "data.signal_form"  # the rename form, suffixed with the first column
W_DATA_SIGNAL_NAME = "data.signal_name"  # ... the new name, suffixed with the first column
W_DATA_SIGNAL_RENAME = "data.signal_rename"  # ... its button, suffixed with the first column
W_TRAIN_FORM = "train.form"
W_TRAIN_EPOCHS = "train.epochs"
W_TRAIN_PATIENCE = "train.patience"
W_TRAIN_LAYERS = "train.layers"
W_TRAIN_ACTIVATION = "train.activation"
W_TRAIN_DROPOUT = "train.dropout"
W_TRAIN_L2 = "train.l2"
W_TRAIN_LR = "train.learning_rate"
W_TRAIN_BATCH = "train.batch_size"
W_TRAIN_SEED = "train.seed"
W_TRAIN_CLASS_WEIGHT = "train.class_weight"
W_TRAIN_SCHEME = "train.scheme"
W_TRAIN_COVERAGE = "train.coverage"
W_TRAIN_NETWORK = "train.network"  # auto, mlp or cnn (TrainConfig.network)
W_TRAIN_SUBMIT = "train.submit"
W_TRAIN_STOP = "train.stop"
W_SAVE_FORM = "train.save_form"
W_SAVE_NAME = "train.save_name"
W_SAVE_NOTE = "train.save_note"
W_SAVE_SUBMIT = "train.save_submit"
W_MODELS_PICK = "models.pick"
W_MODELS_LOAD = "models.load"
W_MODELS_NEW_NAME = "models.new_name"
W_MODELS_RENAME = "models.rename"
W_MODELS_CONFIRM = "models.confirm_delete"
W_MODELS_DELETE = "models.delete"
W_MODELS_DOWNLOAD = "models.download"
W_MODELS_IMPORT_FILE = "models.import_file"
W_MODELS_IMPORT = "models.import"
W_PREDICT_SOURCE = "predict.source"
W_PREDICT_UPLOAD = "predict.upload"
W_PREDICT_THRESHOLD = "predict.threshold"
W_PREDICT_DOWNLOAD = "predict.download"
W_PREDICT_PATIENT = "predict.patient"
W_PREDICT_FIELD = "predict.field"  # suffixed with the patient and the column
W_PREDICT_TAB = "predict.tab"  # the open tab, by its label
W_EVAL_SOURCE = "evaluate.source"
W_EVAL_THRESHOLD = "evaluate.threshold"
W_EVAL_BOOT = "evaluate.bootstrap"
W_EVAL_TAB = "evaluate.tab"  # label of the open tab; one key for every task (a stale label
#   falls back to the first tab)


@dataclass(frozen=True)
class Dataset:
    """A table the user loaded: its name, rows, and a token that changes with every load."""

    name: str
    frame: pd.DataFrame
    source: str  # "sample" or "upload"
    notes: tuple[str, ...] = ()  # what the reader changed (trimmed names, markers as missing)
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def shape(self) -> tuple[int, int]:
        return self.frame.shape


MAIN_METRIC = {
    "binary": ("auroc", "AUROC"),
    "multiclass": ("macro_auroc", "macro AUROC"),
    "regression": ("mae", "MAE"),
    "survival": ("c_index", "Harrell's C"),
}


def main_metric(metadata: dict[str, Any]) -> tuple[str, float | None]:
    """The label and internal-validation value of the task's headline metric: "Test AUROC"
    after a split, "Out-of-fold AUROC" after cross-fitting (there is no test split then)."""
    key, label = MAIN_METRIC.get(str(metadata.get("task")), ("auroc", "AUROC"))
    value = (metadata.get("metrics") or {}).get(key)
    folds = (metadata.get("scheme") or {}).get("name") == "folds"
    return f"{'Out-of-fold' if folds else 'Test'} {label}", value


# -- accessors ----------------------------------------------------------------------------------
def dataset() -> Dataset | None:
    return st.session_state.get(DATASET)


def schema():
    return st.session_state.get(SCHEMA)


def active_model() -> Bundle | None:
    return st.session_state.get(ACTIVE_MODEL)


def set_dataset(data: Dataset, schema_) -> None:
    """Make ``data`` the current table, with its inferred schema; forget what depended on it."""
    st.session_state[DATASET] = data
    set_schema(schema_)
    st.session_state.pop(PREDICTIONS, None)
    st.session_state.pop(EVALUATION, None)
    for key in (W_DATA_TARGET, W_DATA_TASK, W_DATA_PROFILE_COLUMN, W_DATA_TIME):  # old columns
        st.session_state.pop(key, None)


def set_frame(data: Dataset, frame: pd.DataFrame, schema_, note: str) -> None:
    """Replace the current table's rows by ``frame`` (a column added in this session), with
    ``schema_``; a new token, so that nothing computed on the old rows is reused."""
    notes = (*data.notes, note)
    st.session_state[DATASET] = Dataset(data.name, frame, data.source, notes)
    set_schema(schema_)
    st.session_state.pop(PREDICTIONS, None)
    st.session_state.pop(EVALUATION, None)


def set_schema(schema_) -> None:
    st.session_state[SCHEMA] = schema_
    st.session_state[SCHEMA_VERSION] = st.session_state.get(SCHEMA_VERSION, 0) + 1


def set_active_model(active: Bundle) -> None:
    """Make ``active`` the model of every page; the threshold resets to the model's own."""
    st.session_state[ACTIVE_MODEL] = active
    st.session_state[THRESHOLD] = clamp_threshold(active.metadata.get("threshold") or 0.5)
    st.session_state.pop(PREDICTIONS, None)


# The threshold slider's range and step: wide and fine enough for a near-separable outcome,
# whose Youden threshold can be 0.9922 or 0.004.
THRESHOLD_RANGE = (0.001, 0.999)
THRESHOLD_STEP = 0.001


def clamp_threshold(value: Any) -> float:
    """``value`` on the threshold slider's grid and inside its range (0.5 if not a number)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.5
    if number != number:  # NaN
        number = 0.5
    low, high = THRESHOLD_RANGE
    return round(min(max(number, low), high), 3)


def threshold() -> float:
    """The shared decision threshold: the user's choice, else the model's own, on the grid."""
    active = active_model()
    default = active.metadata.get("threshold") or 0.5 if active else 0.5
    return clamp_threshold(st.session_state.get(THRESHOLD, default))


def flash(message: str) -> None:
    """Keep a success message to show on the next run (after ``st.rerun``)."""
    st.session_state[FLASH] = message


def show_flash() -> None:
    message = st.session_state.pop(FLASH, None)
    if message:
        st.success(message)


# -- Explain page (medinn_app/explaining.py) --
EXPLANATIONS = "medinn.explanations"  # {(model, fingerprint, space, class): (Explanation, s)}
EXPLAIN_SAMPLE = "medinn.explain_sample"  # Dataset: new_patients.csv, read for this page
EXPLAIN_REQUEST = "medinn.explain_request"  # (source, position) asked for by Predict
FINGERPRINTS = "medinn.fingerprints"  # {Dataset token: data fingerprint}
W_EXPLAIN_SOURCE = "explain.source"
W_EXPLAIN_SPACE = "explain.space"
W_EXPLAIN_CLASS = "explain.class"
W_EXPLAIN_FEATURE = "explain.dependence_feature"
W_EXPLAIN_COLOUR = "explain.dependence_colour"
W_EXPLAIN_PATIENT = "explain.patient"
W_EXPLAIN_TAB = "explain.tab"  # the open tab, by its label
W_EXPLAIN_WHATIF_PICK = (
    "explain.whatif_pick"  # suffixed with the table's token and patient position
)
W_EXPLAIN_WHATIF_FORM = "explain.whatif_form"
W_EXPLAIN_WHATIF_FIELD = "explain.whatif_field"  # suffixed with table token, position and column
W_EXPLAIN_WHATIF_SUBMIT = "explain.whatif_submit"
W_EXPLAIN_COHORT_MODE = "explain.cohort_mode"
W_EXPLAIN_COHORT_COLUMN = "explain.cohort_column"
W_EXPLAIN_COHORT_A = "explain.cohort_a"  # suffixed with the column
W_EXPLAIN_COHORT_B = "explain.cohort_b"  # suffixed with the column
W_EXPLAIN_SIGNAL = "explain.signal"  # the signal of the saliency view
W_PREDICT_EXPLAIN = "predict.explain"  # Predict's "Explain this patient" button

# -- Evaluate page: threshold presets and a clinic's prevalence --
W_EVAL_TARGET_SENS = "evaluate.target_sensitivity"
W_EVAL_PRESET = "evaluate.preset"
W_EVAL_APPLY_PRESET = "evaluate.apply_preset"
W_EVAL_PREVALENCE = "evaluate.prevalence"

# -- Evaluate page: decision curve, subgroups, baselines and the model report --
W_EVAL_DC_RANGE = "evaluate.decision_curve_range"
W_EVAL_SUBGROUP = "evaluate.subgroup_column"
W_EVAL_INTENDED_USE = "evaluate.report_intended_use"
W_EVAL_LIMITATIONS = "evaluate.report_limitations"
W_EVAL_REPORT_BUILD = "evaluate.report_build"
W_EVAL_REPORT = "evaluate.report_download"
GRADIENT_BOOSTING = "medinn.gradient_boosting"  # (cache key, estimator fitted on train split)
HELD_OUT = "medinn.held_out"  # (cache key, HeldOut of the model on its training table, or None)
REPORT = "medinn.report"  # (cache key, HTML bytes) of the last model report built

# -- Models page: the model report --
W_MODELS_REPORT_SOURCE = "models.report_source"
W_MODELS_INTENDED_USE = "models.report_intended_use"
W_MODELS_LIMITATIONS = "models.report_limitations"
W_MODELS_REPORT_BUILD = "models.report_build"
W_MODELS_REPORT = "models.report_download"

# -- access control and the audit log (medinn_app/auth.py, medinn_app/audit.py) --
AUTH_OK = "medinn.auth_ok"  # True once this session gave the right password
AUTH_LIMITER = "medinn.auth_limiter"  # AttemptLimiter of this session's failed passwords
AUDIT_SESSION = "medinn.audit_session"  # random token that groups this session's audit lines
W_AUTH_FORM = "auth.form"
W_AUTH_PASSWORD = "auth.password"
W_AUTH_SUBMIT = "auth.submit"
W_AUTH_LOGIN = "auth.login"  # suffixed with the identity provider's name
W_AUTH_LOGOUT = "auth.logout"
