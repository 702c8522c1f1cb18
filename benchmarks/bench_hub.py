"""The classroom hub against bare python-socketio on Redis: delivery, latency and costs.

Run by hand (needs ``redis-server`` on the PATH and the ``hub`` extra)::

    python benchmarks/bench_hub.py                 # 30 and 300 kernels, about three minutes
    python benchmarks/bench_hub.py --kernels 30    # one class size
    python benchmarks/bench_hub.py --quick         # fewer epochs, a smoke run

It starts its own ``redis-server`` on a free loopback port (no persistence) and stops it by
PID at the end. For each class size (30 and 300 simulated kernels, 10 epochs each, one epoch
every ``--interval`` seconds per kernel, kernel starts spread over one interval) it runs
three contenders, interleaved (in this order for the first size, reversed for the next):

* **baseline** -- bare python-socketio: a uvicorn-served ``socketio.AsyncServer`` whose
  ``client_manager`` is ``socketio.AsyncRedisManager(url, channel=...)`` (a subprocess), and
  kernels that emit the contract's ``training_update`` (and ``training_status`` when a run
  starts and ends, as nnlab's mirror does) from the training thread through
  ``socketio.RedisManager(url, channel=..., write_only=True)``, one manager per kernel;
* **nnlab** -- ``nnlab serve --redis URL --channel NAME --no-store`` (a subprocess), and
  kernels that each publish through their own :class:`nnlab.hub.publish.Publisher` (what
  ``nnlab.connect`` installs);
* **hub only** -- the same hub, fed by kernels without threads that write each event as the
  publisher does (``APPEND``, then the write-only emit) from the training thread: the hub's
  own figures, apart from the cost of many publishers sharing this one process.

The simulated kernels are real training runs (a [4, 6, 3] network on 40 synthetic rows,
paced to the interval) in threads of this process, each with a registry of its own, so every
kernel's run goes through its own emitter. Two python-socketio clients (websocket, in a
subprocess of their own) count what arrives. Measured, per contender:

* delivery: distinct (client, run, epoch) updates received / expected, duplicates, and
  updates that arrived out of per-run order;
* latency from the moment the training thread hands an epoch over (a side table keyed by
  (job id, epoch), not the payload) to its receipt by a client, p50 and p99;
* trainer cost per event: time the training thread spends in the emitter's hooks (baseline:
  the synchronous ``emit`` round trip to Redis; nnlab: the publisher's hand-over), p50/p99,
  and the training thread's CPU time in them (what waiting for the GIL, shared here by every
  simulated kernel's threads, does not inflate);
* server CPU per 1,000 kernel events: user+system time of the server process
  (``/proc/<pid>/stat``) from the first kernel start to the last delivery, idle time
  included (nnlab's hub also reconciles and watches heartbeats on a timer);
* kernel-side CPU per 1,000 events: CPU time of this process (the kernels' training,
  emitting and publishing threads) over the same span.

Ratios are nnlab / baseline (below 1: nnlab is cheaper or faster). This 2-core machine is
shared: treat single figures as rough, ratios within one run as the result.

Read the kernel side with care: every simulated kernel lives in this one process, so with
nnlab each brings its publisher's threads (the publisher looks at its queue every 20 ms and
the control listener every 0.2 s) into one interpreter: 300 kernels make some 16,000 thread
wake-ups a second contending for one GIL, which a class spread over its students' own
kernel processes (and machines) does not. The baseline's emitters have no threads. So at
300 kernels the kernel-side CPU, and the latency that waits for a publisher thread to get
the GIL, are upper bounds for nnlab; the server's figures are not affected.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

HERE = Path(__file__).resolve()
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------- small tools
def quantiles(values: list[float]) -> tuple[float, float]:
    """(median, p99) of ``values`` (nan, nan when empty)."""
    if not values:
        return math.nan, math.nan
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return statistics.median(ordered), p99


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (from ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def ratio(ours: float, theirs: float) -> str:
    if not (theirs > 0 and math.isfinite(ours) and math.isfinite(theirs)):
        return "    n/a"
    return f"{ours / theirs:6.2f}x"


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A ``redis-server`` on a free loopback port, no persistence; stopped by PID after."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is needed: apt-get install redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--maxclients", "10000", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def tiny_data() -> Any:
    import nnlab

    rng = np.random.default_rng(0)
    X = rng.random((40, 4))
    y = (X[:, 0] + X[:, 1] > 1).astype(int) + (X[:, 2] > 0.7).astype(int)
    return nnlab.datasets.from_arrays(X, y, test=10, seed=0, n_classes=3, name="tiny")


# ---------------------------------------------------------------------- subprocess roles
def bare_server_main(redis_url: str, channel: str) -> None:
    """The baseline server: python-socketio on ``AsyncRedisManager`` under uvicorn."""
    import socketio
    import uvicorn

    manager = socketio.AsyncRedisManager(redis_url, channel=channel)
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*", client_manager=manager)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    sock.setblocking(False)
    config = uvicorn.Config(
        socketio.ASGIApp(sio),
        log_config=None,
        access_log=False,
        log_level="error",
        ws_per_message_deflate=False,  # as nnlab's server
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    print(f"serving on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)

    async def main() -> None:
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGTERM, server.handle_exit, signal.SIGTERM, None
        )
        await server.serve(sockets=[sock])

    asyncio.run(main())


def clients_main(url: str, n: int) -> None:
    """``n`` python-socketio clients of ``url`` in one asyncio loop. Stdin commands:
    ``count`` prints the updates received so far; ``dump`` prints every receipt and ends."""
    import socketio

    receipts: list[list[Any]] = []  # [client, job_id, epoch, time]
    statuses: list[list[Any]] = []  # [client, job_id, status, owner]

    async def main() -> None:
        clients = []
        for i in range(n):
            client = socketio.AsyncClient(reconnection=False)

            def on_update(data: dict[str, Any], i: int = i) -> None:
                receipts.append([i, data["job_id"], data["epoch"], time.time()])

            def on_status(data: dict[str, Any], i: int = i) -> None:
                statuses.append([i, data["job_id"], data["status"], data.get("owner")])

            client.on("training_update", on_update)
            client.on("training_status", on_status)
            await client.connect(url, transports=["websocket"], wait_timeout=20)
            clients.append(client)
        print(json.dumps({"ready": n}), flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if line == "count":
                print(json.dumps({"updates": len(receipts)}), flush=True)
            elif line in ("dump", ""):
                break
        for client in clients:
            await client.disconnect()
        print(json.dumps({"receipts": receipts, "statuses": statuses}), flush=True)

    asyncio.run(main())


class Clients:
    """The clients' subprocess, seen from the benchmark."""

    def __init__(self, url: str, n: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE), "--role", "clients", url, str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self._line()
        if not line.startswith('{"ready"'):
            self.close()
            raise SystemExit(f"clients failed to connect to {url}: {line!r}")

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline()

    def _send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def count(self) -> int:
        self._send("count")
        return int(json.loads(self._line())["updates"])

    def dump(self) -> dict[str, Any]:
        self._send("dump")
        data: dict[str, Any] = json.loads(self._line())
        self.proc.wait(30)
        return data

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class ServerProcess:
    """A server subprocess that prints its URL in its first line."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if not first:
            raise SystemExit(f"server failed: {self.proc.communicate(timeout=10)[1]}")
        self.url = next(word for word in first.split() if word.startswith("http://"))
        # drain the rest of its output so a chatty server never blocks on a full pipe
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=stream.read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------- simulated kernels
class Pace:
    """Makes every epoch of a run last at least ``seconds`` (a student's epoch time)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._start = 0.0

    def on_epoch_start(self, job: Any, epoch: int) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, job: Any, record: Any) -> None:
        left = self.seconds - (time.perf_counter() - self._start)
        if left > 0:
            time.sleep(left)


