"""Binder, tested here without Docker: ``binder/`` in a fresh venv, behind jupyter-server-proxy.

The quick checks read ``binder/`` and the README. The end-to-end test does what
repo2docker and a Binder user do: it creates a fresh venv from ``binder/requirements.txt``,
runs ``binder/postBuild`` in a copy of the repository, starts a real ``jupyter server``
(with jupyter-server-proxy) on a free loopback port with a token, starts ``nnlab.serve()``
in a kernel of that server through its REST and websocket API, as JupyterLab does, and
then checks through ``/proxy/<port>/`` that the test page loads, REST works and Socket.IO
clients receive ``training_update`` over websocket and over polling.

Creating the venv downloads from PyPI and takes about a minute, so that test runs when
``NNLAB_BINDER_TEST=1`` or ``NNLAB_REQUIRE_EXTERNAL=1`` (CI sets the latter) and is listed
as skipped otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
QUICK_START = "notebooks/01-quick-start.ipynb"
UPDATE_FIELDS = {"job_id", "network_id", "epoch", "total_epochs", "accuracy", "elapsed_time", "progress"}

RUN_BINDER = "1" in (os.environ.get("NNLAB_BINDER_TEST"), os.environ.get("NNLAB_REQUIRE_EXTERNAL"))
needs_pypi = pytest.mark.skipif(
    not RUN_BINDER,
    reason="builds a fresh venv from PyPI (about a minute): set NNLAB_BINDER_TEST=1 (CI runs it)",
)


def _name(requirement: str) -> str:
    """The normalised project name of a requirement line such as ``python-socketio[client]>=5``."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def _requirements() -> list[str]:
    lines = (BINDER / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


# ----------------------------------------------------------------------------- quick checks
def test_requirements_cover_nnlab_the_lab_the_hub_client_and_the_proxy() -> None:
    listed = {_name(line) for line in _requirements()}
    needed = {"jupyter-server-proxy", "python-socketio"}  # the proxy; the notebooks' client
    for requirement in metadata.requires("nnlab") or []:
        name, _, marker = requirement.partition(";")
        if not marker or 'extra == "lab"' in marker or 'extra == "hub"' in marker:
            needed.add(_name(name))
    assert needed <= listed, f"binder/requirements.txt lacks {sorted(needed - listed)}"
    assert "python-socketio[client]" in (BINDER / "requirements.txt").read_text(encoding="utf-8")


def test_post_build_installs_nnlab_from_the_repository() -> None:
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK), "repo2docker runs postBuild only if it is executable"
    text = post_build.read_text(encoding="utf-8")
    assert text.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in text
    assert re.search(r"^python -m pip install (--\S+ )*\.$", text, re.M)


def test_runtime_names_a_supported_python() -> None:
    runtime = (BINDER / "runtime.txt").read_text(encoding="utf-8").strip()
    match = re.fullmatch(r"python-3\.(\d+)", runtime)
    assert match, f"runtime.txt must read like python-3.11, got {runtime!r}"
    assert int(match.group(1)) >= 10  # pyproject: requires-python >= 3.10


def test_readme_has_a_binder_badge_opening_the_quick_start_in_jupyterlab() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    badge = re.search(
        r"\[!\[[^\]]*\]\(https://mybinder\.org/badge_logo\.svg\)\]"
        r"\((https://mybinder\.org/v2/gh/[^)\s]+)\)",
        readme,
    )
    assert badge, "README.md needs a Binder badge: [![Binder](https://mybinder.org/badge_logo.svg)](...)"
    assert badge.group(1).endswith(f"?urlpath=lab/tree/{QUICK_START}")
    assert (ROOT / QUICK_START).exists()


