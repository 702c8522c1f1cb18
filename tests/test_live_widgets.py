"""The widget view outside a kernel (widgets exist and update; nothing is sent), and
which view ``progress=`` picks."""

from __future__ import annotations

import re
import sys
import time
import warnings
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from recording import make_job

import nnlab
from nnlab import _kernel as mode
from nnlab import progress
from nnlab.live.widgets import LiveView, _cancel_while_busy, watch
from nnlab.observers import Observer, TextProgress
from nnlab.progress import make_progress


@pytest.fixture(scope="module")
def long_epochs() -> nnlab.Dataset:
    """1,600 mini-batches of 10 per epoch: long enough to stop inside one."""
    rng = np.random.default_rng(0)
    return nnlab.datasets.from_arrays(rng.random((20_000, 64)), rng.integers(0, 10, 20_000), name="long")


class ClickAt(Observer):
    """Clicks the view's Stop button in the middle of ``epoch``."""

    def __init__(self, view: LiveView, epoch: int) -> None:
        self.view, self.epoch = view, epoch

    def on_batch_end(self, job: Any, epoch: int, batch: int, n_batches: int) -> None:
        if epoch == self.epoch and batch < n_batches:
            self.view.stop_button.click()


def test_view_follows_a_run_and_ends_in_success() -> None:
    view = LiveView(display=False, stable=True)
    assert view.header.value.count("Waiting") == 1
    job = nnlab.train(nnlab.Network([64, 12, 10], seed=0), epochs=4, seed=0, observers=[view], progress=False)
    assert view.done
    assert (view.epoch_bar.value, view.epoch_bar.max, view.epoch_bar.bar_style) == (4, 4, "success")
    assert (view.batch_bar.value, view.batch_bar.max, view.batch_bar.bar_style) == (130, 130, "success")
    assert "Completed · 4/4 epochs" in view.header.value
    assert view.table.value.count("<tr>") == 1 + 4
    assert "<polyline" in view.curve.value
    assert view.stop_button.disabled
    assert repr(view) == f"<LiveView · epoch 4/4 · accuracy {100 * job.latest.accuracy:.2f}% · completed>"
    assert view.record()["text/plain"].startswith("Training [64, 12, 10] on digits · Completed")


def test_a_second_run_does_not_take_over_a_view() -> None:
    view = LiveView(display=False)
    net = nnlab.Network([64, 12, 10], seed=0)
    first = nnlab.train(net, epochs=1, seed=0, observers=[view], progress=False)
    nnlab.train(net, epochs=3, seed=0, observers=[view], progress=False)
    assert view.job is first
    assert view.epoch_bar.max == 1


def test_redraws_are_throttled_by_time_but_every_epoch_gets_drawn_with_no_throttle() -> None:
    net = nnlab.Network([64, 12, 10], seed=0)
    throttled = LiveView(display=False, interval=0.1)
    start = time.perf_counter()
    nnlab.train(net, epochs=150, seed=0, observers=[throttled], progress=False)
    elapsed = time.perf_counter() - start
    # first and final frames, and at most one frame per interval for batches and for epochs
    assert throttled.throttle.frames <= 2 * elapsed / 0.1 + 4
    assert throttled.throttle.frames < 150
    every = LiveView(display=False, interval=0)
    nnlab.train(net, epochs=5, seed=0, observers=[every], progress=False)
    assert every.throttle.frames >= 1 + 5 + 1


def test_stop_button_cancels_at_the_next_mini_batch(long_epochs: nnlab.Dataset) -> None:
    view = LiveView(display=False, stable=True)
    job = make_job(
        nnlab.Network([64, 12, 10], seed=0),
        long_epochs,
        epochs=20,
        seed=0,
        observers=[view, ClickAt(view, 2)],
    ).run()
    assert (job.status, job.stop_reason, len(job.history)) == ("cancelled", "cancelled", 1)
    assert 0 < job.batches_done < job.n_batches
    assert view.state.status_text(timings=False) == "Cancelled at epoch 2/20 · 1 finished epoch kept"
    assert (view.epoch_bar.value, view.epoch_bar.bar_style) == (1, "warning")
    assert view.batch_bar.value == job.batches_done
    assert view.stop_button.disabled


def test_failed_run_shows_its_error_in_danger_style() -> None:
    view = LiveView(display=False)
    job = nnlab.train(
        nnlab.Network([64, 12, 10], seed=0),
        epochs=3,
        seed=0,
        learning_rate=1e300,
        observers=[view],
        progress=False,
    )
    assert job.status == "failed"
    assert view.epoch_bar.bar_style == "danger"
    assert "Failed at epoch 1/3: training diverged in epoch 1" in view.header.value
    assert "Try a smaller learning_rate" in view.record()["text/plain"]


