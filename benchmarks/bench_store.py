"""What the run store costs training, and how fast it writes and resumes.

Run by hand (needs the ``bench`` extra: ``pip install -e ".[bench]"``)::

    python benchmarks/bench_store.py
    python benchmarks/bench_store.py --repeats 7

Four measurements, each against a baseline taken in this same process (BLAS pinned to one
thread, contenders interleaved, so a busy machine slows both alike):

1. trainer cost per epoch: the store observer's hooks (``on_epoch_start`` with its
   checkpoint copy, ``on_epoch_end`` with its hand-over), timed around each call inside
   real runs, p50/p99, against the same timer around an observer that does nothing;
2. epoch time with the store on vs off (goal: at most 1.02x), on the digits and on
   2,000 x 784 random MNIST-shaped rows (a checkpoint of 640 kB every epoch);
3. writer throughput: epochs per second committed, with and without a checkpoint each;
4. resume: ``nnlab.resume`` of a run with one epoch left, against ``nnlab.train`` of one
   epoch of the same network;
5. replay on Socket.IO: a client connecting with ``auth: {since: {job: 0}}`` to a finished
   run of 1,000 epochs (from memory, and from the store after a restart), against the same
   server sending 1,000 live updates to the same client, first update to last;
6. following the store: how long after an epoch ends in a run the server does not hold
   (another kernel's) a connected client has its update (the store's writer commits every
   0.2 s at most, the follower looks every 0.1 s).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import nnlab
from nnlab.observers import Observer
from nnlab.params import check_params
from nnlab.registry import Registry
from nnlab.server import Server
from nnlab.server.mirror import get_mirror
from nnlab.store import Store
from nnlab.store.writer import Writer


class Timed(Observer):
    """Times another observer's epoch hooks (microseconds per epoch, both hooks summed)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.samples: list[float] = []
        self.cpu: list[float] = []  # the thread's CPU time: what a busy machine does not inflate
        self._start = self._start_cpu = 0.0

    def on_epoch_start(self, job: Any, epoch: int) -> None:
        t, c = time.perf_counter(), time.thread_time()
        self.inner.on_epoch_start(job, epoch)
        self._start, self._start_cpu = time.perf_counter() - t, time.thread_time() - c

    def on_epoch_end(self, job: Any, record: Any) -> None:
        t, c = time.perf_counter(), time.thread_time()
        self.inner.on_epoch_end(job, record)
        self.samples.append((self._start + time.perf_counter() - t) * 1e6)
        self.cpu.append((self._start_cpu + time.thread_time() - c) * 1e6)


class Nothing:
    def on_epoch_start(self, job: Any, epoch: int) -> None:
        pass

    def on_epoch_end(self, job: Any, record: Any) -> None:
        pass


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def trainer_cost(folder: Path, sizes: list[int], epochs: int, data: nnlab.Dataset, every: int | None) -> None:
    store = Store(folder / f"cost-{'x'.join(map(str, sizes))}.sqlite")
    net = nnlab.Network(sizes, seed=0)
    saver = store.observer(every)
    timed, baseline = Timed(saver), Timed(Nothing())
    job = nnlab.TrainingJob(
        net, data, check_params(net, data, epochs=epochs, seed=0), observers=[baseline, timed]
    )
    store.watch(job, saver)
    job.run()
    store.close()
    on, off = timed.samples, baseline.samples
    how = f"checkpoint every {every} epoch(s)" if every else "checkpoints by default"
    print(
        f"  {sizes} ({net.n_parameters:,} parameters, {how}): "
        f"store hooks p50 {percentile(on, 50):.1f} µs, p99 {percentile(on, 99):.1f} µs; "
        f"empty observer p50 {percentile(off, 50):.1f} µs, p99 {percentile(off, 99):.1f} µs\n"
        f"    CPU time of the store hooks p50 {percentile(timed.cpu, 50):.1f} µs, "
        f"p99 {percentile(timed.cpu, 99):.1f} µs (empty observer p99 {percentile(baseline.cpu, 99):.1f} µs)"
    )


