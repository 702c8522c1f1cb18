"""The process-wide record of networks and training jobs, by id.

This is the one piece of shared mutable state in nnlab: the training loop, the REST API
and the notebook views all look networks and jobs up here. Every method is thread-safe.
Observers added here watch every run in the process (the server's mirror is one).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nnlab.network import Network
    from nnlab.training import TrainingJob

__all__ = ["KEEP_HISTORIES", "NetworkBusyError", "Registry", "registry"]

#: Finished jobs whose full per-epoch history is kept in memory (the newest ones).
KEEP_HISTORIES = 100


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
        self._jobs: dict[str, TrainingJob] = {}
        self._active: dict[str, TrainingJob] = {}
        self._observers: list[Any] = []
        self.keep_histories = keep_histories
        self._full: deque[TrainingJob] = deque()  # finished jobs with full histories, oldest first
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
    def job(self, job_id: str) -> TrainingJob:
        """The job with this id; ``KeyError`` if there is none."""
        with self._lock:
            return self._jobs[job_id]

    def jobs(self, network_id: str | None = None) -> list[TrainingJob]:
        """All jobs (of one network, if given), oldest first."""
        with self._lock:
            jobs = list(self._jobs.values())
        return jobs if network_id is None else [j for j in jobs if j.network_id == network_id]

    def active_job(self, network_id: str) -> TrainingJob | None:
        """The queued or running job of a network, if any."""
        with self._lock:
            return self._active.get(network_id)

    def active_jobs(self) -> list[TrainingJob]:
        """Every queued or running job."""
        with self._lock:
            return list(self._active.values())

    def claim(self, job: TrainingJob) -> None:
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

    def release(self, job: TrainingJob) -> None:
        """Mark the job's network free again (no-op if another job holds it)."""
        with self._lock:
            if self._active.get(job.network_id) is job:
                del self._active[job.network_id]
            self._retain(job)

    # retention of finished jobs' histories
    def _retain(self, job: TrainingJob) -> None:
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
        """Watch every run that starts from now on (see :mod:`nnlab.observers`)."""
        with self._lock:
            if observer not in self._observers:
                self._observers.append(observer)

    def remove_observer(self, observer: Any) -> None:
        """Stop watching new runs (no-op if not added)."""
        with self._lock:
            if observer in self._observers:
                self._observers.remove(observer)

    def observers(self) -> tuple[Any, ...]:
        """The observers every new run notifies."""
        with self._lock:
            return tuple(self._observers)


#: The registry of this process.
registry = Registry()
