"""Backprop against independent oracles: finite differences and the book's per-example loop."""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np
import pytest

import nnlab
from nnlab._sgd import MiniBatchSGD
from nnlab.activations import Softmax, get_activation
from nnlab.costs import CrossEntropyCost, LogLikelihoodCost, QuadraticCost
from nnlab.network import one_hot

COSTS = ["cross_entropy", "quadratic"]


def _book_sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _summed_cost(net: nnlab.Network, X: np.ndarray, Y: np.ndarray) -> float:
    return float(np.sum(net.cost.fn(net.feedforward(X), Y)))


@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("sizes", [[4, 5, 3], [6, 7, 5, 4]])
def test_backprop_matches_finite_differences(cost: str, sizes: list[int]) -> None:
    rng = np.random.default_rng(3)
    net = nnlab.Network(sizes, cost=cost, seed=1)
    X = rng.random((6, sizes[0]))
    Y = one_hot(rng.integers(0, sizes[-1], 6), sizes[-1])
    nabla_b, nabla_w = net.backprop(X, Y)
    h = 1e-6
    for params, grads in ((net.weights, nabla_w), (net.biases, nabla_b)):
        for p, g in zip(params, grads):
            numeric = np.zeros_like(p)
            for i in np.ndindex(p.shape):
                saved = p[i]
                p[i] = saved + h
                up = _summed_cost(net, X, Y)
                p[i] = saved - h
                down = _summed_cost(net, X, Y)
                p[i] = saved
                numeric[i] = (up - down) / (2 * h)
            rel = np.linalg.norm(g - numeric) / (np.linalg.norm(g) + np.linalg.norm(numeric))
            assert rel < 1e-6, f"relative error {rel:.2e} for a parameter of shape {p.shape}"


ARCHITECTURES = [
    (activation, output, cost)
    for activation in ("sigmoid", "tanh", "relu")
    for output, cost in (
        ("sigmoid", "cross_entropy"),
        ("sigmoid", "quadratic"),
        ("softmax", "log_likelihood"),
    )
]


def finite_difference_error(net: nnlab.Network, X: np.ndarray, Y: np.ndarray, h: float = 1e-6) -> float:
    """The largest relative error, over the parameter arrays, between backprop's gradient
    of the summed cost and central differences of the cost itself."""
    nabla_b, nabla_w = net.backprop(X, Y)
    worst = 0.0
    for params, grads in ((net.weights, nabla_w), (net.biases, nabla_b)):
        for p, g in zip(params, grads):
            numeric = np.zeros_like(p)
            for i in np.ndindex(p.shape):
                saved = p[i]
                p[i] = saved + h
                up = _summed_cost(net, X, Y)
                p[i] = saved - h
                down = _summed_cost(net, X, Y)
                p[i] = saved
                numeric[i] = (up - down) / (2 * h)
            rel = np.linalg.norm(g - numeric) / (np.linalg.norm(g) + np.linalg.norm(numeric))
            worst = max(worst, float(rel))
    return worst


@pytest.mark.parametrize(("activation", "output", "cost"), ARCHITECTURES)
def test_every_neuron_output_and_cost_passes_the_gradient_check(
    activation: str, output: str, cost: str
) -> None:
    rng = np.random.default_rng(5)
    net = nnlab.Network([6, 7, 5, 4], activation=activation, output=output, cost=cost, seed=2)  # type: ignore[arg-type]
    X = rng.random((8, 6))
    Y = one_hot(rng.integers(0, 4, 8), 4)
    error = finite_difference_error(net, X, Y)
    assert error < 1e-6, f"{activation}/{output}/{cost}: relative error {error:.2e}"


class _Reference(NamedTuple):
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    cost_sum: float  # unregularised, each example scored before its mini-batch's update
    correct: int  # examples whose output, in that same forward pass, peaks at the label
    examples: int


