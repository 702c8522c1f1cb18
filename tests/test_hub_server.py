"""The classroom hub's server side: kernels' runs, from a real Redis, to real clients.

Kernels are simulated here the way the publisher writes (``keys.APPEND`` to the run's
stream, then a broadcast with python-socketio's write-only ``RedisManager``), so every
fault can be made on purpose: a broadcast lost, a heartbeat gone, a hub restarted.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import socketio
from redis_helpers import RedisServer
from server_helpers import Api, external, finish, read_json_line, request, run_node

from nnlab.events import TrainingStatus, TrainingUpdate
from nnlab.hub._redis import sync_client
from nnlab.hub.keys import APPEND, HUB_MARK, Keys, append_args
from nnlab.registry import Registry
from nnlab.server import Server, current, serve

CHANNEL = "class-a"
SERVE = [sys.executable, "-m", "nnlab", "serve", "--port", "0", "--no-store"]


class Kernel:
    """A simulated kernel of the class: writes and broadcasts its runs' events."""

    def __init__(self, url: str, owner: str, *, channel: str = CHANNEL, ttl: float = 30.0) -> None:
        self.owner = owner
        self.kernel_id = f"host-{owner}-1"
        self.keys = Keys(channel)
        self.redis = sync_client(url)
        self.append = self.redis.register_script(APPEND)
        self.mgr = socketio.RedisManager(url, channel=channel, write_only=True)
        self.ttl = ttl
        self.beat()

    def beat(self) -> None:
        identity = {"owner": self.owner, "host": "host", "kernel_id": self.kernel_id}
        self.redis.set(self.keys.kernel(self.kernel_id), json.dumps(identity), px=int(self.ttl * 1000))

    def die(self) -> None:
        self.redis.delete(self.keys.kernel(self.kernel_id))

    def status(self, job_id: str, status: str, epoch: int, total: int) -> dict[str, Any]:
        return TrainingStatus(
            job_id=job_id,
            network_id=f"net-{job_id}",
            status=status,  # type: ignore[arg-type]
            epoch=epoch,
            total_epochs=total,
            owner=self.owner,
            host="host",
            kernel_id=self.kernel_id,
            sizes=(64, 10),
        ).to_dict()

    def write(
        self, job_id: str, entry: str, event: str, payload: dict[str, Any], *, emit: bool = True
    ) -> None:
        network = None
        if entry == "0-1":
            network = {
                "network_id": payload["network_id"],
                "sizes": [64, 10],
                "owner": self.owner,
                "host": "host",
                "kernel_id": self.kernel_id,
            }
        keys, args = append_args(self.keys, job_id, entry, event, payload, network=network)
        assert self.append(keys=keys, args=args) == 1
        if emit:
            self.mgr.emit(event, payload, namespace="/")

    def start(self, job_id: str, total: int, *, emit: bool = True) -> None:
        self.write(job_id, "0-1", "training_status", self.status(job_id, "running", 0, total), emit=emit)

    def epoch(self, job_id: str, epoch: int, total: int, *, emit: bool = True) -> None:
        update = TrainingUpdate.for_epoch(job_id, f"net-{job_id}", epoch, total, 0.5, correct=5, total=10)
        self.write(job_id, f"{epoch}-0", "training_update", update.to_dict(), emit=emit)

    def end(self, job_id: str, total: int, *, emit: bool = True) -> None:
        self.write(
            job_id, f"{total}-1", "training_status", self.status(job_id, "completed", total, total), emit=emit
        )

    def run(self, job_id: str, total: int, *, emit: bool = True) -> None:
        self.start(job_id, total, emit=emit)
        for epoch in range(1, total + 1):
            self.epoch(job_id, epoch, total, emit=emit)
        self.end(job_id, total, emit=emit)

    def close(self) -> None:
        self.redis.close()
        if self.mgr.redis is not None:
            self.mgr.redis.close()


