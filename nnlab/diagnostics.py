"""The book's chapter 5 measures of a network, per layer: why deep networks learn slowly.

:func:`diagnose` runs one forward and one backward pass (:meth:`Network.backprop_trace`)
over a fixed sample of the training set -- its first ``DIAGNOSTIC_SAMPLE`` rows, as the
book uses the first 1,000 training images -- with the current weights and no dropout,
and returns a :class:`~nnlab.events.Diagnostics`:

* ``learning_speed``: ``||dC/db||`` of each layer, ``C`` the mean unregularised cost over
  the sample (the book's "speed of learning");
* ``gradient_norm``: ``||dC/dw||`` of each layer, the same ``C``;
* ``weight_norm``: the Frobenius norm of each layer's weights;
* ``saturation``: the share of each layer's neurons that are saturated. A sigmoid (or
  softmax output) activation is saturated within ``SATURATION_MARGIN`` of 0 or 1
  (``sigmoid'(z) < 0.0099``, ``|z| > 4.6``), a tanh one within it of -1 or 1 (``tanh'(z) <
  0.0199``, ``|z| > 2.65``); the share counts (example, neuron) pairs. A ReLU unit is
  saturated when it is dead, ``z <= 0`` for every example of the sample (its gradient is
  then zero and it cannot recover); the share counts units.

``train(..., diagnostics=True)`` calls it after every epoch; with ``diagnostics=False``
(the default) nothing of it runs. On MNIST-sized data the pass costs about 1-2 % of an
epoch (``python benchmarks/bench_epoch.py --only diagnostics``); on the bundled digits,
whose training set is not much larger than the sample, about 20 % of their short epoch.
"""

from __future__ import annotations

import numpy as np

from nnlab._types import Array
from nnlab.activations import ReLU
from nnlab.events import Diagnostics
from nnlab.network import Network, one_hot

__all__ = ["DIAGNOSTIC_SAMPLE", "SATURATION_MARGIN", "diagnose"]

#: Rows of the training set the measures look at (the first ones).
DIAGNOSTIC_SAMPLE = 1000
#: How close to an asymptote an activation must be to count as saturated.
SATURATION_MARGIN = 0.01


def diagnose(net: Network, X: Array, y: Array) -> Diagnostics:
    """The chapter 5 measures of ``net`` on ``X`` (``(n, n_inputs)``) with labels ``y``
    (use a sample: every row is one forward and backward pass).

    >>> d = diagnose(Network([4, 6, 5, 3], seed=0), np.eye(4), np.array([0, 1, 2, 0]))
    >>> len(d.learning_speed), all(0.0 <= s <= 1.0 for s in d.saturation)
    (3, True)
    """
    X = np.asarray(X, dtype=net.dtype)
    n = X.shape[0]
    if n == 0:
        raise ValueError("diagnose needs at least one example")
    with np.errstate(over="ignore"):
        nabla_b, nabla_w, activations = net.backprop_trace(X, one_hot(y, net.n_outputs, net.dtype))
    saturation = []
    for layer, a in enumerate(activations[1:]):
        hidden = layer < len(net.weights) - 1
        neuron = net.activation if hidden else net.output
        if neuron is ReLU:
            saturation.append(float(np.mean(np.all(a <= 0.0, axis=0))))
        else:
            saturation.append(float(np.mean(neuron.saturated(a, SATURATION_MARGIN))))
    return Diagnostics(
        learning_speed=tuple(float(np.linalg.norm(nb)) / n for nb in nabla_b),
        saturation=tuple(saturation),
        weight_norm=tuple(float(np.linalg.norm(w)) for w in net.weights),
        gradient_norm=tuple(float(np.linalg.norm(nw)) / n for nw in nabla_w),
    )
