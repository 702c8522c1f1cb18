"""The one ASGI app: python-socketio at ``/socket.io/``, Starlette for everything else.

``socketio.ASGIApp(sio, other_asgi_app=starlette_app)`` sits at the root. Starlette carries
the REST routes (:mod:`nnlab.server.api`), the test page and ``CORSMiddleware`` allowing every
origin; python-socketio answers CORS for both of its transports itself (one layer each: two
layers would send two ``Access-Control-Allow-Origin`` headers, which browsers refuse).
Starlette's lifespan subscribes the server to the process's mirror and starts the fan-out;
when it ends, REST jobs still waiting or running are cancelled and their workers joined.
With a token (:mod:`nnlab.server.auth`) the REST API and Socket.IO connections need it.

A classroom hub (``redis=URL``) uses python-socketio's Redis manager
(:class:`nnlab.hub.manager.ClassManager`): kernels' runs reach the fan-out through the class
view (:mod:`nnlab.hub.classview`), which also answers the REST API and replays about them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
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

import nnlab.server._engineio as _engineio
from nnlab.events import STATUS_EVENT
from nnlab.hub.keys import CHANNEL
from nnlab.identity import kernel_id as this_kernel
from nnlab.registry import Registry
from nnlab.registry import registry as process_registry
from nnlab.server.admission import DEFAULT_MAX_QUEUED_JOBS, Admission, default_max_running_jobs
from nnlab.server.api import RestApi
from nnlab.server.auth import TokenGuard, TokenMiddleware, require_token_on_connect
from nnlab.server.bodies import DEFAULT_MAX_TOTAL_PARAMETERS
from nnlab.server.control import register_control_events
from nnlab.server.fanout import Fanout
from nnlab.server.follow import Follower
from nnlab.server.mirror import Outbox, get_mirror, status_payload
from nnlab.server.proxy import TEST_PAGE
from nnlab.server.replay import History
from nnlab.store import Store

__all__ = ["PING_INTERVAL", "PING_TIMEOUT", "ServerApp", "create_app"]

#: Seconds between the server's Engine.IO pings.
PING_INTERVAL = 10
#: Seconds a client has to answer a ping before it is dropped (a frozen tab, a dead link).
PING_TIMEOUT = 10
#: Largest message a client may send (no client-to-server event is needed at all).
MAX_CLIENT_MESSAGE = 64 * 1024


@dataclass
class ServerApp:
    """The root ASGI app and the parts the runner needs to stop it cleanly."""

    asgi: Any
    sio: socketio.AsyncServer
    fanout: Fanout
    admission: Admission
    #: The class view of a hub (``None`` without Redis).
    classview: Any = None
    #: Also told ``(event, job_id, payload)`` of what the server announces itself (a REST
    #: job waiting for a slot): a hub's publisher, for the class.
    announced: list[Callable[[str, str, dict[str, Any]], None]] = field(default_factory=list)

    async def close_clients(self) -> None:
        """Close every Engine.IO connection at once (a held long-poll would delay a stop
        by the ping timeout), then stop python-socketio's background task."""
        await _engineio.close_all(self.sio.eio)
        await self.sio.shutdown()


def _page() -> bytes:
    return resources.files("nnlab.server").joinpath("static").joinpath(TEST_PAGE).read_bytes()


