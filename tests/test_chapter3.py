"""Chapter 3 complete: tanh and ReLU neurons, softmax with the log-likelihood, L1, momentum
and dropout, checked against a per-example reference written here from the book's formulas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from recording import allocation_growth
from server_helpers import Api

import nnlab
from nnlab import ParameterError
from nnlab._sgd import MiniBatchSGD, dropout_generator
from nnlab.network import one_hot


# ---------------------------------------------------------------- the reference
def _neuron(name: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f(z), f'(z)) written out from the definitions."""
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s, s * (1 - s)
    if name == "tanh":
        t = (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))
        return t, 1 - t**2
    return np.where(z > 0, z, 0.0), np.where(z > 0, 1.0, 0.0)


class Options(NamedTuple):
    activation: str = "sigmoid"
    output: str = "sigmoid"
    cost: str = "cross_entropy"
    regularization: str = "l2"
    lmbda: float = 0.0
    momentum: float = 0.0
    dropout: float = 0.0


def _reference_epochs(
    net: nnlab.Network,
    X: np.ndarray,
    Y: np.ndarray,
    orders: list[np.ndarray],
    m: int,
    eta: float,
    opt: Options,
    mask_rng: np.random.Generator,
) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    """Epochs of the book's SGD, one example at a time in column vectors, with momentum
    (``v = mu v - eta grad``, ``w = w + v``), L1 or L2, and dropout masks drawn as
    documented (per mini-batch, per hidden layer, ``(m, n)`` uniforms -> ``floor(u + keep)
    / keep``). Returns the weights, biases and the last epoch's summed running cost."""
    weights = [w.copy() for w in net.weights]
    biases = [b.reshape(-1, 1).copy() for b in net.biases]
    v_w = [np.zeros_like(w) for w in weights]
    v_b = [np.zeros_like(b) for b in biases]
    n, keep, hidden = X.shape[0], 1.0 - opt.dropout, len(weights) - 1
    cost_sum = 0.0
    for order in orders:
        cost_sum = 0.0
        for k in range(0, len(order), m):
            batch = order[k : k + m]
            masks = []
            if opt.dropout:
                for layer in range(hidden):
                    u = mask_rng.random((len(batch), weights[layer].shape[0]))
                    masks.append(np.floor(u + keep) / keep)
            nabla_b = [np.zeros(b.shape) for b in biases]
            nabla_w = [np.zeros(w.shape) for w in weights]
            for row, i in enumerate(batch):
                x, y = X[i].reshape(-1, 1), Y[i].reshape(-1, 1)
                activations, primes = [x], []
                for layer, (b, w) in enumerate(zip(biases, weights)):
                    z = w @ activations[-1] + b
                    if layer < hidden:
                        a, p = _neuron(opt.activation, z)
                        if masks:
                            mask = masks[layer][row].reshape(-1, 1)
                            a, p = a * mask, p * mask
                        primes.append(p)
                    elif opt.output == "softmax":
                        e = np.exp(z - z.max())
                        a = e / e.sum()
                    else:
                        a, sp_out = _neuron("sigmoid", z)
                    activations.append(a)
                a = activations[-1]
                if opt.cost == "log_likelihood":
                    cost_sum -= float(np.log(a[int(np.argmax(y)), 0]))
                    delta = a - y
                elif opt.cost == "cross_entropy":
                    cost_sum -= float(np.sum(y * np.log(a) + (1 - y) * np.log(1 - a)))
                    delta = a - y
                else:
                    cost_sum += 0.5 * float(np.sum((a - y) ** 2))
                    delta = (a - y) * sp_out
                for layer in range(hidden, -1, -1):
                    nabla_b[layer] += delta
                    nabla_w[layer] += delta @ activations[layer].T
                    if layer:
                        delta = (weights[layer].T @ delta) * primes[layer - 1]
            for layer in range(len(weights)):
                w = weights[layer]
                penalty = (opt.lmbda / n) * (np.sign(w) if opt.regularization == "l1" else w)
                grad_w = nabla_w[layer] / len(batch) + penalty
                grad_b = nabla_b[layer] / len(batch)
                v_w[layer] = opt.momentum * v_w[layer] - eta * grad_w
                v_b[layer] = opt.momentum * v_b[layer] - eta * grad_b
                weights[layer] = w + v_w[layer]
                biases[layer] = biases[layer] + v_b[layer]
    return weights, [b.ravel() for b in biases], cost_sum


