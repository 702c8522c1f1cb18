"""The python-engineio internals nnlab relies on, in one place.

python-socketio's public API covers sending (``emit(..., to=, skip_sid=)``), disconnecting
and ``shutdown``; these few needs have none, so they read python-engineio's
``AsyncServer.sockets`` (session id -> ``AsyncSocket``) and each socket's ``queue`` (an
``asyncio.Queue`` of packets waiting for the client), ``closed`` and ``upgraded``.
``tests/test_adapters.py`` checks each of them against the installed version and fails
loudly when an upgrade changes them. Each function also has a fallback, so a changed
internal degrades one feature (said below) and logs once instead of breaking the server.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

__all__ = ["answer_held_polls", "backlog", "close_all", "polling"]

logger = logging.getLogger("nnlab.server")
_warned: set[str] = set()


def _warn_once(what: str, exc: BaseException) -> None:
    if what not in _warned:
        _warned.add(what)
        logger.warning("python-engineio changed (%s: %r); %s", type(exc).__name__, exc, what)


def backlog(eio: Any, eio_sid: str) -> int | None:
    """Packets waiting to be sent to one client; ``None`` if it is gone or closed.

    Fallback: 0, so every client counts as keeping up (slow clients are then buffered
    without limit until their ping timeout, python-socketio's own behaviour).
    """
    try:
        socket = eio.sockets.get(eio_sid)
        if socket is None or socket.closed:
            return None
        size: int = socket.queue.qsize()
    except AttributeError as exc:
        _warn_once("slow clients are no longer detected", exc)
        return 0
    return size


def polling(eio: Any, eio_sid: str) -> bool:
    """Whether a client is on the long-polling transport (not upgraded to websocket).

    Fallback: ``True``, the transport with the tighter limits.
    """
    try:
        socket = eio.sockets.get(eio_sid)
        return socket is None or not socket.upgraded
    except AttributeError as exc:
        _warn_once("every client is treated as polling", exc)
        return True


def answer_held_polls(eio: Any) -> None:
    """From now on, end the held long-poll of every polling client that closes, at once.

    python-engineio queues nothing when a client closes its connection, so its pending
    GET would be held for ``ping_interval + ping_timeout`` seconds (and python-socketio's
    client waits that long in ``disconnect()``). This wraps the ``disconnect`` handler
    python-socketio registered (``eio.handlers``) and then puts a ``None`` in the closing
    socket's queue, which ``AsyncSocket.poll()`` answers with an empty payload. A ``None``
    behind other packets is put back for the next poll, so no packet is lost. Call it
    after creating the ``socketio.AsyncServer``. Fallback: nothing; such a poll then ends
    at its timeout.
    """
    try:
        handle = eio.handlers["disconnect"]
    except (AttributeError, KeyError) as exc:
        _warn_once("a closing polling client's last poll waits for its timeout", exc)
        return

    async def on_disconnect(eio_sid: str, reason: Any = None) -> None:
        await handle(eio_sid, reason)
        try:
            socket = eio.sockets.get(eio_sid)
            if socket is not None and not socket.upgraded:
                socket.queue.put_nowait(None)
        except AttributeError as exc:
            _warn_once("a closing polling client's last poll waits for its timeout", exc)

    eio.on("disconnect", on_disconnect)


async def close_all(eio: Any) -> None:
    """Close every Engine.IO connection at once, without waiting for queues to drain.

    (``AsyncServer.disconnect()`` waits for each queue to be read, which a held long-poll
    or a client that stopped reading never does.) Fallback: nothing; uvicorn's graceful
    shutdown timeout then ends the connections.
    """
    try:
        sockets = list(eio.sockets.values())
    except AttributeError as exc:
        _warn_once("stopping waits for uvicorn's graceful timeout", exc)
        return
    await asyncio.gather(*(s.close(wait=False) for s in sockets), return_exceptions=True)
