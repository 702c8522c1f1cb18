"""The Socket.IO mirror with python-socketio's client and bare Engine.IO sockets."""

from __future__ import annotations

import base64
import os
import threading
import time

import pytest
from server_helpers import RawEngineIO, Recorder, check_update, train

from nnlab.identity import identity
from nnlab.server import Server
from nnlab.server.fanout import SLOW_BACKLOG
from nnlab.server.mirror import get_mirror


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_every_epoch_reaches_the_client_exactly_as_the_contract_says(server: Server, transport: str) -> None:
    client = Recorder(server.url, [transport])
    try:
        assert client.client.transport() == transport
        job = train(epochs=8, registry=server.registry)
        client.wait_finished(job.job_id)
        updates = client.updates(job.job_id)
        assert updates == [record.update.to_dict() for record in job.history]
        assert [u["epoch"] for u in updates] == list(range(1, 9))
        for update in updates:
            check_update(update)
            assert update["network_id"] == job.network_id
            assert update["total_epochs"] == 8
        # lifecycle: running before the first update, completed after the last
        mine = [(name, data) for name, data in client.events if data["job_id"] == job.job_id]
        assert mine[0][0] == "training_status"
        assert mine[0][1]["status"] == "running"
        assert mine[-1][0] == "training_status"
        assert mine[-1][1] == {
            "job_id": job.job_id,
            "network_id": job.network_id,
            "status": "completed",
            "epoch": 8,
            "total_epochs": 8,
            "error": None,
            "stop_reason": None,
            # who and where: extra fields of training_status only
            "sizes": list(job.network.sizes),
            **identity(),
        }
        assert [name for name, _ in mine[1:-1]] == ["training_update"] * 8
    finally:
        client.close()


def test_failed_and_cancelled_runs_are_announced(server: Server) -> None:
    client = Recorder(server.url, ["websocket"])
    try:
        failed = train(epochs=3, learning_rate=1e300, registry=server.registry)
        client.wait_finished(failed.job_id)
        final = [d for n, d in client.events if n == "training_status" and d["job_id"] == failed.job_id][-1]
        assert final["status"] == "failed"
        assert "diverged" in final["error"]
        assert client.updates(failed.job_id) == []

        job = train(epochs=1000, seconds_per_epoch=0.01, background=True, registry=server.registry)
        client.wait_for(lambda: len(client.updates(job.job_id)) >= 2)
        job.cancel()
        client.wait_finished(job.job_id)
        assert client.statuses(job.job_id) == ["running", "cancelled"]
        epochs = [u["epoch"] for u in client.updates(job.job_id)]
        assert epochs == list(range(1, len(job.history) + 1))
    finally:
        client.close()


def test_a_late_joiner_gets_the_latest_update_at_once_then_every_later_one(server: Server) -> None:
    job = train(epochs=30, seconds_per_epoch=0.03, background=True, registry=server.registry)
    while len(job.history) < 5:
        time.sleep(0.01)
    client = Recorder(server.url, ["websocket"])
    try:
        client.wait_finished(job.job_id, timeout=20)
        mine = [(name, data) for name, data in client.events if data["job_id"] == job.job_id]
        assert mine[0] == ("training_status", {**mine[0][1], "status": "running"})
        assert mine[1][0] == "training_update"
        first = mine[1][1]["epoch"]
        assert first >= 5
        # from there on every epoch, once, in order
        assert [d["epoch"] for n, d in mine if n == "training_update"] == list(range(first, 31))
        assert mine[-1][1]["status"] == "completed"
    finally:
        client.close()
        job.wait()


def test_two_runs_at_once_are_both_mirrored_and_distinguishable(server: Server) -> None:
    client = Recorder(server.url, ["websocket"])
    try:
        jobs = [
            train(epochs=n, seconds_per_epoch=0.01, background=True, registry=server.registry)
            for n in (12, 9)
        ]
        for job in jobs:
            client.wait_finished(job.job_id)
        for job in jobs:
            updates = client.updates(job.job_id)
            assert [u["epoch"] for u in updates] == list(range(1, job.params.epochs + 1))
            assert {u["network_id"] for u in updates} == {job.network_id}
            assert {u["total_epochs"] for u in updates} == {job.params.epochs}
            assert updates == [r.update.to_dict() for r in job.history]
        assert jobs[0].network_id != jobs[1].network_id
    finally:
        client.close()


