"""Static pictures for notebooks: learning curves of runs, grids of digits, and what a
trained network learned.

Each function returns a :class:`Picture`, which a notebook shows as inline SVG (so
JupyterLab, nbconvert, nbviewer and GitHub all render it, with nothing to load) and a
terminal as text. No plotting library: the pictures are a few hundred bytes of SVG,
the same for the same numbers, and importing this package costs nothing.
:mod:`nnlab.plots.pictures` holds the picture type, :func:`curves` and :func:`digits`;
:mod:`nnlab.plots.learned` the confusion matrix, the mistakes and the first layer's
weights of a trained network.

>>> pic = curves({"a": [0.2, 0.6, 0.9], "b": [0.1, 0.4, 0.5]}, title="Accuracy")
>>> print(pic)
Accuracy
  a  ▁▅█  0.2 → 0.9
  b  ▁▆█  0.1 → 0.5
"""

from __future__ import annotations

from nnlab.plots.learned import confusion, confusion_matrix, mistakes, weights
from nnlab.plots.pictures import COLORS, Picture, curves, digits, side_by_side, values

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


def __dir__() -> list[str]:
    return __all__
