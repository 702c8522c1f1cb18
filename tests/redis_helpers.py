"""A real ``redis-server`` for the classroom hub's tests: on a free loopback port, with no
persistence, stopped (and restartable on the same port) by the test that made it."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

__all__ = ["RedisServer", "redis_binary"]


def redis_binary() -> str:
    """Path of ``redis-server``; skips the test when missing, unless NNLAB_REQUIRE_EXTERNAL=1."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if found is None:
        if os.environ.get("NNLAB_REQUIRE_EXTERNAL") == "1":
            pytest.fail("redis-server is required (NNLAB_REQUIRE_EXTERNAL=1) but missing")
        pytest.skip("redis-server not available (apt-get install redis-server)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process. ``stop()`` ends it (SIGTERM), ``kill()`` with SIGKILL,
    ``start()`` (again) brings it back on the same port, empty."""

    def __init__(self, binary: str, workdir: Path, password: str | None = None) -> None:
        self.binary = binary
        self.workdir = workdir
        self.password = password
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> RedisServer:
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            "--daemonize", "no",
            "--loglevel", "warning",
        ]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        for _ in range(20):  # the port may still be in TIME_WAIT, or taken in between
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                        sock.sendall(b"PING\r\n")
                        if sock.recv(64):
                            return self
                except OSError:
                    time.sleep(0.02)
            self._reap()
            time.sleep(0.2)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def _reap(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.communicate(timeout=30)
            self.proc = None

    def stop(self) -> None:
        """End the server (SIGTERM, then SIGKILL if it lingers) and wait for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        self._reap()

    def kill(self) -> None:
        """End the server with SIGKILL, as a crash would."""
        self._reap()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
