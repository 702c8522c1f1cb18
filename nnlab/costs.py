"""Cost functions as tiny strategy classes, as in Nielsen's ``network2.py``.

Each cost has a ``name`` (what a saved network stores), ``fn(a, y)`` -- the cost of
each example in a batch -- and ``delta(z, a, y)`` -- the error of the output layer,
dC/dz. Arrays hold one example per row: ``a``, ``y`` and ``z`` are ``(m, n_out)``.

``delta`` is the error of the output layer the cost is meant for: a sigmoid output for
the quadratic and cross-entropy costs, a softmax output for the log-likelihood
(``Network`` refuses the other pairings).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from nnlab._types import Array

__all__ = ["Cost", "CrossEntropyCost", "LogLikelihoodCost", "QuadraticCost", "get_cost"]


class Cost:
    """Base class: subclasses define ``name``, ``fn`` and ``delta``."""

    name: ClassVar[str]

    @staticmethod
    def fn(a: Array, y: Array) -> Array:  # pragma: no cover - interface
        """Return the cost of each row of ``a`` against ``y``, shape ``(m,)``."""
        raise NotImplementedError

    @staticmethod
    def delta(z: Array, a: Array, y: Array) -> Array:  # pragma: no cover - interface
        """Return the output error dC/dz for each row, shape ``(m, n_out)``."""
        raise NotImplementedError


class QuadraticCost(Cost):
    """``C = ||a - y||^2 / 2``; learns slowly when a sigmoid output saturates.

    >>> import numpy as np
    >>> QuadraticCost.fn(np.array([[0.5, 0.5]]), np.array([[1.0, 0.0]]))
    array([0.25])
    """

    name = "quadratic"

    @staticmethod
    def fn(a: Array, y: Array) -> Array:
        diff = a - y
        cost: Array = 0.5 * np.einsum("ij,ij->i", diff, diff)
        return cost

    @staticmethod
    def delta(z: Array, a: Array, y: Array) -> Array:
        # sigmoid'(z) = a (1 - a): cheaper than recomputing the sigmoid of z.
        return (a - y) * a * (1.0 - a)


class CrossEntropyCost(Cost):
    """``C = -sum(y ln a + (1 - y) ln(1 - a))``; its delta has no sigmoid' factor.

    >>> import numpy as np
    >>> float(CrossEntropyCost.fn(np.array([[0.5]]), np.array([[1.0]]))[0])  # ln 2
    0.6931471805599453
    """

    name = "cross_entropy"

    @staticmethod
    def fn(a: Array, y: Array) -> Array:
        # The book uses nan_to_num, which turns log(0) into -1.8e308; clipping to one
        # ulp inside (0, 1) keeps a saturated output's cost large but finite and summable.
        eps = np.finfo(a.dtype).eps if np.issubdtype(a.dtype, np.floating) else 1e-16
        a = np.clip(a, eps, 1.0 - eps)
        cost: Array = -np.sum(y * np.log(a) + (1.0 - y) * np.log1p(-a), axis=-1)
        return cost

    @staticmethod
    def delta(z: Array, a: Array, y: Array) -> Array:
        return a - y


class LogLikelihoodCost(Cost):
    """``C = -ln a_y``, the log of the output at the label; for a softmax output layer.

    With softmax outputs the error is ``dC/dz = a - y`` (the book's chapter 3 derivation),
    so, as with the cross-entropy, a saturated output still learns fast.

    >>> import numpy as np
    >>> float(LogLikelihoodCost.fn(np.array([[0.25, 0.75]]), np.array([[0.0, 1.0]]))[0])  # -ln 0.75
    0.2876820724517809
    """

    name = "log_likelihood"

    @staticmethod
    def fn(a: Array, y: Array) -> Array:
        # clipped as the cross-entropy is: an output of exactly 0 at the label costs a
        # large finite amount rather than infinity
        eps = np.finfo(a.dtype).eps if np.issubdtype(a.dtype, np.floating) else 1e-16
        cost: Array = -np.sum(y * np.log(np.clip(a, eps, 1.0)), axis=-1)
        return cost

    @staticmethod
    def delta(z: Array, a: Array, y: Array) -> Array:
        return a - y


_COSTS: dict[str, type[Cost]] = {c.name: c for c in (CrossEntropyCost, QuadraticCost, LogLikelihoodCost)}


def get_cost(cost: str | type[Cost] | Cost) -> type[Cost]:
    """Return the cost class for a name (``"cross_entropy"``, ``"quadratic"``,
    ``"log_likelihood"``) or class."""
    if isinstance(cost, str):
        try:
            return _COSTS[cost]
        except KeyError:
            raise ValueError(f"unknown cost {cost!r}: use one of {sorted(_COSTS)}") from None
    if isinstance(cost, type) and issubclass(cost, Cost):
        return cost
    if isinstance(cost, Cost):
        return type(cost)
    raise ValueError(f"cost must be a name such as 'cross_entropy' or a Cost class, got {cost!r}")
