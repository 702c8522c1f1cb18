"""nnlab.server.proxy: the addresses users see, directly and behind JupyterHub/jupyter-server-proxy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nnlab.server.proxy import detect, endpoints

HUB = {"JUPYTERHUB_SERVICE_PREFIX": "/user/ana/"}
SECRET = "0123456789abcdef0123456789abcdef0123456789abcdef"


def _runtime_file(runtime: Path, name_pid: int, **info: object) -> None:
    data = {
        "base_url": "/",
        "url": "http://localhost:8888/",
        "pid": name_pid,
        "port": 8888,
        "token": SECRET,
        **info,
    }
    (runtime / f"jpserver-{name_pid}.json").write_text(json.dumps(data))


def test_direct_when_nothing_proxies() -> None:
    e = endpoints(8000, environ={}, runtime_dir="")
    assert (e.via, e.proxied) == ("direct", False)
    assert e.test_page == "http://127.0.0.1:8000/test_socketio.html"
    assert e.rest_base == "http://127.0.0.1:8000/api"
    assert e.socketio_url == "http://127.0.0.1:8000"
    assert e.socketio_options() == {
        "path": "/socket.io",
        "transports": ["websocket", "polling"],
        "tryAllTransports": True,
    }
    assert "<token>" not in e.text()
    assert e.text().splitlines()[0] == "nnlab server on http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("host", "direct"),
    [("0.0.0.0", "http://127.0.0.1:9"), ("::", "http://[::1]:9"), ("localhost", "http://localhost:9")],
)
def test_direct_url_names_a_reachable_host(host: str, direct: str) -> None:
    assert endpoints(9, host, environ={}, runtime_dir="").direct == direct


def test_jupyterhub_prefix_gives_root_relative_links() -> None:
    e = endpoints(8000, environ=HUB)
    assert (e.via, e.proxied) == ("jupyterhub", True)
    assert e.direct == "http://127.0.0.1:8000"
    assert e.test_page == "/user/ana/proxy/8000/test_socketio.html"
    assert e.rest_base == "/user/ana/proxy/8000/api"
    # the prefix goes in `path`: in the io() URL it would name a namespace
    assert e.socketio_url is None
    assert e.socketio_options()["path"] == "/user/ana/proxy/8000/socket.io"
    assert e.socketio_options()["query"] == {"token": "<token>"}
    text = e.text()
    assert "/user/ana/proxy/8000/test_socketio.html" in text
    assert 'io("https://<jupyter host>", {"path": "/user/ana/proxy/8000/socket.io"' in text
    assert "?token=<token>" in text
    assert '<a href="/user/ana/proxy/8000/test_socketio.html" target="_blank"' in e._repr_html_()


def test_jupyterhub_public_url_gives_full_links() -> None:
    env = {
        "JUPYTERHUB_SERVICE_PREFIX": "/hub-base/user/ana",  # no trailing slash: normalised
        "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/hub-base/",
    }
    e = endpoints(8123, environ=env)
    assert e.test_page == "https://hub.example.org/hub-base/user/ana/proxy/8123/test_socketio.html"
    assert e.socketio_url == "https://hub.example.org"
    assert e.socketio_options()["path"] == "/hub-base/user/ana/proxy/8123/socket.io"
    assert e.to_dict()["rest_base"] == "https://hub.example.org/hub-base/user/ana/proxy/8123/api"


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NNLAB_PUBLIC_URL", raising=False)
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/bo/")
    assert endpoints(8000).rest_base == "/user/bo/proxy/8000/api"


def test_a_server_on_another_interface_is_not_proxied() -> None:
    e = endpoints(8000, "10.1.2.3", environ=HUB)
    assert e.via == "direct"
    assert e.test_page == "http://10.1.2.3:8000/test_socketio.html"


def test_nnlab_public_url_wins_and_fills_in_the_port() -> None:
    env = {**HUB, "NNLAB_PUBLIC_URL": "https://lab.example.org/me/proxy/{port}"}
    e = endpoints(8001, environ=env)
    assert e.via == "NNLAB_PUBLIC_URL"
    assert e.test_page == "https://lab.example.org/me/proxy/8001/test_socketio.html"
    assert e.socketio_url == "https://lab.example.org"
    assert e.socketio_options()["path"] == "/me/proxy/8001/socket.io"


def test_a_bad_nnlab_public_url_names_the_variable() -> None:
    with pytest.raises(ValueError, match=r"NNLAB_PUBLIC_URL must be an http\(s\) URL"):
        detect({"NNLAB_PUBLIC_URL": "lab.example.org"})


def test_the_jupyter_server_that_started_the_kernel(tmp_path: Path) -> None:
    _runtime_file(tmp_path, 4242, base_url="/jupyter/", url="http://localhost:8888/jupyter/")
    env = {"JPY_PARENT_PID": "4242"}
    e = endpoints(8000, environ=env, runtime_dir=str(tmp_path), proxy_installed=True)
    assert e.via == "jupyter-server-proxy"
    assert e.test_page == "http://localhost:8888/jupyter/proxy/8000/test_socketio.html"
    assert e.socketio_url == "http://localhost:8888"
    assert e.socketio_options()["path"] == "/jupyter/proxy/8000/socket.io"
    shown = e.text() + e._repr_html_() + json.dumps(e.to_dict())
    assert SECRET not in shown  # the token is never copied into output


def test_no_proxy_without_jupyter_server_proxy(tmp_path: Path) -> None:
    _runtime_file(tmp_path, 4242)
    env = {"JPY_PARENT_PID": "4242"}
    assert detect(env, runtime_dir=str(tmp_path), proxy_installed=False) is None


def test_runtime_files_of_other_servers_are_ignored(tmp_path: Path) -> None:
    _runtime_file(tmp_path, 4243)  # a server, but not ours
    (tmp_path / "jpserver-4244.json").write_text("{not json")
    _runtime_file(tmp_path, 4245, pid=1)  # a stale file whose pid does not match its name
    for parent in ("4243x", "4244", "4245"):
        assert detect({"JPY_PARENT_PID": parent}, runtime_dir=str(tmp_path), proxy_installed=True) is None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="parent processes are read from /proc")
def test_a_parent_process_that_is_a_jupyter_server(tmp_path: Path) -> None:
    # `nnlab serve` typed in a Jupyter terminal: no JPY_PARENT_PID, but an ancestor is the server
    _runtime_file(tmp_path, os.getppid(), base_url="/")
    proxy = detect({}, runtime_dir=str(tmp_path), proxy_installed=True)
    assert proxy is not None
    assert proxy.root(8000) == "http://localhost:8888/proxy/8000/"


@pytest.mark.parametrize("port", [0, -1, 70000, True, "8000"])
def test_port_must_be_a_real_port(port: object) -> None:
    with pytest.raises(ValueError, match="port must be the server's port"):
        endpoints(port, environ={})  # type: ignore[arg-type]


def test_notebooks_show_the_text_not_the_fields() -> None:
    from IPython.lib.pretty import pretty

    e = endpoints(8000, environ=HUB)
    assert pretty(e) == e.text() == str(e)
