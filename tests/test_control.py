"""Two-way control of a run from the library: pause, resume, a new learning rate, cancel.

The weights are compared bit for bit with runs nobody paused; the learning-rate change is
checked against an independent per-mini-batch reference (``Network.backprop``).
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import numpy as np
import pytest
from recording import RecordingObserver, make_job

import nnlab
from nnlab._control import rest_of_epoch
from nnlab._sgd import MiniBatchSGD, dropout_generator
from nnlab.events import STATUSES, TrainingStatus
from nnlab.network import one_hot
from nnlab.observers import Observer

TIMEOUT = 60.0


def _parameters(net: nnlab.Network) -> list[np.ndarray]:
    return [p.copy() for p in (*net.weights, *net.biases)]


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def _trained(data: nnlab.Dataset, observers: Any = (), **params: Any) -> tuple[Any, list[np.ndarray]]:
    net = nnlab.Network([64, 30, 10], seed=0)
    job = make_job(net, data, observers=observers, **{"epochs": 3, "seed": 0, **params})
    job.run()
    return job, _parameters(net)


class Recorder(RecordingObserver):
    """Records the pause hooks too."""

    def on_pause(self, job: Any) -> None:
        self.calls.append(("on_pause",))
        self.statuses.append(job.status)

    def on_resume(self, job: Any) -> None:
        self.calls.append(("on_resume",))
        self.statuses.append(job.status)


class PauseMidEpoch(Observer):
    """Pauses the run once, in the middle of ``epoch``; records what it saw while paused."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.asked = False
        self.paused = threading.Event()
        self.resumed = threading.Event()
        self.at_pause: dict[str, Any] = {}
        self.epoch_ends: dict[int, float] = {}

    def on_batch_end(self, job: Any, epoch: int, batch: int, n_batches: int) -> None:
        if epoch == self.epoch and not self.asked and 0 < batch < n_batches - 1:
            self.asked = True
            job.pause()

    def on_pause(self, job: Any) -> None:
        self.at_pause = {"status": job.status, "batches_done": job.batches_done, "epoch": job.current_epoch}
        self.paused.set()

    def on_resume(self, job: Any) -> None:
        self.resumed.set()

    def on_epoch_end(self, job: Any, record: Any) -> None:
        self.epoch_ends[record.epoch] = time.perf_counter()


# ------------------------------------------------------------------ the engine's part
OPTIONS = {
    "plain": {},
    "momentum and dropout": {"momentum": 0.5, "dropout": 0.3},
    "L1": {"regularization": "l1"},
}


def _engine(
    net: nnlab.Network, X: np.ndarray, Y: np.ndarray, m: int, options: dict[str, Any]
) -> MiniBatchSGD:
    return MiniBatchSGD(net, X, Y, m, rng=dropout_generator(0), **options)


