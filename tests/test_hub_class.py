"""A class on one Redis, process by process: kernels (``tests/hub_kernel.py``, each a real
process that ``nnlab.connect``\\s and trains) publishing to hubs (``nnlab serve --redis``
subprocesses), watched by python-socketio clients (:class:`InOrder`) and Node's
socket.io-client with the dashboard contract's options; then the faults a class meets: a
kernel killed, a hub restarted, Redis restarted, each in the middle of a run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from redis_helpers import RedisServer
from server_helpers import Recorder, check_update, external, finish, read_json_line, request, run_node

KERNEL = Path(__file__).parent / "hub_kernel.py"
#: Seconds between a kernel's heartbeats in the fault tests (its key expires after three), so
#: a killed kernel's run is interrupted soon.
HEARTBEAT = 0.3
#: Generous seconds to wait for anything a hub or kernel does.
WAIT = 60.0

Processes = list[subprocess.Popen[str]]


# ---------------------------------------------------------------------- processes
class Class:
    """Hubs and kernels of one class (``channel``) on ``redis``, as processes; their
    stderr goes to one log a failure shows."""

    def __init__(self, redis: RedisServer, processes: Processes, channel: str, log: Path) -> None:
        self.redis = redis
        self.processes = processes
        self.channel = channel
        self.log = log

    def hub(self) -> tuple[subprocess.Popen[str], str]:
        """``nnlab serve --port 0 --redis URL --channel C --no-store``: (process, its URL)
        once its banner is out."""
        args = ["serve", "--port", "0", "--redis", self.redis.url, "--channel", self.channel, "--no-store"]
        proc = self._start([sys.executable, "-m", "nnlab", *args], {}, stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        lines = [proc.stdout.readline()]
        while "press Ctrl-C" not in lines[-1]:
            if not lines[-1]:  # it exited: say why
                proc.wait(timeout=10)
                raise AssertionError(f"nnlab serve exited ({proc.returncode}): {self.log.read_text()}")
            lines.append(proc.stdout.readline())
        assert any(f"class {self.channel!r} on {self.redis.url}" in line for line in lines), lines
        return proc, lines[0].split()[3]

    def kernel(
        self,
        owner: str,
        *,
        epochs: int,
        seconds_per_epoch: float,
        runs: int = 1,
        seed: int = 0,
        go: bool = False,
        say_epochs: bool = False,
        heartbeat: float | None = HEARTBEAT,
    ) -> subprocess.Popen[str]:
        """A kernel process (``tests/hub_kernel.py``) that heartbeats every ``heartbeat`` s
        (``None``: nnlab's default)."""
        args = [
            f"--redis={self.redis.url}",
            f"--channel={self.channel}",
            f"--owner={owner}",
            f"--epochs={epochs}",
            f"--seconds-per-epoch={seconds_per_epoch}",
            f"--runs={runs}",
            f"--seed={seed}",
        ]
        args += ["--go"] * go + ["--say-epochs"] * say_epochs
        env = {} if heartbeat is None else {"NNLAB_HUB_HEARTBEAT": str(heartbeat)}
        return self._start([sys.executable, str(KERNEL), *args], env, stdin=subprocess.PIPE)

    def _start(self, args: list[str], env: dict[str, str], stdin: int) -> subprocess.Popen[str]:
        with self.log.open("a") as log:
            proc = subprocess.Popen(
                args,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**_env(), **env},
            )
        self.processes.append(proc)
        return proc


