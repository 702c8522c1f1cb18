"""Static renderings of a live view: HTML fragments, the SVG curve and plain text.

The widget view shows these fragments while a run goes on; when it ends, the same
functions write the record that stays in the notebook (:func:`record_bundle`): HTML
for every renderer that shows HTML (JupyterLab, Notebook 7, VS Code, nbconvert,
nbviewer, GitHub) and ``text/plain`` for the rest. Only inline styles and inline SVG:
nothing to load, nothing that needs a widget manager.

With ``timings=False`` (see :func:`nnlab.observers.stable_output`) nothing in the
output depends on the clock, so a seeded run renders the same bytes every time.
"""

from __future__ import annotations

import functools
import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from nnlab.formats import format_accuracy, format_cost
from nnlab.live.axes import nice_step, nice_ticks, tick_decimals
from nnlab.live.layers import layers_text, svg_layers
from nnlab.live.state import Curves, LiveState
from nnlab.live.timing import Bar

if TYPE_CHECKING:
    from nnlab.events import EpochRecord

__all__ = [
    "COLORS",
    "bar_html",
    "bar_text",
    "metrics_html",
    "record_bundle",
    "record_html",
    "record_text",
    "sparkline",
    "status_html",
    "svg_curve",
    "table_html",
    "table_text",
]

#: Style -> colour, close to the widget front ends' own bar colours.
COLORS = {
    "": "#9e9e9e",
    "info": "#2196f3",
    "success": "#4caf50",
    "warning": "#ff9800",
    "danger": "#f44336",
}
_ACCURACY, _COST = "#1f77b4", "#ff7f0e"
_FONT = "font-family:var(--jp-code-font-family,monospace);font-size:12px;line-height:1.5"
#: Rows of the table: the live view shows the last ones, the record at most this many.
LIVE_ROWS = 10
RECORD_ROWS = 24
#: A "… epochs a–b …" row stands for at least this many rows (fewer are shown instead).
MIN_HIDDEN = 3
#: Points per line of the live curve (the record's curve keeps up to 300).
LIVE_POINTS = 120
_SPARKS = "▁▂▃▄▅▆▇█"


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


# ---------------------------------------------------------------- pieces
def status_html(state: LiveState, *, timings: bool = True) -> str:
    """The title and the status line, coloured by the status."""
    color = COLORS[state.style]
    status = _esc(state.status_text(timings=timings))
    hints = "".join(f'<div style="{_FONT}">💡 hint: {_esc(hint)}</div>' for hint in state.hints)
    return (
        f'<div style="{_FONT}"><b>{_esc(state.title)}</b> '
        f'<span style="color:{color};font-weight:bold">{status}</span></div>{hints}'
    )


def bar_html(label: str, bar: Bar, style: str, *, timings: bool = True) -> str:
    """One static bar: label, track with its fill, and ``n/total [pct%] ...``."""
    return (
        f'<div style="display:flex;align-items:center;gap:8px;{_FONT}">'
        f'<span style="min-width:5em;white-space:pre">{_esc(label)}</span>'
        '<span style="flex:0 1 22em;min-width:6em;height:0.85em;background:rgba(128,128,128,0.25);'
        'border-radius:2px;overflow:hidden;display:inline-block">'
        f'<span style="display:block;height:100%;width:{100 * bar.fraction:.1f}%;'
        f'background:{COLORS[style]}"></span></span>'
        f'<span style="white-space:pre">{_esc(bar.text(timings=timings))}</span></div>'
    )


def bar_text(label: str, bar: Bar, *, timings: bool = True, width: int = 20) -> str:
    """One text bar: ``Epoch 3/10    [######              ] 2/10 [20%] ...``."""
    filled = math.floor(width * bar.fraction + 1e-9)
    return f"{label:<13} [{'#' * filled}{' ' * (width - filled)}] {bar.text(timings=timings)}"


def metrics_html(state: LiveState, *, timings: bool = True) -> str:
    """The latest epoch's metrics on one line (empty before the first epoch ends)."""
    items = state.metrics(timings=timings)
    if not items:
        return f'<div style="{_FONT};opacity:0.7">metrics appear when the first epoch ends</div>'
    cells = " · ".join(f"{_esc(name)} <b>{_esc(value)}</b>" for name, value in items)
    return f'<div style="{_FONT}">{cells}</div>'