def _reference_epoch(
    net: nnlab.Network,
    X: np.ndarray,
    Y: np.ndarray,
    order: np.ndarray,
    m: int,
    eta: float,
    lmbda: float,
) -> _Reference:
    """The book's network2.py SGD epoch: column vectors, one example at a time, over the
    mini-batches of ``order``; it also scores each example as its forward pass found it."""
    weights = [w.copy() for w in net.weights]
    biases = [b.reshape(-1, 1).copy() for b in net.biases]
    n = X.shape[0]
    cost_sum, correct = 0.0, 0
    for k in range(0, len(order), m):
        batch = order[k : k + m]
        nabla_b = [np.zeros(b.shape) for b in biases]
        nabla_w = [np.zeros(w.shape) for w in weights]
        for i in batch:
            x, y = X[i].reshape(-1, 1), Y[i].reshape(-1, 1)
            activation, activations, zs = x, [x], []
            for b, w in zip(biases, weights):
                z = np.dot(w, activation) + b
                zs.append(z)
                activation = _book_sigmoid(z)
                activations.append(activation)
            a = activations[-1]
            if net.cost is CrossEntropyCost:
                cost_sum -= float(np.sum(y * np.log(a) + (1 - y) * np.log(1 - a)))
            else:
                cost_sum += 0.5 * float(np.sum((a - y) ** 2))
            correct += int(np.argmax(a) == np.argmax(y))
            if net.cost is CrossEntropyCost:
                delta = activations[-1] - y
            else:
                s = _book_sigmoid(zs[-1])
                delta = (activations[-1] - y) * s * (1 - s)
            delta_b = [np.zeros(b.shape) for b in biases]
            delta_w = [np.zeros(w.shape) for w in weights]
            delta_b[-1] = delta
            delta_w[-1] = np.dot(delta, activations[-2].T)
            for layer in range(2, len(net.sizes)):
                s = _book_sigmoid(zs[-layer])
                delta = np.dot(weights[-layer + 1].T, delta) * s * (1 - s)
                delta_b[-layer] = delta
                delta_w[-layer] = np.dot(delta, activations[-layer - 1].T)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_w)]
        weights = [(1 - eta * (lmbda / n)) * w - (eta / len(batch)) * nw for w, nw in zip(weights, nabla_w)]
        biases = [b - (eta / len(batch)) * nb for b, nb in zip(biases, nabla_b)]
    return _Reference(weights, [b.ravel() for b in biases], cost_sum, correct, len(order))


EPOCH_CASES = [
    ("cross_entropy", [64, 30, 10], 10, 0.0),
    ("quadratic", [64, 30, 10], 10, 0.0),
    ("cross_entropy", [64, 20, 15, 10], 7, 5.0),  # 1,297 rows: a tail batch of 2
    ("quadratic", [64, 16, 10], 1, 0.5),
]


@pytest.mark.parametrize(("cost", "sizes", "m", "lmbda"), EPOCH_CASES)
def test_matrix_form_epoch_matches_per_example_reference(
    digits: nnlab.Dataset, cost: str, sizes: list[int], m: int, lmbda: float
) -> None:
    X, y = digits.train
    Y = one_hot(y, 10)
    net = nnlab.Network(sizes, cost=cost, seed=7)
    order = np.random.default_rng(11).permutation(X.shape[0])
    expected = _reference_epoch(net, X, Y, order, m, 3.0, lmbda)
    MiniBatchSGD(net, X, Y, m).epoch(order, 3.0, lmbda)
    for got, want in zip([*net.weights, *net.biases], [*expected.weights, *expected.biases]):
        assert np.max(np.abs(got - want)) < 1e-10


@pytest.mark.parametrize(("cost", "sizes", "m", "lmbda"), EPOCH_CASES)
def test_running_cost_and_accuracy_match_the_per_example_reference(
    digits: nnlab.Dataset, cost: str, sizes: list[int], m: int, lmbda: float
) -> None:
    """Each example counts as its own mini-batch's forward pass scored it, before the update;
    the L2 term uses the weights at the end of the epoch."""
    X, y = digits.train
    Y = one_hot(y, 10)
    net = nnlab.Network(sizes, cost=cost, seed=7)
    order = np.random.default_rng(11).permutation(X.shape[0])
    expected = _reference_epoch(net, X, Y, order, m, 3.0, lmbda)
    engine = MiniBatchSGD(net, X, Y, m, monitor=True)
    engine.epoch(order, 3.0, lmbda)
    n = X.shape[0]
    l2 = 0.5 * (lmbda / n) * sum(float(np.sum(w**2)) for w in expected.weights)
    assert engine.running_cost == pytest.approx(expected.cost_sum / n + l2, rel=1e-10)
    assert engine.running_accuracy == expected.correct / n
    # monitoring changes nothing in the training itself
    for got, want in zip([*net.weights, *net.biases], [*expected.weights, *expected.biases]):
        assert np.max(np.abs(got - want)) < 1e-10


