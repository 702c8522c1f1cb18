"""`nnlab train` in a real subprocess: what a terminal user sees."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import nnlab
from nnlab import cli
from nnlab.registry import registry

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
    outcome = r"best validation accuracy \d{1,3}\.\d{2}% at epoch [1-3]"
    assert re.match(rf"completed 3/3 epochs in (\d+ms|\d+\.\ds); {outcome}", lines[-2])
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
    assert result.stdout.splitlines()[-1].startswith("completed 2/2 epochs; best validation accuracy")


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


def test_help_shows_the_defaults() -> None:
    result = _nnlab("train", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # argparse wraps lines
    for expected in (
        "passes over the training set (default: 10)",
        "examples per weight update (default: 10)",
        "step size η (default: 3.0)",
        "(default: digits)",
        "(default: cross_entropy, or log_likelihood with --output softmax)",
        "(default: never)",
    ):
        assert expected in text
    assert "default: None" not in text


def test_a_save_path_that_cannot_work_fails_before_training(tmp_path: Path) -> None:
    missing = _nnlab("train", "--epochs", "1", "--save", str(tmp_path / "nofolder" / "n.json"))
    assert missing.returncode == 2
    assert "the folder" in missing.stderr
    assert "does not exist: create it first" in missing.stderr
    assert "training" not in missing.stdout  # nothing was trained
    a_folder = _nnlab("train", "--epochs", "1", "--save", str(tmp_path))
    assert a_folder.returncode == 2
    assert "that is a folder; give a file name" in a_folder.stderr
    assert list(tmp_path.iterdir()) == []  # the write check leaves nothing behind


class _RemoveFolderAtTheEnd(nnlab.Observer):
    """Deletes a folder as the run ends, before the command saves into it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_run_end(self, job: object) -> None:
        shutil.rmtree(self.folder)


def test_a_save_that_fails_after_training_keeps_the_result_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setenv("NNLAB_STABLE_OUTPUT", "1")
    remover = _RemoveFolderAtTheEnd(out)
    registry.add_observer(remover)
    try:
        status = cli.main(["train", "--epochs", "2", "--seed", "0", "--save", str(out / "n.json")])
    finally:
        registry.remove_observer(remover)
    err = capsys.readouterr().err
    assert status == 1
    match = re.search(r"could not save to .*n\.json \(.*\); it was saved to (\S+) instead", err)
    assert match, err
    kept = Path(match.group(1))
    assert kept.parent == here
    assert kept.name.startswith("n-")
    assert nnlab.Network.load(kept).epochs_trained == 2


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_mnist_offline_advice_speaks_cli(tmp_path: Path) -> None:
    cache = tmp_path / "mnist"
    env = {**ENV, "NNLAB_MNIST_MIRRORS": _closed_port_url()}
    result = _nnlab("train", "--dataset", "mnist", "--cache-dir", str(cache), env=env)
    assert result.returncode == 2
    assert "MNIST is not available" in result.stderr
    assert f"into {cache} (or pass --cache-dir DIR, or set NNLAB_DATA_DIR)" in result.stderr
    assert "--dataset digits needs no download" in result.stderr
    assert "cache_dir=" not in result.stderr
    assert "Traceback" not in result.stderr
    wrong = _nnlab("train", "--cache-dir", str(cache))
    assert wrong.returncode == 2
    assert "--cache-dir is for --dataset mnist" in wrong.stderr