def _shown_rows(
    rows: Sequence[EpochRecord], limit: int, *, tail_only: bool
) -> tuple[list[EpochRecord], list[EpochRecord], list[EpochRecord]]:
    """``(head, hidden, tail)``: the rows shown before and after the left-out ones.

    A row of its own says which epochs are left out, so rows are left out only when
    that hides at least :data:`MIN_HIDDEN` of them.
    """
    if len(rows) < limit - 1 + MIN_HIDDEN:
        return list(rows), [], []
    head = 0 if tail_only else limit // 4
    tail = limit - head - 1
    return list(rows[:head]), list(rows[head:-tail]), list(rows[-tail:])


def _hidden_text(state: LiveState, hidden: Sequence[EpochRecord]) -> str:
    first, last = (state.network_epoch(r.epoch) for r in (hidden[0], hidden[-1]))
    return f"… epochs {first}–{last} ({len(hidden)} rows) not shown …"


_CELL = "padding:1px 4px;text-align:right;border-bottom:1px solid rgba(128,128,128,0.25)"
_TD = f"{_CELL};white-space:nowrap"
#: Headers may wrap between words, so the table fits narrow notebooks.
_TH = f"{_CELL};font-weight:bold;vertical-align:bottom;white-space:normal"


@functools.lru_cache(maxsize=4096)
def _row_html(record: EpochRecord, timings: bool, validation: bool, epochs_before: int) -> str:
    """One ``<tr>``; rows never change, so each is formatted once (cells are numbers)."""
    cells = LiveState.row_cells(record, timings=timings, validation=validation, epochs_before=epochs_before)
    return "<tr>" + "".join(f'<td style="{_TD}">{c}</td>' for c in cells) + "</tr>"


def table_html(state: LiveState, *, timings: bool = True, live: bool = False) -> str:
    """The table of finished epochs (the live view shows the last :data:`LIVE_ROWS`)."""
    if not state.rows:
        return ""
    columns = state.columns(timings=timings)
    validation = "validation accuracy" in columns
    limit = LIVE_ROWS if live else RECORD_ROWS
    # "correct/total" may break after its slash too
    head = "".join(f'<th style="{_TH}">{_esc(c).replace("/", "/<wbr>")}</th>' for c in columns)
    first, hidden, last = _shown_rows(state.rows, limit, tail_only=live)
    before = state.epochs_before
    body = [_row_html(r, timings, validation, before) for r in first]
    if hidden:
        body.append(
            f'<tr><td colspan="{len(columns)}" style="{_CELL};text-align:center;opacity:0.7">'
            f"{_esc(_hidden_text(state, hidden))}</td></tr>"
        )
    body += [_row_html(r, timings, validation, before) for r in last]
    # too narrow even with wrapped headers: the table scrolls instead of being cut off
    return (
        '<div class="nnlab-table" style="max-width:100%;overflow-x:auto">'
        f'<table style="border-collapse:collapse;margin:4px 0;{_FONT}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def table_text(state: LiveState, *, timings: bool = True) -> str:
    """The table as aligned plain text (the record's ``text/plain``)."""
    if not state.rows:
        return ""
    columns = state.columns(timings=timings)
    validation = "validation accuracy" in columns
    first, hidden, last = _shown_rows(state.rows, RECORD_ROWS, tail_only=False)

    def cells(rows: Sequence[EpochRecord]) -> list[list[str]]:
        return [
            state.row_cells(r, timings=timings, validation=validation, epochs_before=state.epochs_before)
            for r in rows
        ]

    head, tail = cells(first), cells(last)
    widths = [max(len(c), *(len(row[i]) for row in head + tail)) for i, c in enumerate(columns)]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(row, widths))

    out = [line(columns), *map(line, head)]
    if hidden:
        out.append(_hidden_text(state, hidden).center(len(out[0])).rstrip())
    out += map(line, tail)
    return "\n".join(out)


# ---------------------------------------------------------------- the curve
def _thin(n: int, most: int) -> npt.NDArray[np.int64]:
    """Indices of at most ``most`` of ``n`` epochs, evenly spread, first and last kept."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(np.int64))


def _ticks(values: npt.NDArray[np.float64], lower: float, upper: float | None = None) -> list[float]:
    """Round ticks spanning the finite ``values`` (``0`` to ``1`` if there are none)."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return nice_ticks(0.0, 1.0)
    return nice_ticks(float(finite.min()), float(finite.max()), most=5, lower=lower, upper=upper)


