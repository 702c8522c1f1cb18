"""Shared fixtures for nnlab's tests, and the check that no test leaves anything running."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from redis_helpers import RedisServer, redis_binary
from server_helpers import Api

import nnlab
from nnlab.datasets import Dataset
from nnlab.registry import Registry
from nnlab.registry import registry as process_registry
from nnlab.server import Server

#: Seconds a test's threads and jobs get to wind down after it before they count as leaked.
WIND_DOWN = 15.0
#: Pools that outlive one request by design and belong to a server fixture of wider scope.
POOLED_THREADS = ("AnyIO worker thread", "asyncio_", "ThreadPoolExecutor-")


@pytest.fixture(scope="session")
def digits() -> Dataset:
    """The bundled digits (cached by nnlab, read-only)."""
    return nnlab.datasets.digits()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Subprocesses a test starts (append them): killed, if still running, and reaped after it."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """A real server on a free loopback port with a registry of its own, for one module:
    its tests train into ``server.registry``, so no other test's runs reach its clients."""
    with Server(port=0, registry=Registry()) as running:
        yield running


@pytest.fixture(scope="module")
def api(server: Server) -> Api:
    """REST calls to the module's :func:`server`."""
    return Api(server.url)


def _leftovers(before: set[threading.Thread]) -> list[str]:
    threads = [
        t.name
        for t in threading.enumerate()
        if t not in before and t.is_alive() and not t.name.startswith(POOLED_THREADS)
    ]
    jobs = [f"job {job.job_id} ({job.network_id})" for job in process_registry.active_jobs()]
    return threads + jobs


@pytest.fixture(autouse=True)
def nothing_left_running() -> Iterator[None]:
    """Fail a test that leaves a thread it started, or a running job, behind."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + WIND_DOWN
    while (left := _leftovers(before)) and time.monotonic() < deadline:
        time.sleep(0.02)
    if left:
        pytest.fail(f"the test left these running: {', '.join(left)}", pytrace=False)


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real ``redis-server`` on a free loopback port, empty, stopped after the test
    (skipped when the binary is missing, a failure in CI)."""
    server = RedisServer(redis_binary(), tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()
