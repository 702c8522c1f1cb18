"""The background server: serve() idempotence, ports, stop and restart, the CLI, import cost."""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from server_helpers import RawEngineIO, Recorder, request

import nnlab
import nnlab.server
from nnlab.server import PortInUseError, Server
from nnlab.server.mirror import get_mirror


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _health(url: str) -> int:
    status, body, _ = request(url, "GET", "/api/health")
    assert status != 200 or body["status"] == "ok"
    return status


def test_serve_is_idempotent_stops_and_restarts_on_the_same_port() -> None:
    server = nnlab.serve(port=0)
    port = server.port
    try:
        assert server.running
        assert server.url == f"http://127.0.0.1:{port}"
        assert port != 0
        assert _health(server.url) == 200
        # re-running the cell gives the same server
        assert nnlab.serve(port=0) is server
        assert nnlab.serve(port=port) is server
        assert nnlab.server.current() is server
        assert "running" in repr(server)
        with pytest.raises(RuntimeError, match=rf"already running at {server.url}.*stop"):
            nnlab.serve(port=_free_port())
    finally:
        server.stop()
    assert not server.running
    assert nnlab.server.current() is None
    assert "stopped" in repr(server)
    server.stop()  # stopping twice is harmless
    # the port is free again...
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))
    # ...and serving again on it works
    again = nnlab.serve(port=port)
    try:
        assert again is not server
        assert again.port == port
        assert _health(again.url) == 200
    finally:
        again.stop()


def test_a_busy_port_names_the_port_and_the_way_out() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(
            PortInUseError, match=rf"port {port} on 127.0.0.1 is already in use.*port 0"
        ) as exc:
            nnlab.serve(port=port)
        assert exc.value.errno == errno.EADDRINUSE
        assert nnlab.server.current() is None
    # a second server on a running server's port
    with Server(port=0) as first, pytest.raises(PortInUseError, match=str(first.port)):
        Server(port=first.port).start()


@pytest.mark.parametrize("port", [-1, 65536, "8000", 80.0, True, None])
def test_bad_ports_are_refused(port: object) -> None:
    with pytest.raises(ValueError, match=r"port must be an int in 0\.\.65535"):
        nnlab.serve(port=port)  # type: ignore[arg-type]


def test_an_unresolvable_host_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be resolved"):
        Server(host="no-such-host.invalid", port=0).start()


def test_stop_closes_connected_clients_at_once(caplog: pytest.LogCaptureFixture) -> None:
    server = Server(port=0).start()
    polling = Recorder(server.url, ["polling"])
    websocket = Recorder(server.url, ["websocket"])
    deadline = time.monotonic() + 10
    while server.clients < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.clients == 2
    with caplog.at_level(logging.WARNING, logger="uvicorn.error"):
        server.stop()
    # a held long-poll would otherwise keep a request task alive until uvicorn gives up
    # on a graceful shutdown and cancels it
    assert not any("graceful shutdown exceeded" in r.getMessage() for r in caplog.records)
    assert not server._thread.is_alive()  # type: ignore[union-attr]
    for client in (polling, websocket):
        deadline = time.monotonic() + 5
        while client.client.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not client.client.connected
        client.close()


def test_stop_is_quick_even_with_a_client_that_stopped_reading() -> None:
    server = Server(port=0).start()
    frozen = RawEngineIO(server.url, receive_buffer=4096)
    try:
        blob = os.urandom(48 * 1024).hex()
        for seq in range(100):
            get_mirror().publish("training_update", "stuck", {"job_id": "stuck", "seq": seq, "blob": blob})
        socket_ = server._app.sio.eio.sockets[frozen.eio_sid]  # type: ignore[union-attr]
        deadline = time.monotonic() + 10
        while socket_.queue.qsize() == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert socket_.queue.qsize() > 0  # its writer is stuck behind a full socket
        server.stop()
        # stop() cut the stuck connection: its thread ended within stop's own bounded wait
        assert not server._thread.is_alive()  # type: ignore[union-attr]
        assert not server.running
        # the port serves again at once (the cut connection may linger in the kernel)
        with Server(port=server.port) as again:
            assert _health(again.url) == 200
    finally:
        frozen.abort()
        server.stop()


def test_import_nnlab_and_the_cli_do_not_load_the_server_stack() -> None:
    code = (
        "import sys, nnlab, nnlab.server, nnlab.server.cli, nnlab.cli; nnlab.cli.build_parser(); "
        "print(sorted(m for m in ('socketio', 'engineio', 'uvicorn', 'starlette') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cli_serves_until_terminated() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnlab", "serve", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("nnlab server on http://127.0.0.1:"), line + proc.stderr.read()  # type: ignore[union-attr]
        url = line.split()[3]
        assert _health(url) == 200
        status, page, _ = request(url, "GET", "/test_socketio.html")
        assert status == 200
        assert "<title>nnlab" in page
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert err == ""


def test_cli_reports_a_busy_port() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "nnlab", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_refuses_a_bad_port() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nnlab", "serve", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "must be a port number 0..65535" in result.stderr


def test_nnlab_serve_is_the_servers_serve() -> None:
    assert nnlab.serve is nnlab.server.serve
    assert "serve" in dir(nnlab)


def test_serve_shows_where_browsers_reach_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = nnlab.serve(port=0)
    try:
        shown = capsys.readouterr().out
        assert f"nnlab server on {server.url}" in shown
        assert f"test page  {server.url}/test_socketio.html" in shown
        assert f"REST base  {server.url}/api" in shown
        # behind JupyterHub (Binder), the proxied addresses and the Socket.IO path
        monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ana/")
        monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "https://hub.example.org/")
        assert nnlab.serve(port=0) is server
        shown = capsys.readouterr().out
        assert f"https://hub.example.org/user/ana/proxy/{server.port}/test_socketio.html" in shown
        assert f'"path": "/user/ana/proxy/{server.port}/socket.io"' in shown
        nnlab.serve(port=0, quiet=True)
        assert capsys.readouterr().out == ""
    finally:
        server.stop()