@dataclass
class SideTable:
    """When each epoch was handed over ((job id, epoch) -> time.time()), and hook costs."""

    sent: dict[tuple[str, int], float] = field(default_factory=dict)
    costs: list[float] = field(default_factory=list)  # wall time in the hook
    cpu: list[float] = field(default_factory=list)  # the training thread's CPU time in it
    epoch_cpu: list[float] = field(default_factory=list)  # ... in the hook after each epoch
    lock: threading.Lock = field(default_factory=threading.Lock)


class Timed:
    """Forwards every hook to ``inner``, timing them; an epoch's send time goes to the table."""

    def __init__(self, inner: Any, table: SideTable) -> None:
        self.inner = inner
        self.table = table

    def _call(self, hook: str, *args: Any) -> None:
        method = getattr(self.inner, hook, None)
        if method is None:
            return
        start, start_cpu = time.perf_counter(), time.thread_time()
        method(*args)
        cost, cpu = time.perf_counter() - start, time.thread_time() - start_cpu
        with self.table.lock:
            self.table.costs.append(cost)
            self.table.cpu.append(cpu)
            if hook == "on_epoch_end":
                self.table.epoch_cpu.append(cpu)

    def on_run_start(self, job: Any) -> None:
        self._call("on_run_start", job)

    def on_epoch_start(self, job: Any, epoch: int) -> None:
        self._call("on_epoch_start", job, epoch)

    def on_epoch_end(self, job: Any, record: Any) -> None:
        sent = time.time()
        with self.table.lock:
            self.table.sent[(job.job_id, record.epoch)] = sent
        self._call("on_epoch_end", job, record)

    def on_pause(self, job: Any) -> None:
        self._call("on_pause", job)

    def on_resume(self, job: Any) -> None:
        self._call("on_resume", job)

    def on_run_end(self, job: Any) -> None:
        self._call("on_run_end", job)


