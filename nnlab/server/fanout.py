"""The server loop's side of the mirror: drain the outbox and fan each event out to clients.

Runs on the server's event loop only, woken by the pacer (:mod:`nnlab.server.pacing`) when
events wait. For every event it encodes one Socket.IO packet and puts it in each connected
client's Engine.IO queue. Three rules keep clients consistent and memory bounded:

* **Late joiners.** A client that has just connected gets, before anything else, the
  lifecycle status and the latest ``training_update`` of every running job (counting every
  event handed over so far), then every later event; it never gets an epoch twice.
* **Slow clients are caught up, not buffered.** python-socketio queues without limit. A
  client whose queue holds more than ``SLOW_BACKLOG`` packets (a frozen tab, a stalled
  network) gets nothing more for now; for each job only its newest update and status are
  kept for it, and sent once its queue has drained to ``CATCH_UP_BACKLOG``. Memory per such
  client is bounded by ``SLOW_BACKLOG`` packets plus one update per job, however fast
  training runs; a client that stops answering pings is dropped by Engine.IO.
* **Healthy clients get every event, in order.** Between two events the loop yields, so the
  clients' writers empty their queues and a burst of epochs never looks like a slow client.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from engineio import packet as eio_packet
from socketio import packet as sio_packet

from nnlab.server.mirror import STATUS_EVENT, UPDATE_EVENT, Outbox, status_payload
from nnlab.server.pacing import Pacer

if TYPE_CHECKING:
    import socketio

    from nnlab.registry import Registry

__all__ = ["CATCH_UP_BACKLOG", "SLOW_BACKLOG", "Fanout"]

#: Packets waiting for one client above which it is treated as slow.
SLOW_BACKLOG = 64
#: A slow client's queue length at which it is caught up and treated as healthy again.
CATCH_UP_BACKLOG = 8
#: Seconds between checks on slow clients (only while there are any).
SLOW_CHECK_INTERVAL = 0.05

_NAMESPACE = "/"


class Fanout:
    """Delivers the outbox's events to every client of one Socket.IO server."""

    def __init__(self, sio: socketio.AsyncServer, outbox: Outbox, registry: Registry) -> None:
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
        #: Slow clients -> for each (job id, event) the newest payload they have not had.
        self._slow: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        #: Running jobs as clients have seen them: job id -> {event: payload}.
        self._running: dict[str, dict[str, dict[str, Any]]] = {}

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

    @property
    def clients(self) -> int:
        """Number of connected Socket.IO clients."""
        return len(self._clients) + len(self._joining)

    # ------------------------------------------------------------------ Socket.IO handlers
    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        self._joining.add(sid)
        if self._kick is not None:
            self._kick.set()

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self._joining.discard(sid)
        self._clients.discard(sid)
        self._slow.pop(sid, None)

    # ------------------------------------------------------------------ the loop
    async def _run(self) -> None:
        assert self._kick is not None
        kick = self._kick
        while True:
            if self._slow:
                with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                    await asyncio.wait_for(kick.wait(), SLOW_CHECK_INTERVAL)
            else:
                await kick.wait()
            kick.clear()
            if self._pacer is not None:
                self._pacer.drained()
            events = []
            for event, job_id, payload in self._outbox.drain():
                data = payload if isinstance(payload, dict) else payload.to_dict()
                self._remember(event, job_id, data)
                events.append((event, job_id, data))
            await self._catch_up_slow_clients()
            # New clients get the state including these events, so not the events too.
            welcomed = await self._welcome_joiners()
            for event, job_id, data in events:
                await self._broadcast(event, job_id, data, skip=welcomed)
                # Let the clients' writers empty their queues before the next event.
                await asyncio.sleep(0)

    def _remember(self, event: str, job_id: str, data: dict[str, Any]) -> None:
        if event == STATUS_EVENT and data.get("status") != "running":
            self._running.pop(job_id, None)
        elif event in (STATUS_EVENT, UPDATE_EVENT):
            self._running.setdefault(job_id, {})[event] = data

    def _encode(self, event: str, data: dict[str, Any]) -> eio_packet.Packet:
        pkt = self._sio.packet_class(sio_packet.EVENT, namespace=_NAMESPACE, data=[event, data])
        return eio_packet.Packet(eio_packet.MESSAGE, pkt.encode())

    def _backlog(self, eio_sid: str) -> int | None:
        socket = self._sio.eio.sockets.get(eio_sid)
        return None if socket is None or socket.closed else socket.queue.qsize()

    def _eio_sid(self, sid: str) -> str | None:
        eio_sid: str | None = self._sio.manager.eio_sid_from_sid(sid, _NAMESPACE)
        return eio_sid

    async def _send(self, eio_sid: str, pkt: Any) -> None:
        await self._sio.eio.send_packet(eio_sid, pkt)

    async def _broadcast(self, event: str, job_id: str, data: dict[str, Any], skip: set[str]) -> None:
        pkt = self._encode(event, data)
        key = (job_id, event)
        for sid in list(self._clients):
            if sid in skip:
                continue
            missed = self._slow.get(sid)
            if missed is None:
                eio_sid = self._eio_sid(sid)
                backlog = None if eio_sid is None else self._backlog(eio_sid)
                if backlog is None:
                    continue
                if backlog < SLOW_BACKLOG:
                    await self._send(eio_sid, pkt)  # type: ignore[arg-type]
                    continue
                missed = self._slow[sid] = {}
            missed.pop(key, None)  # the newest goes last, so catch-up keeps the order
            missed[key] = data

    async def _welcome_joiners(self) -> set[str]:
        """Send each new client the state of every running job, then treat it as a client."""
        if not self._joining:
            return set()
        joiners, self._joining = self._joining, set()
        packets = [self._encode(event, data) for event, data in self._running_state()]
        for sid in joiners:
            eio_sid = self._eio_sid(sid)
            if eio_sid is None:
                continue
            for pkt in packets:
                await self._send(eio_sid, pkt)
            self._clients.add(sid)
        return joiners

    def _running_state(self) -> list[tuple[str, dict[str, Any]]]:
        state = []
        for events in self._running.values():
            for event in (STATUS_EVENT, UPDATE_EVENT):
                if event in events:
                    state.append((event, events[event]))
        # Runs that started before this process's mirror existed: their latest update.
        for job in self._registry.active_jobs():
            if job.job_id not in self._running and job.status == "running":
                state.append((STATUS_EVENT, status_payload(job)))
                latest = job.latest
                if latest is not None:
                    state.append((UPDATE_EVENT, latest.to_dict()))
        return state

    async def _catch_up_slow_clients(self) -> None:
        for sid, missed in list(self._slow.items()):
            eio_sid = self._eio_sid(sid)
            backlog = None if eio_sid is None else self._backlog(eio_sid)
            if backlog is None:
                self._slow.pop(sid, None)
            elif backlog <= CATCH_UP_BACKLOG:
                del self._slow[sid]
                for (_, event), data in missed.items():
                    await self._send(eio_sid, self._encode(event, data))  # type: ignore[arg-type]