def stop_hub(proc: subprocess.Popen[str]) -> None:
    """End a hub as a service manager would (SIGTERM) and wait for it."""
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "stopped" in out


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NNLAB_REDIS_URL", "NNLAB_OWNER")}
    return {**env, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def kernel_lines(proc: subprocess.Popen[str], log: Path) -> list[dict[str, Any]]:
    """The JSON lines a kernel prints from here until it exits (which it must, cleanly)."""
    assert proc.stdout is not None
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(WAIT)
    if reader.is_alive():
        proc.kill()
        reader.join(10)
        raise AssertionError(f"kernel still running after {WAIT} s: {log.read_text()}")
    assert proc.wait(timeout=WAIT) == 0, f"kernel exited {proc.returncode}: {log.read_text()}"
    return [json.loads(line) for line in out[0].splitlines() if line.strip()]


def next_line(proc: subprocess.Popen[str], want: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The kernel's next JSON line that ``want`` accepts."""
    while not want(line := read_json_line(proc, timeout=WAIT)):
        pass
    return line


# ---------------------------------------------------------------------- what clients saw
class InOrder(Recorder):
    """:class:`Recorder`'s records, from python-socketio's asyncio client on a loop of its own
    (a thread): events are recorded in the order they arrive. (The threaded client hands each
    message to a new thread, so two arriving close together may be recorded swapped.)"""

    def __init__(self, url: str, transports: list[str]) -> None:
        import socketio

        self.drop = ()
        self.events = []
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="in-order-client", daemon=True)
        self._thread.start()
        self.client = socketio.AsyncClient(reconnection=False)  # type: ignore[assignment]
        for name in ("training_update", "training_status"):
            self.client.on(name, self._recorder(name))
        self.connect(url, transports)

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(WAIT)

    def connect(self, url: str, transports: list[str], auth: dict[str, Any] | None = None) -> None:
        self._run(self.client.connect(url, transports=transports, auth=auth, wait_timeout=10))

    def close(self) -> None:
        async def wind_down() -> None:
            if self.client.connected:
                await self.client.disconnect()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self._run(wind_down())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT)
        self._loop.close()


def epochs(recorder: Recorder, job_id: str) -> list[int]:
    return [u["epoch"] for u in recorder.updates(job_id)]


def statuses(recorder: Recorder, job_id: str) -> list[dict[str, Any]]:
    with recorder._cond:
        return [d for n, d in recorder.events if n == "training_status" and d["job_id"] == job_id]


def story(recorder: Recorder, job_id: str) -> list[int | str]:
    """What ``recorder`` got of a job, in order, e.g. ``["running", 1, 2, "completed"]``
    (shown when a test fails)."""
    with recorder._cond:
        return [
            d["epoch"] if n == "training_update" else d["status"]
            for n, d in recorder.events
            if d["job_id"] == job_id
        ]


def wait_ended(recorder: Recorder, job_ids: list[str], status: str = "completed") -> None:
    """Wait until ``recorder`` has the ``status`` of every job (failing with what it has
    of the jobs it lacks)."""
    try:
        recorder.wait_for(
            lambda: all(status in recorder.statuses(job_id) for job_id in job_ids), timeout=WAIT
        )
    except AssertionError:
        lacking = {j: story(recorder, j) for j in job_ids if status not in recorder.statuses(j)}
        connected = recorder.client.connected
        raise AssertionError(
            f"{len(lacking)} jobs not {status} (connected: {connected}): {lacking}"
        ) from None


def reconnect(recorder: InOrder, url: str, transports: list[str]) -> None:
    """Connect ``recorder`` (disconnected) to ``url`` again, as a dashboard comes back:
    ``auth: {since: {job: the last epoch it has}}``."""
    since = {}
    for update in recorder.updates():
        since[update["job_id"]] = max(update["epoch"], since.get(update["job_id"], 0))
    recorder.connect(url, transports, auth={"since": since})


# ---------------------------------------------------------------------- 30 kernels, 2 hubs
N_KERNELS = 30
RUNS = 2
EPOCHS = 6