class Client:
    """A python-socketio client of a hub that records the training events."""

    def __init__(
        self, url: str, auth: dict[str, Any] | None = None, transports: list[str] | None = None
    ) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._cond = threading.Condition()
        self.client = socketio.Client(reconnection=False)
        for name in ("training_update", "training_status"):
            self.client.on(name, self._recorder(name))
        self.client.connect(url, auth=auth, transports=transports or ["websocket"], wait_timeout=10)

    def _recorder(self, name: str) -> Callable[[dict[str, Any]], None]:
        def record(data: dict[str, Any]) -> None:
            with self._cond:
                self.events.append((name, data))
                self._cond.notify_all()

        return record

    def epochs(self, job_id: str) -> list[int]:
        with self._cond:
            return [d["epoch"] for n, d in self.events if n == "training_update" and d["job_id"] == job_id]

    def statuses(self, job_id: str) -> list[dict[str, Any]]:
        with self._cond:
            return [d for n, d in self.events if n == "training_status" and d["job_id"] == job_id]

    def jobs(self) -> set[str]:
        with self._cond:
            return {d["job_id"] for _, d in self.events}

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; got {self.events[-5:]}"
                self._cond.wait(min(left, 0.2))

    def wait_epochs(self, job_id: str, total: int, timeout: float = 20.0) -> None:
        self.wait_for(lambda: total in self.epochs(job_id), timeout)

    def close(self) -> None:
        self.client.disconnect()


def hub(url: str, **kw: Any) -> Server:
    """A real hub of the class on a free port, with a registry of its own."""
    return Server(port=0, registry=Registry(), store=False, redis=url, channel=CHANNEL, **kw).start()


@pytest.fixture
def kernels(redis_server: RedisServer) -> Iterator[Callable[..., Kernel]]:
    made: list[Kernel] = []

    def make(owner: str, **kw: Any) -> Kernel:
        kernel = Kernel(redis_server.url, owner, **kw)
        made.append(kernel)
        return kernel

    yield make
    for kernel in made:
        kernel.close()


@pytest.fixture
def hubs(redis_server: RedisServer) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def make(**kw: Any) -> Server:
        server = hub(redis_server.url, **kw)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def clients() -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(url: str, **kw: Any) -> Client:
        client = Client(url, **kw)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def subscribed(server: Server) -> bool:
    """Whether the hub listens on the class channel (pub/sub)."""
    app = server._app
    assert app is not None
    manager = app.sio.manager
    return bool(manager.pubsub is not None and manager.pubsub.subscribed)


# ---------------------------------------------------------------------------------- delivery
def test_client_gets_every_epoch_of_kernels_runs_in_order_with_owners(kernels, hubs, clients) -> None:
    server = hubs()
    wait_until(lambda: subscribed(server), what="the hub's subscription")
    client = clients(server.url)
    ada, bob = kernels("ada"), kernels("bob")
    for epoch_round in range(1, 9):
        if epoch_round == 1:
            ada.start("ja", 8)
            bob.start("jb", 8)
        ada.epoch("ja", epoch_round, 8)
        bob.epoch("jb", epoch_round, 8)
    ada.end("ja", 8)
    bob.end("jb", 8)
    for job_id, owner in (("ja", "ada"), ("jb", "bob")):
        client.wait_for(lambda j=job_id: [s["status"] for s in client.statuses(j)][-1:] == ["completed"])
        assert client.epochs(job_id) == list(range(1, 9))
        statuses = client.statuses(job_id)
        assert [s["status"] for s in statuses] == ["running", "completed"]
        assert {(s["owner"], s["kernel_id"]) for s in statuses} == {(owner, f"host-{owner}-1")}
    updates = [d for n, d in client.events if n == "training_update"]
    assert all("owner" not in u and "kernel_id" not in u for u in updates)  # the contract's update


def test_two_hubs_on_one_redis_each_client_gets_every_epoch_once(kernels, hubs, clients) -> None:
    one, two = hubs(), hubs()
    wait_until(lambda: subscribed(one) and subscribed(two), what="both hubs' subscriptions")
    c1, c2 = clients(one.url), clients(two.url, transports=["polling"])
    kernel = kernels("ada")
    for job_id in ("j1", "j2", "j3"):
        kernel.start(job_id, 20)
    for epoch in range(1, 21):
        for job_id in ("j1", "j2", "j3"):
            kernel.epoch(job_id, epoch, 20)
    for job_id in ("j1", "j2", "j3"):
        kernel.end(job_id, 20)
    for client in (c1, c2):
        for job_id in ("j1", "j2", "j3"):
            client.wait_for(lambda c=client, j=job_id: len(c.statuses(j)) == 2)
            assert client.epochs(job_id) == list(range(1, 21))


