"""Network: construction, inference, bad input and the JSON file format."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest

import nnlab
from nnlab.network import MAX_PARAMETERS


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ([], "at least 2 layers"),
        ([5], "at least 2 layers"),
        ([0, 3], "0 is not a positive int"),
        ([3, -1], "-1 is not a positive int"),
        ([2.5, 3], "2.5 is not a positive int"),
        ([True, 3], "True is not a positive int"),
        ("784,30,10", "list of layer sizes"),
        (784, "list of layer sizes"),
        ([784, 100_000, 10], "more than the limit"),
    ],
)
def test_bad_sizes_raise_value_error_that_says_what_to_use(sizes: object, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        nnlab.Network(sizes)  # type: ignore[arg-type]
    assert "[784, 30, 10]" in str(info.value) or "smaller hidden layers" in str(info.value)


def test_parameter_limit_is_the_bound() -> None:
    n_hidden = MAX_PARAMETERS // 12 - 1  # [10, n, 1] has 12 n + 1 parameters
    nnlab.network.check_sizes([10, n_hidden, 1])
    with pytest.raises(ValueError, match="limit"):
        nnlab.network.check_sizes([10, n_hidden + 2, 1])


def test_other_bad_options_are_named() -> None:
    with pytest.raises(ValueError, match="unknown cost 'hinge'"):
        nnlab.Network([2, 2], cost="hinge")
    with pytest.raises(ValueError, match="init must be"):
        nnlab.Network([2, 2], init="xavier")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dtype must be"):
        nnlab.Network([2, 2], dtype="float16")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed must be"):
        nnlab.Network([2, 2], seed=-1)


def test_shapes_ids_and_seeded_initialisation() -> None:
    net = nnlab.Network([784, 30, 10], seed=0)
    assert [w.shape for w in net.weights] == [(30, 784), (10, 30)]
    assert [b.shape for b in net.biases] == [(30,), (10,)]
    assert uuid.UUID(net.network_id).version == 4
    assert net.network_id != nnlab.Network([784, 30, 10], seed=0).network_id
    same = nnlab.Network([784, 30, 10], seed=0)
    for a, b in zip([*net.weights, *net.biases], [*same.weights, *same.biases]):
        np.testing.assert_array_equal(a, b)
    other = nnlab.Network([784, 30, 10], seed=1)
    assert not np.array_equal(net.weights[0], other.weights[0])
    assert net.n_parameters == 30 * 785 + 10 * 31


@pytest.mark.parametrize(("init", "expected_std"), [("default", 1 / 20), ("large", 1.0)])
def test_weight_initialisation_follows_the_book(init: str, expected_std: float) -> None:
    net = nnlab.Network([400, 300, 2], init=init, seed=3)  # type: ignore[arg-type]
    assert net.weights[0].std() == pytest.approx(expected_std, rel=0.02)
    assert net.weights[0].mean() == pytest.approx(0.0, abs=0.02 * expected_std)
    assert net.biases[0].std() == pytest.approx(1.0, rel=0.2)


def test_float32_network_starts_from_the_rounded_float64_weights() -> None:
    net64 = nnlab.Network([64, 30, 10], seed=4)
    net32 = nnlab.Network([64, 30, 10], seed=4, dtype="float32")
    assert net32.weights[0].dtype == np.float32
    np.testing.assert_array_equal(net32.weights[0], net64.weights[0].astype(np.float32))


def test_feedforward_predict_and_evaluate(digits: nnlab.Dataset) -> None:
    net = nnlab.Network([64, 30, 10], seed=0)
    X, y = digits.test
    out = net.feedforward(X)
    assert out.shape == (300, 10)
    assert ((out > 0) & (out < 1)).all()
    np.testing.assert_allclose(net.feedforward(X[0]), out[0], rtol=1e-12)  # BLAS gemv vs gemm
    np.testing.assert_array_equal(net.predict(X), out.argmax(axis=1))
    assert net.evaluate(X, y) == int((out.argmax(axis=1) == y).sum())
    cost = net.total_cost(X, y)
    assert cost > 0
    assert net.total_cost(X, y, lmbda=1.0) > cost


def test_bad_inputs_say_expected_and_got() -> None:
    net = nnlab.Network([64, 30, 10], seed=0)
    with pytest.raises(ValueError, match=r"must have 64 features per row.*got 63"):
        net.feedforward(np.zeros((2, 63)))
    bad = np.zeros((2, 64))
    bad[1, 5] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        net.predict(bad)
    with pytest.raises(ValueError, match="array of numbers"):
        net.feedforward([["a"] * 64])
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.9"):
        net.evaluate(np.zeros((2, 64)), [0, 10])
    with pytest.raises(ValueError, match="labels must be >= 0"):
        net.evaluate(np.zeros((2, 64)), [0, -1])
    with pytest.raises(ValueError, match="2 class labels"):
        net.evaluate(np.zeros((2, 64)), [0, 1, 2])
    with pytest.raises(ValueError, match="int class labels"):
        net.evaluate(np.zeros((2, 64)), [0.5, 1.0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_save_load_round_trip_is_exact(tmp_path: Path, digits: nnlab.Dataset, dtype: str) -> None:
    net = nnlab.Network([64, 30, 10], cost="quadratic", seed=5, dtype=dtype)  # type: ignore[arg-type]
    nnlab.train(net, digits, epochs=1, seed=0)
    path = net.save(tmp_path / "net.json")
    loaded = nnlab.Network.load(path)
    assert loaded.network_id == net.network_id
    assert loaded.sizes == net.sizes
    assert loaded.cost is net.cost
    assert loaded.dtype == net.dtype
    assert loaded.epochs_trained == 1
    for a, b in zip([*net.weights, *net.biases], [*loaded.weights, *loaded.biases]):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    X = digits.test[0]
    np.testing.assert_array_equal(net.feedforward(X), loaded.feedforward(X))
    assert not list(tmp_path.glob("*.tmp")), "the atomic write left a temporary file"


def test_loading_something_else_fails_clearly(tmp_path: Path) -> None:
    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    good = nnlab.Network([3, 2], seed=0).to_dict()
    cases = {
        "notjson.json": ("not json at all", "not an nnlab network file"),
        "binary.json": (b"\x89PNG\r\n\x1a\n\xff\xfe", "not an nnlab network file"),
        "other.json": (json.dumps({"hello": 1}), "not an nnlab network file"),
        "list.json": (json.dumps([1, 2]), "not an nnlab network file"),
        "missing.json": (
            json.dumps({k: v for k, v in good.items() if k != "weights"}),
            "lacks the field 'weights'",
        ),
        "shape.json": (json.dumps({**good, "sizes": [3, 4]}), "do not match sizes"),
        "version.json": (json.dumps({**good, "version": 99}), "upgrade nnlab"),
        "nan.json": (json.dumps({**good, "biases": [[float("nan"), 0.0]]}), "non-finite"),
    }
    for name, (content, message) in cases.items():
        with pytest.raises(ValueError, match=message):
            nnlab.Network.load(write(name, content))
    with pytest.raises(FileNotFoundError, match="no network file"):
        nnlab.Network.load(tmp_path / "absent.json")


def test_a_network_with_nan_weights_refuses_to_save(tmp_path: Path) -> None:
    net = nnlab.Network([3, 2], seed=0)
    net.weights[0][0, 0] = np.inf
    with pytest.raises(ValueError, match="cannot be saved"):
        net.save(tmp_path / "net.json")
    assert not (tmp_path / "net.json").exists()


def test_repr_reads() -> None:
    assert repr(nnlab.Network([784, 30, 10], cost="quadratic")) == "Network([784, 30, 10], cost='quadratic')"


def test_a_version_1_file_still_loads_as_a_sigmoid_network(tmp_path: Path) -> None:
    """What nnlab wrote before the file format knew about neurons (version 1), verbatim."""
    old = {
        "format": "nnlab.network",
        "version": 1,
        "network_id": "5d1e4c8e-0000-4000-8000-000000000001",
        "sizes": [3, 2, 2],
        "cost": "quadratic",
        "init": "default",
        "seed": 4,
        "dtype": "float64",
        "n_parameters": 14,
        "epochs_trained": 3,
        "weights": [[[0.5, -1.0, 0.25], [1.5, 0.0, -0.5]], [[1.0, -2.0], [0.75, 0.5]]],
        "biases": [[0.1, -0.2], [0.3, 0.0]],
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    net = nnlab.Network.load(path)
    assert (net.activation.name, net.output.name, net.cost.name) == ("sigmoid", "sigmoid", "quadratic")
    assert net.network_id == old["network_id"]
    assert net.epochs_trained == 3
    x = np.array([1.0, 2.0, -1.0])
    hidden = 1 / (1 + np.exp(-(np.array(old["weights"][0]) @ x + old["biases"][0])))
    expected = 1 / (1 + np.exp(-(np.array(old["weights"][1]) @ hidden + old["biases"][1])))
    np.testing.assert_allclose(net.feedforward(x), expected, rtol=1e-14)
    # saved again, it is a version 2 file naming its neurons
    again = json.loads(net.save(tmp_path / "new.json").read_text())
    assert (again["version"], again["activation"], again["output"]) == (2, "sigmoid", "sigmoid")


def test_a_file_naming_unknown_neurons_fails_clearly(tmp_path: Path) -> None:
    data = nnlab.Network([3, 2, 2], seed=0).to_dict()
    path = tmp_path / "net.json"
    path.write_text(json.dumps({**data, "activation": "swish"}))
    with pytest.raises(ValueError, match="activation must be 'sigmoid', 'tanh' or 'relu'"):
        nnlab.Network.load(path)
    path.write_text(json.dumps({k: v for k, v in data.items() if k != "output"}))
    with pytest.raises(ValueError, match="lacks the field 'output'"):
        nnlab.Network.load(path)
