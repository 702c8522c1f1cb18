"""The process-wide record of networks and training jobs, by id.

This is the one piece of shared mutable state in nnlab: the training loop, the REST API
and the notebook views all look networks and jobs up here. Every method is thread-safe.
Observers added here watch every run in the process (the server's mirror is one), from
their next notification on -- also runs already going when they are added.

Users reach it through :func:`nnlab.jobs`, :func:`nnlab.networks` and
:func:`nnlab.last_job`. The registry sits below the training loop, so it knows a job only
by the few attributes of :class:`Job`.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from nnlab.events import EpochRecord, TrainingStatus, TrainingUpdate
    from nnlab.network import Network

__all__ = ["KEEP_HISTORIES", "Job", "NetworkBusyError", "Registry", "registry"]

#: Finished jobs whose full per-epoch history is kept in memory (the newest ones).
KEEP_HISTORIES = 100


class Job(Protocol):
    """A training job as the registry and its readers (the REST API, the mirror) see it:
    :class:`nnlab.training.TrainingJob` is one."""

    @property
    def job_id(self) -> str: ...
    @property
    def network_id(self) -> str: ...
    @property
    def network(self) -> Network: ...
    @property
    def status(self) -> str: ...
    @property
    def done(self) -> bool: ...

    #: Replaced (never mutated) when the registry trims a finished job to its last epoch.
    history: list[EpochRecord]

    @property
    def latest(self) -> TrainingUpdate | None: ...
    def status_record(self) -> TrainingStatus: ...
    def to_dict(self, *, history: bool = True) -> dict[str, Any]: ...
    def cancel(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def set_learning_rate(self, learning_rate: float) -> None: ...
    def wait_settled(self, timeout: float | None = None) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class NetworkBusyError(RuntimeError):
    """The network is already being trained by another job."""

    def __init__(self, network_id: str, job_id: str) -> None:
        super().__init__(
            f"network {network_id} is already being trained by job {job_id}: wait for it "
            "(job.wait()) or cancel it (job.cancel()) before training it again"
        )
        self.network_id = network_id
        self.job_id = job_id


class Registry:
    """Networks and jobs of this process; see the module docstring.

    Only the ``keep_histories`` most recently finished jobs keep their full per-epoch
    history (``None``: all of them); an older finished job keeps its summary and its last
    epoch's record (``job.history[-1]``, hence ``job.latest``), so memory stays bounded in a
    long-lived server.

    >>> Registry(keep_histories=2).retention()
    {'keep_histories': 2, 'full_histories': 0, 'trimmed': 0}
    """

    def __init__(self, keep_histories: int | None = KEEP_HISTORIES) -> None:
        if keep_histories is not None and (
            isinstance(keep_histories, bool) or not isinstance(keep_histories, int) or keep_histories < 0
        ):
            raise ValueError(f"keep_histories must be an int >= 0 or None (keep all), got {keep_histories!r}")
        self._lock = threading.RLock()
        self._networks: dict[str, Network] = {}
        self._jobs: dict[str, Job] = {}
        self._active: dict[str, Job] = {}
        self._observers: list[Any] = []
        self._last: Job | None = None
        self.keep_histories = keep_histories
        self._full: deque[Job] = deque()  # finished jobs with full histories, oldest first
        self._trimmed = 0

    # networks
    def add_network(self, network: Network) -> Network:
        """Make ``network`` visible by its ``network_id`` (e.g. to the REST API)."""
        with self._lock:
            self._networks[network.network_id] = network
        return network

    def network(self, network_id: str) -> Network:
        """The network with this id; ``KeyError`` if there is none."""
        with self._lock:
            return self._networks[network_id]

    def networks(self) -> list[Network]:
        """All registered networks, oldest first."""
        with self._lock:
            return list(self._networks.values())

    def remove_network(self, network_id: str) -> Network:
        """Forget a network (its jobs stay); ``NetworkBusyError`` while it trains."""
        with self._lock:
            active = self._active.get(network_id)
            if active is not None:
                raise NetworkBusyError(network_id, active.job_id)
            return self._networks.pop(network_id)

    # jobs
    def job(self, job_id: str) -> Job:
        """The job with this id; ``KeyError`` if there is none."""
        with self._lock:
            return self._jobs[job_id]

    def jobs(self, network_id: str | None = None) -> list[Job]:
        """All jobs (of one network, if given), oldest first."""
        with self._lock:
            jobs = list(self._jobs.values())
        return jobs if network_id is None else [j for j in jobs if j.network_id == network_id]

    def last_job(self) -> Job | None:
        """The job claimed last (the run started last), or ``None``."""
        with self._lock:
            return self._last

    def active_job(self, network_id: str) -> Job | None:
        """The queued or running job of a network, if any."""
        with self._lock:
            return self._active.get(network_id)

    def active_jobs(self) -> list[Job]:
        """Every queued or running job."""
        with self._lock:
            return list(self._active.values())

    def claim(self, job: Job) -> None:
        """Register ``job`` and its network and mark the network busy, atomically.

        Raises ``NetworkBusyError`` if another job holds the network.
        """
        with self._lock:
            active = self._active.get(job.network_id)
            if active is not None and active is not job:
                raise NetworkBusyError(job.network_id, active.job_id)
            self._active[job.network_id] = job
            self._networks[job.network_id] = job.network
            self._jobs[job.job_id] = job
            self._last = job

    def release(self, job: Job) -> None:
        """Mark the job's network free again (no-op if another job holds it)."""
        with self._lock:
            if self._active.get(job.network_id) is job:
                del self._active[job.network_id]
            self._retain(job)

    # retention of finished jobs' histories
    def _retain(self, job: Job) -> None:
        """Count ``job`` (just released) among the finished; trim the oldest beyond the limit."""
        if job.done and job not in self._full:
            self._full.append(job)
        limit = self.keep_histories
        while limit is not None and len(self._full) > limit:
            old = self._full.popleft()
            # A new list: readers holding the old one (a view, a REST answer) keep it whole.
            old.history = old.history[-1:]
            self._trimmed += 1

    def retention(self) -> dict[str, int | None]:
        """How many finished jobs keep their full history: the limit, how many do now, and
        how many were trimmed to their last epoch."""
        with self._lock:
            return {
                "keep_histories": self.keep_histories,
                "full_histories": len(self._full),
                "trimmed": self._trimmed,
            }

    # observers of every run
    def add_observer(self, observer: Any) -> None:
        """Watch every run, from its next event on (see :mod:`nnlab.observers`)."""
        with self._lock:
            if observer not in self._observers:
                self._observers.append(observer)

    def remove_observer(self, observer: Any) -> None:
        """Stop watching runs (no-op if not added)."""
        with self._lock:
            if observer in self._observers:
                self._observers.remove(observer)

    def observers(self) -> tuple[Any, ...]:
        """The observers every run notifies."""
        with self._lock:
            return tuple(self._observers)


#: The registry of this process.
registry = Registry()