def test_replay_since_comes_from_the_runs_stream(kernels, hubs, clients) -> None:
    server = hubs()
    wait_until(lambda: subscribed(server), what="the hub's subscription")
    kernel = kernels("ada")
    kernel.start("jr", 30)
    for epoch in range(1, 21):
        kernel.epoch("jr", epoch, 30)
    watcher = clients(server.url)
    wait_until(lambda: Api(server.url).get("/api/jobs/jr?history=false")[1].get("epochs_completed") == 20)
    late = clients(server.url, auth={"since": {"jr": 5}})
    for epoch in range(21, 31):
        kernel.epoch("jr", epoch, 30)
    kernel.end("jr", 30)
    late.wait_for(lambda: any(s["status"] == "completed" for s in late.statuses("jr")))
    assert late.epochs("jr") == list(range(6, 31))
    watcher.wait_epochs("jr", 30)
    seen = watcher.epochs("jr")  # a late joiner: the latest epoch when it joined, then live
    assert seen == list(range(seen[0], 31))


def test_hub_restarted_mid_run_rebuilds_from_redis(redis_server, kernels, hubs, clients) -> None:
    first = hubs()
    wait_until(lambda: subscribed(first), what="the hub's subscription")
    client = clients(first.url)
    kernel = kernels("ada")
    kernel.start("jh", 30)
    for epoch in range(1, 11):
        kernel.epoch("jh", epoch, 30)
    client.wait_epochs("jh", 10)
    client.close()
    first.stop()
    for epoch in range(11, 16):  # nobody listening
        kernel.epoch("jh", epoch, 30)
    second = hubs()
    status, jobs = Api(second.url).get("/api/jobs")
    assert status == 200
    (run,) = [job for job in jobs if job["job_id"] == "jh"]
    assert run["status"] == "running"
    assert run["owner"] == "ada"
    assert run["epochs_completed"] == 15
    again = clients(second.url, auth={"since": {"jh": 10}})
    wait_until(lambda: subscribed(second), what="the hub's subscription")
    for epoch in range(16, 31):
        kernel.epoch("jh", epoch, 30)
    kernel.end("jh", 30)
    again.wait_for(lambda: any(s["status"] == "completed" for s in again.statuses("jh")))
    assert again.epochs("jh") == list(range(11, 31))


def test_lost_broadcasts_are_reconciled_in_order(kernels, hubs, clients) -> None:
    server = hubs()
    client = clients(server.url)
    kernel = kernels("ada")
    kernel.start("jl", 12, emit=False)
    for epoch in range(1, 7):
        kernel.epoch("jl", epoch, 12, emit=False)  # the stream only: pub/sub lost them
    client.wait_epochs("jl", 6)
    wait_until(lambda: subscribed(server), what="the hub's subscription")
    kernel.epoch("jl", 7, 12)
    kernel.epoch("jl", 8, 12, emit=False)
    kernel.epoch("jl", 9, 12)  # a gap: filled from the stream at once
    for epoch in range(10, 13):
        kernel.epoch("jl", epoch, 12, emit=False)
    kernel.end("jl", 12, emit=False)
    client.wait_for(lambda: any(s["status"] == "completed" for s in client.statuses("jl")))
    assert client.epochs("jl") == list(range(1, 13))
    assert [s["status"] for s in client.statuses("jl")] == ["running", "completed"]


def test_run_of_a_kernel_whose_heartbeat_is_gone_is_interrupted(kernels, hubs, clients) -> None:
    one, two = hubs(), hubs()
    wait_until(lambda: subscribed(one) and subscribed(two), what="both hubs' subscriptions")
    client = clients(two.url)
    kernel = kernels("ada", ttl=0.5)
    kernel.start("jd", 10)
    for epoch in range(1, 4):
        kernel.epoch("jd", epoch, 10)
    client.wait_epochs("jd", 3)
    # the kernel dies: its heartbeat expires
    client.wait_for(lambda: any(s["status"] == "interrupted" for s in client.statuses("jd")), timeout=30)
    final = client.statuses("jd")[-1]
    assert final["status"] == "interrupted"
    assert final["epoch"] == 3
    assert final["owner"] == "ada"
    assert [s["status"] for s in client.statuses("jd")].count("interrupted") == 1
    entries = kernel.redis.xrange(kernel.keys.job("jd"))
    marks = [entry for entry, _ in entries if entry.endswith(f"-{HUB_MARK}")]
    assert marks == [f"3-{HUB_MARK}"]  # written once, whichever hub won
    for server in (one, two):
        wait_until(lambda s=server: Api(s.url).get("/api/jobs/jd")[1]["status"] == "interrupted")


