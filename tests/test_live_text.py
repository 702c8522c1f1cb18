"""Text mode in real subprocesses: what a terminal or a script shows, without widgets."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

ENV = {**os.environ, "NNLAB_STABLE_OUTPUT": "1"}

SCRIPT = textwrap.dedent(
    """
    import sys
    import nnlab
    assert "ipywidgets" not in sys.modules and "nnlab.live" not in sys.modules
    net = nnlab.Network([64, 12, 10], seed=0)
    nnlab.train(net, epochs=2, seed=0)                  # progress="auto": lines on stderr
    assert "ipywidgets" not in sys.modules and "nnlab.live" not in sys.modules
    print("widgets:", flush=True)
    nnlab.train(net, epochs=1, seed=0, progress="widgets")  # no front end: a warning, then lines
    nnlab.train(net, epochs=1, seed=0, progress="widgets")  # the warning comes once
    """
)


def test_script_gets_lines_and_never_loads_widgets() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, env=ENV
    )
    assert result.returncode == 0, result.stderr
    err = result.stderr.splitlines()
    assert re.fullmatch(
        r"epoch 1/2  accuracy \d{1,3}\.\d{2}% \(\d+/300\)  training cost \d\.\d{4}  "
        r"validation accuracy \d{1,3}\.\d{2}%",
        err[0],
    )
    assert err[1].startswith("epoch 2/2  accuracy ")
    assert re.fullmatch(
        r"completed 2/2 epochs; best validation accuracy \d{1,3}\.\d{2}% at epoch [12]", err[2]
    )
    assert sum("ProgressWarning: progress='widgets' needs a Jupyter front end" in line for line in err) == 1
    out = result.stdout.splitlines()
    assert out[0] == "widgets:"
    assert [line.split("  ")[0].split(";")[0] for line in out[1:]] == [
        "epoch 1/1",
        "completed 1/1 epochs",
    ] * 2
    assert len(out) == 5  # two runs of one epoch: a line per epoch and one at the end, each


def test_cli_prints_one_stable_line_per_epoch() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nnlab", "train", "--sizes", "64,12,10", "--epochs", "3", "--seed", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("training Network([64, 12, 10]")
    epochs = lines[1:4]
    assert [line.split("  ")[0] for line in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all(
        re.search(r"accuracy \d{1,3}\.\d{2}% \(\d+/300\)  training cost \d+\.\d{4}", line) for line in epochs
    )
    assert not any(re.search(r"\b(\d+ms|\d+\.\d+s)\b", line) for line in lines)  # stable: no timings
    assert re.fullmatch(
        r"completed 3/3 epochs; best validation accuracy \d{1,3}\.\d{2}% at epoch [1-3]", lines[4]
    )
    assert result.stderr == ""
