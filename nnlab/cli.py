"""The ``nnlab`` command: ``nnlab train`` from a terminal (``python -m nnlab`` too)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated ints such as 64,30,10, got {text!r}"
        ) from None
    return sizes


def _add_train(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a network and print one line per epoch",
        description="Train a sigmoid network by mini-batch SGD, printing one line per epoch.",
    )
    p.add_argument("--dataset", default="digits", help="digits (bundled, default) or mnist (downloaded)")
    p.add_argument(
        "--sizes",
        type=_sizes,
        default=None,
        help="layer sizes, inputs first, e.g. 64,30,10 (default: features,30,classes)",
    )
    p.add_argument("--load", metavar="PATH", help="continue training a network saved with --save")
    p.add_argument("--cost", default="cross_entropy", choices=["cross_entropy", "quadratic"])
    p.add_argument("--init", default="default", choices=["default", "large"])
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--mini-batch-size", type=int, default=10)
    p.add_argument("--learning-rate", type=float, default=3.0)
    p.add_argument("--lmbda", type=float, default=0.0, help="L2 regularisation strength")
    p.add_argument("--evaluate-on", default="test", choices=["test", "validation", "none"])
    p.add_argument(
        "--early-stopping",
        type=int,
        default=None,
        metavar="N",
        help="stop after N epochs without a better validation accuracy",
    )
    p.add_argument("--seed", type=int, default=None, help="seed for the initial weights and the shuffles")
    p.add_argument("--save", metavar="PATH", help="write the trained network to this JSON file")
    p.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from nnlab import datasets
    from nnlab.launch import train
    from nnlab.network import Network

    data = datasets.load(args.dataset)
    if args.load:
        net = Network.load(args.load)
    else:
        sizes = args.sizes or [data.n_features, 30, data.n_classes]
        net = Network(sizes, cost=args.cost, init=args.init, seed=args.seed, dtype=args.dtype)
    print(
        f"training {net!r} on {data.name} ({data.sizes()['train']} examples): {args.epochs} "
        f"epochs, mini-batch {args.mini_batch_size}, learning rate {args.learning_rate:g}",
        flush=True,
    )
    try:
        job = train(
            net,
            data,
            epochs=args.epochs,
            mini_batch_size=args.mini_batch_size,
            learning_rate=args.learning_rate,
            lmbda=args.lmbda,
            seed=args.seed,
            evaluate_on=None if args.evaluate_on == "none" else args.evaluate_on,
            early_stopping=args.early_stopping,
            progress="text",
        )
    except KeyboardInterrupt:
        _save(net, args.save)
        return 130
    _save(net, args.save)
    return 0 if job.status == "completed" else 1


def _save(net: object, path: str | None) -> None:
    if path:
        net.save(path)  # type: ignore[attr-defined]
        print(f"saved the network to {path}", flush=True)


def _add_serve(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # The server's options live with the server; importing them is cheap (no socketio).
    from nnlab.server.cli import add_serve_command

    add_serve_command(subparsers)


def _add_store(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from nnlab.store.cli import add_store_commands

    add_store_commands(subparsers)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nnlab`` command."""
    parser = argparse.ArgumentParser(
        prog="nnlab", description="Small neural networks in numpy, trained live."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_train(subparsers)
    _add_serve(subparsers)
    _add_store(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
    except (ValueError, OSError) as exc:
        print(f"nnlab: error: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
