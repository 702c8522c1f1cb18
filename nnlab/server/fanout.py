"""The server loop's side of the mirror: drain the outbox and fan each event out to clients.

Runs on the server's event loop only, woken by the pacer (:mod:`nnlab.server.pacing`) when
events wait. For every event it encodes one Socket.IO packet and puts it in each connected
client's Engine.IO queue. Three rules keep clients consistent and memory bounded:

* **Late joiners.** A client that has just connected gets, before anything else, the
  lifecycle status and the latest ``training_update`` of every running job (counting every
  event handed over so far), then every later event; it never gets an epoch twice.
* **Slow clients are caught up, not buffered.** python-socketio queues without limit. A
  client whose queue holds more than ``SLOW_BACKLOG`` packets (a frozen tab, a stalled
  network) gets nothing more for now; for each job only the last epoch it has and the
  newest update and status are kept for it. Once its queue has drained to
  ``CATCH_UP_BACKLOG`` it is sent every epoch it missed, from the job's history (in memory,
  or the run store), a queue's worth at a time (:mod:`nnlab.server.replay`). Memory per
  such client is bounded by ``SLOW_BACKLOG`` packets plus one update per job, however fast
  training runs; a client that stops answering pings is dropped by Engine.IO.
* **Replay.** A client that connects with ``auth: {since: {job_id: last epoch seen}}`` is
  caught up the same way on those jobs before it gets their live updates, none twice.
* **A poll never carries more than** ``POLL_PACKETS``. Engine.IO answers a long-poll with
  everything queued, and python-engineio's client (under python-socketio's) rejects an
  answer of more than 16 packets and disconnects ("transport error"): under load a burst
  of epochs dropped every polling client at once. So a polling client counts as slow
  beyond ``POLL_BACKLOG`` packets, and replays and catch-ups to it are spread over polls.
* **Following some runs.** A client that connects with ``auth`` (or query) ``{owner}``,
  ``{network_id}`` or ``{job_id}`` joins the Socket.IO room ``owner:NAME`` (or
  ``network_id:ID``, ``job_id:ID``) instead of the all-runs room and gets only the matching
  runs' events (also when it joins late or is caught up); one asking nothing gets all.
* **Healthy clients get every event, in order.** Between two events the loop yields, so the
  clients' writers empty their queues and a burst of epochs never looks like a slow client.

A round that fails (an exception anywhere in it) is logged to the ``nnlab.server`` logger
and its remaining events are counted as dropped; the next round runs as usual. The counts
(:class:`MirrorStats`) are shown by ``GET /api/health``, which reports ``degraded`` while
rounds fail. Sending uses python-socketio's public ``emit``; the one Engine.IO internal
read (each client's queue length) goes through :mod:`nnlab.server._engineio`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import nnlab.server._engineio as _engineio
from nnlab.events import STATUS_EVENT, UPDATE_EVENT
from nnlab.server.mirror import Outbox, status_payload
from nnlab.server.pacing import Pacer
from nnlab.server.replay import CatchUp, History, parse_follow, parse_since

if TYPE_CHECKING:
    import socketio

    from nnlab.registry import Registry

__all__ = ["CATCH_UP_BACKLOG", "POLL_BACKLOG", "POLL_PACKETS", "SLOW_BACKLOG", "Fanout", "MirrorStats"]

#: Statuses of a run that is still going: a client that connects gets its state.
GOING = frozenset({"running", "paused"})

logger = logging.getLogger("nnlab.server")

#: Packets waiting for one client above which it is treated as slow.
SLOW_BACKLOG = 64
#: A slow client's queue length at which it is caught up and treated as healthy again.
CATCH_UP_BACKLOG = 8
#: Most packets one poll answer may carry: python-engineio's client refuses more
#: (``engineio.payload.Payload.max_decode_packets``) and drops the connection.
POLL_PACKETS = 16
#: Packets waiting for a polling client above which it is treated as slow (room is left
#: for Engine.IO's own PING and CLOSE, so a poll never carries more than POLL_PACKETS).
POLL_BACKLOG = POLL_PACKETS - 2
#: Seconds between checks on slow clients (only while there are any).
SLOW_CHECK_INTERVAL = 0.05
#: Seconds between two queues' worth of catch-up while a client reads.
CATCH_UP_INTERVAL = 0.005

_NAMESPACE = "/"
#: The room of clients past their replay (new clients join it once welcomed).
_ROOM = "nnlab-mirror"
#: Of a streak of failing rounds, log the first and then every this many.
_LOG_EVERY = 100


@dataclass
class MirrorStats:
    """What the fan-out has done so far (``GET /api/health`` shows it as ``mirror``)."""

    #: Events handed to clients (one per client reached).
    sent: int = 0
    #: Events a slow client will never get because a newer one of the same job replaced it
    #: (updates only when the job's history is kept nowhere: see :mod:`nnlab.server.replay`).
    coalesced: int = 0
    #: Events lost because the round that was delivering them failed.
    dropped: int = 0
    #: Rounds that failed.
    errors: int = 0
    #: The last failure (``"TypeName: message"``) and when it happened (Unix time).
    last_error: str | None = None
    last_error_at: float | None = None
    #: Whether the latest round failed (until a round succeeds again).
    failing: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The stats as JSON-ready values."""
        return asdict(self)


