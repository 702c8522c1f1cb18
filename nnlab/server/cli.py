"""``nnlab serve``: the server in the foreground, for dashboards that drive training over REST."""

from __future__ import annotations

import argparse
import signal
import time
from typing import Any

from nnlab.server.runner import DEFAULT_HOST, DEFAULT_PORT

__all__ = ["add_serve_command"]


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0..65535 (0 picks a free one), got {text!r}")
    return port


def add_serve_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``nnlab serve --host --port`` (importing this module does not load the server stack)."""
    p = subparsers.add_parser(
        "serve",
        help="serve the REST API, the Socket.IO training mirror and the test page",
        description="Serve nnlab's REST API, the Socket.IO mirror of every training run and "
        "/test_socketio.html until Ctrl-C.",
    )
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    p.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)"
    )
    p.set_defaults(run=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    from nnlab.server.runner import Server

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # stop cleanly on SIGTERM too (service managers, CI)

    server = Server(args.host, args.port).start()
    signal.signal(signal.SIGTERM, terminate)
    print(server.endpoints(), flush=True)
    print("press Ctrl-C to stop", flush=True)
    try:
        while server.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("stopped", flush=True)
    return 0
