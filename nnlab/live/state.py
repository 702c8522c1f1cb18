"""The view model of a live training view: what to show.

No widgets: :class:`LiveState` follows a run through the observer hooks (or by reading
a running job, for :func:`nnlab.watch`) and answers every question a view asks -- the
epoch and mini-batch bars, the status and its style, the latest metrics, the rows of
the table, the series of the curve (:class:`Curves`). Methods take ``now``
(``time.perf_counter()`` seconds) as an argument, so tests drive the clock; when to
redraw is :mod:`nnlab.live.timing`'s business.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from nnlab.formats import (
    best_validation,
    format_accuracy,
    format_cost,
    format_duration,
    format_outcome,
    format_summary,
)
from nnlab.live.timing import Bar

if TYPE_CHECKING:
    from nnlab.events import EpochRecord

__all__ = ["Curves", "LiveState", "running_for"]

#: Why a completed run ended before its last epoch, as the status line says it.
EARLY_REASONS = {
    "early_stopping": "early stopping: validation accuracy stopped improving",
    "learning_rate_schedule": "the learning-rate schedule reached its floor",
}
#: Ends the status line of a run the run store failed to keep (``job.saved is False``).
NOT_SAVED = " · not saved to the run store"
#: Status of the view -> the widget style that tells it (ipywidgets' ``bar_style``).
STYLES = {
    "queued": "",
    "running": "info",
    "paused": "",  # grey: nothing moves until Resume
    "completed": "success",
    "cancelled": "warning",
    "failed": "danger",
}


class Curves:
    """The per-epoch series the curve draws, kept as growing float arrays (NaN where an
    epoch did not measure a value), so a frame costs the same after 10,000 epochs.
    ``first`` is the network's epoch number of index 0 (``epochs_before + 1``).

    >>> c = Curves()
    >>> c.n, c.series("accuracy").shape, c.first
    (0, (0,), 1)
    """

    NAMES = ("accuracy", "validation accuracy", "training cost", "evaluation cost")

    def __init__(self, first: int = 1) -> None:
        self._data = np.full((len(self.NAMES), 64), np.nan)
        self.n = 0
        self.first = first

    def append(self, record: EpochRecord) -> None:
        """Add one epoch's values."""
        if self.n == self._data.shape[1]:
            grown = np.full((len(self.NAMES), 2 * self.n), np.nan)
            grown[:, : self.n] = self._data
            self._data = grown
        values = (record.accuracy, record.validation_accuracy, record.training_cost, record.evaluation_cost)
        self._data[:, self.n] = [np.nan if v is None else v for v in values]
        self.n += 1

    def series(self, name: str) -> npt.NDArray[np.float64]:
        """One series over the epochs so far (index 0 is epoch ``first``)."""
        return self._data[self.NAMES.index(name), : self.n]


