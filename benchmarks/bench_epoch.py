"""Seconds per SGD epoch: nnlab against the book's per-example loop and scikit-learn,
and what train()'s per-epoch monitoring costs on top of the SGD pass.

Run by hand (needs the ``bench`` extra: ``pip install -e ".[bench]"``)::

    python benchmarks/bench_epoch.py            # MNIST-shaped data, the digits, monitoring
    python benchmarks/bench_epoch.py --repeats 5
    python benchmarks/bench_epoch.py --only monitoring --clock wall
    python benchmarks/bench_epoch.py --only engine --baseline main   # this engine vs main's
    python benchmarks/bench_epoch.py --only diagnostics

Every implementation trains the same network (sizes [784, 30, 10] on 50,000 x 784
MNIST-shaped random data made here, [64, 30, 10] on the digits; mini-batch 10, learning
rate 3.0) from the same initial weights. Runs are interleaved, BLAS is pinned to one
thread, and the script prints medians and ratios measured in this one process, so a
busy machine slows every contender alike. The OpenBLAS kernel in use is printed: this
machine type may force an older one with OPENBLAS_CORETYPE (run once with
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`` to see the current one).

Times are CPU seconds of the calling thread by default (``--clock cpu``): with BLAS on
one thread every contender computes in that thread, and on a shared machine CPU time is
far steadier than wall time, which counts the moments other processes hold the core.
(Work done in other threads is not counted: compare with ``--clock wall``.)

The monitoring section times, on the MNIST-shaped data, the bare SGD pass
(``MiniBatchSGD.epoch``), a default ``train()`` epoch (running training cost and
accuracy plus the test set) and a ``training_cost="full"`` epoch (plus a pass over the
50,000 training rows), each epoch from ``on_epoch_start`` to ``on_epoch_end``; it prints
the median over rounds of each one's ratio to the bare pass of the same round.

The engine section times the default sigmoid/cross-entropy SGD pass of this checkout's
``MiniBatchSGD`` against the one of another git revision (``--baseline``, default
``main``), loaded from ``git show REV:nnlab/_sgd.py`` into a temporary module, same data,
same orders, interleaved; and the chapter 3 options (tanh, ReLU, softmax, L1, momentum,
dropout) against the default pass. The diagnostics section times train() epochs with
``diagnostics=True`` against ``diagnostics=False`` (on / off ratio per round).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import nnlab
from nnlab._sgd import MiniBatchSGD
from nnlab.diagnostics import DIAGNOSTIC_SAMPLE, diagnose
from nnlab.network import one_hot

ETA, M = 3.0, 10
CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.thread_time, "wall": time.perf_counter}


def book_sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class BookNetwork:
    """Nielsen's network2.py (cross-entropy), as the book writes it: column vectors,
    one ``backprop`` per example, gradients summed with list comprehensions."""

    def __init__(self, net: nnlab.Network) -> None:
        self.num_layers = len(net.sizes)
        self.weights = [w.copy() for w in net.weights]
        self.biases = [b.reshape(-1, 1).copy() for b in net.biases]

    def update_mini_batch(self, mini_batch: list[tuple[np.ndarray, np.ndarray]], eta: float) -> None:
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [w - (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = book_sigmoid(z)
            activations.append(activation)
        delta = activations[-1] - y  # CrossEntropyCost.delta
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for layer in range(2, self.num_layers):
            z = zs[-layer]
            sp = book_sigmoid(z) * (1 - book_sigmoid(z))
            delta = np.dot(self.weights[-layer + 1].transpose(), delta) * sp
            nabla_b[-layer] = delta
            nabla_w[-layer] = np.dot(delta, activations[-layer - 1].transpose())
        return (nabla_b, nabla_w)


def per_example_epoch(book: BookNetwork, training_data: list, order: np.ndarray) -> None:
    """One epoch of the book's SGD over the same mini-batches as the others.

    ``training_data`` is the book's list of ``(x, y)`` column vectors, made once; the
    reordering stands for the book's ``random.shuffle`` at the start of each epoch.
    """
    shuffled = [training_data[i] for i in order]
    for k in range(0, len(shuffled), M):
        book.update_mini_batch(shuffled[k : k + M], ETA)


def straightforward_epoch(net: nnlab.Network, X: np.ndarray, Y: np.ndarray, order: np.ndarray) -> None:
    """Matrix form written plainly: one forward and one backward pass per mini-batch."""
    weights = [w.copy() for w in net.weights]
    biases = [b.copy() for b in net.biases]
    for k in range(0, X.shape[0], M):
        idx = order[k : k + M]
        activations = [X[idx]]
        for w, b in zip(weights, biases):
            activations.append(book_sigmoid(activations[-1] @ w.T + b))
        delta = activations[-1] - Y[idx]
        for layer in range(len(weights) - 1, -1, -1):
            nabla_w = delta.T @ activations[layer]
            nabla_b = delta.sum(axis=0)
            if layer:
                a = activations[layer]
                below = (delta @ weights[layer]) * a * (1 - a)
            weights[layer] -= (ETA / M) * nabla_w
            biases[layer] -= (ETA / M) * nabla_b
            if layer:
                delta = below


def make_mnist_shaped(n: int = 50_000, seed: int = 0) -> nnlab.Dataset:
    """Random data shaped like MNIST: 784 features in [0, 1], ~19% non-zero, 10 classes."""
    rng = np.random.default_rng(seed)
    X = rng.random((n + 10_000, 784))
    X[rng.random(X.shape) < 0.81] = 0.0
    y = rng.integers(0, 10, n + 10_000)
    return nnlab.datasets.from_arrays(X, y, test=10_000, seed=None, name="mnist-shaped")


def contenders(
    data: nnlab.Dataset, sizes: list[int], clock: Callable[[], float]
) -> dict[str, Callable[[np.ndarray], float]]:
    X, y = data.train
    Y = one_hot(y, sizes[-1])
    X32 = X.astype(np.float32)
    template = nnlab.Network(sizes, seed=0)
    n = X.shape[0]

    def fresh(dtype: str = "float64") -> nnlab.Network:
        net = nnlab.Network(sizes, seed=0, dtype=dtype)  # type: ignore[arg-type]
        return net

    def timed(fn: Callable[[], object]) -> float:
        start = clock()
        fn()
        return clock() - start

    def nnlab_bare(order: np.ndarray) -> float:
        engine = MiniBatchSGD(fresh(), X, Y, M)
        return timed(lambda: engine.epoch(order, ETA))

    def nnlab_as_train_drives_it(order: np.ndarray) -> float:
        # what train() does with no observers attached: a stop event checked per batch
        engine = MiniBatchSGD(fresh(), X, Y, M)
        stop = threading.Event()
        return timed(lambda: engine.epoch(order, ETA, 0.0, stop, None))

    def nnlab_float32(order: np.ndarray) -> float:
        engine = MiniBatchSGD(fresh("float32"), X32, Y, M)
        return timed(lambda: engine.epoch(order, ETA))

    def nnlab_train_call(order: np.ndarray) -> float:
        # the whole train() call: setup, SGD pass, running training cost, test accuracy
        net = fresh()
        return timed(lambda: nnlab.train(net, data, epochs=1, seed=0, progress=False))

    book_data = [(X[i].reshape(-1, 1), Y[i].reshape(-1, 1)) for i in range(n)]

    def reference(order: np.ndarray) -> float:
        book = BookNetwork(template)
        return timed(lambda: per_example_epoch(book, book_data, order))

    def straightforward(order: np.ndarray) -> float:
        return timed(lambda: straightforward_epoch(template, X, Y, order))

    runners = {
        "nnlab (SGD pass)": nnlab_bare,
        "nnlab, train()'s loop, no observers": nnlab_as_train_drives_it,
        "nnlab float32": nnlab_float32,
        "nnlab train(epochs=1) incl. evaluation": nnlab_train_call,
        "per-example reference (book)": reference,
        "straightforward matrix form": straightforward,
    }
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:  # pragma: no cover - the bench extra is missing
        print("scikit-learn is not installed: pip install -e '.[bench]' to compare with it")
        return runners

    def sklearn_epoch(order: np.ndarray) -> float:
        model = MLPClassifier(
            hidden_layer_sizes=tuple(sizes[1:-1]),
            activation="logistic",
            solver="sgd",
            batch_size=M,
            learning_rate_init=ETA,
            momentum=0.0,
            nesterovs_momentum=False,
            alpha=0.0,
            max_iter=1,
            shuffle=True,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return timed(lambda: model.fit(X, y))

    runners["scikit-learn MLPClassifier (sgd, logistic)"] = sklearn_epoch
    return runners


def bench(name: str, data: nnlab.Dataset, sizes: list[int], repeats: int, clock: Callable[[], float]) -> None:
    runners = contenders(data, sizes, clock)
    times: dict[str, list[float]] = {k: [] for k in runners}
    rng = np.random.default_rng(1)
    for _ in range(repeats):
        order = rng.permutation(data.train[0].shape[0])
        for label, run in runners.items():  # interleaved: every contender once per round
            times[label].append(run(order))
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["nnlab (SGD pass)"]
    print(
        f"\n{name}: sizes {sizes}, {data.train[0].shape[0]:,} training rows, mini-batch {M}, {repeats} rounds"
    )
    print(f"{'implementation':44s} {'s/epoch':>9s} {'x nnlab':>9s}")
    for label, t in med.items():
        print(f"{label:44s} {t:9.4f} {t / base:9.2f}")
    overhead = 100 * (med["nnlab, train()'s loop, no observers"] / base - 1)
    print(f"-> per-example reference / nnlab: {med['per-example reference (book)'] / base:.1f}x")
    sk = "scikit-learn MLPClassifier (sgd, logistic)"
    if sk in med:
        print(f"-> scikit-learn / nnlab: {med[sk] / base:.1f}x")
    print(f"-> float64 / float32: {base / med['nnlab float32']:.2f}x")
    print(f"-> observer machinery with no observers: {overhead:+.2f}% of an epoch")


class EpochClock:
    """Observer: seconds from ``on_epoch_start`` to ``on_epoch_end`` of each epoch."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_start(self, job: Any, epoch: int) -> None:
        self._start = self.clock()

    def on_epoch_end(self, job: Any, record: Any) -> None:
        self.seconds.append(self.clock() - self._start)


