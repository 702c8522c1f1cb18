"""The live view in JupyterLab 4 itself, driven by headless Chromium (Debian's).

A real JupyterLab server and front end run a notebook: the widget view renders as
widgets (no ``VBox(...)`` text), a click on its Stop button cancels the run while the
cell is still running, and when the run ends the view is replaced in place by its static
record -- one output, no leftover widget, no gap. At 900 and 1400 px wide nothing of the
live view or of the record is cut off, and the Stop button shows its whole label.
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


#: A run with validation data (every column of the table) on a network trained before,
#: long enough to be stopped from the page once the table leaves rows out.
WIDE = (
    "import numpy as np, nnlab\n"
    "rng = np.random.default_rng(0)\n"
    "X = rng.random((6_000, 64))\n"
    "data = nnlab.datasets.from_arrays(X, X[:, :10].argmax(1), validation=0.1, name='wide')\n"
    "net = nnlab.Network([64, 20, 10], seed=0)\n"
    "nnlab.train(net, data, epochs=2, seed=0, progress=False)\n"
    "run = nnlab.train(net, data, epochs=5000, seed=0)\n"
    "print(run.status, len(run.history))"
)
WIDTHS = (900, 1400)


def _notebook(root: Path, name: str, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A JupyterLab server on a free local port, serving one notebook."""
    root = tmp_path_factory.mktemp("lab")
    _notebook(root, "live.ipynb", CELLS)
    for width in WIDTHS:
        _notebook(root, f"wide-{width}.ipynb", [WIDE])
    port = _free_port()
    # no "news" prompt over the notebook
    news = root / ".settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false", "checkForUpdates": false}')
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
            f"--LabApp.user_settings_dir={root / '.settings'}",
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
def browser(lab: str) -> Iterator[Any]:
    with chromium() as running:
        yield running


def _open(browser: Any, url: str, width: int) -> Any:
    """A new page showing the notebook at ``url`` once its kernel is idle."""
    context = browser.new_context(viewport={"width": width, "height": 1000})
    tab = context.new_page()
    # nothing from outside this machine
    tab.route(re.compile(r"^(?!http://127\.0\.0\.1).*"), lambda route: route.abort())
    tab.goto(url)
    tab.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
        timeout=60_000,
    )
    return tab


@pytest.fixture(scope="module")
def page(lab: str, browser: Any) -> Iterator[Any]:
    tab = _open(browser, f"{lab}/lab/tree/live.ipynb?token={TOKEN}", 1300)
    try:
        yield tab
    finally:
        tab.context.close()


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
        "() => /Running · epoch ([3-9]|\\d\\d+)\\/500/"
        ".test(document.querySelectorAll('.jp-Cell')[1].innerText)",
        timeout=60_000,
    )
    tab.screenshot(path=str(tmp_path / "live.png"))  # kept for a look when a test fails
    second.get_by_role("button", name="Stop").click()
    second.locator(".nnlab-live-record").wait_for(timeout=60_000)
    record = second.locator(".nnlab-live-record").inner_text()
    assert re.search(r"Cancelled (at|after) epoch (\d+)/500 · \d+ finished epochs? kept", record), record
    printed = _outputs(tab, 1).nth(1).inner_text().split()
    assert printed[0] == "cancelled"
    assert int(printed[1]) < 500
    assert _outputs(tab, 1).count() == 2  # the record and the printed line: no widget left, no gap


#: Everything in ``root`` that is cut off: content overflowing a box that hides or scrolls it,
#: anything reaching past the output area's edges, a button narrower than its label.
CLIPPED = """(root) => {
  const view = document.querySelector(root);
  const area = view.closest('.jp-OutputArea-output').getBoundingClientRect();
  const problems = [];
  const name = (n) => `${n.tagName.toLowerCase()}.${[...n.classList].join('.')} "${
    (n.textContent || '').trim().slice(0, 40)}"`;
  for (const node of [view, ...view.querySelectorAll('*')]) {
    const box = node.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    const style = getComputedStyle(node);
    // hidden or behind a scroll bar: at these widths everything shows without scrolling
    if (node.scrollWidth > node.clientWidth + 1 && style.overflowX !== 'visible')
      problems.push(`overflows: ${name(node)} ${node.scrollWidth} > ${node.clientWidth}`);
    if (box.right > area.right + 1 || box.left < area.left - 1)
      problems.push(`outside the output (${Math.round(box.left)}-${Math.round(box.right)} of ` +
                    `${Math.round(area.left)}-${Math.round(area.right)}): ${name(node)}`);
  }
  return problems;
}"""


@pytest.mark.parametrize("width", WIDTHS)
def test_nothing_is_cut_off_and_stop_reads_whole(lab: str, browser: Any, width: int, tmp_path: Path) -> None:
    # a workspace of its own: the page shows this notebook alone
    tab = _open(browser, f"{lab}/lab/workspaces/w{width}/tree/wide-{width}.ipynb?token={TOKEN}", width)
    try:
        tab.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        cell = tab.locator(".jp-Cell").nth(0)
        cell.locator(".nnlab-live .widget-hprogress").first.wait_for(timeout=60_000)
        # the table leaves rows out once more than a screenful of epochs finished
        tab.wait_for_function(
            "() => /not shown/.test(document.querySelector('.nnlab-live').innerText)", timeout=60_000
        )
        live = tab.locator(".nnlab-live")
        text = live.inner_text()
        assert "network epoch" in text  # the network was trained before: its count goes on
        for column in ("validation accuracy", "epoch time"):
            assert column in re.sub(r"\s+", " ", text)
        tab.screenshot(path=str(tmp_path / f"live-{width}.png"))
        assert tab.evaluate(CLIPPED, ".nnlab-live") == []
        button = cell.get_by_role("button", name="Stop")
        assert button.inner_text().strip() == "Stop"
        assert button.evaluate("b => b.scrollWidth <= b.clientWidth && b.clientWidth > 0")
        button.click()
        cell.locator(".nnlab-live-record").wait_for(timeout=60_000)
        tab.screenshot(path=str(tmp_path / f"record-{width}.png"))
        record = tab.locator(".nnlab-live-record").inner_text()
        assert re.search(
            r"Cancelled (at|after) epoch \d+/5000 \(network epoch \d+\) · \d+ finished epochs kept", record
        )
        assert tab.evaluate(CLIPPED, ".nnlab-live-record") == []
    finally:
        tab.screenshot(path=str(tmp_path / f"end-{width}.png"))
        # a failed check leaves the run going: end its kernel before the next page
        tab.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        tab.context.close()
