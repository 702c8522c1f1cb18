"""The hub's Socket.IO client manager: python-socketio's Redis manager, with the class's
runs routed through the hub's own fan-out.

Kernels publish every event of a run as a broadcast on the class channel (python-socketio's
write-only ``RedisManager``). A plain ``AsyncRedisManager`` would hand such a broadcast to
every client of the hub at once, with none of what the fan-out (:mod:`nnlab.server.fanout`)
gives its clients: the state of running jobs when they connect, replay (``auth: {since}``),
slow clients caught up, at most 16 packets per poll, no epoch twice. So :class:`ClassManager`
hands the broadcasts of the three training events to a ``sink`` (the hub's class view,
:mod:`nnlab.hub.classview`) instead; everything else behaves as python-socketio's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from nnlab.events import DIAGNOSTICS_EVENT, STATUS_EVENT, UPDATE_EVENT

__all__ = ["CLASS_EVENTS", "ClassManager", "Sink"]

#: The events kernels publish; their broadcasts go to the class view.
CLASS_EVENTS = frozenset({UPDATE_EVENT, STATUS_EVENT, DIAGNOSTICS_EVENT})

#: Where a kernel's event goes: ``await sink(event, payload)``.
Sink = Callable[[str, dict[str, Any]], Awaitable[None]]


class ClassManager(socketio.AsyncRedisManager):  # type: ignore[misc]  # socketio is untyped
    """``AsyncRedisManager`` whose received broadcasts of :data:`CLASS_EVENTS` go to ``sink``.

    The hub's own deliveries must use ``emit(..., ignore_queue=True)``: each hub serves its
    own clients, and a published delivery would reach every other hub's clients too.
    """

    def __init__(self, url: str, channel: str, *, redis_options: dict[str, Any] | None = None) -> None:
        super().__init__(url, channel=channel, redis_options=redis_options)
        #: Set by the class view once it is ready; until then kernels' events are left to
        #: its reconcile (they are in Redis already).
        self.sink: Sink | None = None

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        # An internal of python-socketio's AsyncPubSubManager (5.x): it is called with each
        # "emit" message received from the channel (and with this process's own published
        # emits), and its default delivers the event to this server's clients right away.
        # Overriding it is the one place where a kernel's broadcast can be taken over before
        # it reaches clients; tests/test_hub_server.py pins the behaviour relied on here.
        if message.get("event") in CLASS_EVENTS and message.get("room") is None:
            data = message.get("data")
            payload = data[0] if isinstance(data, list) and len(data) == 1 else data
            if self.sink is not None and isinstance(payload, dict) and not message.get("binary"):
                await self.sink(str(message["event"]), payload)
            return
        await super()._handle_emit(message)

    def start(self) -> None:
        """Start listening on the channel now (python-socketio would wait for the first client)."""
        server = self.server
        # python-socketio initializes its manager (and so subscribes) on the first Engine.IO
        # connection, flagging it with this attribute; a hub must follow the class before
        # any dashboard connects, so it does the same at start.
        if not server.manager_initialized:
            server.manager_initialized = True
            self.initialize()

    async def close(self) -> None:
        """Stop listening and close the Redis connections."""
        task = getattr(self, "thread", None)
        if isinstance(task, asyncio.Future):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.pubsub is not None:
            with contextlib.suppress(Exception):
                await self.pubsub.aclose()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()
        self.connected = False