def test_rooms_follow_owner_network_or_job(kernels, hubs, clients) -> None:
    server = hubs()
    wait_until(lambda: subscribed(server), what="the hub's subscription")
    everyone = clients(server.url)
    by_owner = clients(server.url, auth={"owner": "ada"})
    by_network = clients(server.url + "?network_id=net-b2", transports=["polling"])
    by_job = clients(server.url, auth={"job_id": "b1"})
    ada, bob = kernels("ada"), kernels("bob")
    ada.run("a1", 3)
    ada.run("a2", 3)
    bob.run("b1", 3)
    bob.run("b2", 3)
    for job_id in ("a1", "a2", "b1", "b2"):
        everyone.wait_for(lambda j=job_id: len(everyone.statuses(j)) == 2)
    by_owner.wait_for(lambda: all(len(by_owner.statuses(j)) == 2 for j in ("a1", "a2")))
    by_network.wait_for(lambda: len(by_network.statuses("b2")) == 2)
    by_job.wait_for(lambda: len(by_job.statuses("b1")) == 2)
    assert everyone.jobs() == {"a1", "a2", "b1", "b2"}
    assert by_owner.jobs() == {"a1", "a2"}
    assert by_network.jobs() == {"b2"}
    assert by_job.jobs() == {"b1"}
    assert by_owner.epochs("a2") == [1, 2, 3]
    status, jobs = Api(server.url).get("/api/jobs?owner=bob")
    assert status == 200
    assert sorted(j["job_id"] for j in jobs) == ["b1", "b2"]


# ---------------------------------------------------------------------------------- control
def test_control_of_a_kernels_run_is_published_to_its_kernel(redis_server, kernels, hubs) -> None:
    server = hubs()
    api = Api(server.url)
    kernel = kernels("ada")
    kernel.start("jc", 50)
    kernel.epoch("jc", 1, 50)
    wait_until(lambda: api.get("/api/jobs/jc")[0] == 200, what="the hub to know the run")
    listener = sync_client(redis_server.url).pubsub()
    listener.subscribe(kernel.keys.control(kernel.kernel_id))
    try:
        assert listener.get_message(timeout=5)["type"] == "subscribe"
        status, body = api.post("/api/jobs/jc/cancel")
        assert status == 202
        assert body["status"] == "running"
        assert body["owner"] == "ada"
        status, body = api.post("/api/jobs/jc/pause")
        assert status == 202
        status, body = api("PATCH", "/api/jobs/jc", {"learning_rate": 0.25})
        assert status == 202
        status, body = api("PATCH", "/api/jobs/jc", {"learning_rate": -1})
        assert status == 422
        assert body["field"] == "learning_rate"
        sio = socketio.Client(reconnection=False)
        sio.connect(server.url, transports=["websocket"], wait_timeout=10)
        try:
            ack = sio.call("resume_job", {"job_id": "jc"}, timeout=10)
        finally:
            sio.disconnect()
        assert ack["ok"] is True
        assert ack["job"]["job_id"] == "jc"
        got = []
        while len(got) < 4:
            message = listener.get_message(timeout=5)
            assert message is not None, got
            got.append(json.loads(message["data"]))
        assert got == [
            {"action": "cancel", "job_id": "jc"},
            {"action": "pause", "job_id": "jc"},
            {"action": "set_learning_rate", "job_id": "jc", "learning_rate": 0.25},
            {"action": "resume", "job_id": "jc"},
        ]
    finally:
        listener.close()
    kernel.die()
    status, body = api.post("/api/jobs/jc/cancel")
    assert status == 409
    assert body["field"] == "job_id"
    assert body["owner"] == "ada"
    assert body["kernel_id"] == kernel.kernel_id
    assert "ada" in body["error"]
    assert kernel.kernel_id in body["error"]


