"""The :class:`Dataset` type and how a loader builds one from arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnlab._types import Array

__all__ = ["Dataset", "Split", "make_dataset"]

Split = tuple[Array, Array]


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