def bench_monitoring(data: nnlab.Dataset, sizes: list[int], rounds: int, clock: Callable[[], float]) -> None:
    """The bare SGD pass against train() epochs with running and with full monitoring."""
    X, y = data.train
    Y = one_hot(y, sizes[-1])

    def bare(seed: int) -> float:
        engine = MiniBatchSGD(nnlab.Network(sizes, seed=0), X, Y, M)
        order = np.random.default_rng(seed).permutation(X.shape[0])
        start = clock()
        engine.epoch(order, ETA)
        return clock() - start

    def train_epoch(training_cost: str) -> Callable[[int], float]:
        def run(seed: int) -> float:
            timer = EpochClock(clock)
            nnlab.train(
                nnlab.Network(sizes, seed=0),
                data,
                epochs=1,
                mini_batch_size=M,
                learning_rate=ETA,
                seed=seed,
                training_cost=training_cost,  # type: ignore[arg-type]
                observers=[timer],
                progress=False,
            )
            return timer.seconds[0]

        return run

    runners = {
        "bare SGD pass (MiniBatchSGD.epoch)": bare,
        'train() epoch, training_cost="running" (default)': train_epoch("running"),
        'train() epoch, training_cost="full"': train_epoch("full"),
    }
    labels = list(runners)
    times: dict[str, list[float]] = {k: [] for k in labels}
    ratios: dict[str, list[float]] = {k: [] for k in labels}
    for r in range(rounds):
        shift = r % len(labels)  # rotate who goes first: no contender always follows another
        for label in labels[shift:] + labels[:shift]:
            times[label].append(runners[label](r))
        for label in labels:
            ratios[label].append(times[label][-1] / times[labels[0]][-1])
    n_eval = data.test[0].shape[0]
    print(
        f"\nmonitoring: sizes {sizes}, {X.shape[0]:,} training rows, {n_eval:,} test rows, "
        f"mini-batch {M}, {rounds} interleaved rounds"
    )
    print(f"{'epoch':52s} {'s/epoch':>9s} {'x bare':>8s}")
    for label in labels:
        print(f"{label:52s} {statistics.median(times[label]):9.4f} {statistics.median(ratios[label]):8.3f}")
    spread = {k: (min(v), max(v)) for k, v in ratios.items()}
    default = labels[1]
    print(
        f"-> default train() epoch: {statistics.median(ratios[default]):.3f}x the bare pass "
        f"(rounds {spread[default][0]:.3f}-{spread[default][1]:.3f}); "
        f'"full": {statistics.median(ratios[labels[2]]):.3f}x'
    )


