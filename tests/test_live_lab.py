"""The live view in JupyterLab 4 itself, driven by headless Chromium (Debian's).

A real JupyterLab server and front end run a notebook: the widget view renders as
widgets (no ``VBox(...)`` text), a click on its Stop button cancels the run while the
cell is still running, and when the run ends the view is replaced in place by its static
record -- one output, no leftover widget, no gap.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from server_helpers import chromium

TOKEN = "nnlab-live-view-test"

CELLS = [
    # a quick run: rendered live, then replaced by its record
    "import numpy as np, nnlab\n"
    "job = nnlab.train(nnlab.Network([64, 20, 10], seed=0), epochs=20, seed=0)\n"
    "job.status",
    # a long run, stopped from the page by its Stop button
    "rng = np.random.default_rng(0)\n"
    "big = nnlab.datasets.from_arrays(rng.random((30_000, 64)), rng.integers(0, 10, 30_000))\n"
    "long = nnlab.train(nnlab.Network([64, 20, 10], seed=1), big, epochs=500, seed=0)\n"
    "print(long.status, len(long.history))",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A JupyterLab server on a free local port, serving one notebook."""
    root = tmp_path_factory.mktemp("lab")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "live.ipynb")
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(root / ".config"),
        "JUPYTER_RUNTIME_DIR": str(root / ".rt"),
    }
    env.pop("NNLAB_STABLE_OUTPUT", None)
    log = (root / "server.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env=env,
        cwd=root,
    )
    log.close()  # the server holds its own copy
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2).read()
                break
            except OSError:
                assert server.poll() is None, (root / "server.log").read_text()
                assert time.monotonic() < deadline, "JupyterLab did not start"
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def page(lab: str) -> Iterator[Any]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        tab = context.new_page()
        # nothing from outside this machine
        tab.route(re.compile(r"^(?!http://127\.0\.0\.1).*"), lambda route: route.abort())
        tab.goto(f"{lab}/lab/tree/live.ipynb?token={TOKEN}")
        tab.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
            timeout=60_000,
        )
        try:
            yield tab
        finally:
            context.close()


def _outputs(tab: Any, cell: int) -> Any:
    return tab.locator(".jp-Notebook .jp-Cell").nth(cell).locator(".jp-OutputArea-output")


def test_jupyterlab_renders_widgets_then_the_record_in_place_and_stop_works(
    page: Any, tmp_path: Path
) -> None:
    tab = page
    # start the cells without waiting for them (the command's promise ends with the run)
    tab.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    # the first run: live widgets (a progress bar), never the widget's text repr
    tab.locator(".jp-Cell").nth(0).locator(".nnlab-live-record").wait_for(timeout=60_000)
    first = _outputs(tab, 0)
    assert first.count() == 2  # the record, then the cell's result
    assert "Completed · 20/20 epochs" in first.nth(0).inner_text()
    assert first.nth(1).inner_text().strip() == "'completed'"
    assert tab.locator(".jp-Cell").nth(0).locator(".nnlab-live").count() == 0  # replaced, not left behind
    # the long run: the live view shows, and its Stop button works while the cell runs
    second = tab.locator(".jp-Cell").nth(1)
    second.scroll_into_view_if_needed()  # JupyterLab renders only what is on screen
    second.locator(".nnlab-live .widget-hprogress").first.wait_for(timeout=60_000)
    assert "VBox(" not in second.inner_text()
    tab.wait_for_function(
        "() => /Epoch ([3-9]|\\d\\d+)\\/500/.test(document.querySelectorAll('.jp-Cell')[1].innerText)",
        timeout=60_000,
    )
    tab.screenshot(path=str(tmp_path / "live.png"))  # kept for a look when a test fails
    second.get_by_role("button", name="Stop").click()
    second.locator(".nnlab-live-record").wait_for(timeout=60_000)
    record = second.locator(".nnlab-live-record").inner_text()
    assert re.search(r"Cancelled at epoch (\d+)/500 · \d+ finished epochs? kept", record), record
    printed = _outputs(tab, 1).nth(1).inner_text().split()
    assert printed[0] == "cancelled"
    assert int(printed[1]) < 500
    assert _outputs(tab, 1).count() == 2  # the record and the printed line: no widget left, no gap