def test_clients_leaving_mid_run_disturb_neither_the_run_nor_the_others(server: Server) -> None:
    stayers = [Recorder(server.url, [t]) for t in ("websocket", "polling", "websocket")]
    leavers = [Recorder(server.url, ["websocket"]) for _ in range(3)] + [Recorder(server.url, ["polling"])]
    vanishers = [RawEngineIO(server.url) for _ in range(3)]
    try:
        job = train(epochs=20, seconds_per_epoch=0.02, background=True, registry=server.registry)
        stayers[0].wait_for(lambda: len(stayers[0].updates(job.job_id)) >= 5)
        for leaver in leavers:
            leaver.close()
        for vanisher in vanishers:
            vanisher.abort()
        assert job.wait(30)
        assert job.status == "completed"
        assert len(job.history) == 20
        for client in stayers:
            client.wait_finished(job.job_id)
            assert [u["epoch"] for u in client.updates(job.job_id)] == list(range(1, 21))
        deadline = time.monotonic() + 5
        while server.clients != len(stayers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.clients == len(stayers)
    finally:
        for client in stayers:
            client.close()


def test_a_frozen_client_costs_bounded_memory_and_is_caught_up_later(server: Server) -> None:
    """Incompressible 64 KiB payloads, far more than a frozen client can take: its queue stays
    bounded, a healthy client gets every one, and the frozen one gets the newest once it reads."""
    frozen = RawEngineIO(server.url, receive_buffer=4096)  # then never reads until the end
    healthy = Recorder(server.url, ["websocket"], drop=("blob",))
    eio = server._app.sio.eio  # type: ignore[union-attr]
    mirror = get_mirror()
    n, size = 300, 32 * 1024
    peak_queue = peak_bytes = 0
    stop = threading.Event()

    def watch_queue() -> None:
        nonlocal peak_queue, peak_bytes
        while not stop.is_set():
            socket = eio.sockets.get(frozen.eio_sid)
            if socket is not None:
                packets = list(socket.queue._queue)
                peak_queue = max(peak_queue, len(packets))
                peak_bytes = max(peak_bytes, sum(len(p.data) for p in packets if p.data))
            time.sleep(0.002)

    watcher = threading.Thread(target=watch_queue, daemon=True)
    try:
        watcher.start()
        for seq in range(n):
            # pace by the healthy client (never more than 16 behind), so only the frozen one lags
            healthy.wait_for(lambda seq=seq: len(healthy.updates("frozen-test-job")) >= seq - 16)
            blob = base64.b64encode(os.urandom(size)).decode()
            mirror.publish(
                "training_update", "frozen-test-job", {"job_id": "frozen-test-job", "seq": seq, "blob": blob}
            )
        healthy.wait_for(lambda: len(healthy.updates("frozen-test-job")) == n, timeout=30)
        stop.set()
        watcher.join()
        assert [u["seq"] for u in healthy.updates("frozen-test-job")] == list(range(n))
        # what the server holds for it is bounded by SLOW_BACKLOG packets (plus the odd ping),
        # a fraction of the n * 44 KB it was sent; without the bound it would hold them all
        assert SLOW_BACKLOG <= peak_queue <= SLOW_BACKLOG + 4
        assert peak_bytes <= (SLOW_BACKLOG + 4) * (size * 4 // 3 + 200)
        # the frozen client reads again: it gets what was queued, then the newest payload last
        got = frozen.events(timeout=5.0, until=lambda name, data: data.get("seq") == n - 1)
        seqs = [data["seq"] for name, data in got if data.get("job_id") == "frozen-test-job"]
        assert seqs[-1] == n - 1
        assert len(seqs) < n // 2
        assert seqs == sorted(seqs)
        # and real training reaches both again, every epoch
        job = train(epochs=3, registry=server.registry)
        healthy.wait_finished(job.job_id)
        assert [u["epoch"] for u in healthy.updates(job.job_id)] == [1, 2, 3]
        later = frozen.events(timeout=5.0, until=lambda name, data: data.get("status") == "completed")
        assert [d["epoch"] for name, d in later if name == "training_update"] == [1, 2, 3]
    finally:
        stop.set()
        healthy.close()
        frozen.abort()


def test_a_run_already_going_when_the_server_starts_is_mirrored_from_then_on() -> None:
    job = train(12, seconds_per_epoch=0.05, background=True)
    try:
        while len(job.history) < 2:
            time.sleep(0.01)
        with Server(port=0) as server:
            client = Recorder(server.url, ["websocket"])
            try:
                assert job.wait(30)
                client.wait_for(lambda: "completed" in client.statuses(job.job_id))
                epochs = [u["epoch"] for u in client.updates(job.job_id)]
                # it joined mid-run: the latest epoch at once, then every later one, none twice
                assert epochs == list(range(epochs[0], 13))
                assert epochs[0] >= 2
            finally:
                client.close()
    finally:
        job.cancel()
        job.wait(30)
