"""The run store across real processes: ``kill -9`` in the middle of a run, then resume;
two processes writing into one file while a third reads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from recording import wait_for

import nnlab
from nnlab.store import Store

#: A training process: ``python -c CHILD path seed epochs delay sizes every options``; prints
#: its job id and status. ``every`` is ``checkpoint_every`` ("0": the default); ``options``
#: more keywords of ``train`` as JSON.
CHILD = """
import json, sys, time
import nnlab
from nnlab.observers import Observer

path, sizes = sys.argv[1], sys.argv[5]
seed, epochs, delay = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
every = int(sys.argv[6]) or None
options = json.loads(sys.argv[7])

class Slow(Observer):
    def on_epoch_end(self, job, record):
        time.sleep(delay)

net = nnlab.Network(json.loads(sizes), seed=3)
job = nnlab.train(net, epochs=epochs, seed=seed, mini_batch_size=10, progress=False, store=path,
                  observers=[Slow()] if delay else [], checkpoint_every=every, **options)
print(job.job_id, job.status, flush=True)
"""


def child(
    path: Path,
    seed: int,
    epochs: int,
    delay: float,
    sizes: list[int],
    every: int = 1,
    options: dict[str, object] | None = None,
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            str(path),
            str(seed),
            str(epochs),
            str(delay),
            json.dumps(sizes),
            str(every),
            json.dumps(options or {}),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    ("every", "options"),
    [(1, {}), (0, {}), (1, {"momentum": 0.6, "dropout": 0.25})],
    ids=["checkpoint-every-epoch", "checkpoints-by-default", "momentum-dropout"],
)
def test_kill_9_mid_run_leaves_an_interrupted_run_that_resumes_bit_for_bit(
    tmp_path: Path, processes: list[subprocess.Popen[str]], every: int, options: dict[str, float]
) -> None:
    path = tmp_path / "runs.sqlite"
    proc = child(path, seed=21, epochs=60, delay=0.05, sizes=[64, 30, 10], every=every, options=options)
    processes.append(proc)
    reader = Store(path)
    wait_for(lambda: len(reader.summaries()) == 1)
    job_id = reader.summaries()[0]["job_id"]
    wait_for(lambda: max((e for e, _ in reader.checkpoints(job_id)), default=0) >= 5)
    wait_for(lambda: len(reader.updates(job_id)) >= 8)  # epochs past the last checkpoint, by default
    # a run of a live process is never taken for an interrupted one
    assert Store(path).run(job_id).status == "running"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    reopened = Store(path)
    run = reopened.run(job_id)
    assert run.status == "interrupted"
    epochs = [r.epoch for r in run.history]
    assert epochs == list(range(1, len(epochs) + 1))
    assert len(epochs) >= 8
    assert len(epochs) < 60
    assert max(run.checkpoints) >= 5
    if every == 1:
        assert run.checkpoints == list(range(max(run.checkpoints) + 1))

    resumed = nnlab.resume(job_id, store=reopened, progress=False)
    reopened.close()
    reference_net = nnlab.Network([64, 30, 10], seed=3)
    reference = nnlab.train(
        reference_net, epochs=60, seed=21, mini_batch_size=10, progress=False, store=False, **options
    )
    assert resumed.status == "completed"
    assert resumed.job_id == job_id
    varying = ("elapsed_time", "job_id", "network_id")
    assert [{k: v for k, v in r.to_dict().items() if k not in varying} for r in resumed.history] == [
        {k: v for k, v in r.to_dict().items() if k not in varying} for r in reference.history
    ]
    for mine, theirs in zip(
        (*resumed.network.weights, *resumed.network.biases), (*reference_net.weights, *reference_net.biases)
    ):
        assert np.array_equal(mine, theirs)
    final = Store(path).run(job_id)
    assert final.status == "completed"
    assert [r.epoch for r in final.history] == list(range(1, 61))
    assert [r.training_cost for r in final.history] == [r.training_cost for r in reference.history]


def test_two_processes_write_one_store_while_a_third_reads(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    path = tmp_path / "runs.sqlite"
    processes.extend(child(path, seed=s, epochs=200, delay=0.0, sizes=[64, 10, 10]) for s in (1, 2))
    reader = Store(path)
    looks = 0
    while any(p.poll() is None for p in processes) or looks == 0:
        for summary in reader.summaries():
            epochs = [r.epoch for r in reader.updates(summary["job_id"])]
            assert epochs == list(range(1, len(epochs) + 1))  # never a gap, never twice
        looks += 1
        time.sleep(0.05)
    outputs = [p.communicate(timeout=60)[0].split() for p in processes]
    assert [out[1] for out in outputs] == ["completed", "completed"]
    runs = nnlab.runs(store=path)
    assert sorted(r.job_id for r in runs) == sorted(out[0] for out in outputs)
    for run in runs:
        assert run.status == "completed"
        assert [r.epoch for r in run.history] == list(range(1, 201))
        assert run.epochs_completed == 200
        assert len(run.checkpoints) == 201
    ids = [e.id for e in reader.changes(limit=100_000)]
    assert ids == sorted(set(ids))
    assert sum(e.kind == "epoch" for e in reader.changes(limit=100_000)) == 400
