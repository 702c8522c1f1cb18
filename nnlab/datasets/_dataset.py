"""The :class:`Dataset` type and how a loader builds one from arrays."""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

import numpy as np

from nnlab._types import Array

__all__ = ["Dataset", "InputScaleWarning", "Split", "make_dataset"]

Split = tuple[Array, Array]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class InputScaleWarning(UserWarning):
    """Training inputs lie far outside [0, 1], where sigmoid neurons saturate."""


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside nnlab."""
    frame, level = sys._getframe(1), 1
    while frame is not None and _inside_nnlab(frame.f_code):
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    return level


def _inside_nnlab(code: CodeType) -> bool:
    # the dataclass's generated __init__ has no file: it is "<string>"
    generated = code.co_filename == "<string>" and code.co_name == "__init__"
    return generated or os.path.abspath(code.co_filename).startswith(_PACKAGE_DIR)


def check_scale(name: str, X: Array) -> None:
    """Warn once for data set ``name`` when its inputs reach far outside [0, 1].

    Standardised data (values within about [-1, 2]) passes; pixel values 0-255 or
    counts 0-16 do not.
    """
    if X.size == 0 or not np.issubdtype(X.dtype, np.number):
        return
    lo, hi = float(X.min()), float(X.max())
    if lo >= -1.0 and hi <= 2.0:
        return
    fix = f"X / {hi:g}" if lo >= 0 else "(X - X.min()) / (X.max() - X.min())"
    warnings.warn(
        f"the training inputs of dataset {name!r} range from {lo:g} to {hi:g}: sigmoid neurons "
        "saturate on inputs far outside [0, 1] and then barely learn (raw 0-255 pixels train "
        f"far worse than scaled ones, often no better than chance). Scale them to [0, 1] first, "
        f"e.g. {fix}.",
        InputScaleWarning,
        stacklevel=_caller_stacklevel(),
    )


@dataclass(frozen=True)
class Dataset:
    """Training, validation and test splits of one labelled data set.

    Arrays are read-only, so a cached data set cannot be changed by accident.
    """

    name: str
    train: Split
    validation: Split | None
    test: Split | None
    n_classes: int
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # every data set, from a loader, from_arrays or built by hand, enters here
        check_scale(self.name, np.asarray(self.train[0]))

    @property
    def n_features(self) -> int:
        """Width of an example row."""
        return int(self.train[0].shape[1])

    def split(self, name: str) -> Split | None:
        """The split called ``"train"``, ``"validation"`` or ``"test"`` (or ``None``)."""
        if name not in ("train", "validation", "test"):
            raise ValueError(f"split must be 'train', 'validation' or 'test', got {name!r}")
        split: Split | None = getattr(self, name)
        return split

    def sizes(self) -> dict[str, int]:
        """Examples per split, 0 for an absent split."""
        return {
            name: 0 if split is None else int(split[0].shape[0])
            for name, split in (
                ("train", self.train),
                ("validation", self.validation),
                ("test", self.test),
            )
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no arrays)."""
        return {
            "name": self.name,
            "n_features": self.n_features,
            "n_classes": self.n_classes,
            "sizes": self.sizes(),
            "description": self.description,
        }

    def __repr__(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in self.sizes().items() if v)
        return f"Dataset({self.name!r}: {parts}; {self.n_features} features, {self.n_classes} classes)"


def _frozen(a: Array) -> Array:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def make_dataset(
    name: str,
    X: Array,
    y: Array,
    *,
    n_validation: int,
    n_test: int,
    rng: np.random.Generator | None,
    n_classes: int,
    description: str,
) -> Dataset:
    """Shuffle with ``rng`` (if given), then cut test, validation and train, in that order."""
    if rng is not None:
        order = rng.permutation(X.shape[0])
        X, y = X[order], y[order]
    test = (X[:n_test], y[:n_test]) if n_test else None
    stop = n_test + n_validation
    validation = (X[n_test:stop], y[n_test:stop]) if n_validation else None
    train = (X[stop:], y[stop:])

    def freeze(split: Split | None) -> Split | None:
        return None if split is None else (_frozen(split[0]), _frozen(split[1]))

    frozen_train = freeze(train)
    assert frozen_train is not None
    return Dataset(
        name=name,
        train=frozen_train,
        validation=freeze(validation),
        test=freeze(test),
        n_classes=n_classes,
        description=description,
    )
