"""``nnlab serve``: the server in the foreground, for dashboards that drive training over REST."""

from __future__ import annotations

import argparse
import signal
import time
from typing import Any

from nnlab.server.admission import DEFAULT_MAX_QUEUED_JOBS
from nnlab.server.bodies import DEFAULT_MAX_TOTAL_PARAMETERS
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


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int such as 2, got {text!r}")
    return value


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
    p.add_argument(
        "--token",
        default=None,
        help="REST calls and Socket.IO clients must present this token (default: none on "
        "loopback; on any other --host one is generated and printed)",
    )
    p.add_argument(
        "--max-running-jobs",
        type=_positive,
        default=None,
        help="REST-started runs that train at once (default $NNLAB_MAX_RUNNING_JOBS or the number of CPUs)",
    )
    p.add_argument(
        "--max-queued-jobs",
        type=_positive,
        default=DEFAULT_MAX_QUEUED_JOBS,
        help=f"runs that may wait for a slot; more get 429 (default {DEFAULT_MAX_QUEUED_JOBS})",
    )
    p.add_argument(
        "--max-total-parameters",
        type=_positive,
        default=DEFAULT_MAX_TOTAL_PARAMETERS,
        help=f"weights and biases all networks held may total (default {DEFAULT_MAX_TOTAL_PARAMETERS:,})",
    )
    store = p.add_mutually_exclusive_group()
    store.add_argument(
        "--store",
        metavar="PATH",
        default=None,
        help="the run store to save REST runs to, answer for and follow (default $NNLAB_STORE, "
        "else the per-user runs.sqlite that notebooks write to)",
    )
    store.add_argument(
        "--no-store", action="store_true", help="keep runs in memory only: no file, no other kernels' runs"
    )
    p.set_defaults(run=_run_serve)


def _serve_token(host: str, token: str | None) -> str | None:
    """The token to serve with: the one given, else a fresh one off loopback (as Jupyter).

    >>> _serve_token("127.0.0.1", None), _serve_token("0.0.0.0", "mine")
    (None, 'mine')
    >>> len(_serve_token("0.0.0.0", None))
    43
    """
    from nnlab.server.auth import generate_token, is_loopback

    if token is None and is_loopback(host) is False:
        return generate_token()
    return token


def _run_serve(args: argparse.Namespace) -> int:
    from nnlab.server.runner import Server

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # stop cleanly on SIGTERM too (service managers, CI)

    token = _serve_token(args.host, args.token)
    server = Server(
        args.host,
        args.port,
        token=token,
        max_running_jobs=args.max_running_jobs,
        max_queued_jobs=args.max_queued_jobs,
        max_total_parameters=args.max_total_parameters,
        store=False if args.no_store else args.store,
    ).start()
    try:
        signal.signal(signal.SIGTERM, terminate)
        print(server.endpoints(), flush=True)
        print(server.store_line(), flush=True)
        if token is not None:
            print(f"token: {token}", flush=True)
            print(
                f"  open the test page with ?token=: {server.url}/test_socketio.html?token={token}",
                flush=True,
            )
            print("  REST: 'Authorization: Bearer <token>'; Socket.IO: auth: {token: '<token>'}", flush=True)
        print("press Ctrl-C to stop", flush=True)
        while server.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("stopped", flush=True)
    return 0