class LiveState:
    """What a live view shows, updated from the observer hooks or from a job.

    ``epoch`` is the epoch in progress (1-based within the run, as on the wire; 0 before
    the first), ``rows`` the finished epochs' records, ``status`` one of ``queued``,
    ``running``, ``paused``, ``completed``, ``cancelled``, ``failed``. ``epochs_before`` is how many
    epochs the network had when the run started: the table and the curve count the
    network's epochs (``epochs_before + epoch``), the bars this run's.

    >>> s = LiveState(total_epochs=10, n_batches=130)
    >>> s.run_started(now=0.0); s.epoch_started(1, now=0.0); s.batch(65, 130, now=0.5)
    >>> s.epoch_bar(1.0).text(timings=False), s.batch_bar(1.0).text(timings=False)
    (' 0/10 [0%]', ' 65/130 [50%]')
    >>> s.status_text(timings=False)
    'Running · epoch 1/10'
    """

    def __init__(
        self, total_epochs: int = 0, n_batches: int = 0, *, title: str = "Training", epochs_before: int = 0
    ) -> None:
        self.title = title
        self.epochs_before = epochs_before
        self.total_epochs = total_epochs
        self.n_batches = n_batches
        self.status = "queued"
        self.stop_reason: str | None = None
        self.error: str | None = None
        self.hints: list[str] = []
        self.epoch = 0
        self.batches_done = 0
        self.rows: list[EpochRecord] = []
        self.curves = Curves(first=epochs_before + 1)
        self.stop_requested = False
        self.pause_requested = False
        #: When the run paused (the clocks stand still meanwhile), or ``None``.
        self.paused_at: float | None = None
        #: The rate the run's next mini-batch uses, as last seen.
        self.learning_rate: float | None = None
        self.run_start: float | None = None
        self.epoch_start: float | None = None
        self.end_time: float | None = None
        #: Bumped whenever a row is added, so views redraw the table only then.
        self.version = 0
        #: Whether any epoch measured a validation accuracy (the table gets a column).
        self.has_validation = False
        #: Whether a run store keeps the run (``job.saved``): ``None`` without a store,
        #: ``False`` once the store failed and the run lives in memory only.
        self.saved: bool | None = None
        self._best: float | None = None

    # ------------------------------------------------------------ from the hooks
    @classmethod
    def for_job(cls, job: Any) -> LiveState:
        """An empty state sized for ``job`` (a :class:`~nnlab.training.TrainingJob`)."""
        title = f"Training {list(job.network.sizes)} on {job.params.dataset}"
        state = cls(job.params.epochs, job.n_batches, title=title, epochs_before=job.epochs_before)
        state.learning_rate = getattr(job, "learning_rate", None)
        state.saved = getattr(job, "saved", None)
        return state

    def run_started(self, *, now: float) -> None:
        """The run began."""
        self.status = "running"
        self.run_start = self.epoch_start = now

    def epoch_started(self, epoch: int, *, now: float) -> None:
        """Epoch ``epoch`` (1-based) began."""
        self.epoch = epoch
        self.batches_done = 0
        self.epoch_start = now

    def batch(self, done: int, n_batches: int, *, now: float) -> None:
        """``done`` of ``n_batches`` mini-batches of the current epoch are done."""
        self.batches_done = done
        self.n_batches = n_batches

    def epoch_ended(self, record: EpochRecord, *, now: float) -> None:
        """An epoch finished with ``record``."""
        self.epoch = record.epoch
        self.batches_done = self.n_batches
        self.rows.append(record)
        self.curves.append(record)
        self.version += 1
        if record.accuracy is not None and (self._best is None or record.accuracy > self._best):
            self._best = record.accuracy
        self.has_validation = self.has_validation or record.validation_accuracy is not None

    def paused(self, *, now: float) -> None:
        """The run paused between two mini-batches."""
        self.status = "paused"
        self.pause_requested = False
        if self.paused_at is None:
            self.paused_at = now

    def resumed(self, *, now: float) -> None:
        """The paused run goes on; the time paused is left out of the bars' clocks."""
        if self.paused_at is not None:
            gap = max(0.0, now - self.paused_at)
            if self.run_start is not None:
                self.run_start += gap
            if self.epoch_start is not None:
                self.epoch_start += gap
        self.paused_at = None
        self.status = "running"

    def run_ended(
        self,
        status: str,
        *,
        now: float,
        stop_reason: str | None = None,
        error: str | None = None,
        hints: Sequence[str] = (),
    ) -> None:
        """The run ended as ``status`` (completed, cancelled or failed); ``hints`` are the
        run's advice (``job.hints``), shown under the status."""
        if self.paused_at is not None:  # ended while paused: the clocks stopped then
            now = self.paused_at
            self.paused_at = None
        self.status = status
        self.stop_reason = stop_reason
        self.error = error
        self.hints = list(hints)
        self.end_time = now

    # ------------------------------------------------------------ from a job
    def sync(self, job: Any, *, now: float) -> bool:
        """Catch up with a job read from another thread; ``True`` if anything changed.

        Used by :func:`nnlab.watch`, which polls a run it did not start.
        """
        before = (self.status, self.epoch, self.batches_done, len(self.rows), self.saved)
        self.saved = getattr(job, "saved", self.saved)
        if self.run_start is None and job.status != "queued":
            self.run_started(now=now - running_for(job))
        for record in list(job.history)[len(self.rows) :]:
            self.epoch_ended(record, now=now)
        epoch = job.current_epoch
        if epoch > self.epoch:
            self.epoch_started(epoch, now=now)
        if epoch == self.epoch and epoch > len(self.rows):
            self.batch(job.batches_done, job.n_batches, now=now)
        self.learning_rate = getattr(job, "learning_rate", self.learning_rate)
        if not job.done and job.status != self.status:
            if job.status == "paused":
                self.paused(now=now)
            elif job.status == "running" and self.status == "paused":
                self.resumed(now=now)
        if job.done and self.end_time is None:
            self.run_ended(job.status, now=now, stop_reason=job.stop_reason, error=job.error, hints=job.hints)
        return before != (self.status, self.epoch, self.batches_done, len(self.rows), self.saved)

    # ------------------------------------------------------------ what to show
    @property
    def done(self) -> bool:
        """Whether the run has ended."""
        return self.end_time is not None

    @property
    def latest(self) -> EpochRecord | None:
        """The last finished epoch's record, or ``None``."""
        return self.rows[-1] if self.rows else None

    @property
    def stopped_early(self) -> bool:
        """Whether the run completed before its last epoch (early stopping, schedule)."""
        return self.status == "completed" and self.stop_reason in EARLY_REASONS

    def network_epoch(self, epoch: int) -> int:
        """The network's count for this run's 1-based ``epoch``."""
        return self.epochs_before + epoch

    @property
    def style(self) -> str:
        """``info`` running, ``success`` completed, ``warning`` cancelled, ``danger`` failed."""
        return STYLES.get(self.status, "")

    def _clock(self, now: float) -> float:
        if self.end_time is not None:
            return self.end_time
        return self.paused_at if self.paused_at is not None else now

    def epoch_bar(self, now: float) -> Bar:
        """Finished epochs of the run's epochs, with s/epoch and the time left (a run
        that stopped early ran all the epochs it needed: its bar is full)."""
        now = self._clock(now)
        done = len(self.rows)
        elapsed = None if self.run_start is None else max(0.0, now - self.run_start)
        progress: float = done
        if not self.done and self.n_batches and self.epoch > done:
            progress += self.batches_done / self.n_batches
        per_epoch = elapsed / progress if elapsed is not None and progress > 0 else None
        eta = None
        if per_epoch is not None and not self.done:
            eta = per_epoch * (self.total_epochs - progress)
        total = done if self.stopped_early else self.total_epochs
        return Bar("Epochs", done, total, elapsed, eta, per_epoch, "epoch", "unit", self.done)

    def batch_bar(self, now: float) -> Bar:
        """Mini-batches of the current (or last) epoch, with batches/s and the time left."""
        now = self._clock(now)
        elapsed = None if self.epoch_start is None else max(0.0, now - self.epoch_start)
        done = self.batches_done
        if self.epoch <= len(self.rows) and self.latest is not None:
            # between epochs (or after the last): the finished epoch, with its own time
            elapsed = self.latest.elapsed_time
        rate = done / elapsed if elapsed and done else None
        eta = None
        if done >= self.n_batches:
            eta = 0.0
        elif rate and not self.done:
            eta = (self.n_batches - done) / rate
        return Bar("Batches", done, self.n_batches, elapsed, eta, rate, "batch", "s", self.done)

    def epoch_label(self) -> str:
        """The name beside the epoch bar (the bar's text holds the one count)."""
        return "Epochs"

    def batch_label(self) -> str:
        """The name beside the mini-batch bar."""
        return "Batches"

    def _at(self, epoch: int) -> str:
        """``epoch 3/10``, with the network's count when it had epochs before."""
        text = f"epoch {epoch}/{self.total_epochs}"
        return text + (f" (network epoch {self.network_epoch(epoch)})" if self.epochs_before else "")

    def status_text(self, *, timings: bool = True) -> str:
        """One line that tells the story of the run so far (and that it is not being
        saved, when the run store failed).

        >>> s = LiveState(total_epochs=3)
        >>> s.saved = False
        >>> s.status_text()
        'Waiting to start · 3 epochs · not saved to the run store'
        """
        line = self._story(timings=timings)
        return line + NOT_SAVED if self.saved is False else line

    def _story(self, *, timings: bool) -> str:
        total = self.total_epochs
        done = len(self.rows)
        at = max(self.epoch, done, 1)
        if self.status == "queued":
            return f"Waiting to start · {total} epochs" if total else "Waiting for a run to start"
        if self.status == "running":
            if self.epoch <= done < total:  # between two epochs: the next one is starting
                at = done + 1
            line = f"Running · {self._at(at)}"
            if self.stop_requested:
                return line + " · stopping at the next mini-batch"
            return line + (" · pausing at the next mini-batch" if self.pause_requested else "")
        if self.status == "paused":
            if self.epoch <= done:
                where = f"before {self._at(min(done + 1, total))}"
            else:
                where = f"{self._at(at)} at mini-batch {self.batches_done}/{self.n_batches}"
            line = f"Paused · {where} · Resume goes on from there"
            return line + (" · stopping" if self.stop_requested else "")
        if self.status == "completed":
            if self.stopped_early:
                line = f"Stopped early · {done} of {total} epochs ({EARLY_REASONS[self.stop_reason or '']})"
            else:
                line = f"Completed · {done}/{total} epochs"
            if self.epochs_before and done:
                first, last = self.network_epoch(1), self.network_epoch(done)
                line += f" · network epochs {first}–{last}"
            if timings and self.run_start is not None and self.end_time is not None:
                line += f" in {format_duration(self.end_time - self.run_start)}"
            latest = self.latest
            outcome = format_outcome(
                None if latest is None else latest.accuracy,
                best_validation(self.rows, first_epoch=self.network_epoch(1)),
            )
            return f"{line} · {outcome}" if outcome else line
        kept = f"{done} finished epoch{'s' if done != 1 else ''} kept"
        # stopped inside an epoch, or between two (then the last finished one is named)
        where = f"after {self._at(done)}" if done and self.epoch <= done else f"at {self._at(at)}"
        if self.status == "cancelled":
            if self.stop_reason == "interrupted":
                # train() raised, so the cell's `job = ...` never happened: say how to get it
                return f"Interrupted (Ctrl-C) {where} · {kept} · the run is nnlab.last_job()"
            return f"Cancelled {where} · {kept}"
        return f"Failed {where}: {self.error} · {kept}"

    def best_accuracy(self) -> float | None:
        """Best evaluation accuracy so far, or ``None``."""
        return self._best

    def metrics(self, *, timings: bool = True) -> list[tuple[str, str]]:
        """The latest epoch's metrics as ``(name, value)`` pairs, for display."""
        record = self.latest
        if record is None:
            return []
        items: list[tuple[str, str]] = []
        if record.accuracy is not None:
            share = format_accuracy(record.accuracy)
            items.append(("accuracy", f"{record.correct}/{record.total} ({share})"))
        items.append(("training cost", format_cost(record.training_cost)))
        if record.evaluation_cost is not None:
            items.append(("evaluation cost", format_cost(record.evaluation_cost)))
        if record.validation_accuracy is not None:
            items.append(("validation accuracy", format_accuracy(record.validation_accuracy)))
        if record.validation_cost is not None:
            items.append(("validation cost", format_cost(record.validation_cost)))
        if timings:
            items.append(("epoch time", format_duration(record.elapsed_time)))
        return items

    def columns(self, *, timings: bool = True) -> list[str]:
        """Column names of the epoch table."""
        names = ["epoch", "training cost", "evaluation cost", "accuracy", "correct/total"]
        if self.has_validation:
            names.append("validation accuracy")
        if timings:
            names.append("epoch time")
        return names

    @staticmethod
    def row_cells(
        record: EpochRecord, *, timings: bool = True, validation: bool = False, epochs_before: int = 0
    ) -> list[str]:
        """One table row as text cells, matching :meth:`columns` (the network's epoch)."""
        cells = [
            str(epochs_before + record.epoch),
            format_cost(record.training_cost),
            format_cost(record.evaluation_cost),
            format_accuracy(record.accuracy),
            "–" if record.correct is None else f"{record.correct}/{record.total}",
        ]
        if validation:
            cells.append(format_accuracy(record.validation_accuracy))
        if timings:
            cells.append(format_duration(record.elapsed_time))
        return cells

    def summary(self) -> str:
        """``epoch 3/10 · accuracy 91.00% · running``: a line for ``repr``."""
        latest = self.latest
        accuracy = latest.accuracy if latest is not None else None
        return format_summary(len(self.rows), self.total_epochs, accuracy, self.status)


def running_for(job: Any) -> float:
    """Seconds since ``job`` started (its ``elapsed_time`` once it ended; 0 if unknown)."""
    if job.elapsed_time is not None:
        return float(job.elapsed_time)
    try:
        started = datetime.fromisoformat(job.started_at.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        return 0.0
    return max(0.0, (datetime.now(timezone.utc) - started).total_seconds())
