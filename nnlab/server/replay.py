"""Replay: give a client every ``training_update`` it missed, in order, none twice.

Two kinds of client are behind. One that connects with ``auth: {since: {job_id: epoch}}``
(the last epoch it saw of each job, e.g. before a reconnect) first gets every update of
those jobs after those epochs. One whose queue backed up while connected (a frozen tab, a
stalled network) gets nothing more for a while; when its queue has drained it is caught up
epoch by epoch. Either way the missed updates come from the job's history: in memory for
this process's jobs (:class:`History`), from the run store for the rest; a job that
neither keeps (another process's run, no store) gets its newest update only.

Each such client has a :class:`CatchUp`: for every job the last epoch it has, and while it
is behind the newest events it has not had (of events other than updates -- the status, an
epoch's diagnostics -- the newest of each kind only). The fan-out (:mod:`nnlab.server.fanout`) asks it
whether to send each live event (:meth:`CatchUp.admit`) and, while it is behind, for the
next packets of its catch-up (:meth:`CatchUp.next`), a queue's worth at a time.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import TYPE_CHECKING, Any, Protocol

from nnlab.events import FINISHED, UPDATE_EVENT, TrainingStatus
from nnlab.params import is_int

if TYPE_CHECKING:
    from nnlab.registry import Registry
    from nnlab.store import Store

__all__ = ["FOLLOW_FIELDS", "CatchUp", "History", "RunSource", "parse_follow", "parse_since"]

#: An event on its way to one client: (event name, payload).
Packet = tuple[str, dict[str, Any]]


def parse_since(auth: Any) -> dict[str, int]:
    """The ``since`` of a Socket.IO connection's ``auth`` (``{}`` without one): job id ->
    the last epoch the client saw. ``ValueError`` says what is wrong with it.

    >>> parse_since({"token": "t", "since": {"job-1": 4}}), parse_since(None)
    ({'job-1': 4}, {})
    >>> parse_since({"since": {"job-1": -1}})
    Traceback (most recent call last):
    ...
    ValueError: auth.since must map job ids to the last epoch seen (an int, 0 or more), got {'job-1': -1}
    """
    since = auth.get("since") if isinstance(auth, dict) else None
    if since is None:
        return {}
    if not isinstance(since, dict) or not all(
        isinstance(k, str) and is_int(v) and v >= 0 for k, v in since.items()
    ):
        raise ValueError(
            f"auth.since must map job ids to the last epoch seen (an int, 0 or more), got {since!r}"
        )
    return {k: int(v) for k, v in since.items()}


#: What a client may follow instead of every run (``auth`` or query fields).
FOLLOW_FIELDS = ("owner", "network_id", "job_id")


def parse_follow(auth: Any, query: str = "") -> tuple[str, str] | None:
    """Which runs a client follows: ``(field, value)`` from its ``auth`` (else its query
    string), ``None`` for every run. ``ValueError`` says what is wrong.

    >>> parse_follow({"owner": "ada"}), parse_follow(None, "EIO=4&job_id=j1"), parse_follow({})
    (('owner', 'ada'), ('job_id', 'j1'), None)
    """
    from urllib.parse import parse_qs

    asked: dict[str, Any] = {}
    if isinstance(auth, dict):
        asked = {k: auth[k] for k in FOLLOW_FIELDS if k in auth}
    if not asked and query:
        params = parse_qs(query)
        asked = {k: params[k][-1] for k in FOLLOW_FIELDS if k in params}
    if not asked:
        return None
    if len(asked) > 1:
        raise ValueError(f"follow one of {list(FOLLOW_FIELDS)} at a time, got {sorted(asked)}")
    ((name, value),) = asked.items()
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return name, value


class RunSource(Protocol):
    """Other processes' runs with their history (a classroom hub's class view)."""

    def knows(self, job_id: str) -> bool: ...

    async def after(self, job_id: str, epoch: int, limit: int) -> list[dict[str, Any]] | None: ...

    async def ended(self, job_id: str) -> dict[str, Any] | None: ...


class History:
    """The updates of a job after an epoch: from this process's job, else ``runs`` (the
    class's runs, on a hub), else the run store."""

    def __init__(self, registry: Registry, store: Store | None = None, runs: RunSource | None = None) -> None:
        self.registry = registry
        self.store = store
        self.runs = runs

    async def ended(self, job_id: str) -> dict[str, Any] | None:
        """The ``training_status`` payload of a job that has ended (this process's, else the
        store's), or ``None`` for a job still going or unknown."""
        try:
            job = self.registry.job(job_id)
        except KeyError:
            job = None
        if job is not None:
            return job.status_record().to_dict() if job.done else None
        if self.runs is not None and self.runs.knows(job_id):
            return await self.runs.ended(job_id)
        if self.store is None:
            return None
        try:
            run = await asyncio.to_thread(self.store.summary, job_id)
        except (KeyError, sqlite3.Error):
            return None
        if run["status"] not in FINISHED or run["job_id"] != job_id:
            return None
        return TrainingStatus(
            job_id=run["job_id"],
            network_id=run["network_id"],
            status=run["status"],
            epoch=int(run["epochs_completed"]),
            total_epochs=int(run["total_epochs"]),
            error=run["error"],
            stop_reason=run["stop_reason"],
        ).to_dict()

    async def after(self, job_id: str, epoch: int, limit: int) -> list[dict[str, Any]] | None:
        """At most ``limit`` updates of the job after ``epoch``, in order; ``None`` when
        neither this process nor the store keeps the job's history."""
        try:
            job = self.registry.job(job_id)
        except KeyError:
            job = None
        if job is not None:
            history = list(job.history)
            # a finished job's history may be trimmed to its last epoch: the store has it all
            if not history or history[0].epoch <= epoch + 1 or self.store is None:
                start = max(0, epoch + 1 - history[0].epoch) if history else 0
                return [r.update.to_dict() for r in history[start:] if r.epoch > epoch][:limit]
        if self.runs is not None and self.runs.knows(job_id):
            return await self.runs.after(job_id, epoch, limit)
        if self.store is None:
            return None
        records = await asyncio.to_thread(self.store.updates, job_id, epoch)
        if not records:
            return None
        return [r.update.to_dict() for r in records[:limit]]


