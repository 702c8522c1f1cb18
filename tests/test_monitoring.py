"""Training cost and accuracy: running (from the SGD pass) by default, a full pass on request."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from recording import allocation_growth

import nnlab
from nnlab import ParameterError
from nnlab._sgd import MiniBatchSGD
from nnlab.network import one_hot


def _twin_epochs(
    net: nnlab.Network, data: nnlab.Dataset, seed: int, epochs: int, **kw: object
) -> Iterator[MiniBatchSGD]:
    """The engine train() drives, stepped by hand over train()'s own permutations."""
    X, y = data.train
    engine = MiniBatchSGD(net, X, one_hot(y, net.n_outputs), 10, **kw)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        engine.epoch(rng.permutation(X.shape[0]), 3.0, 0.5)
        yield engine


def test_default_training_cost_and_accuracy_are_the_running_ones(digits: nnlab.Dataset) -> None:
    job = nnlab.train(nnlab.Network([64, 30, 10], seed=3), digits, epochs=3, seed=8, lmbda=0.5)
    assert job.params.training_cost == "running"
    twin = nnlab.Network([64, 30, 10], seed=3)
    for record, engine in zip(job.history, _twin_epochs(twin, digits, 8, 3, monitor=True), strict=True):
        assert record.training_cost == engine.running_cost
        assert record.training_accuracy == engine.running_accuracy


def test_full_training_cost_is_a_pass_over_the_training_set_after_the_epoch(digits: nnlab.Dataset) -> None:
    X, y = digits.train
    job = nnlab.train(
        nnlab.Network([64, 30, 10], seed=3), digits, epochs=3, seed=8, lmbda=0.5, training_cost="full"
    )
    twin = nnlab.Network([64, 30, 10], seed=3)
    for record, engine in zip(job.history, _twin_epochs(twin, digits, 8, 3), strict=True):
        assert engine.running_cost is None
        assert record.training_cost == twin.total_cost(X, y, lmbda=0.5)
        assert record.training_accuracy == twin.evaluate(X, y) / X.shape[0]


def test_while_the_network_improves_the_running_cost_is_the_higher(digits: nnlab.Dataset) -> None:
    """The documented difference: running scores each example before its mini-batch's
    update, so in the first epoch it remembers the untrained network."""
    running = nnlab.train(nnlab.Network([64, 30, 10], seed=0), digits, epochs=2, seed=0)
    full = nnlab.train(nnlab.Network([64, 30, 10], seed=0), digits, epochs=2, seed=0, training_cost="full")
    for r, f in zip(running.history, full.history, strict=True):
        assert r.accuracy == f.accuracy  # the same training; only the measurement differs
        assert r.training_cost > f.training_cost
        assert r.training_accuracy < f.training_accuracy


@pytest.mark.parametrize("cost", ["cross_entropy", "quadratic"])
def test_float32_running_scores_agree_with_float64(digits: nnlab.Dataset, cost: str) -> None:
    jobs = [
        nnlab.train(nnlab.Network([64, 30, 10], cost=cost, seed=0, dtype=dtype), digits, epochs=2, seed=0)
        for dtype in ("float64", "float32")
    ]
    for r64, r32 in zip(jobs[0].history, jobs[1].history, strict=True):
        assert r32.training_cost == pytest.approx(r64.training_cost, rel=1e-5)
        assert r32.training_accuracy == pytest.approx(r64.training_accuracy, abs=2 / 1297)


@pytest.mark.parametrize("value", ["fast", "Full", None, True, 1, ["full"]])
def test_training_cost_must_be_running_or_full(digits: nnlab.Dataset, value: object) -> None:
    with pytest.raises(ParameterError, match=r"training_cost must be 'running' .* or 'full'") as info:
        nnlab.train(nnlab.Network([64, 30, 10]), digits, training_cost=value, progress=False)  # type: ignore[arg-type]
    assert info.value.field == "training_cost"


def test_records_carry_training_accuracy_and_the_wire_update_does_not(digits: nnlab.Dataset) -> None:
    job = nnlab.train(nnlab.Network([64, 30, 10], seed=1), digits, epochs=1, seed=1, training_cost="full")
    data = job.to_dict()
    assert data["parameters"]["training_cost"] == "full"
    row = data["history"][0]
    assert row["training_accuracy"] == job.history[0].training_accuracy
    assert 0.0 < row["training_accuracy"] <= 1.0
    assert "training_accuracy" not in job.history[0].update.to_dict()
    assert "training_cost" not in job.history[0].update.to_dict()


def test_the_hot_loop_allocates_no_arrays_with_or_without_monitoring(digits: nnlab.Dataset) -> None:
    # mini-batches of 50: the smallest per-batch array (50 x 10 outputs) would be 4,000 bytes
    for monitor in (False, True):
        X, y = digits.train
        net = nnlab.Network([64, 30, 10], seed=0)
        growth = allocation_growth(MiniBatchSGD(net, X, one_hot(y, 10), 50, monitor=monitor), 3.0)
        assert growth < 1_000, f"monitor={monitor}: {growth} bytes allocated during the loop"


# ---------------------------------------------------------------------- REST and CLI


def test_cli_training_cost_full_prints_the_full_pass_cost() -> None:
    env = {**os.environ, "NNLAB_STABLE_OUTPUT": "1"}
    costs = {}
    for choice in ("running", "full"):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "nnlab",
                "train",
                "--epochs",
                "1",
                "--seed",
                "0",
                "--training-cost",
                choice,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        match = re.search(r"training cost (\d+\.\d{4})", result.stdout)
        assert match, result.stdout
        costs[choice] = float(match.group(1))
    net = nnlab.Network([64, 30, 10], seed=0)
    job = nnlab.train(net, epochs=1, seed=0, training_cost="full")
    assert costs["full"] == round(job.history[0].training_cost, 4)
    assert costs["running"] > costs["full"]
    bad = subprocess.run(
        [sys.executable, "-m", "nnlab", "train", "--training-cost", "cheap"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert bad.returncode == 2
    assert "invalid choice: 'cheap'" in bad.stderr
