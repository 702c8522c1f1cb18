"""The uvicorn internals nnlab's runner relies on, in one place.

uvicorn has no public API to stop a ``Server`` started with ``serve()`` from another
thread, nor to cut its connections. These read ``Server.should_exit`` (checked by its
main loop every 0.1 s) and ``Server.server_state.connections`` (each a protocol with the
asyncio ``transport`` it writes to). ``tests/test_adapters.py`` checks both against the
installed version and fails loudly when an upgrade changes them.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["abort_connections", "request_exit"]

logger = logging.getLogger("nnlab.server")


def request_exit(server: Any) -> None:
    """Ask a running ``uvicorn.Server`` to shut down (as its own SIGINT handler does)."""
    server.should_exit = True


def abort_connections(server: Any) -> int:
    """Cut every open connection of ``server`` at once; returns how many were cut.

    Call on the server's loop. A client that stopped reading keeps its connection's
    writer waiting forever, which would hold uvicorn's shutdown for its graceful timeout.
    Fallback: nothing is cut, and uvicorn's ``timeout_graceful_shutdown`` ends the wait.
    """
    try:
        connections = list(server.server_state.connections)
    except AttributeError as exc:
        logger.warning("uvicorn changed (%r): stopping waits for its graceful timeout", exc)
        return 0
    cut = 0
    for connection in connections:
        transport = getattr(connection, "transport", None)
        if transport is not None:
            transport.abort()
            cut += 1
    return cut