class _OwnQuadratic(QuadraticCost):
    """A cost the engine does not know: it takes the generic path (cost.delta, cost.fn)."""

    name = "own_quadratic"


def test_running_cost_of_a_cost_the_engine_does_not_know(digits: nnlab.Dataset) -> None:
    X, y = digits.train
    Y = one_hot(y, 10)
    net = nnlab.Network([64, 30, 10], cost=_OwnQuadratic, seed=5)
    order = np.random.default_rng(3).permutation(X.shape[0])
    expected = _reference_epoch(net, X, Y, order, 10, 3.0, 0.0)
    engine = MiniBatchSGD(net, X, Y, 10, monitor=True)
    engine.epoch(order, 3.0)
    assert engine.running_cost == pytest.approx(expected.cost_sum / X.shape[0], rel=1e-10)
    assert engine.running_accuracy == expected.correct / X.shape[0]


def test_a_stopped_epochs_running_scores_cover_the_mini_batches_done(digits: nnlab.Dataset) -> None:
    X, y = digits.train
    Y = one_hot(y, 10)
    net = nnlab.Network([64, 30, 10], seed=4)
    order = np.random.default_rng(2).permutation(X.shape[0])
    expected = _reference_epoch(net, X, Y, order[:70], 10, 3.0, 0.0)
    stop = threading.Event()

    def report(done: int) -> None:
        if done == 7:
            stop.set()

    engine = MiniBatchSGD(net, X, Y, 10, monitor=True)
    assert engine.epoch(order, 3.0, 0.0, stop, report, report_interval=0.0) == 7
    assert engine.running_cost == pytest.approx(expected.cost_sum / 70, rel=1e-10)
    assert engine.running_accuracy == expected.correct / 70


def test_train_shuffles_with_the_documented_generator(digits: nnlab.Dataset) -> None:
    """train(seed=s) runs epoch e on the e-th permutation drawn from default_rng(s)."""
    X, y = digits.train
    net = nnlab.Network([64, 30, 10], seed=2)
    twin = nnlab.Network([64, 30, 10], seed=2)
    nnlab.train(net, digits, epochs=2, seed=5)
    rng = np.random.default_rng(5)
    engine = MiniBatchSGD(twin, X, one_hot(y, 10), 10)
    for _ in range(2):
        engine.epoch(rng.permutation(X.shape[0]), 3.0)
    for a, b in zip([*net.weights, *net.biases], [*twin.weights, *twin.biases]):
        np.testing.assert_array_equal(a, b)


def test_cost_values_match_their_definitions() -> None:
    a = np.array([[0.2, 0.9], [0.5, 0.5]])
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(QuadraticCost.fn(a, y), [0.5 * (0.04 + 0.01), 0.25])
    expected = [-(np.log(0.8) + np.log(0.9)), -(np.log(0.5) + np.log(0.5))]
    np.testing.assert_allclose(CrossEntropyCost.fn(a, y), expected)
    z = np.zeros_like(a)
    np.testing.assert_allclose(CrossEntropyCost.delta(z, a, y), a - y)
    np.testing.assert_allclose(QuadraticCost.delta(z, a, y), (a - y) * a * (1 - a))


