"""The server's cost to training and its latency, against a bare python-socketio server.

Run by hand (needs Node and ``npm ci --prefix tests/js``; the ``bench`` extra for
threadpoolctl)::

    python benchmarks/bench_server.py            # about three minutes
    python benchmarks/bench_server.py --quick    # fewer epochs, for a smoke run

Three measurements, all in this one process, printed with ratios:

1. **Trainer cost per mirrored event**: time the training thread spends handing one epoch's
   update to the server (nnlab: ``Mirror.on_epoch_end``, a deque append; bare: an observer
   calling ``asyncio.run_coroutine_threadsafe(sio.emit(...), loop)``), median and p99, at 1
   and 100 connected clients, training the bundled digits ([64, 30, 10], ~5 ms epochs).
2. **Training overhead**: seconds per epoch on MNIST-shaped random data made here
   (50,000 x 784 train, 10,000 test, sizes [784, 30, 10], mini-batch 10) with nnlab's server
   running and 100 clients connected, against no server at all; rounds interleaved, the
   first epoch of each run left out. This 2-core machine is shared, so the spread between
   rounds is printed too (other load shows as rounds several percent off either way).
3. **Latency** from the end of an epoch (when the mirror gets it) to receipt by every client,
   at 1, 100 and 500 websocket clients (node processes on the same machine), side by side
   with a bare python-socketio server (same uvicorn settings) emitting the same payload from
   the training thread. Epochs are real training on MNIST-shaped subsets sized so updates
   come at ~10 Hz (1 and 100 clients) and ~2 Hz (500 clients), within this machine's
   fan-out capacity.

BLAS is pinned to one thread. Node clients share the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

import nnlab
from nnlab.observers import Observer
from nnlab.registry import registry
from nnlab.server import Server
from nnlab.server.mirror import get_mirror

NODE_HELPER = Path(__file__).parent / "js" / "bench_clients.mjs"
PROGRESS = False


# ---------------------------------------------------------------------- small tools
def quantiles(values: list[float]) -> tuple[float, float]:
    """(median, p99) of ``values``."""
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return statistics.median(ordered), p99


def mnist_shaped(n_train: int, n_test: int, seed: int = 0) -> nnlab.Dataset:
    """Random pixels in [0, 1) and random labels, shaped like MNIST."""
    rng = np.random.default_rng(seed)
    X = rng.random((n_train + n_test, 784))
    y = rng.integers(0, 10, n_train + n_test)
    return nnlab.datasets.from_arrays(X, y, test=n_test, seed=None, name=f"mnist-shaped-{n_train}")


class NodeClients:
    """``n`` websocket clients in node processes (at most 250 each) that timestamp receipts."""

    def __init__(self, url: str, n: int) -> None:
        node = shutil.which("node")
        if node is None:
            raise SystemExit("node is needed: apt-get install nodejs npm; npm ci --prefix tests/js")
        per = math.ceil(n / math.ceil(n / 250))
        sizes = [min(per, n - i) for i in range(0, n, per)]
        self.procs = [
            subprocess.Popen(
                [node, str(NODE_HELPER), url, str(k)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for k in sizes
        ]
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith('{"ready"'):
                raise SystemExit(f"node clients failed to connect to {url}: {line!r}")

    def receipts(self, job_id: str) -> list[tuple[int, float]]:
        """Stop the clients; every (epoch, receipt time in s) they saw for ``job_id``."""
        got: list[tuple[int, float]] = []
        for proc in self.procs:
            out, _ = proc.communicate("dump\n", timeout=60)
            data = json.loads(out.strip().splitlines()[-1])
            got += [(int(e), t / 1000.0) for e, t in data["receipts"].get(job_id, [])]
        return got

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def wait_for_clients(count: Any, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while count() < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {count()} of {n} clients connected")
        time.sleep(0.02)


class BareServer:
    """python-socketio under uvicorn in a thread, nothing else: the baseline."""

    def __init__(self) -> None:
        import socketio
        import uvicorn

        self.sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")
        self.clients = 0

        @self.sio.on("connect")
        async def connect(sid: str, environ: Any) -> None:
            self.clients += 1

        @self.sio.on("disconnect")
        async def disconnect(sid: str, reason: Any = None) -> None:
            self.clients -= 1

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(2048)
        sock.setblocking(False)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            socketio.ASGIApp(self.sio),
            log_config=None,
            access_log=False,
            log_level="error",
            ws_per_message_deflate=False,  # as nnlab's server
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None

        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            await self.server.serve(sockets=[sock])

        self.thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)

    def stop(self) -> None:
        assert self.loop is not None

        async def close() -> None:
            for s in list(self.sio.eio.sockets.values()):
                await s.close(wait=False)

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        self.server.should_exit = True
        self.thread.join(10)


class BareEmitter(Observer):
    """The straightforward hand-off: emit from the training thread onto the server loop."""

    def __init__(self, bare: BareServer) -> None:
        self.bare = bare
        self.costs: list[float] = []
        self.ends: dict[int, float] = {}

    def on_epoch_end(self, job: Any, record: Any) -> None:
        self.ends[record.epoch] = time.time()
        start = time.perf_counter()
        asyncio.run_coroutine_threadsafe(
            self.bare.sio.emit("training_update", record.update.to_dict()),
            self.bare.loop,  # type: ignore[arg-type]
        )
        self.costs.append(time.perf_counter() - start)


class TimedMirror:
    """Times nnlab's hand-off (the mirror's ``on_epoch_end``) in the training thread."""

    def __init__(self) -> None:
        self.mirror = get_mirror()
        self.costs: list[float] = []
        self.ends: dict[int, float] = {}
        original = type(self.mirror).on_epoch_end.__get__(self.mirror)

        def timed(job: Any, record: Any) -> None:
            self.ends[record.epoch] = time.time()
            start = time.perf_counter()
            original(job, record)
            self.costs.append(time.perf_counter() - start)

        self.mirror.on_epoch_end = timed  # type: ignore[method-assign]

    def reset(self) -> None:
        self.costs, self.ends = [], {}


def run_nnlab(data: nnlab.Dataset, sizes: list[int], epochs: int, n_clients: int, timed: TimedMirror) -> Any:
    """Train with nnlab's server up and ``n_clients`` connected; (costs, latencies)."""
    registry.add_observer(timed.mirror)
    timed.reset()
    with Server(port=0) as server:
        clients = NodeClients(server.url, n_clients)
        try:
            wait_for_clients(lambda: server.clients, n_clients)
            job = nnlab.train(nnlab.Network(sizes, seed=0), data, epochs=epochs, seed=0, progress=PROGRESS)
            time.sleep(0.5 + n_clients / 500)
            receipts = clients.receipts(job.job_id)
        finally:
            clients.close()
    return timed.costs, [t - timed.ends[e] for e, t in receipts], len(receipts) / (epochs * n_clients)