def load_engine(revision: str) -> Any:
    """``MiniBatchSGD`` as ``git show revision:nnlab/_sgd.py`` defines it, imported from a
    temporary file (it imports today's nnlab for the network and the costs)."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(
        ["git", "-C", str(root), "show", f"{revision}:nnlab/_sgd.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "baseline_sgd.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("baseline_sgd", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["baseline_sgd"] = module
        spec.loader.exec_module(module)
    return module.MiniBatchSGD


def rounds_of(
    runners: dict[str, Callable[[int], float]], rounds: int, base: str
) -> tuple[dict[str, float], dict[str, float], dict[str, tuple[float, float]]]:
    """Interleaved rounds (who goes first rotates): medians of times, of per-round ratios to
    ``base``, and the ratios' range."""
    labels = list(runners)
    times: dict[str, list[float]] = {k: [] for k in labels}
    ratios: dict[str, list[float]] = {k: [] for k in labels}
    for r in range(rounds):
        shift = r % len(labels)
        for label in labels[shift:] + labels[:shift]:
            times[label].append(runners[label](r))
        for label in labels:
            ratios[label].append(times[label][-1] / times[base][-1])
    return (
        {k: statistics.median(v) for k, v in times.items()},
        {k: statistics.median(v) for k, v in ratios.items()},
        {k: (min(v), max(v)) for k, v in ratios.items()},
    )