class BareEmitter:
    """The baseline kernel: emits from the training thread with a write-only RedisManager."""

    def __init__(self, redis_url: str, channel: str) -> None:
        import socketio

        self.mgr = socketio.RedisManager(redis_url, channel=channel, write_only=True)

    def on_run_start(self, job: Any) -> None:
        self.mgr.emit("training_status", job.status_record().to_dict(), namespace="/")

    def on_epoch_end(self, job: Any, record: Any) -> None:
        self.mgr.emit("training_update", record.update.to_dict(), namespace="/")

    def on_run_end(self, job: Any) -> None:
        self.mgr.emit("training_status", job.status_record().to_dict(), namespace="/")

    def close(self) -> None:
        if self.mgr.redis is not None:
            self.mgr.redis.close()


class NnlabEmitter:
    """The nnlab kernel: a :class:`~nnlab.hub.publish.Publisher` of its own (what
    ``nnlab.connect`` starts), watching the kernel's registry through :class:`Timed`."""

    def __init__(self, redis_url: str, channel: str, registry: Any) -> None:
        from nnlab.hub.publish import Publisher

        self.publisher = Publisher(redis_url, channel=channel, registry=registry).start()
        registry.remove_observer(self.publisher)  # watched through Timed instead

    def __getattr__(self, name: str) -> Any:
        return getattr(self.publisher, name)

    def close(self) -> None:
        self.publisher.stop()


class DirectWriter:
    """A thread-less kernel for nnlab's hub: writes each event as the publisher does (the run's
    stream and the class's hashes with ``APPEND``, then a write-only ``RedisManager`` emit),
    but synchronously in the training thread. It separates the hub's figures from the cost
    of many publishers' threads sharing one interpreter here."""

    def __init__(self, redis_url: str, channel: str) -> None:
        import socketio

        from nnlab.hub._redis import sync_client
        from nnlab.hub.keys import APPEND, Keys

        self.keys = Keys(channel)
        self.redis = sync_client(redis_url)
        self.append = self.redis.register_script(APPEND)
        self.mgr = socketio.RedisManager(redis_url, channel=channel, write_only=True)
        self.step: dict[str, int] = {}

    def _write(self, job: Any, entry: str, event: str, payload: dict[str, Any]) -> None:
        from nnlab.hub.keys import append_args

        network = None
        if entry == "0-1":
            network = {"network_id": job.network_id, "sizes": [int(n) for n in job.network.sizes]}
        keys, args = append_args(self.keys, job.job_id, entry, event, payload, network=network)
        self.append(keys=keys, args=args)
        self.mgr.emit(event, payload, namespace="/")

    def on_run_start(self, job: Any) -> None:
        self._write(job, "0-1", "training_status", job.status_record().to_dict())

    def on_epoch_end(self, job: Any, record: Any) -> None:
        self._write(job, f"{record.epoch}-0", "training_update", record.update.to_dict())

    def on_run_end(self, job: Any) -> None:
        epoch = len(job.history)
        self._write(job, f"{epoch}-1", "training_status", job.status_record().to_dict())

    def close(self) -> None:
        self.redis.close()
        if self.mgr.redis is not None:
            self.mgr.redis.close()


