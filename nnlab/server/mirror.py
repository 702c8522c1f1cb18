"""The hand-off from training threads to the server: the mirror observer and its outboxes.

Training runs in the caller's thread (a notebook cell, a REST worker); each server runs its
own event loop in its own thread. This module is the only place where the two meet. The
:class:`Mirror` observer watches every run in the process (it is added to
:data:`nnlab.registry.registry`) and puts each event in the :class:`Outbox` of every
running server: a ``deque`` append of well under a microsecond, with no lock and no
system call (waking another thread could cost the trainer the GIL or its CPU for
milliseconds). The server's pacer (:mod:`nnlab.server.pacing`) looks at the outbox on its
own schedule, and its loop drains it (:mod:`nnlab.server.fanout`).

Nothing here imports the server stack, so the training side stays light.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from nnlab.events import DIAGNOSTICS_EVENT, STATUS_EVENT, UPDATE_EVENT
from nnlab.observers import Observer
from nnlab.registry import Job, Registry, registry

if TYPE_CHECKING:
    from nnlab.events import EpochRecord
    from nnlab.training import TrainingJob

__all__ = [
    "DIAGNOSTICS_EVENT",
    "OUTBOX_LIMIT",
    "STATUS_EVENT",
    "UPDATE_EVENT",
    "Mirror",
    "Outbox",
    "get_mirror",
    "status_payload",
]

#: Events an outbox holds when its server falls this far behind (the oldest are dropped).
OUTBOX_LIMIT = 10_000

#: One event: (event name, job id, payload as a dict or an object with ``to_dict()``).
Item = tuple[str, str, Any]


def status_payload(job: Job) -> dict[str, Any]:
    """The ``training_status`` payload of a job as it is now."""
    return job.status_record().to_dict()


class Outbox:
    """Events on their way to one server's loop: training threads put, the loop drains.

    ``put`` is a bare ``deque`` append: no lock, no system call, nothing woken (the pacer
    of :mod:`nnlab.server.pacing` comes to look).

    >>> box = Outbox()
    >>> box.put(("training_update", "job-1", {"epoch": 1}))
    >>> len(box), box.drain(), len(box)
    (1, [('training_update', 'job-1', {'epoch': 1})], 0)
    """

    def __init__(self, maxlen: int = OUTBOX_LIMIT) -> None:
        self._items: deque[Item] = deque(maxlen=maxlen)
        self.put = self._items.append  # the whole hand-off

    def drain(self) -> list[Item]:
        """Take every waiting event, oldest first."""
        items = []
        popleft = self._items.popleft
        while True:
            try:
                items.append(popleft())
            except IndexError:
                return items

    def __len__(self) -> int:
        return len(self._items)


class Mirror(Observer):
    """Puts every run's lifecycle and per-epoch updates into each subscribed outbox, and
    an epoch's ``training_diagnostics`` after its update when the run measured them.

    There is one per process (:func:`get_mirror`); each running server subscribes its
    outbox. With no server running, events are dropped here at no cost.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Replaced, never mutated, so the training thread iterates it without a lock.
        self._outboxes: tuple[Outbox, ...] = ()

    def subscribe(self, outbox: Outbox) -> None:
        """Start delivering events to ``outbox``."""
        with self._lock:
            if outbox not in self._outboxes:
                self._outboxes = (*self._outboxes, outbox)

    def unsubscribe(self, outbox: Outbox) -> None:
        """Stop delivering events to ``outbox`` (no-op if not subscribed)."""
        with self._lock:
            self._outboxes = tuple(o for o in self._outboxes if o is not outbox)

    def publish(self, event: str, job_id: str, payload: Any) -> None:
        """Send ``payload`` (a dict, or an object with ``to_dict()``) as ``event`` to every
        client of every running server; ``job_id`` is the key slow clients are caught up by."""
        item = (event, job_id, payload)
        for outbox in self._outboxes:
            outbox.put(item)

    def on_run_start(self, job: TrainingJob) -> None:
        self.publish(STATUS_EVENT, job.job_id, status_payload(job))

    def on_epoch_end(self, job: TrainingJob, record: EpochRecord) -> None:
        # The frozen TrainingUpdate travels as is; the server's loop turns it into JSON.
        item = (UPDATE_EVENT, job.job_id, record.update)
        for outbox in self._outboxes:
            outbox.put(item)
        if record.diagnostics is not None and self._outboxes:
            # after the update of its epoch, so a client has both when this arrives
            self.publish(DIAGNOSTICS_EVENT, job.job_id, record.diagnostics.payload(record.update))

    def on_pause(self, job: TrainingJob) -> None:
        self.publish(STATUS_EVENT, job.job_id, status_payload(job))

    def on_resume(self, job: TrainingJob) -> None:
        self.publish(STATUS_EVENT, job.job_id, status_payload(job))

    def on_run_end(self, job: TrainingJob) -> None:
        self.publish(STATUS_EVENT, job.job_id, status_payload(job))


_mirror: Mirror | None = None
_mirror_lock = threading.Lock()


def get_mirror(reg: Registry = registry) -> Mirror:
    """The process's mirror, added to ``reg`` as an observer of every run.

    The registry's observers are read at every notification, so runs already going on
    when it is added are mirrored epoch by epoch from then on.
    """
    global _mirror
    with _mirror_lock:
        if _mirror is None:
            _mirror = Mirror()
        reg.add_observer(_mirror)
        return _mirror
