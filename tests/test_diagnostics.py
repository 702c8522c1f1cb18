"""Chapter 5 diagnostics: learning speed, saturation and norms per layer, in the history only."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from server_helpers import Api

import nnlab
from nnlab.diagnostics import DIAGNOSTIC_SAMPLE, SATURATION_MARGIN, diagnose
from nnlab.events import Diagnostics
from nnlab.network import one_hot
from nnlab.server import Server

WIRE_KEYS = {"job_id", "network_id", "epoch", "total_epochs", "accuracy", "elapsed_time", "progress"}
WIRE_KEYS |= {"correct", "total"}


def _mean_cost(net: nnlab.Network, X: np.ndarray, Y: np.ndarray) -> float:
    return float(np.mean(net.cost.fn(net.feedforward(X), Y)))


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_learning_speed_and_gradient_norm_are_the_norms_of_the_mean_cost_gradient(activation: str) -> None:
    """Against central differences of the mean cost, parameter by parameter."""
    rng = np.random.default_rng(0)
    net = nnlab.Network([5, 6, 4, 3], activation=activation, seed=3)  # type: ignore[arg-type]
    X, y = rng.random((12, 5)), rng.integers(0, 3, 12)
    Y = one_hot(y, 3)
    h = 1e-6
    numeric: dict[str, list[float]] = {"b": [], "w": []}
    for key, params in (("b", net.biases), ("w", net.weights)):
        for p in params:
            grad = np.zeros_like(p)
            for i in np.ndindex(p.shape):
                saved = p[i]
                p[i] = saved + h
                up = _mean_cost(net, X, Y)
                p[i] = saved - h
                down = _mean_cost(net, X, Y)
                p[i] = saved
                grad[i] = (up - down) / (2 * h)
            numeric[key].append(float(np.linalg.norm(grad)))
    d = diagnose(net, X, y)
    np.testing.assert_allclose(d.learning_speed, numeric["b"], rtol=1e-6)
    np.testing.assert_allclose(d.gradient_norm, numeric["w"], rtol=1e-6)
    np.testing.assert_allclose(d.weight_norm, [np.sqrt(np.sum(w**2)) for w in net.weights], rtol=1e-12)


def test_saturation_of_sigmoid_and_tanh_counts_activations_within_the_margin() -> None:
    X = np.array([[1.0], [0.0]])  # z = w x + b: the two examples see different z
    for activation, z_saturated in (("sigmoid", 4.7), ("tanh", 2.7)):
        net = nnlab.Network([1, 4, 2], activation=activation, seed=0)  # type: ignore[arg-type]
        # hidden z for x=1: [z_sat, -z_sat, 0.1, z_sat - 0.2]; for x=0: the biases [0, 0, 0, 0]
        net.weights[0][:] = [[z_saturated], [-z_saturated], [0.1], [z_saturated - 0.2]]
        net.biases[0][:] = 0.0
        net.weights[1][:] = 0.0
        net.biases[1][:] = [10.0, 0.0]  # outputs sigmoid(10) (saturated) and 0.5 (not)
        d = diagnose(net, X, np.array([0, 1]))
        # x=1: two of four hidden activations beyond the margin (z_sat - 0.2 is not); x=0: none
        assert d.saturation == (pytest.approx(2 / 8), pytest.approx(1 / 2)), activation
        a = net.activation.fn(np.array([z_saturated, z_saturated - 0.2]))
        assert 1.0 - a[0] < SATURATION_MARGIN < 1.0 - a[1]  # the two sides of the documented margin


def test_relu_saturation_counts_units_dead_on_every_example() -> None:
    net = nnlab.Network([2, 4, 2], activation="relu", seed=0)
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    # unit 0: alive on both; unit 1: dead on both; unit 2: alive on one only; unit 3: dead
    net.weights[0][:] = [[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [0.0, 0.0]]
    net.biases[0][:] = [0.0, 0.0, 0.0, -0.5]
    d = diagnose(net, X, np.array([0, 1]))
    assert d.saturation[0] == 0.5


def test_deep_sigmoid_networks_learn_slower_in_early_layers() -> None:
    """The book's chapter 5 observation, at initialisation: the speed of learning grows
    from the first hidden layer to the last."""
    digits = nnlab.datasets.digits()
    X, y = digits.train
    net = nnlab.Network([64, 30, 30, 30, 10], seed=0)
    speed = diagnose(net, X[:DIAGNOSTIC_SAMPLE], y[:DIAGNOSTIC_SAMPLE]).learning_speed
    assert speed[0] < speed[1] < speed[2]


def test_train_records_diagnostics_per_epoch_and_layer_in_the_history_only(digits: nnlab.Dataset) -> None:
    net = nnlab.Network([64, 30, 20, 10], seed=1)
    job = nnlab.train(net, digits, epochs=3, seed=1, diagnostics=True, progress=False)
    assert job.params.diagnostics is True
    assert job.to_dict()["parameters"]["diagnostics"] is True
    for record in job.history:
        assert isinstance(record.diagnostics, Diagnostics)
        data = record.to_dict()["diagnostics"]
        assert set(data) == {"learning_speed", "saturation", "weight_norm", "gradient_norm"}
        assert all(isinstance(v, list) and len(v) == 3 for v in data.values())
        assert set(record.update.to_dict()) == WIRE_KEYS  # the wire payload stays the contract's
    # the last epoch's values are those of the trained network on the first 1,000 rows
    X, y = digits.train
    assert job.history[-1].diagnostics == diagnose(net, X[:DIAGNOSTIC_SAMPLE], y[:DIAGNOSTIC_SAMPLE])
    # the weights grow from one epoch to the next here, and the records show it
    norms = [r.diagnostics.weight_norm[0] for r in job.history if r.diagnostics is not None]
    assert norms == sorted(norms)
    assert len(set(norms)) == 3


def test_diagnostics_change_nothing_in_the_training_and_are_off_by_default(digits: nnlab.Dataset) -> None:
    on = nnlab.Network([64, 30, 10], seed=2)
    off = nnlab.Network([64, 30, 10], seed=2)
    job_on = nnlab.train(on, digits, epochs=2, seed=2, diagnostics=True, progress=False)
    job_off = nnlab.train(off, digits, epochs=2, seed=2, progress=False)
    for a, b in zip([*on.weights, *on.biases], [*off.weights, *off.biases]):
        np.testing.assert_array_equal(a, b)
    assert [r.training_cost for r in job_on.history] == [r.training_cost for r in job_off.history]
    assert all(r.diagnostics is None for r in job_off.history)
    assert job_off.history[0].to_dict()["diagnostics"] is None


def test_the_record_is_frozen() -> None:
    d = Diagnostics((0.1,), (0.0,), (1.0,), (0.2,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.saturation = (1.0,)  # type: ignore[misc]


# ---------------------------------------------------------------------- REST
def test_rest_job_history_carries_the_diagnostics(server: Server) -> None:
    api = Api(server.url)
    net = api.create_network([64, 30, 10], activation="tanh", seed=4)
    status, job = api.post(
        f"/api/networks/{net['network_id']}/train",
        {"epochs": 2, "seed": 4, "learning_rate": 0.1, "diagnostics": True},
    )
    assert status == 202, job
    done = api.wait_job(job["job_id"])
    assert done["status"] == "completed"
    local = nnlab.train(
        nnlab.Network([64, 30, 10], activation="tanh", seed=4),
        epochs=2,
        seed=4,
        learning_rate=0.1,
        diagnostics=True,
        progress=False,
    )
    for row, record in zip(done["history"], local.history, strict=True):
        assert record.diagnostics is not None
        assert row["diagnostics"] == record.diagnostics.to_dict()
    status, other = api.post(f"/api/networks/{net['network_id']}/train", {"epochs": 1, "seed": 4})
    assert status == 202, other
    assert api.wait_job(other["job_id"])["history"][0]["diagnostics"] is None
