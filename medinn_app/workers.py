"""Training in worker processes, a few at a time, in the order asked.

The server never fits a network itself. Each training runs in a worker process: a fresh
Python interpreter (``python -c``, the equivalent of multiprocessing's "spawn"; forking a
process that has loaded TensorFlow is unsafe). multiprocessing's own "spawn" and
"forkserver" are not used because they run the parent's ``__main__`` again in the child, and
in a Streamlit server ``__main__`` is whichever page script ran last. A worker brings three
things:

* TensorFlow keeps memory for every model built in a process. A worker is replaced after
  :data:`TASKS_PER_WORKER` trainings, and its memory goes back to the system with it.
* shap patches TensorFlow's gradient recording process-wide while it explains, and
  ``medinn_core.explain.TF_GRAPH_LOCK`` only guards one process: a training elsewhere cannot
  collide with an explanation in the server.
* The server's threads, which answer every session, are not starved of the GIL.

:class:`TrainingPool` is process-wide: at most ``MEDINN_MAX_TRAININGS`` trainings run at once
(default: one per CPU core) across all sessions; the others wait in first-come order and can
read their place in the queue. Workers stay alive between trainings, so TensorFlow's import
(about 6 s) is paid once per worker, not once per training.

Each worker talks to the server over its own pipe: the request (the patient rows travel in
memory, never through a file), one message per epoch, a stop request the other way, and the
outcome. The network comes back as a bundle in a temporary folder that the server creates,
loads and deletes at once (a bundle holds no patient rows: its background is k-means
centroids); the rest of the ``TrainingResult`` is pickled through the pipe.

This module does not import Streamlit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medinn_core.errors import MedinnError, ModelError

if TYPE_CHECKING:  # only annotations: Home, which imports this module, draws without pandas
    import pandas as pd

log = logging.getLogger(__name__)

MAX_TRAININGS_ENV = "MEDINN_MAX_TRAININGS"
# Trainings per worker before it is replaced (bounds what TensorFlow keeps per built model).
TASKS_PER_WORKER = 4
READY_SECONDS = 300.0  # a new worker imports TensorFlow before it takes a request
POLL_SECONDS = 0.25
BUNDLE = "bundle"
ROOT = Path(__file__).resolve().parents[1]


def max_trainings() -> int:
    """``$MEDINN_MAX_TRAININGS``, else the number of CPU cores (a bad value is logged)."""
    default = os.cpu_count() or 1
    text = os.environ.get(MAX_TRAININGS_ENV, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        log.warning("%s=%r is not a whole number >= 1; using %d.", MAX_TRAININGS_ENV, text, default)
        return default
    return value


class WorkerBug(RuntimeError):
    """An unexpected exception in a worker (a bug); the message is the worker's traceback."""


def _request(frame: pd.DataFrame, schema: Any, config: Any, folder: str) -> dict[str, Any]:
    """One training's request, in plain types (and a DataFrame) only.

    Streamlit re-imports a module of the app whose file has changed, and pickle refuses an
    object whose class is no longer the one in ``sys.modules``; a schema and settings sent as
    JSON-ready data are immune to that.
    """
    return {
        "frame": frame,
        "schema": schema.to_json(),
        "config": config.to_dict(),
        "folder": folder,  # where the worker writes the bundle (a temporary folder)
        "environment": {k: v for k, v in os.environ.items() if k.startswith("MEDINN_")},
    }


# -- the worker process ---------------------------------------------------------------------------
def _adopt_environment(environment: dict[str, str]) -> None:
    for key in [k for k in os.environ if k.startswith("MEDINN_") and k not in environment]:
        del os.environ[key]
    os.environ.update(environment)


def _train(conn: Connection, job_id: int, request: dict[str, Any]) -> tuple:
    """One training in the worker; the reply to send (result, user error or bug)."""
    from medinn_core.config import TrainConfig
    from medinn_core.io import save_bundle
    from medinn_core.schema import Schema
    from medinn_core.train import train_model

    stopped = False

    def on_epoch(epoch: int, logs: dict[str, float]) -> bool:
        nonlocal stopped
        conn.send(("epoch", job_id, {key: float(value) for key, value in logs.items()}))
        while conn.poll():
            stopped = stopped or conn.recv()[:2] == ("stop", job_id)
        return not stopped

    _adopt_environment(request["environment"])
    try:
        schema = Schema.from_json(request["schema"])
        config = TrainConfig.from_dict(request["config"])
        result = train_model(request["frame"], schema, config, on_epoch=on_epoch)
        save_bundle(result, Path(request["folder"]) / BUNDLE, "training")
    except MedinnError as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except (pickle.PicklingError, TypeError, AttributeError):  # keep the message at least
            exc = MedinnError(str(exc))
        return ("error", job_id, exc)
    except Exception:  # reported to the server, which logs it as a bug
        return ("bug", job_id, traceback.format_exc())
    return ("result", job_id, dataclasses.replace(result, model=None))


