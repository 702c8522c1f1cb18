"""Shared fixtures for nnlab's tests."""

from __future__ import annotations

import numpy as np
import pytest

import nnlab
from nnlab.datasets import Dataset


@pytest.fixture(scope="session")
def digits() -> Dataset:
    """The bundled digits (cached by nnlab, read-only)."""
    return nnlab.datasets.digits()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