def test_training_a_kernels_network_at_the_hub_is_refused(kernels, hubs) -> None:
    server = hubs()
    api = Api(server.url)
    kernel = kernels("ada")
    kernel.run("jn", 2)
    wait_until(lambda: api.get("/api/networks/net-jn")[0] == 200, what="the hub to know the network")
    status, net = api.get("/api/networks/net-jn")
    assert net["owner"] == "ada"
    assert net["job_ids"] == ["jn"]
    assert net["sizes"] == [64, 10]
    status, networks = api.get("/api/networks")
    assert status == 200
    assert "net-jn" in [n["network_id"] for n in networks]
    status, body = api.post("/api/networks/net-jn/train", {"epochs": 1})
    assert status == 409
    assert body["field"] == "network_id"
    assert body["owner"] == "ada"
    assert body["kernel_id"] == kernel.kernel_id
    assert "ada" in body["error"]
    status, body = api.delete("/api/networks/net-jn")
    assert status == 409
    assert body["owner"] == "ada"
    status, jobs = api.get("/api/networks/net-jn/jobs")
    assert status == 200
    assert [(j["job_id"], j["owner"]) for j in jobs] == [("jn", "ada")]
    status, job = api.get("/api/jobs/jn")
    assert status == 200
    assert [u["epoch"] for u in job["history"]] == [1, 2]
    status, updates = api.get("/api/jobs/jn/updates?after=1")
    assert status == 200
    assert [u["epoch"] for u in updates] == [2]


# ---------------------------------------------------------------------------------- the hub itself
def test_hub_needs_its_token(kernels, hubs) -> None:
    server = hubs(token="class-secret-0123456789")
    status, _body, _ = request(server.url, "GET", "/api/jobs")
    assert status == 401
    status, _, _ = request(
        server.url, "GET", "/api/jobs", headers={"Authorization": "Bearer class-secret-0123456789"}
    )
    assert status == 200
    sio = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(server.url, transports=["websocket"], wait_timeout=10)
    sio.connect(
        server.url, transports=["websocket"], auth={"token": "class-secret-0123456789"}, wait_timeout=10
    )
    sio.disconnect()


def test_health_and_banner_show_redis_redacted(redis_server, hubs) -> None:
    server = hubs()
    status, health = Api(server.url).get("/api/health")
    assert status == 200
    assert health["redis"]["url"] == redis_server.url
    assert health["redis"]["channel"] == CHANNEL
    assert health["redis"]["connected"] is True
    assert health["redis"]["last_error"] is None
    line = server.class_line()
    assert line is not None
    assert CHANNEL in line
    assert redis_server.url in line


def test_health_shows_redis_down_with_password_hidden(tmp_path) -> None:
    from redis_helpers import redis_binary

    protected = RedisServer(redis_binary(), tmp_path, password="s3cret-pw").start()
    try:
        server = hub(protected.url)
        try:
            protected.stop()
            wait_until(lambda: Api(server.url).get("/api/health")[1]["redis"]["connected"] is False)
            redis_state = Api(server.url).get("/api/health")[1]["redis"]
            assert "s3cret-pw" not in json.dumps(redis_state)
            assert ":***@" in redis_state["url"]
            assert redis_state["last_error"]
            assert "s3cret-pw" not in (server.class_line() or "")
        finally:
            server.stop()
    finally:
        protected.stop()


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "localhost:6379", "", 6379])
def test_bad_redis_urls_are_refused_naming_the_argument(url: Any) -> None:
    with pytest.raises(ValueError, match="redis must be a URL such as 'redis://HOST:6379/0'"):
        Server(port=0, registry=Registry(), store=False, redis=url)
    with pytest.raises(ValueError, match="redis must be a URL such as 'redis://HOST:6379/0'"):
        serve(port=0, store=False, redis=url, quiet=True)
    assert current() is None  # nothing started


def test_bad_channel_is_refused() -> None:
    with pytest.raises(ValueError, match="channel must be a short name"):
        Server(port=0, registry=Registry(), store=False, redis="redis://127.0.0.1:1/0", channel="a b")


def test_cli_refuses_a_bad_redis_url_naming_the_flag() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nnlab", "serve", "--port", "0", "--redis", "http://x:1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--redis" in proc.stderr
    assert "redis://HOST:6379/0" in proc.stderr


