"""Helpers for the server tests: HTTP calls, Socket.IO recorders, external tools, slow runs."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from recording import make_job

import nnlab
from nnlab.observers import Observer
from nnlab.registry import Registry

JS_DIR = Path(__file__).parent / "js"

#: Every field of the contract's training_update and its JSON type(s).
UPDATE_FIELDS = {
    "job_id": str,
    "network_id": str,
    "epoch": int,
    "total_epochs": int,
    "accuracy": (float, int, type(None)),
    "elapsed_time": (float, int),
    "progress": (float, int),
    "correct": int,
    "total": int,
}


def request(
    url: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """One HTTP request; returns (status, parsed JSON or text or None, lowercased headers)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    payload = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    all_headers = {"Content-Type": "application/json"} if payload is not None else {}
    all_headers.update(headers or {})
    try:
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        data = response.read()
        got = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    if got.get("content-type", "").startswith("application/json"):
        return response.status, json.loads(data), got
    return response.status, (data.decode() if data else None), got


class Api:
    """``api.post("/api/networks", {...})`` -> (status, json) against one server."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        status, data, _ = request(self.url, method, path, body, **kw)
        return status, data

    def get(self, path: str) -> tuple[int, Any]:
        return self("GET", path)

    def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return self("POST", path, body, **kw)

    def delete(self, path: str) -> tuple[int, Any]:
        return self("DELETE", path)

    def create_network(self, sizes: list[int] | None = None, **options: Any) -> dict[str, Any]:
        status, net = self.post("/api/networks", {"sizes": sizes or [64, 30, 10], **options})
        assert status == 201, net
        return net

    def wait_job(self, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status, job = self.get(f"/api/jobs/{job_id}")
            assert status == 200, job
            if job["status"] in ("completed", "failed", "cancelled"):
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
            time.sleep(0.02)


class Recorder:
    """A python-socketio client that records every training_update and training_status."""

    def __init__(
        self,
        url: str,
        transports: list[str],
        *,
        drop: tuple[str, ...] = (),
        auth: dict[str, Any] | None = None,
    ) -> None:
        import socketio

        self.drop = drop  # payload fields not to keep (large test payloads)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._cond = threading.Condition()
        self.client = socketio.Client(reconnection=False)
        for name in ("training_update", "training_status"):
            self.client.on(name, self._recorder(name))
        self.client.connect(url, transports=transports, auth=auth, wait_timeout=10)

    def _recorder(self, name: str) -> Callable[[dict[str, Any]], None]:
        def record(data: dict[str, Any]) -> None:
            for key in self.drop:
                data.pop(key, None)
            with self._cond:
                self.events.append((name, data))
                self._cond.notify_all()

        return record

    def updates(self, job_id: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return [d for n, d in self.events if n == "training_update" and job_id in (None, d["job_id"])]

    def epochs(self, job_id: str) -> list[int]:
        """The epochs of the job's updates, in the order they arrived."""
        return [u["epoch"] for u in self.updates(job_id)]

    def status_records(self, job_id: str) -> list[dict[str, Any]]:
        """The job's training_status payloads, in the order they arrived."""
        with self._cond:
            return [d for n, d in self.events if n == "training_status" and d["job_id"] == job_id]

    def statuses(self, job_id: str | None = None) -> list[str]:
        with self._cond:
            return [
                d["status"]
                for n, d in self.events
                if n == "training_status" and job_id in (None, d["job_id"])
            ]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; got {len(self.events)} events, the last {self.events[-3:]}"
                self._cond.wait(left)

    def wait_finished(self, job_id: str, timeout: float = 10.0) -> None:
        """Wait for the job's final training_status (the lock is re-entrant)."""
        ended = ("completed", "failed", "cancelled")
        self.wait_for(lambda: any(s in ended for s in self.statuses(job_id)), timeout)

    def close(self) -> None:
        self.client.disconnect()


def check_update(update: dict[str, Any], evaluated: bool = True) -> None:
    """Assert ``update`` is exactly the contract's training_update."""
    expected = set(UPDATE_FIELDS) if evaluated else set(UPDATE_FIELDS) - {"correct", "total"}
    assert set(update) == expected, update
    for field in expected:
        assert isinstance(update[field], UPDATE_FIELDS[field]), (field, update)
        assert not isinstance(update[field], bool), (field, update)
    assert 1 <= update["epoch"] <= update["total_epochs"]
    assert update["progress"] == pytest.approx(100.0 * update["epoch"] / update["total_epochs"])
    assert update["elapsed_time"] >= 0
    if evaluated:
        assert 0 <= update["correct"] <= update["total"]
        assert update["accuracy"] == pytest.approx(update["correct"] / update["total"])
    else:
        assert update["accuracy"] is None


