"""What the REST API reads of the run store: stored runs as the same JSON as live jobs.

A server with a store (:mod:`nnlab.store`) answers for every run in it -- runs of this
process, of other kernels on the machine, and of processes that died (``interrupted``) --
besides the jobs of its registry, which win when both know a run. Every function here
blocks on the file: the API calls them in a worker thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nnlab.events import FINISHED
from nnlab.observers import Observer

if TYPE_CHECKING:
    from nnlab.events import EpochRecord
    from nnlab.registry import Registry
    from nnlab.store import Store
    from nnlab.training import TrainingJob

__all__ = ["SaveWhenStarted", "stored_job", "stored_jobs", "stored_networks", "stored_summary"]

_JOB_FIELDS = (
    "job_id",
    "network_id",
    "status",
    "parameters",
    "epochs_completed",
    "total_epochs",
    "error",
    "stop_reason",
    "hints",
    "created_at",
    "started_at",
    "finished_at",
    "elapsed_time",
)


def stored_summary(store: Store, job_id: str) -> dict[str, Any] | None:
    """The stored run with exactly this id, or ``None``."""
    try:
        summary = store.summary(job_id)
    except KeyError:
        return None
    return summary if summary["job_id"] == job_id else None


def stored_job(store: Store, summary: dict[str, Any], *, history: bool) -> dict[str, Any]:
    """A stored run as ``GET /api/jobs/{id}`` shows a job (``history``: every epoch too)."""
    data = {key: summary[key] for key in _JOB_FIELDS}
    done = summary["epochs_completed"]
    records: list[EpochRecord] = store.updates(summary["job_id"], after=0 if history else max(0, done - 1))
    data["latest"] = records[-1].update.to_dict() if records else None
    if history:
        data["history"] = [r.to_dict() for r in records]
    return data


def stored_jobs(store: Store, registry: Registry, network_id: str | None = None) -> list[dict[str, Any]]:
    """The stored runs this process's registry does not hold (of one network, if given)."""
    jobs = []
    for summary in store.summaries():
        if network_id is not None and summary["network_id"] != network_id:
            continue
        if _held(registry, summary["job_id"]):
            continue
        jobs.append(stored_job(store, summary, history=False))
    return jobs


def stored_networks(store: Store, registry: Registry) -> dict[str, dict[str, Any]]:
    """Network id -> how ``GET /api/networks`` shows it, for every network of a stored run:
    its description as its newest run left it, its stored job ids and its live run."""
    networks: dict[str, dict[str, Any]] = {}
    for summary in store.summaries():  # oldest first: the newest run's description stays
        network_id = summary["network_id"]
        previous = networks.get(network_id)
        description = dict(summary["network"])
        description.pop("format", None)
        description.pop("version", None)
        description["epochs_trained"] = (
            int(description.get("epochs_trained", 0)) + summary["epochs_completed"]
        )
        job_ids = [*(previous["job_ids"] if previous else []), summary["job_id"]]
        active = previous["active_job_id"] if previous else None
        if summary["status"] not in FINISHED:
            active = summary["job_id"]
        networks[network_id] = {**description, "active_job_id": active, "job_ids": job_ids}
    return networks


def _held(registry: Registry, job_id: str) -> bool:
    try:
        registry.job(job_id)
    except KeyError:
        return False
    return True


class SaveWhenStarted(Observer):
    """Saves a REST job to ``store`` from the moment it starts: a job the queue refuses,
    or one cancelled while it waits, never reaches the file."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._saver = store.observer()
        self._watching = False

    def on_run_start(self, job: TrainingJob) -> None:
        self._store.watch(job, self._saver)
        self._watching = True
        self._saver.on_run_start(job)

    def on_epoch_start(self, job: TrainingJob, epoch: int) -> None:
        if self._watching:
            self._saver.on_epoch_start(job, epoch)

    def on_epoch_end(self, job: TrainingJob, record: EpochRecord) -> None:
        if self._watching:
            self._saver.on_epoch_end(job, record)

    def on_run_end(self, job: TrainingJob) -> None:
        if self._watching:
            self._saver.on_run_end(job)