@dataclass
class Outcome:
    """One contender's figures for one class size."""

    expected: int = 0
    delivered: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    latencies: list[float] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    epoch_cpu: list[float] = field(default_factory=list)
    events: int = 0
    server_cpu: float = 0.0
    kernel_cpu: float = 0.0
    seconds: float = 0.0

    @property
    def completeness(self) -> float:
        return self.delivered / self.expected if self.expected else math.nan


class Kernels:
    """``n`` simulated kernels: each a registry of its own, its emitter watching it (through
    :class:`Timed`) and a paced run of a [4, 6, 3] network, not started yet."""

    def __init__(self, n: int, epochs: int, interval: float, make_emitter: Callable[[Any], Any]) -> None:
        import nnlab
        from nnlab.params import check_params
        from nnlab.registry import Registry
        from nnlab.training import TrainingJob

        data = tiny_data()
        self.interval = interval
        self.table = SideTable()
        self.emitters: list[Any] = []
        self.jobs: list[Any] = []
        for i in range(n):
            registry = Registry()
            emitter = make_emitter(registry)
            self.emitters.append(emitter)
            registry.add_observer(Timed(emitter, self.table))
            net = nnlab.Network([4, 6, 3], seed=i)
            params = check_params(net, data, epochs=epochs, mini_batch_size=10, learning_rate=3.0, seed=i)
            self.jobs.append(TrainingJob(net, data, params, observers=[Pace(interval)], registry=registry))

    def run(self) -> None:
        """Start the runs spread over one interval (as students' kernels are) and wait."""
        t0 = time.perf_counter()
        for i, job in enumerate(self.jobs):
            delay = t0 + self.interval * i / len(self.jobs) - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            job.start()
        for job in self.jobs:
            job.wait(600)

    def close(self) -> None:
        """Stop the emitters (a publisher first hands Redis what it still holds)."""
        for emitter in self.emitters:
            emitter.close()


def measure(
    contender: str, redis_url: str, n: int, epochs: int, interval: float, n_clients: int, tag: str
) -> Outcome:
    channel = f"bench-{contender.replace(' ', '-')}-{tag}"
    if contender == "baseline":
        server = ServerProcess([sys.executable, str(HERE), "--role", "bare-server", redis_url, channel])

        def make(registry: Any) -> Any:
            return BareEmitter(redis_url, channel)
    else:
        server = ServerProcess(
            [sys.executable, "-m", "nnlab", "serve", "--port", "0", "--no-store",
             "--redis", redis_url, "--channel", channel]
        )  # fmt: skip

        def make(registry: Any) -> Any:
            if contender == "hub only":
                return DirectWriter(redis_url, channel)
            return NnlabEmitter(redis_url, channel, registry)

    out = Outcome(expected=n * epochs * n_clients)
    kernels = Kernels(n, epochs, interval, make)
    try:
        clients = Clients(server.url, n_clients)
        try:
            time.sleep(1.0)  # let start-up work settle before the CPU clocks start
            server_cpu0, kernel_cpu0, t0 = cpu_seconds(server.pid), time.process_time(), time.perf_counter()
            kernels.run()
            deadline = time.monotonic() + 30 + n / 10
            last, still = -1, time.monotonic()
            while (got := clients.count()) < out.expected and time.monotonic() < deadline:
                if got != last:
                    last, still = got, time.monotonic()
                elif time.monotonic() - still > 10:
                    break  # nothing more for 10 s: the rest is lost
                time.sleep(0.05)
            out.seconds = time.perf_counter() - t0
            out.server_cpu = cpu_seconds(server.pid) - server_cpu0
            out.kernel_cpu = time.process_time() - kernel_cpu0
            data = clients.dump()
        finally:
            clients.close()
    finally:
        kernels.close()
        server.stop()
    table = kernels.table
    seen: set[tuple[int, str, int]] = set()
    newest: dict[tuple[int, str], int] = {}
    for client, job_id, epoch, received in data["receipts"]:
        key = (client, job_id, epoch)
        if key in seen:
            out.duplicates += 1
            continue
        seen.add(key)
        if epoch < newest.get((client, job_id), 0):
            out.out_of_order += 1
        newest[(client, job_id)] = max(epoch, newest.get((client, job_id), 0))
        sent = table.sent.get((job_id, epoch))
        if sent is not None:
            out.latencies.append(received - sent)
    out.delivered = len(seen)
    out.costs, out.cpu, out.epoch_cpu = table.costs, table.cpu, table.epoch_cpu
    out.events = n * (epochs + 2)  # every epoch's update, and the run's start and end
    return out


