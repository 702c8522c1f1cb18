"""The picture type, learning curves of runs and grids of digits.

Each function returns a :class:`Picture`, which a notebook shows as inline SVG (so
JupyterLab, nbconvert, nbviewer and GitHub all render it, with nothing to load) and a
terminal as text. No plotting library: the pictures are a few hundred bytes of SVG,
the same for the same numbers, and importing this module costs nothing.

>>> pic = curves({"a": [0.2, 0.6, 0.9], "b": [0.1, 0.4, 0.5]}, title="Accuracy")
>>> print(pic)
Accuracy
  a  ▁▅█  0.2 → 0.9
  b  ▁▆█  0.1 → 0.5
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

__all__ = ["COLORS", "GREY", "WRONG", "Picture", "curves", "digits", "esc", "side_by_side", "values"]

#: Line colours, in the order the runs are given.
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
#: The colour of a mistake.
WRONG = "#d62728"
_SPARKS = "▁▂▃▄▅▆▇█"
#: Frames and borders.
GREY = "rgba(128,128,128,0.5)"


class _Run(Protocol):
    history: Sequence[Any]


Series = Sequence[float | None]


class Picture:
    """A picture as HTML (with inline SVG) plus a plain-text stand-in.

    A notebook shows the HTML; ``print(picture)`` and ``repr`` give the text.
    """

    def __init__(self, html_text: str, text: str) -> None:
        self.html = html_text
        self.text = text

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


def esc(text: object) -> str:
    """``text`` escaped for HTML text and attributes."""
    return html.escape(str(text), quote=True)


def values(run: _Run, field: str = "accuracy") -> list[float | None]:
    """One value per epoch of a run's history, e.g. ``values(job, "validation_accuracy")``.

    ``field`` is any number an :class:`~nnlab.events.EpochRecord` holds: ``accuracy``,
    ``training_cost``, ``evaluation_cost``, ``validation_cost``, ``validation_accuracy``,
    ``learning_rate``, ``elapsed_time``.
    """
    history = list(run.history)
    if history and not hasattr(history[0], field):
        known = "accuracy, validation_accuracy, training_cost, evaluation_cost, validation_cost"
        raise ValueError(f"an epoch record has no field {field!r}: use one of {known}")
    return [getattr(record, field) for record in history]


def _as_series(run: _Run | Series, field: str) -> list[float | None]:
    if hasattr(run, "history"):
        return values(run, field)
    if isinstance(run, str | bytes) or not isinstance(run, Sequence | np.ndarray):
        raise TypeError(
            f"curves takes training jobs or sequences of numbers, got {type(run).__name__}: "
            "pass a TrainingJob, a list of values, or a dict of them by name"
        )
    return [None if v is None or not math.isfinite(float(v)) else float(v) for v in run]


def _named_series(
    runs: _Run | Series | Mapping[str, _Run | Series] | Sequence[_Run], fields: Sequence[str]
) -> dict[str, list[float | None]]:
    named: dict[str, Any]
    if isinstance(runs, Mapping):
        named = dict(runs)
    elif hasattr(runs, "history"):
        named = {"": runs}
    elif isinstance(runs, Sequence) and runs and all(hasattr(r, "history") for r in runs):
        named = {f"run {k}": run for k, run in enumerate(runs, start=1)}
    else:
        named = {"": runs}
    series: dict[str, list[float | None]] = {}
    for name, run in named.items():  # each a job or a sequence of numbers
        for field in fields:
            label = " · ".join(part for part in (str(name), field if len(fields) > 1 else "") if part)
            series[label] = _as_series(run, field)
    return series


def _sparkline(points: Sequence[float]) -> str:
    if not points:
        return ""
    if len(points) > 40:
        points = [points[round(i)] for i in np.linspace(0, len(points) - 1, 40)]
    lo, hi = min(points), max(points)
    top = len(_SPARKS) - 1
    return "".join(_SPARKS[round(top * (v - lo) / (hi - lo)) if hi > lo else top // 2] for v in points)


def _tick(value: float, percent: bool) -> str:
    return f"{100 * value:.0f}%" if percent else f"{value:.3g}"


def curves(
    runs: _Run | Series | Mapping[str, _Run | Series] | Sequence[_Run],
    field: str | Sequence[str] = "accuracy",
    *,
    title: str | None = None,
    width: int = 420,
    height: int = 230,
) -> Picture:
    """Learning curves: one line per run (and per field), epochs along the x axis.

    ``runs`` is a :class:`~nnlab.training.TrainingJob`, a list of jobs, a dict
    ``{name: job}``, or the same with lists of numbers (one per epoch) in place of
    jobs. ``field`` names what to draw from each job's history (see :func:`values`);
    a list of fields draws each of them. Accuracies are labelled in percent.

    >>> curves([0.5, 0.75, 0.875], title="accuracy").text
    'accuracy\\n  ▁▆█  0.5 → 0.875'
    """
    fields = [field] if isinstance(field, str) else list(field)
    series = _named_series(runs, fields)
    title = title if title is not None else " and ".join(f.replace("_", " ") for f in fields)
    finite = [v for ys in series.values() for v in ys if v is not None]
    n = max((len(ys) for ys in series.values()), default=0)
    text = [title]
    width_names = max((len(name) for name in series), default=0)
    for name, ys in series.items():
        points = [v for v in ys if v is not None]
        summary = f"{points[0]:.3g} → {points[-1]:.3g}" if points else "no values"
        label = f"{name:<{width_names}}  " if width_names else ""
        text.append(f"  {label}{_sparkline(points)}  {summary}")
    if not finite or n == 0:
        return Picture(f"<div><b>{esc(title)}</b>: no values</div>", "\n".join(text))

    percent = all("accuracy" in f for f in fields) and min(finite) >= 0.0 and max(finite) <= 1.0
    legend_w = min(160, 14 + 7 * width_names) if any(series) else 0
    left, top, right, bottom = 46, 24, 10 + legend_w, 30
    w, h = width - left - right, height - top - bottom
    lo, hi = min(finite), max(finite)
    pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 0.05
    lo, hi = lo - pad, hi + pad

    def x(i: int) -> float:
        return left + (w * i / (n - 1) if n > 1 else w / 2)

    def y(v: float) -> float:
        return top + h * (1 - (v - lo) / (hi - lo))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" style="font:11px sans-serif" role="img" '
        f'aria-label="{esc(title)}">',
        f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="{GREY}"/>',
        f'<text x="{left}" y="15" fill="currentColor">{esc(title)}</text>',
        f'<text x="{left + w / 2:.0f}" y="{height - 3}" text-anchor="middle" '
        'fill="currentColor">epoch</text>',
    ]
    for v in (lo + pad, (lo + hi) / 2, hi - pad):
        parts.append(
            f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end" '
            f'fill="currentColor">{_tick(v, percent)}</text>'
        )
    for i in sorted({0, (n - 1) // 2, n - 1}):
        parts.append(
            f'<text x="{x(i):.1f}" y="{top + h + 14}" text-anchor="middle" fill="currentColor">{i + 1}</text>'
        )
    for k, (name, ys) in enumerate(series.items()):
        color = COLORS[k % len(COLORS)]
        xy = [(x(i), y(v)) for i, v in enumerate(ys) if v is not None]
        if len(xy) == 1:
            parts.append(f'<circle cx="{xy[0][0]:.1f}" cy="{xy[0][1]:.1f}" r="2.5" fill="{color}"/>')
        elif xy:
            coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in xy)
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        if name and len(series) > 1:
            parts.append(
                f'<text x="{left + w + 8}" y="{top + 10 + 14 * k}" fill="{color}">{esc(name)}</text>'
            )
    parts.append("</svg>")
    return Picture("".join(parts), "\n".join(text))


def side_by_side(*pictures: Picture) -> Picture:
    """Several pictures in a row (they wrap on a narrow screen)."""
    inner = "".join(p.html for p in pictures)
    return Picture(
        f'<div style="display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start">{inner}</div>',
        "\n\n".join(p.text for p in pictures),
    )


def _ints(name: str, given: Any, m: int) -> list[int] | None:
    if given is None:
        return None
    out = np.asarray(given).ravel()
    if out.shape[0] != m:
        raise ValueError(f"{name} must hold one label per image ({m}), got {out.shape[0]}")
    return [int(v) for v in out]


def digits(
    images: Any,
    labels: Any = None,
    predictions: Any = None,
    *,
    captions: Sequence[str] | None = None,
    size: int = 56,
) -> Picture:
    """Images (one per row, pixel values in [0, 1], square) in a grid with captions.

    Each caption is the label (``"3"``), or with ``predictions`` the label and the
    network's answer: ``"3"`` when they agree, ``"3 → 5"`` in red when they do not.
    ``captions`` replaces them with your own text.

    >>> import numpy as np
    >>> print(digits(np.eye(4), labels=[0, 1, 2, 3], predictions=[0, 1, 2, 1]))
    4 images: 0  1  2  3 → 1
    """
    X = np.asarray(images, dtype=np.float64)
    if X.ndim == 1:
        X = X[np.newaxis, :]
    if X.ndim != 2:
        raise ValueError(f"images must be rows of pixels, shape (m, n_pixels), got shape {X.shape}")
    m, n_pixels = X.shape
    side = math.isqrt(n_pixels)
    if side * side != n_pixels:
        raise ValueError(
            f"images must be square: {n_pixels} pixels per row is not a square number (64 or 784 are)"
        )
    y, p = _ints("labels", labels, m), _ints("predictions", predictions, m)
    if captions is not None:
        if len(captions) != m:
            raise ValueError(f"captions must hold one text per image ({m}), got {len(captions)}")
        texts = [str(c) for c in captions]
    elif y is not None and p is not None:
        texts = [f"{a}" if a == b else f"{a} → {b}" for a, b in zip(y, p)]
    elif y is not None:
        texts = [str(a) for a in y]
    elif p is not None:
        texts = [f"→ {b}" for b in p]
    else:
        texts = [""] * m
    wrong = [y is not None and p is not None and y[i] != p[i] for i in range(m)]
    shade = np.clip(X, 0.0, 1.0)
    figures = []
    for row, caption, bad in zip(shade, texts, wrong):
        pixels = "".join(
            f'<rect x="{i % side}" y="{i // side}" width="1" height="1" fill-opacity="{v:.2f}"/>'
            for i, v in enumerate(row)
            if v > 0.005
        )
        color = WRONG if bad else "currentColor"
        figures.append(
            f'<figure style="margin:3px;text-align:center">'
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" width="{size}" '
            f'height="{size}" style="background:white;border:1px solid {GREY}">{pixels}</svg>'
            f'<figcaption style="font:11px sans-serif;color:{color}">{esc(caption)}</figcaption></figure>'
        )
    html_text = '<div style="display:flex;flex-wrap:wrap">' + "".join(figures) + "</div>"
    return Picture(html_text, f"{m} image{'s' if m != 1 else ''}: " + "  ".join(texts))
