"""The ipywidgets view of a training run, and :func:`watch`.

:class:`LiveView` is an observer: ``train(progress="widgets")`` (or ``"auto"`` in a
notebook) makes one, and it follows the run through the loop's hooks. :func:`watch`
makes one for a run that is already going (started with ``background=True`` or through
the REST API) and follows it by reading the job from a thread of its own.

Rules the view keeps:

* widgets are only ever assigned to, from whichever thread runs (training, polling,
  the kernel's); no ``with output:`` and no ``clear_output``;
* redraws are throttled by time (:class:`~nnlab.live.timing.Throttle`); the first
  frame, epoch ends and the final state are always drawn;
* when the run ends the widget output is replaced, through its display id, by a static
  record (HTML and ``text/plain``) that any notebook renderer shows. With stable output
  on (:func:`nnlab.observers.stable_output`, for tests and nbval, which compares outputs
  as first displayed) the record is appended as an output of its own instead, and the
  widget output is reduced to its unchanging ``text/plain``;
* one run, one view: :func:`watch` on a run that already has a view (``train(...,
  background=True)`` in a notebook makes one) returns that view, shown once per cell;
* the table, the metrics, the curve and the chart of the layers (with diagnostics) are
  redrawn together, so they always agree.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
import weakref
from typing import TYPE_CHECKING, Any, cast

import ipywidgets as w

from nnlab._kernel import display as show_in_cell
from nnlab._kernel import in_kernel, update_display, warn_once
from nnlab.live._ipykernel_hook import on_message_early
from nnlab.live.layers import svg_layers
from nnlab.live.record import LIVE_POINTS, metrics_html, record_bundle, status_html, svg_curve, table_html
from nnlab.live.state import LiveState
from nnlab.live.timing import Throttle, live_interval
from nnlab.observers import Observer, stable_output
from nnlab.params import ParameterError
from nnlab.plots import Picture, confusion
from nnlab.training import JobStateError, TrainingJob

if TYPE_CHECKING:
    from nnlab.events import EpochRecord

__all__ = ["PLACEHOLDER", "LiveView", "watch"]

#: ``text/plain`` of the widget output: what a renderer without widgets shows meanwhile.
PLACEHOLDER = "nnlab training view (live with ipywidgets; a static record is written when the run ends)"
_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: job_id -> the views :func:`watch` made for it (weakly: a view lives as long as its user keeps it).
_watching: dict[str, weakref.WeakSet[LiveView]] = {}
_MONO = "font-family:var(--jp-code-font-family,monospace);font-size:12px;white-space:pre"


def _clock() -> float:
    return time.perf_counter()


def _mono(text: str) -> str:
    return f'<span style="{_MONO}">{text}</span>'


class LiveView(Observer):
    """Bars, metrics, table, curve, and Stop, Pause and Resume buttons and a learning-rate
    box for one training run (a new rate is used from the next mini-batch on).

    ``job`` binds the view to a run now (otherwise to the first run it observes);
    ``display=False`` builds it without showing it (tests; show it with
    :meth:`show` or by ending a cell with it); ``interval`` is the seconds between
    redraws (default ``NNLAB_LIVE_INTERVAL`` or 0.1); ``stable=True`` leaves timings out
    of every text (default ``NNLAB_STABLE_OUTPUT``).

    >>> import nnlab
    >>> view = LiveView(display=False, stable=True)
    >>> net = nnlab.Network([64, 10, 10], seed=0)
    >>> job = nnlab.train(net, epochs=2, seed=0, observers=[view], progress=False)
    >>> view
    <LiveView · epoch 2/2 · accuracy 82.00% · completed>
    >>> view.epoch_bar.value, view.epoch_bar.bar_style
    (2, 'success')
    """

    def __init__(
        self,
        job: TrainingJob | None = None,
        *,
        display: bool = True,
        interval: float | None = None,
        stable: bool | None = None,
    ) -> None:
        self.timings = not stable_output(stable)
        self.interval = live_interval(interval)
        self.throttle = Throttle(self.interval)
        self.job: TrainingJob | None = None
        self.state = LiveState(title="Training")
        self.display_id = uuid.uuid4().hex
        self._learned_picture: Picture | None = None
        self._shown = False
        #: Execution counts of the cells that show this view (once per cell).
        self._shown_in: set[int | None] = set()
        self._lock = threading.RLock()
        self._finished = threading.Event()
        self._rows_drawn = -1
        self._epoch_end_due = False
        self._poller: threading.Thread | None = None
        self._build()
        if job is not None:
            self._adopt(job)
        self._draw(_clock())
        if display:
            self.show()

    # ------------------------------------------------------------ widgets
    def _build(self) -> None:
        def bar() -> w.IntProgress:
            # grows to 22em, shrinks to 4em before its text wraps below it
            return w.IntProgress(
                min=0, max=1, value=0, layout=w.Layout(flex="1 1 4em", max_width="22em", margin="0 8px")
            )

        def label() -> w.HTML:
            return w.HTML(layout=w.Layout(width="5em", min_width="5em"))

        self.header = w.HTML()
        self.epoch_label, self.epoch_bar, self.epoch_text = label(), bar(), w.HTML()
        self.batch_label, self.batch_bar, self.batch_text = label(), bar(), w.HTML()
        self.metrics = w.HTML()
        self.stop_button = w.Button(
            description="Stop",
            icon="stop",
            button_style="warning",
            tooltip="Cancel the run at the next mini-batch; the network and the history so far are kept",
            # never shrunk by the metrics beside it: the label always shows whole
            layout=w.Layout(width="auto", min_width="max-content", flex="0 0 auto", margin="2px 12px 2px 0"),
        )
        self.stop_button.on_click(lambda _button: self.stop())
        _cancel_while_busy(self.stop_button, self._stop_requested)
        fixed = w.Layout(width="auto", min_width="max-content", flex="0 0 auto", margin="2px 6px 2px 0")
        self.pause_button = w.Button(
            description="Pause",
            icon="pause",
            tooltip="Pause at the next mini-batch; Resume goes on exactly from there",
            layout=fixed,
        )
        self.resume_button = w.Button(
            description="Resume",
            icon="play",
            button_style="info",
            tooltip="Go on from the mini-batch where the run paused",
            disabled=True,
            layout=w.Layout(width="auto", min_width="max-content", flex="0 0 auto", margin="2px 12px 2px 0"),
        )
        # Each button does one idempotent thing: a click is handled twice (at once while
        # the kernel is busy, again when the cell ends), so a toggle would undo itself.
        self.pause_button.on_click(lambda _button: self.pause())
        self.resume_button.on_click(lambda _button: self.resume())
        _cancel_while_busy(self.pause_button, self._pause_requested)
        _cancel_while_busy(self.resume_button, self._resume_requested)
        self.rate = w.FloatText(
            value=3.0,
            step=0.1,
            description="learning rate",
            tooltip="Used from the next mini-batch on (Enter to set)",
            style={"description_width": "initial"},
            layout=w.Layout(width="13em", flex="0 0 auto", margin="2px 12px 2px 0"),
        )
        self.rate_note = w.HTML()
        self._rate_shown: float | None = None
        self.rate.observe(self._rate_changed, names="value")
        _value_while_busy(self.rate, self._rate_requested)
        # a table wider than the notebook scrolls rather than being cut off
        self.table = w.HTML(layout=w.Layout(max_width="100%", overflow="auto hidden"))
        self.curve = w.HTML(layout=w.Layout(max_width="100%", overflow="auto hidden", margin="0 0 0 16px"))
        # the speed of learning per layer: empty unless the run records diagnostics
        self.layers = w.HTML(layout=w.Layout(max_width="100%", overflow="auto hidden", margin="0 0 0 16px"))

        def row(*children: w.Widget) -> w.HBox:
            # a narrow notebook wraps a row rather than cutting its end off
            return w.HBox(list(children), layout=w.Layout(align_items="center", flex_flow="row wrap"))

        self.widget = w.VBox(
            [
                self.header,
                row(self.epoch_label, self.epoch_bar, self.epoch_text),
                row(self.batch_label, self.batch_bar, self.batch_text),
                row(self.stop_button, self.pause_button, self.resume_button, self.rate, self.rate_note),
                row(self.metrics),
                w.HBox([self.table, self.curve, self.layers], layout=w.Layout(flex_flow="row wrap")),
            ]
        )
        self.widget.add_class("nnlab-live")

    def _draw(self, now: float) -> None:
        """Push the state to the widgets (only values that changed are sent)."""
        with self._lock:
            state, timings = self.state, self.timings
            style = state.style
            s_epoch = (state.epoch_bar(now), state.epoch_label())
            s_batch = (state.batch_bar(now), state.batch_label())
            self.header.value = status_html(state, timings=timings)
            for label, bar_widget, text, (bar, name) in (
                (self.epoch_label, self.epoch_bar, self.epoch_text, s_epoch),
                (self.batch_label, self.batch_bar, self.batch_text, s_batch),
            ):
                label.value = _mono(name)
                bar_widget.max = max(1, bar.total)
                bar_widget.value = min(bar.n, bar_widget.max)
                bar_widget.bar_style = style
                text.value = _mono(bar.text(timings=timings))
            if self._rows_drawn != state.version:
                # all three from the same rows (the curve costs ~0.5 ms, frames are throttled)
                self._rows_drawn = state.version
                self.metrics.value = metrics_html(state, timings=timings)
                self.table.value = table_html(state, timings=timings, live=True)
                self.curve.value = svg_curve(state.curves, most=LIVE_POINTS)
                self.layers.value = svg_layers(state.rows, first=state.epochs_before + 1, most=LIVE_POINTS)
            if state.done or state.stop_requested:
                self.stop_button.disabled = True
                self.stop_button.description = "Stopping…" if not state.done else "Stop"
            ended = state.done or state.stop_requested
            paused = state.status == "paused"
            self.pause_button.disabled = ended or paused or state.pause_requested
            self.pause_button.description = "Pausing…" if state.pause_requested and not ended else "Pause"
            self.resume_button.disabled = ended or not paused
            self.rate.disabled = state.done
            rate = state.learning_rate
            if rate is not None and rate != self._rate_shown:  # e.g. the schedule halved it
                self._rate_shown = rate
                self.rate.value = rate
            self.throttle.drawn(now)

    # ------------------------------------------------------------ display
    def show(self) -> None:
        """Display the view in the current cell (once per cell; outside a Jupyter kernel
        this does nothing). Every copy is replaced by the record when the run ends."""
        from IPython import get_ipython

        with self._lock:
            if not in_kernel():
                return
            cell = getattr(get_ipython(), "execution_count", None)
            if cell in self._shown_in:
                return
            self._shown_in.add(cell)
            self._shown = True
            if self._finished.is_set():
                show_in_cell(self.record(), raw=True)
                return
            bundle = {
                _WIDGET_MIME: {"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id},
                "text/plain": PLACEHOLDER,
            }
            show_in_cell(bundle, raw=True, display_id=self.display_id)

    def _ipython_display_(self) -> None:
        self.show()

    def record(self, now: float | None = None) -> dict[str, str]:
        """The static record of the view as it is now: ``text/html`` and ``text/plain``.

        Once the run has ended with finished epochs and an evaluation split, the record
        also shows what the network learned: its confusion matrix on that split (the
        mistakes and first-layer weights are a call away: :mod:`nnlab.plots`).
        """
        with self._lock:
            bundle = record_bundle(self.state, _clock() if now is None else now, timings=self.timings)
        learned = self._learned()
        if learned is not None:
            bundle = {
                "text/html": bundle["text/html"] + f'<div class="nnlab-learned">{learned.html}</div>',
                "text/plain": bundle["text/plain"] + "\n\n" + learned.text,
            }
        return bundle

    def _learned(self) -> Picture | None:
        """The confusion matrix of a finished run on its evaluation split, drawn once."""
        job = self.job
        if job is None or not job.done or not job.history or job.params.evaluate_on is None:
            return None
        if self._learned_picture is None:
            try:
                self._learned_picture = confusion(job, split=job.params.evaluate_on)
            except Exception:  # a record without it beats no record
                return None
        return self._learned_picture

    def _write_record(self, now: float) -> None:
        if not self._shown:
            return
        bundle = self.record(now)
        if self.timings:
            update_display(bundle, raw=True, display_id=self.display_id)
        else:
            update_display({"text/plain": PLACEHOLDER}, raw=True, display_id=self.display_id)
            show_in_cell(bundle, raw=True)

    # ------------------------------------------------------------ control
    def _stop_requested(self) -> None:
        """A Stop click arrived: cancel now, and let the next frame say so."""
        self.state.stop_requested = True
        if self.job is not None:
            self.job.cancel()

    def stop(self) -> None:
        """Cancel the run at its next mini-batch (the Stop button); the history is kept."""
        if self._finished.is_set():
            return
        self._stop_requested()
        self._draw(_clock())

    def _pause_requested(self) -> None:
        job = self.job
        if job is not None and not job.done and self.state.status != "paused":
            with contextlib.suppress(JobStateError):  # it ended meanwhile
                job.pause()
                self.state.pause_requested = True

    def _resume_requested(self) -> None:
        job = self.job
        if job is not None and not job.done:
            with contextlib.suppress(JobStateError):
                job.resume()
                self.state.pause_requested = False

    def pause(self) -> None:
        """Pause the run at its next mini-batch (the Pause button)."""
        if not self._finished.is_set():
            self._pause_requested()
            self._draw(_clock())

    def resume(self) -> None:
        """Let the paused run go on (the Resume button)."""
        if not self._finished.is_set():
            self._resume_requested()
            self._draw(_clock())

    def _rate_requested(self, value: Any) -> None:
        """A learning rate typed in the box: the run uses it from its next mini-batch on."""
        job = self.job
        if job is None or job.done or value == self._rate_shown:
            return
        try:
            job.set_learning_rate(value)
        except ParameterError as exc:
            self.rate_note.value = _mono(f"⚠ {exc}")
            return
        except JobStateError:
            return
        self._rate_shown = value
        self.rate_note.value = ""
        self.state.learning_rate = value

    def _rate_changed(self, change: dict[str, Any]) -> None:
        if change["new"] == self._rate_shown:  # set by the view itself
            return
        self._rate_requested(change["new"])
        if self._rate_shown is not None and self.rate.value != self._rate_shown:
            self.rate.value = self._rate_shown  # refused: show the rate in force again

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the view has drawn its final state; ``False`` on timeout."""
        return self._finished.wait(timeout)

    @property
    def done(self) -> bool:
        """Whether the run ended and the final state is drawn."""
        return self._finished.is_set()

    def __repr__(self) -> str:
        return f"<LiveView · {self.state.summary()}>"

    # ------------------------------------------------------------ observer hooks
    def _adopt(self, job: TrainingJob) -> bool:
        """Bind to ``job`` if the view has no run yet; ``False`` for any other run."""
        if self.job is job:
            return True
        if self.job is not None:
            return False
        self.job = job
        self.state = LiveState.for_job(job)
        self._rows_drawn = -1
        return True

    def on_run_start(self, job: TrainingJob) -> None:
        if self._adopt(job) and not self.state.rows:
            now = _clock()
            self.state.run_started(now=now)
            self._draw(now)

    def on_epoch_start(self, job: TrainingJob, epoch: int) -> None:
        if job is self.job:
            now = _clock()
            self.state.saved = job.saved
            self.state.epoch_started(epoch, now=now)
            due, self._epoch_end_due = self._epoch_end_due, False
            if due or self.throttle.due(now):
                self._draw(now)

    def on_batch_end(self, job: TrainingJob, epoch: int, batch: int, n_batches: int) -> None:
        if job is self.job:
            now = _clock()
            self.state.batch(batch, n_batches, now=now)
            if self.throttle.due(now):
                self._draw(now)

    def on_epoch_end(self, job: TrainingJob, record: EpochRecord) -> None:
        if job is self.job:
            now = _clock()
            self.state.epoch_ended(record, now=now)
            # drawn when the next epoch starts, a moment later (or by the final frame), so
            # no frame says "running epoch 3" beside a bar with 3 epochs done
            self._epoch_end_due = self._epoch_end_due or self.throttle.epoch_due(now)

    def on_pause(self, job: TrainingJob) -> None:
        if job is self.job:
            now = _clock()
            self.state.batch(job.batches_done, job.n_batches, now=now)
            self.state.learning_rate = job.learning_rate
            self.state.paused(now=now)
            self._draw(now)

    def on_resume(self, job: TrainingJob) -> None:
        if job is self.job:
            now = _clock()
            self.state.learning_rate = job.learning_rate
            self.state.resumed(now=now)
            self._draw(now)

    def on_run_end(self, job: TrainingJob) -> None:
        if job is self.job:
            now = _clock()
            if job.current_epoch > len(self.state.rows):  # stopped within an epoch: how far it got
                self.state.batch(job.batches_done, job.n_batches, now=now)
            self.state.saved = job.saved
            self.state.run_ended(
                job.status, now=now, stop_reason=job.stop_reason, error=job.error, hints=job.hints
            )
            self._finish(now)

    def _finish(self, now: float) -> None:
        with self._lock:
            if self._finished.is_set():
                return
            self._draw(now)
            self._finished.set()
            self._write_record(now)

    # ------------------------------------------------------------ watching
    def _follow(self) -> None:
        """Follow ``self.job`` by reading it (for runs the view does not observe)."""
        job = self.job
        assert job is not None
        if job.done:
            now = _clock()
            self.state.sync(job, now=now)
            self._finish(now)
            return
        self._poller = threading.Thread(target=self._poll, name=f"nnlab-watch-{job.job_id[:8]}", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        job = self.job
        assert job is not None
        tick = max(self.interval, 0.02)
        while True:
            ended = job.wait(tick)
            now = _clock()
            with self._lock:
                self.state.sync(job, now=now)
            if ended or self.state.done:
                self._finish(now)
                return
            self._draw(now)


def watch(
    job: TrainingJob | str,
    *,
    display: bool = True,
    interval: float | None = None,
    stable: bool | None = None,
) -> LiveView:
    """Show the live view of a run that is already going (or queued, or finished).

    ``job`` is a :class:`~nnlab.training.TrainingJob` or its ``job_id`` (as the REST API
    returns it). A thread of the view reads the job every ``interval`` seconds and
    assigns the widgets; the Stop button cancels the run. A finished run shows its
    record at once.

    >>> import nnlab
    >>> job = nnlab.train(nnlab.Network([64, 10, 10], seed=0), epochs=1, seed=0, progress=False)
    >>> view = watch(job.job_id, display=False, stable=True)
    >>> view.wait(5), view.state.status_text(timings=False)
    (True, 'Completed · 1/1 epochs · best validation accuracy 73.00% at epoch 1')
    """
    if isinstance(job, str):
        from nnlab.registry import registry

        try:
            found = registry.job(job)
        except KeyError:
            raise ValueError(f"no training job with id {job!r}: pass a TrainingJob or a job_id") from None
        job = cast("TrainingJob", found)
    if not isinstance(job, TrainingJob):
        raise TypeError(
            f"watch() takes a training run -- the TrainingJob that nnlab.train() returns, or its "
            f"job_id string -- got {type(job).__name__} {job!r}: e.g. nnlab.watch(job) or "
            "nnlab.watch(nnlab.last_job())"
        )
    if display and not in_kernel():
        warn_once(
            "nnlab.watch() shows its view in a Jupyter notebook; here it has nowhere to show. "
            "Follow the run with job.wait() and job.history instead."
        )
    existing = _view_of(job)
    if existing is not None:  # one run, one view (and one record)
        if display:
            existing.show()
        return existing
    view = LiveView(job, display=display, interval=interval, stable=stable)
    for gone in [job_id for job_id, views in _watching.items() if not views]:
        del _watching[gone]
    _watching.setdefault(job.job_id, weakref.WeakSet()).add(view)
    view._follow()
    return view


def _view_of(job: TrainingJob) -> LiveView | None:
    """The live view already following ``job``: one among its observers (the view
    ``progress="auto"`` made, known before the run has started; ``TrainingJob`` keeps
    them in ``job.observers``), or one :func:`watch` made before."""
    for candidate in (*job.observers, *_watching.get(job.job_id, ())):
        if isinstance(candidate, LiveView) and candidate.job in (None, job):
            return candidate
    return None


def _cancel_while_busy(button: w.Button, on_click: Any) -> None:
    """Let a Stop click reach ``on_click`` while the kernel is busy running a cell.

    The click is seen as soon as the kernel's shell thread reads it (see
    :mod:`nnlab.live._ipykernel_hook`), so a click during ``train()`` in a cell cancels
    the run at once (``job.cancel()`` only sets an event). The click is handled again,
    normally, once the cell ends; by then the run is over and that does nothing.
    """

    def early(data: Any) -> None:
        if isinstance(data, dict) and data.get("method") == "custom":
            content = data.get("content")
            if isinstance(content, dict) and content.get("event") == "click":
                on_click()

    on_message_early(getattr(button, "comm", None), early)


def _value_while_busy(widget: w.ValueWidget, on_value: Any) -> None:
    """Let a new value typed in ``widget`` reach ``on_value`` while the kernel is busy
    running a cell, as :func:`_cancel_while_busy` does for clicks (the value arrives
    again, normally, once the cell ends; ``on_value`` must not mind)."""

    def early(data: Any) -> None:
        if isinstance(data, dict) and data.get("method") == "update":
            state = data.get("state")
            if isinstance(state, dict) and "value" in state:
                on_value(state["value"])

    on_message_early(getattr(widget, "comm", None), early)
