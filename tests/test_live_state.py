"""The live view's model without a front end: bars, statuses, rows, throttling, timing knobs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from nnlab.events import EpochRecord, TrainingUpdate
from nnlab.live.state import LiveState
from nnlab.live.timing import Bar, Throttle, format_duration, live_interval


def record(
    epoch: int, total: int = 4, *, correct: int = 80, elapsed: float = 2.0, **costs: float
) -> EpochRecord:
    update = TrainingUpdate.for_epoch("j", "n", epoch, total, elapsed, correct=correct, total=100)
    return EpochRecord(
        update=update,
        training_cost=costs.get("training_cost", 1.0 / epoch),
        evaluation_cost=costs.get("evaluation_cost", 1.5 / epoch),
        validation_cost=costs.get("validation_cost"),
        validation_accuracy=costs.get("validation_accuracy"),
        learning_rate=3.0,
    )


def run_two_epochs() -> LiveState:
    """4 epochs of 10 mini-batches, 2 s each, on a clock the test drives."""
    state = LiveState(total_epochs=4, n_batches=10)
    state.run_started(now=100.0)
    for epoch in (1, 2):
        start = 100.0 + 2 * (epoch - 1)
        state.epoch_started(epoch, now=start)
        state.batch(5, 10, now=start + 1)
        state.batch(10, 10, now=start + 2)
        state.epoch_ended(record(epoch, correct=80 + epoch), now=start + 2)
    state.epoch_started(3, now=104.0)
    state.batch(5, 10, now=105.0)
    return state


def test_bars_count_from_one_with_rates_and_time_left() -> None:
    state = run_two_epochs()
    now = 105.0
    epoch_bar, batch_bar = state.epoch_bar(now), state.batch_bar(now)
    assert state.epoch_label() == "Epochs"  # the one count is the bar's
    assert (epoch_bar.n, epoch_bar.total, epoch_bar.percent) == (2, 4, 50)  # finished epochs
    assert epoch_bar.elapsed == pytest.approx(5.0)
    assert epoch_bar.rate == pytest.approx(2.0)  # 5 s for 2.5 epochs
    assert epoch_bar.eta == pytest.approx(3.0)  # 1.5 epochs left
    assert epoch_bar.text() == "2/4 [50%] 5.0s<3.0s, 2.0s/epoch"
    assert state.batch_label() == "Batches"
    assert (batch_bar.n, batch_bar.total, batch_bar.percent) == (5, 10, 50)
    assert batch_bar.rate == pytest.approx(5.0)
    assert batch_bar.text() == " 5/10 [50%] 1.0s<1.0s, 5 batches/s"
    assert state.status_text() == "Running · epoch 3/4"
    assert state.style == "info"


def test_rows_and_metrics_follow_finished_epochs() -> None:
    state = run_two_epochs()
    assert [r.epoch for r in state.rows] == [1, 2]
    assert state.version == 2
    assert dict(state.metrics()) == {
        "accuracy": "82/100 (82.00%)",
        "training cost": "0.5000",
        "evaluation cost": "0.7500",
        "epoch time": "2.0s",
    }
    assert "epoch time" not in dict(state.metrics(timings=False))
    assert state.columns(timings=False) == [
        "epoch",
        "training cost",
        "evaluation cost",
        "accuracy",
        "correct/total",
    ]
    assert state.row_cells(state.rows[0]) == ["1", "1.0000", "1.5000", "81.00%", "81/100", "2.0s"]


def test_validation_metrics_appear_when_measured() -> None:
    state = LiveState(total_epochs=1, n_batches=1)
    state.run_started(now=0.0)
    state.epoch_ended(record(1, 1, validation_accuracy=0.75, validation_cost=0.9), now=1.0)
    assert dict(state.metrics())["validation accuracy"] == "75.00%"
    assert dict(state.metrics())["validation cost"] == "0.9000"
    assert "validation accuracy" in state.columns()


@pytest.mark.parametrize(
    ("status", "reason", "error", "text", "style"),
    [
        ("completed", None, None, "Completed · 2/4 epochs in 5.0s · final accuracy 82.00%", "success"),
        (
            "completed",
            "early_stopping",
            None,
            "Stopped early · 2 of 4 epochs (early stopping: validation accuracy stopped improving) in 5.0s",
            "success",
        ),
        ("cancelled", "cancelled", None, "Cancelled at epoch 3/4 · 2 finished epochs kept", "warning"),
        (
            "cancelled",
            "interrupted",
            None,
            "Interrupted (Ctrl-C) at epoch 3/4 · 2 finished epochs kept · the run is nnlab.last_job()",
            "warning",
        ),
        (
            "failed",
            "diverged",
            "training diverged",
            "Failed at epoch 3/4: training diverged · 2 finished",
            "danger",
        ),
    ],
)
def test_final_statuses_tell_the_story(status: str, reason: str, error: str, text: str, style: str) -> None:
    state = run_two_epochs()
    state.run_ended(status, now=105.0, stop_reason=reason, error=error)
    assert state.status_text().startswith(text)
    assert "5.0s" not in state.status_text(timings=False)
    assert state.style == style
    assert state.done
    # a finished run's bars stop their clock and show no time left
    later = state.epoch_bar(1000.0)
    assert later.elapsed == pytest.approx(5.0)
    assert "<" not in later.text()


def test_stop_request_shows_while_the_run_winds_down() -> None:
    state = run_two_epochs()
    state.stop_requested = True
    assert state.status_text() == "Running · epoch 3/4 · stopping at the next mini-batch"


def test_queued_state_before_the_run() -> None:
    state = LiveState(total_epochs=10, n_batches=130)
    assert state.status_text() == "Waiting to start · 10 epochs"
    assert state.epoch_bar(0.0).text() == " 0/10 [0%] ?<?"
    assert state.style == ""


def test_sync_catches_up_with_a_job_read_from_another_thread() -> None:
    job = SimpleNamespace(
        status="queued",
        history=[],
        current_epoch=0,
        batches_done=0,
        n_batches=10,
        done=False,
        elapsed_time=None,
        started_at=None,
        stop_reason=None,
        error=None,
        hints=[],
    )
    state = LiveState(total_epochs=4, n_batches=10)
    assert not state.sync(job, now=0.0)
    job.status, job.current_epoch, job.batches_done = "running", 1, 4
    assert state.sync(job, now=1.0)
    assert (state.epoch, state.batches_done, state.status) == (1, 4, "running")
    job.history = [record(1), record(2)]
    job.current_epoch, job.batches_done = 3, 2
    assert state.sync(job, now=2.0)
    assert [r.epoch for r in state.rows] == [1, 2]
    assert (state.epoch, state.batches_done) == (3, 2)
    job.status, job.done, job.stop_reason, job.elapsed_time = "cancelled", True, "cancelled", 2.5
    assert state.sync(job, now=3.0)
    assert state.status_text(timings=False) == "Cancelled at epoch 3/4 · 2 finished epochs kept"
    assert not state.sync(job, now=4.0)


def test_throttle_draws_at_most_once_per_interval_but_slow_epochs_at_once() -> None:
    throttle = Throttle(0.1)
    assert throttle.due(0.0)
    throttle.drawn(0.0)
    assert not throttle.due(0.05)
    assert throttle.epoch_due(0.05)  # the first epoch, which took longer than the interval
    throttle.drawn(0.05)
    assert not throttle.due(0.14)
    assert throttle.due(0.16)
    assert throttle.epoch_due(0.5)  # a slow epoch's end is drawn at once, even right after
    throttle.drawn(0.5)
    assert throttle.epoch_due(0.61)
    # 1,000 fast epochs (1 ms each) in a second: about 10 frames, not 1,000
    throttle = Throttle(0.1)
    for k in range(1000):
        now = k / 1000
        if throttle.due(now):  # epoch start
            throttle.drawn(now)
        if throttle.epoch_due(now + 0.0009):  # epoch end
            throttle.drawn(now + 0.0009)
    assert 10 <= throttle.frames <= 12


def test_interval_from_argument_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NNLAB_LIVE_INTERVAL", raising=False)
    assert live_interval() == 0.1
    monkeypatch.setenv("NNLAB_LIVE_INTERVAL", "0.5")
    assert live_interval() == 0.5
    assert live_interval(0.0) == 0.0  # the argument wins
    monkeypatch.setenv("NNLAB_LIVE_INTERVAL", "fast")
    with pytest.raises(ValueError, match=r"NNLAB_LIVE_INTERVAL must be a number of seconds >= 0 .*'fast'"):
        live_interval()
    with pytest.raises(ValueError, match="interval must be"):
        live_interval(-1)


def test_durations_and_rates_read_well() -> None:
    assert [format_duration(s) for s in (0.0004, 0.25, 1.0, 59.94, 60, 3599.4, 3600)] == [
        "0ms",
        "250ms",
        "1.0s",
        "59.9s",
        "1:00",
        "59:59",
        "1:00:00",
    ]
    assert format_duration(float("nan")) == "?"
    slow = Bar("Epoch", 1, 3, elapsed=90.0, eta=180.0, rate=90.0, unit="epoch", per="unit")
    assert slow.text() == "1/3 [33%] 1:30<3:00, 1:30/epoch"
    assert slow.text(timings=False) == "1/3 [33%]"


def test_bar_labels_carry_no_count_of_their_own() -> None:
    """The issue: "Epoch 15/40" beside a bar reading "14/40 [35%]". One count per bar."""
    state = run_two_epochs()
    bar = state.epoch_bar(105.0)
    assert not any(ch.isdigit() for ch in state.epoch_label() + state.batch_label())
    assert bar.text(timings=False) == "2/4 [50%]"  # finished epochs, as the bar's fill
    assert state.status_text() == "Running · epoch 3/4"  # the one in progress, said as such


def test_a_run_that_stopped_early_reads_as_such_with_a_full_bar() -> None:
    """Not a green "Completed" bar 6 % full: the run ran the epochs it needed."""
    state = LiveState(total_epochs=50, n_batches=10)
    state.run_started(now=0.0)
    for epoch in (1, 2, 3):
        state.epoch_started(epoch, now=epoch - 1.0)
        state.epoch_ended(record(epoch, 50, validation_accuracy=0.8), now=float(epoch))
    state.run_ended("completed", now=3.0, stop_reason="early_stopping")
    bar = state.epoch_bar(3.0)
    assert (bar.n, bar.total, bar.fraction) == (3, 3, 1.0)
    assert state.status_text(timings=False).startswith("Stopped early · 3 of 50 epochs (early stopping")
    assert "Completed" not in state.status_text()
    assert state.style == "success"
    state.stop_reason = None  # the same run, had it gone the distance
    assert state.status_text(timings=False).startswith("Completed · 3/50 epochs")


def test_epochs_count_on_from_the_network_epochs_before_the_run() -> None:
    state = LiveState(total_epochs=4, n_batches=10, epochs_before=20)
    state.run_started(now=0.0)
    state.epoch_started(1, now=0.0)
    assert state.status_text() == "Running · epoch 1/4 (network epoch 21)"
    state.epoch_ended(record(1), now=1.0)  # the wire's epoch: 1
    assert state.row_cells(state.rows[0], epochs_before=state.epochs_before)[0] == "21"
    assert state.curves.first == 21
    state.epoch_started(2, now=1.0)
    state.epoch_ended(record(2), now=2.0)
    state.run_ended("completed", now=2.0, stop_reason="cancelled")
    assert state.status_text(timings=False).startswith("Completed · 2/4 epochs · network epochs 21–22")
    assert state.epoch_bar(2.0).text(timings=False) == "2/4 [50%]"  # the bar is the run's


def test_a_run_stopped_between_epochs_names_the_last_finished_one() -> None:
    state = run_two_epochs()
    state.epoch = 2  # as if the stop came before epoch 3 began
    state.run_ended("cancelled", now=104.0, stop_reason="cancelled")
    assert state.status_text() == "Cancelled after epoch 2/4 · 2 finished epochs kept"
    state.epochs_before = 10
    assert state.status_text() == "Cancelled after epoch 2/4 (network epoch 12) · 2 finished epochs kept"


def test_between_two_epochs_the_status_names_the_one_starting() -> None:
    """As a watched run is read between epochs: 2 done, epoch 3 not yet begun."""
    state = LiveState(total_epochs=4, n_batches=10)
    state.run_started(now=0.0)
    for epoch in (1, 2):
        state.epoch_started(epoch, now=epoch - 1.0)
        state.epoch_ended(record(epoch), now=float(epoch))
    assert state.epoch_bar(2.0).text(timings=False) == "2/4 [50%]"
    assert state.status_text() == "Running · epoch 3/4"


def test_a_run_the_store_does_not_keep_says_so_whatever_its_status() -> None:
    state = run_two_epochs()
    assert state.status_text(timings=False) == "Running · epoch 3/4"
    state.saved = True
    assert state.status_text(timings=False) == "Running · epoch 3/4"
    state.saved = False
    assert state.status_text(timings=False) == "Running · epoch 3/4 · not saved to the run store"
    state.paused(now=105.5)
    assert state.status_text(timings=False).startswith("Paused · ")
    assert state.status_text(timings=False).endswith(" · not saved to the run store")
    state.run_ended("cancelled", now=106.0, stop_reason="cancelled")
    assert state.status_text(timings=False) == (
        "Cancelled at epoch 3/4 · 2 finished epochs kept · not saved to the run store"
    )


def test_sync_learns_that_the_store_gave_up() -> None:
    state = run_two_epochs()
    job = SimpleNamespace(
        status="running",
        history=[],
        current_epoch=3,
        batches_done=5,
        n_batches=10,
        done=False,
        learning_rate=3.0,
        elapsed_time=None,
        saved=True,
    )
    state.sync(job, now=106.0)
    assert state.saved is True
    job.saved = False
    assert state.sync(job, now=106.1)  # a change worth a redraw
    assert state.status_text(timings=False).endswith("· not saved to the run store")
