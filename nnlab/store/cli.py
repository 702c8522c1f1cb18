"""``nnlab resume JOB_ID`` and ``nnlab runs``: the run store from a terminal."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_store_commands"]


def add_store_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``nnlab resume`` and ``nnlab runs`` (they load the training code when they run)."""
    p = subparsers.add_parser(
        "resume",
        help="go on with an interrupted or cancelled run from its last checkpoint",
        description="Resume an interrupted or cancelled run of the run store as the same job, "
        "printing one line per epoch.",
    )
    p.add_argument("job_id", help="the run's id, or its first characters as nnlab runs shows them")
    p.add_argument(
        "--store", default=None, help="the run store's file (default: $NNLAB_STORE or the nnlab folder)"
    )
    p.set_defaults(run=_run_resume)
    p = subparsers.add_parser(
        "runs", help="list the runs of the run store", description="List the stored runs."
    )
    p.add_argument(
        "--store", default=None, help="the run store's file (default: $NNLAB_STORE or the nnlab folder)"
    )
    p.add_argument("--status", default=None, help="only runs with this status")
    p.add_argument("--last", type=int, default=None, metavar="N", help="only the newest N runs")
    p.set_defaults(run=_run_runs)


def _run_resume(args: argparse.Namespace) -> int:
    from nnlab.launch import resume
    from nnlab.store import StoreError

    try:
        job = resume(args.job_id, store=args.store, progress="text")
    except (StoreError, KeyError) as exc:
        print(f"nnlab: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0 if job.status == "completed" else 1


def _run_runs(args: argparse.Namespace) -> int:
    from nnlab.launch import runs
    from nnlab.store import StoreError

    try:
        table = runs(store=args.store, status=args.status, limit=args.last)
    except (StoreError, KeyError) as exc:
        print(f"nnlab: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    print(table)
    return 0
