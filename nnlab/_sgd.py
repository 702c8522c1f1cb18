"""The hot loop: one epoch of mini-batch SGD, in matrix form, with reused buffers.

Same algebra as :meth:`Network.backprop` followed by the book's update
``w <- (1 - eta lmbda / n) w - (eta / m) nabla_w``, arranged for speed:

* every intermediate lives in a buffer allocated once per run and written with
  ``out=``, so a mini-batch allocates nothing;
* the output error is scaled by ``eta / m`` before the backward products, so the
  gradients come out already scaled and each weight matrix is touched once;
* rows are gathered with ``np.take(..., mode="clip")``, which skips the bounds check
  buffering of the default mode (indices come from a permutation, so never clip);
* weights and biases are updated in place: the network's own arrays are the state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from nnlab._types import Array
from nnlab.costs import CrossEntropyCost, QuadraticCost
from nnlab.network import Network

__all__ = ["MiniBatchSGD"]


class _Buffers:
    """Scratch arrays for one mini-batch size."""

    def __init__(self, net: Network, m: int) -> None:
        dt = net.dtype
        self.m = m
        self.xb = np.empty((m, net.sizes[0]), dt)
        self.yb = np.empty((m, net.sizes[-1]), dt)
        self.acts = [np.empty((m, n), dt) for n in net.sizes[1:]]
        self.deltas = [np.empty((m, n), dt) for n in net.sizes[1:]]
        self.sps = [np.empty((m, n), dt) for n in net.sizes[1:]]
        self.nabla_w = [np.empty_like(w) for w in net.weights]
        self.nabla_b = [np.empty_like(b) for b in net.biases]
        self.zs = [np.empty((m, n), dt) for n in net.sizes[1:]]


class MiniBatchSGD:
    """Runs SGD epochs over ``X`` (``(n, n_in)``) and one-hot ``Y`` for one network."""

    def __init__(self, net: Network, X: Array, Y: Array, mini_batch_size: int) -> None:
        self.net = net
        self.X = np.ascontiguousarray(X, dtype=net.dtype)
        self.Y = np.ascontiguousarray(Y, dtype=net.dtype)
        self.n = self.X.shape[0]
        self.m = mini_batch_size
        self.n_batches = -(-self.n // self.m)
        self._full = _Buffers(net, self.m)
        tail = self.n % self.m
        self._tail = _Buffers(net, tail) if tail else None
        cost = net.cost
        self._fast_delta = cost in (CrossEntropyCost, QuadraticCost)
        self._quadratic = cost is QuadraticCost

    def epoch(
        self,
        order: Array,
        learning_rate: float,
        lmbda: float = 0.0,
        stop: threading.Event | None = None,
        report: Callable[[int], None] | None = None,
        report_interval: float = 0.02,
    ) -> int:
        """Train on the mini-batches of ``order`` (a permutation of the rows).

        Returns the number of mini-batches done: ``n_batches`` unless ``stop`` was set,
        which ends the epoch before the next mini-batch. ``report(batches_done)`` is
        called at most every ``report_interval`` seconds, and after the last batch.
        """
        net = self.net
        W = net.weights
        b = net.biases
        n_layers = len(W)
        WT = [w.T for w in W]
        decay = 1.0 - learning_rate * lmbda / self.n
        X, Y = self.X, self.Y
        m, n_batches, n_full = self.m, self.n_batches, self.n // self.m
        fast_delta, quadratic, cost = self._fast_delta, self._quadratic, net.cost
        take, matmul, add, subtract, multiply, tanh = (
            np.take,
            np.matmul,
            np.add,
            np.subtract,
            np.multiply,
            np.tanh,
        )
        reduce_sum = np.add.reduce
        is_set = stop.is_set if stop is not None else None
        clock = time.perf_counter
        next_report = clock() + report_interval if report is not None else 0.0
        layers = range(n_layers)
        backward = range(n_layers - 1, -1, -1)

        bufs = self._full
        for k in range(n_batches):
            if is_set is not None and is_set():
                return k
            if k == n_full:
                assert self._tail is not None
                bufs = self._tail
            idx = order[k * m : k * m + bufs.m]
            xb, acts, deltas, sps = bufs.xb, bufs.acts, bufs.deltas, bufs.sps
            take(X, idx, 0, xb, "clip")
            a = xb
            for layer in layers:
                z = acts[layer]
                matmul(a, WT[layer], z)
                add(z, b[layer], z)
                if not fast_delta and layer == n_layers - 1:
                    bufs.zs[layer][...] = z
                # sigmoid(z) = 0.5 tanh(z / 2) + 0.5, in place, without overflow
                multiply(z, 0.5, z)
                tanh(z, z)
                multiply(z, 0.5, z)
                add(z, 0.5, z)
                a = z
            yb = bufs.yb
            take(Y, idx, 0, yb, "clip")
            delta = deltas[-1]
            if fast_delta:
                subtract(a, yb, delta)
                if quadratic:
                    sp = sps[-1]
                    subtract(1.0, a, sp)
                    multiply(sp, a, sp)
                    multiply(delta, sp, delta)
            else:
                delta[...] = cost.delta(bufs.zs[-1], a, yb)
            multiply(delta, learning_rate / bufs.m, delta)
            for layer in backward:
                a_prev = acts[layer - 1] if layer else xb
                if layer:
                    # the error of the layer below uses this layer's weights before the update
                    below = deltas[layer - 1]
                    matmul(delta, W[layer], below)
                    sp = sps[layer - 1]
                    subtract(1.0, a_prev, sp)
                    multiply(sp, a_prev, sp)
                    multiply(below, sp, below)
                nabla_w = bufs.nabla_w[layer]
                nabla_b = bufs.nabla_b[layer]
                matmul(delta.T, a_prev, nabla_w)
                reduce_sum(delta, 0, None, nabla_b)
                w = W[layer]
                if decay != 1.0:
                    multiply(w, decay, w)
                subtract(w, nabla_w, w)
                subtract(b[layer], nabla_b, b[layer])
                if layer:
                    delta = below
            if report is not None:
                now = clock()
                if now >= next_report:
                    report(k + 1)
                    next_report = now + report_interval
        if report is not None:
            report(n_batches)
        return n_batches
