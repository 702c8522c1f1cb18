"""When to look at the outbox: just before an epoch's update is due, rarely otherwise.

The training thread never wakes the server (any wake-up is a system call that can cost it
the GIL or its CPU for milliseconds). Instead a pacer thread looks at the outbox on its
own schedule and, when something waits, schedules the drain on the server's loop.

The schedule follows each running job's epochs, which have two phases: training (the
mini-batches; the training thread holds the GIL nearly all the time, so a look there
costs it a GIL switch) and measuring (costs and accuracy over whole splits: long numpy
calls that release the GIL, so a look there is nearly free), at whose end the update is
handed over. The pacer remembers how long each phase took in the job's last epoch and
halves its pauses toward the predicted end of the current phase, down to ``TRAIN_MIN``
while training and ``FAST`` while measuring; when a phase runs late it backs off again.
An epoch so costs a dozen or two looks, and an update usually waits well under a
millisecond before the server's loop is told.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

__all__ = ["ACTIVE_MAX", "FAST", "IDLE", "TRAIN_MIN", "Pacer", "Pacing"]

logger = logging.getLogger("nnlab.server")

#: Shortest pause while a job measures (its update is imminent).
FAST = 0.0002
#: Shortest pause while a job trains.
TRAIN_MIN = 0.001
#: Longest pause while a job runs.
ACTIVE_MAX = 0.025
#: Pause while nothing trains (a new run's first event waits at most this long).
IDLE = 0.025


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def _toward(due: float | None, since: float, now: float, low: float) -> float:
    """Halve the time left to ``due``; back off when late; grow slowly when ``due`` is unknown."""
    if due is None:
        return _clamp((now - since) / 8, low, ACTIVE_MAX)
    left = due - now
    return _clamp(left / 2 if left > 0 else -left / 4, low, ACTIVE_MAX)


@dataclass
class _Pace:
    epochs_done: int
    last_change: float  # when the last update was seen (or the job first seen)
    measuring_since: float | None = None  # when this epoch's measuring was first seen
    train_time: float | None = None  # the last epoch's phases, as seen
    measure_time: float | None = None


class Pacing:
    """The pacer's schedule over the running jobs (any objects with ``job_id``, ``status``,
    ``history``, ``current_epoch``, ``batches_done`` and ``n_batches``).

    >>> from types import SimpleNamespace as Job
    >>> pacing = Pacing()
    >>> job = Job(job_id="j", status="running", history=[], current_epoch=1, batches_done=0, n_batches=100)
    >>> pacing.next_delay([job], now=0.0) == TRAIN_MIN     # a new run: look soon, then less often
    True
    >>> job.batches_done = 100                             # training over at 0.4: measuring
    >>> pacing.next_delay([job], now=0.4) == FAST
    True
    >>> job.history.append("epoch 1"); job.current_epoch = 2; job.batches_done = 0
    >>> pacing.next_delay([job], now=0.5)                  # next measuring due at 0.9
    0.025
    >>> round(pacing.next_delay([job], now=0.89), 4)       # close: half the time left
    0.005
    >>> pacing.next_delay([], now=1.0) == IDLE
    True
    """

    def __init__(self) -> None:
        self._jobs: dict[str, _Pace] = {}

    def next_delay(self, jobs: list[Any], now: float) -> float:
        """Seconds until the next look."""
        delay = IDLE
        running = set()
        for job in jobs:
            if job.status != "running":
                continue
            running.add(job.job_id)
            delay = min(delay, self._delay(job, now))
        for job_id in list(self._jobs):
            if job_id not in running:
                del self._jobs[job_id]
        return delay

    def _delay(self, job: Any, now: float) -> float:
        done = len(job.history)
        pace = self._jobs.get(job.job_id)
        if pace is None:
            pace = self._jobs[job.job_id] = _Pace(done, now)
        elif done != pace.epochs_done:
            if done == pace.epochs_done + 1:
                if pace.measuring_since is not None:
                    pace.train_time = pace.measuring_since - pace.last_change
                    pace.measure_time = now - pace.measuring_since
                else:  # measuring too short to be seen: aim at the update itself
                    pace.train_time = now - pace.last_change
            pace.epochs_done, pace.last_change, pace.measuring_since = done, now, None
        if job.current_epoch > done and job.batches_done >= job.n_batches:
            if pace.measuring_since is None:
                pace.measuring_since = now
            since = pace.measuring_since
            due = None if pace.measure_time is None else since + pace.measure_time
            return _toward(due, since, now, FAST)
        due = None if pace.train_time is None else pace.last_change + pace.train_time
        return _toward(due, pace.last_change, now, TRAIN_MIN)


class Pacer:
    """A daemon thread that looks at ``outbox`` as :class:`Pacing` says and, when events
    wait, calls ``wake()`` on ``loop`` (once, until the loop calls :meth:`drained`)."""

    def __init__(self, outbox: Any, registry: Any, loop: asyncio.AbstractEventLoop, wake: Any) -> None:
        self._outbox = outbox
        self._registry = registry
        self._loop = loop
        self._wake = wake
        self._kicked = False
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="nnlab-server-pacer", daemon=True)

    def start(self) -> None:
        """Start looking."""
        self._thread.start()

    def drained(self) -> None:
        """The loop is about to drain: the next waiting event needs a new wake-up."""
        self._kicked = False

    def stop(self) -> None:
        """Stop looking (returns within one pause)."""
        self._stopped = True
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)

    def _run(self) -> None:
        pacing = Pacing()
        outbox, active_jobs, clock = self._outbox, self._registry.active_jobs, time.monotonic
        failures = 0
        while not self._stopped:
            if len(outbox) and not self._kicked:
                self._kicked = True
                try:
                    self._loop.call_soon_threadsafe(self._wake)
                except RuntimeError:  # the loop is closed
                    return
            try:
                delay = pacing.next_delay(active_jobs(), clock())
            except Exception:
                # Never stop looking: the mirror would go quiet. Fall back to the idle pace.
                if failures % 1000 == 0:
                    logger.exception(
                        "mirror: the pacer could not plan its next look (%d times)", failures + 1
                    )
                failures += 1
                pacing, delay = Pacing(), IDLE
            time.sleep(delay)