def _epoch_ticks(first: int, last: int) -> list[int]:
    """Round epoch numbers between ``first`` and ``last``, both ends included."""
    step = max(1, math.ceil(nice_step(last - first, 5)))
    inner = range(-(-first // step) * step, last + 1, step)
    ticks = sorted({first, last, *inner})
    # an end and a round number closer than a third of a step would print over each other
    return [t for t in ticks if t in (first, last) or 3 * min(t - first, last - t) >= step]


def svg_curve(curves: Curves, *, width: int = 420, height: int = 170, most: int = 300) -> str:
    """Accuracy (left axis) and cost (right axis) per epoch as an inline SVG.

    Solid lines are the evaluation accuracy and the training cost; dashed ones the
    validation accuracy and the evaluation cost, when the run measured them. Long runs
    are thinned to ``most`` points per line (the first and last epochs always kept).

    >>> svg_curve(Curves())
    ''
    """
    n = curves.n
    if not n:
        return ""
    left, right, top, bottom = 46, 52, 30, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    acc = {name: curves.series(name) for name in ("accuracy", "validation accuracy")}
    cost = {name: curves.series(name) for name in ("training cost", "evaluation cost")}
    acc_ticks = _ticks(np.concatenate(list(acc.values())), 0.0, 1.0)
    cost_ticks = _ticks(np.concatenate(list(cost.values())), 0.0)
    acc_lo, acc_hi = acc_ticks[0], acc_ticks[-1]
    cost_lo, cost_hi = cost_ticks[0], cost_ticks[-1]
    first = curves.first  # the network's count of the run's first epoch

    def x(epoch: float) -> float:
        return left + (plot_w * (epoch - first) / (n - 1) if n > 1 else plot_w / 2)

    def y(value: float, lo: float, hi: float) -> float:
        return top + plot_h * (1 - (value - lo) / (hi - lo if hi > lo else 1.0))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" style="font:10px sans-serif" role="img" '
        'aria-label="accuracy and cost per epoch">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="rgba(128,128,128,0.5)"/>',
    ]
    acc_decimals = tick_decimals(100 * (acc_ticks[1] - acc_ticks[0]))
    for tick in acc_ticks:  # grid lines at the accuracy ticks
        yy = y(tick, acc_lo, acc_hi)
        grid = "rgba(128,128,128,0.2)"
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="{grid}"/>')
        parts.append(
            f'<text class="tick-accuracy" x="{left - 4}" y="{yy + 3:.1f}" text-anchor="end" '
            f'fill="{_ACCURACY}">{100 * tick:.{acc_decimals}f}%</text>'
        )
    cost_decimals = tick_decimals(cost_ticks[1] - cost_ticks[0])
    for tick in cost_ticks:
        yy = y(tick, cost_lo, cost_hi)
        parts.append(
            f'<text class="tick-cost" x="{left + plot_w + 4}" y="{yy + 3:.1f}" '
            f'fill="{_COST}">{tick:.{cost_decimals}f}</text>'
        )
    for epoch in _epoch_ticks(first, first + n - 1):
        parts.append(
            f'<text class="tick-epoch" x="{x(epoch):.1f}" y="{top + plot_h + 13}" text-anchor="middle" '
            f'fill="currentColor">{epoch}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 1}" text-anchor="middle" '
        'fill="currentColor">epoch</text>'
    )
    shown = _thin(n, most)
    legend = {_ACCURACY: [left, 9], _COST: [left, 21]}  # one legend row per axis
    for name, values, (lo, hi), color in (
        *((name, v, (acc_lo, acc_hi), _ACCURACY) for name, v in acc.items()),
        *((name, v, (cost_lo, cost_hi), _COST) for name, v in cost.items()),
    ):
        picked = values[shown]
        keep = np.isfinite(picked)
        if not keep.any():
            continue
        epochs = shown[keep] + 1
        xs = left + (plot_w * (epochs - 1) / (n - 1) if n > 1 else np.full(epochs.shape, plot_w / 2))
        ys = top + plot_h * (1 - (picked[keep] - lo) / (hi - lo if hi > lo else 1.0))
        dash = "" if name in ("accuracy", "training cost") else "4 3"
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        if xs.size == 1:
            parts.append(f'<circle cx="{xs[0]:.1f}" cy="{ys[0]:.1f}" r="2.5" fill="{color}"/>')
        else:
            # tenths of a pixel as integers in a group scaled by 0.1: formatting ints is
            # several times cheaper than floats, and this runs on every live frame
            tenths = np.rint(10 * np.column_stack((xs, ys))).astype(np.int64)
            flat = " ".join(map(str, tenths.ravel().tolist()))
            tenfold = f' stroke-dasharray="{10 * 4} {10 * 3}"' if dash else ""
            parts.append(
                f'<g transform="scale(0.1)"><polyline points="{flat}" fill="none" stroke="{color}" '
                f'stroke-width="15"{tenfold}/></g>'
            )
        lx, ly = legend[color]
        parts.append(
            f'<line x1="{lx}" x2="{lx + 14}" y1="{ly}" y2="{ly}" stroke="{color}" '
            f'stroke-width="1.5"{dash_attr}/>'
            f'<text x="{lx + 17}" y="{ly + 3}" fill="currentColor">{_esc(name)}</text>'
        )
        legend[color][0] += 26 + 6 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def sparkline(values: Sequence[float | None], *, most: int = 40) -> str:
    """Values as a row of block characters, low to high (at most ``most`` of them).

    >>> sparkline([0.1, 0.5, 0.9, 0.9])
    '▁▅██'
    """
    finite = [v for v in values if v is not None and math.isfinite(v)]
    points = [finite[i] for i in _thin(len(finite), most)]
    if not points:
        return ""
    lo, hi = min(points), max(points)
    top = len(_SPARKS) - 1
    return "".join(_SPARKS[round(top * (v - lo) / (hi - lo)) if hi > lo else top // 2] for v in points)


def _curve_text(rows: Sequence[EpochRecord]) -> str:
    lines = []
    for name, values, fmt in (
        ("accuracy", [r.accuracy for r in rows], format_accuracy),
        ("validation accuracy", [r.validation_accuracy for r in rows], format_accuracy),
        ("training cost", [r.training_cost for r in rows], format_cost),
        ("evaluation cost", [r.evaluation_cost for r in rows], format_cost),
    ):
        known = [v for v in values if v is not None]
        if known:
            lines.append(f"{name:<20} {sparkline(values)}  {fmt(known[0])} → {fmt(known[-1])}")
    return "\n".join(lines)


# ---------------------------------------------------------------- the record
def record_html(state: LiveState, now: float, *, timings: bool = True) -> str:
    """The whole view as static HTML: status, both bars, metrics, table and curve (and
    the speed of learning per layer when the run recorded diagnostics)."""
    style = state.style
    table = table_html(state, timings=timings)
    curve = svg_curve(state.curves) + svg_layers(state.rows, first=state.epochs_before + 1)
    return (
        '<div class="nnlab-live-record" style="display:flex;flex-direction:column;gap:4px">'
        + status_html(state, timings=timings)
        + bar_html(state.epoch_label(), state.epoch_bar(now), style, timings=timings)
        + bar_html(state.batch_label(), state.batch_bar(now), style, timings=timings)
        + metrics_html(state, timings=timings)
        + (
            f'<div style="display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start">{table}{curve}</div>'
            if table or curve
            else ""
        )
        + "</div>"
    )


def record_text(state: LiveState, now: float, *, timings: bool = True) -> str:
    """The whole view as plain text, for renderers without HTML (and for nbval)."""
    parts = [
        f"{state.title} · {state.status_text(timings=timings)}",
        *(f"hint: {hint}" for hint in state.hints),
        bar_text(state.epoch_label(), state.epoch_bar(now), timings=timings),
        bar_text(state.batch_label(), state.batch_bar(now), timings=timings),
    ]
    metrics = state.metrics(timings=timings)
    if metrics:
        parts.append(" · ".join(f"{name} {value}" for name, value in metrics))
    table = table_text(state, timings=timings)
    if table:
        parts += ["", table, "", _curve_text(state.rows)]
        layers = layers_text(state.rows)
        if layers:
            parts.append(layers)
    return "\n".join(parts)


def record_bundle(state: LiveState, now: float, *, timings: bool = True) -> dict[str, str]:
    """The static record as a display bundle: ``text/html`` and ``text/plain``."""
    return {
        "text/html": record_html(state, now, timings=timings),
        "text/plain": record_text(state, now, timings=timings),
    }
