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
  widget output is reduced to its unchanging ``text/plain``.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from nnlab.live._ipykernel_hook import on_message_early
from nnlab.live.mode import in_kernel, warn_once
from nnlab.live.record import LIVE_POINTS, metrics_html, record_bundle, status_html, svg_curve, table_html
from nnlab.live.state import LiveState
from nnlab.live.timing import Throttle, live_interval
from nnlab.observers import Observer, stable_output

if TYPE_CHECKING:
    from nnlab.events import EpochRecord
    from nnlab.training import TrainingJob

__all__ = ["PLACEHOLDER", "LiveView", "watch"]

#: ``text/plain`` of the widget output: what a renderer without widgets shows meanwhile.
PLACEHOLDER = "nnlab training view (live with ipywidgets; a static record is written when the run ends)"
_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: Seconds between two redraws of the curve (it also redraws with the final frame).
CURVE_INTERVAL = 0.5
_MONO = "font-family:var(--jp-code-font-family,monospace);font-size:12px;white-space:pre"


def _clock() -> float:
    return time.perf_counter()


def _mono(text: str) -> str:
    return f'<span style="{_MONO}">{text}</span>'


class LiveView(Observer):
    """Bars, metrics, table, curve and a Stop button for one training run.

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
    <LiveView · epoch 2/2 · accuracy 0.8200 · completed>
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
        self._shown = False
        self._lock = threading.RLock()
        self._finished = threading.Event()
        self._rows_drawn = -1
        self._curve_drawn = (-1, -math.inf)  # (state version, when)
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
            return w.IntProgress(
                min=0, max=1, value=0, layout=w.Layout(flex="0 1 22em", min_width="6em", margin="0 8px")
            )

        def label() -> w.HTML:
            return w.HTML(layout=w.Layout(width="9em", min_width="9em"))

        self.header = w.HTML()
        self.epoch_label, self.epoch_bar, self.epoch_text = label(), bar(), w.HTML()
        self.batch_label, self.batch_bar, self.batch_text = label(), bar(), w.HTML()
        self.metrics = w.HTML()
        self.stop_button = w.Button(
            description="Stop",
            icon="stop",
            tooltip="Cancel the run at the next mini-batch; the network and the history so far are kept",
            layout=w.Layout(width="auto", margin="2px 12px 2px 0"),
        )
        self.stop_button.on_click(lambda _button: self.stop())
        _cancel_while_busy(self.stop_button, self._stop_requested)
        self.table = w.HTML(layout=w.Layout(margin="0 16px 0 0"))
        self.curve = w.HTML()

        def row(*children: w.Widget) -> w.HBox:
            return w.HBox(list(children), layout=w.Layout(align_items="center"))

        self.widget = w.VBox(
            [
                self.header,
                row(self.epoch_label, self.epoch_bar, self.epoch_text),
                row(self.batch_label, self.batch_bar, self.batch_text),
                row(self.stop_button, self.metrics),
                w.HBox([self.table, self.curve], layout=w.Layout(flex_flow="row wrap")),
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
                self._rows_drawn = state.version
                self.metrics.value = metrics_html(state, timings=timings)
                self.table.value = table_html(state, timings=timings, live=True)
            # the curve is the costliest part of a frame: at most every CURVE_INTERVAL
            # seconds (an epoch that slow is drawn at once), and always the final one
            curve_due = state.done or now - self._curve_drawn[1] >= CURVE_INTERVAL
            if self._curve_drawn[0] != state.version and curve_due:
                self._curve_drawn = (state.version, now)
                self.curve.value = svg_curve(state.curves, most=LIVE_POINTS)
            if state.done or state.stop_requested:
                self.stop_button.disabled = True
                self.stop_button.description = "Stopping…" if not state.done else "Stop"
            self.throttle.drawn(now)

    # ------------------------------------------------------------ display
    def show(self) -> None:
        """Display the view in the current cell (once; later calls, and calls outside a
        Jupyter kernel, do nothing)."""
        from IPython.display import display

        with self._lock:
            if self._shown or not in_kernel():
                return
            self._shown = True
            if self._finished.is_set():
                display(self.record(), raw=True)
                return
            bundle = {
                _WIDGET_MIME: {"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id},
                "text/plain": PLACEHOLDER,
            }
            display(bundle, raw=True, display_id=self.display_id)

    def _ipython_display_(self) -> None:
        self.show()

    def record(self, now: float | None = None) -> dict[str, str]:
        """The static record of the view as it is now: ``text/html`` and ``text/plain``."""
        with self._lock:
            return record_bundle(self.state, _clock() if now is None else now, timings=self.timings)

    def _write_record(self, now: float) -> None:
        if not self._shown:
            return
        from IPython.display import display, update_display

        bundle = self.record(now)
        if self.timings:
            update_display(bundle, raw=True, display_id=self.display_id)
        else:
            update_display({"text/plain": PLACEHOLDER}, raw=True, display_id=self.display_id)
            display(bundle, raw=True)

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
        self._curve_drawn = (-1, -math.inf)
        return True

    def on_run_start(self, job: TrainingJob) -> None:
        if self._adopt(job) and not self.state.rows:
            now = _clock()
            self.state.run_started(now=now)
            self._draw(now)

    def on_epoch_start(self, job: TrainingJob, epoch: int) -> None:
        if job is self.job:
            now = _clock()
            self.state.epoch_started(epoch, now=now)
            if self.throttle.due(now):
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
            if self.throttle.epoch_due(now):
                self._draw(now)

    def on_run_end(self, job: TrainingJob) -> None:
        if job is self.job:
            now = _clock()
            if job.current_epoch > len(self.state.rows):  # stopped within an epoch: how far it got
                self.state.batch(job.batches_done, job.n_batches, now=now)
            self.state.run_ended(job.status, now=now, stop_reason=job.stop_reason, error=job.error)
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
    (True, 'Completed · 1/1 epochs · best accuracy 0.7100')
    """
    if isinstance(job, str):
        from nnlab.registry import registry

        try:
            job = registry.job(job)
        except KeyError:
            raise ValueError(f"no training job with id {job!r}: pass a TrainingJob or a job_id") from None
    if display and not in_kernel():
        warn_once(
            "nnlab.watch() shows its view in a Jupyter notebook; here it has nowhere to show. "
            "Follow the run with job.wait() and job.history instead."
        )
    view = LiveView(job, display=display, interval=interval, stable=stable)
    view._follow()
    return view


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
