"""What a trained network learned: its confusion matrix, its mistakes, its first layer.

Each takes a :class:`~nnlab.network.Network` or the training job ``nnlab.train()``
returns (its network, and its data set when no ``data`` is given), and returns a
:class:`~nnlab.plots.pictures.Picture`. The record of a run stays light: these are
drawn when asked for, from the job.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from nnlab.plots.pictures import GREY, WRONG, Picture, digits, esc

__all__ = ["confusion", "confusion_matrix", "mistakes", "weights"]


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
        f'style="font:10px sans-serif" role="img" aria-label="{esc(title)}">',
        f'<text x="{left}" y="11" fill="currentColor">{esc(title)}</text>',
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
            color = "#2ca02c" if i == j else WRONG
            opacity = shares[i, j] if v else 0.0
            parts.append(
                f'<rect class="cell" data-true="{i}" data-predicted="{j}" data-count="{v}" '
                f'x="{left + cell * j}" y="{top + cell * i}" width="{cell}" height="{cell}" '
                f'fill="{color}" fill-opacity="{opacity:.2f}" stroke="{GREY}" stroke-width="0.5"/>'
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
        return Picture(f"<div>{esc(text)}</div>", text)
    grid = digits(X[shown], labels=y[shown], predictions=predicted[shown], size=size)
    head = f"{len(shown)} of {len(wrong)} mistakes on {split}"
    return Picture(
        f'<div style="font:11px sans-serif">{esc(head)}</div>{grid.html}',
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
            f'height="{size}" class="unit" style="background:white;border:1px solid {GREY}">{pixels}</svg>'
            f'<figcaption style="font:11px sans-serif">{k + 1}</figcaption></figure>'
        )
    html_text = (
        f'<div style="font:11px sans-serif">{esc(text)}</div>'
        '<div style="display:flex;flex-wrap:wrap">' + "".join(figures) + "</div>"
    )
    return Picture(html_text, text)
