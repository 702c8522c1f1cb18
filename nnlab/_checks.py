"""Input checks shared by the network and the data loaders."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnlab._types import Array


def as_labels(y: Any, n_examples: int) -> Array:
    """``y`` as a 1-D int64 array of ``n_examples`` labels >= 0, or ``ValueError``.

    Floats are accepted when they are whole numbers (labels read from a CSV often are).
    """
    y_arr = np.asarray(y)
    if y_arr.shape != (n_examples,):
        raise ValueError(
            f"y must be a 1-D array of {n_examples} class labels (one per row of X), got shape {y_arr.shape}"
        )
    whole_floats = np.issubdtype(y_arr.dtype, np.floating) and bool(np.all(y_arr == np.round(y_arr)))
    if y_arr.size and not (np.issubdtype(y_arr.dtype, np.integer) or whole_floats):
        raise ValueError(
            f"y must hold int class labels 0..n_classes-1, got dtype {y_arr.dtype}: "
            "map your classes to ints first (e.g. np.unique(y, return_inverse=True)[1])"
        )
    y_int = y_arr.astype(np.int64)
    if y_int.size and y_int.min() < 0:
        raise ValueError(f"labels must be >= 0, got {y_int.min()}")
    return y_int
