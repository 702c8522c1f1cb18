"""Where a browser reaches nnlab's server: directly, or through Jupyter's proxy.

A server a kernel starts on ``127.0.0.1:8000`` is reachable only from the machine the
kernel runs on. On Binder or any JupyterHub, and on a Jupyter server with
jupyter-server-proxy, the browser reaches it through the Jupyter server instead, at
``<base_url>proxy/8000/`` (e.g. ``https://hub.example.org/user/ana/proxy/8000/``).
:func:`endpoints` works out which case applies and builds the addresses to show: the
test page, the REST base and the Socket.IO client options (``path`` carries the prefix,
because the path part of the URL given to ``io(url)`` would name a namespace).

How it knows, first match wins:

* ``NNLAB_PUBLIC_URL``: the public address of the server's root, ``{port}`` replaced,
  e.g. ``https://example.org/user/ana/proxy/{port}/`` (for proxies nnlab cannot see);
* ``JUPYTERHUB_SERVICE_PREFIX`` (set by JupyterHub and Binder for the user's server):
  that prefix, on the host of ``JUPYTERHUB_PUBLIC_URL`` when the hub publishes it;
* the Jupyter server that started this kernel (``JPY_PARENT_PID``, or a parent process
  of this one), found through its ``jpserver-<pid>.json`` runtime file, when
  jupyter-server-proxy is installed.

Tokens are never read into the addresses: through the proxy a client on another origin
adds the Jupyter token itself (``?token=...`` for REST, ``query: {token}`` for Socket.IO).

>>> e = endpoints(8000, environ={"JUPYTERHUB_SERVICE_PREFIX": "/user/ana/"})
>>> e.test_page, e.socketio_path
('/user/ana/proxy/8000/test_socketio.html', '/user/ana/proxy/8000/socket.io')
>>> endpoints(8000, environ={}, runtime_dir="").test_page
'http://127.0.0.1:8000/test_socketio.html'
"""

from __future__ import annotations

import html
import importlib.util
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from nnlab.params import is_int

__all__ = ["Endpoints", "JupyterProxy", "detect", "endpoints"]

Via = Literal["direct", "NNLAB_PUBLIC_URL", "jupyterhub", "jupyter-server-proxy"]

#: Hosts jupyter-server-proxy can reach with ``/proxy/<port>/`` (it connects to localhost).
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0", "::", ""})
TEST_PAGE = "test_socketio.html"
DASHBOARD = "dashboard"
TRANSPORTS = ("websocket", "polling")
_TOKEN = "<token>"


@dataclass(frozen=True)
class JupyterProxy:
    """A way for browsers to reach local ports: ``origin + base_url + "proxy/<port>/"``.

    ``origin`` (``https://hub.example.org``) is ``None`` when only the path is known;
    links are then root-relative, which works from a page of the same Jupyter server.
    ``template`` overrides everything with a full URL containing ``{port}``.
    """

    via: Via
    base_url: str = "/"
    origin: str | None = None
    template: str | None = None

    def root(self, port: int) -> str:
        """Where the server's ``/`` is reached, ending with ``/``."""
        if self.template is not None:
            url = self.template.replace("{port}", str(port))
            return url if url.endswith("/") else url + "/"
        return f"{self.origin or ''}{self.base_url}proxy/{port}/"


def _slashed(path: str) -> str:
    path = "/" + path.strip("/") + "/"
    return "/" if path == "//" else path


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _runtime_dir() -> str:
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:  # no Jupyter here at all
        return os.environ.get("JUPYTER_RUNTIME_DIR", "")
    return jupyter_runtime_dir()


def _parent_pids(environ: Mapping[str, str]) -> list[int]:
    """``JPY_PARENT_PID`` (set by jupyter_client for the kernels it starts), then this
    process's ancestors where ``/proc`` shows them (``nnlab serve`` in a Jupyter terminal)."""
    pids = []
    parent = environ.get("JPY_PARENT_PID", "")
    if parent.isdigit():
        pids.append(int(parent))
    pid = os.getpid()
    for _ in range(12):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        if pid <= 1:
            break
        pids.append(pid)
    return pids