def epoch_time(
    folder: Path, repeats: int, epochs: int, data: nnlab.Dataset, sizes: list[int], every: int | None
) -> None:
    """Median seconds per epoch: store on, off, and off again (the A/A noise floor)."""
    times: dict[str, list[float]] = {"on": [], "off": [], "off again": []}
    cpu: dict[str, list[float]] = {"on": [], "off": [], "off again": []}
    store = Store(folder / f"epochs-{'x'.join(map(str, sizes))}.sqlite")
    saving: dict[str, Store | bool] = {"on": store, "off": False, "off again": False}
    for i in range(repeats):
        for mode in list(times) if i % 2 else list(times)[::-1]:
            net = nnlab.Network(sizes, seed=0)
            c = time.thread_time()
            job = nnlab.train(
                net, data, epochs=epochs, seed=0, progress=False, store=saving[mode], checkpoint_every=every
            )
            cpu[mode].append((time.thread_time() - c) / epochs)
            times[mode].append(sum(r.elapsed_time for r in job.history) / epochs)
    store.close()
    on, off, again = (statistics.median(times[m]) for m in times)
    best_on, best_off, best_again = (min(times[m]) for m in times)
    how = f"checkpoint every {every} epoch(s)" if every else "checkpoints by default"
    print(
        f"  {data.name} {sizes}, {how}: median store on {on * 1e3:.3f} ms/epoch, off {off * 1e3:.3f} "
        f"ms/epoch: {on / off:.3f}x (off again: {again / off:.3f}x, the noise); fastest runs: "
        f"{best_on / best_off:.3f}x (off again {best_again / best_off:.3f}x)"
    )
    c_on, c_off, c_again = (statistics.median(cpu[m]) for m in cpu)
    print(
        f"    the training thread's CPU time: on {c_on * 1e3:.3f} ms/epoch, off {c_off * 1e3:.3f} ms/epoch: "
        f"{c_on / c_off:.3f}x (off again: {c_again / c_off:.3f}x)"
    )


def throughput(folder: Path, n: int, data: nnlab.Dataset) -> None:
    net = nnlab.Network([64, 30, 10], seed=0)
    job = nnlab.train(net, data, epochs=1, seed=0, progress=False, store=False)
    record, state = job.history[0], job.training_state()
    assert state is not None
    for checkpoints in (False, True):
        path = folder / f"throughput-{checkpoints}.sqlite"
        writer = Writer(path, timeout=5.0, max_pages=None, name="bench-writer")
        run = {
            "network_id": net.network_id,
            "status": "queued",
            "parameters": job.params.to_dict(),
            "network": net.to_dict(parameters=False),
            "created_at": job.created_at,
            "owner": ("bench", 0, ""),
        }
        writer.put(("created", "bench", time.time(), run))
        writer.flush()
        t = time.perf_counter()
        for _ in range(n):
            if checkpoints:
                writer.put(("checkpoint", "bench", time.time(), ("epoch", state)))
            writer.put(("epoch", "bench", time.time(), record))
        writer.flush()
        seconds = time.perf_counter() - t
        writer.close()
        what = "with a checkpoint each" if checkpoints else "records only"
        print(f"  writer, {what}: {n / seconds:,.0f} epochs/s ({n} epochs in {seconds:.2f} s)")


class CancelAt(Observer):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, job: Any, record: Any) -> None:
        if record.epoch == self.epoch:
            job.cancel()


def resume_time(folder: Path, repeats: int, data: nnlab.Dataset) -> None:
    store = Store(folder / "resume.sqlite")
    resumed: list[float] = []
    fresh: list[float] = []
    for _ in range(repeats):
        net = nnlab.Network([64, 30, 10], seed=0)
        job = nnlab.train(net, data, epochs=6, seed=0, progress=False, store=store, observers=[CancelAt(5)])
        store.flush()
        t = time.perf_counter()
        nnlab.resume(job.job_id, store=store, progress=False)
        resumed.append(time.perf_counter() - t)
        store.flush()
        t = time.perf_counter()
        nnlab.train(nnlab.Network([64, 30, 10], seed=0), data, epochs=1, seed=0, progress=False, store=store)
        fresh.append(time.perf_counter() - t)
        store.flush()
    store.close()
    a, b = statistics.median(resumed), statistics.median(fresh)
    print(
        f"  resume with one epoch left {a * 1e3:.2f} ms, train one epoch {b * 1e3:.2f} ms: {a / b:.2f}x "
        "(reading the run and its checkpoint back)"
    )


class Receiver:
    """A python-socketio client noting when each training_update arrives."""

    def __init__(self, url: str, auth: dict[str, Any] | None = None) -> None:
        import socketio

        self.times: list[float] = []
        self.wall: list[float] = []
        self.epochs: list[int] = []
        self.done = threading.Event()
        self.expect = 0
        self.client = socketio.Client(reconnection=False)
        self.client.on("training_update", self._got)
        self.client.connect(url, transports=["websocket"], auth=auth, wait_timeout=10)

    def _got(self, data: dict[str, Any]) -> None:
        self.times.append(time.perf_counter())
        self.wall.append(time.time())
        self.epochs.append(data["epoch"])
        if len(self.epochs) >= self.expect:
            self.done.set()

    def close(self) -> None:
        self.client.disconnect()


