"""The background server: uvicorn on its own thread and event loop, one per process.

The listening socket is bound in the caller's thread, so a busy port fails right there with
:class:`PortInUseError` and ``port=0`` is resolved before anything starts. uvicorn then runs
with ``asyncio.run`` in a daemon thread (never on a notebook kernel's own loop, which is busy
whenever a cell runs). Stopping closes every client connection first (a held long-poll would
otherwise delay the stop), then asks uvicorn to exit and joins the thread. The server stack
(socketio, starlette, uvicorn) is imported on the first start, not with this module.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import errno
import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import nnlab.server._uvicorn as _uvicorn
from nnlab.hub._redis import check_redis_url, import_redis, redacted
from nnlab.hub.connect import current as connected_publisher
from nnlab.hub.keys import CHANNEL, Keys
from nnlab.hub.publish import Publisher
from nnlab.params import is_int, positive_int
from nnlab.registry import registry as process_registry
from nnlab.server.admission import DEFAULT_MAX_QUEUED_JOBS, default_max_running_jobs
from nnlab.server.auth import check_exposure, check_token
from nnlab.server.bodies import DEFAULT_MAX_TOTAL_PARAMETERS
from nnlab.store import Store, resolve_store

if TYPE_CHECKING:
    from nnlab.launch import StoreArg
    from nnlab.registry import Registry
    from nnlab.server.app import ServerApp
    from nnlab.server.proxy import Endpoints

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "PortInUseError", "Server", "current", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

# Library etiquette: nothing from the server thread reaches a notebook cell's output unless
# the user configures logging (log records would land in whichever cell is running).
for _name in ("nnlab.server", "uvicorn", "uvicorn.error", "uvicorn.access"):
    logging.getLogger(_name).addHandler(logging.NullHandler())


class PortInUseError(OSError):
    """The port is taken (by another program, or an nnlab server in another kernel)."""


def _check_port(port: Any) -> int:
    if not is_int(port) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an int in 0..65535 (0 picks a free port), got {port!r}")
    return int(port)


def _bind(host: str, port: int) -> socket.socket:
    """A listening, non-blocking socket on ``host:port``, or a clear error."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ValueError(f"host {host!r} cannot be resolved ({exc}): use e.g. '127.0.0.1'") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Lets a restarted server take the port back while old connections linger in TIME_WAIT;
        # it does not allow two servers on one port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            other = port + 1 if port < 65535 else DEFAULT_PORT
            raise PortInUseError(
                errno.EADDRINUSE,
                f"port {port} on {host} is already in use (by another program, or an nnlab server "
                f"in another kernel): use another port, e.g. nnlab.serve(port={other}) or "
                f"`nnlab serve --port {other}`, or port 0 for any free one",
            ) from None
        if exc.errno == errno.EACCES:
            raise PermissionError(
                errno.EACCES,
                f"not allowed to listen on port {port} on {host} (ports below 1024 need root): "
                "use a port such as 8000, or port 0 for any free one",
            ) from None
        raise
    return sock


def _check_class(redis: Any, channel: Any) -> tuple[str | None, str]:
    """``(redis, channel)`` checked: a Redis URL (or ``None``) and a class name."""
    if redis is None:
        return None, Keys(channel).channel
    url = check_redis_url(redis, "redis")
    import_redis()  # says how to install the client, before anything starts
    return url, Keys(channel).channel