def test_thirty_kernels_two_hubs_every_client_gets_every_epoch_once_in_order(
    redis_server: RedisServer, processes: Processes, tmp_path: Path
) -> None:
    try:
        external("node")
        node_missing = None
    except pytest.skip.Exception as exc:  # the Python clients are checked all the same
        node_missing = exc
    klass = Class(redis_server, processes, "class-thirty", tmp_path / "processes.log")
    (hub_a, url_a), (hub_b, url_b) = klass.hub(), klass.hub()
    watchers = [InOrder(url_a, ["websocket"]), InOrder(url_b, ["polling"])]
    node = None
    if node_missing is None:
        node = run_node("hub_client.js", url_b, str(N_KERNELS * RUNS))
        processes.append(node)
        assert read_json_line(node)["ready"] is True
    try:
        kernels = [
            klass.kernel(
                f"student-{i:02d}",
                epochs=EPOCHS,
                seconds_per_epoch=0.05,
                runs=RUNS,
                seed=i,
                go=True,
                heartbeat=None,  # nnlab's: 30 processes starting on a small machine are slow
            )
            for i in range(N_KERNELS)
        ]
        owners = {}  # kernel id -> owner
        for i, kernel in enumerate(kernels):
            hello = read_json_line(kernel, timeout=WAIT)
            assert hello["connected"] is True
            assert hello["owner"] == f"student-{i:02d}"
            owners[hello["kernel_id"]] = hello["owner"]
        assert len(owners) == N_KERNELS
        for kernel in kernels:  # all at once
            assert kernel.stdin is not None
            kernel.stdin.write("go\n")
            kernel.stdin.flush()
        runs: dict[str, dict[str, Any]] = {}
        for kernel in kernels:
            lines = kernel_lines(kernel, klass.log)
            finished = [line for line in lines if "job_id" in line]
            assert len(finished) == RUNS, lines
            for run in finished:
                assert run["status"] == "completed", run
                assert run["epochs"] == list(range(1, EPOCHS + 1)), run
                assert owners[run["kernel_id"]] == run["owner"]
                runs[run["job_id"]] = run
            published = lines[-1]  # the publisher's status once disconnected
            assert published["done"] is True
            assert (published["dropped"], published["buffered"], published["failed"]) == (0, 0, 0), published
        assert len(runs) == N_KERNELS * RUNS

        for watcher, transport in zip(watchers, ("websocket", "polling"), strict=True):
            wait_ended(watcher, list(runs))
            for job_id, run in runs.items():
                assert epochs(watcher, job_id) == list(range(1, EPOCHS + 1)), (
                    transport,
                    story(watcher, job_id),
                )
                for update in watcher.updates(job_id):
                    check_update(update)  # exactly the contract's training_update
                    assert update["network_id"] == run["network_id"]
                seen = statuses(watcher, job_id)
                # a client that fell behind gets a run's newest status only (the fan-out's rule)
                assert [s["status"] for s in seen] in (["running", "completed"], ["completed"]), (
                    transport,
                    story(watcher, job_id),
                )
                assert {(s["owner"], s["kernel_id"]) for s in seen} == {(run["owner"], run["kernel_id"])}
        for url in (url_a, url_b):
            status, jobs, _ = request(url, "GET", "/api/jobs")
            assert status == 200
            listed = {job["job_id"]: job for job in jobs if job["job_id"] in runs}
            assert len(listed) == len(runs)
            for job_id, job in listed.items():
                run = runs[job_id]
                assert (job["owner"], job["kernel_id"]) == (run["owner"], run["kernel_id"])
                assert (job["status"], job["epochs_completed"]) == ("completed", EPOCHS)

        if node is not None:
            seen_by_node = finish(node, timeout=WAIT)
            assert seen_by_node["problems"] == []
            assert sorted(seen_by_node["epochs"]) == sorted(runs)
            for job_id, run in runs.items():
                assert seen_by_node["epochs"][job_id] == list(range(1, EPOCHS + 1)), job_id
                owner = run["owner"]
                assert seen_by_node["statuses"][job_id] == [["running", owner], ["completed", owner]]
    finally:
        for watcher in watchers:
            watcher.close()
    stop_hub(hub_a)
    stop_hub(hub_b)
    if node_missing is not None:
        raise node_missing


# ---------------------------------------------------------------------- faults
def test_a_kernel_killed_mid_run_shows_interrupted_at_the_hub(
    redis_server: RedisServer, processes: Processes, tmp_path: Path
) -> None:
    klass = Class(redis_server, processes, "class-killed", tmp_path / "processes.log")
    hub, url = klass.hub()
    watcher = InOrder(url, ["websocket"])
    try:
        kernel = klass.kernel("ada", epochs=500, seconds_per_epoch=0.05)
        job_id = next_line(kernel, lambda line: "started" in line)["started"]
        watcher.wait_for(lambda: len(watcher.updates(job_id)) >= 3, timeout=WAIT)
        kernel.send_signal(signal.SIGKILL)
        kernel.wait(timeout=30)

        watcher.wait_for(lambda: "interrupted" in watcher.statuses(job_id), timeout=WAIT)
        seen = epochs(watcher, job_id)
        assert seen == list(range(1, len(seen) + 1))
        last = statuses(watcher, job_id)[-1]
        assert (last["status"], last["owner"]) == ("interrupted", "ada")
        assert last["epoch"] == seen[-1]  # the last epoch the kernel got out before it died
        status, job, _ = request(url, "GET", f"/api/jobs/{job_id}")
        assert status == 200
        assert (job["status"], job["owner"], job["epochs_completed"]) == ("interrupted", "ada", seen[-1])
        assert [u["epoch"] for u in job["history"]] == seen
    finally:
        watcher.close()
    stop_hub(hub)