def bench_engine(
    data: nnlab.Dataset, sizes: list[int], rounds: int, clock: Callable[[], float], baseline: str
) -> None:
    """This engine's default pass against the baseline revision's, and the chapter 3 options."""
    X, y = data.train
    Y = one_hot(y, sizes[-1])
    Old = load_engine(baseline)

    def run(make: Callable[[], Any], eta: float = ETA, lmbda: float = 0.0) -> Callable[[int], float]:
        def timed(seed: int) -> float:
            engine = make()
            order = np.random.default_rng(seed).permutation(X.shape[0])
            start = clock()
            engine.epoch(order, eta, lmbda)
            return clock() - start

        return timed

    def net(**arch: Any) -> nnlab.Network:
        return nnlab.Network(sizes, seed=0, **arch)

    runners = {
        f"{baseline}'s engine, sigmoid/cross-entropy": run(lambda: Old(net(), X, Y, M)),
        "this engine, sigmoid/cross-entropy": run(lambda: MiniBatchSGD(net(), X, Y, M)),
        "this engine, tanh": run(lambda: MiniBatchSGD(net(activation="tanh"), X, Y, M), 0.1),
        "this engine, relu": run(lambda: MiniBatchSGD(net(activation="relu"), X, Y, M), 0.1),
        "this engine, softmax/log-likelihood": run(lambda: MiniBatchSGD(net(output="softmax"), X, Y, M), 0.5),
        "this engine, L1 (lmbda 5)": run(lambda: MiniBatchSGD(net(), X, Y, M, regularization="l1"), 0.5, 5.0),
        "this engine, momentum 0.9": run(lambda: MiniBatchSGD(net(), X, Y, M, momentum=0.9), 0.1),
        "this engine, dropout 0.5": run(lambda: MiniBatchSGD(net(), X, Y, M, dropout=0.5), 0.5),
    }
    base = f"{baseline}'s engine, sigmoid/cross-entropy"
    times, ratios, spread = rounds_of(runners, rounds, base)
    print(
        f"\nengine: sizes {sizes}, {X.shape[0]:,} training rows, mini-batch {M}, {rounds} interleaved rounds"
    )
    print(f"{'SGD pass':44s} {'s/epoch':>9s} {'x ' + baseline:>9s} {'range':>13s}")
    for label in runners:
        lo, hi = spread[label]
        print(f"{label:44s} {times[label]:9.4f} {ratios[label]:9.3f} {lo:6.3f}-{hi:.3f}")


