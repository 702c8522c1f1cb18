"""The ``nnlab`` command: ``nnlab train`` from a terminal (``python -m nnlab`` too)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nnlab.datasets import Dataset
    from nnlab.network import Network

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
    p.add_argument(
        "--dataset",
        default="digits",
        choices=["digits", "mnist"],
        help="digits are bundled; mnist is downloaded once into --cache-dir (default: %(default)s)",
    )
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        default=None,
        help="folder holding the four MNIST files (default: $NNLAB_DATA_DIR/mnist or ~/.cache/nnlab/mnist)",
    )
    p.add_argument(
        "--sizes",
        type=_sizes,
        default=None,
        help="layer sizes, inputs first, e.g. 64,30,10 (default: features,30,classes)",
    )
    p.add_argument(
        "--load",
        metavar="PATH",
        help="continue training a network saved with --save (default: a new network)",
    )
    p.add_argument(
        "--activation",
        default="sigmoid",
        choices=["sigmoid", "tanh", "relu"],
        help="hidden neurons (default: %(default)s)",
    )
    p.add_argument(
        "--output",
        default="sigmoid",
        choices=["sigmoid", "softmax"],
        help="output layer (default: %(default)s)",
    )
    p.add_argument(
        "--cost",
        default=None,
        choices=["cross_entropy", "quadratic", "log_likelihood"],
        help="cost function (default: cross_entropy, or log_likelihood with --output softmax)",
    )
    p.add_argument(
        "--init",
        default="default",
        choices=["default", "large"],
        help="initial weights: N(0, 1/n_in) or N(0, 1) (default: %(default)s)",
    )
    p.add_argument(
        "--dtype",
        default="float64",
        choices=["float64", "float32"],
        help="floating-point type of the weights (default: %(default)s)",
    )
    p.add_argument(
        "--epochs", type=int, default=10, help="passes over the training set (default: %(default)s)"
    )
    p.add_argument(
        "--mini-batch-size", type=int, default=10, help="examples per weight update (default: %(default)s)"
    )
    p.add_argument("--learning-rate", type=float, default=3.0, help="step size η (default: %(default)s)")
    p.add_argument(
        "--lmbda", type=float, default=0.0, help="regularisation strength λ (default: %(default)s)"
    )
    p.add_argument(
        "--regularization",
        default="l2",
        choices=["l2", "l1"],
        help="what --lmbda penalises (default: %(default)s)",
    )
    p.add_argument(
        "--dropout",
        type=float,
        default=0.0,
        help="share of hidden neurons dropped, 0 <= p < 1 (default: %(default)s)",
    )
    p.add_argument(
        "--momentum", type=float, default=0.0, help="momentum coefficient, 0 <= mu < 1 (default: %(default)s)"
    )
    p.add_argument(
        "--diagnostics",
        action="store_true",
        help="record per-layer learning speed, saturation and norms after each epoch",
    )
    p.add_argument(
        "--evaluate-on",
        default="test",
        choices=["test", "validation", "none"],
        help="the split each epoch's accuracy is measured on (default: %(default)s)",
    )
    p.add_argument(
        "--early-stopping",
        type=int,
        default=None,
        metavar="N",
        help="stop after N epochs without a better validation accuracy (default: never)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed for the initial weights and the shuffles (default: a fresh one each run)",
    )
    p.add_argument(
        "--save", metavar="PATH", help="write the trained network to this JSON file (default: not saved)"
    )
    p.add_argument(
        "--training-cost",
        default="running",
        choices=["running", "full"],
        help="running: measured on the epoch's mini-batches as the weights changed; "
        "full: a pass over the training set after each epoch, slower (default: %(default)s)",
    )
    p.set_defaults(run=_run_train)


def _check_save_path(path: str) -> None:
    """Fail before training if ``path`` cannot be written (a missing folder, a directory)."""
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        raise ValueError(f"--save {path}: that is a folder; give a file name such as {target / 'net.json'}")
    if not folder.is_dir():
        raise ValueError(
            f"--save {path}: the folder {str(folder)!r} does not exist: create it first "
            "(mkdir -p) or choose another path"
        )
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".check")
    except OSError as exc:
        raise ValueError(
            f"--save {path}: cannot write into {str(folder)!r} ({exc.strerror or exc})"
        ) from None
    os.close(fd)
    os.unlink(probe)


def _load_data(args: argparse.Namespace) -> Dataset:
    from nnlab import datasets

    if args.dataset != "mnist":
        if args.cache_dir is not None:
            raise ValueError("--cache-dir is for --dataset mnist; the bundled digits need no folder")
        return datasets.load(args.dataset)
    try:
        return datasets.mnist(args.cache_dir)
    except datasets.MnistUnavailableError as exc:
        raise ValueError(exc.advice("--cache-dir DIR", "--dataset digits needs no download.")) from None


def _run_train(args: argparse.Namespace) -> int:
    from nnlab.launch import train
    from nnlab.network import Network

    if args.save:
        _check_save_path(args.save)
    data = _load_data(args)
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
    saved = _save(net, args.save)
    return 0 if job.status == "completed" and saved else 1


def _save(net: Network, path: str | None) -> bool:
    """Save to ``path``; if that fails after all, keep the result elsewhere and say where."""
    if not path:
        return True
    try:
        net.save(path)
    except OSError as exc:
        kept = _save_elsewhere(net, Path(path).name)
        where = f"it was saved to {kept} instead" if kept else "no other folder could take it either"
        print(f"nnlab: error: could not save to {path} ({exc.strerror or exc}); {where}", file=sys.stderr)
        return False
    print(f"saved the network to {path}", flush=True)
    return True


def _save_elsewhere(net: Network, name: str) -> Path | None:
    """Write the network into the current folder or the temp folder; ``None`` if neither works."""
    stem = Path(name).stem or "network"
    for folder in (Path.cwd(), Path(tempfile.gettempdir())):
        try:
            fd, spare = tempfile.mkstemp(dir=folder, prefix=f"{stem}-", suffix=".json")
            os.close(fd)
            return net.save(spare)
        except OSError:
            continue
    return None


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
