"""Pause, resume and a new learning rate in a real kernel, while the training cell blocks it.

A second client on the kernel's connection clicks the live view's Pause, types a learning
rate into its box and clicks Resume, as a front end does; then a run paused in a cell is
ended by the kernel's own interrupt (Ctrl-C in Jupyter), and the next cell gets it back.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

SETUP = """
import os, json
os.environ["NNLAB_LIVE_INTERVAL"] = "0.05"
import numpy as np
import nnlab
from nnlab.live import LiveView
from nnlab.observers import Observer

# 2,000 mini-batches an epoch: long enough to pause inside one
rng = np.random.default_rng(0)
big = nnlab.datasets.from_arrays(rng.random((20_000, 64)), rng.integers(0, 10, 20_000), name="big")

class Mark(Observer):
    "Writes what the run does to files the test reads."
    def __init__(self, folder):
        self.folder = folder
    def _write(self, name, text):
        with open(os.path.join(self.folder, name), "w") as f:
            f.write(text)
    def on_epoch_end(self, job, record):
        self._write("epochs", str(record.epoch))
    def on_pause(self, job):
        self._write("paused", json.dumps([job.current_epoch, job.batches_done, job.learning_rate]))
    def on_resume(self, job):
        self._write("resumed", str(job.learning_rate))

class PauseIn(Observer):
    "Pauses the run once, inside epoch 2."
    def __init__(self):
        self.done = False
    def on_batch_end(self, job, epoch, batch, n_batches):
        if epoch == 2 and not self.done and 0 < batch < n_batches - 1:
            self.done = True
            job.pause()
"""

CLICKS = """
view = LiveView()
with open({ids!r}, "w") as f:
    json.dump({{"pause": view.pause_button.model_id, "resume": view.resume_button.model_id,
               "rate": view.rate.model_id}}, f)
net = nnlab.Network([64, 20, 10], seed=1)
clicked = nnlab.train(net, big, epochs=4, seed=0, progress=False,
                      observers=[view, Mark({folder!r})])
rates = [r.learning_rate for r in clicked.history]
print(clicked.status, clicked.paused_time > 0, json.dumps(rates))
"""

CTRL_C = """
ctrl_c = nnlab.Network([64, 20, 10], seed=2)
nnlab.train(ctrl_c, big, epochs=50, seed=0, progress="widgets", observers=[PauseIn(), Mark({folder!r})])
"""

AFTER = """
last = nnlab.last_job()
print(last.status, last.stop_reason, len(last.history), last.network is ctrl_c)
"""


def _wait_file(path: Path, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, f"{path.name} never written"
        time.sleep(0.02)
    return path.read_text()


def _comm(client: NotebookClient, comm_id: str, data: dict[str, Any]) -> None:
    content = {"comm_id": comm_id, "data": data}
    client.kc.shell_channel.send(client.kc.session.msg("comm_msg", content))


async def _drive_the_view(client: NotebookClient, ids: Path, folder: Path) -> dict[str, Any]:
    """After epoch 1: Pause; once paused, a learning rate of 0.5; then Resume."""
    import json

    while not (folder / "epochs").exists():
        await asyncio.sleep(0.02)
    widgets = json.loads(ids.read_text())
    click = {"method": "custom", "content": {"event": "click"}}
    _comm(client, widgets["pause"], click)
    while not (folder / "paused").exists():
        await asyncio.sleep(0.02)
    paused = json.loads(_wait_file(folder / "paused"))
    # the kernel's shell thread routes messages in order: the rate is set before Resume
    _comm(client, widgets["rate"], {"method": "update", "state": {"value": 0.5}, "buffer_paths": []})
    _comm(client, widgets["resume"], click)
    while not (folder / "resumed").exists():
        await asyncio.sleep(0.02)
    return {"paused": paused, "resumed": _wait_file(folder / "resumed")}


async def _interrupt_when_paused(client: NotebookClient, folder: Path) -> None:
    while not (folder / "paused").exists():
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # well inside the pause
    await client.km.interrupt_kernel()


def _code(source: str, *, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source.strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("control_kernel")
    ids = tmp / "ids.json"
    clicks, ctrl_c = tmp / "clicks", tmp / "ctrl_c"
    clicks.mkdir()
    ctrl_c.mkdir()
    cells = {
        "setup": _code(SETUP),
        "clicks": _code(CLICKS.format(ids=str(ids), folder=str(clicks))),
        "ctrl_c": _code(CTRL_C.format(folder=str(ctrl_c)), tags=("raises-exception",)),
        "after": _code(AFTER),
    }
    nb = nbformat.v4.new_notebook(cells=list(cells.values()))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=180, kernel_name="python3", store_widget_state=True)
    driven: dict[str, Any] = {}

    async def run() -> None:
        async with client.async_setup_kernel():
            for index, (name, cell) in enumerate(cells.items()):
                helper = None
                if name == "clicks":
                    helper = asyncio.ensure_future(_drive_the_view(client, ids, clicks))
                elif name == "ctrl_c":
                    helper = asyncio.ensure_future(_interrupt_when_paused(client, ctrl_c))
                await client.async_execute_cell(cell, index)
                if helper is not None:
                    result = await asyncio.wait_for(helper, 5)
                    if result is not None:
                        driven.update(result)

    asyncio.run(run())
    nbformat.write(nb, tmp / "control.ipynb")  # kept for a look when a test fails
    return {"cells": cells, "driven": driven}


def _stream(executed: dict[str, Any], name: str) -> str:
    return "".join(o.get("text", "") for o in executed["cells"][name].outputs if o.output_type == "stream")


def test_pause_a_rate_and_resume_clicked_while_the_cell_runs(executed: dict[str, Any]) -> None:
    import json

    status, paused_some, rates = _stream(executed, "clicks").split(maxsplit=2)
    assert (status, paused_some) == ("completed", "True")
    epoch, batches_done, rate_at_pause = executed["driven"]["paused"]
    assert 2 <= epoch <= 4  # paused after the first epoch ended
    assert 0 <= batches_done < 2000
    assert rate_at_pause == 3.0
    assert executed["driven"]["resumed"] == "0.5"  # the rate typed while paused and busy
    # the epoch paused in ends with the new rate, as do all after it
    assert json.loads(rates) == [3.0] * (epoch - 1) + [0.5] * (5 - epoch)


def test_ctrl_c_while_paused_in_a_cell_ends_the_run(executed: dict[str, Any]) -> None:
    errors = [o for o in executed["cells"]["ctrl_c"].outputs if o.output_type == "error"]
    assert [e.ename for e in errors] == ["KeyboardInterrupt"]
    assert _stream(executed, "after").split() == ["cancelled", "interrupted", "1", "True"]
