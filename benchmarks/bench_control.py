"""What pause and resume cost: a train() epoch nobody touches, against the bare SGD pass
and against an epoch interrupted once and continued (the way every pause, resume or new
learning rate continues one).

Run by hand::

    python benchmarks/bench_control.py
    python benchmarks/bench_control.py --rows 50000 --rounds 9

Each round trains the same network ([64, 30, 10], mini-batch 10, rate 3.0, no evaluation)
on the same random data from the same weights three ways, interleaved so a busy machine
slows each alike: ``MiniBatchSGD.epoch`` alone; ``train()`` with nobody pausing; and
``train()`` where every epoch is interrupted after its first reported mini-batch (a new
learning rate equal to the old one) and goes on with the rest of the epoch. It prints
the median over rounds of each one's CPU time per epoch (of the calling thread, steadier
than wall time on a shared machine) and its ratio to the bare pass. All
three end with the same weights, bit for bit (checked).

An uninterrupted epoch is one engine call with the same stop event as before control
existed: its ratio to the bare pass is the loop's own measuring. A continued epoch adds a
Python call per mini-batch for the rest of the epoch and a full pass for its training
cost (the running cost would cover only the mini-batches after the interruption).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

import nnlab
from nnlab._sgd import MiniBatchSGD
from nnlab.network import one_hot
from nnlab.observers import Observer
from nnlab.params import check_params
from nnlab.training import TrainingJob

EPOCHS = 3


class Interrupt(Observer):
    """Interrupts every epoch once, after its first reported mini-batch."""

    def __init__(self) -> None:
        self.epoch = 0

    def on_batch_end(self, job: Any, epoch: int, batch: int, n_batches: int) -> None:
        if epoch != self.epoch:
            self.epoch = epoch
            job.set_learning_rate(job.learning_rate)


class Listen(Observer):
    """Listens to the same hook, doing nothing (so both train() runs report batches)."""

    def on_batch_end(self, job: Any, epoch: int, batch: int, n_batches: int) -> None:
        pass


def bare(data: nnlab.Dataset) -> tuple[float, list[np.ndarray]]:
    net = nnlab.Network([64, 30, 10], seed=0)
    X, y = data.train
    engine = MiniBatchSGD(net, X, one_hot(y, 10, net.dtype), 10)
    rng = np.random.default_rng(0)
    start = time.thread_time()
    for _ in range(EPOCHS):
        engine.epoch(rng.permutation(engine.n), 3.0)
    return (time.thread_time() - start) / EPOCHS, [*net.weights, *net.biases]


def trained(data: nnlab.Dataset, observer: Observer) -> tuple[float, list[np.ndarray]]:
    net = nnlab.Network([64, 30, 10], seed=0)
    params = check_params(net, data, epochs=EPOCHS, seed=0, evaluate_on=None)
    job = TrainingJob(net, data, params, observers=[observer])
    start = time.thread_time()
    job.run()
    return (time.thread_time() - start) / EPOCHS, [*net.weights, *net.biases]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    data = nnlab.datasets.from_arrays(rng.random((args.rows, 64)), rng.integers(0, 10, args.rows), name="b")
    times: dict[str, list[float]] = {"bare SGD pass": [], "train(), untouched": [], "train(), continued": []}
    for _ in range(args.rounds):
        t_bare, w_bare = bare(data)
        t_plain, w_plain = trained(data, Listen())
        t_cont, w_cont = trained(data, Interrupt())
        assert all(np.array_equal(a, b) for a, b in zip(w_plain, w_cont)), "continued epochs differ"
        assert all(np.array_equal(a, b) for a, b in zip(w_plain, w_bare)), "train() differs from the pass"
        for name, t in zip(times, (t_bare, t_plain, t_cont)):
            times[name].append(t)
    base = statistics.median(times["bare SGD pass"])
    print(f"{args.rows:,} rows, {args.rows // 10:,} mini-batches an epoch, median of {args.rounds} rounds")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<20} {1e3 * median:8.1f} ms/epoch   {median / base:5.2f}x")


if __name__ == "__main__":
    main()