def test_cli_channel_without_redis_is_refused() -> None:
    proc = subprocess.run([*SERVE, "--channel", "physics"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--redis" in proc.stderr


def test_cli_without_the_redis_client_says_how_to_install_it(tmp_path) -> None:
    # a `redis` module that cannot be imported, first on the path
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "__init__.py").write_text("raise ImportError('no redis here')\n")
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); from nnlab.cli import main; sys.exit(main())"
    proc = subprocess.run(
        [sys.executable, "-c", code, "serve", "--port", "0", "--redis", "redis://127.0.0.1:1/0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'nnlab[hub]'" in proc.stderr


# ---------------------------------------------------------------------------------- the override
def test_class_manager_takes_over_kernels_broadcasts_only(kernels, hubs) -> None:
    """Pins the python-socketio internal the hub overrides (``ClassManager._handle_emit``):
    a kernel's broadcast of a training event reaches a client once, through the fan-out (the
    default handling would deliver it a second time), while any other broadcast and an emit
    to a room are handled as python-socketio does."""
    server = hubs()
    wait_until(lambda: subscribed(server), what="the hub's subscription")
    got: list[tuple[str, Any]] = []
    sio = socketio.Client(reconnection=False)
    sio.on("training_update", lambda data: got.append(("training_update", data)))
    sio.on("notice", lambda data: got.append(("notice", data)))
    sio.connect(server.url, transports=["websocket"], wait_timeout=10)
    try:
        kernel = kernels("ada")
        kernel.start("jo", 2)
        kernel.epoch("jo", 1, 2)
        kernel.mgr.emit("notice", {"text": "hello"}, namespace="/")
        kernel.mgr.emit("notice", {"text": "room"}, namespace="/", to="nnlab-mirror")
        kernel.epoch("jo", 2, 2)
        kernel.end("jo", 2)
        wait_until(lambda: len(got) >= 4, what="the events")
        time.sleep(0)  # nothing more is expected; the order is checked below
        assert sorted(str(d) for _, d in got if _ == "notice") == [
            str({"text": "hello"}),
            str({"text": "room"}),
        ]
        assert [d["epoch"] for e, d in got if e == "training_update"] == [1, 2]
    finally:
        sio.disconnect()


def test_nnlab_serve_redis_runs_a_hub_and_shows_the_class(tmp_path, processes, kernels) -> None:
    from redis_helpers import redis_binary

    protected = RedisServer(redis_binary(), tmp_path, password="s3cret-pw").start()
    try:
        url, shown = serve_hub(protected.url, processes)
        proc = processes[-1]
        text = "".join(shown)
        (class_line,) = [line for line in shown if line.startswith("class ")]
        assert f"'{CHANNEL}'" in class_line
        assert ":***@127.0.0.1" in class_line
        assert "s3cret-pw" not in text
        api = Api(url)
        kernel = Kernel(protected.url, "ada")
        try:
            kernel.run("jp", 2)
            wait_until(lambda: api.get("/api/jobs?owner=ada")[1][-1:] != [], what="the kernel's run")
            assert api.get("/api/jobs/jp")[1]["status"] == "completed"
        finally:
            kernel.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        protected.stop()


def test_openapi_documents_the_hub(hubs) -> None:
    document = Api(hubs().url).get("/openapi.json")[1]
    job = document["components"]["schemas"]["Job"]["properties"]
    assert {"owner", "host", "kernel_id"} <= set(job)
    assert "redis" in document["components"]["schemas"]["Health"]["properties"]
    for action in ("cancel", "pause", "resume"):
        responses = document["paths"][f"/api/jobs/{{job_id}}/{action}"]["post"]["responses"]
        assert "202" in responses
        assert "heartbeat" in responses["409"]["description"]
    params = document["paths"]["/api/jobs"]["get"]["parameters"]
    assert "owner" in [p["name"] for p in params]


def test_redis_restarted_mid_run_the_client_ends_with_every_epoch(
    redis_server, kernels, hubs, clients
) -> None:
    server = hubs()
    wait_until(lambda: subscribed(server), what="the hub's subscription")
    client = clients(server.url)
    kernel, other = kernels("ada"), kernels("bob")
    kernel.start("jx", 8)
    for epoch in range(1, 6):
        kernel.epoch("jx", epoch, 8)
    client.wait_epochs("jx", 5)
    redis_server.stop()
    redis_server.start()  # empty: the class's version counter starts again
    for attempt in range(100):  # the clients reconnect on their next call
        try:
            kernel.redis.ping()
            other.redis.ping()
            break
        except redis.exceptions.ConnectionError:
            assert attempt < 99, "Redis did not come back"
            time.sleep(0.1)
    # What a publisher writes again after the restart, its broadcasts lost (the hub is still
    # resubscribing); then another run's events carry the counter past where it was, so
    # only a hub that noticed the restart looks at the first run again.
    for epoch in range(6, 9):
        kernel.epoch("jx", epoch, 8, emit=False)
    kernel.end("jx", 8, emit=False)
    other.run("jy", 10, emit=False)
    client.wait_for(lambda: any(s["status"] == "completed" for s in client.statuses("jy")), timeout=30)
    client.wait_for(lambda: any(s["status"] == "completed" for s in client.statuses("jx")), timeout=30)
    assert client.epochs("jx") == list(range(1, 9))
    assert client.epochs("jy") == list(range(1, 11))


def test_a_run_too_far_behind_goes_on_from_its_newest_epoch(monkeypatch, kernels, hubs, clients) -> None:
    import nnlab.hub.classview as classview

    monkeypatch.setattr(classview, "FILL_BATCH", 4)
    monkeypatch.setattr(classview, "FILL_LIMIT", 8)
    server = hubs()
    client = clients(server.url)
    kernel = kernels("ada")
    kernel.start("jf", 30, emit=False)
    for epoch in range(1, 31):
        kernel.epoch("jf", epoch, 30, emit=False)
    client.wait_epochs("jf", 30)
    seen = client.epochs("jf")
    assert seen[:7] == list(range(1, 8))  # the status and 7 epochs: one fill's worth
    assert seen[-1] == 30
    assert seen == sorted(set(seen))  # in order, none twice
    health = Api(server.url).get("/api/health")[1]["redis"]
    assert health["coalesced"] == 30 - len(seen)
    late = clients(server.url, auth={"since": {"jf": 0}})  # the stream still has every epoch
    late.wait_epochs("jf", 30)
    assert late.epochs("jf") == list(range(1, 31))


def serve_hub(url: str, processes: list[subprocess.Popen[str]], *options: str) -> tuple[str, list[str]]:
    """``nnlab serve --redis url`` in a process of its own: its URL and the lines it showed."""
    proc = subprocess.Popen(
        [*SERVE, "--redis", url, "--channel", CHANNEL, *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    processes.append(proc)
    assert proc.stdout is not None
    shown = []
    for line in proc.stdout:
        shown.append(line)
        if line.startswith("press Ctrl-C"):
            break
    return shown[0].split()[3], shown


def test_runs_trained_at_a_hub_reach_the_other_hubs_and_obey_them(
    redis_server, processes, hubs, clients
) -> None:
    other_url, _ = serve_hub(redis_server.url, processes, "--max-running-jobs", "1")
    server = hubs()
    wait_until(lambda: subscribed(server), what="the hub's subscription")
    client = clients(server.url)
    there, here = Api(other_url), Api(server.url)
    net = there.create_network([64, 12, 10])
    status, job = there.post(f"/api/networks/{net['network_id']}/train", {"epochs": 4, "mini_batch_size": 50})
    assert status == 202
    job_id = job["job_id"]
    client.wait_for(lambda: any(s["status"] == "completed" for s in client.statuses(job_id)))
    assert client.epochs(job_id) == [1, 2, 3, 4]
    assert {s["owner"] for s in client.statuses(job_id)} == {job["owner"]}
    listed = here.get(f"/api/jobs?network_id={net['network_id']}")[1]
    assert [(j["job_id"], j["status"], j["kernel_id"]) for j in listed] == [
        (job_id, "completed", job["kernel_id"])
    ]
    status, body = here.post(f"/api/networks/{net['network_id']}/train", {"epochs": 1})
    assert status == 409
    assert body["kernel_id"] == job["kernel_id"]
    # a long run there, cancelled from here: the request reaches that hub's process; a
    # second one waits for its slot meanwhile (queued), then runs
    status, job = there.post(
        f"/api/networks/{net['network_id']}/train", {"epochs": 10_000, "mini_batch_size": 50}
    )
    assert status == 202
    second = there.create_network([64, 10])
    status, waiting = there.post(f"/api/networks/{second['network_id']}/train", {"epochs": 2})
    assert status == 202
    assert waiting["status"] == "queued"
    client.wait_epochs(job["job_id"], 2)
    status, body = here.post(f"/api/jobs/{job['job_id']}/cancel")
    assert status == 202
    assert there.wait_job(job["job_id"])["status"] == "cancelled"
    client.wait_for(lambda: any(s["status"] == "cancelled" for s in client.statuses(job["job_id"])))
    client.wait_for(lambda: any(s["status"] == "completed" for s in client.statuses(waiting["job_id"])))
    assert [s["status"] for s in client.statuses(waiting["job_id"])] == ["queued", "running", "completed"]
    assert client.epochs(waiting["job_id"]) == [1, 2]


def test_the_seeds_node_client_gets_every_epoch_of_kernels_runs(kernels, hubs) -> None:
    external("node")
    server = hubs()
    wait_until(lambda: subscribed(server), what="the hub's subscription")
    proc = run_node("contract_clients.mjs", server.url, "3", "4")
    assert read_json_line(proc)["ready"]
    owners = [kernels(name) for name in ("ada", "bob")]
    for kernel in owners:
        for run in ("1", "2"):
            kernel.start(f"{kernel.owner}-{run}", 6)
    for epoch in range(1, 7):
        for kernel in owners:
            for run in ("1", "2"):
                kernel.epoch(f"{kernel.owner}-{run}", epoch, 6)
    for kernel in owners:
        for run in ("1", "2"):
            kernel.end(f"{kernel.owner}-{run}", 6)
    clients = finish(proc)["clients"]
    assert len(clients) == 3
    for client in clients:
        assert client["problems"] == []  # every field of the contract, nothing more
        assert client["epochs"] == {f"{o}-{r}": list(range(1, 7)) for o in ("ada", "bob") for r in ("1", "2")}
        assert all(s == ["running", "completed"] for s in client["statuses"].values())


def test_a_refused_redis_url_does_not_show_its_password() -> None:
    with pytest.raises(ValueError, match="redis must be a URL") as refused:
        Server(port=0, registry=Registry(), store=False, redis="http://teacher:s3cret-pw@127.0.0.1:6379/0")
    assert "s3cret-pw" not in str(refused.value)
    assert "teacher:***@" in str(refused.value)


def test_heartbeats_are_not_judged_right_after_redis_lost_them(redis_server, kernels) -> None:
    """Redis restarted empty: the kernels' heartbeat keys are gone until each writes its
    next one, so the hub waits (HEARTBEAT_GRACE) before calling their runs interrupted."""
    import asyncio

    from nnlab.hub.classview import ClassView

    kernel = kernels("ada")
    kernel.start("jg", 10)
    kernel.epoch("jg", 1, 10)
    released: list[tuple[str, str, Any]] = []

    async def main() -> None:
        view = ClassView(
            redis_server.url, CHANNEL, released.append, lambda job_id: False,
            reconcile_interval=3600, heartbeat_check=3600,
        )  # fmt: skip
        await view.start()
        try:
            assert [(e, j) for e, j, _ in released] == [("training_status", "jg"), ("training_update", "jg")]
            redis_server.stop()
            redis_server.start()  # empty: no heartbeat, no mark
            kernel.epoch("jg", 2, 10, emit=False)  # the publisher writes again; no heartbeat yet
            for attempt in range(100):
                try:
                    await view.reconcile()
                    break
                except redis.exceptions.ConnectionError:  # the connection is made again on the next call
                    assert attempt < 99, "Redis did not come back"
                    await asyncio.sleep(0.1)
            for _ in range(3):
                await view.check_heartbeats()
            assert view.state.interrupted == 0
            assert [p.get("status") for e, _, p in released if e == "training_status"] == ["running"]
            assert [p["epoch"] for e, _, p in released if e == "training_update"] == [1, 2]
        finally:
            await view.stop()

    asyncio.run(main())
