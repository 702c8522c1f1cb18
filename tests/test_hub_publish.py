"""The kernel side of the classroom hub (``nnlab.connect``) against a real ``redis-server``:
every event in its run's stream in order, python-socketio's Redis managers reaching a plain
server's clients, Redis down or restarted, a flooding kernel, heartbeats, control, bad input."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from recording import wait_for
from redis_helpers import RedisServer, redis_binary
from server_helpers import Recorder, SlowEpochs, check_update, serve_asgi

import nnlab
from nnlab.hub._redis import sync_client
from nnlab.hub.budget import EMIT_BURST, EMIT_RATE
from nnlab.hub.connect import auto_connect
from nnlab.hub.keys import Keys, decode_entries
from nnlab.hub.publish import HubWarning, Publisher
from nnlab.identity import host, set_owner
from nnlab.observers import Observer
from nnlab.registry import registry as process_registry

SIZES = [64, 30, 10]


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[Any]:
    """A client of the test's Redis (closed after the test)."""
    client = sync_client(redis_server.url)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def disconnected() -> Iterator[None]:
    """Every test starts and ends without a publisher (its threads joined) or owner override."""
    nnlab.disconnect()
    yield
    nnlab.disconnect()
    set_owner(None)


def train(epochs: int, **options: Any) -> nnlab.TrainingJob:
    """A fresh network trained on the digits, as a notebook cell would (no run store)."""
    options = {"seed": 0, "progress": False, "store": False, **options}
    return nnlab.train(nnlab.Network(SIZES, seed=0), epochs=epochs, **options)


def entries(client: Any, job_id: str, channel: str = "nnlab") -> list[tuple[str, str, dict[str, Any]]]:
    return decode_entries(client.xrange(Keys(channel).job(job_id)))


def expected_ids(epochs: int, diagnostics: bool = False) -> list[str]:
    """A run that starts, trains ``epochs`` epochs and completes."""
    per_epoch = [[f"{e}-0", f"{e}-1"] if diagnostics else [f"{e}-0"] for e in range(1, epochs + 1)]
    last = f"{epochs}-{2 if diagnostics else 1}"
    return ["0-1", *(i for ids in per_epoch for i in ids), last]


def hub_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, HubWarning)]


# ------------------------------------------------------------------ the stream and hashes
def test_every_event_of_a_run_lands_in_its_stream_in_order(
    redis_server: RedisServer, redis_client: Any
) -> None:
    publisher = nnlab.connect(redis_server.url, owner="ada", heartbeat=0.3)
    job = train(4, diagnostics=True)
    client = redis_client
    wait_for(lambda: len(entries(client, job.job_id)) == 10, 60)

    got = entries(client, job.job_id)
    assert [entry for entry, _, _ in got] == expected_ids(4, diagnostics=True)
    events = [event for _, event, _ in got]
    assert events == [
        "training_status",
        *["training_update", "training_diagnostics"] * 4,
        "training_status",
    ]
    updates = [payload for _, event, payload in got if event == "training_update"]
    assert updates == [record.update.to_dict() for record in job.history]
    for update in updates:
        check_update(update)  # exactly the contract: no owner, no sizes
    diagnostics = [payload for _, event, payload in got if event == "training_diagnostics"]
    assert diagnostics == [r.diagnostics.payload(r.update) for r in job.history if r.diagnostics]
    statuses = [payload for _, event, payload in got if event == "training_status"]
    assert [s["status"] for s in statuses] == ["running", "completed"]
    for status in statuses:
        assert status["owner"] == "ada"
        assert status["host"] == host()
        assert status["kernel_id"] == publisher.kernel_id
        assert status["sizes"] == SIZES
        assert status["job_id"] == job.job_id
        assert status["network_id"] == job.network_id

    keys = Keys()
    assert json.loads(client.hget(keys.status, job.job_id)) == statuses[-1]
    assert json.loads(client.hget(keys.latest, job.job_id)) == updates[-1]
    assert json.loads(client.hget(keys.networks, job.network_id)) == {
        "network_id": job.network_id,
        "sizes": SIZES,
        "owner": "ada",
        "host": host(),
        "kernel_id": publisher.kernel_id,
    }
    assert client.zscore(keys.changes, job.job_id) == int(client.get(keys.version))
    assert client.pttl(keys.job(job.job_id)) > 0  # the stream expires after its retention
    wait_for(lambda: publisher.status()["emitted"] == 10, 60)
    status = publisher.status()
    assert status["connected"] is True
    assert (status["written"], status["duplicates"], status["buffered"], status["dropped"]) == (10, 0, 0, 0)
    assert status["coalesced"] == 0
    assert status["last_error"] is None
    assert nnlab.hub_status() == publisher.status()


