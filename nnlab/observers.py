"""Observers: everything that watches a training run, kept out of the training loop.

The loop tells its observers what happens through five hooks; an observer overrides
the ones it needs (any object with some of these methods works too):

* ``on_run_start(job)`` -- the run is about to train;
* ``on_epoch_start(job, epoch)`` -- an epoch (1-based) begins;
* ``on_batch_end(job, epoch, batch, n_batches)`` -- mini-batch progress: after an
  epoch's first and last mini-batch, and in between at most every
  ``BATCH_REPORT_INTERVAL`` seconds;
* ``on_epoch_end(job, record)`` -- an epoch ended; ``record.update`` is its
  :class:`~nnlab.events.TrainingUpdate`;
* ``on_run_end(job)`` -- the run ended; ``job.status`` says how.

An observer that raises is reported once (an :class:`ObserverWarning`) and training
goes on.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from nnlab.events import EpochRecord
    from nnlab.training import TrainingJob

__all__ = [
    "BATCH_REPORT_INTERVAL",
    "Notifier",
    "Observer",
    "ObserverWarning",
    "TextProgress",
    "make_progress",
    "stable_output",
]

#: Seconds between two ``on_batch_end`` calls within an epoch.
BATCH_REPORT_INTERVAL = 0.02

_HOOKS = ("on_run_start", "on_epoch_start", "on_batch_end", "on_epoch_end", "on_run_end")


class ObserverWarning(RuntimeWarning):
    """An observer raised; the run went on without its result."""


class Observer:
    """Base class with a no-op for every hook; override the ones you need."""

    def on_run_start(self, job: TrainingJob) -> None:
        """The run is about to train its first epoch."""

    def on_epoch_start(self, job: TrainingJob, epoch: int) -> None:
        """Epoch ``epoch`` (1-based) begins."""

    def on_batch_end(self, job: TrainingJob, epoch: int, batch: int, n_batches: int) -> None:
        """``batch`` of ``n_batches`` mini-batches of ``epoch`` are done (throttled)."""

    def on_epoch_end(self, job: TrainingJob, record: EpochRecord) -> None:
        """An epoch ended; ``record`` was just appended to ``job.history``."""

    def on_run_end(self, job: TrainingJob) -> None:
        """The run ended as ``job.status`` says (completed, failed or cancelled)."""


def _overrides(observer: Any, hook: str) -> bool:
    method = getattr(type(observer), hook, None)
    if method is None:
        return callable(getattr(observer, hook, None))
    return method is not getattr(Observer, hook)


class Notifier:
    """Calls one hook on every observer that has it; an observer's error never escapes.

    ``observers`` are fixed for the run. ``process_observers``, if given, is called at
    every notification for the observers that watch every run in the process (the
    registry's), so one added mid-run -- a server started while a cell trains -- sees
    the rest of that run.
    """

    def __init__(
        self,
        observers: Iterable[Any],
        process_observers: Callable[[], Iterable[Any]] | None = None,
    ) -> None:
        self.observers = list(observers)
        self._process_observers = process_observers
        self._reported: set[int] = set()
        self._by_hook = {
            hook: [getattr(o, hook) for o in self.observers if _overrides(o, hook)] for hook in _HOOKS
        }

    def wants(self, hook: str) -> bool:
        """Whether an observer may implement ``hook`` (lets the loop skip idle work)."""
        return bool(self._by_hook[hook]) or self._process_observers is not None

    def notify(self, hook: str, *args: Any) -> None:
        """Call ``hook(*args)`` on every observer that implements it."""
        methods = self._by_hook[hook]
        if self._process_observers is not None:
            extra = [getattr(o, hook) for o in self._process_observers() if _overrides(o, hook)]
            methods = extra + methods if extra else methods
        for method in methods:
            try:
                method(*args)
            except Exception as exc:  # an observer must never stop training
                self._report(method, hook, exc)

    def _report(self, method: Any, hook: str, exc: Exception) -> None:
        owner = getattr(method, "__self__", method)
        if id(owner) in self._reported:
            return
        self._reported.add(id(owner))
        warnings.warn(
            f"observer {owner!r} raised {type(exc).__name__}: {exc} (in {hook}); training "
            "goes on, and further errors from this observer in this run are not reported",
            ObserverWarning,
            stacklevel=2,
        )


def stable_output(value: bool | None = None) -> bool:
    """Whether progress text leaves out timings, so it is the same on every run.

    ``value`` wins when given; otherwise the ``NNLAB_STABLE_OUTPUT`` environment variable
    (``1``, ``true`` or ``yes``) decides. Tests and nbval-checked notebooks turn it on.
    """
    if value is not None:
        return bool(value)
    return os.environ.get("NNLAB_STABLE_OUTPUT", "").strip().lower() in ("1", "true", "yes", "on")


def format_epoch(record: EpochRecord, *, timings: bool = True) -> str:
    """One plain line for an epoch: ``epoch 3/10  accuracy 0.9467 (284/300) ...``."""
    update = record.update
    width = len(str(update.total_epochs))
    parts = [f"epoch {update.epoch:>{width}}/{update.total_epochs}"]
    if update.accuracy is not None:
        parts.append(f"accuracy {update.accuracy:.4f} ({update.correct}/{update.total})")
    parts.append(f"training cost {record.training_cost:.4f}")
    if record.validation_accuracy is not None:
        parts.append(f"validation accuracy {record.validation_accuracy:.4f}")
    if timings:
        parts.append(f"{update.elapsed_time:.3f}s")
    return "  ".join(parts)


def format_end(job: TrainingJob, *, timings: bool = True) -> str:
    """One plain line that says how a run ended."""
    done = len(job.history)
    total = job.params.epochs
    if job.status == "completed":
        line = f"completed {done}/{total} epochs"
        if job.stop_reason:
            line += f" ({job.stop_reason.replace('_', ' ')})"
        if timings and job.elapsed_time is not None:
            line += f" in {job.elapsed_time:.2f}s"
        best = job.best_accuracy
        if best is not None:
            line += f"; best accuracy {best:.4f}"
        return line
    if job.status == "cancelled":
        why = "interrupted" if job.stop_reason == "interrupted" else "cancelled"
        return f"{why} after {done}/{total} epochs; the network and history so far are kept"
    return f"failed after {done}/{total} epochs: {job.error}"


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


def make_progress(progress: Any) -> Observer | None:
    """The progress observer for ``train(progress=...)``.

    ``"auto"``: the live widget view in a Jupyter kernel (:mod:`nnlab.live`; none in a
    kernel thread other than the main one: show such runs with ``nnlab.watch(job)``),
    a line per epoch on stderr elsewhere. ``"widgets"``: the live view (text lines and a
    warning where it cannot show). ``"text"``: a line per epoch on stdout. ``False``:
    nothing.
    """
    if progress is False or progress is None:
        return None
    if progress == "text" or progress is True:
        return TextProgress()
    if progress in ("auto", "widgets"):
        if progress == "auto" and "ipykernel" not in sys.modules:
            return TextProgress(sys.stderr)  # not in a notebook: no need to load nnlab.live
        # nnlab.live, and ipywidgets with it, load only when a view may be shown
        from nnlab.live.mode import widget_progress

        return widget_progress(progress)
    raise ValueError(f"progress must be 'auto', 'widgets', 'text' or False, got {progress!r}")