def run_bare(data: nnlab.Dataset, sizes: list[int], epochs: int, n_clients: int, timed: TimedMirror) -> Any:
    """Train with the bare server up and ``n_clients`` connected (nnlab's mirror detached)."""
    registry.remove_observer(timed.mirror)
    bare = BareServer()
    emitter = BareEmitter(bare)
    try:
        clients = NodeClients(bare.url, n_clients)
        try:
            wait_for_clients(lambda: bare.clients, n_clients)
            job = nnlab.train(
                nnlab.Network(sizes, seed=0),
                data,
                epochs=epochs,
                seed=0,
                progress=PROGRESS,
                observers=[emitter],
            )
            time.sleep(0.5 + n_clients / 500)
            receipts = clients.receipts(job.job_id)
        finally:
            clients.close()
    finally:
        bare.stop()
        registry.add_observer(timed.mirror)
    return emitter.costs, [t - emitter.ends[e] for e, t in receipts], len(receipts) / (epochs * n_clients)


def us(x: float) -> str:
    return f"{x * 1e6:8.1f} us"


def ms(x: float) -> str:
    return f"{x * 1e3:7.1f} ms"


# ---------------------------------------------------------------------- the three parts
def trainer_cost(timed: TimedMirror, quick: bool) -> None:
    print("\n(1) training-thread time per mirrored event (digits, [64, 30, 10], ~5 ms epochs)")
    print(f"{'clients':>8} {'nnlab p50':>12} {'nnlab p99':>12} {'bare p50':>12} {'bare p99':>12}  ratio p99")
    digits = nnlab.datasets.digits()
    epochs = 100 if quick else 300
    for n in (1, 100):
        ours, _, _ = run_nnlab(digits, [64, 30, 10], epochs, n, timed)
        bare, _, _ = run_bare(digits, [64, 30, 10], epochs, n, timed)
        (o50, o99), (b50, b99) = quantiles(ours), quantiles(bare)
        print(f"{n:>8} {us(o50)} {us(o99)} {us(b50)} {us(b99)}  bare/nnlab {b99 / o99:6.1f}x")


SETTLE = 1.0  # seconds for node start-up or teardown to finish before a timed run


def _epochs_without_server(data: nnlab.Dataset, epochs: int, timed: TimedMirror) -> list[float]:
    registry.remove_observer(timed.mirror)  # no server at all: not even the mirror
    time.sleep(SETTLE)
    job = nnlab.train(nnlab.Network([784, 30, 10], seed=0), data, epochs=epochs, seed=0, progress=PROGRESS)
    registry.add_observer(timed.mirror)
    return [r.elapsed_time for r in job.history][1:]  # the first epoch warms up


