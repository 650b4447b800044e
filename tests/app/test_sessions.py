"""Many users at once: sessions are isolated, training does not stop the others, and trainings
beyond the server's limit wait in a visible queue.

Each ``AppTest`` is one browser session; sessions share the process, its model registry and its
training pool, exactly as in the server.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from medinn_app import loaders, state, training, workers

from ..conftest import ROOT
from .helpers import (
    goto,
    load_sample,
    new_app,
    table_with,
    texts,
    the_explanation,
    wait_for_training,
)

pytestmark = pytest.mark.slow
SECRET = "SECRET-"  # in the patient ids of session A's upload, and nowhere else
UPLOAD_NAME = "a_private_upload.csv"
# Keys that hold a session's patients or what was computed from them.
PATIENT_KEYS = (
    state.DATASET,
    state.SCHEMA,
    state.PREDICT_DATA,
    state.PREDICTIONS,
    state.EXPLANATIONS,
    state.EXPLAIN_SAMPLE,
    state.EVALUATION,
    state.ACTIVE_MODEL,
    state.TRAIN_JOB,
    state.TRAIN_RESULT,
)


@pytest.fixture(scope="module", autouse=True)
def sample_registry(navigation_only, medinn_home):
    """A registry (``medinn_home``) whose sample model was trained (in a worker) by a first
    session."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(loaders, "SAMPLE_SETTINGS", {"hidden_units": (8,), "epochs": 2, "seed": 0})
        first = new_app()
        first.button(key=state.W_HOME_SAMPLE).click().run()
        job = first.session_state[state.TRAIN_JOB]
        wait_for_training(first)
        assert job.error is None and job.worker_pid not in (None, os.getpid())
        assert first.session_state[state.ACTIVE_MODEL].name == loaders.SAMPLE_MODEL
        yield


def with_sample(at: AppTest | None = None) -> AppTest:
    """A session that loaded the sample data and the (saved) sample model on Home."""
    at = at or new_app()
    at.button(key=state.W_HOME_SAMPLE).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Sample data and model loaded" in s for s in texts(at.success))
    return at


def rendered(at: AppTest) -> bytes:
    """Every element the session drew, serialised (tables included, as Arrow bytes)."""
    out: list[bytes] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(proto.SerializeToString())
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.main)
    walk(at.sidebar)
    return b"".join(out)


def private_upload() -> bytes:
    frame = pd.read_csv(ROOT / "sample_data" / "new_patients.csv")
    frame["patient_id"] = [f"{SECRET}{i:04d}" for i in range(len(frame))]
    return frame.to_csv(index=False).encode()


def check_predictions(at: AppTest, frame: pd.DataFrame) -> None:
    """The Predict table's risks are the active model's, patient by patient."""
    model = at.session_state[state.ACTIVE_MODEL].model
    table = table_with(at, "risk (%)")
    expected = pd.Series(model.predict_proba(frame)[:, 1] * 100, index=frame["patient_id"])
    shown = table.set_index("patient")["risk (%)"]
    assert len(shown) == len(frame)
    assert shown.to_numpy() == pytest.approx(expected.loc[shown.index].to_numpy(), abs=1e-4)


def check_explanation(at: AppTest, frame: pd.DataFrame) -> None:
    """SHAP values plus the base value give the model's output, for every patient."""
    model = at.session_state[state.ACTIVE_MODEL].model
    expl = the_explanation(at)
    assert len(expl.contributions) == len(frame)
    total = expl.base_value + expl.contributions.to_numpy().sum(axis=1)
    assert total == pytest.approx(expl.output, abs=1e-5)
    assert expl.output == pytest.approx(model.predict_proba(frame)[:, 1], abs=1e-5)


# -- isolation ----------------------------------------------------------------------------------
def test_one_sessions_upload_predictions_and_explanations_stay_in_it():
    a = with_sample()
    b = new_app()  # opened while A works

    goto(a, "predict")
    a.radio(key=state.W_PREDICT_SOURCE).set_value("upload").run()
    a.file_uploader(key=state.W_PREDICT_UPLOAD).set_value(
        (UPLOAD_NAME, private_upload(), "text/csv")
    )
    a.run()
    assert not a.exception, [e.value for e in a.exception]
    uploaded = a.session_state[state.PREDICT_DATA].frame
    check_predictions(a, uploaded)
    goto(a, "explain")
    a.radio(key=state.W_EXPLAIN_SOURCE).set_value("upload").run()
    assert not a.exception, [e.value for e in a.exception]
    check_explanation(a, uploaded)
    assert SECRET.encode() in rendered(a)  # the check below can see what A drew

    for page in ("home", "data", "predict", "explain", "evaluate", "train"):
        goto(b, page)
        assert SECRET.encode() not in rendered(b), page
        assert UPLOAD_NAME.encode() not in rendered(b), page
    assert [k for k in PATIENT_KEYS if k in b.session_state] == []
    sidebar = " ".join(texts(b.sidebar.markdown) + texts(b.sidebar.caption))
    assert "None loaded yet" in sidebar and "None trained or loaded yet" in sidebar

    # B's own data set stays B's: A still has the sample and its upload.
    load_sample(b, "breast_cancer.csv")
    a.run()
    assert a.session_state[state.DATASET].name == loaders.SAMPLE_DATASET
    assert a.session_state[state.PREDICT_DATA].name == UPLOAD_NAME
    assert b.session_state[state.DATASET].name == "breast_cancer.csv"
    assert b"breast_cancer.csv" not in rendered(a)


