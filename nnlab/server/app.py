"""The one ASGI app: python-socketio at ``/socket.io/``, Starlette for everything else.

``socketio.ASGIApp(sio, other_asgi_app=starlette_app)`` sits at the root. Starlette carries
the REST routes (:mod:`nnlab.server.api`), the test page and ``CORSMiddleware`` allowing every
origin; python-socketio answers CORS for both of its transports itself (one layer each: two
layers would send two ``Access-Control-Allow-Origin`` headers, which browsers refuse).
Starlette's lifespan subscribes the server to the process's mirror and starts the fan-out.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import socketio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from nnlab.registry import Registry, registry
from nnlab.server import _engineio
from nnlab.server.api import RestApi
from nnlab.server.fanout import Fanout
from nnlab.server.mirror import Outbox, get_mirror

__all__ = ["PING_INTERVAL", "PING_TIMEOUT", "ServerApp", "create_app"]

#: Seconds between the server's Engine.IO pings.
PING_INTERVAL = 10
#: Seconds a client has to answer a ping before it is dropped (a frozen tab, a dead link).
PING_TIMEOUT = 10
#: Largest message a client may send (no client-to-server event is needed at all).
MAX_CLIENT_MESSAGE = 64 * 1024

TEST_PAGE = "test_socketio.html"


@dataclass
class ServerApp:
    """The root ASGI app and the parts the runner needs to stop it cleanly."""

    asgi: Any
    sio: socketio.AsyncServer
    fanout: Fanout

    async def close_clients(self) -> None:
        """Close every Engine.IO connection at once (a held long-poll would delay a stop
        by the ping timeout), then stop python-socketio's background task."""
        await _engineio.close_all(self.sio.eio)
        await self.sio.shutdown()


def _page() -> bytes:
    return resources.files("nnlab.server").joinpath("static", TEST_PAGE).read_bytes()


def create_app(
    *,
    registry: Registry = registry,
    ping_interval: float = PING_INTERVAL,
    ping_timeout: float = PING_TIMEOUT,
) -> ServerApp:
    """Build the app; it mirrors runs only while served (between lifespan start and end)."""
    sio = socketio.AsyncServer(
        async_mode="asgi",
        cors_allowed_origins="*",
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_http_buffer_size=MAX_CLIENT_MESSAGE,
        # Send CONNECT before the connect handler runs, so the replay of running jobs
        # (queued by the fan-out) can never reach a client before it knows it is connected.
        always_connect=True,
        logger=False,
        engineio_logger=False,
    )
    mirror = get_mirror(registry)
    outbox = Outbox()
    fanout = Fanout(sio, outbox, registry)
    sio.on("connect", fanout.on_connect)
    sio.on("disconnect", fanout.on_disconnect)
    # A closing polling client's held GET is answered at once (not after the ping timeout).
    _engineio.answer_held_polls(sio.eio)
    api = RestApi(registry, clients=lambda: fanout.clients, mirror=fanout.stats.to_dict)
    page = _page()

    async def test_page(request: Request) -> Response:
        return Response(page, media_type="text/html", headers={"Cache-Control": "no-cache"})

    async def index(request: Request) -> Response:
        # Relative, so it also works behind a path prefix such as /proxy/8000/.
        return RedirectResponse(TEST_PAGE, status_code=307)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse(
            {"error": f"{exc.detail}: {request.method} {request.url.path}", "field": None},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        mirror.subscribe(outbox)
        await fanout.start()
        try:
            yield
        finally:
            await fanout.stop()
            mirror.unsubscribe(outbox)

    starlette_app = Starlette(
        routes=[
            *api.routes(),
            Route(f"/{TEST_PAGE}", test_page, methods=["GET"]),
            Route("/", index, methods=["GET"]),
        ],
        middleware=[
            Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"])
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    root = socketio.ASGIApp(sio, other_asgi_app=starlette_app, socketio_path="socket.io")
    return ServerApp(asgi=root, sio=sio, fanout=fanout)
