"""Training jobs: each session's runs, trained in worker processes, watched from the pages.

:func:`start` puts a run in the server's queue (:mod:`medinn_app.workers`: at most
``MEDINN_MAX_TRAININGS`` trainings at once, in worker processes) and returns a
:class:`TrainingJob` at once. A thread of the server follows the run: it waits for a free slot,
hands the rows to a worker, records each epoch's losses on the job and passes the page's Stop
request on. That thread never calls Streamlit. Pages poll the job with :func:`progress_panel`
(an ``st.fragment`` that reruns every second and shows the place in the queue while the run
waits) and, once the run has ended, :func:`collect` (called by ``app.py`` on every run) turns
the result into the active model. Navigating to another page does not interrupt the training;
closing the browser stops a run that would not be saved (nobody could collect it), a minute
later, and takes it out of the queue if it has not started.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from medinn_app import state, ui, workers
from medinn_core.errors import MedinnError

if TYPE_CHECKING:  # only annotations: Home, which imports this module, draws without pandas
    import pandas as pd

log = logging.getLogger(__name__)

UNSAVED_NAME = "unsaved model"
POLL_SECONDS = 1.5
# A session away this long has closed (a browser that loses its connection for a moment comes
# back sooner); an unsaved run of a closed session is stopped, or leaves the queue.
ABANDON_SECONDS = 60.0
CANCELLED = "Training was cancelled before it started; nothing was trained."
# Two sessions must not train and save the same named model (the sample) at once.
_SAVE_LOCK = threading.Lock()


@dataclass(eq=False)
class TrainingJob:
    """One training run: its settings, place in the queue, progress so far, and outcome.

    With ``save_as``, the run saves the model in the registry under that name, unless a
    model of that name is there already, in which case nothing is trained and that one is used.
    """

    config: Any  # medinn_core.config.TrainConfig
    target: str
    save_as: str | None = None
    note: str = ""
    stop: threading.Event = field(default_factory=threading.Event)
    epochs: list[dict[str, float]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    result: Any = None  # medinn_core.train.TrainingResult
    saved_path: Path | None = None
    error: str | None = None
    collected: bool = False
    thread: threading.Thread | None = None
    worker_pid: int | None = None  # the process training this run, once it has one
    pool: workers.TrainingPool | None = None
    ticket: workers.Ticket | None = None
    session_alive: Callable[[], bool] | None = None  # None where unknown: never abandoned

    @property
    def done(self) -> bool:
        return self.finished is not None

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def queue_position(self) -> int:
        """0 while the run trains (or has ended); n while it is n-th in line for a slot."""
        if self.done or self.pool is None or self.ticket is None:
            return 0
        return self.pool.position(self.ticket)

    def history(self) -> dict[str, list[float]]:
        """The losses so far in the layout of ``TrainingResult.history``."""
        out: dict[str, list[float]] = {}
        for logs in list(self.epochs):  # a copy: the thread may append meanwhile
            for key, value in logs.items():
                out.setdefault(key, []).append(value)
        return out

    def launch(self, frame: pd.DataFrame, schema) -> None:
        """Follow the run in a thread, on a copy of ``frame``. A run without ``save_as`` takes
        its place in the queue now (so the page can show it) and is watched: nobody could
        collect it once its session has closed."""
        if self.save_as is None:
            self.ticket = self.pool.enqueue()
        self.thread = threading.Thread(
            target=self._run, args=(frame.copy(), schema), name="medinn-train", daemon=True
        )
        self.thread.start()
        if self.save_as is None and self.session_alive is not None:
            threading.Thread(target=self._watch_session, name="medinn-watch", daemon=True).start()

    def _watch_session(self) -> None:
        away_since = None
        while not self.done and not self.stop.is_set():
            if self.session_alive():
                away_since = None
            elif away_since is None:
                away_since = time.monotonic()
            if away_since is not None and time.monotonic() - away_since >= ABANDON_SECONDS:
                log.info("Stopping an unsaved training: its session closed")
                self.stop.set()
                return
            time.sleep(POLL_SECONDS)

    def _started(self, pid: int) -> None:
        self.worker_pid = pid

    def _train(self, frame: pd.DataFrame, schema) -> None:
        if self.ticket is None:
            self.ticket = self.pool.enqueue()
        self.result = self.pool.train(
            self.ticket,
            frame,
            schema,
            self.config,
            on_epoch=self.epochs.append,
            stop=self.stop,
            on_start=self._started,
        )
        if self.result is None:
            self.error = CANCELLED

    def _run(self, frame: pd.DataFrame, schema) -> None:
        try:
            if self.save_as is None:
                self._train(frame, schema)
            else:
                from medinn_app import loaders

                with _SAVE_LOCK:
                    registry = loaders.registry()
                    if self.save_as not in registry.names():
                        self._train(frame, schema)
                        if self.result is None:
                            return
                        registry.save(self.result, self.save_as, self.note)
                    self.saved_path = registry.path(self.save_as)
        except MedinnError as exc:
            self.error = str(exc)
        except workers.WorkerBug as exc:
            log.error("Training failed with an unexpected error in its worker process:\n%s", exc)
        finally:
            # Any other exception still ends the job; the thread's excepthook logs it.
            if self.ticket is not None:
                self.pool.discard(self.ticket)  # never leave a dead run in the queue
            self.finished = time.monotonic()


def start(
    frame: pd.DataFrame, schema, config, *, save_as: str | None = None, note: str = ""
) -> TrainingJob:
    """Queue training on a copy of ``frame``; returns the job at once.

    A run without ``save_as`` takes its place in the queue now, so the page can show it.
    """
    job = TrainingJob(
        config=config,
        target=schema.target,
        save_as=save_as,
        note=note,
        pool=workers.pool(),
        session_alive=_session_alive(),
    )
    job.launch(frame, schema)
    return job


def _session_alive() -> Callable[[], bool] | None:
    """Whether this browser session is still connected, asked from any thread; None outside a
    server (AppTest), where sessions do not close."""
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not runtime.exists():
        return None
    server, session_id = runtime.get_instance(), ctx.session_id
    return lambda: server.is_active_session(session_id)


def running() -> TrainingJob | None:
    """The session's training job while it runs, else None."""
    job: TrainingJob | None = st.session_state.get(state.TRAIN_JOB)
    return job if job is not None and not job.done else None


