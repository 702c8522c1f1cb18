"""Two-way control of a run: pause, resume, a new learning rate, cancel.

Other threads (a button, a REST request, a Socket.IO event) only leave requests in a
:class:`Control`; the training thread acts on them between two mini-batches. The engine
(:class:`~nnlab._sgd.MiniBatchSGD`) checks one ``threading.Event`` before every
mini-batch, so every request sets that same event: an epoch nobody interrupts costs
exactly what it did before control existed.

An interrupted epoch goes on with :func:`rest_of_epoch`, which does the mini-batches
still due in the epoch's own shuffled order. Mini-batches are consecutive slices of that
order, so with an unchanged learning rate the weights come out bit for bit as if the
epoch had never stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nnlab._sgd import MiniBatchSGD
from nnlab._types import Array

__all__ = ["CTRL_C_LATENCY", "Control", "JobStateError", "Requests", "rest_of_epoch"]

#: Longest a paused run takes to notice Ctrl-C (see :meth:`Control.wait_while_paused`).
CTRL_C_LATENCY = 0.1


class JobStateError(RuntimeError):
    """The job's state does not allow what was asked (e.g. pausing a run that has ended);
    ``status`` is the job's status then."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Requests:
    """What the training thread found waiting at a check (see :meth:`Control.take`)."""

    cancel: bool
    pause: bool
    learning_rate: float | None


class Control:
    """Requests to one run, left by any thread and taken by the training thread.

    ``interrupt`` is the event the engine checks before every mini-batch; every request
    sets it. All state lives behind one condition, which also wakes a paused run.
    """

    def __init__(self) -> None:
        self.cond = threading.Condition()  # re-entrant: the job checks its state under it too
        self.interrupt = threading.Event()
        self.cancelled = False
        self.pause_requested = False
        self.learning_rate: float | None = None  # a new rate the run has not taken yet

    # ------------------------------------------------------------ any thread
    def cancel(self) -> None:
        """Ask the run to stop (also wakes a paused run)."""
        with self.cond:
            self.cancelled = True
            self.interrupt.set()
            self.cond.notify_all()

    def pause(self) -> None:
        """Ask the run to pause at its next mini-batch."""
        with self.cond:
            self.pause_requested = True
            self.interrupt.set()

    def resume(self) -> None:
        """Withdraw a pause (wakes a paused run)."""
        with self.cond:
            self.pause_requested = False
            self.cond.notify_all()

    def set_learning_rate(self, value: float) -> None:
        """Ask the run to use ``value`` from its next mini-batch on."""
        with self.cond:
            self.learning_rate = value
            self.interrupt.set()
            self.cond.notify_all()

    # ------------------------------------------------------------ the training thread
    def take(self) -> Requests:
        """The requests waiting now; clears the interrupt and the pending learning rate
        (call with ``cond`` held)."""
        self.interrupt.clear()
        rate, self.learning_rate = self.learning_rate, None
        return Requests(self.cancelled, self.pause_requested, rate)

    def wait_while_paused(self) -> None:
        """Block until the pause is withdrawn or the run is cancelled (call with ``cond``
        held); a request wakes it at once.

        It also wakes every ``CTRL_C_LATENCY`` seconds: a SIGINT that lands after the
        thread's last check for signals and before it blocks (the sender may run exactly
        when the wait gives up the GIL) does not interrupt the wait itself, and waking is
        what lets Ctrl-C (``KeyboardInterrupt``) through then.
        """
        while self.pause_requested and not self.cancelled:
            self.cond.wait(CTRL_C_LATENCY)