def test_cross_entropy_of_a_saturated_wrong_output_is_large_but_finite() -> None:
    cost = CrossEntropyCost.fn(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
    assert np.isfinite(cost).all()
    assert cost[0] > 30


def test_sigmoid_matches_the_logistic_function() -> None:
    z = np.linspace(-30, 30, 601)
    np.testing.assert_allclose(nnlab.network.sigmoid(z), _book_sigmoid(z), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(
        nnlab.network.sigmoid_prime(z), _book_sigmoid(z) * (1 - _book_sigmoid(z)), atol=1e-15
    )


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_in_place_forms_of_each_neuron_agree_with_its_definition(name: str) -> None:
    activation = get_activation(name)
    z = np.linspace(-6, 6, 121) + 0.01  # no z exactly at ReLU's kink
    definitions = {
        "sigmoid": (_book_sigmoid(z), _book_sigmoid(z) * (1 - _book_sigmoid(z))),
        "tanh": (np.sinh(z) / np.cosh(z), 1 / np.cosh(z) ** 2),
        "relu": (np.where(z > 0, z, 0.0), (z > 0).astype(float)),
    }
    fn, prime = definitions[name]
    np.testing.assert_allclose(activation.fn(z), fn, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(activation.prime(z), prime, rtol=1e-12, atol=1e-15)
    in_place = z.copy()
    assert activation.fn_(in_place) is in_place
    np.testing.assert_allclose(in_place, fn, rtol=1e-13, atol=1e-15)
    out = np.empty_like(z)
    np.testing.assert_allclose(activation.prime_from_output(in_place, out), prime, rtol=1e-12, atol=1e-15)


def test_softmax_rows_are_distributions_even_for_huge_inputs() -> None:
    z = np.array([[1000.0, 999.0, -1000.0], [-800.0, -800.0, -800.0], [0.0, 1.0, 2.0]])
    a = Softmax.fn(z)
    assert np.isfinite(a).all()
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(a[0, :2], np.exp([0.0, -1.0]) / (1 + np.exp(-1.0)), rtol=1e-14)
    np.testing.assert_allclose(a[1], 1 / 3, rtol=1e-15)
    e = np.exp([0.0, 1.0, 2.0])
    np.testing.assert_allclose(a[2], e / e.sum(), rtol=1e-15)


def test_log_likelihood_is_minus_the_log_of_the_output_at_the_label() -> None:
    a = np.array([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]])
    y = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(LogLikelihoodCost.fn(a, y), [-np.log(0.7), -np.log(0.25)])
    np.testing.assert_allclose(LogLikelihoodCost.delta(np.zeros_like(a), a, y), a - y)
    assert np.isfinite(LogLikelihoodCost.fn(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))).all()


def test_the_engines_softmax_survives_huge_outputs(digits: nnlab.Dataset) -> None:
    """The engine shifts each row by its maximum: outputs near exp's overflow stay finite."""
    X, y = digits.train
    net = nnlab.Network([64, 30, 10], output="softmax", seed=0)
    net.biases[-1][:] = [900.0, 0, 0, 0, 0, 0, 0, 0, 0, -900.0]
    engine = MiniBatchSGD(net, X, one_hot(y, 10), 10, monitor=True)
    engine.epoch(np.arange(X.shape[0]), 1e-6)
    assert all(np.isfinite(p).all() for p in (*net.weights, *net.biases))
    assert engine.running_cost is not None
    assert np.isfinite(engine.running_cost)
    assert engine.running_accuracy == np.mean(y == 0)  # every output peaks at class 0


@pytest.mark.parametrize(("activation", "output"), [("tanh", "softmax"), ("relu", "sigmoid")])
def test_float32_chapter_3_networks_agree_with_float64(
    digits: nnlab.Dataset, activation: str, output: str
) -> None:
    jobs = [
        nnlab.train(
            nnlab.Network([64, 30, 10], activation=activation, output=output, seed=0, dtype=dtype),  # type: ignore[arg-type]
            digits,
            epochs=2,
            seed=0,
            learning_rate=0.1,
            momentum=0.5,
            regularization="l1",
            lmbda=1.0,
            progress=False,
        )
        for dtype in ("float64", "float32")
    ]
    for r64, r32 in zip(jobs[0].history, jobs[1].history, strict=True):
        assert r32.training_cost == pytest.approx(r64.training_cost, rel=1e-4)
        assert r32.accuracy == pytest.approx(r64.accuracy, abs=2 / 300)