class CatchUp:
    """What one client has had of each job, and what it is owed while it is ``behind``.

    ``since`` (job id -> last epoch seen) starts a replay of those jobs.
    """

    def __init__(self, since: dict[str, int] | None = None) -> None:
        #: Job id -> the last epoch this client has.
        self.cursors: dict[str, int] = dict(since or {})
        #: Whether live events are withheld (the client is being caught up).
        self.behind = bool(since)
        self._replaying = list(self.cursors)  # jobs replayed up to whatever the history holds
        self._updates: dict[str, dict[str, Any]] = {}  # job -> newest update withheld
        # job -> {other event: (newest payload withheld, whether it goes before the updates)}
        self._others: dict[str, dict[str, tuple[dict[str, Any], bool]]] = {}
        #: Events it will never get: replaced by a newer one while it was behind (updates
        #: only when the job's history is kept nowhere).
        self.coalesced = 0

    def admit(self, event: str, job_id: str, data: dict[str, Any]) -> bool:
        """Whether to send this live event now: not while ``behind`` (it is kept for the
        catch-up) nor an update the client already has. Call :meth:`sent` once it is sent."""
        if self.behind:
            self._withhold(event, job_id, data)
            return False
        epoch = _epoch(event, data)
        return epoch is None or epoch > self.cursors.get(job_id, 0)

    def sent(self, event: str, job_id: str, data: dict[str, Any]) -> None:
        """The live event went out."""
        epoch = _epoch(event, data)
        if epoch is not None:
            self.cursors[job_id] = epoch

    def fall_behind(self, event: str, job_id: str, data: dict[str, Any]) -> None:
        """The client's queue is full: withhold this event and the next ones."""
        self.behind = True
        self._withhold(event, job_id, data)

    def _withhold(self, event: str, job_id: str, data: dict[str, Any]) -> None:
        if event == UPDATE_EVENT:
            epoch = _epoch(event, data)
            if epoch is None:  # not an epoch of a run: the newest is kept, as is
                self.coalesced += job_id in self._updates
                self._updates[job_id] = data
                return
            # a job first met here: the client has had every epoch before this one
            cursor = self.cursors.setdefault(job_id, epoch - 1)
            if epoch > cursor:
                self._updates[job_id] = data
        else:
            others = self._others.setdefault(job_id, {})
            self.coalesced += others.pop(event, None) is not None  # the newest goes last
            others[event] = (data, job_id not in self._updates)

    async def next(self, history: History, budget: int) -> list[Packet]:
        """The next at most ``budget`` packets of the catch-up, in order; once all are out,
        ``behind`` turns ``False``."""
        out: list[Packet] = []
        while self._replaying and len(out) < budget:
            job_id = self._replaying[0]
            asked = budget - len(out)
            got = await history.after(job_id, self.cursors[job_id], asked)
            self._send(out, job_id, got or [])
            if got is None or len(got) < asked:  # the history holds no more
                self._replaying.pop(0)
        for job_id in list({**self._others, **self._updates}):
            if len(out) >= budget:
                break
            others = self._others.get(job_id, {})
            for event, (data, first) in list(others.items()):
                if first:
                    out.append((event, data))
                    del others[event]
            target = self._updates.get(job_id)
            if target is not None:
                last = _epoch(UPDATE_EVENT, target)
                if last is None:
                    out.append((UPDATE_EVENT, target))
                else:
                    cursor = self.cursors.get(job_id, 0)
                    got = await history.after(job_id, cursor, max(1, budget - len(out)))
                    got = [u for u in got or [] if u["epoch"] <= last]
                    if not got:  # nobody keeps its history: the newest only
                        self.coalesced += max(0, last - cursor - 1)
                        got = [target]
                    self._send(out, job_id, got)
                    if self.cursors[job_id] < last:
                        break  # the budget is spent
                del self._updates[job_id]
            out.extend((event, data) for event, (data, _) in self._others.pop(job_id, {}).items())
        if not self._replaying and not self._updates and not self._others:
            self.behind = False
        return out

    def _send(self, out: list[Packet], job_id: str, updates: list[dict[str, Any]]) -> None:
        cursor = self.cursors.get(job_id, 0)
        for update in updates:
            if update["epoch"] > cursor:
                out.append((UPDATE_EVENT, update))
                cursor = update["epoch"]
        self.cursors[job_id] = cursor


def _epoch(event: str, data: dict[str, Any]) -> int | None:
    """The epoch of an update (``None`` for other events and for payloads without one)."""
    epoch = data.get("epoch") if event == UPDATE_EVENT else None
    return epoch if isinstance(epoch, int) else None
