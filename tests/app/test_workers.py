"""The training pool: its queue, its worker processes, and what comes back from them."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import threading

import pytest

from medinn_app import workers
from medinn_core.config import TrainConfig
from medinn_core.errors import DataError, ModelError
from medinn_core.schema import infer_schema
from medinn_core.synthetic import make_cardiology_cohort
from medinn_core.train import headline_metrics, held_out

TINY = TrainConfig(hidden_units=(8,), epochs=2, patience=2, seed=0)
ENDLESS = TrainConfig(hidden_units=(8,), epochs=2000, patience=2000, seed=0)


@pytest.fixture(scope="module")
def cohort():
    frame = make_cardiology_cohort(300, seed=5)
    return frame, infer_schema(frame, "mace_1y")


@pytest.fixture(scope="module")
def one_shot_pool():
    """One slot, and every worker replaced after a single training."""
    pool = workers.TrainingPool(slots=1, tasks_per_worker=1)
    yield pool
    pool.close()


def train(pool, frame, schema, config=TINY, on_epoch=None, stop=None):
    pids: list[int] = []
    result = pool.train(
        pool.enqueue(),
        frame,
        schema,
        config,
        on_epoch=on_epoch or (lambda logs: None),
        stop=stop or threading.Event(),
        on_start=pids.append,
    )
    return result, pids[0] if pids else None


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_max_trainings_reads_the_environment(monkeypatch):
    monkeypatch.setenv(workers.MAX_TRAININGS_ENV, "3")
    assert workers.max_trainings() == 3
    for bad in ("0", "two", ""):
        monkeypatch.setenv(workers.MAX_TRAININGS_ENV, bad)
        assert workers.max_trainings() == (os.cpu_count() or 1)


def test_the_queue_is_first_come_first_served_and_can_be_left(cohort):
    pool = workers.TrainingPool(slots=1)
    first, second, third = pool.enqueue(), pool.enqueue(), pool.enqueue()
    assert [pool.position(t) for t in (first, second, third)] == [1, 2, 3]
    cancelled = threading.Event()
    cancelled.set()
    # Not at the head of the queue and cancelled: leaves it without starting a worker.
    assert pool.train(second, *cohort, TINY, on_epoch=print, stop=cancelled) is None
    assert [pool.position(t) for t in (first, second, third)] == [1, 0, 2]
    pool.discard(first)
    assert pool.position(third) == 1
    assert pool.running == 0


@pytest.mark.slow
def test_a_worker_is_replaced_after_its_trainings(one_shot_pool, cohort):
    epochs: list[dict[str, float]] = []
    first, first_pid = train(one_shot_pool, *cohort, on_epoch=epochs.append)
    second, second_pid = train(one_shot_pool, *cohort)
    assert first_pid != second_pid and os.getpid() not in (first_pid, second_pid)
    assert gone(first_pid)  # its TensorFlow memory went back with it
    assert len(epochs) == len(first.history["loss"]) == 2
    assert set(epochs[0]) >= {"loss", "val_loss"}
    # The network came back through a bundle and the metrics through the pipe: they agree.
    held = held_out(first.model, cohort[0])  # out of fold, rebuilt from the saved members
    again = headline_metrics("binary", first.model.encode_target(held.rows), held.output)
    assert again == pytest.approx(first.metrics, abs=1e-5)
    assert first.background.shape[1] == len(first.model.preprocessor_.feature_names_)
    assert second.model is not first.model
    assert one_shot_pool.running == 0


@pytest.mark.slow
def test_a_schema_whose_module_was_reloaded_still_trains(one_shot_pool, cohort, monkeypatch):
    """Streamlit re-imports an app module whose file changed; objects made before then have
    a class that pickle no longer finds in sys.modules. The request must not depend on it."""
    spec = importlib.util.find_spec("medinn_core.schema")
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    monkeypatch.setitem(sys.modules, "medinn_core.schema", fresh)
    result, _ = train(one_shot_pool, *cohort)
    assert len(result.history["loss"]) == 2


@pytest.mark.slow
def test_a_users_error_in_the_worker_comes_back_with_its_message(one_shot_pool, cohort):
    frame, schema = cohort
    with pytest.raises(DataError, match="'mace_1y'"):
        train(one_shot_pool, frame.assign(mace_1y=0), schema)


@pytest.mark.slow
def test_a_bug_in_the_worker_comes_back_with_its_traceback(one_shot_pool, cohort):
    class Broken:  # settings that TrainConfig cannot even read: a TypeError, not a user error
        def to_dict(self):
            return {"hidden_units": None}

    with pytest.raises(workers.WorkerBug, match="TypeError"):
        train(one_shot_pool, *cohort, config=Broken())
    assert one_shot_pool.running == 0


@pytest.mark.slow
def test_a_killed_worker_ends_the_training_with_a_message(one_shot_pool, cohort):
    pids: list[int] = []

    def kill_it(logs):
        os.kill(pids[0], signal.SIGKILL)

    with pytest.raises(
        ModelError, match=r"stopped unexpectedly after \d+ epoch\(s\) \(killed by SIGKILL\)"
    ):
        one_shot_pool.train(
            one_shot_pool.enqueue(),
            *cohort,
            ENDLESS,
            on_epoch=kill_it,
            stop=threading.Event(),
            on_start=pids.append,
        )
    assert one_shot_pool.running == 0
    result, pid = train(one_shot_pool, *cohort)  # the pool carries on with a fresh worker
    assert pid != pids[0] and result.model.best_epoch_ >= 1


@pytest.mark.slow
def test_stop_crosses_to_the_worker(one_shot_pool, cohort):
    stop = threading.Event()
    epochs: list[dict[str, float]] = []

    def count(logs):
        epochs.append(logs)
        if len(epochs) == 2:
            stop.set()

    result, _ = train(one_shot_pool, *cohort, config=ENDLESS, on_epoch=count, stop=stop)
    assert result.model.stopped_by_user_
    assert 2 <= len(result.history["loss"]) < 100  # not the 2,000 asked for


def test_an_unsaved_run_of_a_closed_session_leaves_the_queue_or_stops(cohort, monkeypatch):
    from medinn_app import training

    monkeypatch.setattr(training, "ABANDON_SECONDS", 0.5)
    monkeypatch.setattr(training, "POLL_SECONDS", 0.1)
    frame, schema = cohort
    pool = workers.TrainingPool(slots=1)
    open_tabs = {"first": True, "second": False}  # the second session is closed already
    jobs = {
        name: training.TrainingJob(
            config=config,
            target="mace_1y",
            pool=pool,
            session_alive=lambda name=name: open_tabs[name],
        )
        for name, config in (("first", ENDLESS), ("second", TINY))
    }
    try:
        jobs["first"].launch(frame, schema)
        while jobs["first"].worker_pid is None:  # the first run holds the only slot
            jobs["first"].thread.join(0.1)
        jobs["second"].launch(frame, schema)
        jobs["second"].thread.join(30)
        assert jobs["second"].done and jobs["second"].error == training.CANCELLED
        assert jobs["second"].worker_pid is None  # it never trained
        for _ in range(300):  # an open session's run goes on
            if jobs["first"].epochs:
                break
            jobs["first"].thread.join(0.1)
        assert jobs["first"].epochs and not jobs["first"].done
        open_tabs["first"] = False
        jobs["first"].thread.join(60)
        assert jobs["first"].done and len(jobs["first"].epochs) < ENDLESS.epochs
    finally:
        for job in jobs.values():
            job.stop.set()
        pool.close()