def bench_diagnostics(data: nnlab.Dataset, sizes: list[int], rounds: int, clock: Callable[[], float]) -> None:
    """train() epochs with diagnostics on against off."""

    def train_epoch(diagnostics: bool) -> Callable[[int], float]:
        def run(seed: int) -> float:
            timer = EpochClock(clock)
            nnlab.train(
                nnlab.Network(sizes, seed=0),
                data,
                epochs=1,
                mini_batch_size=M,
                learning_rate=ETA,
                seed=seed,
                diagnostics=diagnostics,
                observers=[timer],
                progress=False,
            )
            return timer.seconds[0]

        return run

    X, y = data.train
    net = nnlab.Network(sizes, seed=0)

    def diagnose_alone(seed: int) -> float:
        start = clock()
        diagnose(net, X[:DIAGNOSTIC_SAMPLE], y[:DIAGNOSTIC_SAMPLE])
        return clock() - start

    runners = {
        "train() epoch, diagnostics off": train_epoch(False),
        "train() epoch, diagnostics on": train_epoch(True),
        "diagnose() alone, as train() calls it": diagnose_alone,
    }
    times, ratios, spread = rounds_of(runners, rounds, "train() epoch, diagnostics off")
    print(
        f"\ndiagnostics: sizes {sizes}, {data.train[0].shape[0]:,} training rows, {rounds} interleaved rounds"
    )
    print(f"{'epoch':44s} {'s/epoch':>9s} {'x off':>9s} {'range':>13s}")
    for label in runners:
        lo, hi = spread[label]
        print(f"{label:44s} {times[label]:9.4f} {ratios[label]:9.3f} {lo:6.3f}-{hi:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=15, help="rounds of the monitoring section")
    parser.add_argument(
        "--only", choices=["mnist", "digits", "monitoring", "engine", "diagnostics"], default=None
    )
    parser.add_argument("--baseline", default="main", help="git revision of the engine section's baseline")
    parser.add_argument("--clock", choices=list(CLOCKS), default="cpu")
    args = parser.parse_args()
    clock = CLOCKS[args.clock]
    with threadpool_limits(1):
        blas = [
            f"{i['internal_api']} {i.get('version')} ({i.get('architecture')})" for i in threadpool_info()
        ]
        print(f"numpy {np.__version__}; BLAS pinned to 1 thread: {', '.join(blas)}; clock: {args.clock}")
        mnist_shaped = (
            make_mnist_shaped()
            if args.only in (None, "mnist", "monitoring", "engine", "diagnostics")
            else None
        )
        if mnist_shaped is not None and args.only in (None, "mnist"):
            bench("MNIST-shaped", mnist_shaped, [784, 30, 10], args.repeats, clock)
        if args.only in (None, "digits"):
            bench("digits", nnlab.datasets.digits(), [64, 30, 10], max(args.repeats, 5), clock)
        if mnist_shaped is not None and args.only in (None, "monitoring"):
            bench_monitoring(mnist_shaped, [784, 30, 10], args.rounds, clock)
        if mnist_shaped is not None and args.only in (None, "engine"):
            bench_engine(mnist_shaped, [784, 30, 10], args.rounds, clock, args.baseline)
        if mnist_shaped is not None and args.only in (None, "diagnostics"):
            bench_diagnostics(mnist_shaped, [784, 30, 10], args.rounds, clock)
            bench_diagnostics(nnlab.datasets.digits(), [64, 30, 10], args.rounds, clock)


if __name__ == "__main__":
    main()