CASES = [
    ("tanh", Options("tanh", lmbda=2.0), 10, 0.1),
    ("relu-softmax-l1", Options("relu", "softmax", "log_likelihood", "l1", 3.0), 7, 0.1),
    ("sigmoid-softmax", Options(output="softmax", cost="log_likelihood"), 10, 0.5),
    ("momentum-l2", Options(cost="quadratic", lmbda=1.0, momentum=0.9), 10, 0.3),
    ("momentum-l1-tanh-softmax", Options("tanh", "softmax", "log_likelihood", "l1", 2.0, 0.5), 7, 0.1),
    ("dropout", Options(dropout=0.5), 10, 0.5),
    ("dropout-relu-momentum", Options("relu", "softmax", "log_likelihood", "l2", 1.0, 0.5, 0.3), 7, 0.05),
]


@pytest.mark.parametrize(("opt", "m", "eta"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_engine_matches_the_per_example_reference(
    digits: nnlab.Dataset, opt: Options, m: int, eta: float
) -> None:
    """Two epochs (momentum's velocity carries over), a tail batch when m=7 (1,297 rows),
    and dropout with the masks the documented recipe draws from a twin generator."""
    X, y = digits.train
    Y = one_hot(y, 10)
    sizes = [64, 20, 15, 10]
    net = nnlab.Network(sizes, activation=opt.activation, output=opt.output, cost=opt.cost, seed=7)  # type: ignore[arg-type]
    rng = np.random.default_rng(11)
    orders = [rng.permutation(X.shape[0]) for _ in range(2)]
    weights, biases, cost_sum = _reference_epochs(net, X, Y, orders, m, eta, opt, np.random.default_rng(99))
    engine = MiniBatchSGD(
        net,
        X,
        Y,
        m,
        monitor=True,
        regularization=opt.regularization,
        momentum=opt.momentum,
        dropout=opt.dropout,
        rng=np.random.default_rng(99),
    )
    for order in orders:
        engine.epoch(order, eta, opt.lmbda)
    for got, want in zip([*net.weights, *net.biases], [*weights, *biases], strict=True):
        assert np.max(np.abs(got - want)) < 1e-10
    assert engine.running_cost is not None
    penalty = net.regularization_term(opt.lmbda, X.shape[0], opt.regularization)
    assert engine.running_cost == pytest.approx(cost_sum / X.shape[0] + penalty, rel=1e-10)


def test_momentum_velocities_are_named_engine_state(digits: nnlab.Dataset) -> None:
    """Two mini-batches by hand with Network.backprop: v1 = -g1, v2 = mu v1 - g2, and the
    engine keeps v2 in velocity_w / velocity_b."""
    X, y = digits.train[0][:20], digits.train[1][:20]
    Y = one_hot(y, 10)
    net = nnlab.Network([64, 30, 10], seed=0)
    engine = MiniBatchSGD(net, X, Y, 10, momentum=0.9)
    assert not any(v.any() for v in (*engine.velocity_w, *engine.velocity_b))
    w0, b0 = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    twin = nnlab.Network([64, 30, 10], seed=0)
    nb1, nw1 = twin.backprop(X[:10], Y[:10])
    v1_w, v1_b = [-0.05 * g for g in nw1], [-0.05 * g for g in nb1]
    twin.weights = [w + v for w, v in zip(w0, v1_w)]
    twin.biases = [b + v for b, v in zip(b0, v1_b)]
    nb2, nw2 = twin.backprop(X[10:], Y[10:])
    v2_w = [0.9 * v - 0.05 * g for v, g in zip(v1_w, nw2)]
    v2_b = [0.9 * v - 0.05 * g for v, g in zip(v1_b, nb2)]
    engine.epoch(np.arange(20), 0.5)
    for got, want in zip([*engine.velocity_w, *engine.velocity_b], [*v2_w, *v2_b], strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-14)
    for w, start, v1, v2 in zip(net.weights, w0, v1_w, v2_w):
        np.testing.assert_allclose(w, start + v1 + v2, rtol=0, atol=1e-14)


def test_dropout_is_deterministic_for_a_seed_and_drops_about_p(digits: nnlab.Dataset) -> None:
    def run(seed: int) -> list[np.ndarray]:
        net = nnlab.Network([64, 30, 10], seed=1)
        nnlab.train(net, digits, epochs=1, seed=seed, dropout=0.5, learning_rate=0.5, progress=False)
        return net.weights

    first, again, other = run(3), run(3), run(4)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    masks = np.empty((100_000, 1))
    dropout_generator(3).random(out=masks)
    kept = np.floor(masks + 0.7) / 0.7
    assert np.mean(kept == 0.0) == pytest.approx(0.3, abs=0.01)
    assert set(np.unique(kept)) == {0.0, 1.0 / 0.7}


def test_train_draws_dropout_masks_from_the_documented_generator(digits: nnlab.Dataset) -> None:
    X, y = digits.train
    net = nnlab.Network([64, 30, 10], activation="relu", seed=2)
    twin = nnlab.Network([64, 30, 10], activation="relu", seed=2)
    nnlab.train(net, digits, epochs=2, seed=5, dropout=0.2, momentum=0.5, learning_rate=0.1, progress=False)
    shuffles = np.random.default_rng(5)
    engine = MiniBatchSGD(twin, X, one_hot(y, 10), 10, dropout=0.2, momentum=0.5, rng=dropout_generator(5))
    for _ in range(2):
        engine.epoch(shuffles.permutation(X.shape[0]), 0.1)
    for a, b in zip([*net.weights, *net.biases], [*twin.weights, *twin.biases]):
        np.testing.assert_array_equal(a, b)


def test_evaluation_uses_the_whole_network_without_dropout(digits: nnlab.Dataset) -> None:
    net = nnlab.Network([64, 30, 10], seed=0)
    job = nnlab.train(net, digits, epochs=2, seed=0, dropout=0.5, learning_rate=0.5, progress=False)
    X, y = digits.test
    assert job.history[-1].correct == net.evaluate(X, y)
    np.testing.assert_array_equal(net.feedforward(X), net.feedforward(X))


def test_each_option_learns_the_digits(digits: nnlab.Dataset) -> None:
    """Not a benchmark: each chapter 3 option trains to well above chance (10 %)."""
    runs = {
        "tanh": ({"activation": "tanh"}, {"learning_rate": 0.1}),
        "relu": ({"activation": "relu"}, {"learning_rate": 0.05}),
        "softmax": ({"output": "softmax"}, {"learning_rate": 0.5}),
        "l1": ({}, {"regularization": "l1", "lmbda": 1.0, "learning_rate": 0.5}),
        "momentum": ({}, {"momentum": 0.9, "learning_rate": 0.1}),
        "dropout": ({}, {"dropout": 0.3, "learning_rate": 0.5}),
    }
    for name, (arch, options) in runs.items():
        net = nnlab.Network([64, 30, 10], seed=0, **arch)  # type: ignore[arg-type]
        job = nnlab.train(net, digits, epochs=5, seed=0, progress=False, **options)  # type: ignore[arg-type]
        assert job.status == "completed", name
        accuracy = job.history[-1].accuracy
        assert accuracy is not None, name
        assert accuracy > 0.85, name


def test_l1_cost_term(digits: nnlab.Dataset) -> None:
    X, y = digits.test
    net = nnlab.Network([64, 30, 10], seed=0)
    plain = net.total_cost(X, y)
    l1 = net.total_cost(X, y, lmbda=2.0, regularization="l1")
    assert l1 == pytest.approx(plain + 2.0 / 300 * sum(np.abs(w).sum() for w in net.weights), rel=1e-12)
    job = nnlab.train(
        net, digits, epochs=1, seed=0, lmbda=2.0, regularization="l1", training_cost="full", progress=False
    )
    Xt, yt = digits.train
    assert job.history[0].training_cost == net.total_cost(Xt, yt, lmbda=2.0, regularization="l1")


def test_the_hot_loop_allocates_no_arrays_with_the_chapter_3_options(digits: nnlab.Dataset) -> None:
    X, y = digits.train
    setups = [
        ({"activation": "tanh", "output": "softmax"}, {"momentum": 0.9, "regularization": "l1"}),
        ({"activation": "relu"}, {"dropout": 0.5}),
        ({"output": "softmax", "cost": "log_likelihood"}, {"dropout": 0.2, "momentum": 0.5}),
    ]
    for arch, options in setups:
        net = nnlab.Network([64, 30, 10], seed=0, **arch)  # type: ignore[arg-type]
        engine = MiniBatchSGD(net, X, one_hot(y, 10), 50, monitor=True, **options)  # type: ignore[arg-type]
        growth = allocation_growth(engine, 0.1, 1.0)
        # the smallest per-batch array (50 x 10 outputs) would be 4,000 bytes
        assert growth < 1_000, f"{arch} {options}: {growth} bytes allocated during the loop"


# ---------------------------------------------------------------- bad values
@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"activation": "sigmoidal"}, "activation", "activation must be 'sigmoid', 'tanh' or 'relu'"),
        ({"output": "relu"}, "output", "output must be 'sigmoid' or 'softmax'"),
        ({"output": "softmax", "cost": "quadratic"}, "cost", "use cost='log_likelihood'"),
        ({"output": "softmax", "cost": "cross_entropy"}, "cost", "use cost='log_likelihood'"),
        ({"cost": "log_likelihood"}, "cost", "use output='softmax' with it"),
    ],
)
def test_bad_architectures_name_the_field_and_the_fix(
    kwargs: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(ParameterError, match=message) as info:
        nnlab.Network([4, 3, 2], **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"regularization": "l3"}, "regularization"),
        ({"regularization": "L1"}, "regularization"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"dropout": True}, "dropout"),
        ({"dropout": "0.5"}, "dropout"),
        ({"momentum": 1.0}, "momentum"),
        ({"momentum": float("nan")}, "momentum"),
        ({"diagnostics": "yes"}, "diagnostics"),
        ({"diagnostics": 1}, "diagnostics"),
    ],
)
def test_bad_training_options_name_the_field(
    digits: nnlab.Dataset, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ParameterError, match=field) as info:
        nnlab.train(nnlab.Network([64, 30, 10]), digits, progress=False, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_dropout_needs_a_hidden_layer(digits: nnlab.Dataset) -> None:
    with pytest.raises(ParameterError, match=r"has none: add a hidden layer or use dropout=0\.0") as info:
        nnlab.train(nnlab.Network([64, 10]), digits, dropout=0.5, progress=False)
    assert info.value.field == "dropout"


# ---------------------------------------------------------------- the file format
def test_a_chapter_3_network_round_trips(tmp_path: Path, digits: nnlab.Dataset) -> None:
    net = nnlab.Network([64, 30, 10], activation="tanh", output="softmax", seed=1)
    nnlab.train(net, digits, epochs=1, seed=0, learning_rate=0.1, progress=False)
    loaded = nnlab.Network.load(net.save(tmp_path / "net.json"))
    assert json.loads((tmp_path / "net.json").read_text())["version"] == 2
    assert (loaded.activation, loaded.output, loaded.cost) == (net.activation, net.output, net.cost)
    X = digits.test[0]
    np.testing.assert_array_equal(loaded.feedforward(X), net.feedforward(X))


# ---------------------------------------------------------------- REST and CLI


@pytest.mark.parametrize(
    ("path_body", "field"),
    [
        ({"sizes": [64, 30, 10], "activation": "swish"}, "activation"),
        ({"sizes": [64, 30, 10], "output": "softmax", "cost": "quadratic"}, "cost"),
        ({"dropout": 1.5}, "dropout"),
        ({"momentum": -1}, "momentum"),
        ({"regularization": "l0"}, "regularization"),
        ({"diagnostics": "true"}, "diagnostics"),
    ],
)
def test_rest_refuses_bad_chapter_3_values_naming_the_field(
    api: Api, path_body: dict[str, object], field: str
) -> None:
    if "sizes" in path_body:
        status, body = api.post("/api/networks", path_body)
    else:
        net = api.create_network([64, 30, 10], seed=2)
        status, body = api.post(f"/api/networks/{net['network_id']}/train", path_body)
    assert status == 422, body
    assert body["field"] == field
    assert field in body["error"]


def test_cli_flags_read_like_the_api() -> None:
    env = {**os.environ, "NNLAB_STABLE_OUTPUT": "1"}
    args = [
        "--epochs",
        "1",
        "--seed",
        "0",
        "--activation",
        "tanh",
        "--output",
        "softmax",
        "--learning-rate",
        "0.1",
    ]
    args += ["--regularization", "l1", "--lmbda", "1", "--momentum", "0.5", "--dropout", "0.2"]
    result = subprocess.run(
        [sys.executable, "-m", "nnlab", "train", *args], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "activation='tanh', output='softmax', cost='log_likelihood'" in result.stdout
    net = nnlab.Network([64, 30, 10], activation="tanh", output="softmax", seed=0)
    job = nnlab.train(
        net,
        epochs=1,
        seed=0,
        learning_rate=0.1,
        regularization="l1",
        lmbda=1.0,
        momentum=0.5,
        dropout=0.2,
        progress=False,
    )
    assert f"({job.history[0].correct}/300)" in result.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "nnlab", "train", "--momentum", "1.0"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert bad.returncode == 2
    assert "momentum must be a number from 0 up to (not including) 1" in bad.stderr