def serve(conn: Connection, tasks: int) -> None:
    """The worker's main loop: answer up to ``tasks`` training requests, then exit.

    It exits earlier when the server closes the pipe or asks it to.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the server, which ends us
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(
        format=f"%(asctime)s medinn-worker[{os.getpid()}] %(levelname)s %(name)s: %(message)s"
    )
    import keras  # noqa: F401 - TensorFlow's import, before the first request rather than in it

    import medinn_core.train  # noqa: F401

    try:
        conn.send(("ready", os.getpid()))
        served = 0
        while served < tasks:
            message = conn.recv()
            if message[0] == "exit":
                break
            if message[0] != "train":
                continue  # a stop request that arrived after its training ended
            _, job_id, request = message
            reply = _train(conn, job_id, request)
            try:
                conn.send(reply)
            except (pickle.PicklingError, TypeError, AttributeError):  # it would not pickle
                conn.send(("bug", job_id, traceback.format_exc()))
            served += 1
    except (EOFError, OSError):
        pass  # the server has gone
    finally:
        conn.close()


def main(argv: list[str]) -> None:
    """Entry point of a worker process: ``argv`` is the pipe's file descriptor and the number
    of trainings to serve."""
    serve(Connection(int(argv[0])), int(argv[1]))


# -- the server's side ----------------------------------------------------------------------------
class _Worker:
    """A worker process and the server's end of its pipe (a socket pair, as
    ``multiprocessing.Pipe`` makes)."""

    def __init__(self, tasks: int):
        here, there = socket.socketpair()
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        environment = {**os.environ, "PYTHONPATH": path}
        environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        launch = "import sys; from medinn_app.workers import main; main(sys.argv[1:])"
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", launch, str(there.fileno()), str(tasks)],
                pass_fds=(there.fileno(),),
                env=environment,
                stdin=subprocess.DEVNULL,
            )
        finally:
            there.close()  # the worker holds its own copy; its death then reads as end-of-file
        self.conn = Connection(here.detach())
        self.tasks_left = tasks
        self.ready = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, timeout: float) -> None:
        if self.ready:
            return
        if not self.conn.poll(timeout):
            raise ModelError(
                f"The training process did not start within {timeout:.0f} s (the server is "
                "overloaded). Try again in a few minutes."
            )
        try:
            self.conn.recv()
        except EOFError:
            raise ModelError(
                f"The training process could not start ({self.how_it_ended()}). The details "
                "are in the server log."
            ) from None
        self.ready = True

    def how_it_ended(self) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "it stopped answering"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"

    def retire(self) -> None:
        if self.ready:
            with contextlib.suppress(OSError):  # it may have exited already
                self.conn.send(("exit",))
        elif self.alive():
            self.process.terminate()  # still importing TensorFlow: nothing to lose
        self.conn.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Ticket:
    """A place in the pool's queue."""


