"""``nnlab serve``: the server in the foreground, for dashboards that drive training over REST."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from nnlab.hub._redis import check_redis_url
from nnlab.hub.keys import CHANNEL, Keys
from nnlab.server.admission import DEFAULT_MAX_QUEUED_JOBS
from nnlab.server.bodies import DEFAULT_MAX_TOTAL_PARAMETERS
from nnlab.server.runner import DEFAULT_HOST, DEFAULT_PORT

__all__ = ["add_serve_command"]

#: Seconds Ctrl-C waits for running jobs to stop at their next mini-batch.
CANCEL_WAIT = 1.0
#: Seconds the process may take to end once the server has stopped.
EXIT_GRACE = 3.0


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


def _redis_url(text: str) -> str:
    try:
        return check_redis_url(text, "--redis")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--redis ")) from None


def _channel(text: str) -> str:
    try:
        return Keys(text).channel
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("channel ")) from None


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
    p.add_argument(
        "--redis",
        metavar="URL",
        type=_redis_url,
        default=None,
        help="serve a class: show the runs of every kernel connected to this Redis "
        "(redis://HOST:6379/0, rediss:// for TLS; needs pip install 'nnlab[hub]')",
    )
    p.add_argument(
        "--channel",
        metavar="NAME",
        type=_channel,
        default=CHANNEL,
        help=f"the class's name, as kernels give it to nnlab.connect (default {CHANNEL!r})",
    )
    p.set_defaults(run=_run_serve)


#: Seconds ``nnlab serve`` waits for its server to come up: a terminal can wait longer than
#: a notebook cell, and a busy machine (a class's shared server) may need it.
START_TIMEOUT = 60.0


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

    if args.redis is None and args.channel != CHANNEL:
        print(
            "nnlab serve: error: --channel names the class of a hub: give --redis URL too",
            file=sys.stderr,
            flush=True,
        )
        return 2
    token = _serve_token(args.host, args.token)
    try:
        server = Server(
            args.host,
            args.port,
            token=token,
            max_running_jobs=args.max_running_jobs,
            max_queued_jobs=args.max_queued_jobs,
            max_total_parameters=args.max_total_parameters,
            store=False if args.no_store else args.store,
            redis=args.redis,
            channel=args.channel,
        ).start(timeout=START_TIMEOUT)
    except ImportError as exc:  # --redis without the Redis client
        print(f"nnlab serve: error: {exc}", file=sys.stderr, flush=True)
        return 2
    _log_to_stderr()
    try:
        signal.signal(signal.SIGTERM, terminate)
        print(server.endpoints(), flush=True)
        print(server.store_line(), flush=True)
        if server.class_line() is not None:
            print(server.class_line(), flush=True)
        if token is not None:
            print(f"token: {token}", flush=True)
            print(
                f"  open the test page with ?token=: {server.url}/test_socketio.html?token={token}",
                flush=True,
            )
            print(f"  and the class dashboard: {server.url}/dashboard?token={token}", flush=True)
            print("  REST: 'Authorization: Bearer <token>'; Socket.IO: auth: {token: '<token>'}", flush=True)
        print("press Ctrl-C to stop", flush=True)
        while server.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        try:
            _cancel_running_jobs()
            server.stop()
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
            print("interrupted while stopping", file=sys.stderr, flush=True)
            os._exit(130)
    print("stopped", flush=True)
    _exit_if_stuck(0)
    return 0


def _log_to_stderr() -> None:
    """Show the server's log (why a client was dropped, a failing mirror) in the terminal."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    logger = logging.getLogger("nnlab.server")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _exit_if_stuck(status: int, after: float = EXIT_GRACE) -> None:
    """End the process ``after`` seconds from now if it is still alive then.

    Once the server has stopped nothing is left to save, but a thread that is not a daemon
    (a worker of a library) would keep the interpreter waiting at exit, and Ctrl-C must
    stop the server whatever holds it.
    """

    def end() -> None:
        held = [t.name for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]
        logging.getLogger("nnlab.server").warning(
            "still alive %g s after stopping (held by: %s); exiting", after, ", ".join(held) or "nothing"
        )
        sys.stderr.flush()
        os._exit(status)

    timer = threading.Timer(after, end)
    timer.daemon = True
    timer.start()


def _cancel_running_jobs() -> None:
    """Cancel every running job (each keeps its status and history) and wait briefly."""
    from nnlab.registry import registry

    jobs = registry.active_jobs()
    for job in jobs:
        job.cancel()
    deadline = time.monotonic() + CANCEL_WAIT
    for job in jobs:
        job.wait(max(0.0, deadline - time.monotonic()))
        print(
            f"job {job.job_id} {job.status} after {job.status_record().epoch}/"
            f"{job.status_record().total_epochs} epochs",
            flush=True,
        )
