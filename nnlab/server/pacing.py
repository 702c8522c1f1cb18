"""When to look at the outbox: often when an epoch is about to end, rarely otherwise.

The training thread never wakes the server (any wake-up is a system call that can cost it
the GIL or its CPU for milliseconds). Instead a pacer thread looks at the outbox on its
own schedule and, when something waits, schedules the drain on the server's loop. The
schedule follows each running job: an epoch ends with its training phase
(``batches_done == n_batches``) followed by a measuring phase, after which the update is
handed over. While a job measures, the pacer looks every ``FAST`` seconds; otherwise it
halves the time to the predicted end of the epoch (from the last epoch's length), so a
long epoch costs a handful of looks. Each look reads a few attributes under the GIL.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

__all__ = ["ACTIVE_MAX", "FAST", "IDLE", "Pacer", "Pacing"]

#: Seconds between looks while an update is imminent.
FAST = 0.0002
#: Longest pause while a job runs.
ACTIVE_MAX = 0.025
#: Pause while nothing trains (a new run's first event waits at most this long).
IDLE = 0.025


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


@dataclass
class _Pace:
    epochs_done: int
    last_change: float
    period: float | None = None
    measuring_since: float | None = None


class Pacing:
    """The pacer's schedule over the running jobs (any objects with ``job_id``, ``status``,
    ``history``, ``current_epoch``, ``batches_done`` and ``n_batches``).

    >>> from types import SimpleNamespace as Job
    >>> pacing = Pacing()
    >>> job = Job(job_id="j", status="running", history=[], current_epoch=1, batches_done=3, n_batches=130)
    >>> pacing.next_delay([job], now=0.0) == FAST       # just started: look soon
    True
    >>> job.batches_done = 130                          # training phase over: measuring
    >>> pacing.next_delay([job], now=0.5) == FAST
    True
    >>> job.history.append("epoch 1"); job.current_epoch = 2; job.batches_done = 0
    >>> pacing.next_delay([job], now=0.6)               # next end expected at 1.2: halve the wait
    0.025
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
            pace.period = (now - pace.last_change) / (done - pace.epochs_done)
            pace.epochs_done, pace.last_change, pace.measuring_since = done, now, None
        if job.current_epoch > done and job.batches_done >= job.n_batches:
            # Measuring: the update is imminent. Very long measurements back off.
            if pace.measuring_since is None:
                pace.measuring_since = now
            return _clamp((now - pace.measuring_since) / 20, FAST, ACTIVE_MAX)
        if pace.period is not None:
            left = pace.last_change + pace.period - now
            if left > 0:
                return _clamp(left / 2, FAST, ACTIVE_MAX)
            return _clamp(-left / 4, FAST, ACTIVE_MAX)  # late: back off slowly
        # The first epoch (or the first seen): no length to go by yet.
        return _clamp((now - pace.last_change) / 16, FAST, ACTIVE_MAX)


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
        while not self._stopped:
            if len(outbox) and not self._kicked:
                self._kicked = True
                try:
                    self._loop.call_soon_threadsafe(self._wake)
                except RuntimeError:  # the loop is closed
                    return
            time.sleep(pacing.next_delay(active_jobs(), clock()))
