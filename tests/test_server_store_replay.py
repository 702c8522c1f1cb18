"""Replay on Socket.IO: a client that reconnects with ``auth: {since}`` gets every epoch it
missed, in order, none twice (python-socketio and Node's socket.io-client); a client that
stops reading for hundreds of epochs gets every one of them once it reads again."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from server_helpers import RawEngineIO, Recorder, check_update, finish, run_node, train

from nnlab.registry import Registry
from nnlab.server import Server
from nnlab.server.mirror import get_mirror
from nnlab.store import Store

#: A process that trains 30 slow epochs into a store and is killed part way.
CHILD = """
import sys, time
import nnlab
from nnlab.observers import Observer

class Slow(Observer):
    def on_epoch_end(self, job, record):
        time.sleep(0.2)

nnlab.train(nnlab.Network([64, 10, 10], seed=1), epochs=30, seed=1, progress=False,
            store=sys.argv[1], observers=[Slow()])
"""


class Client(Recorder):
    """A python-socketio client connecting with ``auth``, recording the jobs' events."""

    def __init__(self, url: str, auth: dict[str, Any] | None = None) -> None:
        super().__init__(url, ["websocket"], auth=auth)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
        super().wait_for(predicate, timeout)

    def ended(self, job_id: str) -> bool:
        with self._cond:
            return any(
                n == "training_status" and d["job_id"] == job_id and d["status"] == "completed"
                for n, d in self.events
            )

    def close(self) -> None:
        self.client.disconnect()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with Server(port=0, store=tmp_path / "runs.sqlite", registry=Registry()) as running:
        yield running


def test_a_reconnecting_client_gets_every_missed_epoch_once(server: Server) -> None:
    epochs = 40
    job = train(epochs, seconds_per_epoch=0.03, background=True, registry=server.registry)
    first = Client(server.url)
    try:
        first.wait_for(lambda: len(first.epochs(job.job_id)) >= 3)
    finally:
        first.close()
    seen = first.epochs(job.job_id)
    assert seen == list(range(seen[0], seen[-1] + 1))
    # it is away while more epochs finish
    while len(job.history) < seen[-1] + 5 and not job.done:
        time.sleep(0.01)
    again = Client(server.url, auth={"since": {job.job_id: seen[-1]}})
    try:
        again.wait_for(lambda: again.ended(job.job_id))
        assert again.epochs(job.job_id) == list(range(seen[-1] + 1, epochs + 1))
        for name, data in again.events:
            if name == "training_update":
                check_update(data)
        # the replay comes before any live update and the status after the last epoch
        names = [n for n, d in again.events if d["job_id"] == job.job_id]
        assert names[-1] == "training_status"
    finally:
        again.close()
        job.cancel()
        job.wait(30)


def test_a_client_without_since_keeps_todays_welcome(server: Server) -> None:
    job = train(30, seconds_per_epoch=0.05, background=True, registry=server.registry)
    try:
        while len(job.history) < 3:
            time.sleep(0.01)
        client = Client(server.url)
        try:
            client.wait_for(lambda: len(client.epochs(job.job_id)) >= 2)
            got = client.epochs(job.job_id)
            # joined mid-run: the latest epoch first, then the live ones; never the early epochs
            assert got[0] >= 3
            assert got == list(range(got[0], got[-1] + 1))
        finally:
            client.close()
    finally:
        job.cancel()
        job.wait(30)


def test_a_bad_since_is_refused() -> None:
    import socketio

    with Server(port=0, store=False, registry=Registry()) as server:
        client = socketio.Client(reconnection=False)
        refused = threading.Event()
        client.on("disconnect", lambda *args: refused.set())
        client.connect(server.url, transports=["websocket"], auth={"since": {"job": "three"}})
        assert refused.wait(30)
        client.disconnect()


