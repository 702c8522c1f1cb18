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
        description="Train a network by mini-batch SGD, printing one line per epoch.",
    )
    p.add_argument("--dataset", default="digits", help="digits (bundled, default) or mnist (downloaded)")
    p.add_argument(
        "--sizes",
        type=_sizes,
        default=None,
        help="layer sizes, inputs first, e.g. 64,30,10 (default: features,30,classes)",
    )
    p.add_argument("--load", metavar="PATH", help="continue training a network saved with --save")
    p.add_argument("--activation", default="sigmoid", choices=["sigmoid", "tanh", "relu"])
    p.add_argument("--output", default="sigmoid", choices=["sigmoid", "softmax"])
    p.add_argument(
        "--cost",
        default=None,
        choices=["cross_entropy", "quadratic", "log_likelihood"],
        help="default: cross_entropy, or log_likelihood with --output softmax",
    )
    p.add_argument("--init", default="default", choices=["default", "large"])
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--mini-batch-size", type=int, default=10)
    p.add_argument("--learning-rate", type=float, default=3.0)
    p.add_argument("--lmbda", type=float, default=0.0, help="regularisation strength")
    p.add_argument("--regularization", default="l2", choices=["l2", "l1"])
    p.add_argument("--dropout", type=float, default=0.0, help="share of hidden neurons dropped (0 <= p < 1)")
    p.add_argument("--momentum", type=float, default=0.0, help="momentum coefficient (0 <= mu < 1)")
    p.add_argument(
        "--diagnostics",
        action="store_true",
        help="record per-layer learning speed, saturation and norms after each epoch",
    )
    p.add_argument("--evaluate-on", default="test", choices=["test", "validation", "none"])
    p.add_argument(
        "--early-stopping",
        type=int,
        default=None,
        metavar="N",
        help="stop after N epochs without a better validation accuracy",
    )
    p.add_argument(
        "--training-cost",
        default="running",
        choices=["running", "full"],
        help="running (default): measured on the epoch's mini-batches as the weights changed; "
        "full: a pass over the training set after each epoch (slower)",
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
        net = Network(
            sizes,
            activation=args.activation,
            output=args.output,
            cost=args.cost,
            init=args.init,
            seed=args.seed,
            dtype=args.dtype,
        )
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
            training_cost=args.training_cost,
            regularization=args.regularization,
            dropout=args.dropout,
            momentum=args.momentum,
            diagnostics=args.diagnostics,
            progress="text",
        )
    except KeyboardInterrupt:
        _save(net, args.save)
        return 130
    if job.history and job.history[-1].diagnostics is not None:
        for name, values in job.history[-1].diagnostics.to_dict().items():
            print(f"{name} per layer (input side first): {', '.join(f'{v:.4g}' for v in values)}")
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nnlab`` command."""
    parser = argparse.ArgumentParser(
        prog="nnlab", description="Small neural networks in numpy, trained live."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_train(subparsers)
    _add_serve(subparsers)
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
