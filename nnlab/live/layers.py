"""The chapter 5 chart: the speed of learning of each layer per epoch, on a log scale.

Drawn when a run records diagnostics (``train(..., diagnostics=True)``): one line per
weight layer, input side first, so a deep sigmoid network shows the book's finding at a
glance -- the early layers' lines lie decades below the later ones'. The legend gives
each layer's latest share of saturated neurons; the text gives both per layer.

>>> svg_layers([], first=1)
''
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from nnlab.live.axes import nice_step

if TYPE_CHECKING:
    from nnlab.events import EpochRecord

__all__ = ["layer_names", "layers_text", "svg_layers"]

#: One colour per layer, input side first (blue to red, as the signal goes forward).
LAYER_COLORS = ("#1f77b4", "#17becf", "#2ca02c", "#bcbd22", "#ff7f0e", "#d62728", "#9467bd", "#8c564b")
_SPARKS = "▁▂▃▄▅▆▇█"


def layer_names(n_layers: int) -> list[str]:
    """``hidden 1``, ``hidden 2``, ... and ``output`` for the last weight layer.

    >>> layer_names(3)
    ['hidden 1', 'hidden 2', 'output']
    """
    return [f"hidden {k + 1}" for k in range(n_layers - 1)] + ["output"]


def _measured(rows: Sequence[EpochRecord]) -> list[EpochRecord]:
    return [r for r in rows if r.diagnostics is not None]


def _thin(n: int, most: int) -> npt.NDArray[np.int64]:
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(np.int64))


def _log_range(values: npt.NDArray[np.float64]) -> tuple[int, int]:
    """Powers of ten below and above the positive ``values``."""
    positive = values[np.isfinite(values) & (values > 0)]
    if not positive.size:
        return -3, 0
    lo = math.floor(math.log10(float(positive.min())))
    hi = math.ceil(math.log10(float(positive.max())))
    return lo, max(hi, lo + 1)


def svg_layers(
    rows: Sequence[EpochRecord], *, first: int, width: int = 460, height: int = 170, most: int = 300
) -> str:
    """The speed of learning ``||dC/db||`` of each layer per epoch as an inline SVG,
    log scale, one line per layer; ``""`` when no epoch measured diagnostics. ``first``
    is the network's number of the run's first epoch; long runs are thinned to ``most``
    points per line."""
    measured = _measured(rows)
    if not measured:
        return ""
    picked = [measured[i] for i in _thin(len(measured), most)]
    speeds = np.array([r.diagnostics.learning_speed for r in picked], dtype=np.float64)
    epochs = np.array([first - 1 + r.epoch for r in picked], dtype=np.float64)
    latest = measured[-1].diagnostics
    assert latest is not None
    n_layers = speeds.shape[1]
    names = layer_names(n_layers)
    lo, hi = _log_range(speeds)
    left, right, top, bottom = 46, 128, 22, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    e0, e1 = float(epochs[0]), float(epochs[-1])

    def x(epoch: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return left + (plot_w * (epoch - e0) / (e1 - e0) if e1 > e0 else np.full(epoch.shape, plot_w / 2))

    def y(value: float) -> float:
        return top + plot_h * (1 - (math.log10(value) - lo) / (hi - lo))

    title = "speed of learning ‖dC/db‖ per layer (log scale)"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" style="font:10px sans-serif" role="img" '
        f'aria-label="{html.escape(title)}" class="nnlab-layers">',
        f'<text x="{left}" y="12" fill="currentColor">{html.escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="rgba(128,128,128,0.5)"/>',
    ]
    step = max(1, math.ceil((hi - lo) / 5))
    for power in range(lo, hi + 1, step):
        yy = y(10.0**power)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" '
            'stroke="rgba(128,128,128,0.2)"/>'
            f'<text class="tick-speed" x="{left - 4}" y="{yy + 3:.1f}" text-anchor="end" '
            f'fill="currentColor">1e{power}</text>'
        )
    tick_step = max(1, math.ceil(nice_step(e1 - e0, 5)))
    ticks = sorted({int(e0), int(e1), *range(-(-int(e0) // tick_step) * tick_step, int(e1) + 1, tick_step)})
    for epoch in ticks:
        if epoch not in (int(e0), int(e1)) and 3 * min(epoch - e0, e1 - epoch) < tick_step:
            continue
        xx = float(x(np.array([float(epoch)]))[0])
        parts.append(
            f'<text class="tick-epoch" x="{xx:.1f}" y="{top + plot_h + 13}" text-anchor="middle" '
            f'fill="currentColor">{epoch}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 1}" text-anchor="middle" '
        'fill="currentColor">epoch</text>'
    )
    xs = x(epochs)
    for k in range(n_layers):
        color = LAYER_COLORS[k % len(LAYER_COLORS)]
        keep = np.isfinite(speeds[:, k]) & (speeds[:, k] > 0)
        points = [(float(px), y(float(v))) for px, v in zip(xs[keep], speeds[keep, k])]
        if len(points) == 1:
            parts.append(f'<circle cx="{points[0][0]:.1f}" cy="{points[0][1]:.1f}" r="2.5" fill="{color}"/>')
        elif points:
            coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(
                f'<polyline class="layer" points="{coords}" fill="none" stroke="{color}" stroke-width="1.5"/>'
            )
        ly = top + 8 + 13 * k
        saturated = f"{100 * latest.saturation[k]:.0f}% sat."
        parts.append(
            f'<line x1="{left + plot_w + 6}" x2="{left + plot_w + 18}" y1="{ly}" y2="{ly}" stroke="{color}" '
            f'stroke-width="1.5"/><text x="{left + plot_w + 21}" y="{ly + 3}" fill="currentColor">'
            f"{names[k]} · {saturated}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _sparkline(values: Sequence[float]) -> str:
    logs = [math.log10(v) for v in values if v > 0 and math.isfinite(v)]
    if not logs:
        return ""
    logs = [logs[i] for i in _thin(len(logs), 40)]
    lo, hi = min(logs), max(logs)
    top = len(_SPARKS) - 1
    return "".join(_SPARKS[round(top * (v - lo) / (hi - lo)) if hi > lo else top // 2] for v in logs)


def layers_text(rows: Sequence[EpochRecord]) -> str:
    """The chart as text: per layer, the speed of learning over the epochs (log scale),
    its first and last values and the latest share of saturated neurons; ``""`` when no
    epoch measured diagnostics."""
    measured = _measured(rows)
    if not measured:
        return ""
    diags = [r.diagnostics for r in measured]
    names = layer_names(len(diags[0].learning_speed))  # type: ignore[union-attr]
    lines = ["speed of learning per layer (log scale)"]
    for k, name in enumerate(names):
        speeds = [d.learning_speed[k] for d in diags]  # type: ignore[union-attr]
        saturation = diags[-1].saturation[k]  # type: ignore[union-attr]
        lines.append(
            f"  {name:<9} {_sparkline(speeds)}  {speeds[0]:.2e} → {speeds[-1]:.2e}"
            f" · {100 * saturation:.0f}% saturated"
        )
    return "\n".join(lines)