def _jupyter_server(environ: Mapping[str, str], runtime_dir: str) -> dict[str, Any] | None:
    """The runtime info (``base_url``, ``url``, ...) of the Jupyter server running us."""
    if not runtime_dir:
        return None
    for pid in _parent_pids(environ):
        try:
            info = json.loads((Path(runtime_dir) / f"jpserver-{pid}.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and info.get("pid") == pid:
            return info
    return None


def detect(
    environ: Mapping[str, str] | None = None,
    *,
    runtime_dir: str | None = None,
    proxy_installed: bool | None = None,
) -> JupyterProxy | None:
    """The proxy in front of this process's local ports, or ``None`` (direct access).

    ``environ`` defaults to ``os.environ``, ``runtime_dir`` to Jupyter's runtime
    directory, ``proxy_installed`` to whether ``jupyter_server_proxy`` can be imported.

    >>> detect({"JUPYTERHUB_SERVICE_PREFIX": "/user/ana/",
    ...         "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/"})
    JupyterProxy(via='jupyterhub', base_url='/user/ana/', origin='https://hub.example.org', template=None)
    >>> detect({}, runtime_dir="") is None
    True
    """
    env = os.environ if environ is None else environ
    public = env.get("NNLAB_PUBLIC_URL", "").strip()
    if public:
        if _origin(public) is None and not public.startswith("/"):
            raise ValueError(
                f"NNLAB_PUBLIC_URL must be an http(s) URL or a path starting with '/', got {public!r}: "
                "e.g. https://example.org/user/ana/proxy/{port}/"
            )
        return JupyterProxy("NNLAB_PUBLIC_URL", template=public)
    prefix = env.get("JUPYTERHUB_SERVICE_PREFIX", "").strip()
    if prefix:
        origin = _origin(env.get("JUPYTERHUB_PUBLIC_URL")) or _origin(env.get("JUPYTERHUB_HOST"))
        return JupyterProxy("jupyterhub", _slashed(prefix), origin)
    info = _jupyter_server(env, _runtime_dir() if runtime_dir is None else runtime_dir)
    if info is None:
        return None
    if proxy_installed is None:
        proxy_installed = importlib.util.find_spec("jupyter_server_proxy") is not None
    if not proxy_installed:
        return None
    return JupyterProxy(
        "jupyter-server-proxy", _slashed(str(info.get("base_url") or "/")), _origin(info.get("url"))
    )


def direct_url(host: str, port: int) -> str:
    """``http://host:port`` as a client on this machine reaches a server bound there
    (an all-interfaces address is reached through loopback).

    >>> direct_url("0.0.0.0", 8000), direct_url("::", 8000)
    ('http://127.0.0.1:8000', 'http://[::1]:8000')
    """
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


@dataclass(frozen=True)
class Endpoints:
    """The addresses of one running server, as a user should click or configure them.

    ``direct`` is ``http://host:port`` (from the same machine); ``root`` is where a
    browser reaches the server's ``/`` (the same as ``direct`` unless ``proxied``).
    """

    port: int
    direct: str
    root: str
    via: Via

    @property
    def proxied(self) -> bool:
        """Whether browsers go through a proxy (and so need its prefix and token)."""
        return self.via != "direct"

    @property
    def test_page(self) -> str:
        """The page that shows every ``training_update`` and starts a training."""
        return self.root + TEST_PAGE

    @property
    def dashboard(self) -> str:
        """The class view: one card per run, filtered by owner and status."""
        return self.root + DASHBOARD

    @property
    def rest_base(self) -> str:
        """Prefix of the REST routes: ``rest_base + "/networks"`` lists the networks."""
        return self.root + "api"

    @property
    def socketio_url(self) -> str | None:
        """What to pass to ``io(url, options)``: only the origin (``None`` if unknown:
        use the address of the Jupyter server the notebook is open on)."""
        return _origin(self.root) if self.root.startswith("http") else None

    @property
    def socketio_path(self) -> str:
        """The ``path`` option of Socket.IO clients (the prefix goes here, not in the URL)."""
        root = urlsplit(self.root).path if self.root.startswith("http") else self.root
        return _slashed(root) + "socket.io"

    def socketio_options(self) -> dict[str, Any]:
        """Options for socket.io-client's ``io(url, options)``; through a proxy,
        ``query.token`` must be replaced by the Jupyter token."""
        options: dict[str, Any] = {
            "path": self.socketio_path,
            "transports": list(TRANSPORTS),
            "tryAllTransports": True,
        }
        if self.proxied:
            options["query"] = {"token": _TOKEN}
        return options

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every address and the Socket.IO options."""
        return {
            "port": self.port,
            "via": self.via,
            "proxied": self.proxied,
            "direct": self.direct,
            "root": self.root,
            "test_page": self.test_page,
            "dashboard": self.dashboard,
            "rest_base": self.rest_base,
            "socketio_url": self.socketio_url,
            "socketio_options": self.socketio_options(),
        }

    def _io_call(self) -> str:
        url = self.socketio_url or "https://<jupyter host>"
        return f"io({json.dumps(url)}, {json.dumps(self.socketio_options())})"

    def _token_hint(self) -> str:
        return (
            "From another origin (a dashboard), put the Jupyter token (the ?token=... of the "
            "address you opened Jupyter with) in <token> and add ?token=<token> to REST calls."
        )

    def text(self) -> str:
        """What ``nnlab.serve()`` prints: one line per address."""
        where = {
            "direct": "",
            "NNLAB_PUBLIC_URL": " (public address from NNLAB_PUBLIC_URL)",
            "jupyterhub": " (through JupyterHub's proxy)",
            "jupyter-server-proxy": " (through jupyter-server-proxy)",
        }[self.via]
        lines = [
            f"nnlab server on {self.direct}" + (", for browsers" + where + ":" if self.proxied else ""),
            f"  test page  {self.test_page}",
            f"  dashboard  {self.dashboard}",
            f"  REST base  {self.rest_base}",
            f"  Socket.IO  {self._io_call()}",
        ]
        if self.proxied:
            lines.append("  " + self._token_hint())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())  # a notebook's text/plain: the lines, not the fields

    def _repr_html_(self) -> str:
        def link(url: str) -> str:
            u = html.escape(url, quote=True)
            return f'<a href="{u}" target="_blank" rel="noopener">{u}</a>'

        head = html.escape(self.text().splitlines()[0])
        rows = [
            f"<tr><td>test page</td><td>{link(self.test_page)}</td></tr>",
            f"<tr><td>dashboard</td><td>{link(self.dashboard)}</td></tr>",
            f"<tr><td>REST base</td><td>{link(self.rest_base)}</td></tr>",
            f"<tr><td>Socket.IO</td><td><code>{html.escape(self._io_call())}</code></td></tr>",
        ]
        hint = f"<div>{html.escape(self._token_hint())}</div>" if self.proxied else ""
        return f'<div class="nnlab-endpoints"><div>{head}</div><table>{"".join(rows)}</table>{hint}</div>'


def endpoints(
    port: int,
    host: str = "127.0.0.1",
    *,
    environ: Mapping[str, str] | None = None,
    runtime_dir: str | None = None,
    proxy_installed: bool | None = None,
) -> Endpoints:
    """The addresses of a server listening on ``host:port``, proxied where that applies.

    Only a server on a loopback or all-interfaces address is proxied (jupyter-server-proxy
    connects to localhost). See :func:`detect` for the other arguments.

    >>> e = endpoints(8000, environ={"JUPYTERHUB_SERVICE_PREFIX": "/user/ana/",
    ...                              "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org"})
    >>> e.rest_base
    'https://hub.example.org/user/ana/proxy/8000/api'
    >>> e.socketio_url, e.socketio_options()["path"]
    ('https://hub.example.org', '/user/ana/proxy/8000/socket.io')
    """
    if not is_int(port) or not 0 < port <= 65535:
        raise ValueError(f"port must be the server's port, an int in 1..65535, got {port!r}")
    direct = direct_url(host, port)
    proxy = None
    if host in _LOCAL_HOSTS:
        proxy = detect(environ, runtime_dir=runtime_dir, proxy_installed=proxy_installed)
    if proxy is None:
        return Endpoints(port, direct, direct + "/", "direct")
    return Endpoints(port, direct, proxy.root(port), proxy.via)
