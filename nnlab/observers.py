"""Observers: everything that watches a training run, kept out of the training loop.

The loop tells its observers what happens through seven hooks (through a
:class:`~nnlab.notify.Notifier`); an observer overrides the ones it needs (any object
with some of these methods works too):

* ``on_run_start(job)`` -- the run is about to train;
* ``on_epoch_start(job, epoch)`` -- an epoch (1-based) begins;
* ``on_batch_end(job, epoch, batch, n_batches)`` -- mini-batch progress: after an
  epoch's first and last mini-batch, and in between at most every
  ``BATCH_REPORT_INTERVAL`` seconds;
* ``on_epoch_end(job, record)`` -- an epoch ended; ``record.update`` is its
  :class:`~nnlab.events.TrainingUpdate`;
* ``on_pause(job)`` -- the run paused (``job.pause()``) between two mini-batches;
* ``on_resume(job)`` -- the paused run goes on (``job.resume()``);
* ``on_run_end(job)`` -- the run ended; ``job.status`` says how.

An observer that raises is reported once (an :class:`ObserverWarning`) and training
goes on. A hook nobody implements costs the loop nothing (``on_batch_end`` is not even
measured).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, TextIO

from nnlab.formats import best_validation, format_duration, format_epoch, format_outcome
from nnlab.notify import BATCH_REPORT_INTERVAL, ObserverWarning, noop

if TYPE_CHECKING:
    from nnlab.events import EpochRecord
    from nnlab.training import TrainingJob

__all__ = [
    "BATCH_REPORT_INTERVAL",
    "Observer",
    "ObserverWarning",
    "TextProgress",
    "format_end",
    "stable_output",
]


class Observer:
    """Base class with a no-op for every hook; override the ones you need."""

    @noop
    def on_run_start(self, job: TrainingJob) -> None:
        """The run is about to train its first epoch."""

    @noop
    def on_epoch_start(self, job: TrainingJob, epoch: int) -> None:
        """Epoch ``epoch`` (1-based) begins."""

    @noop
    def on_batch_end(self, job: TrainingJob, epoch: int, batch: int, n_batches: int) -> None:
        """``batch`` of ``n_batches`` mini-batches of ``epoch`` are done (throttled)."""

    @noop
    def on_epoch_end(self, job: TrainingJob, record: EpochRecord) -> None:
        """An epoch ended; ``record`` was just appended to ``job.history``."""

    @noop
    def on_pause(self, job: TrainingJob) -> None:
        """The run paused between two mini-batches; ``job.status`` is ``"paused"``."""

    @noop
    def on_resume(self, job: TrainingJob) -> None:
        """The paused run goes on; ``job.status`` is ``"running"`` again."""

    @noop
    def on_run_end(self, job: TrainingJob) -> None:
        """The run ended as ``job.status`` says (completed, failed or cancelled)."""


def stable_output(value: bool | None = None) -> bool:
    """Whether progress text leaves out timings, so it is the same on every run.

    ``value`` wins when given; otherwise the ``NNLAB_STABLE_OUTPUT`` environment variable
    (``1``, ``true`` or ``yes``) decides. Tests and nbval-checked notebooks turn it on.
    """
    if value is not None:
        return bool(value)
    return os.environ.get("NNLAB_STABLE_OUTPUT", "").strip().lower() in ("1", "true", "yes", "on")


def format_end(job: TrainingJob, *, timings: bool = True) -> str:
    """The lines that say how a run ended (and any hints about what to change)."""
    done = len(job.history)
    total = job.params.epochs
    if job.status == "completed":
        line = f"completed {done}/{total} epochs"
        if job.stop_reason:
            line += f" ({job.stop_reason.replace('_', ' ')})"
        if timings and job.elapsed_time is not None:
            line += f" in {format_duration(job.elapsed_time)}"
        latest = job.latest
        outcome = format_outcome(
            None if latest is None else latest.accuracy,
            best_validation(job.history, first_epoch=job.epochs_before + 1),
        )
        if outcome:
            line += f"; {outcome}"
    elif job.status == "cancelled":
        why = "interrupted" if job.stop_reason == "interrupted" else "cancelled"
        line = (
            f"{why} after {done}/{total} epochs; the network keeps its weights from the end of "
            f"epoch {done} and the history so far is kept (nnlab.last_job() is this run)"
        )
    else:
        line = f"failed after {done}/{total} epochs: {job.error}"
    return "\n".join([line, *(f"hint: {hint}" for hint in job.hints)])


class TextProgress(Observer):
    """Prints one plain line per epoch and one when the run ends.

    ``stream`` defaults to ``sys.stdout`` as it is when each line is written (so a
    notebook cell captures it); ``timings=False`` leaves out seconds (see
    :func:`stable_output`).
    """

    def __init__(self, stream: TextIO | None = None, *, timings: bool | None = None) -> None:
        self.stream = stream
        self.timings = not stable_output() if timings is None else timings

    def _write(self, line: str) -> None:
        stream = self.stream if self.stream is not None else sys.stdout
        stream.write(line + "\n")
        stream.flush()

    def on_epoch_end(self, job: TrainingJob, record: EpochRecord) -> None:
        self._write(format_epoch(record, timings=self.timings))

    def on_run_end(self, job: TrainingJob) -> None:
        self._write(format_end(job, timings=self.timings))