def test_watch_follows_a_background_run_and_its_stop_cancels_it(long_epochs: nnlab.Dataset) -> None:
    job = nnlab.train(
        nnlab.Network([64, 12, 10], seed=0), long_epochs, epochs=50, seed=0, background=True, progress=False
    )
    view = watch(job, display=False, interval=0.02, stable=True)
    while len(view.state.rows) < 1:
        time.sleep(0.01)
    view.stop()
    assert view.wait(30)
    assert job.status == "cancelled"
    assert [r.epoch for r in view.state.rows] == [r.epoch for r in job.history]
    assert view.epoch_bar.bar_style == "warning"
    assert re.match(r"Cancelled (at|after) epoch", view.state.status_text(timings=False))
    with pytest.raises(ValueError, match="no training job with id 'nope'"):
        watch("nope", display=False)


def test_press_during_a_busy_cell_reaches_the_view_before_the_kernel_routes_it() -> None:
    routed: list[Any] = []
    comm = SimpleNamespace(_reply_subshell_for=lambda data, default: routed.append(data) or default)
    clicks: list[int] = []
    _cancel_while_busy(SimpleNamespace(comm=comm), lambda: clicks.append(1))
    click = {"method": "custom", "content": {"event": "click"}}
    assert comm._reply_subshell_for(click, "main") == "main"
    assert comm._reply_subshell_for({"method": "update", "state": {}}, "main") == "main"
    assert comm._reply_subshell_for(None, "main") == "main"
    assert clicks == [1]
    assert routed == [click, {"method": "update", "state": {}}, None]  # the kernel's routing is kept


def test_progress_auto_outside_a_kernel_prints_lines_on_stderr() -> None:
    observer = make_progress("auto")
    assert isinstance(observer, TextProgress)
    assert observer.stream is sys.stderr


def test_progress_widgets_outside_a_kernel_warns_once_and_prints_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mode, "_warned", set())
    with pytest.warns(mode.ProgressWarning, match="needs a Jupyter front end"):
        observer = make_progress("widgets")
    assert isinstance(observer, TextProgress)
    assert observer.stream is None  # stdout, as "text"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_progress("widgets")  # no second warning


def test_progress_widgets_without_ipywidgets_falls_back_to_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mode, "_warned", set())
    monkeypatch.setattr(progress, "in_kernel", lambda: True)
    monkeypatch.setitem(sys.modules, "nnlab.live.widgets", None)  # import fails as if not installed
    with pytest.warns(mode.ProgressWarning, match="pip install ipywidgets"):
        assert isinstance(make_progress("widgets"), TextProgress)


def test_progress_rejects_unknown_values() -> None:
    with pytest.raises(ValueError, match="progress must be 'auto', 'widgets', 'text' or False, got 'bars'"):
        make_progress("bars")


def test_watch_outside_a_notebook_warns_and_shows_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mode, "_warned", set())
    job = nnlab.train(nnlab.Network([64, 12, 10], seed=0), epochs=1, seed=0, progress=False)
    with pytest.warns(mode.ProgressWarning, match=r"nnlab.watch\(\) shows its view in a Jupyter notebook"):
        view = watch(job, stable=True)
    assert view.done
    assert not view._shown  # nothing was printed in place of a display


class CheckFrames(Observer):
    """After the view's own hooks: the table and the curve end at the same epoch, the
    epoch bar counts the table's rows, and the status line runs the next epoch."""

    def __init__(self, view: LiveView) -> None:
        self.view = view
        self.seen: list[tuple[int | None, int | None]] = []
        self.problems: list[Any] = []

    def _check(self) -> None:
        view = self.view
        table = [int(e) for e in re.findall(r'<tr><td style="[^"]*">(\d+)</td>', view.table.value)]
        curve = re.findall(r'class="tick-epoch"[^>]*>(\d+)<', view.curve.value)
        last_row = table[-1] if table else None
        last_point = int(curve[-1]) if curve else None
        self.seen.append((last_row, last_point))
        done = view.epoch_bar.value
        running = re.search(r"Running · epoch (\d+)/", view.header.value)
        if (
            (last_row or 0) != done
            or f"{done}/{view.epoch_bar.max} [" not in view.epoch_text.value
            or (running and view.state.rows and int(running.group(1)) != done + 1)
        ):
            self.problems.append((view.header.value, view.epoch_text.value, last_row))

    def on_batch_end(self, job: Any, epoch: int, batch: int, n_batches: int) -> None:
        self._check()

    def on_epoch_end(self, job: Any, record: Any) -> None:
        self._check()


