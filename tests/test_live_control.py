"""The live view's Pause and Resume buttons and learning-rate box, outside a kernel (the
widgets exist and update; nothing is sent), and the paused state it shows."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from recording import make_job

import nnlab
from nnlab.live.widgets import LiveView, watch
from nnlab.observers import Observer

TIMEOUT = 60.0


class PauseClick(Observer):
    """Clicks Pause once in the middle of ``epoch``; notes when the run has paused."""

    def __init__(self, view: LiveView, epoch: int) -> None:
        self.view, self.epoch = view, epoch
        self.clicked = False
        self.paused = threading.Event()

    def on_batch_end(self, job: Any, epoch: int, batch: int, n_batches: int) -> None:
        if epoch == self.epoch and not self.clicked and 0 < batch < n_batches - 1:
            self.clicked = True
            self.view.pause_button.click()

    def on_pause(self, job: Any) -> None:
        self.paused.set()


def _until(predicate: Any) -> None:
    """Wait for what a polling view shows (it reads the job every 20 ms)."""
    waiter = threading.Event()
    for _ in range(int(TIMEOUT / 0.02)):
        if predicate():
            return
        waiter.wait(0.02)
    raise AssertionError("the view never showed it")


def _weights(net: nnlab.Network) -> list[np.ndarray]:
    return [p.copy() for p in (*net.weights, *net.biases)]


def test_pause_resume_and_a_new_rate_from_the_view(digits: nnlab.Dataset) -> None:
    view = LiveView(display=False, stable=True)
    clicker = PauseClick(view, epoch=2)
    net = nnlab.Network([64, 30, 10], seed=0)
    job = make_job(net, digits, observers=[view, clicker], epochs=3, seed=0).start()
    try:
        assert view.rate.value == 3.0
        assert clicker.paused.wait(TIMEOUT)
        assert job.status == "paused"
        # the distinct paused state: grey bars, a status line saying where, Resume enabled
        status = view.state.status_text(timings=False)
        assert status.startswith("Paused · epoch 2/3 at mini-batch ")
        assert status.endswith(f"/{job.n_batches} · Resume goes on from there")
        assert (view.epoch_bar.bar_style, view.batch_bar.bar_style) == ("", "")
        assert "Paused · epoch 2/3" in view.header.value
        assert view.pause_button.disabled
        assert not view.resume_button.disabled
        assert not view.stop_button.disabled
        assert view.batch_bar.value == job.batches_done
        assert repr(view).endswith("· paused>")

        view.rate.value = -1.0  # refused: the box says why and shows the rate in force
        assert "learning_rate must be a positive finite number" in view.rate_note.value
        assert view.rate.value == 3.0
        assert job.learning_rate == 3.0
        view.rate.value = 0.5
        assert job.learning_rate == 0.5  # paused: in force at once
        assert view.rate_note.value == ""

        view.resume_button.click()
        assert job.wait(TIMEOUT)
        assert view.wait(TIMEOUT)
    finally:
        job.cancel()
        job.wait(TIMEOUT)
    assert job.status == "completed"
    assert [r.learning_rate for r in job.history] == [3.0, 0.5, 0.5]
    assert view.state.status_text(timings=False).startswith("Completed · 3/3 epochs")
    assert view.epoch_bar.bar_style == "success"
    assert view.pause_button.disabled
    assert view.resume_button.disabled
    assert view.rate.disabled


def test_pause_and_resume_from_the_view_leave_the_weights_of_a_run_never_paused(
    digits: nnlab.Dataset,
) -> None:
    plain = nnlab.Network([64, 30, 10], seed=0)
    make_job(plain, digits, epochs=2, seed=0).run()
    view = LiveView(display=False)
    clicker = PauseClick(view, epoch=1)
    net = nnlab.Network([64, 30, 10], seed=0)
    job = make_job(net, digits, observers=[view, clicker], epochs=2, seed=0).start()
    try:
        assert clicker.paused.wait(TIMEOUT)
        view.pause_button.click()  # a second click (as the kernel delivers it again) changes nothing
        view.resume_button.click()
        view.resume_button.click()
        assert job.wait(TIMEOUT)
        assert view.wait(TIMEOUT)
    finally:
        job.cancel()
        job.wait(TIMEOUT)
    assert job.status == "completed"
    assert all(np.array_equal(a, b) for a, b in zip(_weights(net), _weights(plain)))


def test_stop_while_paused_ends_the_run(digits: nnlab.Dataset) -> None:
    view = LiveView(display=False, stable=True)
    clicker = PauseClick(view, epoch=2)
    job = make_job(nnlab.Network([64, 30, 10], seed=0), digits, observers=[view, clicker], epochs=3, seed=0)
    job.start()
    try:
        assert clicker.paused.wait(TIMEOUT)
        view.stop_button.click()
        assert job.wait(TIMEOUT)
        assert view.wait(TIMEOUT)
    finally:
        job.cancel()
        job.wait(TIMEOUT)
    assert (job.status, job.stop_reason) == ("cancelled", "cancelled")
    assert view.state.status_text(timings=False) == "Cancelled at epoch 2/3 · 1 finished epoch kept"
    assert view.epoch_bar.bar_style == "warning"
    assert view.resume_button.disabled


def test_watch_shows_a_run_paused_from_elsewhere(digits: nnlab.Dataset) -> None:
    paused = threading.Event()

    class Paused(Observer):
        def on_pause(self, job: Any) -> None:
            paused.set()

    job = make_job(nnlab.Network([64, 30, 10], seed=0), digits, observers=[Paused()], epochs=50, seed=0)
    job.pause()  # a queued job starts paused
    job.start()
    view = watch(job, display=False, stable=True, interval=0.02)
    try:
        assert paused.wait(TIMEOUT)
        _until(lambda: view.state.status == "paused" and not view.resume_button.disabled)
        assert view.state.status_text(timings=False).startswith("Paused · epoch 1/50 at mini-batch 0/")
        assert view.pause_button.disabled
        view.resume_button.click()
        _until(lambda: view.state.status != "paused")
        assert view.state.status in ("running", "completed")
        # the buttons follow at the view's next refresh
        _until(lambda: not view.pause_button.disabled or view.state.done)
    finally:
        job.cancel()
        job.wait(TIMEOUT)
        view.wait(TIMEOUT)
    assert view.done


def test_the_paused_clock_stands_still() -> None:
    from nnlab.live.state import LiveState

    state = LiveState(total_epochs=10, n_batches=100)
    state.run_started(now=0.0)
    state.epoch_started(1, now=0.0)
    state.batch(50, 100, now=5.0)
    state.paused(now=5.0)
    assert state.epoch_bar(100.0).elapsed == pytest.approx(5.0)
    assert state.batch_bar(100.0).elapsed == pytest.approx(5.0)
    state.resumed(now=100.0)
    # 95 s paused are left out: one more second of training is 6 s of run
    assert state.epoch_bar(101.0).elapsed == pytest.approx(6.0)
    assert state.style == "info"
    state.paused(now=101.0)
    assert state.style == ""
    state.run_ended("cancelled", now=500.0)
    assert state.epoch_bar(600.0).elapsed == pytest.approx(6.0)