@pytest.mark.parametrize("mini_batch_size", [10, 7, 13])
@pytest.mark.parametrize("lmbda", [0.0, 5.0])
@pytest.mark.parametrize("options", list(OPTIONS))
def test_the_rest_of_an_epoch_is_bit_for_bit_the_uninterrupted_epoch(
    digits: nnlab.Dataset, mini_batch_size: int, lmbda: float, options: str
) -> None:
    X, y = digits.train
    Y = one_hot(y, 10, np.float64)
    order = np.random.default_rng(3).permutation(X.shape[0])
    whole = nnlab.Network([64, 20, 10], seed=0)
    engine = _engine(whole, X, Y, mini_batch_size, OPTIONS[options])
    n_batches, n_full = engine.n_batches, X.shape[0] // mini_batch_size
    assert engine.epoch(order, 0.5, lmbda) == n_batches
    assert engine.epoch(order[::-1].copy(), 0.5, lmbda) == n_batches  # a second epoch: velocities carry on
    expected = _parameters(whole)
    # stopped after `first` mini-batches (as a pause does), then the rest: every case of
    # the short last mini-batch (1300 rows: none for 10 and 13, 5 rows for 7)
    for first in sorted({1, n_batches // 2, n_full - 1, n_full, n_batches - 1}):
        net = nnlab.Network([64, 20, 10], seed=0)
        engine = _engine(net, X, Y, mini_batch_size, OPTIONS[options])
        assert engine.epoch(order, 0.5, lmbda) == n_batches
        order_2 = order[::-1].copy()
        stop = threading.Event()

        def stop_after(done: int, first: int = first, stop: threading.Event = stop) -> None:
            if done == first:
                stop.set()

        assert engine.epoch(order_2, 0.5, lmbda, stop, stop_after, 0.0) == first
        stop.clear()
        reports: list[int] = []
        done = rest_of_epoch(engine, order_2, first, 0.5, lmbda, stop, reports.append, 0.0)
        assert done == n_batches
        assert reports == [*range(first + 1, n_batches + 1), n_batches]
        assert _same(_parameters(net), expected), f"mini_batch_size {mini_batch_size}, first {first}"


def test_the_rest_of_an_epoch_stops_again_when_asked(digits: nnlab.Dataset) -> None:
    X, y = digits.train
    net = nnlab.Network([64, 20, 10], seed=0)
    engine = MiniBatchSGD(net, X, one_hot(y, 10, np.float64), 7)
    order = np.random.default_rng(0).permutation(X.shape[0])
    stop = threading.Event()

    def stop_at_50(done: int) -> None:
        if done == 50:
            stop.set()

    assert rest_of_epoch(engine, order, 20, 0.5, 0.0, stop, stop_at_50, 0.0) == 50
    assert rest_of_epoch(engine, order, 50, 0.5, 0.0, stop, None, 0.0) == 50  # still set: nothing done


# ------------------------------------------------------------------ pause and resume
def test_pause_and_resume_with_momentum_and_dropout_change_nothing(digits: nnlab.Dataset) -> None:
    options = {"momentum": 0.5, "dropout": 0.2, "mini_batch_size": 7, "lmbda": 1.0}
    _, expected = _trained(digits, **options)
    pauser = PauseMidEpoch(epoch=2)
    net = nnlab.Network([64, 30, 10], seed=0)
    job = make_job(net, digits, observers=[pauser], epochs=3, seed=0, **options).start()
    try:
        assert pauser.paused.wait(TIMEOUT)
        job.resume()
        assert job.wait(TIMEOUT)
    finally:
        job.cancel()
        job.wait(TIMEOUT)
    assert job.status == "completed"
    assert _same(_parameters(net), expected)


def test_pause_and_resume_mid_epoch_give_the_weights_of_a_run_never_paused(digits: nnlab.Dataset) -> None:
    _, expected = _trained(digits)
    pauser, recorder = PauseMidEpoch(epoch=2), Recorder()
    net = nnlab.Network([64, 30, 10], seed=0)
    job = make_job(net, digits, observers=[pauser, recorder], epochs=3, seed=0).start()
    try:
        assert pauser.paused.wait(TIMEOUT)
        assert job.status == "paused"
        assert pauser.at_pause["status"] == "paused"
        assert pauser.at_pause["epoch"] == 2
        assert 0 < pauser.at_pause["batches_done"] < job.n_batches
        frozen, batches = _parameters(net), job.batches_done
        held = time.perf_counter()
        time.sleep(0.3)  # a pause long next to the run's own time
        assert _same(_parameters(net), frozen)  # nothing trains while paused
        assert job.batches_done == batches
        assert job.status_record().to_dict()["status"] == "paused"
        assert job.to_dict()["status"] == "paused"
        job.pause()  # pausing a paused run does nothing
        held = time.perf_counter() - held  # the job was paused at least this long
        job.resume()
        assert job.wait(TIMEOUT)
    finally:
        job.cancel()
        job.wait(TIMEOUT)
    assert job.status == "completed"
    assert _same(_parameters(net), expected)
    hooks = [h for h in recorder.hooks() if h in ("on_epoch_end", "on_pause", "on_resume", "on_run_end")]
    assert hooks == ["on_epoch_end", "on_pause", "on_resume", "on_epoch_end", "on_epoch_end", "on_run_end"]
    # the time paused is counted, and left out of the run's and the epoch's elapsed time
    assert job.paused_time >= held
    assert job.to_dict()["paused_time"] == job.paused_time
    epoch_2 = job.history[1].elapsed_time
    assert epoch_2 <= pauser.epoch_ends[2] - pauser.epoch_ends[1] - held


def test_a_queued_job_paused_before_it_runs_starts_paused(digits: nnlab.Dataset) -> None:
    _, expected = _trained(digits, epochs=2)
    pauser = PauseMidEpoch(epoch=0)  # never pauses itself: only records
    net = nnlab.Network([64, 30, 10], seed=0)
    job = make_job(net, digits, observers=[pauser], epochs=2, seed=0)
    job.pause()
    assert job.status == "queued"
    job.start()
    try:
        assert pauser.paused.wait(TIMEOUT)
        assert pauser.at_pause == {"status": "paused", "batches_done": 0, "epoch": 1}
        job.resume()
        assert job.wait(TIMEOUT)
    finally:
        job.cancel()
        job.wait(TIMEOUT)
    assert job.status == "completed"
    assert _same(_parameters(net), expected)


def test_resume_before_the_pause_is_reached_withdraws_it(digits: nnlab.Dataset) -> None:
    recorder = Recorder()
    job = make_job(nnlab.Network([64, 30, 10], seed=0), digits, observers=[recorder], epochs=1, seed=0)
    job.pause()
    job.resume()
    job.resume()  # resuming a job that is not paused does nothing
    job.run()
    assert job.status == "completed"
    assert "on_pause" not in recorder.hooks()
    assert job.paused_time == 0.0


def test_cancel_while_paused_ends_the_run_and_restores_the_last_epoch(digits: nnlab.Dataset) -> None:
    pauser = PauseMidEpoch(epoch=2)
    kept: list[list[np.ndarray]] = []

    class Keep(Observer):
        def on_epoch_end(self, job: Any, record: Any) -> None:
            kept.append(_parameters(job.network))

    net = nnlab.Network([64, 30, 10], seed=0)
    job = make_job(net, digits, observers=[pauser, Keep()], epochs=3, seed=0).start()
    try:
        assert pauser.paused.wait(TIMEOUT)
        job.cancel()
        assert job.wait(TIMEOUT)
    finally:
        job.cancel()
        job.wait(TIMEOUT)
    assert (job.status, job.stop_reason) == ("cancelled", "cancelled")
    assert not pauser.resumed.is_set()
    assert len(job.history) == 1
    assert _same(_parameters(net), kept[0])
    assert job.elapsed_time is not None
    assert job.paused_time > 0


def test_ctrl_c_while_paused_ends_the_run(digits: nnlab.Dataset) -> None:
    """The run pauses in the main thread; SIGINT arrives there as in a kernel's Ctrl-C."""
    pauser = PauseMidEpoch(epoch=2)
    main = threading.get_ident()

    def interrupt_when_paused() -> None:
        if pauser.paused.wait(TIMEOUT):
            signal.pthread_kill(main, signal.SIGINT)

    sender = threading.Thread(target=interrupt_when_paused)
    job = make_job(nnlab.Network([64, 30, 10], seed=0), digits, observers=[pauser], epochs=3, seed=0)
    sender.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            job.run()
    finally:
        pauser.paused.set()
        sender.join(TIMEOUT)
    assert (job.status, job.stop_reason) == ("cancelled", "interrupted")
    assert job.done
    assert job.wait(0)
    assert len(job.history) == 1
    assert nnlab.last_job() is job


# ------------------------------------------------------------------ the learning rate
def _reference_epoch(
    net: nnlab.Network, X: np.ndarray, Y: np.ndarray, order: np.ndarray, m: int, rates: list[float]
) -> None:
    """The book's update_mini_batch, one mini-batch at a time, ``rates[k]`` for the k-th."""
    for k, start in enumerate(range(0, X.shape[0], m)):
        idx = order[start : start + m]
        nabla_b, nabla_w = net.backprop(X[idx], Y[idx])
        eta = rates[k]
        for w, nw in zip(net.weights, nabla_w):
            w -= eta / len(idx) * nw
        for b, nb in zip(net.biases, nabla_b):
            b -= eta / len(idx) * nb


def test_a_new_learning_rate_takes_effect_at_the_next_mini_batch(digits: nnlab.Dataset) -> None:
    changed_after: list[int] = []

    class Change(Observer):
        def on_batch_end(self, job: Any, epoch: int, batch: int, n_batches: int) -> None:
            if epoch == 2 and not changed_after and 0 < batch < n_batches - 1:
                changed_after.append(batch)
                job.set_learning_rate(0.25)
                assert job.learning_rate == 3.0  # not before the next mini-batch

    net = nnlab.Network([64, 30, 10], seed=0)
    job = make_job(net, digits, observers=[Change()], epochs=3, seed=0, mini_batch_size=7)
    job.run()
    assert job.status == "completed"
    assert [r.learning_rate for r in job.history] == [3.0, 0.25, 0.25]
    assert [r["learning_rate"] for r in job.to_dict()["history"]] == [3.0, 0.25, 0.25]
    assert job.learning_rate == 0.25
    assert job.to_dict()["learning_rate"] == 0.25
    assert job.params.learning_rate == 3.0  # the parameters asked for stay as they were

    X, y = digits.train
    Y = one_hot(y, 10, np.float64)
    reference = nnlab.Network([64, 30, 10], seed=0)
    rng = np.random.default_rng(0)
    n_batches = job.n_batches
    (k,) = changed_after
    for rates in ([3.0] * n_batches, [3.0] * k + [0.25] * (n_batches - k), [0.25] * n_batches):
        _reference_epoch(reference, X, Y, rng.permutation(X.shape[0]), 7, rates)
    for got, want in zip(_parameters(net), _parameters(reference)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_a_learning_rate_set_while_paused_or_queued_is_in_force_at_once(digits: nnlab.Dataset) -> None:
    pauser = PauseMidEpoch(epoch=1)
    job = make_job(nnlab.Network([64, 30, 10], seed=0), digits, observers=[pauser], epochs=2, seed=0)
    job.set_learning_rate(1.5)
    assert job.learning_rate == 1.5
    job.start()
    try:
        assert pauser.paused.wait(TIMEOUT)
        job.set_learning_rate(np.float32(0.5))
        assert job.learning_rate == 0.5
        job.resume()
        assert job.wait(TIMEOUT)
    finally:
        job.cancel()
        job.wait(TIMEOUT)
    assert [r.learning_rate for r in job.history] == [0.5, 0.5]


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize("bad", [-1.0, 0, float("nan"), float("inf"), "0.5", True, None])
def test_a_bad_learning_rate_names_the_field(digits: nnlab.Dataset, bad: Any) -> None:
    job = make_job(nnlab.Network([64, 30, 10], seed=0), digits, epochs=1, seed=0)
    with pytest.raises(nnlab.ParameterError, match="learning_rate must be a positive finite number") as info:
        job.set_learning_rate(bad)
    assert info.value.field == "learning_rate"
    assert job.learning_rate == 3.0


def test_a_finished_run_cannot_be_paused_resumed_or_given_a_learning_rate(digits: nnlab.Dataset) -> None:
    job, _ = _trained(digits, epochs=1)
    for action in (job.pause, job.resume, lambda: job.set_learning_rate(0.5)):
        ended = r"has already ended \(completed\).*nnlab\.train"
        with pytest.raises(nnlab.JobStateError, match=ended) as info:
            action()
        assert info.value.status == "completed"
    assert job.status == "completed"


def test_paused_is_a_wire_status() -> None:
    assert "paused" in STATUSES
    record = TrainingStatus("j", "n", "paused", 1, 3).to_dict()
    assert record["status"] == "paused"
    with pytest.raises(ValueError, match="status must be one of"):
        TrainingStatus("j", "n", "sleeping", 1, 3)  # type: ignore[arg-type]


def test_an_uninterrupted_run_never_waits_on_control(digits: nnlab.Dataset) -> None:
    """Nobody pauses: no pause, no resume, no time paused, the same weights as ever."""
    recorder = Recorder()
    job, weights = _trained(digits, observers=[recorder])
    _, same = _trained(digits)
    assert _same(weights, same)
    assert "on_pause" not in recorder.hooks()
    assert "on_resume" not in recorder.hooks()
    assert job.paused_time == 0.0


def test_a_resumed_epoch_measures_its_training_cost_with_a_full_pass(digits: nnlab.Dataset) -> None:
    """The running cost would cover only the mini-batches after the pause."""
    pauser = PauseMidEpoch(epoch=2)
    net = nnlab.Network([64, 30, 10], seed=0)
    job = make_job(net, digits, observers=[pauser], epochs=2, seed=0).start()
    try:
        assert pauser.paused.wait(TIMEOUT)
        job.resume()
        assert job.wait(TIMEOUT)
    finally:
        job.cancel()
        job.wait(TIMEOUT)
    X, y = digits.train
    _, cost = net.score(X, y)
    assert job.history[1].training_cost == cost
    plain, _ = _trained(digits, epochs=2)
    assert plain.history[1].training_cost != cost  # a run never paused reports the running cost