@pytest.mark.parametrize("interval", [0.0, 0.02])
def test_curve_and_table_agree_at_every_frame(interval: float) -> None:
    view = LiveView(display=False, interval=interval)
    check = CheckFrames(view)
    net = nnlab.Network([64, 12, 10], seed=0)
    nnlab.train(net, epochs=12, seed=0, observers=[view, check], progress=False)
    assert check.seen
    assert all(row == point for row, point in check.seen), check.seen
    assert check.problems == []  # bar, status line and table tell the same epoch
    check._check()  # the final frame
    assert check.seen[-1] == (12, 12)


def test_watch_on_a_run_that_has_a_view_returns_that_view(long_epochs: nnlab.Dataset) -> None:
    """train(..., background=True) in a notebook makes a view; watch(job) must not add one."""
    own = LiveView(display=False, stable=True)
    job = nnlab.train(
        nnlab.Network([64, 12, 10], seed=0),
        long_epochs,
        epochs=50,
        seed=0,
        background=True,
        observers=[own],
        progress=False,
    )
    try:
        assert watch(job, display=False) is own  # even before the run has told the view it started
        assert watch(job.job_id, display=False) is own
    finally:
        job.cancel()
        assert job.wait(30)
    assert own.wait(30)
    other = nnlab.train(nnlab.Network([64, 12, 10], seed=0), epochs=1, seed=0, progress=False)
    first = watch(other, display=False)
    assert watch(other, display=False) is first  # a watched run keeps its one view too
    assert first is not own


class CtrlC(Observer):
    def on_epoch_end(self, job: Any, record: Any) -> None:
        if record.epoch == 2:
            raise KeyboardInterrupt


def test_ctrl_c_record_says_how_to_get_the_run_back() -> None:
    """After Ctrl-C, ``job = nnlab.train(...)`` never assigned: the record names the way back."""
    view = LiveView(display=False, stable=True)
    net = nnlab.Network([64, 12, 10], seed=0)
    with pytest.raises(KeyboardInterrupt):
        nnlab.train(net, epochs=10, seed=0, observers=[view, CtrlC()], progress=False)
    text = view.record()["text/plain"]
    # raised as epoch 2 ended: between two epochs
    assert (
        "Interrupted (Ctrl-C) after epoch 2/10 · 2 finished epochs kept · the run is nnlab.last_job()" in text
    )
    assert "nnlab.last_job()" in view.record()["text/html"]


def test_stop_button_fits_its_label_and_looks_like_an_action() -> None:
    view = LiveView(display=False)
    button = view.stop_button
    assert (button.description, button.icon, button.button_style) == ("Stop", "stop", "warning")
    assert (button.layout.flex, button.layout.min_width) == ("0 0 auto", "max-content")


def test_an_early_stopped_run_ends_with_a_full_bar_that_says_so() -> None:
    view = LiveView(display=False, stable=True)
    job = nnlab.train(
        nnlab.Network([64, 12, 10], seed=0),
        epochs=200,
        seed=0,
        early_stopping=2,
        observers=[view],
        progress=False,
    )
    assert (job.status, job.stop_reason) == ("completed", "early_stopping")
    done = len(job.history)
    assert done < 200
    assert (view.epoch_bar.value, view.epoch_bar.max, view.epoch_bar.bar_style) == (done, done, "success")
    assert f"{done}/{done} [100%]" in view.epoch_text.value
    assert f"Stopped early · {done} of 200 epochs (early stopping" in view.header.value
    html = view.record()["text/html"]
    assert html.count("width:100.0%") == 2  # both bars full
    assert "Completed" not in html


@pytest.mark.parametrize("wrong", [42, None, nnlab.Network([64, 10], seed=0)])
def test_watch_says_what_it_takes(wrong: object) -> None:
    with pytest.raises(TypeError, match=r"watch\(\) takes a training run -- the TrainingJob .* job_id"):
        watch(wrong)  # type: ignore[arg-type]


def test_the_record_of_a_finished_run_shows_what_the_network_learned() -> None:
    view = LiveView(display=False, stable=True)
    job = nnlab.train(nnlab.Network([64, 30, 10], seed=0), epochs=3, seed=0, observers=[view], progress=False)
    bundle = view.record()
    correct = job.history[-1].correct
    assert f"confusion on test: {correct}/300 right" in bundle["text/plain"]
    assert 'class="nnlab-learned"' in bundle["text/html"]
    assert bundle["text/html"].count('class="cell"') == 100  # 10 true x 10 predicted
    # a run that evaluates on nothing has nothing to show there
    quiet = LiveView(display=False, stable=True)
    nnlab.train(
        nnlab.Network([64, 30, 10], seed=0),
        epochs=1,
        seed=0,
        evaluate_on=None,
        observers=[quiet],
        progress=False,
    )
    assert "confusion" not in quiet.record()["text/plain"]
