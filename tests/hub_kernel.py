"""A student's kernel of a class, as a process: connects to the class's Redis, trains, exits.

Run by the classroom tests (``tests/test_hub_class.py``) as ``python tests/hub_kernel.py``::

    python tests/hub_kernel.py --redis redis://127.0.0.1:6379/0 --channel class-a --owner ada \
        --runs 2 --epochs 5 --seconds-per-epoch 0.1

The URL defaults to ``$NNLAB_REDIS_URL``. It prints JSON lines on stdout:

* ``{"connected": true, "kernel_id": ..., "owner": ...}`` once connected;
* with ``--go``, it then waits for a line on stdin before training (so many kernels can
  start publishing at once);
* ``{"started": job_id, ...}`` when a run begins its first epoch (a test may kill it then);
* with ``--say-epochs``, ``{"epoch": e, "job_id": ...}`` as each epoch ends;
* ``{"job_id", "network_id", "status", "epochs": [...], "kernel_id", "owner"}`` for each
  finished run;
* ``{"done": true, "at": time.time(), ...}`` (the publisher's status) after the publisher
  has handed everything to Redis and removed its heartbeat, then it exits 0.

Each run trains a fresh [4, 6, 3] network on 40 synthetic rows (so an epoch takes well
under a millisecond); ``--seconds-per-epoch`` makes epochs slower (to stop a run mid-way).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

import nnlab
from nnlab.identity import kernel_id, owner


def say(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


class Pace(nnlab.Observer):
    """Makes every epoch last at least ``seconds``; says when the run's first epoch begins
    (and, with ``say_epochs``, when each epoch ends)."""

    def __init__(self, seconds: float, say_epochs: bool = False) -> None:
        self.seconds = seconds
        self.say_epochs = say_epochs
        self._start = 0.0

    def on_epoch_start(self, job: Any, epoch: int) -> None:
        self._start = time.perf_counter()
        if epoch == 1:
            say(started=job.job_id, network_id=job.network_id)

    def on_epoch_end(self, job: Any, record: Any) -> None:
        left = self.seconds - (time.perf_counter() - self._start)
        if left > 0:
            time.sleep(left)
        if self.say_epochs:
            say(epoch=record.epoch, job_id=job.job_id)


def tiny_data(seed: int) -> nnlab.Dataset:
    rng = np.random.default_rng(seed)
    X = rng.random((40, 4))
    y = (X[:, 0] + X[:, 1] > 1).astype(int) + (X[:, 2] > 0.7).astype(int)
    return nnlab.datasets.from_arrays(X, y, test=10, seed=seed, n_classes=3, name="tiny")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--redis", default=os.environ.get("NNLAB_REDIS_URL"), help="default $NNLAB_REDIS_URL")
    parser.add_argument("--channel", default="nnlab")
    parser.add_argument("--owner", default=None, help="default: nnlab's (NNLAB_OWNER, JUPYTERHUB_USER, ...)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seconds-per-epoch", type=float, default=0.0)
    parser.add_argument("--say-epochs", action="store_true", help="print a line as each epoch ends")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--go", action="store_true", help="wait for a line on stdin before training")
    args = parser.parse_args(argv)
    if not args.redis:
        parser.error("give --redis URL or set NNLAB_REDIS_URL")

    publisher = nnlab.connect(args.redis, channel=args.channel, owner=args.owner)
    say(connected=True, kernel_id=kernel_id(), owner=owner())
    if args.go and not sys.stdin.readline():
        return 1  # the test went away
    data = tiny_data(args.seed)
    for run in range(args.runs):
        net = nnlab.Network([4, 6, 3], seed=args.seed + run)
        job = nnlab.train(
            net,
            data,
            epochs=args.epochs,
            seed=args.seed + run,
            progress=False,
            store=False,
            observers=[Pace(args.seconds_per_epoch, args.say_epochs)],
        )
        say(
            job_id=job.job_id,
            network_id=job.network_id,
            status=job.status,
            epochs=[r.epoch for r in job.history],
            kernel_id=kernel_id(),
            owner=owner(),
        )
    nnlab.disconnect()  # publishes what is waiting, then ends the publisher's threads
    say(done=True, at=time.time(), **publisher.status())
    return 0


if __name__ == "__main__":
    sys.exit(main())
