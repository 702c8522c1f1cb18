"""``Network``: a fully-connected network as in Nielsen's book, chapters 1-3.

Hidden neurons are sigmoid (the default), tanh or ReLU (:mod:`nnlab.activations`); the
output layer is sigmoid or softmax; the cost is a strategy class (:mod:`nnlab.costs`).

Departures from the book, each for speed or safety, none changing the maths:

* a batch is a matrix with one example per row, so a mini-batch is one forward and one
  backward pass of matrix products (the book loops over examples in column vectors);
* biases are vectors of shape ``(n_out,)`` rather than ``(n_out, 1)`` columns;
* ``exp(-z)`` may overflow to infinity for very negative ``z``; the sigmoid is then
  exactly 0, as it should be, and the overflow is not reported as a warning.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from nnlab._checks import as_labels
from nnlab._types import Array
from nnlab.activations import OUTPUT_ACTIVATIONS, Activation, Sigmoid, Softmax, get_activation
from nnlab.costs import Cost, get_cost
from nnlab.params import check_architecture, check_seed, is_int

__all__ = ["MAX_PARAMETERS", "Network", "sigmoid", "sigmoid_prime"]

#: Largest number of weights and biases a network may hold (200 MB in float64; SGD
#: needs about three times that while it trains).
MAX_PARAMETERS = 25_000_000

#: Rows per forward pass when scoring a whole data set (keeps temporaries in cache).
_SCORE_CHUNK = 2048

FILE_FORMAT = "nnlab.network"
#: Version 2 adds ``activation`` and ``output``; version 1 files (sigmoid throughout) still load.
FILE_VERSION = 2
_READABLE_VERSIONS = (1, 2)
_DTYPES: dict[str, type[np.floating[Any]]] = {"float64": np.float64, "float32": np.float32}


def sigmoid(z: Array) -> Array:
    """The logistic function ``1 / (1 + exp(-z))``, elementwise.

    >>> sigmoid(np.array([0.0, 1000.0, -1000.0]))
    array([0.5, 1. , 0. ])
    """
    return Sigmoid.fn(z)


def sigmoid_prime(z: Array) -> Array:
    """Derivative of the sigmoid, ``sigmoid(z) * (1 - sigmoid(z))``.

    >>> float(sigmoid_prime(np.array(0.0)))
    0.25
    """
    return Sigmoid.prime(z)


def check_sizes(sizes: Any) -> tuple[int, ...]:
    """Validate layer sizes and return them as a tuple of ints.

    Raises ``ValueError`` for anything but two or more positive ints, or for a network
    with more than ``MAX_PARAMETERS`` weights and biases.
    """
    example = "such as [784, 30, 10] (inputs, hidden units, outputs)"
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence | np.ndarray):
        raise ValueError(f"sizes must be a list of layer sizes {example}, got {sizes!r}")
    checked = []
    for size in sizes:
        if not is_int(size) or size < 1:
            raise ValueError(
                f"sizes must hold positive ints {example}, got {list(sizes)!r}: "
                f"{size!r} is not a positive int"
            )
        checked.append(int(size))
    if len(checked) < 2:
        raise ValueError(f"sizes needs at least 2 layers (inputs and outputs) {example}, got {checked!r}")
    n_parameters = count_parameters(checked)
    if n_parameters > MAX_PARAMETERS:
        raise ValueError(
            f"sizes {checked!r} give {n_parameters:,} weights and biases, more than the "
            f"limit of {MAX_PARAMETERS:,} (about {MAX_PARAMETERS * 8 // 10**6} MB): "
            "use fewer or smaller hidden layers"
        )
    return tuple(checked)


def count_parameters(sizes: Sequence[int]) -> int:
    """Number of weights and biases of a network with these layer sizes."""
    return sum(n_out * (n_in + 1) for n_in, n_out in itertools.pairwise(sizes))


class Network:
    """A fully-connected network trained by mini-batch SGD.

    ``sizes`` lists the neurons per layer, inputs first: ``[784, 30, 10]``. Layer ``l``
    has ``weights[l]`` of shape ``(sizes[l+1], sizes[l])`` and ``biases[l]`` of shape
    ``(sizes[l+1],)``. ``activation`` is the hidden neurons' model: ``"sigmoid"``
    (default), ``"tanh"`` or ``"relu"``; ``output`` is ``"sigmoid"`` (default) or
    ``"softmax"``. ``cost`` is ``"cross_entropy"`` or ``"quadratic"`` for a sigmoid
    output and ``"log_likelihood"`` for a softmax one (the pairings the book derives;
    ``None``, the default, picks ``"cross_entropy"`` or ``"log_likelihood"``).
    ``init="default"`` draws weights from N(0, 1/n_in) and biases from N(0, 1) (the
    book's chapter 3); ``init="large"`` draws weights from N(0, 1) (chapter 1). Train it
    with :func:`nnlab.train`.

    >>> net = Network([64, 30, 10], seed=0)
    >>> net.feedforward(np.zeros((5, 64))).shape
    (5, 10)
    >>> net
    Network([64, 30, 10], cost='cross_entropy')
    >>> Network([64, 30, 10], activation="relu", output="softmax")
    Network([64, 30, 10], activation='relu', output='softmax', cost='log_likelihood')
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        activation: Literal["sigmoid", "tanh", "relu"] = "sigmoid",
        output: Literal["sigmoid", "softmax"] = "sigmoid",
        cost: str | type[Cost] | None = None,
        init: Literal["default", "large"] = "default",
        seed: int | None = None,
        dtype: Literal["float64", "float32"] | type[np.floating[Any]] = "float64",
    ) -> None:
        self.sizes: tuple[int, ...] = check_sizes(sizes)
        if cost is None:
            cost = "log_likelihood" if output == "softmax" else "cross_entropy"
        self.cost: type[Cost] = get_cost(cost)
        check_architecture(activation, output, self.cost.name)
        #: The hidden neurons (strategy class with ``fn``, ``prime``, ...).
        self.activation: type[Activation] = get_activation(activation)
        #: The output layer: :class:`~nnlab.activations.Sigmoid` or ``Softmax``.
        self.output: type[Sigmoid] | type[Softmax] = OUTPUT_ACTIVATIONS[output]
        self.dtype = _check_dtype(dtype)
        if init not in ("default", "large"):
            raise ValueError(f"init must be 'default' or 'large', got {init!r}")
        self.init = init
        self.seed = check_seed("seed", seed)
        self.network_id: str = str(uuid.uuid4())
        #: Epochs completed over all training runs of this network.
        self.epochs_trained = 0
        rng = np.random.default_rng(self.seed)
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        # Drawn in float64 in the book's order (all biases, then all weights), so a
        # float32 network from the same seed starts from the same values, rounded.
        biases = [rng.standard_normal(n_out) for _, n_out in pairs]
        scale = [1.0 / math.sqrt(n_in) if init == "default" else 1.0 for n_in, _ in pairs]
        weights = [rng.standard_normal((n_out, n_in)) * s for (n_in, n_out), s in zip(pairs, scale)]
        self.biases: list[Array] = [b.astype(self.dtype) for b in biases]
        self.weights: list[Array] = [w.astype(self.dtype) for w in weights]

    # ----------------------------------------------------------------- properties
    @property
    def n_inputs(self) -> int:
        """Width of an input row."""
        return self.sizes[0]

    @property
    def n_outputs(self) -> int:
        """Number of output neurons, one per class."""
        return self.sizes[-1]

    @property
    def n_parameters(self) -> int:
        """Number of weights and biases."""
        return count_parameters(self.sizes)

    def __repr__(self) -> str:
        extra = "".join(
            f"{key}={value!r}, "
            for key, value in (("activation", self.activation.name), ("output", self.output.name))
            if value != "sigmoid"
        )
        return f"Network({list(self.sizes)!r}, {extra}cost={self.cost.name!r})"

    # ----------------------------------------------------------------- inference
    def check_inputs(self, X: Any) -> Array:
        """Return ``X`` as a 2-D float array of this network's dtype, or raise ``ValueError``.

        A single example may be given as a 1-D array of length ``n_inputs``.
        """
        try:
            X = np.asarray(X, dtype=self.dtype)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"X must be an array of numbers: {exc}") from None
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            got = X.shape[1] if X.ndim == 2 else f"an array of shape {X.shape}"
            raise ValueError(
                f"X must have {self.n_inputs} features per row (the network's sizes[0]), "
                f"got {got}: pass X of shape (n_examples, {self.n_inputs})"
            )
        if not np.isfinite(X).all():
            raise ValueError(
                "X contains NaN or infinite values: remove or impute them first (e.g. X = np.nan_to_num(X))"
            )
        checked: Array = X
        return checked

    def check_labels(self, y: Any, n_examples: int) -> Array:
        """Return ``y`` as an int array of class labels, or raise ``ValueError``."""
        y_int = as_labels(y, n_examples)
        if y_int.size and (y_int.min() < 0 or y_int.max() >= self.n_outputs):
            raise ValueError(
                f"labels must lie in 0..{self.n_outputs - 1} (the network has "
                f"{self.n_outputs} outputs), got values from {y_int.min()} to {y_int.max()}"
            )
        return y_int

    def feedforward(self, X: Any) -> Array:
        """Output activations for a batch ``X`` of shape ``(m, n_inputs)`` -> ``(m, n_outputs)``.

        A 1-D ``X`` (one example) gives a 1-D output.
        """
        single = np.ndim(X) == 1
        a = self._feedforward(self.check_inputs(X))
        return a[0] if single else a

    def _feedforward(self, X: Array) -> Array:
        # one example per column inside: w @ a runs ~25% faster than a @ w.T on OpenBLAS
        # when a layer has few neurons (measured for 30 x 784 on 10,000 rows)
        a = X.T
        last = len(self.weights) - 1
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = w @ a
            z += b[:, None]
            # the activation in place: one temporary per layer
            if layer < last:
                a = self.activation.fn_(z)
            elif self.output is Softmax:
                a = Softmax.fn(z, axis=0)
            else:
                a = Sigmoid.fn_(z)
        out: Array = a.T
        return out

    def predict(self, X: Any) -> Array:
        """Predicted class (index of the most active output) for each row of ``X``."""
        predicted: Array = np.argmax(self._feedforward(self.check_inputs(X)), axis=1)
        return predicted

    def evaluate(self, X: Any, y: Any) -> int:
        """Number of rows of ``X`` whose predicted class equals the label in ``y``."""
        X = self.check_inputs(X)
        return self.score(X, self.check_labels(y, X.shape[0]))[0]

    def total_cost(
        self, X: Any, y: Any, lmbda: float = 0.0, regularization: Literal["l2", "l1"] = "l2"
    ) -> float:
        """Mean cost over the examples plus the regularisation term: L2 ``lmbda / (2 n) *
        sum(w**2)`` or L1 ``lmbda / n * sum(|w|)``."""
        X = self.check_inputs(X)
        return self.score(X, self.check_labels(y, X.shape[0]), lmbda, regularization)[1]

    def regularization_term(self, lmbda: float, n: int, regularization: str = "l2") -> float:
        """The book's weight penalty for ``n`` examples: L2 ``lmbda / (2 n) * sum(w**2)``
        or L1 ``lmbda / n * sum(|w|)`` (biases are not penalised)."""
        if not lmbda:
            return 0.0
        if regularization == "l1":
            return (lmbda / n) * sum(float(np.abs(w).sum()) for w in self.weights)
        return 0.5 * (lmbda / n) * sum(float(np.vdot(w, w)) for w in self.weights)

    def score(self, X: Array, y: Array, lmbda: float = 0.0, regularization: str = "l2") -> tuple[int, float]:
        """``(correct, total_cost)`` from one forward pass, in chunks that stay in cache."""
        n = X.shape[0]
        if n == 0:
            return 0, 0.0
        correct, cost = 0, 0.0
        for start in range(0, n, _SCORE_CHUNK):
            a = self._feedforward(X[start : start + _SCORE_CHUNK])
            labels = y[start : start + _SCORE_CHUNK]
            correct += int(np.count_nonzero(np.argmax(a, axis=1) == labels))
            cost += float(np.sum(self.cost.fn(a, one_hot(labels, self.n_outputs, a.dtype))))
        cost /= n
        return correct, cost + self.regularization_term(lmbda, n, regularization)

    # ----------------------------------------------------------------- learning
    def backprop(self, X: Array, Y: Array) -> tuple[list[Array], list[Array]]:
        """Gradient of the summed cost over the batch: ``(nabla_b, nabla_w)`` (see
        :meth:`backprop_trace`, which also gives the activations)."""
        nabla_b, nabla_w, _ = self.backprop_trace(X, Y)
        return nabla_b, nabla_w

    def backprop_trace(self, X: Array, Y: Array) -> tuple[list[Array], list[Array], list[Array]]:
        """Gradient of the summed cost over the batch, in matrix form.

        ``X`` is ``(m, n_inputs)``, ``Y`` the one-hot targets ``(m, n_outputs)``. Returns
        ``(nabla_b, nabla_w, activations)``: the gradients shaped like ``biases`` and
        ``weights``, and each layer's activations, the inputs first. One forward and one
        backward pass for the whole batch; :func:`nnlab.train` runs a buffer-reusing
        version of the same algebra (with dropout, when asked).
        """
        activations = [X]
        zs = []
        a = X
        last = len(self.weights) - 1
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = a @ w.T + b
            zs.append(z)
            a = self.activation.fn(z) if layer < last else self.output.fn(z)
            activations.append(a)
        delta = self.cost.delta(zs[-1], activations[-1], Y)
        nabla_b = [np.empty(0)] * len(self.weights)
        nabla_w = [np.empty(0)] * len(self.weights)
        nabla_b[-1] = delta.sum(axis=0)
        nabla_w[-1] = delta.T @ activations[-2]
        for layer in range(2, len(self.sizes)):
            delta = (delta @ self.weights[-layer + 1]) * self.activation.prime(zs[-layer])
            nabla_b[-layer] = delta.sum(axis=0)
            nabla_w[-layer] = delta.T @ activations[-layer - 1]
        return nabla_b, nabla_w, activations

    # ----------------------------------------------------------------- persistence
    def to_dict(self, *, parameters: bool = True) -> dict[str, Any]:
        """A JSON-ready description; ``parameters=False`` leaves out weights and biases."""
        data: dict[str, Any] = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "network_id": self.network_id,
            "sizes": list(self.sizes),
            "activation": self.activation.name,
            "output": self.output.name,
            "cost": self.cost.name,
            "init": self.init,
            "seed": self.seed,
            "dtype": np.dtype(self.dtype).name,
            "n_parameters": self.n_parameters,
            "epochs_trained": self.epochs_trained,
        }
        if parameters:
            data["weights"] = [w.tolist() for w in self.weights]
            data["biases"] = [b.tolist() for b in self.biases]
        return data

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the network as JSON (sizes, activation, output, cost, weights, biases, id)
        and return the path.

        JSON floats round-trip exactly, so ``Network.load`` gives a bit-identical network.
        """
        if not all(np.isfinite(p).all() for p in (*self.weights, *self.biases)):
            raise ValueError(
                "the network has NaN or infinite weights and cannot be saved: "
                "re-create it, or train it with a smaller learning_rate"
            )
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with tmp.open("w", encoding="utf-8") as fh:
                json.dump(self.to_dict(), fh, allow_nan=False)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Network:
        """Read a network written by :meth:`save`."""
        path = Path(path)
        hint = "expected a JSON file written by Network.save()"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"no network file at {path}") from None
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not an nnlab network file: {hint}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not an nnlab network file ({exc}): {hint}") from None
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    @classmethod
    def from_dict(cls, data: Any) -> Network:
        """Rebuild a network from :meth:`to_dict` output (with parameters)."""
        hint = "expected the JSON written by Network.save()"
        if not isinstance(data, dict) or data.get("format") != FILE_FORMAT:
            raise ValueError(f"not an nnlab network file: {hint}")
        version = data.get("version")
        if isinstance(version, bool) or version not in _READABLE_VERSIONS:
            raise ValueError(
                f"network file version {version!r} is not supported by this "
                f"nnlab (reads versions {_READABLE_VERSIONS}): upgrade nnlab"
            )
        try:
            # version 1 predates the choice of neurons: sigmoid throughout
            net = cls(
                data["sizes"],
                activation=data["activation"] if version >= 2 else "sigmoid",
                output=data["output"] if version >= 2 else "sigmoid",
                cost=data["cost"],
                init=data.get("init", "default"),
                dtype=data.get("dtype", "float64"),
            )
            dtype = net.dtype
            weights = [np.array(w, dtype=dtype) for w in data["weights"]]
            biases = [np.array(b, dtype=dtype) for b in data["biases"]]
        except KeyError as exc:
            raise ValueError(f"network file lacks the field {exc}: {hint}") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"network file is damaged ({exc}): {hint}") from None
        expected_w = [w.shape for w in net.weights]
        expected_b = [b.shape for b in net.biases]
        if [w.shape for w in weights] != expected_w or [b.shape for b in biases] != expected_b:
            raise ValueError(f"weights or biases do not match sizes {list(net.sizes)}: {hint}")
        if not all(np.isfinite(p).all() for p in (*weights, *biases)):
            raise ValueError(f"network file holds non-finite weights: {hint}")
        net.weights, net.biases = weights, biases
        net.network_id = str(data.get("network_id") or net.network_id)
        net.seed = check_seed("seed", data.get("seed"))
        net.epochs_trained = int(data.get("epochs_trained", 0))
        return net


def _check_dtype(dtype: Any) -> type[np.floating[Any]]:
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    try:
        return _DTYPES[name]
    except KeyError:
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}") from None


def one_hot(y: Array, n_classes: int, dtype: Any = np.float64) -> Array:
    """Targets as rows of zeros with a one at each label: ``(m,)`` -> ``(m, n_classes)``."""
    Y = np.zeros((y.shape[0], n_classes), dtype=dtype)
    Y[np.arange(y.shape[0]), y] = 1.0
    return Y