def test_the_training_thread_never_calls_redis(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every Redis command goes out from the publisher's threads, none from the trainer's."""
    import redis.connection

    senders: list[str] = []
    send = redis.connection.AbstractConnection.send_packed_command

    def spy(self: Any, command: Any, check_health: bool = True) -> None:
        senders.append(threading.current_thread().name)
        send(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", spy)
    publisher = nnlab.connect(redis_server.url, heartbeat=0.3)
    job = train(20, background=True)
    assert job.wait(120)
    assert job.status == "completed"
    wait_for(lambda: publisher.status()["written"] == 22, 60)
    assert "nnlab-hub-publish" in senders
    assert not [name for name in senders if name.startswith("nnlab-train-")]


# ------------------------------------------------------------------ python-socketio on Redis
def test_a_plain_socketio_server_on_redis_receives_the_kernels_emits(
    redis_server: RedisServer, redis_client: Any
) -> None:
    import socketio

    manager = socketio.AsyncRedisManager(redis_server.url, channel="physics-101")
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, logger=False)

    async def close_redis() -> None:  # the manager's listener task and its connections
        manager.thread.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await manager.thread
        await manager.pubsub.aclose()
        await manager.redis.aclose()

    client = redis_client
    with serve_asgi(socketio.ASGIApp(sio, on_shutdown=close_redis)) as url:
        recorder = Recorder(url, ["websocket"])
        try:
            # the server subscribes to the class's channel when its first client connects
            wait_for(lambda: client.pubsub_numsub("physics-101")[0][1] == 1, 60)
            nnlab.connect(redis_server.url, channel="physics-101", owner="grace", heartbeat=0.3)
            job = train(3)
            recorder.wait_finished(job.job_id, 60)
            updates = recorder.updates(job.job_id)
            assert updates == [record.update.to_dict() for record in job.history]
            for update in updates:
                check_update(update)
            assert recorder.statuses(job.job_id) == ["running", "completed"]
            status = [d for n, d in recorder.events if n == "training_status"][-1]
            assert (status["owner"], status["sizes"], status["kernel_id"]) == (
                "grace",
                SIZES,
                nnlab.hub_status()["kernel_id"],  # type: ignore[index]
            )
        finally:
            recorder.close()


# ------------------------------------------------------------------ faults
def test_redis_down_when_training_starts(
    redis_server: RedisServer, redis_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server.stop()
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING, "nnlab.hub"):
        warnings.simplefilter("always")
        publisher = nnlab.connect(redis_server.url, heartbeat=0.3)
        job = train(6)
        assert job.status == "completed"
        assert len(job.history) == 6
        wait_for(lambda: publisher.status()["connected"] is False, 60)
        assert publisher.status()["buffered"] == 8
        redis_server.start()
        wait_for(lambda: publisher.status()["buffered"] == 0, 60)
        got = entries(redis_client, job.job_id)
    assert [entry for entry, _, _ in got] == expected_ids(6)  # every epoch, none twice
    assert [p for _, e, p in got if e == "training_update"] == [r.update.to_dict() for r in job.history]
    messages = hub_warnings(caught)
    assert len(messages) == 1, messages
    assert redis_server.url in messages[0]
    assert "training goes on" in messages[0]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    status = publisher.status()
    assert status["connected"] is True
    assert (status["written"], status["dropped"], status["emitted"]) == (8, 0, 8)
    assert "ConnectionError" in status["last_error"]


def test_redis_restarted_mid_run(redis_server: RedisServer, redis_client: Any) -> None:
    """Everything Redis had before it stopped, then everything after: every event once."""
    publisher = nnlab.connect(redis_server.url, heartbeat=0.3)
    client = redis_client
    job = train(30, background=True, observers=[SlowEpochs(0.02)])
    wait_for(lambda: len(job.history) >= 5, 60)
    job.pause()
    wait_for(lambda: (entries(client, job.job_id) or [("", "", {})])[-1][2].get("status") == "paused", 60)
    before = entries(client, job.job_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        redis_server.stop()  # no persistence: it comes back empty
        job.resume()
        wait_for(lambda: len(job.history) >= before[-1][2]["epoch"] + 5, 60)
        wait_for(lambda: publisher.status()["connected"] is False, 60)
        redis_server.start()
        assert job.wait(120)
        assert job.status == "completed"
        wait_for(lambda: publisher.status()["buffered"] == 0 and publisher.status()["connected"], 60)
    after = entries(client, job.job_id)
    paused_at = before[-1][2]["epoch"]
    ids = [entry for entry, _, _ in before + after]
    assert ids == [
        "0-1",
        *(f"{e}-0" for e in range(1, paused_at + 1)),
        f"{paused_at}-1",  # paused
        f"{paused_at}-2",  # running again
        *(f"{e}-0" for e in range(paused_at + 1, 31)),
        "30-1",
    ]
    assert [e[2]["status"] for e in before + after if e[1] == "training_status"] == [
        "running",
        "paused",
        "running",
        "completed",
    ]
    assert len(hub_warnings(caught)) == 1
    assert json.loads(client.hget(Keys().status, job.job_id))["status"] == "completed"
    assert json.loads(client.hget(Keys().latest, job.job_id))["epoch"] == 30


def test_a_flooding_kernel_stays_within_its_emit_budget_and_loses_nothing(
    redis_server: RedisServer, redis_client: Any
) -> None:
    """Thousands of tiny epochs a second: PUBLISH stays within rate x time + burst (plus the
    statuses, which always go), the stream gets every epoch, the last update goes out."""
    rng = np.random.default_rng(0)
    tiny = nnlab.datasets.from_arrays(rng.random((20, 4)), rng.integers(0, 2, 20), test=0, validation=0)
    client = redis_client
    listener = client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe("nnlab")
    epochs = 5000
    try:
        started = time.monotonic()
        publisher = nnlab.connect(redis_server.url, heartbeat=0.3)
        job = nnlab.train(
            nnlab.Network([4, 3, 2], seed=0),
            tiny,
            epochs=epochs,
            mini_batch_size=20,
            evaluate_on=None,
            seed=0,
            progress=False,
            store=False,
        )
        wait_for(lambda: publisher.status()["written"] == epochs + 2, 120)
        wait_for(lambda: client.info("commandstats").get("cmdstat_publish", {}).get("calls", 0) > 0, 60)
        elapsed = time.monotonic() - started
        published = client.info("commandstats")["cmdstat_publish"]["calls"]
        status = publisher.status()
        ids = [entry for entry, _, _ in entries(client, job.job_id)]
        assert ids == expected_ids(epochs)  # nothing lost from the stream
        assert published <= EMIT_BURST + EMIT_RATE * elapsed + 3  # 2 statuses, 1 held update
        assert published < epochs / 2
        assert status["coalesced"] > 0
        assert status["emitted"] + status["coalesced"] == status["written"]  # nothing held back
        assert status["emitted"] == published
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while len(received) < published:
            assert time.monotonic() < deadline, f"{len(received)} of {published} emits received"
            message = listener.get_message(timeout=1)  # None for the subscription's answer
            if message is not None:
                received.append(json.loads(message["data"]))
    finally:
        listener.close()
    events = [(m["event"], m["data"][0]) for m in received]
    epochs_sent = [data["epoch"] for event, data in events if event == "training_update"]
    assert epochs_sent == sorted(set(epochs_sent))
    assert epochs_sent[-1] == epochs
    assert events[-1][0] == "training_status"
    assert events[-1][1]["status"] == "completed"


# ------------------------------------------------------------------ heartbeats
def wait_renewed(client: Any, key: str) -> None:
    """Wait until the key of a 0.3 s heartbeat (expiring after 0.9 s) is seen to age, then
    to be set again."""
    wait_for(lambda: 0 < client.pttl(key) <= 700, 60)
    wait_for(lambda: client.pttl(key) > 700, 60)


def test_the_heartbeat_key_lives_while_connected_and_goes_with_disconnect(
    redis_server: RedisServer, redis_client: Any
) -> None:
    publisher = nnlab.connect(redis_server.url, owner="ada", heartbeat=0.3)
    client = redis_client
    key = Keys().kernel(publisher.kernel_id)
    wait_for(lambda: client.exists(key) == 1, 60)
    assert json.loads(client.get(key))["owner"] == "ada"
    assert 0 < client.pttl(key) <= 900  # three heartbeats
    wait_renewed(client, key)
    nnlab.disconnect()
    assert client.exists(key) == 0
    assert nnlab.hub_status() is None


KERNEL = """
import sys, time
import nnlab
publisher = nnlab.connect(sys.argv[1], heartbeat=0.3)
print(publisher.kernel_id, flush=True)
time.sleep(600)
"""


def test_the_heartbeat_of_a_killed_kernel_expires(
    redis_server: RedisServer, redis_client: Any, processes: list[subprocess.Popen[str]]
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", KERNEL, redis_server.url], stdout=subprocess.PIPE, text=True
    )
    processes.append(proc)
    assert proc.stdout is not None
    kernel = proc.stdout.readline().strip()
    client = redis_client
    key = Keys().kernel(kernel)
    wait_for(lambda: client.exists(key) == 1, 60)
    wait_renewed(client, key)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(60)
    wait_for(lambda: client.exists(key) == 0, 60)


# ------------------------------------------------------------------ control
def test_control_messages_pause_resume_retune_and_cancel_a_run(
    redis_server: RedisServer, redis_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = nnlab.connect(redis_server.url, heartbeat=0.3)
    client = redis_client
    channel = Keys().control(publisher.kernel_id)
    wait_for(lambda: client.pubsub_numsub(channel)[0][1] == 1, 60)
    job = train(500, background=True, observers=[SlowEpochs(0.02)])

    def ask(action: str, **extra: Any) -> None:
        client.publish(channel, json.dumps({"action": action, "job_id": job.job_id, **extra}))

    wait_for(lambda: len(job.history) >= 1, 60)
    ask("pause")
    wait_for(lambda: job.status == "paused", 60)
    ask("set_learning_rate", learning_rate=0.5)
    wait_for(lambda: job.learning_rate == 0.5, 60)
    ask("resume")
    wait_for(lambda: job.status == "running", 60)
    with caplog.at_level(logging.WARNING, "nnlab.hub"):
        for bad in ("not json", json.dumps({"action": "explode", "job_id": job.job_id})):
            client.publish(channel, bad)
        client.publish(channel, json.dumps({"action": "cancel", "job_id": "no-such-job"}))
        ask("set_learning_rate", learning_rate=-1)
        wait_for(lambda: len(caplog.records) == 4, 60)
    assert job.status == "running"
    assert publisher.status()["controls"] == 3
    ask("cancel")
    assert job.wait(60)
    assert (job.status, job.stop_reason) == ("cancelled", "cancelled")
    assert len(job.history) < 500
    wait_for(lambda: publisher.status()["buffered"] == 0 and publisher.status()["written"] > 0, 60)
    wait_for(lambda: entries(client, job.job_id)[-1][2].get("status") == "cancelled", 60)
    statuses = [p["status"] for _, e, p in entries(client, job.job_id) if e == "training_status"]
    assert statuses == ["running", "paused", "running", "cancelled"]


# ------------------------------------------------------------------ connecting
def test_connecting_again_replaces_the_publisher(redis_server: RedisServer, redis_client: Any) -> None:
    first = nnlab.connect(redis_server.url, heartbeat=0.3)
    second = nnlab.connect(redis_server.url, channel="chem-2", heartbeat=0.3)
    assert first.status()["running"] is False
    assert second.status()["running"] is True
    observers = process_registry.observers()
    assert second in observers
    assert first not in observers
    job = train(2)
    client = redis_client
    wait_for(lambda: len(entries(client, job.job_id, "chem-2")) == 4, 60)
    assert entries(client, job.job_id) == []
    nnlab.disconnect()
    nnlab.disconnect()  # twice: nothing to do
    assert second.status()["running"] is False
    assert second not in process_registry.observers()


def test_nnlab_redis_url_connects_the_first_run_once(
    redis_server: RedisServer, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NNLAB_REDIS_URL", redis_server.url)
    monkeypatch.setenv("NNLAB_HUB_HEARTBEAT", "0.4")
    job = train(2)
    status = nnlab.hub_status()
    assert status is not None
    assert status["heartbeat"] == 0.4
    client = redis_client
    wait_for(lambda: len(entries(client, job.job_id)) == 4, 60)
    nnlab.disconnect()
    train(1)  # a disconnect stands
    assert nnlab.hub_status() is None


def test_a_bad_nnlab_redis_url_warns_and_training_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NNLAB_REDIS_URL", "localhost:6379")
    with pytest.warns(HubWarning, match="NNLAB_REDIS_URL must be a URL such as 'redis://HOST:6379/0'"):
        job = train(1)
    assert job.status == "completed"
    assert nnlab.hub_status() is None
    auto_connect()  # once per value: no second warning


def test_a_password_never_shows(tmp_path: Any) -> None:
    server = RedisServer(redis_binary(), tmp_path, password="s3cret-pw").start()
    try:
        wrong = server.url.replace("s3cret-pw", "wr0ng-pw")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            publisher = nnlab.connect(wrong, heartbeat=0.3)
            wait_for(lambda: publisher.status()["connected"] is False, 60)
        status = publisher.status()
        messages = hub_warnings(caught)
        assert len(messages) == 1
        assert "redis://:***@127.0.0.1" in messages[0]
        assert status["url"].startswith("redis://:***@")
        text = json.dumps(status) + messages[0] + repr(publisher)
        assert "wr0ng-pw" not in text
        right = nnlab.connect(server.url, heartbeat=0.3)
        wait_for(lambda: right.status()["connected"] is True, 60)
        assert "s3cret-pw" not in json.dumps(right.status()) + repr(right)
    finally:
        nnlab.disconnect()
        server.stop()


@pytest.mark.parametrize(
    ("kwargs", "env", "message"),
    [
        ({"url": "http://127.0.0.1:6379"}, {}, "url must be a URL such as 'redis://HOST:6379/0'"),
        ({"url": 6379}, {}, "url must be a URL"),
        ({}, {}, "url is missing: pass nnlab.connect('redis://HOST:6379/0') or set NNLAB_REDIS_URL"),
        ({}, {"NNLAB_REDIS_URL": "127.0.0.1:6379"}, "NNLAB_REDIS_URL must be a URL"),
        ({"channel": "two words"}, {}, "channel must be a short name without spaces"),
        ({"heartbeat": 0}, {}, "heartbeat must be a number of seconds > 0 such as 5, got 0"),
        ({"heartbeat": -1.0}, {}, "heartbeat must be a number of seconds > 0"),
        ({"heartbeat": math.nan}, {}, "heartbeat must be a number of seconds > 0"),
        ({"heartbeat": "5"}, {}, "heartbeat must be a number of seconds > 0"),
        ({"heartbeat": True}, {}, "heartbeat must be a number of seconds > 0"),
        ({}, {"NNLAB_HUB_HEARTBEAT": "soon"}, "NNLAB_HUB_HEARTBEAT must be a number of seconds > 0"),
        ({"owner": " "}, {}, "owner must be a non-empty string such as 'ada'"),
    ],
)
def test_bad_input_is_refused_naming_what_to_change(
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    kwargs: dict[str, Any],
    env: dict[str, str],
    message: str,
) -> None:
    running = nnlab.connect(redis_server.url, heartbeat=0.3)
    monkeypatch.delenv("NNLAB_REDIS_URL", raising=False)
    monkeypatch.delenv("NNLAB_HUB_HEARTBEAT", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if (
        "url" not in kwargs
        and "NNLAB_REDIS_URL" not in env
        and message.startswith(("channel", "heart", "owner"))
    ):
        kwargs = {"url": redis_server.url, **kwargs}
    if "NNLAB_HUB_HEARTBEAT" in env:
        kwargs = {"url": redis_server.url}
    with pytest.raises(ValueError, match=re.escape(message)):
        nnlab.connect(**kwargs)
    assert nnlab.hub_status() == running.status()  # the running publisher stays


def test_connect_without_the_redis_client_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'nnlab\[hub\]'"):
        nnlab.connect("redis://127.0.0.1:6379/0")
    assert nnlab.hub_status() is None


def test_a_publisher_made_for_another_registry_watches_only_it(redis_server: RedisServer) -> None:
    from nnlab.registry import Registry

    own = Registry()
    publisher = Publisher(redis_server.url, channel="lab", heartbeat=0.3, registry=own).start()
    try:
        assert publisher in own.observers()
        assert publisher not in process_registry.observers()
    finally:
        publisher.stop()
    assert publisher not in own.observers()
    assert publisher.status()["running"] is False


# ------------------------------------------------------------------ entry ids beyond one plain run
def test_a_queued_status_announced_with_publish_goes_first(
    redis_server: RedisServer, redis_client: Any
) -> None:
    from recording import make_job

    publisher = nnlab.connect(redis_server.url, heartbeat=0.3)
    job = make_job(nnlab.Network(SIZES, seed=0), nnlab.datasets.digits(), epochs=2, seed=0)
    publisher.publish("training_status", job.job_id, job.status_record().to_dict())  # as a server queues it
    job.run()
    wait_for(lambda: len(entries(redis_client, job.job_id)) == 5, 60)
    got = entries(redis_client, job.job_id)
    assert [entry for entry, _, _ in got] == ["0-1", "0-2", "1-0", "2-0", "2-1"]
    assert [p["status"] for _, e, p in got if e == "training_status"] == ["queued", "running", "completed"]


class CancelAfter(Observer):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, job: Any, record: Any) -> None:
        if record.epoch == self.epoch:
            job.cancel()


def test_a_resumed_run_goes_on_after_what_its_stream_has(
    redis_server: RedisServer, redis_client: Any, tmp_path: Any
) -> None:
    """Resumed (here after a hub marked it interrupted at its last epoch), a run's events
    land after everything already in its stream: none refused, none lost."""
    from nnlab.hub.keys import APPEND, HUB_MARK, append_args
    from nnlab.store import Store

    store = Store(tmp_path / "runs.sqlite")
    try:
        nnlab.connect(redis_server.url, heartbeat=0.3)
        first = train(5, store=store, observers=[CancelAfter(2)])
        assert first.status == "cancelled"
        wait_for(lambda: len(entries(redis_client, first.job_id)) == 4, 60)
        keys = Keys()
        mark = {**first.status_record().to_dict(), "status": "interrupted"}
        args = append_args(keys, first.job_id, f"2-{HUB_MARK}", "training_status", mark)
        assert redis_client.register_script(APPEND)(keys=args[0], args=args[1]) == 1  # as a hub would
        store.flush(60)
        resumed = nnlab.resume(first.job_id, store=store, progress=False)
        assert resumed.status == "completed"
        store.flush(60)
        wait_for(lambda: entries(redis_client, first.job_id)[-1][2].get("status") == "completed", 60)
        got = entries(redis_client, first.job_id)
    finally:
        nnlab.disconnect()
        store.close()
    assert [entry for entry, _, _ in got] == [
        "0-1",
        "1-0",
        "2-0",
        "2-1",  # cancelled
        f"2-{HUB_MARK}",  # interrupted, by the hub
        f"2-{HUB_MARK + 1}",  # running again
        "3-0",
        "4-0",
        "5-0",
        "5-1",
    ]
    assert nnlab.hub_status() is None


def test_disconnect_while_redis_is_down_says_what_was_not_published(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server.stop()
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING, "nnlab.hub"):
        warnings.simplefilter("always")
        publisher = nnlab.connect(redis_server.url, heartbeat=0.3)
        train(2)
        wait_for(lambda: publisher.status()["connected"] is False, 60)
        nnlab.disconnect()
    assert publisher.status()["running"] is False
    assert len(hub_warnings(caught)) == 1
    assert any("stopped publishing with 4 events" in r.getMessage() for r in caplog.records)


def test_an_event_that_is_not_json_is_counted_and_the_rest_goes_on(
    redis_server: RedisServer, redis_client: Any
) -> None:
    publisher = nnlab.connect(redis_server.url, heartbeat=0.3)
    publisher.publish(
        "training_diagnostics", "run-x", {"job_id": "run-x", "epoch": 1, "saturation": [math.nan]}
    )
    job = train(2)
    wait_for(lambda: len(entries(redis_client, job.job_id)) == 4, 60)
    status = publisher.status()
    assert status["failed"] == 1
    assert "cannot publish training_diagnostics of run run-x" in status["last_error"]
    assert redis_client.exists(Keys().job("run-x")) == 0


def test_the_buffer_keeps_the_newest_events_while_redis_is_down(
    redis_server: RedisServer, redis_client: Any
) -> None:
    from recording import make_job

    from nnlab.registry import Registry

    own = Registry()
    redis_server.stop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        publisher = Publisher(redis_server.url, heartbeat=0.3, registry=own, buffer=5).start()
        try:
            job = make_job(
                nnlab.Network(SIZES, seed=0), nnlab.datasets.digits(), registry=own, epochs=8, seed=0
            )
            job.run()
            wait_for(lambda: publisher.status()["dropped"] == 5, 60)
            assert publisher.status()["buffered"] == 5
            redis_server.start()
            wait_for(lambda: publisher.status()["written"] == 5, 60)
        finally:
            publisher.stop()
    assert [entry for entry, _, _ in entries(redis_client, job.job_id)] == ["5-0", "6-0", "7-0", "8-0", "8-1"]
    assert len(hub_warnings(caught)) == 1


EXITING = """
import sys
import nnlab
publisher = nnlab.connect(sys.argv[1], heartbeat=5)  # the key would outlive the test
job = nnlab.train(nnlab.Network([64, 10, 10], seed=0), epochs=3, seed=0, progress=False, store=False)
print(job.job_id, publisher.kernel_id, flush=True)
"""


def test_a_kernel_that_exits_publishes_what_waits_and_removes_its_heartbeat(
    redis_server: RedisServer, redis_client: Any
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", EXITING, redis_server.url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    job_id, kernel = done.stdout.split()
    assert [entry for entry, _, _ in entries(redis_client, job_id)] == expected_ids(3)
    assert redis_client.exists(Keys().kernel(kernel)) == 0