def _epochs_with_server(data: nnlab.Dataset, epochs: int, n_clients: int) -> list[float]:
    with Server(port=0) as server:
        clients = NodeClients(server.url, n_clients)
        try:
            wait_for_clients(lambda: server.clients, n_clients)
            time.sleep(SETTLE)
            job = nnlab.train(
                nnlab.Network([784, 30, 10], seed=0), data, epochs=epochs, seed=0, progress=PROGRESS
            )
            return [r.elapsed_time for r in job.history][1:]
        finally:
            clients.close()


def training_overhead(timed: TimedMirror, quick: bool) -> None:
    print("\n(2) seconds per epoch, MNIST-shaped 50,000 x 784, [784, 30, 10], mini-batch 10")
    data = mnist_shaped(50_000, 10_000)
    rounds, per_round = (2, 3) if quick else (10, 4)
    baseline: list[float] = []
    served: list[float] = []
    paired: list[float] = []
    for r in range(rounds):
        # alternate the order, so a trend in the machine's load hits both alike
        if r % 2 == 0:
            base = _epochs_without_server(data, per_round, timed)
            with_server = _epochs_with_server(data, per_round, 100)
        else:
            with_server = _epochs_with_server(data, per_round, 100)
            base = _epochs_without_server(data, per_round, timed)
        baseline += base
        served += with_server
        paired.append(statistics.median(with_server) / statistics.median(base))
    b, s = statistics.median(baseline), statistics.median(served)
    print(f"  no server:             median {b:.4f} s/epoch, best {min(baseline):.4f}  (n={len(baseline)})")
    print(f"  server + 100 clients:  median {s:.4f} s/epoch, best {min(served):.4f}  (n={len(served)})")
    print(
        f"  overhead (target < 1 %): {100 * (s / b - 1):+.2f} % of medians, "
        f"{100 * (min(served) / min(baseline) - 1):+.2f} % of bests, "
        f"{100 * (statistics.median(paired) - 1):+.2f} % median of {rounds} interleaved rounds"
    )
    print("  per round: " + " ".join(f"{100 * (r - 1):+.1f}%" for r in paired))


def latency(timed: TimedMirror, quick: bool) -> None:
    print("\n(3) end of epoch -> receipt, websocket clients, MNIST-shaped subsets ([784, 30, 10])")
    print(
        f"{'clients':>8} {'rate':>6} {'nnlab p50':>10} {'nnlab p99':>10} {'bare p50':>10} {'bare p99':>10}"
        f" {'p50 ratio':>9} {'p99 ratio':>9}  delivered nnlab/bare"
    )
    for n, n_train, epochs in ((1, 12_000, 200), (100, 12_000, 80), (500, 40_000, 32)):
        if quick:
            epochs //= 3
        data = mnist_shaped(n_train, 1_000)
        ours_all: list[float] = []
        bare_all: list[float] = []
        delivered = [0.0, 0.0]
        # interleaved halves: nnlab, bare, bare, nnlab
        for order in (("nnlab", "bare"), ("bare", "nnlab")):
            for which in order:
                run = run_nnlab if which == "nnlab" else run_bare
                _, lat, share = run(data, [784, 30, 10], epochs // 2, n, timed)
                (ours_all if which == "nnlab" else bare_all).extend(lat)
                delivered[which == "bare"] += share / 2
        (o50, o99), (b50, b99) = quantiles(ours_all), quantiles(bare_all)
        rate = 1 / max(1e-9, statistics.median([r for r in epoch_seconds(data)]))
        print(
            f"{n:>8} {rate:5.1f}Hz {ms(o50)}  {ms(o99)}  {ms(b50)}  {ms(b99)}"
            f" {o50 / b50:8.2f}x {o99 / b99:8.2f}x  {delivered[0]:.3f}/{delivered[1]:.3f}"
        )


_epoch_seconds: dict[str, list[float]] = {}


def epoch_seconds(data: nnlab.Dataset) -> list[float]:
    if data.name not in _epoch_seconds:
        job = nnlab.train(nnlab.Network([784, 30, 10], seed=0), data, epochs=3, seed=0, progress=PROGRESS)
        _epoch_seconds[data.name] = [r.elapsed_time for r in job.history]
    return _epoch_seconds[data.name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs (a smoke run)")
    parser.add_argument("--only", choices=["1", "2", "3"], help="run one part")
    args = parser.parse_args()
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # OPENBLAS_NUM_THREADS=1 above covers OpenBLAS
        pass
    print(
        f"nnlab {nnlab.__version__}, Python {sys.version.split()[0]}, numpy {np.__version__}, BLAS 1 thread"
    )
    timed = TimedMirror()
    if args.only in (None, "1"):
        trainer_cost(timed, args.quick)
    if args.only in (None, "2"):
        training_overhead(timed, args.quick)
    if args.only in (None, "3"):
        latency(timed, args.quick)


if __name__ == "__main__":
    main()
