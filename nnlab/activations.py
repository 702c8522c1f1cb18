"""Neurons as tiny strategy classes: the book's "other models of artificial neuron".

Each activation has a ``name`` (what a saved network stores), ``fn(z)`` and ``prime(z)``
elementwise, and two in-place forms the SGD loop uses so that a mini-batch allocates
nothing: ``fn_(z)`` overwrites ``z`` with ``fn(z)``, and ``prime_from_output(a, out)``
writes ``f'(z)`` into ``out`` from the activation ``a = f(z)`` alone (each of the three
neurons has a derivative that its output determines). ``saturated(a, margin)`` says which
activations sit within ``margin`` of an asymptote (see :mod:`nnlab.diagnostics`).

:class:`Softmax` is an output layer, not a neuron: it normalises each row of ``z``.

>>> import numpy as np
>>> z = np.array([-1.0, 0.0, 2.0])
>>> Tanh.fn(z).round(3), ReLU.fn(z), ReLU.prime(z)
(array([-0.762,  0.   ,  0.964]), array([0., 0., 2.]), array([0., 0., 1.]))
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from nnlab._types import Array

__all__ = [
    "HIDDEN_ACTIVATIONS",
    "OUTPUT_ACTIVATIONS",
    "Activation",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "get_activation",
]


class Activation:
    """Base class of the elementwise neurons: subclasses define every method."""

    name: ClassVar[str]

    @staticmethod
    def fn(z: Array) -> Array:  # pragma: no cover - interface
        """The activation ``f(z)``, elementwise."""
        raise NotImplementedError

    @staticmethod
    def prime(z: Array) -> Array:  # pragma: no cover - interface
        """The derivative ``f'(z)``, elementwise."""
        raise NotImplementedError

    @staticmethod
    def fn_(z: Array) -> Array:  # pragma: no cover - interface
        """Overwrite ``z`` with ``f(z)`` and return it."""
        raise NotImplementedError

    @staticmethod
    def prime_from_output(a: Array, out: Array) -> Array:  # pragma: no cover - interface
        """Write ``f'(z)`` into ``out`` given ``a = f(z)``, and return ``out``."""
        raise NotImplementedError

    @staticmethod
    def saturated(a: Array, margin: float) -> Array:  # pragma: no cover - interface
        """Boolean mask of the activations within ``margin`` of an asymptote."""
        raise NotImplementedError


class Sigmoid(Activation):
    """The logistic neuron ``1 / (1 + exp(-z))`` of chapters 1-3; ``f' = a (1 - a)``.

    ``exp(-z)`` overflows to infinity for very negative ``z``: the output is then exactly
    0, as it should be, and the overflow is not reported.
    """

    name = "sigmoid"

    @staticmethod
    def fn(z: Array) -> Array:
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-z))

    @staticmethod
    def prime(z: Array) -> Array:
        s = Sigmoid.fn(z)
        return s * (1.0 - s)

    @staticmethod
    def fn_(z: Array) -> Array:
        with np.errstate(over="ignore"):
            np.negative(z, z)
            np.exp(z, z)
            np.add(z, 1.0, z)
            return np.divide(1.0, z, z)

    @staticmethod
    def prime_from_output(a: Array, out: Array) -> Array:
        np.subtract(1.0, a, out)
        return np.multiply(out, a, out)

    @staticmethod
    def saturated(a: Array, margin: float) -> Array:
        return (a < margin) | (a > 1.0 - margin)


class Tanh(Activation):
    """The hyperbolic tangent, a sigmoid rescaled to (-1, 1); ``f' = 1 - a**2``."""

    name = "tanh"

    @staticmethod
    def fn(z: Array) -> Array:
        return np.tanh(z)

    @staticmethod
    def prime(z: Array) -> Array:
        return 1.0 - np.tanh(z) ** 2

    @staticmethod
    def fn_(z: Array) -> Array:
        return np.tanh(z, z)

    @staticmethod
    def prime_from_output(a: Array, out: Array) -> Array:
        np.multiply(a, a, out)
        return np.subtract(1.0, out, out)

    @staticmethod
    def saturated(a: Array, margin: float) -> Array:
        return np.abs(a) > 1.0 - margin


class ReLU(Activation):
    """The rectified linear unit ``max(0, z)``; ``f'`` is 1 for ``z > 0`` and 0 otherwise
    (0 at ``z = 0`` itself, a choice: the function has no derivative there)."""

    name = "relu"

    @staticmethod
    def fn(z: Array) -> Array:
        return np.maximum(z, 0.0)

    @staticmethod
    def prime(z: Array) -> Array:
        return (z > 0).astype(z.dtype)

    @staticmethod
    def fn_(z: Array) -> Array:
        return np.maximum(z, 0.0, out=z)

    @staticmethod
    def prime_from_output(a: Array, out: Array) -> Array:
        # a >= 0, so sign(a) is the 0/1 derivative, computed float to float (no cast)
        return np.sign(a, out)

    @staticmethod
    def saturated(a: Array, margin: float) -> Array:
        # a dead unit: for ReLU "saturated" means no output (z <= 0); the diagnostics count
        # a unit as dead only when this holds for every example they look at
        return a <= 0.0


class Softmax:
    """The softmax output layer of chapter 3: ``a_j = exp(z_j) / sum_k exp(z_k)`` per row.

    Its outputs are positive and sum to 1, a probability distribution over the classes.
    Paired with the log-likelihood cost, the output error is ``a - y`` (the book's
    derivation), so the layer needs no ``prime``.

    >>> Softmax.fn(np.array([[0.0, 0.0], [1000.0, 0.0]]))
    array([[0.5, 0.5],
           [1. , 0. ]])
    """

    name = "softmax"

    @staticmethod
    def fn(z: Array, axis: int = -1) -> Array:
        """Softmax along ``axis`` (rows of a batch by default); shifted by the maximum,
        which leaves the result unchanged and keeps ``exp`` from overflowing."""
        e = np.exp(z - np.max(z, axis=axis, keepdims=True))
        out: Array = e / np.sum(e, axis=axis, keepdims=True)
        return out

    @staticmethod
    def saturated(a: Array, margin: float) -> Array:
        """Outputs within ``margin`` of 0 or 1, as for the sigmoid."""
        return (a < margin) | (a > 1.0 - margin)


#: Hidden-layer neurons by name.
HIDDEN_ACTIVATIONS: dict[str, type[Activation]] = {a.name: a for a in (Sigmoid, Tanh, ReLU)}
#: Output layers by name.
OUTPUT_ACTIVATIONS: dict[str, type[Sigmoid] | type[Softmax]] = {"sigmoid": Sigmoid, "softmax": Softmax}


def get_activation(name: str) -> type[Activation]:
    """The hidden-layer neuron called ``name`` (``"sigmoid"``, ``"tanh"``, ``"relu"``).

    >>> get_activation("relu").name
    'relu'
    """
    try:
        return HIDDEN_ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {name!r}: use one of {sorted(HIDDEN_ACTIVATIONS)}") from None
