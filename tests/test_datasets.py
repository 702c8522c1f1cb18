"""The bundled digits, user arrays and loading by name."""

from __future__ import annotations

import numpy as np
import pytest

import nnlab
from nnlab import datasets


def test_digits_is_the_documented_fixed_split(digits: nnlab.Dataset) -> None:
    assert digits.sizes() == {"train": 1297, "validation": 200, "test": 300}
    assert (digits.n_features, digits.n_classes) == (64, 10)
    splits = [digits.train, digits.validation, digits.test]
    X = np.concatenate([s[0] for s in splits if s is not None])
    y = np.concatenate([s[1] for s in splits if s is not None])
    assert X.shape == (1797, 64)
    assert X.min() == 0.0
    assert X.max() == 1.0
    # pixel counts 0..16 scaled by 1/16, every row exactly once (no overlap between splits)
    np.testing.assert_array_equal(X * 16, np.round(X * 16))
    assert len({row.tobytes() for row in X}) == len(np.unique(X, axis=0))
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    # the same split every time: rows shuffled by default_rng(0), test first
    with np.load(nnlab.datasets.__path__[0] + "/digits.npz") as raw:
        order = np.random.default_rng(0).permutation(1797)
        np.testing.assert_array_equal(digits.test[1], raw["target"][order[:300]])


def test_dataset_arrays_are_read_only(digits: nnlab.Dataset) -> None:
    with pytest.raises(ValueError, match="read-only"):
        digits.train[0][0, 0] = 5.0


def test_load_by_name() -> None:
    assert datasets.load("digits") is datasets.digits()
    assert datasets.available() == ["digits", "mnist"]
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar'.*\['digits', 'mnist'\]"):
        datasets.load("cifar")


def test_from_arrays_splits_by_fraction_or_count() -> None:
    X = np.arange(200, dtype=float).reshape(100, 2) / 200
    y = np.arange(100) % 3
    data = datasets.from_arrays(X, y, validation=0.1, test=0.2, seed=1)
    assert data.sizes() == {"train": 70, "validation": 10, "test": 20}
    assert data.n_classes == 3
    assert data.n_features == 2
    all_rows = np.concatenate([data.train[0], data.validation[0], data.test[0]])
    assert sorted(all_rows[:, 0].tolist()) == sorted(X[:, 0].tolist())
    counted = datasets.from_arrays(X, y, validation=5, test=0, seed=None)
    assert counted.test is None
    assert counted.sizes()["validation"] == 5
    np.testing.assert_array_equal(counted.validation[0], X[:5])  # seed=None keeps the order
    assert datasets.from_arrays(X, y.astype(float), n_classes=5).n_classes == 5


@pytest.mark.parametrize(
    ("X", "y", "kwargs", "message"),
    [
        (np.zeros((4, 2)), [0, 1, 0], {}, "one per row of X"),
        (np.zeros(4), [0, 1, 0, 1], {}, "2-D array"),
        (np.array([[np.nan, 1.0]] * 4), [0, 1, 0, 1], {}, "NaN"),
        (np.zeros((4, 2)), [0, 1, -1, 1], {}, ">= 0"),
        (np.zeros((4, 2)), ["a", "b", "a", "b"], {}, "map your classes to ints"),
        (np.zeros((4, 2)), [0.5, 1, 0, 1], {}, "int class labels"),
        (np.zeros((4, 2)), [0, 1, 2, 1], {"n_classes": 2}, r"0\.\.1"),
        (np.zeros((4, 2)), [0, 1, 0, 1], {"test": 1.5}, r"fraction in \[0, 1\)"),
        (np.zeros((4, 2)), [0, 1, 0, 1], {"validation": 2, "test": 2}, "no training rows"),
        ([["x", "y"]] * 4, [0, 1, 0, 1], {}, "array of numbers"),
    ],
)
def test_from_arrays_rejects_bad_input_with_the_fix(X: object, y: object, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        datasets.from_arrays(X, y, **kwargs)


def test_repr_summarises() -> None:
    assert repr(datasets.digits()) == (
        "Dataset('digits': train 1297, validation 200, test 300; 64 features, 10 classes)"
    )
    assert datasets.digits().to_dict()["sizes"]["test"] == 300


def test_inputs_far_outside_0_1_warn_once_with_the_fix(digits: nnlab.Dataset) -> None:
    X, y = digits.train
    with pytest.warns(datasets.InputScaleWarning, match=r"range from 0 to 255.*e\.g\. X / 255") as caught:
        datasets.from_arrays(np.round(X * 255), y)
    assert len(caught) == 1
    assert caught[0].filename == __file__  # it points at the user's line, not into nnlab
    with pytest.warns(datasets.InputScaleWarning, match=r"\(X - X\.min\(\)\) / \(X\.max\(\) - X\.min\(\)\)"):
        nnlab.Dataset(name="centred", train=(X * 10 - 5, y), validation=None, test=None, n_classes=10)


def test_inputs_in_or_near_0_1_do_not_warn(digits: nnlab.Dataset) -> None:
    import warnings

    X, y = digits.train
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        datasets.from_arrays(X, y)
        datasets.from_arrays(X * 3 - 1, y)  # standardised-looking data is left alone
        datasets.expand(digits)


def test_expand_adds_four_shifted_copies_of_the_training_images(digits: nnlab.Dataset) -> None:
    big = datasets.expand(digits)
    X, y = digits.train
    m = X.shape[0]
    assert big.sizes() == {"train": 5 * m, "validation": 200, "test": 300}
    assert big.name == "digits-expanded"
    assert big.validation is digits.validation
    assert big.test is digits.test
    np.testing.assert_array_equal(big.train[1], np.tile(y, 5))
    images = X.reshape(m, 8, 8)
    copies = big.train[0].reshape(5, m, 8, 8)
    np.testing.assert_array_equal(copies[0], images)
    # an independent oracle: np.roll, then blank the row or column that wrapped around
    for k, (shift, axis, edge) in enumerate([(-1, 1, -1), (1, 1, 0), (-1, 2, -1), (1, 2, 0)], start=1):
        expected = np.roll(images, shift, axis=axis)
        index = [slice(None)] * 3
        index[axis] = edge
        expected[tuple(index)] = 0.0
        np.testing.assert_array_equal(copies[k], expected)
    with pytest.raises(ValueError, match="read-only"):
        big.train[0][0, 0] = 1.0


def test_expand_rejects_what_it_cannot_shift() -> None:
    odd = datasets.from_arrays(np.full((10, 6), 0.5), np.arange(10) % 2, test=0)
    with pytest.raises(ValueError, match="square images, got 6 pixels"):
        datasets.expand(odd)
    with pytest.raises(ValueError, match=r"pixels must be an int in 1\.\.7"):
        datasets.expand(datasets.digits(), pixels=8)
