"""One format per quantity, and round axis ticks, in every part of the view and its record."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from nnlab.events import EpochRecord, TrainingUpdate
from nnlab.formats import format_accuracy, format_cost, format_duration, format_rate
from nnlab.live.axes import nice_step, nice_ticks, tick_decimals
from nnlab.live.record import record_bundle, svg_curve
from nnlab.live.state import LiveState
from nnlab.live.timing import Bar


def _record(epoch: int, accuracy: float, cost: float, total: int = 3000) -> EpochRecord:
    correct = round(accuracy * total)
    update = TrainingUpdate.for_epoch("j", "n", epoch, 40, 0.25, correct=correct, total=total)
    return EpochRecord(update, cost, cost * 1.1, cost * 1.2, accuracy - 0.01, 3.0)


def _state(accuracies: list[float], costs: list[float]) -> LiveState:
    state = LiveState(total_epochs=40, n_batches=5000)
    state.run_started(now=0.0)
    for epoch, (acc, cost) in enumerate(zip(accuracies, costs), start=1):
        state.epoch_started(epoch, now=epoch - 1.0)
        state.epoch_ended(_record(epoch, acc, cost), now=float(epoch))
    return state


@pytest.mark.parametrize(
    ("per_second", "unit", "text"),
    [(5901.24, "batch", "5,901 batches/s"), (1.0, "batch", "1 batch/s"), (0.4, "epoch", "2.5s/epoch")],
)
def test_rates_read_as_whole_units_per_second_or_seconds_per_unit(
    per_second: float, unit: str, text: str
) -> None:
    assert format_rate(per_second, unit) == text


def test_each_quantity_has_one_format() -> None:
    assert format_accuracy(0.9633) == "96.33%"
    assert format_cost(0.000446) == "0.0004"
    assert format_duration(0.25) == "250ms"
    bar = Bar("Batches", 2500, 5000, elapsed=0.4236, eta=0.4, rate=5901.2, unit="batch", per="s")
    assert bar.text().endswith(", 5,901 batches/s")


def test_accuracy_reads_as_a_percentage_everywhere_in_view_and_record() -> None:
    state = _state([0.9400, 0.9633, 0.9500], [0.3, 0.2, 0.1])
    state.run_ended("completed", now=3.0)
    texts = [
        state.status_text(),
        state.summary(),
        " ".join(v for _, v in state.metrics()),
        " ".join(" ".join(state.row_cells(r, validation=True)) for r in state.rows),
        *record_bundle(state, 3.0).values(),
    ]
    assert "best validation accuracy 95.33% at epoch 2" in state.status_text()
    assert "accuracy 95.00%" in state.summary()
    for text in texts:
        # no accuracy as a bare fraction (0.9633), no rate with decimals (5901.2 batches/s)
        assert not re.search(r"\b0\.9[3-6]\d\d\b", text), text
        assert not re.search(r"\d\.\d+ batches/s", text), text
    assert "96.33%" in texts[-1]  # the text record's table
    assert state.columns()[-1] == "epoch time"
    assert state.row_cells(state.rows[0])[-1] == "250ms"  # as the metrics' "epoch time"


@pytest.mark.parametrize(
    ("lo", "hi", "bounds"),
    [
        (0.684, 0.984, (0.0, 1.0)),
        (0.000446, 0.31, (0.0, None)),
        (0.9633, 0.9667, (0.0, 1.0)),
        (0.11, 0.98, (0.0, 1.0)),
        (2.3, 2.3, (0.0, None)),
        (0.00012, 0.00091, (0.0, None)),
        (17.0, 4321.0, (0.0, None)),
    ],
)
def test_ticks_are_round_and_cover_the_values(
    lo: float, hi: float, bounds: tuple[float, float | None]
) -> None:
    lower, upper = bounds
    ticks = nice_ticks(lo, hi, most=4, lower=lower, upper=upper)
    assert 3 <= len(ticks) <= 6
    assert ticks[0] <= lo
    assert ticks[-1] >= hi
    assert ticks[0] >= lower
    assert upper is None or ticks[-1] <= upper
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert min(abs(mantissa - m) for m in (1, 2, 2.5, 5)) < 1e-6
    for tick in ticks:
        assert abs(tick / step - round(tick / step)) < 1e-6  # every tick a multiple of the step
        assert len(f"{tick:.{tick_decimals(step)}f}".rstrip("0")) <= 8


def test_nice_step_prefers_the_smallest_round_step() -> None:
    assert nice_step(0.3, 4) == 0.1
    assert nice_step(1.0, 5) == 0.25
    assert nice_step(0.0, 5) == 1.0


def _labels(svg: str, kind: str) -> list[str]:
    return re.findall(rf'class="tick-{kind}"[^>]*>([^<]+)<', svg)


def test_curve_axes_carry_round_ticks() -> None:
    """The issue's own numbers: accuracy 68.4-98.4 % and a cost from 0.000446."""
    accuracies = list(np.linspace(0.684, 0.984, 12))
    costs = list(np.linspace(0.31, 0.000446, 12))
    svg = svg_curve(_state(accuracies, costs).curves)
    assert _labels(svg, "accuracy") == ["60%", "70%", "80%", "90%", "100%"]
    assert _labels(svg, "cost") == ["0.0", "0.1", "0.2", "0.3", "0.4"]
    assert _labels(svg, "epoch") == ["1", "5", "10", "12"]
    close = svg_curve(_state([0.9633, 0.9650, 0.9667], [0.0123, 0.0119, 0.0117]).curves)
    # validation accuracy 1 point lower, evaluation cost 10 % higher: on the same axes
    assert _labels(close, "accuracy") == ["95.0%", "95.5%", "96.0%", "96.5%", "97.0%"]
    assert _labels(close, "cost") == ["0.0115", "0.0120", "0.0125", "0.0130", "0.0135", "0.0140"]
