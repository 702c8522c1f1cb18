"""The live view's chart of the layers: speed of learning per layer, log scale."""

from __future__ import annotations

import itertools
import re

import pytest

import nnlab
from nnlab.events import Diagnostics, EpochRecord, TrainingUpdate
from nnlab.live.layers import layer_names, layers_text, svg_layers
from nnlab.live.widgets import LiveView


def record(epoch: int, speeds: tuple[float, ...], total: int = 10) -> EpochRecord:
    update = TrainingUpdate.for_epoch("j", "n", epoch, total, 0.1, correct=5, total=10)
    n = len(speeds)
    diagnostics = Diagnostics(speeds, (0.25,) * n, (1.0,) * n, speeds)
    return EpochRecord(update, 0.5, None, None, None, 3.0, diagnostics=diagnostics)


def lines(svg: str) -> list[list[tuple[float, float]]]:
    """The points of each layer's polyline."""
    found = re.findall(r'<polyline class="layer" points="([^"]+)"', svg)
    return [[tuple(map(float, p.split(","))) for p in pts.split()] for pts in found]  # type: ignore[misc]


def tick_y(svg: str, label: str) -> float:
    match = re.search(rf'class="tick-speed" x="[\d.]+" y="([\d.]+)"[^>]*>{label}<', svg)
    assert match, f"no tick {label}"
    return float(match.group(1)) - 3


def test_one_line_per_layer_on_a_log_scale() -> None:
    rows = [record(e, (10.0 ** (-3 + e / 5), 0.1, 1.0)) for e in range(1, 6)]
    svg = svg_layers(rows, first=1)
    drawn = lines(svg)
    assert len(drawn) == 3
    assert all(len(points) == 5 for points in drawn)
    # decades are equally spaced: 1e-1 lies halfway between 1e-2 and 1e0
    top, middle, bottom = tick_y(svg, "1e0"), tick_y(svg, "1e-1"), tick_y(svg, "1e-2")
    assert middle - top == pytest.approx(bottom - middle, abs=0.15)
    assert drawn[1][0][1] == pytest.approx(middle, abs=0.15)  # layer 2 at 0.1 throughout
    assert drawn[2][0][1] == pytest.approx(top, abs=0.15)
    # the first layer's speed grows tenfold every 5 epochs: a straight rising line
    ys = [y for _, y in drawn[0]]
    steps = [a - b for a, b in itertools.pairwise(ys)]
    assert all(s > 0 for s in steps)
    assert max(steps) == pytest.approx(min(steps), abs=0.2)
    for name in layer_names(3):
        assert f"{name} · 25% sat." in svg


def test_nothing_without_diagnostics_and_zero_speeds_are_left_out() -> None:
    plain = EpochRecord(TrainingUpdate.for_epoch("j", "n", 1, 2, 0.1), 0.5, None, None, None, 3.0)
    assert svg_layers([plain], first=1) == ""
    assert layers_text([plain]) == ""
    dead = [record(1, (0.0, 0.2)), record(2, (0.0, 0.3))]
    drawn = lines(svg_layers(dead, first=1))
    assert len(drawn) == 1  # the dead layer has no point on a log scale; the other has its line
    assert "hidden 1" in layers_text(dead)


def test_long_runs_are_thinned_and_numbered_from_the_networks_epoch() -> None:
    rows = [record(e, (0.01, 0.1), total=1000) for e in range(1, 1001)]
    svg = svg_layers(rows, first=41, most=120)
    assert all(len(points) <= 120 for points in lines(svg))
    epochs = [int(t) for t in re.findall(r'class="tick-epoch"[^>]*>(\d+)<', svg)]
    assert epochs[0] == 41
    assert epochs[-1] == 1040


def test_a_run_with_diagnostics_shows_the_chart_live_and_in_its_record() -> None:
    view = LiveView(display=False, stable=True)
    net = nnlab.Network([64, 20, 20, 10], seed=0)
    job = nnlab.train(net, epochs=3, seed=0, diagnostics=True, observers=[view], progress=False)
    assert view.wait(10)
    assert len(lines(view.layers.value)) == 3
    bundle = view.record()
    assert 'class="nnlab-layers"' in bundle["text/html"]
    text = bundle["text/plain"]
    assert "speed of learning per layer (log scale)" in text
    first, last = job.history[0].diagnostics, job.history[-1].diagnostics
    assert first is not None
    assert last is not None
    for k, name in enumerate(["hidden 1", "hidden 2", "output"]):
        line = next(row for row in text.splitlines() if row.strip().startswith(name))
        assert f"{first.learning_speed[k]:.2e} → {last.learning_speed[k]:.2e}" in line
        assert f"{100 * last.saturation[k]:.0f}% saturated" in line


def test_a_run_without_diagnostics_has_no_chart() -> None:
    view = LiveView(display=False, stable=True)
    nnlab.train(nnlab.Network([64, 10, 10], seed=0), epochs=2, seed=0, observers=[view], progress=False)
    assert view.wait(10)
    assert view.layers.value == ""
    bundle = view.record()
    assert "nnlab-layers" not in bundle["text/html"]
    assert "speed of learning" not in bundle["text/plain"]


def test_watch_draws_the_chart_of_a_finished_run() -> None:
    job = nnlab.train(nnlab.Network([64, 12, 10], seed=0), epochs=2, seed=0, diagnostics=True, progress=False)
    view = nnlab.watch(job, display=False, stable=True)
    assert view.wait(10)
    assert len(lines(view.layers.value)) == 2
