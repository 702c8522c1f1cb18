"""Mirror the runs of other processes: follow the run store's log.

Every kernel on the machine writes its runs to the same store file. A server with a store
runs a :class:`Follower` on its loop: every ``POLL_INTERVAL`` seconds it asks the store for
the events after the last one it saw (:meth:`nnlab.store.Store.changes`, one indexed
query in a worker thread) and puts those of runs *not* in this process's registry into the
server's outbox, as the contract's ``training_update`` and ``training_status`` payloads
(and ``training_diagnostics`` for runs that measure them) -- this process's own runs reach
the outbox through the mirror already. So ``nnlab serve``
in a terminal shows the runs of every notebook, with no service in between.

When it starts it announces the runs already going on (their status and latest update), so
clients that connect later get them like the server's own running jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nnlab.events import (
    DIAGNOSTICS_EVENT,
    FINISHED,
    STATUS_EVENT,
    UPDATE_EVENT,
    EpochRecord,
    TrainingStatus,
)
from nnlab.registry import registry as process_registry

if TYPE_CHECKING:
    from nnlab.registry import Registry
    from nnlab.server.mirror import Mirror, Outbox
    from nnlab.store import Event, Store

__all__ = ["BATCH", "POLL_INTERVAL", "Follower"]

logger = logging.getLogger("nnlab.server")

#: Seconds between two looks at the store.
POLL_INTERVAL = 0.05
#: Most events read in one query (a longer backlog takes several, at once).
BATCH = 1000


@dataclass
class _Run:
    network_id: str
    total_epochs: int
    epoch: int  # the last epoch announced


class Follower:
    """Puts into ``outbox`` the store's new events of the runs ``mirror`` does not deliver
    there: those of other processes (and of a registry of this process it does not watch)."""

    def __init__(self, store: Store, registry: Registry, outbox: Outbox, mirror: Mirror) -> None:
        self.store = store
        self._registry = registry
        self._mirror = mirror
        self._outbox = outbox
        self._last = 0
        self._runs: dict[str, _Run] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def last_event(self) -> int:
        """The id of the last store event looked at."""
        return self._last

    async def start(self) -> None:
        """Announce the runs going on now, then follow (call on the server loop)."""
        self._stop.clear()
        try:
            await asyncio.to_thread(self._begin)
        except Exception:  # an unreadable store: the server still serves its own runs
            logger.warning("the run store %s cannot be followed", self.store.path, exc_info=True)
        self._task = asyncio.create_task(self._follow(), name="nnlab-store-follower")

    async def stop(self) -> None:
        """Stop following (waits for a look in progress)."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _follow(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), POLL_INTERVAL)
            if self._stop.is_set():
                return
            try:
                await asyncio.to_thread(self.poll)
            except Exception:  # locked or damaged for now: look again next time
                logger.debug("following the run store failed", exc_info=True)

    # ------------------------------------------------------------------ in a worker thread
    def _begin(self) -> None:
        self._last = self.store.last_event()
        for summary in self.store.summaries():
            job_id = summary["job_id"]
            if summary["status"] in FINISHED or self._held(job_id):
                continue
            done = summary["epochs_completed"]
            run = self._runs[job_id] = _Run(summary["network_id"], summary["total_epochs"], done)
            self._put(STATUS_EVENT, job_id, self._status(job_id, run, summary["status"], {}))
            latest = self.store.updates(job_id, after=max(0, done - 1))
            if latest:
                self._put(UPDATE_EVENT, job_id, latest[-1].update)

    def poll(self) -> int:
        """Look once; the number of events put in the outbox."""
        sent = 0
        while True:
            events = self.store.changes(after=self._last, limit=BATCH)
            for event in events:
                self._last = event.id
                if not self._held(event.job_id):
                    sent += self._apply(event)
            if len(events) < BATCH:
                return sent

    def _apply(self, event: Event) -> int:
        job_id, data = event.job_id, event.data
        run = self._runs.get(job_id)
        if run is None:
            try:
                summary = self.store.summary(job_id)
            except KeyError:  # deleted meanwhile
                return 0
            run = self._runs[job_id] = _Run(summary["network_id"], summary["total_epochs"], 0)
        if event.kind == "epoch":
            record = EpochRecord.from_dict(data)
            if record.epoch <= run.epoch:  # already announced when the follower began
                return 0
            run.epoch = record.epoch
            self._put(UPDATE_EVENT, job_id, record.update)
            if record.diagnostics is not None:
                self._put(DIAGNOSTICS_EVENT, job_id, record.diagnostics.payload(record.update))
            return 1
        if event.kind == "resumed":
            run.epoch = int(data.get("from_epoch", 0))
        if event.kind in ("created", "status", "resumed") and "status" in data:
            self._put(STATUS_EVENT, job_id, self._status(job_id, run, data["status"], data))
            if data["status"] in FINISHED:
                self._runs.pop(job_id, None)
            return 1
        return 0

    def _status(self, job_id: str, run: _Run, status: str, data: dict[str, Any]) -> dict[str, Any]:
        return TrainingStatus(
            job_id=job_id,
            network_id=run.network_id,
            status=status,  # type: ignore[arg-type]
            epoch=run.epoch,
            total_epochs=run.total_epochs,
            error=data.get("error"),
            stop_reason=data.get("stop_reason"),
        ).to_dict()

    def _put(self, event: str, job_id: str, payload: Any) -> None:
        self._outbox.put((event, job_id, payload))

    def _held(self, job_id: str) -> bool:
        """Whether the mirror delivers this run: the server's registry or the process's
        (when the mirror watches it) holds it."""
        for reg in (self._registry, process_registry):
            try:
                reg.job(job_id)
            except KeyError:
                continue
            if reg is self._registry or self._mirror in reg.observers():
                return True
        return False