@pytest.fixture
def killed_run(tmp_path: Path) -> tuple[Path, str, int]:
    """A store holding a run whose process was SIGKILLed: (file, job id, epochs kept)."""
    path = tmp_path / "killed.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    reader = Store(path)
    try:
        deadline = time.monotonic() + 120
        while not (reader.exists() and any(s["epochs_completed"] >= 8 for s in reader.summaries())):
            assert time.monotonic() < deadline, "the training process wrote no epochs"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        (summary,) = reader.summaries()
        return path, summary["job_id"], len(reader.updates(summary["job_id"]))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
        reader.close()


def test_node_socket_io_client_replays_a_stored_run_after_a_restart(
    killed_run: tuple[Path, str, int],
) -> None:
    path, job_id, kept = killed_run
    with Server(port=0, store=path, registry=Registry()) as server:
        proc = run_node("replay_client.mjs", server.url, job_id, "3", str(kept))
        result = finish(proc)
    assert result["epochs"] == list(range(4, kept + 1))
    for update in result["updates"]:
        check_update(update)


def test_python_client_replays_a_stored_run_after_a_restart(killed_run: tuple[Path, str, int]) -> None:
    path, job_id, kept = killed_run
    with Server(port=0, store=path, registry=Registry()) as server:
        client = Client(server.url, auth={"since": {job_id: 0}})
        try:
            client.wait_for(lambda: len(client.epochs(job_id)) >= kept)
            assert client.epochs(job_id) == list(range(1, kept + 1))
        finally:
            client.close()


def test_a_client_that_stops_reading_for_500_epochs_gets_every_one(server: Server) -> None:
    frozen = RawEngineIO(server.url, receive_buffer=4096)  # never reads until the run has ended
    fanout = server._app.fanout  # type: ignore[union-attr]
    mirror = get_mirror(server.registry)
    epochs = 600

    def behind() -> bool:
        catch = fanout._slow.get(frozen.sid)
        return catch is not None and catch.behind

    try:
        # large payloads of another job fill the socket buffers, so the server holds it back
        deadline = time.monotonic() + 60
        while not behind():
            assert time.monotonic() < deadline, "the server never held the frozen client back"
            blob = base64.b64encode(os.urandom(32 * 1024)).decode()
            mirror.publish("training_update", "filler", {"job_id": "filler", "blob": blob})
            time.sleep(0.005)
        job = train(epochs, registry=server.registry, mini_batch_size=50)
        assert job.status == "completed"
        assert behind()
        got = frozen.events(
            timeout=60.0,
            until=lambda name, data: (
                name == "training_status" and data["job_id"] == job.job_id and data["status"] == "completed"
            ),
        )
        updates = [d for n, d in got if n == "training_update" and d["job_id"] == job.job_id]
        assert [u["epoch"] for u in updates] == list(range(1, epochs + 1))
        assert updates == [r.update.to_dict() for r in job.history]
        statuses = [d["status"] for n, d in got if n == "training_status" and d["job_id"] == job.job_id]
        assert statuses[-1] == "completed"
    finally:
        frozen.abort()


def test_since_goes_along_with_a_token() -> None:
    from nnlab.server.auth import generate_token

    token = generate_token()
    with Server(port=0, store=False, registry=Registry(), token=token) as server:
        job = train(6, registry=server.registry)
        client = Client(server.url, auth={"token": token, "since": {job.job_id: 2}})
        try:
            client.wait_for(lambda: len(client.epochs(job.job_id)) >= 4)
            assert client.epochs(job.job_id) == [3, 4, 5, 6]
        finally:
            client.close()


def test_a_client_back_after_its_job_ended_gets_the_missed_epochs_then_how_it_ended(server: Server) -> None:
    job = train(12, registry=server.registry)  # it ends before the client comes back
    again = Client(server.url, auth={"since": {job.job_id: 4}})
    try:
        again.wait_for(lambda: again.ended(job.job_id))
        assert again.epochs(job.job_id) == list(range(5, 13))
        mine = [(n, d) for n, d in again.events if d["job_id"] == job.job_id]
        assert [n for n, _ in mine] == ["training_update"] * 8 + ["training_status"]
        assert mine[-1][1] == job.status_record().to_dict()
    finally:
        again.close()