# ----------------------------------------------------------------------------- the environment
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_env(venv: Path, **extra: str) -> dict[str, str]:
    """This environment, minus anything that would point tools elsewhere, venv first on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER", "JPY_", "NNLAB_", "PYTHON", "VIRTUAL_ENV", "IPYTHON"))
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(extra)
    return env


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> None:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-5000:]
        pytest.fail(f"`{' '.join(cmd)}` failed with exit code {result.returncode}:\n{output}")


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A copy of the repository and a venv built from it as repo2docker would: (repo, venv)."""
    base = tmp_path_factory.mktemp("binder")
    repo, venv = base / "repo", base / "venv"
    shutil.copytree(
        ROOT,
        repo,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "node_modules", "__pycache__", ".*_cache", "*.egg-info", "build", "dist"
        ),
    )
    _run([sys.executable, "-m", "venv", str(venv)], cwd=base, env=_clean_env(venv), timeout=120)
    python = str(venv / "bin" / "python")
    env = _clean_env(venv)
    _run(
        [python, "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"],
        cwd=repo,
        env=env,
        timeout=900,
    )
    _run(["bash", "binder/postBuild"], cwd=repo, env=env, timeout=600)
    return repo, venv


@dataclass
class Jupyter:
    """A running ``jupyter server``: its URL, token and process."""

    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path
    headers: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.headers = {"Authorization": f"token {self.token}"}

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]


@pytest.fixture
def jupyter(binder_env: tuple[Path, Path], tmp_path: Path) -> Iterator[Jupyter]:
    import requests

    repo, venv = binder_env
    port, token = _free_port(), secrets.token_hex(24)
    dirs = {name: tmp_path / name for name in ("config", "data", "runtime", "ipython")}
    for folder in dirs.values():
        folder.mkdir()
    env = _clean_env(
        venv,
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        IPYTHONDIR=str(dirs["ipython"]),
    )
    log = tmp_path / "jupyter.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(venv / "bin" / "jupyter"),
                "server",
                "--no-browser",
                "--allow-root",  # CI runs as root
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={repo}",
            ],
            cwd=repo,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Jupyter(f"http://127.0.0.1:{port}", token, process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter server exited with {process.returncode}:\n{server.output()}")
            try:
                if requests.get(f"{server.url}/api/status", headers=server.headers, timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter server did not answer within 60s:\n{server.output()}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


class Kernel:
    """A kernel of the Jupyter server, driven over its websocket channels as JupyterLab does."""

    def __init__(self, jupyter: Jupyter) -> None:
        self.jupyter = jupyter
        self.session = uuid.uuid4().hex
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Kernel:
        import requests
        from websockets.sync.client import connect

        jupyter = self.jupyter
        response = requests.post(
            f"{jupyter.url}/api/kernels", json={"name": "python3"}, headers=jupyter.headers, timeout=60
        )
        assert response.status_code == 201, response.text
        self.id = response.json()["id"]
        self._stack.callback(
            requests.delete, f"{jupyter.url}/api/kernels/{self.id}", headers=jupyter.headers, timeout=30
        )
        ws_url = jupyter.url.replace("http://", "ws://")
        channels = f"{ws_url}/api/kernels/{self.id}/channels?token={jupyter.token}"
        self.ws = self._stack.enter_context(connect(channels, open_timeout=60, max_size=None))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def execute(self, code: str, timeout: float = 120) -> str:
        """Run ``code`` in the kernel and return what it printed; fail on an error."""
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "test",
            "session": self.session,
            "version": "5.3",
            "date": datetime.now(timezone.utc).isoformat(),
        }
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}}
        content.update(allow_stdin=False, stop_on_error=True)
        message = {"header": header, "parent_header": {}, "metadata": {}, "content": content}
        self.ws.send(json.dumps({**message, "channel": "shell", "buffers": []}))
        printed: list[str] = []
        reply: dict[str, Any] | None = None
        idle = False
        deadline = time.monotonic() + timeout
        while reply is None or not idle:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream":
                printed.append(msg["content"]["text"])
            elif kind == "error":
                trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(msg["content"]["traceback"]))
                pytest.fail(f"the kernel raised while running:\n{code}\n{trace}")
            elif kind == "execute_reply":
                reply = msg["content"]
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
        assert reply["status"] == "ok", reply
        return "".join(printed)