def collect() -> None:
    """Once the session's training job has ended, make its model the active one (once)."""
    from medinn_app import loaders

    job: TrainingJob | None = st.session_state.get(state.TRAIN_JOB)
    if job is None or not job.done or job.collected:
        return
    job.collected = True
    if job.result is not None:
        st.session_state[state.TRAIN_RESULT] = job.result
        st.session_state.pop(state.TRAIN_SAVED, None)
    if job.saved_path is not None:
        try:
            state.set_active_model(loaders.load_model(job.saved_path))
        except MedinnError as exc:
            job.error = str(exc)
            return
        if job.result is not None:
            st.session_state[state.TRAIN_SAVED] = job.saved_path.name
            _audit_finish(job)
        state.flash(ui.plain(f"'{job.save_as}' is loaded and is now the current model."))
        return
    if job.result is None:
        return
    from medinn_core.io import bundle_from_result

    state.set_active_model(bundle_from_result(job.result, UNSAVED_NAME))
    _audit_finish(job)


def _audit_finish(job: TrainingJob) -> None:
    # In the script thread (not the worker's), so the line carries this session's user.
    from medinn_app import audit

    audit.record_from_callback(
        "train_finish",
        active=state.active_model(),
        n_patients=sum(job.result.split.sizes().values()),
    )


def failure(job: TrainingJob | None) -> str | None:
    """What to tell the user when the job ended without a model, else None."""
    if job is None or not job.done or job.result is not None or job.saved_path is not None:
        return None
    return job.error or (
        "Training stopped because of an unexpected error (a bug); the details are in the "
        "server log."
    )


@st.fragment(run_every=POLL_SECONDS)
def progress_panel(job: TrainingJob) -> None:
    """The place in the queue, or epoch n of N, elapsed time and the loss curves so far, and
    (unless the model is saved under a fixed name) a Stop button; redrawn every second."""
    if job.done:
        st.rerun()  # the whole app: the sidebar and the page show the new model
    position = job.queue_position
    if position:
        st.info(
            f"Waiting for a free training slot: position {position} in the queue.",
            icon=":material/hourglass_top:",
        )
        slots = job.pool.slots if job.pool is not None else 1
        st.caption(
            f"This server trains at most {slots} model(s) at once, for all its users; yours "
            f"starts when the ones before it have finished ({job.elapsed:.0f} s waited). "
            "You can open other pages meanwhile."
        )
        _stop_button(job, "Cancel this training", ":material/cancel:")
        return
    from medinn_core.figures import history_figure

    done, total = len(job.epochs), job.config.epochs
    st.progress(
        min(done / total, 1.0),
        text=f"Epoch {done} of {total} · {job.elapsed:.0f} s elapsed"
        + (" · stopping after this epoch" if job.stop.is_set() else ""),
    )
    if done:
        last = job.epochs[-1]
        st.caption(" · ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in last.items()))
        st.plotly_chart(ui.plain_figure(history_figure(job.history())), key="train.live_chart")
    elif job.worker_pid is None:
        st.caption("Starting a training process…")
    else:
        st.caption("Preparing the data and building the network…")
    st.caption(
        "Each network of the ensemble stops by itself when its own validation loss has not "
        f"improved for {job.config.patience} epochs; the baselines are then fitted on the "
        "same folds or split. "
        "You can open other pages meanwhile."
    )
    if _stop_button(job, "Stop and keep the best model so far", ":material/stop_circle:"):
        st.caption("Stopping after this epoch; the best weights so far are kept.")


def _stop_button(job: TrainingJob, label: str, icon: str) -> bool:
    """Stop (or take out of the queue) a run that would not be saved; whether it was pressed."""
    if job.save_as is None and st.button(
        label, key=state.W_TRAIN_STOP, icon=icon, disabled=job.stop.is_set()
    ):
        job.stop.set()
        return True
    return False


def parse_layers(text: str) -> tuple[int, ...]:
    """Hidden layer sizes from text such as "64,32" or "64 32".

    Raises
    ------
    medinn_core.errors.ConfigError
        If a part is not a whole number.
    """
    from medinn_core.errors import ConfigError

    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        raise ConfigError(
            f"Layers must be whole numbers of units separated by commas, e.g. '64,32'; got {text!r}."
        ) from None
