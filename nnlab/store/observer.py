"""``StoreObserver``: the observer that hands a run's events to a store's writer.

It runs in the training thread and does one ``deque`` append per event; a checkpoint
(weights, shuffler, learning rate, plateau state -- a
:class:`~nnlab.checkpoint.TrainingState`) is copied at the epoch boundary it is due at:
before epoch 1, when the run ends, and in between

* by default, at the first epoch boundary ``CHECKPOINT_INTERVAL`` seconds or more after
  the last checkpoint: after every epoch when epochs take a second or more, about once a
  second for fast ones (a checkpoint per 5 ms epoch would cost the digits ~10 %);
* with ``checkpoint_every=n``, every ``n`` epochs, and at least every
  ``checkpoint_seconds`` seconds.

Resuming from any checkpoint gives the same result bit for bit (the epochs after it are
trained again, identically); more checkpoints only mean less work redone after a crash.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from nnlab.observers import Observer
from nnlab.store.owner import this_process
from nnlab.store.writer import Writer

if TYPE_CHECKING:
    from nnlab.events import EpochRecord
    from nnlab.training import TrainingJob

__all__ = ["CHECKPOINT_INTERVAL", "CHECKPOINT_SECONDS", "StoreObserver"]

#: By default, seconds from one checkpoint to the epoch boundary that takes the next.
CHECKPOINT_INTERVAL = 1.0
#: With ``checkpoint_every``, a checkpoint at least this often (seconds) as well.
CHECKPOINT_SECONDS = 60.0


class StoreObserver(Observer):
    """Hands one run's events to ``writer``; see the module docstring."""

    def __init__(
        self,
        writer: Writer,
        *,
        checkpoint_every: int | None = None,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
    ) -> None:
        self._put = writer.put
        self._writer = writer
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self._last_epoch: int | None = None
        self._last_time = time.monotonic()

    # ---------------------------------------------------------- before the run
    def created(self, job: TrainingJob) -> None:
        """Record a new run (queued)."""
        run = {
            "network_id": job.network_id,
            "status": job.status,
            "parameters": job.params.to_dict(),
            "network": {**job.network.to_dict(parameters=False), "epochs_trained": job.epochs_before},
            "created_at": job.created_at,
            "owner": this_process(),
        }
        self._put(("created", job.job_id, time.time(), run))

    def resumed(self, epoch: int) -> None:
        """The run goes on after ``epoch``, whose checkpoint the store has."""
        self._last_epoch, self._last_time = epoch, time.monotonic()

    # ---------------------------------------------------------- hooks
    def on_run_start(self, job: TrainingJob) -> None:
        self._put(("started", job.job_id, time.time(), job.started_at))

    def on_epoch_start(self, job: TrainingJob, epoch: int) -> None:
        last, every = self._last_epoch, self.checkpoint_every
        waited = time.monotonic() - self._last_time
        if (
            last is None
            or (every is None and waited >= CHECKPOINT_INTERVAL)
            or (every is not None and (epoch - 1 - last >= every or waited >= self.checkpoint_seconds))
        ):
            self._checkpoint(job, "epoch")

    def on_epoch_end(self, job: TrainingJob, record: EpochRecord) -> None:
        self._put(("epoch", job.job_id, time.time(), record))

    def on_run_end(self, job: TrainingJob) -> None:
        state = job.training_state()
        if state is not None:
            if job.status == "completed":
                # the network as the run leaves it (the best epoch's with restore_best)
                net = job.network
                state = replace(
                    state, weights=[w.copy() for w in net.weights], biases=[b.copy() for b in net.biases]
                )
                self._put(("checkpoint", job.job_id, time.time(), ("end", state)))
            elif state.epoch != self._last_epoch:
                self._put(("checkpoint", job.job_id, time.time(), (job.status, state)))
        end: dict[str, Any] = {
            "status": job.status,
            "finished_at": job.finished_at,
            "elapsed_time": job.elapsed_time,
            "error": job.error,
            "stop_reason": job.stop_reason,
            "hints": list(job.hints),
        }
        self._put(("ended", job.job_id, time.time(), end))
        self._writer.wake()

    def _checkpoint(self, job: TrainingJob, reason: str) -> None:
        state = job.training_state()
        if state is not None:
            self._last_epoch, self._last_time = state.epoch, time.monotonic()
            self._put(("checkpoint", job.job_id, time.time(), (reason, state)))