class Fanout:
    """Delivers the outbox's events to every client of one Socket.IO server."""

    def __init__(
        self, sio: socketio.AsyncServer, outbox: Outbox, registry: Registry, history: History | None = None
    ) -> None:
        self._sio = sio
        self._outbox = outbox
        self._registry = registry
        self._kick: asyncio.Event | None = None
        self._pacer: Pacer | None = None
        self._task: asyncio.Task[None] | None = None
        #: Clients connected and past their replay.
        self._clients: set[str] = set()
        #: Clients connected whose replay of the running jobs is still due.
        self._joining: set[str] = set()
        #: Where missed epochs come from (memory, the run store).
        self._history = history or History(registry)
        #: Clients that asked for a replay or were ever slow -> what they had and are owed.
        self._slow: dict[str, CatchUp] = {}
        #: Joining clients' ``auth.since``.
        self._since: dict[str, dict[str, int]] = {}
        self._catch_up_interval = SLOW_CHECK_INTERVAL
        #: Running jobs as clients have seen them: job id -> {event: payload}.
        self._running: dict[str, dict[str, dict[str, Any]]] = {}
        self.stats = MirrorStats()
        self._streak = 0  # failing rounds in a row
        #: Clients following some runs only -> (field, value), e.g. ("owner", "ada").
        self._follow: dict[str, tuple[str, str]] = {}
        #: Job id -> its owner and network (from its statuses), for the rooms.
        self._owners: dict[str, str] = {}
        self._networks: dict[str, str] = {}

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start draining (call on the server loop, e.g. in the app's lifespan)."""
        self._kick = asyncio.Event()
        self._pacer = Pacer(self._outbox, self._registry, asyncio.get_running_loop(), self._kick.set)
        self._pacer.start()
        self._task = asyncio.create_task(self._run(), name="nnlab-fanout")

    async def stop(self) -> None:
        """Stop draining; events still waiting are dropped with the server."""
        if self._pacer is not None:
            self._pacer.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def wake(self) -> None:
        """Deliver what waits now (call on the server loop; the pacer looks only every
        ``pacing.IDLE`` seconds while this process trains nothing)."""
        if self._kick is not None:
            self._kick.set()

    @property
    def clients(self) -> int:
        """Number of connected Socket.IO clients."""
        return len(self._clients) + len(self._joining)

    # ------------------------------------------------------------------ Socket.IO handlers
    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            since = parse_since(auth)
            follow = parse_follow(auth, environ.get("QUERY_STRING", ""))
        except ValueError as exc:
            raise ConnectionRefusedError(str(exc)) from None
        if since:
            self._since[sid] = since
        if follow is not None:
            self._follow[sid] = follow
        self._joining.add(sid)
        if self._kick is not None:
            self._kick.set()

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        if reason is not None and reason != self._sio.reason.CLIENT_DISCONNECT:
            # The client did not say goodbye: the server dropped it, or its link broke.
            logger.info("client %s disconnected: %s", sid, reason)
        self._joining.discard(sid)
        self._clients.discard(sid)
        self._slow.pop(sid, None)
        self._since.pop(sid, None)
        self._follow.pop(sid, None)

    # ------------------------------------------------------------------ the loop
    async def _run(self) -> None:
        assert self._kick is not None
        kick = self._kick
        while True:
            if any(catch.behind for catch in self._slow.values()):
                with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                    await asyncio.wait_for(kick.wait(), self._catch_up_interval)
            else:
                await kick.wait()
            kick.clear()
            if self._pacer is not None:
                self._pacer.drained()
            pending: deque[tuple[str, str, Any]] = deque()
            try:
                await self._round(pending)
            except Exception as exc:
                self._failed(exc, len(pending))
            else:
                self._succeeded()

    async def _round(self, pending: deque[tuple[str, str, Any]]) -> None:
        """Deliver what waits; ``pending`` holds the events not yet sent to every client."""
        pending.extend(self._outbox.drain())
        events = []
        for event, job_id, payload in pending:
            data = payload if isinstance(payload, dict) else payload.to_dict()
            self._remember(event, job_id, data)
            events.append((event, job_id, data))
        pending.clear()
        pending.extend(events)
        await self._catch_up_slow_clients()
        # New clients get the state including these events, so not the events too.
        welcomed = await self._welcome_joiners()
        while pending:
            event, job_id, data = pending[0]
            await self._broadcast(event, job_id, data, skip=welcomed)
            pending.popleft()
            # Let the clients' writers empty their queues before the next event.
            await asyncio.sleep(0)

    def _failed(self, exc: Exception, lost: int) -> None:
        stats = self.stats
        stats.errors += 1
        stats.dropped += lost
        stats.failing = True
        stats.last_error = f"{type(exc).__name__}: {exc}"
        stats.last_error_at = time.time()
        if self._streak % _LOG_EVERY == 0:
            logger.error(
                "mirror: a fan-out round failed (%d in a row), %d events not delivered; "
                "the next round runs as usual",
                self._streak + 1,
                lost,
                exc_info=exc,
            )
        self._streak += 1

    def _succeeded(self) -> None:
        if self._streak:
            logger.warning("mirror: delivering again after %d failed rounds", self._streak)
            self._streak = 0
            self.stats.failing = False

    def _remember(self, event: str, job_id: str, data: dict[str, Any]) -> None:
        if event == STATUS_EVENT and isinstance(data.get("owner"), str):
            self._owners[job_id] = data["owner"]
        if isinstance(data.get("network_id"), str):
            self._networks[job_id] = data["network_id"]
        if event == STATUS_EVENT and data.get("status") not in GOING:
            self._running.pop(job_id, None)
        elif event in (STATUS_EVENT, UPDATE_EVENT):
            self._running.setdefault(job_id, {})[event] = data

    def _backlog(self, sid: str) -> int | None:
        eio_sid: str | None = self._sio.manager.eio_sid_from_sid(sid, _NAMESPACE)
        return None if eio_sid is None else _engineio.backlog(self._sio.eio, eio_sid)

    def _limit(self, sid: str) -> int:
        """Packets that may wait for this client before it counts as slow."""
        eio_sid: str | None = self._sio.manager.eio_sid_from_sid(sid, _NAMESPACE)
        polling = eio_sid is None or _engineio.polling(self._sio.eio, eio_sid)
        return POLL_BACKLOG if polling else SLOW_BACKLOG

    def _wants(self, sid: str, job_id: str) -> bool:
        """Whether this client follows this job (every client follows every job unless it asked)."""
        follow = self._follow.get(sid)
        if follow is None:
            return True
        name, value = follow
        if name == "job_id":
            return job_id == value
        known = self._owners if name == "owner" else self._networks
        return known.get(job_id) == value

    def _rooms(self, job_id: str) -> list[str]:
        """The rooms of the clients an event of this job goes to."""
        rooms = [_ROOM, f"job_id:{job_id}"]
        if job_id in self._owners:
            rooms.append(f"owner:{self._owners[job_id]}")
        if job_id in self._networks:
            rooms.append(f"network_id:{self._networks[job_id]}")
        return rooms

    async def _send(self, sid: str, event: str, data: dict[str, Any]) -> None:
        # ignore_queue: each server delivers to its own clients (with a Redis manager the
        # emit would otherwise reach every other hub's clients too).
        await self._sio.emit(event, data, to=sid, namespace=_NAMESPACE, ignore_queue=True)
        self.stats.sent += 1

    async def _broadcast(self, event: str, job_id: str, data: dict[str, Any], skip: set[str]) -> None:
        skipped = list(skip)
        sent = 0
        for sid in self._clients:
            if sid in skip:
                continue
            if not self._wants(sid, job_id):
                skipped.append(sid)
                continue
            catch = self._slow.get(sid)
            if catch is not None and not catch.admit(event, job_id, data):
                skipped.append(sid)  # kept for its catch-up, or an epoch it has had
                continue
            backlog = self._backlog(sid)
            if backlog is None:
                skipped.append(sid)
                continue
            if backlog < self._limit(sid):
                sent += 1
                if catch is not None:
                    catch.sent(event, job_id, data)
                continue
            skipped.append(sid)
            if catch is None:
                catch = self._slow[sid] = CatchUp()
            catch.fall_behind(event, job_id, data)
        if sent:
            # One encoding for every client (python-socketio reuses the packet).
            await self._sio.emit(
                event, data, to=self._rooms(job_id), namespace=_NAMESPACE, skip_sid=skipped, ignore_queue=True
            )
            self.stats.sent += sent

    async def _welcome_joiners(self) -> set[str]:
        """Send each new client the state of every running job, then treat it as a client."""
        if not self._joining:
            return set()
        welcomed = set()
        state = self._running_state()
        # A joiner leaves the set only once welcomed: after a failed round the next retries.
        for sid in list(self._joining):
            backlog = self._backlog(sid)
            if backlog is not None:
                since = self._since.get(sid, {})
                # with since, those jobs' updates come with the replay
                mine = [
                    (e, d)
                    for e, d in state
                    if (e != UPDATE_EVENT or d["job_id"] not in since) and self._wants(sid, d["job_id"])
                ]
                room = max(0, self._limit(sid) - backlog)
                for event, data in mine[:room]:
                    await self._send(sid, event, data)
                # Sending yields to the loop: a client that left meanwhile is gone from
                # the joiners (on_disconnect) and must not become a client.
                if sid in self._joining:
                    follow = self._follow.get(sid)
                    joined = _ROOM if follow is None else f"{follow[0]}:{follow[1]}"
                    await self._sio.enter_room(sid, joined, namespace=_NAMESPACE)
                    self._clients.add(sid)
                    if since or len(mine) > room:  # the rest once it has read these
                        catch = self._slow[sid] = CatchUp(since)
                        for event, data in mine[room:]:
                            catch.fall_behind(event, data["job_id"], data)
                        # a job of `since` that has ended: its final status after its replay
                        for job_id in since:
                            final = await self._history.ended(job_id)
                            if final is not None:
                                catch.fall_behind(STATUS_EVENT, job_id, final)
            self._since.pop(sid, None)
            self._joining.discard(sid)
            welcomed.add(sid)
        return welcomed

    def _running_state(self) -> list[tuple[str, dict[str, Any]]]:
        state = []
        for events in self._running.values():
            for event in (STATUS_EVENT, UPDATE_EVENT):
                if event in events:
                    state.append((event, events[event]))
        # Runs that started before this process's mirror existed: their latest update.
        for job in self._registry.active_jobs():
            if job.job_id not in self._running and job.status in GOING:
                state.append((STATUS_EVENT, status_payload(job)))
                latest = job.latest
                if latest is not None:
                    state.append((UPDATE_EVENT, latest.to_dict()))
        return state

    async def _catch_up_slow_clients(self) -> None:
        self._catch_up_interval = SLOW_CHECK_INTERVAL
        for sid, catch in list(self._slow.items()):
            if not catch.behind:
                continue
            backlog = self._backlog(sid)
            if backlog is None:
                self._slow.pop(sid, None)
            elif backlog <= CATCH_UP_BACKLOG:
                lost = catch.coalesced
                for event, data in await catch.next(self._history, self._limit(sid) - backlog):
                    await self._send(sid, event, data)
                self.stats.coalesced += catch.coalesced - lost
                if catch.behind:
                    self._catch_up_interval = CATCH_UP_INTERVAL