def two_slow_runs(
    klass: Class, watchers: list[Recorder], total: int, heartbeat: float | None = HEARTBEAT
) -> tuple[list[Any], list[str]]:
    """Two kernels (ada, bob) training ``total`` epochs of 0.1 s each; (their processes,
    their job ids) once every watcher has three epochs of each."""
    kernels = [
        klass.kernel(owner, epochs=total, seconds_per_epoch=0.1, say_epochs=True, heartbeat=heartbeat)
        for owner in ("ada", "bob")
    ]
    jobs = [next_line(kernel, lambda line: "started" in line)["started"] for kernel in kernels]
    for watcher in watchers:
        watcher.wait_for(lambda w=watcher: all(len(w.updates(j)) >= 3 for j in jobs), timeout=WAIT)
    return kernels, jobs


def train_on(kernels: list[Any], jobs: list[str], watchers: list[Recorder], epochs_more: int) -> None:
    """Wait until each kernel has ended ``epochs_more`` epochs beyond any a watcher saw."""
    for kernel, job_id in zip(kernels, jobs, strict=True):
        seen = max(epoch for watcher in watchers for epoch in epochs(watcher, job_id))
        next_line(kernel, lambda line, seen=seen: line.get("epoch", 0) >= seen + epochs_more)


def finished_runs(kernels: list[Any], log: Path) -> dict[str, dict[str, Any]]:
    """job id -> the kernel's line about its finished run, once every kernel has exited."""
    runs = {}
    for kernel in kernels:
        (run,) = [line for line in kernel_lines(kernel, log) if "status" in line and "job_id" in line]
        runs[run["job_id"]] = run
    return runs


def test_a_hub_restarted_mid_run_its_clients_come_back_with_every_epoch_once(
    redis_server: RedisServer, processes: Processes, tmp_path: Path
) -> None:
    klass = Class(redis_server, processes, "class-hub-restart", tmp_path / "processes.log")
    total = 60
    hub, url = klass.hub()
    # WebSocket only: python-engineio's asyncio client, polling, leaves its held poll's
    # connection unreleased when its server dies (aiohttp's ResourceWarning, at some later
    # garbage collection). Polling clients are covered with hubs that stay up.
    transports = [["websocket"]]
    watchers = [InOrder(url, t) for t in transports]
    try:
        kernels, jobs = two_slow_runs(klass, watchers, total)
        stop_hub(hub)
        for watcher in watchers:
            watcher.wait_for(lambda w=watcher: not w.client.connected, timeout=WAIT)
        train_on(kernels, jobs, watchers, 3)  # with no hub

        hub, url = klass.hub()
        for watcher, t in zip(watchers, transports, strict=True):
            reconnect(watcher, url, t)
        runs = finished_runs(kernels, klass.log)
        assert sorted(runs) == sorted(jobs)
        for watcher in watchers:
            wait_ended(watcher, jobs)
            for job_id, run in runs.items():
                assert epochs(watcher, job_id) == list(range(1, total + 1)), epochs(watcher, job_id)
                final = statuses(watcher, job_id)[-1]
                assert (final["status"], final["owner"]) == ("completed", run["owner"])
    finally:
        for watcher in watchers:
            watcher.close()
    stop_hub(hub)


def test_redis_restarted_mid_run_clients_end_with_every_epoch_once(
    redis_server: RedisServer, processes: Processes, tmp_path: Path
) -> None:
    klass = Class(redis_server, processes, "class-redis-restart", tmp_path / "processes.log")
    total = 60
    hub, url = klass.hub()
    watchers = [InOrder(url, ["websocket"]), InOrder(url, ["polling"])]
    try:
        # nnlab's heartbeat (5 s): a Redis restarted empty has lost every kernel's key
        kernels, jobs = two_slow_runs(klass, watchers, total, heartbeat=None)
        redis_server.stop()
        train_on(kernels, jobs, watchers, 5)  # with no Redis
        redis_server.start()

        runs = finished_runs(kernels, klass.log)
        for watcher in watchers:
            wait_ended(watcher, jobs)
            for job_id, run in runs.items():
                assert epochs(watcher, job_id) == list(range(1, total + 1)), epochs(watcher, job_id)
                seen = statuses(watcher, job_id)
                assert [s["status"] for s in seen] in (["running", "completed"], ["completed"]), seen
                assert seen[-1]["owner"] == run["owner"]
    finally:
        for watcher in watchers:
            watcher.close()
    stop_hub(hub)