class SlowEpochs(Observer):
    """Makes every epoch last at least ``seconds`` (for runs a test must catch mid-way)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_epoch_end(self, job: Any, record: Any) -> None:
        time.sleep(self.seconds)


def train(
    epochs: int = 5,
    *,
    seconds_per_epoch: float = 0.0,
    background: bool = False,
    registry: Registry | None = None,
    **params: Any,
) -> nnlab.TrainingJob:
    """Train a fresh [64, 30, 10] network on the bundled digits, as a notebook cell would,
    in ``registry`` (a test server's own; the process's if ``None``)."""
    observers = [SlowEpochs(seconds_per_epoch)] if seconds_per_epoch else []
    net = nnlab.Network([64, 30, 10], seed=0)
    params = {"seed": 0, **params}
    job = make_job(
        net, nnlab.datasets.digits(), observers=observers, registry=registry, epochs=epochs, **params
    )
    return job.start() if background else job.run()


def external(tool: str) -> str:
    """Path of ``node`` or Chromium; skips the test when missing, unless NNLAB_REQUIRE_EXTERNAL=1."""
    if tool == "chromium":
        path = os.environ.get("NNLAB_CHROMIUM") or "/usr/bin/chromium"
        found = path if os.path.exists(path) else None
    else:
        found = shutil.which(tool)
    if tool == "node" and found and not (JS_DIR / "node_modules" / "socket.io-client").is_dir():
        missing = "socket.io-client (run: npm ci --prefix tests/js)"
        found = None
    else:
        missing = tool
    if found is None:
        if os.environ.get("NNLAB_REQUIRE_EXTERNAL") == "1":
            pytest.fail(f"{missing} is required (NNLAB_REQUIRE_EXTERNAL=1) but missing")
        pytest.skip(f"{missing} not available")
    return found


#: Headless Debian Chromium, without the background traffic a closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A playwright Browser on Debian's Chromium (skips or fails as :func:`external` says)."""
    executable = external("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def run_node(script: str, *args: str, timeout: float = 60.0) -> subprocess.Popen[str]:
    """Start ``tests/js/<script>`` with node; its stdout carries JSON lines."""
    node = external("node")
    return subprocess.Popen(
        [node, str(JS_DIR / script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=JS_DIR,
    )


def read_json_line(proc: subprocess.Popen[str], timeout: float = 30.0) -> dict[str, Any]:
    """The next JSON line a node helper prints (fails with its stderr if it died)."""
    assert proc.stdout is not None
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    line = result[0] if result else ""
    if not line:
        proc.kill()
        _, err = proc.communicate(timeout=5)
        raise AssertionError(f"node helper gave no output within {timeout}s; stderr:\n{err}")
    data: dict[str, Any] = json.loads(line)
    return data


def finish(proc: subprocess.Popen[str], timeout: float = 30.0) -> dict[str, Any]:
    """Wait for a node helper to end and return its last JSON line."""
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"node helper failed ({proc.returncode}):\n{err}\n{out}"
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines, f"no output; stderr:\n{err}"
    data: dict[str, Any] = json.loads(lines[-1])
    return data


class RawEngineIO:
    """A bare Engine.IO v4 / Socket.IO v5 client over a plain TCP socket.

    It can stop reading entirely (a frozen browser tab: the server's writes back up) or
    vanish without a goodbye (``abort``), which no library client lets a test do.
    """

    def __init__(self, url: str, receive_buffer: int = 8192) -> None:
        parts = urlsplit(url)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(10)
        self.sock.connect((parts.hostname, parts.port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: {parts.hostname}:{parts.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self._buffer = b""
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += self.sock.recv(4096)
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        opened = self.receive()
        assert opened.startswith("0{"), opened
        self.eio_sid: str = json.loads(opened[1:])["sid"]
        self.send("40")
        connected = self.receive()
        assert connected.startswith("40{"), connected
        self.sid: str = json.loads(connected[2:])["sid"]

    def _read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def receive(self) -> str:
        """The next text frame's payload (answers Engine.IO pings on the way)."""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(self._read(2), "big")
            elif length == 127:
                length = int.from_bytes(self._read(8), "big")
            payload = self._read(length)
            if first & 0x0F == 0x8:
                raise ConnectionError("closed by the server")
            text = payload.decode()
            if text == "2":
                self.send("3")
                continue
            return text

    def events(
        self, timeout: float, until: Callable[[str, Any], bool] | None = None
    ) -> list[tuple[str, Any]]:
        """Socket.IO events arriving within ``timeout`` seconds (up to one matching ``until``)."""
        got: list[tuple[str, Any]] = []
        self.sock.settimeout(timeout)
        try:
            while not (got and until is not None and until(*got[-1])):
                text = self.receive()
                if text.startswith("42"):
                    name, data = json.loads(text[2:])
                    got.append((name, data))
        except TimeoutError:
            pass
        finally:
            self.sock.settimeout(10)
        return got

    def send(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81, 0x80 | len(payload)]) if len(payload) < 126 else b""
        assert header, "only short frames are needed"
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def abort(self) -> None:
        """Vanish: reset the connection without a close frame."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


@contextlib.contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Serve any ASGI app with uvicorn on a free loopback port in a thread; yields its URL."""
    import uvicorn

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    config = uvicorn.Config(app, log_config=None, access_log=False, log_level="warning", lifespan="auto")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "test server died"
        assert time.monotonic() < deadline, "test server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def under_prefix(app: Any, prefix: str) -> Any:
    """``app`` as a path-prefix proxy such as Jupyter's ``/proxy/8000/`` shows it: requests
    under ``prefix`` reach it with the prefix stripped; any other path is a 404."""

    async def proxied(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await app(scope, receive, send)
        path = scope["path"]
        if path.startswith(prefix + "/"):
            inner = path[len(prefix) :]
            return await app({**scope, "path": inner, "raw_path": inner.encode()}, receive, send)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return None
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 404, "headers": headers})
        await send({"type": "http.response.body", "body": f"outside {prefix}/: {path}".encode()})
        return None

    return proxied
