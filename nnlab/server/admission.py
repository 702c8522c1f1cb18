"""Admission of REST-started runs: at most ``max_running`` train at once, the rest wait.

A job that finds every slot taken waits in a first-in, first-out queue of at most
``max_queued`` jobs (status ``queued``, its network already claimed so nobody trains it
twice). There is no thread per waiting job: each slot is one worker thread that, when its
run ends, takes the next job from the queue, and ends when the queue is empty. Runs
started in a notebook cell are the user's own foreground work and never pass through here.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from nnlab.params import positive_int

if TYPE_CHECKING:
    from nnlab.registry import Registry
    from nnlab.training import TrainingJob

__all__ = [
    "DEFAULT_MAX_QUEUED_JOBS",
    "Admission",
    "AdmissionClosedError",
    "QueueFullError",
    "default_max_running_jobs",
]

logger = logging.getLogger("nnlab.server")

#: Jobs that may wait for a slot before further requests are refused.
DEFAULT_MAX_QUEUED_JOBS = 100

#: The environment variable that sets the default of ``max_running_jobs``.
MAX_RUNNING_ENV = "NNLAB_MAX_RUNNING_JOBS"


def default_max_running_jobs() -> int:
    """``$NNLAB_MAX_RUNNING_JOBS`` if set, else the number of CPUs.

    >>> default_max_running_jobs() >= 1
    True
    """
    text = os.environ.get(MAX_RUNNING_ENV, "").strip()
    if not text:
        return os.cpu_count() or 1
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(
            f"{MAX_RUNNING_ENV} must be a positive int such as 2, got {text!r}: "
            f"fix it or unset it to use the number of CPUs"
        )
    return value


class QueueFullError(RuntimeError):
    """Every slot is busy and ``max_queued`` jobs already wait."""

    def __init__(self, max_queued: int) -> None:
        super().__init__(
            f"the training queue is full: {max_queued} jobs already wait for a free slot "
            f"(max_queued_jobs={max_queued})"
        )
        self.max_queued = max_queued


class AdmissionClosedError(RuntimeError):
    """The server is stopping and takes no more jobs."""


class Admission:
    """Runs submitted jobs in at most ``max_running`` worker threads, the rest FIFO.

    ``on_queued(job)`` is called (under the queue's lock, so calls come in queue order)
    when a job has to wait. ``close()`` cancels waiting and running jobs and joins the
    workers.
    """

    def __init__(
        self,
        registry: Registry,
        max_running: int,
        max_queued: int = DEFAULT_MAX_QUEUED_JOBS,
        on_queued: Callable[[TrainingJob], None] = lambda job: None,
    ) -> None:
        self.registry = registry
        self.max_running = positive_int("max_running_jobs", max_running, "2")
        self.max_queued = positive_int("max_queued_jobs", max_queued, "2")
        self._on_queued = on_queued
        self._lock = threading.Lock()
        self._queue: deque[TrainingJob] = deque()
        #: Worker thread -> the job it runs now.
        self._workers: dict[threading.Thread, TrainingJob] = {}
        self._closed = False
        self._count = 0

    @property
    def running(self) -> int:
        """Jobs that hold a slot now."""
        with self._lock:
            return len(self._workers)

    @property
    def queued(self) -> int:
        """Jobs waiting for a slot."""
        with self._lock:
            return len(self._queue)

    def submit(self, job: TrainingJob) -> None:
        """Claim the job's network and run it in a free slot, or queue it.

        Raises ``NetworkBusyError`` if the network is taken, :class:`QueueFullError` if the
        queue is full, :class:`AdmissionClosedError` once :meth:`close` has begun.
        """
        with self._lock:
            if self._closed:
                raise AdmissionClosedError("the server is stopping: it takes no more jobs")
            if len(self._workers) >= self.max_running and len(self._queue) >= self.max_queued:
                raise QueueFullError(self.max_queued)
            self.registry.claim(job)  # NetworkBusyError leaves nothing changed
            if len(self._workers) < self.max_running:
                self._count += 1
                worker = threading.Thread(
                    target=self._work, name=f"nnlab-rest-worker-{self._count}", daemon=True
                )
                self._workers[worker] = job
                worker.start()
                return
            self._queue.append(job)
            self._on_queued(job)

    def cancel(self, job: TrainingJob) -> None:
        """Cancel a job: a queued one ends ``cancelled`` now without ever starting, a
        running one stops at its next mini-batch."""
        with self._lock:
            try:
                self._queue.remove(job)
                waiting = True
            except ValueError:
                waiting = False
        job.cancel()
        if waiting:
            job.run()  # ends at once as cancelled: frees its network, tells its observers

    def close(self, timeout: float = 5.0) -> None:
        """Take no more jobs, cancel the waiting and running ones, join the workers."""
        with self._lock:
            self._closed = True
            waiting = list(self._queue)
            self._queue.clear()
            workers = dict(self._workers)
        for job in waiting:
            job.cancel()
            job.run()
        for job in workers.values():
            job.cancel()
        for worker in workers:
            worker.join(timeout)

    def _work(self) -> None:
        me = threading.current_thread()
        with self._lock:
            job: TrainingJob | None = self._workers[me]
        while job is not None:
            try:
                job.run()
            except Exception:  # the job has recorded it (status failed, error); go on
                logger.debug("job %s failed", job.job_id, exc_info=True)
            with self._lock:
                if self._queue and not self._closed:
                    job = self._queue.popleft()
                    self._workers[me] = job
                else:
                    job = None
                    del self._workers[me]
