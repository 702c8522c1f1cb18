"""The live view in a real kernel: a notebook executed with nbclient, widget state saved.

One kernel runs every scenario, cell by cell: the default ``train()`` (``progress="auto"``
picks the widgets), stable output (the record appended, for nbval), a Stop click sent
by a second client while the training cell blocks the kernel, Ctrl-C, a background run
with ``nnlab.watch`` in the same cell (one view, one record) then cancelled from a
thread, and a network trained on (its epochs counted on).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
TIMING = re.compile(r"\d(ms|s)\b|/s\b|s/epoch")

SETUP = """
import os, signal, threading, time
os.environ.pop("NNLAB_STABLE_OUTPUT", None)
os.environ["NNLAB_LIVE_INTERVAL"] = "0.05"
import numpy as np
import nnlab
from nnlab.live import LiveView
from nnlab.observers import Observer

# long enough epochs (3,000 mini-batches) to stop in the middle of one
rng = np.random.default_rng(0)
big = nnlab.datasets.from_arrays(rng.random((30_000, 64)), rng.integers(0, 10, 30_000), name="big")

class Mark(Observer):
    "Writes the finished epochs to a file the test reads."
    def __init__(self, path):
        self.path = path
    def on_epoch_end(self, job, record):
        with open(self.path, "w") as f:
            f.write(str(record.epoch))
"""

AUTO = """
job = nnlab.train(nnlab.Network([64, 20, 10], seed=0), epochs=5, seed=0)
job.status
"""

STABLE = """
os.environ["NNLAB_STABLE_OUTPUT"] = "1"
stable_job = nnlab.train(nnlab.Network([64, 20, 10], seed=0), epochs=3, seed=0, progress="widgets")
del os.environ["NNLAB_STABLE_OUTPUT"]
"""

STOP = """
view = LiveView()
with open({ids!r}, "w") as f:
    f.write(view.stop_button.model_id)
stopped = nnlab.train(nnlab.Network([64, 20, 10], seed=1), big, epochs=100, seed=0, progress=False,
                      observers=[view, Mark({mark!r})])
print(stopped.status, stopped.stop_reason, len(stopped.history), stopped.batches_done, stopped.n_batches)
"""

INTERRUPT = """
class CtrlC(Observer):
    def on_epoch_end(self, job, record):
        if record.epoch == 2:
            os.kill(os.getpid(), signal.SIGINT)

nnlab.train(nnlab.Network([64, 20, 10], seed=2), big, epochs=50, seed=0, progress="widgets",
            observers=[CtrlC()])
"""

LAST_JOB = """
interrupted = nnlab.last_job()
print(interrupted.status, interrupted.stop_reason, len(interrupted.history))
"""

BACKGROUND = """
bg = nnlab.train(nnlab.Network([64, 20, 10], seed=3), big, epochs=100, seed=0, background=True,
                 observers=[Mark({mark!r})])
watcher = nnlab.watch(bg)
watcher
"""

CONTINUE = """
cont = nnlab.Network([64, 20, 10], seed=4)
nnlab.train(cont, epochs=3, seed=0, progress=False)
again = nnlab.train(cont, epochs=2, seed=1)
"""

CANCEL = """
while len(bg.history) < 2:
    time.sleep(0.01)