class TrainingPool:
    """At most ``slots`` trainings at once, each in a worker process; the rest wait in order.

    Parameters
    ----------
    slots : how many trainings run at once (and how many workers are kept).
    tasks_per_worker : trainings after which a worker is replaced by a fresh one.
    """

    def __init__(self, slots: int, tasks_per_worker: int = TASKS_PER_WORKER):
        if slots < 1 or tasks_per_worker < 1:
            raise ValueError(f"bad pool settings: {slots=}, {tasks_per_worker=}")
        self.slots = slots
        self.tasks_per_worker = tasks_per_worker
        self._cond = threading.Condition()
        self._queue: deque[Ticket] = deque()
        self._running = 0
        self._idle: list[_Worker] = []
        self._ids = itertools.count(1)
        self._closed = False

    # -- the queue --
    def enqueue(self) -> Ticket:
        """Take a place at the end of the queue."""
        ticket = Ticket()
        with self._cond:
            self._queue.append(ticket)
        return ticket

    def position(self, ticket: Ticket) -> int:
        """1 for the next to start, 2 for the one after...; 0 once it left the queue."""
        with self._cond:
            try:
                return self._queue.index(ticket) + 1
            except ValueError:
                return 0

    def discard(self, ticket: Ticket) -> None:
        """Leave the queue (nothing happens if the ticket has left it already)."""
        with self._cond:
            if ticket in self._queue:
                self._queue.remove(ticket)
                self._cond.notify_all()

    @property
    def running(self) -> int:
        with self._cond:
            return self._running

    def _wait_for_slot(self, ticket: Ticket, cancel: threading.Event) -> bool:
        with self._cond:
            if ticket not in self._queue:
                self._queue.append(ticket)
            while self._queue[0] is not ticket or self._running >= self.slots:
                if cancel.is_set():
                    self._queue.remove(ticket)
                    self._cond.notify_all()
                    return False
                self._cond.wait(POLL_SECONDS)
            self._queue.popleft()
            self._running += 1
            self._cond.notify_all()
            return True

    # -- the workers --
    def _take_worker(self) -> _Worker:
        dead = []
        with self._cond:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    break
                dead.append(worker)
            else:
                worker = None
        for gone in dead:
            gone.retire()
        if worker is None:
            worker = _Worker(self.tasks_per_worker)
        try:
            worker.wait_ready(READY_SECONDS)
        except BaseException:
            worker.retire()
            raise
        return worker

    def _release(self, worker: _Worker | None, reusable: bool) -> None:
        with self._cond:
            self._running -= 1
            keep = worker is not None and reusable and worker.alive() and not self._closed
            if keep:
                self._idle.append(worker)
            self._cond.notify_all()
        if worker is None or keep:
            return
        worker.retire()
        if self._closed:
            return
        try:  # a fresh worker imports TensorFlow now, so the next training need not wait
            spare = _Worker(self.tasks_per_worker)
        except OSError:
            log.exception("Could not start a spare training worker; the next training will")
            return
        with self._cond:
            self._idle.append(spare)

    def close(self) -> None:
        """End the idle workers, and every other one once its training has finished."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.retire()

    # -- one training --
    def train(
        self,
        ticket: Ticket,
        frame: pd.DataFrame,
        schema: Any,
        config: Any,
        *,
        on_epoch: Callable[[dict[str, float]], None],
        stop: threading.Event,
        on_start: Callable[[int], None] | None = None,
    ):
        """Wait for a slot, train in a worker, and return the ``TrainingResult``.

        ``on_epoch`` gets each epoch's losses; setting ``stop`` ends the training after the
        current epoch (keeping the best weights so far), or leaves the queue if it has not
        started, in which case None is returned. ``on_start`` gets the worker's process id.

        Raises
        ------
        medinn_core.errors.MedinnError
            The worker's own (bad data, bad settings), or a ModelError if the worker died.
        WorkerBug
            Any other exception in the worker, with its traceback as the message.
        """
        from medinn_core.io import load_bundle

        if not self._wait_for_slot(ticket, stop):
            return None
        worker, reusable = None, False
        with tempfile.TemporaryDirectory(prefix="medinn-training-") as folder:
            try:
                worker = self._take_worker()
                if on_start is not None:
                    on_start(worker.pid)
                request = _request(frame, schema, config, folder)
                kind, payload = self._exchange(worker, request, on_epoch, stop)
                worker.tasks_left -= 1
                reusable = worker.tasks_left > 0
            finally:
                self._release(worker, reusable)
            if kind == "error":
                raise payload
            if kind == "bug":
                raise WorkerBug(payload)
            return dataclasses.replace(payload, model=load_bundle(Path(folder) / BUNDLE).model)

    def _exchange(
        self,
        worker: _Worker,
        request: dict[str, Any],
        on_epoch: Callable[[dict[str, float]], None],
        stop: threading.Event,
    ) -> tuple[str, Any]:
        job_id = next(self._ids)
        epochs, forwarded = 0, False
        try:
            worker.conn.send(("train", job_id, request))
            while True:
                if stop.is_set() and not forwarded:
                    worker.conn.send(("stop", job_id))
                    forwarded = True
                # A dead worker's end of the pipe closes: recv() then raises EOFError.
                if not wait([worker.conn], timeout=POLL_SECONDS):
                    continue
                kind, ident, payload = worker.conn.recv()
                if ident != job_id:
                    continue
                if kind == "epoch":
                    epochs += 1
                    on_epoch(payload)
                    continue
                return kind, payload
        except (EOFError, OSError):
            how = worker.how_it_ended()
            log.error("Training worker %d ended during a training (%s)", worker.pid, how)
            raise ModelError(
                f"The training process stopped unexpectedly after {epochs} epoch(s) ({how}); "
                "nothing was kept. This happens when the server runs out of memory or the "
                "process is ended by someone; try again, perhaps with fewer rows or a smaller "
                "network."
            ) from None


_POOL: TrainingPool | None = None
_POOL_LOCK = threading.Lock()


def pool() -> TrainingPool:
    """The server's one pool, shared by every session (sessions are threads of one process),
    created on first use with :func:`max_trainings` slots."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = TrainingPool(max_trainings())
        return _POOL