class Server:
    """nnlab's Starlette + python-socketio server, running in a background thread.

    ``start()`` returns once the port accepts connections; ``stop()`` frees it. ``url`` is
    where clients connect (``url + "/test_socketio.html"`` is the test page). Most code
    calls :func:`serve` instead, which keeps one server per process; its docstring
    explains ``token``, ``store`` and the limits.
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        registry: Registry | None = None,
        token: str | None = None,
        max_running_jobs: int | None = None,
        max_queued_jobs: int = DEFAULT_MAX_QUEUED_JOBS,
        max_total_parameters: int = DEFAULT_MAX_TOTAL_PARAMETERS,
        store: StoreArg = None,
        redis: str | None = None,
        channel: str = CHANNEL,
    ) -> None:
        if not isinstance(host, str):
            raise ValueError(f"host must be a string such as '127.0.0.1', got {host!r}")
        self.token = check_token(token)
        check_exposure(host, self.token)  # before anything binds
        if max_running_jobs is None:
            max_running_jobs = default_max_running_jobs()
        self.max_running_jobs = positive_int("max_running_jobs", max_running_jobs, "2")
        self.max_queued_jobs = positive_int("max_queued_jobs", max_queued_jobs, "2")
        self.max_total_parameters = positive_int("max_total_parameters", max_total_parameters, "2")
        #: The run store it saves REST runs to, answers for and follows (``None``: off).
        self.store: Store | None = resolve_store(store)
        #: The class's Redis (a classroom hub) and the class's name, or ``None``.
        self.redis, self.channel = _check_class(redis, channel)
        self.host = host
        self.requested_port = _check_port(port)
        #: The networks and jobs it serves and mirrors (the process's, unless given).
        self.registry = registry
        self.port = self.requested_port
        self._app: ServerApp | None = None
        self._uvicorn: Any = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        #: A hub's publisher of its own runs to the class (``None``: not a hub, or
        #: ``nnlab.connect`` publishes them already).
        self._publisher: Publisher | None = None

    # ------------------------------------------------------------------ state
    @property
    def url(self) -> str:
        """``http://host:port`` of the server."""
        from nnlab.server.proxy import direct_url

        return direct_url(self.host, self.port)

    def store_line(self) -> str:
        """The banner's line about the run store."""
        if self.store is None:
            return "runs: not kept on disk (run store off)"
        state = "" if self.store.healthy else f" -- NOT SAVING: {self.store.failure}"
        return f"runs: {self.store.path} (the runs of every kernel on this machine){state}"

    def class_line(self) -> str | None:
        """The banner's line about the class a hub serves (``None``: not a hub)."""
        if self.redis is None:
            return None
        line = f"class {self.channel!r} on {redacted(self.redis)}: every connected kernel's runs"
        view = self._app.classview if self._app is not None else None
        if view is not None and view.state.last_error is not None and not view.state.connected:
            line += f" -- REDIS NOT ANSWERING: {view.state.last_error}"
        return line + f" (dashboard: {self.url}/dashboard)"

    def endpoints(self) -> Endpoints:
        """Where browsers and dashboards reach this server (proxied on Binder/JupyterHub)."""
        from nnlab.server.proxy import endpoints

        return endpoints(self.port, self.host)

    @property
    def running(self) -> bool:
        """Whether the server is up and accepting connections."""
        thread = self._thread
        return bool(
            thread is not None
            and thread.is_alive()
            and self._uvicorn is not None
            and self._uvicorn.started
            and not self._uvicorn.should_exit
        )

    @property
    def clients(self) -> int:
        """Number of connected Socket.IO clients."""
        return self._app.fanout.clients if self._app is not None and self.running else 0

    def __repr__(self) -> str:
        state = f"running, {self.clients} clients" if self.running else "stopped"
        return f"<nnlab Server {self.url} · {state}>"

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ start / stop
    def start(self, timeout: float = 10.0) -> Server:
        """Start serving and return once the port accepts connections (no-op if running).

        Raises :class:`PortInUseError` if the port is taken, ``RuntimeError`` if the server
        did not come up within ``timeout`` seconds.
        """
        if self.running:
            return self
        sock = _bind(self.host, self.requested_port)
        self.port = sock.getsockname()[1]
        try:
            import uvicorn

            from nnlab.server.app import create_app

            self._app = create_app(
                registry=self.registry,
                token=self.token,
                max_running_jobs=self.max_running_jobs,
                max_queued_jobs=self.max_queued_jobs,
                max_total_parameters=self.max_total_parameters,
                store=self.store,
                redis=self.redis,
                channel=self.channel,
            )
            config = uvicorn.Config(
                self._app.asgi,
                log_config=None,
                log_level="warning",
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=2,
                # Small JSON updates: compressing them costs more CPU than it saves.
                ws_per_message_deflate=False,
                ws_max_size=1 << 20,
            )
            self._uvicorn = uvicorn.Server(config)
        except BaseException:
            sock.close()
            raise
        self._error = None
        self._thread = threading.Thread(
            target=self._serve_forever, args=(sock,), name="nnlab-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._uvicorn.should_exit = True
                self._thread.join(2.0)
                reason = repr(self._error) if self._error else f"not up after {timeout:g}s"
                raise RuntimeError(f"the nnlab server on {self.url} failed to start: {reason}")
            time.sleep(0.002)
        self._start_publisher()
        return self

    def _start_publisher(self) -> None:
        """A hub publishes the runs it trains (over REST) to the class like a kernel does,
        so the other hubs of the class show them too (this one shows them from its registry)."""
        if self.redis is None or self._publisher is not None:
            return
        runs = self.registry if self.registry is not None else process_registry
        kernel = connected_publisher()
        if (
            kernel is not None
            and kernel.registry is runs
            and kernel.url == self.redis
            and kernel.keys.channel == self.channel
        ):
            return  # nnlab.connect publishes them already
        self._publisher = Publisher(self.redis, channel=self.channel, registry=runs).start()
        if self._app is not None:
            self._app.announced.append(self._publisher.publish)  # a job queued for a slot

    def _serve_forever(self, sock: socket.socket) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            try:
                await self._uvicorn.serve(sockets=[sock])
            finally:
                sock.close()

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by start(); never printed into a cell
            self._error = exc

    def stop(self, timeout: float = 5.0) -> None:
        """Close every client connection, stop serving and free the port (no-op if stopped)."""
        try:
            self._stop_serving(timeout)
        finally:
            # after the server's jobs were cancelled, so their last status reaches the class
            publisher, self._publisher = self._publisher, None
            if publisher is not None:
                publisher.stop()

    def _stop_serving(self, timeout: float) -> None:
        thread, loop, app = self._thread, self._loop, self._app
        if thread is None or not thread.is_alive():
            return
        if loop is not None and app is not None and not loop.is_closed():
            try:
                future = asyncio.run_coroutine_threadsafe(app.close_clients(), loop)
                future.result(timeout=2.0)
            except Exception:  # stopping goes on: uvicorn's graceful timeout is the backstop
                logging.getLogger("nnlab.server").debug("closing clients failed", exc_info=True)
        _uvicorn.request_exit(self._uvicorn)
        if thread is threading.current_thread():
            return
        thread.join(min(timeout, 0.5))
        if thread.is_alive() and loop is not None and not loop.is_closed():
            # A client that stopped reading keeps its connection's writer waiting forever:
            # cut such connections instead of waiting for uvicorn's graceful timeout.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_uvicorn.abort_connections, self._uvicorn)
        thread.join(timeout)


_current: Server | None = None
_current_lock = threading.Lock()
_atexit_registered = False


def current() -> Server | None:
    """The server :func:`serve` started in this process, if it is running."""
    server = _current
    return server if server is not None and server.running else None


def _stop_current() -> None:
    server = _current
    if server is not None:
        server.stop()


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    token: str | None = None,
    max_running_jobs: int | None = None,
    max_queued_jobs: int = DEFAULT_MAX_QUEUED_JOBS,
    max_total_parameters: int = DEFAULT_MAX_TOTAL_PARAMETERS,
    store: StoreArg = None,
    redis: str | None = None,
    channel: str = CHANNEL,
    timeout: float = 10.0,
    quiet: bool = False,
) -> Server:
    """Serve the REST API, the Socket.IO mirror of every training run and the test page.

    Starts Starlette + python-socketio under uvicorn in a background thread and returns the
    running :class:`Server` once the port accepts connections. Calling it again (re-running
    the cell) returns the same server. ``port=0`` picks a free port; a busy port raises
    :class:`PortInUseError`. Every run in this process -- trained in a cell or over REST --
    is then sent to every connected client as ``training_update`` after each epoch, with
    ``training_status`` when it starts and ends. ``server.stop()`` frees the port (and
    cancels the REST jobs still waiting or running).

    Bounded load: at most ``max_running_jobs`` REST-started runs train at once (default
    ``$NNLAB_MAX_RUNNING_JOBS`` or the number of CPUs); up to ``max_queued_jobs`` more wait,
    ``queued``, first in first out (beyond that: 429 with ``Retry-After``); the networks
    held total at most ``max_total_parameters`` weights and biases. Runs started in a cell
    are never queued.

    Runs kept on disk: the server saves REST runs to the run store, lists its runs over REST
    (also after a restart: runs whose process died show as ``interrupted``, and
    ``POST /api/jobs/{id}/resume`` goes on with them) and mirrors the runs other kernels
    write to it. ``store`` picks the file as in :func:`nnlab.train` (default
    ``$NNLAB_STORE``, else the per-user file; ``False``: none). ``/api/health`` and the
    announcement show the file and whether runs are being saved.

    A classroom hub: with ``redis="redis://HOST:6379/0"`` it shows every run of every kernel
    connected to that Redis with ``nnlab.connect`` (the class ``channel``, default
    ``"nnlab"``): live, in replay and over REST, with the run's ``owner``, ``host`` and
    ``kernel_id``; clients may follow only some runs (``auth: {owner}``, ``{network_id}`` or
    ``{job_id}``); cancelling, pausing or resuming a kernel's run asks that kernel.
    ``/api/health`` shows the Redis state (``redis``), the announcement the class.

    Exposure: on loopback (the default) the server is open unless ``token`` is given. Any
    other ``host`` needs a ``token`` (e.g. ``nnlab.server.auth.generate_token()``); REST
    calls then send ``Authorization: Bearer <token>`` (or ``?token=``), Socket.IO clients
    ``auth: {token}``, and the test page is opened with ``?token=<token>``.

    Unless ``quiet``, it shows where browsers and dashboards reach the server: the test
    page, the REST base and the Socket.IO client options -- through JupyterHub's or
    jupyter-server-proxy's path when the kernel runs behind one, as on Binder
    (:mod:`nnlab.server.proxy`).

    >>> server = serve(port=0, quiet=True)
    >>> server.running, server.url.startswith("http://127.0.0.1:")
    (True, True)
    >>> serve(port=0, quiet=True) is server
    True
    >>> server.stop(); server.running
    False
    """
    global _current, _atexit_registered
    _check_port(port)
    redis, channel = _check_class(redis, channel)
    wanted = resolve_store(store)
    with _current_lock:
        server = _current
        if server is not None and server.running:
            same = (
                server.host == host
                and port in (0, server.port, server.requested_port)
                and server.token == token
                and server.max_queued_jobs == max_queued_jobs
                and server.max_total_parameters == max_total_parameters
                and max_running_jobs in (None, server.max_running_jobs)
                and wanted is server.store
                and (redis, channel) == (server.redis, server.channel)
            )
            if same:
                if not quiet:
                    _announce(server)
                return server
            raise RuntimeError(
                f"an nnlab server is already running at {server.url} (with other options): use "
                f"it (nnlab.server.current()), or stop it first (nnlab.server.current().stop())"
            )
        server = Server(
            host,
            port,
            token=token,
            max_running_jobs=max_running_jobs,
            max_queued_jobs=max_queued_jobs,
            max_total_parameters=max_total_parameters,
            store=wanted,
            redis=redis,
            channel=channel,
        ).start(timeout)
        _current = server
        if not _atexit_registered:
            atexit.register(_stop_current)
            _atexit_registered = True
    if not quiet:
        _announce(server)
    return server


def _announce(server: Server) -> None:
    """Show the server's addresses: clickable links in a notebook, lines elsewhere."""
    from nnlab._kernel import display, in_kernel

    links = server.endpoints()
    if in_kernel():
        display(links)  # HTML links, and the same lines as text/plain
    else:
        print(links, flush=True)
    print(server.store_line(), flush=True)
    if server.class_line() is not None:
        print(server.class_line(), flush=True)