def replay(folder: Path, repeats: int, data: nnlab.Dataset, n: int = 1000) -> None:
    path = folder / "replay.sqlite"
    registry = Registry()
    net = nnlab.Network([64, 10, 10], seed=0)
    store = Store(path)
    saver = store.observer()
    params = check_params(net, data, epochs=n, mini_batch_size=100, seed=0)
    job = nnlab.TrainingJob(net, data, params, observers=[saver], registry=registry)
    store.watch(job, saver)
    job.run()
    store.flush()
    payloads = [r.update.to_dict() for r in job.history]
    live: list[float] = []
    memory: list[float] = []
    stored: list[float] = []
    with Server(port=0, store=store, registry=registry) as server:
        mirror = get_mirror(registry)
        for _ in range(repeats):
            client = Receiver(server.url)
            client.expect = n
            for payload in payloads:
                mirror.publish("training_update", payload["job_id"], payload)
            # the run is over (else the next client is welcomed with its latest update)
            mirror.publish("training_status", job.job_id, job.status_record().to_dict())
            client.done.wait(60)
            live.append(client.times[-1] - client.times[0])
            client.close()
            t = time.perf_counter()
            client = Receiver(server.url, auth={"since": {job.job_id: 0}})
            client.expect = n
            client.done.wait(60)
            assert client.epochs == list(range(1, n + 1))
            memory.append(client.times[-1] - t)
            client.close()
    with Server(port=0, store=store, registry=Registry()) as server:  # after a restart
        for _ in range(repeats):
            t = time.perf_counter()
            client = Receiver(server.url, auth={"since": {job.job_id: 0}})
            client.expect = n
            client.done.wait(60)
            assert client.epochs == list(range(1, n + 1))
            stored.append(client.times[-1] - t)
            client.close()
    store.close()
    base = statistics.median(live)
    print(f"  {n} live updates, first to last: {base * 1e3:.1f} ms (baseline)")
    for name, values in (("from memory", memory), ("from the store", stored)):
        v = statistics.median(values)
        print(f"  replay of {n} epochs {name}, connect to last: {v * 1e3:.1f} ms: {v / base:.2f}x")


#: Another kernel: trains into the store (argv[1]), printing when each epoch ended.
TRAINER = """
import sys, time
import nnlab
from nnlab.observers import Observer

class Stamp(Observer):
    def on_epoch_end(self, job, record):
        print(record.epoch, time.time(), flush=True)
        time.sleep(0.05)

nnlab.train(nnlab.Network([64, 30, 10], seed=0), epochs=int(sys.argv[2]), seed=0, progress=False,
            store=sys.argv[1], observers=[Stamp()])
"""


def follow_latency(folder: Path, epochs: int = 60) -> None:
    path = folder / "follow.sqlite"
    with Server(port=0, store=path, registry=Registry()) as server:
        client = Receiver(server.url)
        client.expect = epochs
        trainer = subprocess.run(
            [sys.executable, "-c", TRAINER, str(path), str(epochs)],
            capture_output=True,
            text=True,
            check=True,
        )
        client.done.wait(60)
        client.close()
    ended = {int(e): float(t) for e, t in (line.split() for line in trainer.stdout.splitlines())}
    delays = [(t - ended[e]) * 1e3 for e, t in zip(client.epochs, client.wall)]
    print(
        f"  epoch end in another process to a client of the server: p50 {statistics.median(delays):.0f} ms, "
        f"p95 {percentile(delays, 95):.0f} ms, max {max(delays):.0f} ms ({len(delays)} epochs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args()
    digits = nnlab.datasets.digits()
    rng = np.random.default_rng(0)
    mnist_like = nnlab.datasets.from_arrays(rng.random((2000, 784)), rng.integers(0, 10, 2000), test=0.1)
    with threadpool_limits(1, "blas"), tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("1. trainer cost per epoch")
        trainer_cost(folder, [64, 30, 10], 300, digits, None)
        trainer_cost(folder, [64, 30, 10], 300, digits, 1)
        trainer_cost(folder, [784, 100, 10], 100, mnist_like, 1)
        print("2. epoch time, store on vs off")
        epoch_time(folder, args.repeats, args.epochs, digits, [64, 30, 10], None)
        epoch_time(folder, args.repeats, args.epochs, digits, [64, 30, 10], 1)
        epoch_time(folder, args.repeats, args.epochs // 4, mnist_like, [784, 100, 10], None)
        print("3. writer throughput")
        throughput(folder, 2000, digits)
        print("4. resume")
        resume_time(folder, args.repeats, digits)
        print("5. replay on Socket.IO")
        replay(folder, args.repeats, digits)
        print("6. following the store")
        follow_latency(folder)


if __name__ == "__main__":
    main()
