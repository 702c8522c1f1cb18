"""The hot loop: one epoch of mini-batch SGD, in matrix form, with reused buffers.

Same algebra as :meth:`Network.backprop` followed by the book's update
``w <- (1 - eta lmbda / n) w - (eta / m) nabla_w``, arranged for speed:

* every intermediate lives in a buffer allocated once per run and written with
  ``out=``, so a mini-batch allocates nothing;
* no ufunc call broadcasts: numpy (2.4) gives a broadcasting call a buffered iterator,
  which allocates a temporary the size of the result and takes ~1.0 µs of CPU where
  the element-wise call takes ~0.6 µs. So the biases are first copied into an
  ``(m, n)`` tile (``tile[...] = b`` does not buffer) and added element-wise, and
  ``nabla_b`` is the product ``ones(m) @ delta`` rather than a sum over axis 0 (a
  reduction buffers too);
* the output error is scaled by ``eta / m`` before the backward products, so the
  gradients come out already scaled and each weight matrix is touched once;
* rows are gathered with ``X.take(idx, 0, out, "clip")``: the method skips
  ``np.take``'s Python wrapper, and "clip" skips the buffering the default mode does
  for its bounds check (indices come from a permutation, so nothing is ever clipped);
* weights and biases are updated in place: the network's own arrays are the state;
* a hidden layer's ``f'(z)`` is computed in the forward pass, from its output, into a
  buffer the backward pass reads (with dropout, the mask multiplies it there too).

The chapter 3 options ride on the same buffers: tanh and ReLU neurons, a softmax
output (its row maximum found with ``argmax`` and a gather: a ``max`` reduction costs
twice as long and allocates its iterator), L1 regularisation, momentum (velocities
:attr:`MiniBatchSGD.velocity_w` and ``velocity_b``, zero when the engine is made) and
inverted dropout (masks drawn into a buffer from the engine's own generator).

With ``monitor=True`` each mini-batch also copies its output activations (the forward
pass backprop needs anyway) into one ``(n, n_out)`` buffer allocated with the engine;
after the epoch, one vectorised pass over that buffer gives the running training cost
and accuracy, so monitoring adds one small copy per mini-batch and no full forward pass.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from nnlab._types import Array
from nnlab.activations import Sigmoid, Softmax
from nnlab.costs import CrossEntropyCost, LogLikelihoodCost, QuadraticCost
from nnlab.network import Network

__all__ = ["MiniBatchSGD", "dropout_generator"]

#: Rows per chunk when reducing the recorded outputs: keeps the temporaries in L2
#: (2,048 rows of 10 outputs made the reduction ~2.5x slower).
_REDUCE_CHUNK = 1024


def dropout_generator(seed: int | None) -> np.random.Generator:
    """The generator of a run's dropout masks: its own stream, derived from the run's
    ``seed`` (the shuffles use ``default_rng(seed)`` itself), so the same seed gives the
    same masks.

    >>> float(dropout_generator(0).random()) == float(dropout_generator(0).random())
    True
    """
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])


class _Plan:
    """Scratch arrays for one mini-batch size, grouped per layer in the order the loop
    uses them, so a mini-batch does one tuple unpack per layer and no index arithmetic."""

    def __init__(self, net: Network, m: int, engine: MiniBatchSGD) -> None:
        dt = net.dtype
        self.m = m
        self.xb = np.empty((m, net.sizes[0]), dt)
        self.yb = np.empty((m, net.sizes[-1]), dt)
        acts = [np.empty((m, n), dt) for n in net.sizes[1:]]
        deltas = [np.empty((m, n), dt) for n in net.sizes[1:]]
        self.output, self.delta = acts[-1], deltas[-1]
        self.sp = np.empty_like(acts[-1])
        self.z_copy = np.empty_like(acts[-1])  # only for costs other than the built-in ones
        # softmax: the row maxima (gathered from argmax) and sums
        n_out = net.sizes[-1]
        self.row = np.empty(m, dt)
        self.row_col = self.row[:, None]
        self.row_arg = np.empty(m, np.intp)
        self.row_offsets = np.arange(m, dtype=np.intp) * n_out
        self.output_flat = self.output.reshape(-1)
        self.ones_out = np.ones(n_out, dt)
        inputs = [self.xb, *acts[:-1]]
        self.ones = np.ones(m, dt)
        hidden = len(net.weights) - 1
        # f'(z) of each hidden layer (times its dropout mask), written in the forward pass
        primes = [np.empty_like(acts[layer]) for layer in range(hidden)]
        masks = [np.empty_like(acts[layer]) if engine.dropout else None for layer in range(hidden)]
        self.forward = [
            (
                w.T,
                b,
                np.empty_like(z),
                z,
                primes[layer] if layer < hidden else None,
                masks[layer] if layer < hidden else None,
            )
            for layer, (w, b, z) in enumerate(zip(net.weights, net.biases, acts))
        ]
        self.backward = []
        for layer in range(len(net.weights) - 1, -1, -1):
            below = deltas[layer - 1] if layer else None
            self.backward.append(
                (
                    net.weights[layer],
                    net.biases[layer],
                    deltas[layer].T,
                    deltas[layer],
                    inputs[layer],
                    below,
                    primes[layer - 1] if layer else self.sp,  # layer 0 has no layer below: unused
                    np.empty_like(net.weights[layer]),
                    np.empty_like(net.biases[layer]),
                    engine._scratch_w[layer],
                    engine.velocity_w[layer],
                    engine.velocity_b[layer],
                )
            )


class MiniBatchSGD:
    """Runs SGD epochs over ``X`` (``(n, n_in)``) and one-hot ``Y`` for one network.

    The buffers hold views of the network's weight arrays: if you replace
    ``net.weights[l]`` or ``net.biases[l]`` by new arrays, make a new ``MiniBatchSGD``.

    ``regularization`` is ``"l2"`` (the book's weight decay) or ``"l1"`` (``w <- w -
    (eta lmbda / n) sgn(w) - (eta / m) nabla_w``, with ``sgn(0) = 0``); its strength is
    the ``lmbda`` of each :meth:`epoch`. ``momentum=mu`` runs the book's momentum-based
    descent: ``v <- mu v - eta grad C`` (the regularisation's gradient included), then
    ``w <- w + v``, for weights and biases. ``dropout=p`` drops each hidden neuron of each
    example with probability ``p`` in every mini-batch and scales the kept ones by
    ``1 / (1 - p)`` (inverted dropout), so the network is evaluated as it is, without
    dropout or rescaling. Masks are ``floor(u + 1 - p) / (1 - p)`` with ``u`` drawn by
    ``rng.random(out=...)``, mini-batch after mini-batch, hidden layer after hidden layer,
    shape ``(m, n_hidden)``; ``rng`` defaults to :func:`dropout_generator` of no seed.

    With ``monitor=True``, every :meth:`epoch` also sets :attr:`running_cost` and
    :attr:`running_accuracy` from the outputs the mini-batches computed on their way.
    They are measured while the weights change: each example is scored with the
    weights as they were before its own mini-batch's update, so they differ from a full
    pass after the epoch (:meth:`Network.total_cost`), which scores every example with
    the final weights. While the network still improves, the running cost is the higher.
    With dropout they score the thinned networks the mini-batches trained.

    >>> import numpy as np
    >>> from nnlab.network import one_hot
    >>> net = Network([4, 5, 3], seed=0)
    >>> X, y = np.random.default_rng(0).random((20, 4)), np.arange(20) % 3
    >>> engine = MiniBatchSGD(net, X, one_hot(y, 3), 5, monitor=True)
    >>> engine.epoch(np.arange(20), 3.0)
    4
    >>> 0.0 <= engine.running_accuracy <= 1.0, engine.running_cost > 0.0
    (True, True)
    """

    #: Mean over the epoch's examples of the cost each had in the forward pass of its
    #: mini-batch (before that mini-batch's update), plus the regularisation term
    #: (:meth:`Network.regularization_term`) with the weights at the end of the epoch:
    #: the same formula as :meth:`Network.total_cost`. ``None`` without ``monitor`` or
    #: before an epoch.
    running_cost: float | None
    #: Fraction of the epoch's examples whose most active output, in that same forward
    #: pass, is their label. ``None`` without ``monitor`` or before an epoch.
    running_accuracy: float | None
    #: Momentum's velocities, shaped like the weights and biases: part of the run's state
    #: (zero until an epoch with ``momentum`` runs; save and restore them to resume).
    velocity_w: list[Array]
    velocity_b: list[Array]

    def __init__(
        self,
        net: Network,
        X: Array,
        Y: Array,
        mini_batch_size: int,
        *,
        monitor: bool = False,
        regularization: str = "l2",
        momentum: float = 0.0,
        dropout: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> None:
        if regularization not in ("l2", "l1"):
            raise ValueError(f"regularization must be 'l2' or 'l1', got {regularization!r}")
        if not 0.0 <= momentum < 1.0 or not 0.0 <= dropout < 1.0:
            raise ValueError(f"momentum and dropout must lie in [0, 1), got {momentum!r} and {dropout!r}")
        self.net = net
        self.X = np.ascontiguousarray(X, dtype=net.dtype)
        self.Y = np.ascontiguousarray(Y, dtype=net.dtype)
        self.n: int = self.X.shape[0]
        self.m = mini_batch_size
        self.n_batches: int = -(-self.n // self.m)
        self.regularization = regularization
        self.momentum = float(momentum)
        self.dropout = float(dropout)
        self.rng = rng if rng is not None else dropout_generator(None)
        self.velocity_w = [np.zeros_like(w) for w in net.weights]
        self.velocity_b = [np.zeros_like(b) for b in net.biases]
        self._scratch_w = [np.empty_like(w) for w in net.weights]
        self._full = _Plan(net, self.m, self)
        tail = self.n % self.m
        self._tail = _Plan(net, tail, self) if tail else None
        self._quadratic = net.cost is QuadraticCost
        self._custom_cost = net.cost not in (CrossEntropyCost, QuadraticCost, LogLikelihoodCost)
        self.monitor = monitor
        self.running_cost = self.running_accuracy = None
        # one view per mini-batch into the outputs buffer, made once: the loop only indexes
        self._outputs = np.empty_like(self.Y) if monitor else None
        self._output_views: list[Array] | None = None
        if self._outputs is not None:
            m = self.m
            self._output_views = [self._outputs[k * m : (k + 1) * m] for k in range(self.n_batches)]
            self._labels = np.argmax(self.Y, axis=1)
            self._rows = np.arange(min(_REDUCE_CHUNK, self.n))

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
        called after the first and the last batch, and in between at most every
        ``report_interval`` seconds. With ``monitor``, :attr:`running_cost` and
        :attr:`running_accuracy` then describe the mini-batches done (``None`` if none).
        """
        self.running_cost = self.running_accuracy = None
        # exp(-z) overflows to inf for very negative z (the sigmoid is then exactly 0);
        # a diverging run makes NaNs, which the caller detects after the epoch.
        with np.errstate(over="ignore", invalid="ignore"):
            done = self._epoch(order, learning_rate, lmbda, stop, report, report_interval)
            if self._outputs is not None and done:
                self._reduce(order, min(done * self.m, self.n), lmbda)
        return done

    def _reduce(self, order: Array, rows: int, lmbda: float) -> None:
        """Running cost and accuracy from the outputs the first ``rows`` examples had."""
        assert self._outputs is not None
        correct, cost = 0, 0.0
        for start in range(0, rows, _REDUCE_CHUNK):
            stop = min(start + _REDUCE_CHUNK, rows)
            a, idx = self._outputs[start:stop], order[start:stop]
            labels = self._labels.take(idx)
            correct += int(np.count_nonzero(np.argmax(a, axis=1) == labels))
            cost += self._cost_sum(a, idx, labels)
        cost /= rows
        cost += self.net.regularization_term(lmbda, self.n, self.regularization)
        self.running_cost, self.running_accuracy = cost, correct / rows

    def _cost_sum(self, a: Array, idx: Array, labels: Array) -> float:
        """Summed cost of outputs ``a`` for the examples ``idx`` (whose ``labels`` are given)."""
        cost = self.net.cost
        if cost is LogLikelihoodCost:  # -sum ln a at the labels, clipped as the cost is
            at_label = a[self._rows[: a.shape[0]], labels]
            return -float(np.sum(np.log(np.clip(at_label, np.finfo(a.dtype).eps, 1.0))))
        if cost is not CrossEntropyCost:
            return float(np.sum(cost.fn(a, self.Y.take(idx, 0))))
        # CrossEntropyCost.fn for one-hot targets in half the passes: -sum ln(1 - a) over
        # every output, then each label's ln(1 - a) swapped for ln(a); the same clipping.
        eps = np.finfo(a.dtype).eps
        a = np.clip(a, eps, 1.0 - eps)
        at_label = a[self._rows[: a.shape[0]], labels]
        return -float(np.sum(np.log1p(-a)) - np.sum(np.log1p(-at_label)) + np.sum(np.log(at_label)))

    def _epoch(
        self,
        order: Array,
        learning_rate: float,
        lmbda: float,
        stop: threading.Event | None,
        report: Callable[[int], None] | None,
        report_interval: float,
    ) -> int:
        decay = 1.0 - learning_rate * lmbda / self.n
        shrink = learning_rate * lmbda / self.n  # L1's step, and the L2 gradient's factor with momentum
        mu = self.momentum
        l1 = self.regularization == "l1" and shrink != 0.0
        take_x, take_y = self.X.take, self.Y.take  # the methods skip np.take's Python wrapper
        # np.dot dispatches ~0.3 µs faster than np.matmul for these 2-D products
        dot, add, subtract, multiply = np.dot, np.add, np.subtract, np.multiply
        negative, exp, divide, sign, floor = np.negative, np.exp, np.divide, np.sign, np.floor
        quadratic, custom_cost, cost = self._quadratic, self._custom_cost, self.net.cost
        activation = self.net.activation
        sigmoid_hidden = activation is Sigmoid
        hidden_fn, hidden_prime = activation.fn_, activation.prime_from_output
        softmax = self.net.output is Softmax
        keep = 1.0 - self.dropout
        random, dt = self.rng.random, self.net.dtype
        is_set = stop.is_set if stop is not None else None
        clock = time.perf_counter
        next_report = clock()  # the first mini-batch is always reported
        m, n_batches, n_full = self.m, self.n_batches, self.n // self.m
        output_views = self._output_views

        plan = self._full
        for k in range(n_batches):
            if is_set is not None and is_set():
                return k
            if k == n_full:
                assert self._tail is not None
                plan = self._tail
            idx = order[k * m : k * m + plan.m]
            xb, yb, delta, ones = plan.xb, plan.yb, plan.delta, plan.ones
            take_x(idx, 0, xb, "clip")
            a = xb
            for wt, b, tile, z, prime, mask in plan.forward:
                tile[...] = b
                dot(a, wt, z)
                add(z, tile, z)
                if prime is not None:  # a hidden layer
                    if sigmoid_hidden:  # the sigmoid, in place: 1 / (1 + exp(-z))
                        negative(z, z)
                        exp(z, z)
                        add(z, 1.0, z)
                        divide(1.0, z, z)
                        subtract(1.0, z, prime)  # sigmoid'(z) = a (1 - a)
                        multiply(prime, z, prime)
                    else:
                        hidden_fn(z)
                        hidden_prime(z, prime)
                    if mask is not None:  # inverted dropout: keep with probability 1 - p
                        random(dtype=dt, out=mask)
                        add(mask, keep, mask)
                        floor(mask, mask)
                        multiply(mask, 1.0 / keep, mask)
                        multiply(z, mask, z)
                        multiply(prime, mask, prime)
                else:  # the output layer
                    if custom_cost:
                        plan.z_copy[...] = z
                    if softmax:  # shift each row by its maximum, exponentiate, normalise
                        z.argmax(1, plan.row_arg)
                        add(plan.row_arg, plan.row_offsets, plan.row_arg)
                        plan.output_flat.take(plan.row_arg, 0, plan.row, "clip")
                        tile[...] = plan.row_col
                        subtract(z, tile, z)
                        exp(z, z)
                        dot(z, plan.ones_out, plan.row)
                        tile[...] = plan.row_col
                        divide(z, tile, z)
                    else:
                        negative(z, z)
                        exp(z, z)
                        add(z, 1.0, z)
                        divide(1.0, z, z)
                a = z
            if output_views is not None:
                output_views[k][...] = a  # ~0.1 µs: the monitoring's whole share of the loop
            take_y(idx, 0, yb, "clip")
            if custom_cost:
                delta[...] = cost.delta(plan.z_copy, a, yb)
            else:
                subtract(a, yb, delta)  # cross-entropy and log-likelihood: dC/dz = a - y
                if quadratic:  # quadratic: (a - y) * sigmoid'(z)
                    sp = plan.sp
                    subtract(1.0, a, sp)
                    multiply(sp, a, sp)
                    multiply(delta, sp, delta)
            multiply(delta, learning_rate / plan.m, delta)
            for (
                w,
                b,
                delta_t,
                delta,
                a_prev,
                below,
                prime,
                nabla_w,
                nabla_b,
                scratch,
                v_w,
                v_b,
            ) in plan.backward:
                if below is not None:
                    # the layer below's error needs this layer's weights before the update
                    dot(delta, w, below)
                    multiply(below, prime, below)
                dot(delta_t, a_prev, nabla_w)
                dot(ones, delta, nabla_b)
                if mu:  # v <- mu v - eta grad; w <- w + v
                    multiply(v_w, mu, v_w)
                    subtract(v_w, nabla_w, v_w)
                    if shrink:
                        if l1:
                            sign(w, scratch)
                            multiply(scratch, shrink, scratch)
                        else:
                            multiply(w, shrink, scratch)
                        subtract(v_w, scratch, v_w)
                    add(w, v_w, w)
                    multiply(v_b, mu, v_b)
                    subtract(v_b, nabla_b, v_b)
                    add(b, v_b, b)
                    continue
                if l1:  # w <- w - (eta lmbda / n) sgn(w) - (eta / m) nabla_w
                    sign(w, scratch)
                    multiply(scratch, shrink, scratch)
                    subtract(w, scratch, w)
                elif decay != 1.0:
                    multiply(w, decay, w)
                subtract(w, nabla_w, w)
                subtract(b, nabla_b, b)
            if report is not None:
                now = clock()
                if now >= next_report:
                    report(k + 1)
                    next_report = now + report_interval
        if report is not None:
            report(n_batches)
        return n_batches
