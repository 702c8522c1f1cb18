"""Contract tests of the other packages' internals nnlab relies on (one adapter each).

Each test fails loudly, naming the adapter, when an upgrade of python-engineio, uvicorn,
python-socketio or ipykernel changes what it reads; the fallbacks are checked too (a changed internal
degrades one feature, with a warning, and never raises).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import inspect
import json
import logging
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from server_helpers import RawEngineIO, train

from nnlab.live import _ipykernel_hook
from nnlab.server import Server, _engineio, _uvicorn


@pytest.fixture
def server() -> Iterator[Server]:
    with Server(port=0) as running:
        yield running


def _on_loop(server: Server, coro: Any) -> Any:
    assert server._loop is not None
    return asyncio.run_coroutine_threadsafe(coro, server._loop).result(10)


async def _call(fn: Any, *args: Any) -> Any:
    return fn(*args)


# ---------------------------------------------------------------- python-engineio
def _polling_session(url: str) -> tuple[http.client.HTTPConnection, str, str]:
    """A bare polling client, connected to Socket.IO, that has not polled yet."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=40)
    conn.request("GET", "/socket.io/?EIO=4&transport=polling")
    sid = json.loads(conn.getresponse().read().decode()[1:])["sid"]
    path = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    conn.request("POST", path, body=b"40", headers={"Content-Type": "text/plain"})
    assert conn.getresponse().read() == b"OK"
    return conn, sid, path


def test_engineio_backlog_counts_the_packets_waiting_for_a_client(server: Server) -> None:
    eio = server._app.sio.eio  # type: ignore[union-attr]
    conn, sid, path = _polling_session(server.url)
    try:
        job = train(epochs=3)  # two statuses and three updates, on top of the CONNECT
        assert job.status == "completed"
        deadline = time.monotonic() + 20
        while (backlog := _on_loop(server, _call(_engineio.backlog, eio, sid))) != 6:
            changed = f"nnlab.server._engineio.backlog: {backlog!r} packets waiting, 6 queued; "
            assert backlog is not None, changed + "python-engineio's AsyncServer.sockets changed"
            assert backlog < 6, changed + "python-engineio's AsyncSocket.queue changed"
            assert time.monotonic() < deadline, "the events never reached the client's queue"
            time.sleep(0.02)
        conn.request("GET", path)
        assert conn.getresponse().read().count(b"\x1e") == 5  # six packets, one separator each
        assert _on_loop(server, _call(_engineio.backlog, eio, sid)) == 0
        assert _on_loop(server, _call(_engineio.backlog, eio, "no-such-sid")) is None
    finally:
        conn.close()


def test_engineio_polling_tells_the_transports_apart(server: Server) -> None:
    eio = server._app.sio.eio  # type: ignore[union-attr]
    conn, sid, _ = _polling_session(server.url)
    websocket = RawEngineIO(server.url)
    try:
        assert _on_loop(server, _call(_engineio.polling, eio, sid)) is True
        assert _on_loop(server, _call(_engineio.polling, eio, websocket.eio_sid)) is False, (
            "nnlab.server._engineio.polling: python-engineio's AsyncSocket.upgraded changed"
        )
    finally:
        conn.close()
        websocket.abort()


def test_engineio_close_all_closes_every_connection(server: Server) -> None:
    eio = server._app.sio.eio  # type: ignore[union-attr]
    client = RawEngineIO(server.url)
    _on_loop(server, _engineio.close_all(eio))
    assert all(s.closed for s in eio.sockets.values())

    try:
        got = ""
        with contextlib.suppress(ConnectionError):
            while got != "1":  # Engine.IO's CLOSE, after anything still queued
                got = client.receive()
    finally:
        client.sock.close()
    assert eio.sockets == {} or all(s.closed for s in eio.sockets.values())


def test_engineio_a_closing_polling_client_gets_its_held_poll_answered_at_once() -> None:
    # With pings 30 s apart, a held poll would otherwise wait a minute.
    from server_helpers import serve_asgi

    from nnlab.server.app import create_app

    app = create_app(ping_interval=30, ping_timeout=30)
    with serve_asgi(app.asgi) as url:
        parts = urlsplit(url)
        conn, _, path = _polling_session(url)
        conn.request("GET", path)
        assert conn.getresponse().read().startswith(b"40")  # the Socket.IO CONNECT
        answered: list[bytes] = []
        held = threading.Thread(
            target=lambda: (conn.request("GET", path), answered.append(conn.getresponse().read()))
        )
        held.start()
        time.sleep(0.2)  # let the GET be held
        goodbye = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        goodbye.request("POST", path, body=b"1", headers={"Content-Type": "text/plain"})
        assert goodbye.getresponse().status == 200
        goodbye.close()
        held.join(15)
        conn.close()
        assert not held.is_alive(), (
            "nnlab.server._engineio.answer_held_polls: the held poll was not answered; "
            "python-engineio's AsyncSocket.poll() or its handlers changed"
        )
        assert answered == [b""] or answered[0].startswith(b"6")