# -- training beside predicting and explaining --------------------------------------------------
def start_training(at: AppTest, epochs: int, patience: int | None = None) -> training.TrainingJob:
    goto(at, "train")
    at.number_input(key=state.W_TRAIN_EPOCHS).set_value(epochs)
    at.number_input(key=state.W_TRAIN_PATIENCE).set_value(patience or epochs)
    at.form_submit_button(key=state.W_TRAIN_SUBMIT).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at.session_state[state.TRAIN_JOB]


def wait_until(condition, seconds: float = 300, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_one_session_trains_while_another_predicts_and_explains():
    trainer = load_sample(new_app(), "cardiology.csv")
    job = start_training(trainer, epochs=2000)
    wait_until(lambda: len(job.epochs) >= 1 or job.done, what="the first epoch")
    assert not job.done, job.error

    other = with_sample()
    epochs_before = len(job.epochs)
    goto(other, "predict")
    check_predictions(other, other.session_state[state.DATASET].frame)
    trainer.run()  # the trainer's page redraws its progress meanwhile
    assert "of 2000" in trainer.get("progress")[0].proto.text
    goto(other, "explain")
    check_explanation(other, other.session_state[state.DATASET].frame)
    assert any("Method: DeepLIFT" in c for c in texts(other.caption))
    # The training ran on, in its own process, while the other session worked.
    assert not job.done
    wait_until(lambda: len(job.epochs) > epochs_before, seconds=60, what="another epoch")
    assert job.worker_pid is not None and job.worker_pid != os.getpid()

    trainer.button(key=state.W_TRAIN_STOP).click().run()
    wait_for_training(trainer)
    assert job.error is None, job.error
    result = trainer.session_state[state.TRAIN_RESULT]
    assert result.model.stopped_by_user_ and 0.5 < result.metrics["auroc"] <= 1
    assert trainer.session_state[state.ACTIVE_MODEL].name == training.UNSAVED_NAME
    assert other.session_state[state.ACTIVE_MODEL].name == loaders.SAMPLE_MODEL
    assert state.TRAIN_JOB not in other.session_state


# -- the limit on trainings at once -------------------------------------------------------------
@pytest.fixture
def one_slot(monkeypatch):
    """A fresh server-wide pool with MEDINN_MAX_TRAININGS=1."""
    monkeypatch.setenv(workers.MAX_TRAININGS_ENV, "1")
    monkeypatch.setattr(workers, "_POOL", None)
    yield
    if workers._POOL is not None:
        workers._POOL.close()


def test_trainings_beyond_the_limit_wait_in_order_with_their_place_shown(one_slot):
    first, second, third = (load_sample(new_app(), "breast_cancer.csv") for _ in range(3))
    running = start_training(first, epochs=2000)
    wait_until(lambda: running.worker_pid is not None or running.done, what="the first start")
    waiting = start_training(second, epochs=3)
    assert waiting.queue_position == 1
    assert "Waiting for a free training slot: position 1 in the queue." in texts(second.info)
    assert not second.get("progress")
    cancelled = start_training(third, epochs=3)
    assert cancelled.queue_position == 2
    assert any("position 2 in the queue" in i for i in texts(third.info))

    third.button(key=state.W_TRAIN_STOP).click().run()  # "Cancel this training"
    wait_for_training(third)
    assert cancelled.error == training.CANCELLED and cancelled.worker_pid is None
    assert any(training.CANCELLED in e for e in texts(third.error))
    assert waiting.queue_position == 1 and not waiting.done
    assert running.queue_position == 0 and not running.done

    first.run()
    first.button(key=state.W_TRAIN_STOP).click().run()
    wait_for_training(first)
    wait_for_training(second)
    assert running.error is None and waiting.error is None, (running.error, waiting.error)
    assert len(second.session_state[state.TRAIN_RESULT].history["loss"]) == 3
    # One at a time, and in one kept-alive worker (TensorFlow imported once).
    assert waiting.worker_pid == running.worker_pid
    assert np.isfinite(first.session_state[state.TRAIN_RESULT].metrics["auroc"])