def _events_of(events: list[dict[str, Any]], job_id: str, count: int, timeout: float = 30) -> list[int]:
    """Epochs of the ``training_update`` events of one job, once ``count`` have arrived."""
    deadline = time.monotonic() + timeout
    while True:
        mine = [e for e in list(events) if e["job_id"] == job_id]
        if len(mine) >= count or time.monotonic() > deadline:
            for event in mine:
                assert UPDATE_FIELDS <= set(event) <= UPDATE_FIELDS | {"correct", "total"}, event
            return [e["epoch"] for e in mine]
        time.sleep(0.05)


@needs_pypi
def test_binder_environment_serves_nnlab_through_jupyter_server_proxy(jupyter: Jupyter) -> None:
    import requests
    import socketio

    token = {"token": jupyter.token}
    clients: list[socketio.Client] = []
    with Kernel(jupyter) as kernel, contextlib.ExitStack() as disconnect:
        printed = kernel.execute(
            "import json, nnlab\n"
            "from nnlab.server.proxy import endpoints\n"
            "server = nnlab.serve(port=0)\n"
            "print(json.dumps(endpoints(server.port).to_dict()))\n"
        )
        links = json.loads(printed.strip().splitlines()[-1])
        port = links["port"]
        # what nnlab works out inside a kernel of this Jupyter server
        assert links["via"] == "jupyter-server-proxy"
        assert links["root"] == f"{jupyter.url}/proxy/{port}/"
        assert links["socketio_url"] == jupyter.url
        assert links["socketio_options"]["path"] == f"/proxy/{port}/socket.io"
        assert jupyter.token not in printed

        # (a) the test page, through the proxy; Jupyter's login guards it
        page = requests.get(links["test_page"], params=token, timeout=30)
        assert page.status_code == 200, page.text[:500]
        assert page.headers["content-type"].startswith("text/html")
        assert "training_update" in page.text
        refused = requests.get(links["test_page"], timeout=30, allow_redirects=False)
        assert refused.status_code in (302, 403)

        # (b) REST
        health = requests.get(f"{links['rest_base']}/health", params=token, timeout=30)
        assert health.status_code == 200
        assert health.json()["status"] == "ok"

        # (c) Socket.IO clients over each transport, the token in the query as browsers send it
        received: dict[str, list[dict[str, Any]]] = {"websocket": [], "polling": []}
        for transport, events in received.items():
            client = socketio.Client(reconnection=False)
            client.on("training_update", handler=events.append)
            client.connect(
                f"{jupyter.url}?token={jupyter.token}",
                socketio_path=links["socketio_options"]["path"],
                transports=[transport],
                wait_timeout=30,
            )
            clients.append(client)
            disconnect.callback(client.disconnect)
            assert client.transport() == transport

        created = requests.post(
            f"{links['rest_base']}/networks", params=token, json={"sizes": [64, 10, 10]}, timeout=30
        )
        assert created.status_code == 201, created.text
        started = requests.post(
            f"{links['rest_base']}/networks/{created.json()['network_id']}/train",
            params=token,
            json={"epochs": 4, "mini_batch_size": 10, "learning_rate": 3.0, "seed": 0},
            timeout=30,
        )
        assert started.status_code == 202, started.text
        in_cell = kernel.execute(
            "job = nnlab.train(nnlab.Network([64, 10, 10], seed=0), epochs=3, seed=0, progress=False)\n"
            "print(job.job_id)\n"
        ).strip()
        for transport, events in received.items():
            assert _events_of(events, started.json()["job_id"], 4) == [1, 2, 3, 4], transport
            assert _events_of(events, in_cell, 3) == [1, 2, 3], transport
        assert [c.transport() for c in clients] == ["websocket", "polling"]  # polling never upgraded

        job = requests.get(f"{links['rest_base']}/jobs/{started.json()['job_id']}", params=token, timeout=30)
        assert job.json()["status"] == "completed"
        assert [row["epoch"] for row in job.json()["history"]] == [1, 2, 3, 4]
        disconnect.close()
        assert kernel.execute("server.stop()\nprint(server.running)\n").strip() == "False"
