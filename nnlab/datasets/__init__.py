"""Data to train on: the bundled digits, MNIST, or the user's own arrays.

Every loader returns a :class:`Dataset` with ``train``, ``validation`` and ``test``
splits, each an ``(X, y)`` pair (``X`` of shape ``(m, n_features)`` with values in
[0, 1], ``y`` of shape ``(m,)`` with int labels) or ``None``.

>>> data = digits()
>>> data
Dataset('digits': train 1297, validation 200, test 300; 64 features, 10 classes)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from importlib import resources
from typing import Any

import numpy as np

from nnlab._checks import as_labels
from nnlab._types import Array
from nnlab.datasets._dataset import Dataset, InputScaleWarning, make_dataset
from nnlab.datasets._mnist import DEFAULT_MIRRORS, MNIST_FILES, MnistUnavailableError, mnist

__all__ = [
    "DEFAULT_MIRRORS",
    "MNIST_FILES",
    "Dataset",
    "InputScaleWarning",
    "MnistUnavailableError",
    "available",
    "digits",
    "expand",
    "from_arrays",
    "load",
    "mnist",
]


@functools.lru_cache(maxsize=1)
def digits() -> Dataset:
    """The 1,797 8x8 handwritten digits bundled with nnlab (from scikit-learn / UCI).

    64 features (pixel counts 0..16 divided by 16, so in [0, 1]) and 10 classes. The
    split is fixed: the rows are shuffled with ``np.random.default_rng(0)``, then the
    first 300 are the test set, the next 200 the validation set and the remaining 1,297
    the training set. Needs no network; the data set the notebooks, CLI and tests use.
    """
    with resources.files("nnlab.datasets").joinpath("digits.npz").open("rb") as fh, np.load(fh) as npz:
        images, target = npz["images"], npz["target"]
    X = images.astype(np.float64) / 16.0
    y = target.astype(np.int64)
    return make_dataset(
        "digits",
        X,
        y,
        n_validation=200,
        n_test=300,
        rng=np.random.default_rng(0),
        n_classes=10,
        description="1,797 handwritten digits, 8x8 pixels (scikit-learn's digits, UCI)",
    )


def _count(value: float | int, n: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a fraction in [0, 1) or a count, got {value!r}")
    if isinstance(value, int | np.integer):
        if not 0 <= value < n:
            raise ValueError(f"{name} must be a count in 0..{n - 1}, got {value}")
        return int(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1) (or an int count), got {value}")
    return round(value * n)


def from_arrays(
    X: Any,
    y: Any,
    *,
    validation: float | int = 0.0,
    test: float | int = 0.2,
    seed: int | None = 0,
    n_classes: int | None = None,
    name: str = "arrays",
) -> Dataset:
    """A :class:`Dataset` from your own ``X`` (``(m, n_features)``) and int labels ``y``.

    ``validation`` and ``test`` are fractions of the rows (or counts) held out after a
    shuffle with ``np.random.default_rng(seed)`` (``seed=None`` keeps the given order).
    Scale features to about [0, 1] first: sigmoid units saturate on large inputs.

    >>> import numpy as np
    >>> X = np.random.default_rng(1).random((100, 4)); y = (X[:, 0] > 0.5).astype(int)
    >>> from_arrays(X, y, validation=0.1, test=0.2)
    Dataset('arrays': train 70, validation 10, test 20; 4 features, 2 classes)
    """
    try:
        X_arr = np.array(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"X must be a 2-D array of numbers: {exc}") from None
    if X_arr.ndim != 2 or X_arr.shape[0] == 0 or X_arr.shape[1] == 0:
        raise ValueError(f"X must be a non-empty 2-D array (n_examples, n_features), got shape {X_arr.shape}")
    if not np.isfinite(X_arr).all():
        raise ValueError("X contains NaN or infinite values: remove or impute them first")
    y_int = as_labels(y, X_arr.shape[0])
    classes = int(y_int.max()) + 1 if n_classes is None else int(n_classes)
    if y_int.max() >= classes:
        raise ValueError(f"labels must lie in 0..{classes - 1} for n_classes={classes}, got {y_int.max()}")
    n = X_arr.shape[0]
    n_validation = _count(validation, n, "validation")
    n_test = _count(test, n, "test")
    if n_validation + n_test >= n:
        raise ValueError(
            f"validation ({n_validation}) and test ({n_test}) leave no training rows out of {n}: "
            "hold out less"
        )
    rng = None if seed is None else np.random.default_rng(seed)
    return make_dataset(
        name,
        X_arr,
        y_int,
        n_validation=n_validation,
        n_test=n_test,
        rng=rng,
        n_classes=classes,
        description=f"{n} examples from arrays",
    )


def _shifted(images: Array, dy: int, dx: int) -> Array:
    """``images`` (``(m, side, side)``) moved ``dy`` pixels down and ``dx`` right, blank-filled."""
    side = images.shape[1]
    out = np.zeros_like(images)
    out[:, max(dy, 0) : side + min(dy, 0), max(dx, 0) : side + min(dx, 0)] = images[
        :, max(-dy, 0) : side + min(-dy, 0), max(-dx, 0) : side + min(-dx, 0)
    ]
    return out


def expand(data: Dataset, *, pixels: int = 1) -> Dataset:
    """``data`` with four shifted copies of every training image: five times the examples.

    Each training image is also moved ``pixels`` up, down, left and right (the edge
    filled with blank pixels), as the book's ``expand_mnist.py`` expands MNIST in
    chapter 3: more examples of the same digits make a network generalise better, and
    each epoch takes five times as long. Validation and test sets are unchanged. Images
    must be square (64 or 784 pixels per row).

    >>> expand(digits())
    Dataset('digits-expanded': train 6485, validation 200, test 300; 64 features, 10 classes)
    """
    X, y = data.train
    side = math.isqrt(X.shape[1])
    if side * side != X.shape[1]:
        raise ValueError(f"expand needs square images, got {X.shape[1]} pixels per row (64 or 784 are)")
    if isinstance(pixels, bool) or not isinstance(pixels, int) or not 1 <= pixels < side:
        raise ValueError(f"pixels must be an int in 1..{side - 1}, got {pixels!r}")
    images = X.reshape(-1, side, side)
    moves = [(0, 0), (-pixels, 0), (pixels, 0), (0, -pixels), (0, pixels)]  # as is, up, down, left, right
    X_all = np.concatenate([_shifted(images, dy, dx).reshape(X.shape) for dy, dx in moves])
    X_all.flags.writeable = False
    y_all = np.tile(y, len(moves))
    y_all.flags.writeable = False
    return Dataset(
        name=f"{data.name}-expanded",
        train=(X_all, y_all),
        validation=data.validation,
        test=data.test,
        n_classes=data.n_classes,
        description=f"{data.description}; training images also shifted {pixels} pixel(s) four ways",
    )


_LOADERS: dict[str, Callable[[], Dataset]] = {"digits": digits, "mnist": mnist}


def available() -> list[str]:
    """Names :func:`load` accepts: ``"digits"`` (bundled) and ``"mnist"`` (downloaded)."""
    return list(_LOADERS)


def load(name: str) -> Dataset:
    """Load a data set by name (see :func:`available`)."""
    try:
        loader = _LOADERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r}: use one of {available()}") from None
    return loader()