threading.Thread(target=bg.cancel).start()
print(bg.wait(60), watcher.wait(60), bg.status, len(bg.history))
time.sleep(0.3)  # the background view writes its record from the training thread
"""


async def _click_stop_when_two_epochs_done(client: NotebookClient, ids: Path, mark: Path) -> None:
    """Click Stop as a front end does, on the connection that runs the cell, while it runs."""
    deadline = time.monotonic() + 60
    while not (mark.exists() and mark.read_text() and int(mark.read_text()) >= 2):
        assert time.monotonic() < deadline, "the run never reached epoch 2"
        await asyncio.sleep(0.02)
    content = {"comm_id": ids.read_text(), "data": {"method": "custom", "content": {"event": "click"}}}
    client.kc.shell_channel.send(client.kc.session.msg("comm_msg", content))


def _code(source: str, *, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source.strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("live_kernel")
    ids, mark, bg_mark = tmp / "stop_id", tmp / "stop_mark", tmp / "bg_mark"
    cells = {
        "setup": _code(SETUP),
        "auto": _code(AUTO),
        "stable": _code(STABLE),
        "stop": _code(STOP.format(ids=str(ids), mark=str(mark))),
        "interrupt": _code(INTERRUPT, tags=("raises-exception",)),
        "last_job": _code(LAST_JOB),
        "background": _code(BACKGROUND.format(mark=str(bg_mark))),
        "cancel": _code(CANCEL),
        "continue": _code(CONTINUE),
    }
    nb = nbformat.v4.new_notebook(cells=list(cells.values()))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True)

    async def run() -> None:
        async with client.async_setup_kernel():
            for index, (name, cell) in enumerate(cells.items()):
                click = None
                if name == "stop":
                    click = asyncio.ensure_future(_click_stop_when_two_epochs_done(client, ids, mark))
                await client.async_execute_cell(cell, index)
                if click is not None:
                    await asyncio.wait_for(click, 1)
            client.set_widgets_metadata()

    asyncio.run(run())
    nbformat.write(nb, tmp / "live.ipynb")  # kept for a look when a test fails
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    return {"cells": cells, "widgets": state}


def _outputs(executed: dict[str, Any], name: str) -> list[Any]:
    return executed["cells"][name].outputs


def _records(outputs: list[Any]) -> list[Any]:
    return [o for o in outputs if o.get("data", {}).get("text/html", "").startswith('<div class="nnlab-live')]


def _bars(executed: dict[str, Any]) -> list[dict[str, Any]]:
    return [m["state"] for m in executed["widgets"].values() if m["model_name"] == "IntProgressModel"]


def _stream(outputs: list[Any]) -> str:
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


def test_default_progress_shows_widgets_then_leaves_a_static_record(executed: dict[str, Any]) -> None:
    outputs = _outputs(executed, "auto")
    (record,) = _records(outputs)
    assert WIDGET_MIME not in record.data  # the widget output was replaced in place
    text = record.data["text/plain"]
    assert text.startswith("Training [64, 20, 10] on digits · Completed · 5/5 epochs in ")
    assert re.search(r"^Epochs +\[#{20}\] 5/5 \[100%\] \S+, \S+/epoch$", text, re.M)
    assert re.search(r"^Batches +\[#{20}\] 130/130 \[100%\] \S+, [\d,]+ batches/s$", text, re.M)
    rows = re.findall(r"^ +(\d) +[\d.]+ +[\d.]+ +\d+\.\d\d% +(\d+)/300 ", text, re.M)
    assert [int(epoch) for epoch, _ in rows] == [1, 2, 3, 4, 5]
    html = record.data["text/html"]
    assert "Completed · 5/5 epochs" in html
    assert "<svg" in html
    assert "<polyline" in html
    assert html.count("<tr>") == 1 + 5  # header and one row per epoch
    result = [o for o in outputs if o.output_type == "execute_result"]
    assert result[0].data["text/plain"] == "'completed'"
    # the final widget values are in the saved widget state
    bars = _bars(executed)
    assert {"value": 5, "max": 5, "bar_style": "success"}.items() <= bars[0].items()
    assert {"value": 130, "max": 130, "bar_style": "success"}.items() <= bars[1].items()


def test_stable_output_appends_a_record_without_timings(executed: dict[str, Any]) -> None:
    from nnlab.live.widgets import PLACEHOLDER

    first, record = _outputs(executed, "stable")
    assert first.data == {"text/plain": PLACEHOLDER}  # as displayed, which nbval compares
    text = record.data["text/plain"]
    assert "Completed · 3/3 epochs · best validation accuracy" in text
    assert not TIMING.search(text), text
    assert not TIMING.search(re.sub(r"<svg.*</svg>", "", record.data["text/html"]))


def test_stop_click_while_the_cell_runs_cancels_mid_epoch(executed: dict[str, Any]) -> None:
    outputs = _outputs(executed, "stop")
    status, reason, epochs, batches_done, n_batches = _stream(outputs).split()
    assert (status, reason) == ("cancelled", "cancelled")
    assert 2 <= int(epochs) < 100
    assert int(batches_done) < int(n_batches) == 2400
    (record,) = _records(outputs)
    text = record.data["text/plain"]
    assert f"Cancelled at epoch {int(epochs) + 1}/100 · {epochs} finished epochs kept" in text
    assert len(re.findall(r"^ +\d+ +[\d.]+ +[\d.]+ +\d+\.\d\d% ", text, re.M)) == int(epochs)
    # the partial epoch, as far as it went
    assert re.search(rf"^Batches +\[[# ]{{20}}\] +{batches_done}/2400 \[", text, re.M)
    assert any(
        b["max"] == 100 and b["value"] == int(epochs) and b["bar_style"] == "warning" for b in _bars(executed)
    )


def test_ctrl_c_shows_the_interruption_and_reraises(executed: dict[str, Any]) -> None:
    outputs = _outputs(executed, "interrupt")
    errors = [o for o in outputs if o.output_type == "error"]
    assert [e.ename for e in errors] == ["KeyboardInterrupt"]
    (record,) = _records(outputs)
    text = record.data["text/plain"]
    interrupted = r"Interrupted \(Ctrl-C\) (after epoch 2|at epoch 3)/50 · 2 finished epochs kept"
    assert re.search(interrupted + r" · the run is nnlab.last_job\(\)", text)
    assert "#ff9800" in record.data["text/html"]  # the warning colour
    # `job = train(...)` was never assigned; the next cell gets the run back
    assert _stream(_outputs(executed, "last_job")).split() == ["cancelled", "interrupted", "2"]


def test_background_run_and_watch_in_one_cell_show_one_view(executed: dict[str, Any]) -> None:
    printed = _stream(_outputs(executed, "cancel")).split()
    assert printed[:3] == ["True", "True", "cancelled"]
    outputs = _outputs(executed, "background")
    (record,) = _records(outputs)  # the run's own view, which watch() returned, replaced by its record
    assert len(outputs) == 1  # watch() as the cell's last expression shows nothing more
    assert re.search(
        r"Cancelled (at|after) epoch \d+/100 · \d+ finished epochs kept", record.data["text/plain"]
    )


def test_a_network_trained_on_counts_its_epochs_on(executed: dict[str, Any]) -> None:
    (record,) = _records(_outputs(executed, "continue"))
    text = record.data["text/plain"]
    assert "Completed · 2/2 epochs · network epochs 4–5 in " in text
    assert re.findall(r"^ +(\d) +[\d.]+ +[\d.]+ +\d+\.\d\d% ", text, re.M) == ["4", "5"]


def test_stable_output_passes_strict_nbval_against_an_executed_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nbval compares outputs as first displayed; with stable output the record is an
    output of its own, so a notebook executed once is its own reference."""
    monkeypatch.setenv("NNLAB_STABLE_OUTPUT", "1")  # the kernels inherit it
    monkeypatch.delenv("NNLAB_LIVE_INTERVAL", raising=False)
    cells = [
        "import nnlab",
        "job = nnlab.train(nnlab.Network([64, 20, 10], seed=0), epochs=4, seed=0)",
        "job.status",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    nbformat.write(nb, tmp_path / "reference.ipynb")
    result = subprocess.run(
        # in cell order: outside this project's configuration pytest-randomly would shuffle them
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "--nbval",
            "reference.ipynb",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "3 passed" in result.stdout