# ---------------------------------------------------------------------- report
def ms(x: float) -> str:
    return f"{x * 1e3:8.1f} ms"


def us(x: float) -> str:
    return f"{x * 1e6:8.1f} us"


def report(n: int, results: dict[str, Outcome]) -> None:
    """One table: a column per contender, then each one's ratio to the baseline."""
    base = results["baseline"]
    names = list(results)
    others = [name for name in names if name != "baseline"]
    print(f"\n{n} kernels x {base.expected // max(1, n) // ARGS.clients} epochs, {ARGS.clients} clients")
    rows: list[list[str]] = [["", *names, *(f"{name}/baseline" for name in others)]]

    def row(label: str, value: Callable[[Outcome], float], shown: Callable[[float], str]) -> None:
        values = {name: value(out) for name, out in results.items()}
        cells = [shown(values[name]) for name in names]
        rows.append([label, *cells, *(ratio(values[name], values["baseline"]) for name in others)])

    rows.append(
        ["delivered"]
        + [f"{o.delivered}/{o.expected} ({100 * o.completeness:.1f} %)" for o in results.values()]
        + [ratio(results[name].completeness, base.completeness) for name in others]
    )
    rows.append(["duplicates", *(str(o.duplicates) for o in results.values()), *([""] * len(others))])
    rows.append(
        ["out of per-run order", *(str(o.out_of_order) for o in results.values()), *([""] * len(others))]
    )
    row("latency p50", lambda o: quantiles(o.latencies)[0], ms)
    row("latency p99", lambda o: quantiles(o.latencies)[1], ms)
    row("trainer cost/event p50", lambda o: quantiles(o.costs)[0], us)
    row("trainer cost/event p99", lambda o: quantiles(o.costs)[1], us)
    row("  its thread CPU p50", lambda o: quantiles(o.cpu)[0], us)
    row("  its thread CPU p99", lambda o: quantiles(o.cpu)[1], us)
    row("trainer CPU/epoch p50", lambda o: quantiles(o.epoch_cpu)[0], us)
    row("trainer CPU/epoch p99", lambda o: quantiles(o.epoch_cpu)[1], us)
    row("server CPU / 1000 events", lambda o: 1000 * o.server_cpu / o.events, ms)
    row("kernel-side CPU / 1000 ev.", lambda o: 1000 * o.kernel_cpu / o.events, ms)
    row("wall time", lambda o: o.seconds, lambda x: f"{x:8.1f} s")
    for cells in rows:
        print(f"  {cells[0]:<27}" + "".join(f" {cell:>20}" for cell in cells[1:]))


ARGS = argparse.Namespace(clients=2)
#: The contenders, in the order of a table's columns.
CONTENDERS = ["baseline", "nnlab", "hub only"]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--kernels", default="30,300", help="class sizes (default 30,300)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds per epoch of each kernel")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--only", choices=CONTENDERS, help="one contender (and the baseline)")
    parser.add_argument("--quick", action="store_true", help="3 epochs per run (a smoke run)")
    parser.add_argument("--role", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        role, *rest = args.role
        if role == "bare-server":
            return bare_server_main(*rest)
        if role == "clients":
            return clients_main(rest[0], int(rest[1]))
        raise SystemExit(f"unknown role {role!r}")
    ARGS.clients = args.clients
    epochs = 3 if args.quick else args.epochs
    from importlib.metadata import version

    import nnlab

    print(
        f"nnlab {nnlab.__version__}, python-socketio {version('python-socketio')}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
        f"{epochs} epochs per run, one every {args.interval} s"
    )
    with redis_server() as redis_url:
        print(f"redis-server on {redis_url}")
        for k, n in enumerate(int(x) for x in args.kernels.split(",")):
            order = CONTENDERS if k % 2 == 0 else CONTENDERS[::-1]
            if args.only:
                order = ["baseline", args.only] if args.only != "baseline" else ["baseline"]
            results = {
                contender: measure(contender, redis_url, n, epochs, args.interval, args.clients, str(n))
                for contender in order
            }
            report(n, {name: results[name] for name in CONTENDERS if name in results})


if __name__ == "__main__":
    main()
