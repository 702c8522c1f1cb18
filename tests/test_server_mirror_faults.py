"""The mirror never dies silently: a failing fan-out round is logged, counted, shown by
``/api/health`` as ``degraded``, and the next round delivers as usual."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from server_helpers import Recorder, request, train

from nnlab.registry import Registry
from nnlab.server import Server


@pytest.fixture
def server() -> Iterator[Server]:
    with Server(port=0) as running:
        yield running


def _health(server: Server) -> dict[str, Any]:
    status, body, _ = request(server.url, "GET", "/api/health")
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def _wait(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_failing_round_is_logged_and_later_epochs_still_reach_clients(
    server: Server, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(server.url, [transport])
    try:
        first = train(epochs=2)
        recorder.wait_finished(first.job_id)
        healthy = _health(server)
        assert healthy["status"] == "ok"
        assert healthy["mirror"]["errors"] == 0
        assert healthy["mirror"]["sent"] >= 4  # two statuses and two updates

        # Inject a fault where the issue found one: the check of a client's backlog.
        fanout = server._app.fanout  # type: ignore[union-attr]

        def broken(sid: str) -> int | None:
            raise RuntimeError("injected backlog failure")

        fanout._backlog = broken  # type: ignore[method-assign]
        caplog.set_level(logging.INFO, logger="nnlab.server")
        failing = train(epochs=3)
        _wait(lambda: _health(server)["mirror"]["errors"] >= 1)
        degraded = _health(server)
        assert degraded["status"] == "degraded"
        assert degraded["mirror"]["failing"] is True
        assert degraded["mirror"]["last_error"] == "RuntimeError: injected backlog failure"
        assert degraded["mirror"]["last_error_at"] <= time.time()
        assert degraded["mirror"]["dropped"] >= 1
        assert any("fan-out round failed" in r.getMessage() for r in caplog.records)
        assert failing.job_id not in {u["job_id"] for u in recorder.updates()}

        del fanout._backlog  # the fault goes away
        later = train(epochs=4)
        recorder.wait_finished(later.job_id)
        assert [u["epoch"] for u in recorder.updates(later.job_id)] == [1, 2, 3, 4]
        assert recorder.statuses(later.job_id) == ["running", "completed"]
        recovered = _health(server)
        assert recovered["status"] == "ok"
        assert recovered["mirror"]["failing"] is False
        assert recovered["mirror"]["errors"] >= 1
        assert any("delivering again" in r.getMessage() for r in caplog.records)
    finally:
        recorder.close()


def test_a_client_joining_during_a_failure_is_welcomed_once_rounds_succeed(server: Server) -> None:
    fanout = server._app.fanout  # type: ignore[union-attr]

    def broken(sid: str) -> int | None:
        raise RuntimeError("injected")

    fanout._backlog = broken  # type: ignore[method-assign]
    recorder = Recorder(server.url, ["websocket"])
    try:
        _wait(lambda: _health(server)["mirror"]["errors"] >= 1)
        del fanout._backlog
        # Slow enough to be running when the next round welcomes the client (a run that
        # ended before a client is welcomed is not replayed to it).
        job = train(epochs=3, seconds_per_epoch=0.2)
        recorder.wait_finished(job.job_id)
        assert [u["epoch"] for u in recorder.updates(job.job_id)] == [1, 2, 3]
    finally:
        recorder.close()


def test_health_shows_the_mirror_and_history_retention(server: Server) -> None:
    health = _health(server)
    assert set(health["mirror"]) == {
        "sent",
        "coalesced",
        "dropped",
        "errors",
        "last_error",
        "last_error_at",
        "failing",
    }
    assert health["mirror"]["last_error"] is None
    assert set(health["histories"]) == {"keep_histories", "full_histories", "trimmed"}


def test_a_failing_pacer_keeps_looking_and_wakes_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    from nnlab.server.mirror import Outbox
    from nnlab.server.pacing import Pacer

    class FailingRegistry(Registry):
        def active_jobs(self) -> list[Any]:
            raise RuntimeError("injected pacing failure")

    caplog.set_level(logging.ERROR, logger="nnlab.server")
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    woken = threading.Event()
    outbox = Outbox()
    pacer = Pacer(outbox, FailingRegistry(), loop, woken.set)
    pacer.start()
    try:
        _wait(lambda: any("pacer could not plan" in r.getMessage() for r in caplog.records))
        outbox.put(("training_update", "job", {"epoch": 1}))  # after failures: still seen
        assert woken.wait(10)
    finally:
        pacer.stop()
        loop.call_soon_threadsafe(loop.stop)
        runner.join(5)
        loop.close()
