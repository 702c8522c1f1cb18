"""`nnlab train` in a real subprocess: what a terminal user sees."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nnlab

ENV = {**os.environ, "NNLAB_STABLE_OUTPUT": ""}


def _nnlab(*args: str, env: dict[str, str] = ENV) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nnlab", *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_train_prints_one_line_per_epoch_and_saves(tmp_path: Path) -> None:
    path = tmp_path / "net.json"
    result = _nnlab(
        "train",
        "--sizes",
        "64,30,10",
        "--epochs",
        "3",
        "--mini-batch-size",
        "10",
        "--learning-rate",
        "3.0",
        "--seed",
        "0",
        "--save",
        str(path),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        "training Network([64, 30, 10], cost='cross_entropy') on digits (1297 examples)"
    )
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 3
    for k, line in enumerate(epoch_lines, start=1):
        assert re.fullmatch(
            rf"epoch {k}/3  accuracy \d{{1,3}}\.\d{{2}}% \(\d+/300\)  training cost \d+\.\d{{4}}  "
            r"validation accuracy \d{1,3}\.\d{2}%  (\d+ms|\d+\.\d+s)",
            line,
        ), line
    assert re.match(r"completed 3/3 epochs in (\d+ms|\d+\.\ds); best accuracy \d{1,3}\.\d{2}%", lines[-2])
    assert lines[-1] == f"saved the network to {path}"
    net = nnlab.Network.load(path)
    assert net.sizes == (64, 30, 10)
    assert net.epochs_trained == 3
    # the same run in-process gives the same accuracies (same seed)
    job = nnlab.train(nnlab.Network([64, 30, 10], seed=0), epochs=3, seed=0)
    assert [f"({r.correct}/300)" in line for r, line in zip(job.history, epoch_lines)] == [True] * 3

    again = _nnlab("train", "--load", str(path), "--epochs", "1", "--seed", "1", "--save", str(path))
    assert again.returncode == 0, again.stderr
    assert nnlab.Network.load(path).epochs_trained == 4


def test_stable_output_leaves_out_timings() -> None:
    result = _nnlab("train", "--epochs", "2", "--seed", "0", env={**ENV, "NNLAB_STABLE_OUTPUT": "1"})
    assert result.returncode == 0, result.stderr
    epoch_lines = [line for line in result.stdout.splitlines() if line.startswith("epoch")]
    assert len(epoch_lines) == 2
    assert not any(line.endswith("s") for line in epoch_lines)
    assert result.stdout.splitlines()[-1].startswith("completed 2/2 epochs; best accuracy")


def test_bad_arguments_exit_2_with_a_message() -> None:
    bad_sizes = _nnlab("train", "--sizes", "64,x,10")
    assert bad_sizes.returncode == 2
    assert "comma-separated ints such as 64,30,10" in bad_sizes.stderr
    mismatch = _nnlab("train", "--sizes", "784,30,10")
    assert mismatch.returncode == 2
    assert "takes 784 inputs but dataset 'digits' has 64 features" in mismatch.stderr
    assert "Traceback" not in mismatch.stderr
    negative = _nnlab("train", "--learning-rate", "-1")
    assert negative.returncode == 2
    assert "learning_rate must be a positive finite number" in negative.stderr


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("nnlab")
    result = subprocess.run([str(script), "train", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "--mini-batch-size" in result.stdout