def test_engineio_fallbacks_warn_and_never_raise(caplog: pytest.LogCaptureFixture) -> None:
    changed = SimpleNamespace(sockets={"sid": SimpleNamespace(closed=False)})
    caplog.set_level(logging.WARNING, logger="nnlab.server")
    assert _engineio.backlog(changed, "sid") == 0
    assert _engineio.polling(changed, "sid") is True
    _engineio.answer_held_polls(SimpleNamespace())
    asyncio.run(_engineio.close_all(SimpleNamespace()))
    assert any("python-engineio changed" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------- uvicorn
def test_uvicorn_abort_connections_cuts_open_connections(server: Server) -> None:
    parts = urlsplit(server.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    try:
        # A keep-alive connection, open and idle.
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        head, body = answer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(body) < length:
            body += sock.recv(65536)
        cut = _on_loop(server, _call(_uvicorn.abort_connections, server._uvicorn))
        assert cut >= 1, "nnlab.server._uvicorn.abort_connections: uvicorn's server_state changed"
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(65536) == b""
    finally:
        sock.close()


def test_uvicorn_request_exit_stops_the_server() -> None:
    with Server(port=0) as server:
        _uvicorn.request_exit(server._uvicorn)
        assert server._thread is not None
        server._thread.join(30)
        assert not server._thread.is_alive(), "uvicorn.Server no longer watches should_exit"


def test_uvicorn_fallback_warns_and_cuts_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="nnlab.server")
    assert _uvicorn.abort_connections(SimpleNamespace()) == 0
    assert any("uvicorn changed" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------- ipykernel
def test_ipykernel_routes_shell_messages_through_the_hook() -> None:
    import ipykernel.kernelbase

    source = inspect.getsource(ipykernel.kernelbase.Kernel)
    assert f'"{_ipykernel_hook.HOOK}"' in source, (
        "ipykernel's shell-channel thread no longer asks comms where to route messages: "
        "the live view's Stop button then acts only between cells"
    )


def test_ipykernel_hook_sees_a_message_and_keeps_the_routing() -> None:
    from ipykernel.comm import Comm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the class widgets get in a kernel
        comm = Comm(target_name="nnlab-test", primary=False, comm_id="nnlab-test")
    seen: list[Any] = []
    assert _ipykernel_hook.on_message_early(comm, seen.append)
    click = {"method": "custom", "content": {"event": "click"}}
    assert comm._reply_subshell_for(click, "the default") == "the default"
    assert seen == [click]

    def broken(data: Any) -> None:
        raise RuntimeError("a handler bug")

    assert _ipykernel_hook.on_message_early(comm, broken)
    assert comm._reply_subshell_for(click, "the default") == "the default"  # routing survives


def test_ipykernel_hook_fallback_without_the_method() -> None:
    assert not _ipykernel_hook.on_message_early(SimpleNamespace(), lambda data: None)
    assert not _ipykernel_hook.on_message_early(None, lambda data: None)


# ---------------------------------------------------------------- python-socketio's Redis manager
def test_socketio_pubsub_internals_the_class_manager_relies_on() -> None:
    """nnlab/hub/manager.py: ClassManager overrides AsyncPubSubManager._handle_emit(message),
    which the listener calls with each received emit message (and the local emit path with
    this process's own), and starts listening itself through AsyncServer.manager_initialized
    and initialize(); it closes the listener task (.thread) and the .pubsub/.redis clients."""
    import socketio
    from socketio.async_pubsub_manager import AsyncPubSubManager

    handle = AsyncPubSubManager._handle_emit
    assert inspect.iscoroutinefunction(handle), "nnlab.hub.manager: _handle_emit is no longer a coroutine"
    assert list(inspect.signature(handle).parameters) == ["self", "message"], (
        "nnlab.hub.manager: _handle_emit"
    )
    emit_source = inspect.getsource(AsyncPubSubManager.emit)
    assert "_handle_emit(message)" in emit_source, (
        "nnlab.hub.manager: emit() no longer goes through _handle_emit"
    )
    listen_source = inspect.getsource(AsyncPubSubManager._thread)
    assert "_handle_emit(data)" in listen_source, (
        "nnlab.hub.manager: the listener no longer calls _handle_emit"
    )
    for key in ("method", "event", "data", "room", "binary"):
        assert f"'{key}'" in emit_source, f"nnlab.hub.manager: emit messages lack {key!r}"

    from nnlab.hub.manager import ClassManager

    manager = ClassManager("redis://127.0.0.1:1/0", channel="adapter-test")
    for name in ("redis", "pubsub"):
        assert hasattr(manager, name), f"nnlab.hub.manager: AsyncRedisManager has no .{name}"
    server = socketio.AsyncServer(async_mode="asgi", client_manager=manager)
    assert server.manager_initialized is False, "nnlab.hub.manager: AsyncServer.manager_initialized"
    assert "self.thread = " in inspect.getsource(AsyncPubSubManager.initialize), (
        "nnlab.hub.manager: initialize() no longer keeps its listener task in .thread"
    )
