"""Static pictures for notebooks: learning curves of runs, grids of digits, and what a
trained network learned (:func:`confusion`, :func:`mistakes`, :func:`weights`).

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

__all__ = [
    "COLORS",
    "Picture",
    "confusion",
    "confusion_matrix",
    "curves",
    "digits",
    "mistakes",
    "side_by_side",
    "values",
    "weights",
]

#: Line colours, in the order the runs are given.
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_WRONG = "#d62728"
_SPARKS = "▁▂▃▄▅▆▇█"
_GREY = "rgba(128,128,128,0.5)"


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


def _esc(text: object) -> str:
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
        return Picture(f"<div><b>{_esc(title)}</b>: no values</div>", "\n".join(text))

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
        f'aria-label="{_esc(title)}">',
        f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="{_GREY}"/>',
        f'<text x="{left}" y="15" fill="currentColor">{_esc(title)}</text>',
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
                f'<text x="{left + w + 8}" y="{top + 10 + 14 * k}" fill="{color}">{_esc(name)}</text>'
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
        color = _WRONG if bad else "currentColor"
        figures.append(
            f'<figure style="margin:3px;text-align:center">'
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" width="{size}" '
            f'height="{size}" style="background:white;border:1px solid {_GREY}">{pixels}</svg>'
            f'<figcaption style="font:11px sans-serif;color:{color}">{_esc(caption)}</figcaption></figure>'
        )
    html_text = '<div style="display:flex;flex-wrap:wrap">' + "".join(figures) + "</div>"
    return Picture(html_text, f"{m} image{'s' if m != 1 else ''}: " + "  ".join(texts))


# ---------------------------------------------------------------- what the network learned
class _Classifier(Protocol):
    weights: list[Any]

    def predict(self, X: Any) -> Any: ...


def _network(model: Any) -> _Classifier:
    net = getattr(model, "network", model)  # a TrainingJob holds its network
    if not (hasattr(net, "predict") and hasattr(net, "weights")):
        raise TypeError(
            f"expected a Network or the TrainingJob that nnlab.train() returns, got {type(model).__name__}"
        )
    return net  # type: ignore[no-any-return]


def _examples(model: Any, data: Any, split: str) -> tuple[Any, Any]:
    """``(X, y)`` of ``split`` of ``data`` (a Dataset or an ``(X, y)`` pair; a job's own
    data set when ``None``)."""
    if data is None:
        data = getattr(model, "data", None)
        if data is None:
            raise ValueError("a Network does not know its data: pass data=, e.g. nnlab.datasets.digits()")
    if isinstance(data, tuple):
        X, y = data
        return np.asarray(X), np.asarray(y)
    if not hasattr(data, "split"):
        raise TypeError(f"data must be a Dataset or an (X, y) pair, got {type(data).__name__}")
    pair = data.split(split)
    if pair is None:
        raise ValueError(f"the data set {data.name!r} has no {split!r} split: use split='train' or 'test'")
    return np.asarray(pair[0]), np.asarray(pair[1])


def confusion_matrix(model: Any, data: Any = None, *, split: str = "test") -> np.ndarray:
    """Counts of (true label, predicted label) pairs: row ``i``, column ``j`` counts the
    examples of class ``i`` the network called ``j``; the diagonal is what it got right.

    ``model`` is a :class:`~nnlab.network.Network` or a training job (its network, and its
    data set when ``data`` is ``None``); ``data`` a data set (its ``split``) or ``(X, y)``.

    >>> import nnlab
    >>> net = nnlab.Network([64, 10, 10], seed=0)
    >>> m = confusion_matrix(net, nnlab.datasets.digits())
    >>> m.shape, int(m.sum()), int(m.trace()) == net.evaluate(*nnlab.datasets.digits().test)
    ((10, 10), 300, True)
    """
    net = _network(model)
    X, y = _examples(model, data, split)
    predicted = np.asarray(net.predict(X))
    n = int(np.asarray(net.weights[-1]).shape[0])
    counts = np.zeros((n, n), dtype=np.int64)
    np.add.at(counts, (y.astype(np.int64), predicted.astype(np.int64)), 1)
    return counts


def confusion(model: Any, data: Any = None, *, split: str = "test", size: int = 300) -> Picture:
    """The confusion matrix as a picture: true labels down, predictions across, each
    cell shaded by its share of its row; mistakes in red, hits in green.

    >>> import nnlab
    >>> print(confusion(nnlab.Network([64, 10, 10], seed=0), nnlab.datasets.digits()).text.splitlines()[0])
    confusion on test: 30/300 right (10.0%); rows true, columns predicted
    """
    counts = confusion_matrix(model, data, split=split)
    n = counts.shape[0]
    total, right = int(counts.sum()), int(counts.trace())
    share = f"{100 * right / total:.1f}%" if total else "–"
    title = f"confusion on {split}: {right}/{total} right ({share})"
    width = max(len(str(int(counts.max()))), 1)
    lines = [f"{title}; rows true, columns predicted"]
    lines.append("     " + " ".join(f"{j:>{width}}" for j in range(n)))
    lines += [f"  {i:>2} " + " ".join(f"{v:>{width}}" for v in row) for i, row in enumerate(counts)]
    cell = max(14, (size - 40) // n)
    left, top = 34, 34
    side = cell * n
    rows = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + side + 8}" height="{top + side + 8}" '
        f'style="font:10px sans-serif" role="img" aria-label="{_esc(title)}">',
        f'<text x="{left}" y="11" fill="currentColor">{_esc(title)}</text>',
        f'<text x="{left + side / 2:.0f}" y="23" text-anchor="middle" fill="currentColor">predicted</text>',
        f'<text x="9" y="{top + side / 2:.0f}" text-anchor="middle" fill="currentColor" '
        f'transform="rotate(-90 9 {top + side / 2:.0f})">true</text>',
    ]
    for j in range(n):
        parts.append(
            f'<text x="{left + cell * j + cell / 2:.0f}" y="{top - 2}" text-anchor="middle" '
            f'fill="currentColor">{j}</text>'
            f'<text x="{left - 4}" y="{top + cell * j + cell / 2 + 3:.0f}" text-anchor="end" '
            f'fill="currentColor">{j}</text>'
        )
    for i in range(n):
        for j in range(n):
            v = int(counts[i, j])
            color = "#2ca02c" if i == j else _WRONG
            opacity = shares[i, j] if v else 0.0
            parts.append(
                f'<rect class="cell" data-true="{i}" data-predicted="{j}" data-count="{v}" '
                f'x="{left + cell * j}" y="{top + cell * i}" width="{cell}" height="{cell}" '
                f'fill="{color}" fill-opacity="{opacity:.2f}" stroke="{_GREY}" stroke-width="0.5"/>'
            )
            if v:
                parts.append(
                    f'<text x="{left + cell * j + cell / 2:.0f}" y="{top + cell * i + cell / 2 + 3:.0f}" '
                    f'text-anchor="middle" fill="currentColor">{v}</text>'
                )
    parts.append("</svg>")
    return Picture("".join(parts), "\n".join(lines))


def mistakes(
    model: Any, data: Any = None, *, split: str = "test", limit: int = 24, size: int = 48
) -> Picture:
    """The first ``limit`` examples of ``split`` the network gets wrong, as digits
    captioned ``true → predicted`` (see :func:`digits`; the images must be square).

    >>> import nnlab
    >>> print(mistakes(nnlab.Network([64, 10, 10], seed=0), nnlab.datasets.digits(), limit=2))
    2 of 270 mistakes on test: 6 → 9  6 → 9
    """
    net = _network(model)
    X, y = _examples(model, data, split)
    predicted = np.asarray(net.predict(X))
    wrong = np.flatnonzero(predicted != y)
    shown = wrong[: max(0, limit)]
    if not shown.size:
        text = f"no mistakes on {split} ({len(y)} examples)"
        return Picture(f"<div>{_esc(text)}</div>", text)
    grid = digits(X[shown], labels=y[shown], predictions=predicted[shown], size=size)
    head = f"{len(shown)} of {len(wrong)} mistakes on {split}"
    return Picture(
        f'<div style="font:11px sans-serif">{_esc(head)}</div>{grid.html}',
        f"{head}: " + grid.text.split(": ", 1)[1],
    )


def weights(model: Any, *, limit: int | None = None, size: int = 48) -> Picture:
    """The first layer's weights as images, one per hidden neuron: what each one looks
    for. Red pixels push the neuron's input up, blue ones down; each image is scaled
    to its own largest weight. The inputs must be a square image (64 or 784 pixels).

    >>> import nnlab
    >>> print(weights(nnlab.Network([64, 30, 10], seed=0), limit=3))
    3 of 30 hidden neurons: weights of 8x8 inputs, red positive, blue negative
    """
    w = np.asarray(_network(model).weights[0], dtype=np.float64)
    n_units, n_inputs = w.shape
    side = math.isqrt(n_inputs)
    if side * side != n_inputs:
        raise ValueError(
            f"weights shows the first layer as images: {n_inputs} inputs is not a square number "
            "(64 or 784 are)"
        )
    shown = w[: n_units if limit is None else max(0, limit)]
    text = (
        f"{len(shown)} of {n_units} hidden neurons: weights of {side}x{side} inputs, "
        "red positive, blue negative"
    )
    figures = []
    for k, row in enumerate(shown):
        scale = float(np.abs(row).max()) or 1.0
        pixels = "".join(
            f'<rect x="{i % side}" y="{i // side}" width="1" height="1" '
            f'fill="{"#d62728" if v > 0 else "#1f77b4"}" fill-opacity="{abs(v) / scale:.2f}"/>'
            for i, v in enumerate(row)
            if abs(v) / scale >= 0.005
        )
        figures.append(
            f'<figure style="margin:3px;text-align:center">'
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" width="{size}" '
            f'height="{size}" class="unit" style="background:white;border:1px solid {_GREY}">{pixels}</svg>'
            f'<figcaption style="font:11px sans-serif">{k + 1}</figcaption></figure>'
        )
    html_text = (
        f'<div style="font:11px sans-serif">{_esc(text)}</div>'
        '<div style="display:flex;flex-wrap:wrap">' + "".join(figures) + "</div>"
    )
    return Picture(html_text, text)