def rest_of_epoch(
    engine: MiniBatchSGD,
    order: Array,
    first: int,
    learning_rate: float,
    lmbda: float,
    stop: threading.Event,
    report: Callable[[int], None] | None,
    report_interval: float,
) -> int:
    """Do mini-batches ``first, first + 1, ...`` of the epoch that ``order`` shuffles,
    exactly as ``engine.epoch(order, ...)`` does them; returns how many of the epoch's
    ``engine.n_batches`` mini-batches are done when it returns (all of them unless
    ``stop`` was set, which ends it before the next mini-batch, as in the engine).

    ``engine.epoch`` always starts at the first mini-batch of the order it is given and
    does its short last mini-batch (``n % m`` rows) last, with the weight decay of all
    ``n`` rows. So the full mini-batches still due go first in a reordered permutation,
    and the engine is stopped right after them; the short one, if due, is done by an
    engine over the same rows with that mini-batch size, stopped after its first. The
    engine's state (momentum velocities, the dropout generator) carries on through both,
    in the order an uninterrupted epoch uses it.
    """
    if first == 0:
        return engine.epoch(order, learning_rate, lmbda, stop, report, report_interval)
    m, n = engine.m, engine.n
    n_full = n // m
    done = first
    progress = _Progress(report, report_interval)
    if done < n_full:
        start = done * m
        reordered = np.concatenate((order[start : n_full * m], order[:start], order[n_full * m :]))
        done += _limited(engine, reordered, n_full - done, learning_rate, lmbda, stop, progress, done)
    if done == n_full and done < engine.n_batches and not stop.is_set():
        done += _short_last(engine, order, learning_rate, lmbda, stop, progress)
    if done == engine.n_batches and report is not None:
        report(done)
    # The engine's running cost and accuracy would describe only the mini-batches of its
    # last call: say there are none, so the epoch is measured with a full pass instead.
    engine.running_cost = engine.running_accuracy = None
    return done


def _short_last(
    engine: MiniBatchSGD,
    order: Array,
    learning_rate: float,
    lmbda: float,
    stop: threading.Event,
    progress: _Progress,
) -> int:
    """The epoch's short last mini-batch, by an engine over the same rows whose first
    mini-batch it is. It shares the engine's dropout generator and, for that one
    mini-batch, its momentum velocities, so it goes on exactly where the engine was."""
    n_full = engine.n // engine.m
    tail = MiniBatchSGD(
        engine.net,
        engine.X,
        engine.Y,
        engine.n - n_full * engine.m,
        regularization=engine.regularization,
        momentum=engine.momentum,
        dropout=engine.dropout,
        rng=engine.rng,
    )
    velocities = (*engine.velocity_w, *engine.velocity_b)
    for mine, current in zip((*tail.velocity_w, *tail.velocity_b), velocities):
        np.copyto(mine, current)
    reordered = np.concatenate((order[n_full * engine.m :], order[: n_full * engine.m]))
    done = _limited(tail, reordered, 1, learning_rate, lmbda, stop, progress, n_full)
    for current, mine in zip(velocities, (*tail.velocity_w, *tail.velocity_b)):
        np.copyto(current, mine)
    return done


class _Progress:
    """The caller's ``report``, at most every ``interval`` seconds, counting from ``offset``."""

    def __init__(self, report: Callable[[int], None] | None, interval: float) -> None:
        self.report, self.interval, self.next = report, interval, 0.0

    def __call__(self, done: int) -> None:
        if self.report is not None:
            now = time.perf_counter()
            if now >= self.next:
                self.report(done)
                self.next = now + self.interval


def _limited(
    engine: MiniBatchSGD,
    order: Array,
    limit: int,
    learning_rate: float,
    lmbda: float,
    stop: threading.Event,
    progress: _Progress,
    offset: int,
) -> int:
    """The first ``limit`` mini-batches of ``engine.epoch(order, ...)`` (fewer if ``stop``
    is set); ``limit`` is below the engine's ``n_batches``."""
    if stop.is_set():
        return 0
    enough = threading.Event()

    def after(k: int) -> None:  # called after every mini-batch (interval 0)
        progress(offset + k)
        if k >= limit or stop.is_set():
            enough.set()

    return engine.epoch(order, learning_rate, lmbda, enough, after, 0.0)