def create_app(
    *,
    registry: Registry | None = None,
    ping_interval: float = PING_INTERVAL,
    ping_timeout: float = PING_TIMEOUT,
    token: str | None = None,
    max_running_jobs: int | None = None,
    max_queued_jobs: int = DEFAULT_MAX_QUEUED_JOBS,
    max_total_parameters: int = DEFAULT_MAX_TOTAL_PARAMETERS,
    store: Store | None = None,
    redis: str | None = None,
    channel: str = CHANNEL,
) -> ServerApp:
    """Build the app; it mirrors runs only while served (between lifespan start and end).

    ``token``: REST calls and Socket.IO connections must present it (``None``: open).
    ``max_running_jobs`` (default ``$NNLAB_MAX_RUNNING_JOBS`` or the number of CPUs) REST
    jobs train at once, ``max_queued_jobs`` more wait; the networks held total at most
    ``max_total_parameters`` weights and biases. With a run ``store``, REST jobs are saved
    to it, the REST API answers for its runs too, and the runs other processes write to
    it are mirrored to clients (:mod:`nnlab.server.follow`). With a ``redis`` URL it is the
    classroom hub of the class ``channel``: it shows, replays and controls the runs of every
    kernel connected to that Redis.
    """
    guard = TokenGuard(token)
    if registry is None:
        registry = process_registry
    outbox = Outbox()
    manager = view = None
    if redis is not None:
        from nnlab.hub.classview import ClassView
        from nnlab.hub.manager import ClassManager

        manager = ClassManager(redis, channel)
        held_in = registry

        def held(job_id: str) -> bool:
            return _holds(held_in, job_id) or _holds(process_registry, job_id)

        def delivered(job_id: str, kernel_id: str | None) -> bool:
            """Whether the process's mirror puts the run in the outbox (then the class
            view must not: a client would get its events twice)."""
            if _holds(held_in, job_id):
                return True
            if _holds(process_registry, job_id):
                return mirror in process_registry.observers()
            # a run of another server's registry in this process: that server mirrors it
            return kernel_id is not None and kernel_id == this_kernel()

        async def broadcast(event: str, payload: dict[str, Any]) -> None:
            await sio.emit(event, payload, namespace="/")  # through Redis, to every hub

        def put(item: tuple[str, str, Any]) -> None:
            outbox.put(item)
            fanout.wake()  # the view runs on the server loop: no need to wait for the pacer

        view = ClassView(redis, channel, put, held, broadcast, delivered=delivered)
    sio = socketio.AsyncServer(
        client_manager=manager,
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
    fanout = Fanout(sio, outbox, registry, History(registry, store, view))
    sio.on("connect", fanout.on_connect)
    sio.on("disconnect", fanout.on_disconnect)
    # A closing polling client's held GET is answered at once (not after the ping timeout).
    _engineio.answer_held_polls(sio.eio)
    require_token_on_connect(sio, guard)

    announced: list[Callable[[str, str, dict[str, Any]], None]] = []

    def announce_queued(job: Any) -> None:
        payload = status_payload(job)
        mirror.publish(STATUS_EVENT, job.job_id, payload)
        for listener in announced:
            listener(STATUS_EVENT, job.job_id, payload)

    admission = Admission(
        registry,
        default_max_running_jobs() if max_running_jobs is None else max_running_jobs,
        max_queued_jobs,
        on_queued=announce_queued,
    )
    api = RestApi(
        registry,
        clients=lambda: fanout.clients,
        mirror=fanout.stats.to_dict,
        admission=admission,
        max_total_parameters=max_total_parameters,
        store=store,
        classview=view,
    )
    register_control_events(sio, api.control)  # pause_job, resume_job, set_learning_rate
    follower = None if store is None else Follower(store, registry, outbox, mirror)
    page = _page()

    async def test_page(request: Request) -> Response:
        return Response(page, media_type="text/html", headers={"Cache-Control": "no-cache"})

    async def index(request: Request) -> Response:
        # Relative, so it also works behind a path prefix such as /proxy/8000/; the query
        # (the page's ?token=) goes along.
        query = request.url.query
        return RedirectResponse(f"{TEST_PAGE}?{query}" if query else TEST_PAGE, status_code=307)

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
        if follower is not None:
            await follower.start()
        if manager is not None and view is not None:
            await view.start()
            manager.sink = view.receive
            manager.start()
        try:
            yield
        finally:
            if manager is not None and view is not None:
                manager.sink = None
                await view.stop()
                await manager.close()
            if follower is not None:
                await follower.stop()
            await asyncio.to_thread(admission.close)
            await fanout.stop()
            mirror.unsubscribe(outbox)

    starlette_app = Starlette(
        routes=[
            *api.routes(),
            Route(f"/{TEST_PAGE}", test_page, methods=["GET"]),
            Route("/", index, methods=["GET"]),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=["*"],
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=["Retry-After"],  # so a cross-origin dashboard can read a 429's
            ),
            Middleware(TokenMiddleware, guard=guard),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    root = socketio.ASGIApp(sio, other_asgi_app=starlette_app, socketio_path="socket.io")
    return ServerApp(
        asgi=root, sio=sio, fanout=fanout, admission=admission, classview=view, announced=announced
    )


def _holds(registry: Registry, job_id: str) -> bool:
    try:
        registry.job(job_id)
    except KeyError:
        return False
    return True
