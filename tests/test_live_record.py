"""The static record a run leaves behind: HTML, SVG and text, the same bytes when stable."""

from __future__ import annotations

import re

import nnlab
from nnlab.events import EpochRecord, TrainingUpdate
from nnlab.live.record import (
    LIVE_ROWS,
    MIN_HIDDEN,
    RECORD_ROWS,
    record_bundle,
    sparkline,
    svg_curve,
    table_html,
    table_text,
)
from nnlab.live.state import LiveState

TIMING = re.compile(r"\d(ms|s)\b|/s\b|/epoch")


def seeded_state(epochs: int = 3) -> LiveState:
    """The state a real seeded run leaves (rows from a real job's history)."""
    job = nnlab.train(nnlab.Network([64, 12, 10], seed=0), epochs=epochs, seed=0, progress=False)
    state = LiveState.for_job(job)
    state.sync(job, now=0.0)
    return state


def synthetic(n: int) -> LiveState:
    state = LiveState(total_epochs=n, n_batches=10, title="Training <b>")
    state.run_started(now=0.0)
    for epoch in range(1, n + 1):
        update = TrainingUpdate.for_epoch("j", "n", epoch, n, 0.5, correct=50 + epoch % 40, total=100)
        state.epoch_ended(EpochRecord(update, 1.0 / epoch, 2.0 / epoch, None, None, 3.0), now=epoch / 2)
    state.run_ended("completed", now=n / 2)
    return state


def test_stable_record_has_no_timings_and_is_the_same_every_run() -> None:
    first = record_bundle(seeded_state(), now=123.0, timings=False)
    second = record_bundle(seeded_state(), now=456.0, timings=False)
    assert first == second
    text = first["text/plain"]
    assert not TIMING.search(text), text
    lines = text.splitlines()
    assert lines[
        0
    ] == "Training [64, 12, 10] on digits · Completed · 3/3 epochs · best validation accuracy " + " ".join(
        lines[0].rsplit(" ", 4)[1:]
    )
    assert lines[1] == "Epochs        [####################] 3/3 [100%]"
    assert lines[2] == "Batches       [####################] 130/130 [100%]"
    header = "epoch  training cost  evaluation cost  accuracy  correct/total  validation accuracy"
    assert lines[5] == header
    assert [line.split()[0] for line in lines[6:9]] == ["1", "2", "3"]
    assert re.search(r"^accuracy +[▁-█]{3}  \d+\.\d\d% → \d+\.\d\d%$", text, re.M)


def test_html_record_holds_bars_table_and_curve_and_escapes_text() -> None:
    state = synthetic(5)
    state.run_ended("failed", now=3.0, error="ValueError: <script>alert(1)</script>")
    html = record_bundle(state, now=3.0)["text/html"]
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "Training &lt;b&gt;" in html
    assert "#f44336" in html  # the danger colour
    assert html.count("width:100.0%") == 2  # both bars full
    assert html.count("<tr>") == 1 + 5
    assert html.count("<svg") == 1


def test_long_runs_keep_the_first_and_last_epochs() -> None:
    state = synthetic(100)
    text = table_text(state)
    head = RECORD_ROWS // 4
    hidden = 100 - RECORD_ROWS + 1
    assert f"… epochs {head + 1}–{head + hidden} ({hidden} rows) not shown …" in text
    shown = [int(line.split()[0]) for line in text.splitlines()[1:] if line.strip()[0].isdigit()]
    assert len(shown) == RECORD_ROWS - 1
    assert shown[0] == 1
    assert shown[-1] == 100
    live = table_html(state, live=True)
    assert live.count("<tr>") == 1 + LIVE_ROWS  # header, a "not shown" row and the latest ones
    assert ">100<" in live
    assert ">1<" not in live


def test_curve_draws_each_measured_series() -> None:
    one = svg_curve(synthetic(1).curves)
    assert one.count("<circle") == 3  # accuracy, training and evaluation cost: one point each
    many = svg_curve(synthetic(500).curves)
    assert many.count("<polyline") == 3  # no validation series measured
    points = re.findall(r'points="([^"]+)"', many)[0].split()
    assert len(points) == 2 * 300  # thinned ("x y" pairs), the last epoch kept
    assert points[-2] == "3680"  # x of the last epoch, in tenths of a pixel: the right edge
    assert "validation accuracy" not in many


def test_sparkline_scales_between_extremes() -> None:
    assert sparkline([3.0, 2.0, 1.0]) == "█▅▁"
    assert sparkline([None, 1.0]) == "▄"
    assert sparkline([]) == ""


def test_a_marker_row_always_stands_for_at_least_three_epochs() -> None:
    """No "… 2 more epochs …" row hiding two rows: those are shown instead."""
    for n in range(1, 3 * RECORD_ROWS):
        state = synthetic(n)
        for live, limit in ((True, LIVE_ROWS), (False, RECORD_ROWS)):
            html = table_html(state, live=live)
            shown = [int(e) for e in re.findall(r'<tr><td style="[^"]*">(\d+)</td>', html)]
            marker = re.search(r"… epochs (\d+)–(\d+) \((\d+) rows\) not shown …", html)
            if marker is None:
                assert shown == list(range(1, n + 1))
                continue
            first, last, count = map(int, marker.groups())
            assert count >= MIN_HIDDEN
            assert sorted([*shown, *range(first, last + 1)]) == list(range(1, n + 1))
            assert last - first + 1 == count
            assert len(shown) + 1 == limit


def test_a_continued_network_counts_its_epochs_on() -> None:
    """Training again continues the network's count in the table, curve and record, while
    the wire's epoch stays 1-based per run."""
    net = nnlab.Network([64, 12, 10], seed=0)
    nnlab.train(net, epochs=3, seed=0, progress=False)
    job = nnlab.train(net, epochs=2, seed=1, progress=False)
    assert job.epochs_before == 3
    assert [r.epoch for r in job.history] == [1, 2]  # the wire
    state = LiveState.for_job(job)
    state.sync(job, now=0.0)
    html = table_html(state)
    assert re.findall(r'<tr><td style="[^"]*">(\d+)</td>', html) == ["4", "5"]
    curve = svg_curve(state.curves)
    assert re.findall(r'class="tick-epoch"[^>]*>(\d+)<', curve) == ["4", "5"]
    bundle = record_bundle(state, now=0.0, timings=False)
    assert "Completed · 2/2 epochs · network epochs 4–5 · best validation accuracy" in bundle["text/plain"]
    assert [line.split()[0] for line in bundle["text/plain"].splitlines()[6:8]] == ["4", "5"]
