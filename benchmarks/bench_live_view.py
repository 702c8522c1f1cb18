"""What the live view costs a training run: time per epoch with it attached vs. without.

Run by hand: ``.venv/bin/python benchmarks/bench_live_view.py [--quick]``.

Two workloads at mini-batch 10: the bundled digits ([64, 30, 10], ~4 ms epochs, the
worst case for a per-epoch cost) and MNIST-shaped random data made on the spot
(50,000 x 784 training rows, 10,000 test rows, [784, 30, 10]). For each, runs with
``progress=False`` and runs with a :class:`~nnlab.live.LiveView` attached alternate
(baseline, live, baseline, live, ...), and the medians of the wall time of whole
``train()`` calls per epoch are compared. BLAS is pinned to one thread.

Outside a kernel the widgets are real ipywidgets objects whose every assignment goes
through traitlets validation, state serialisation and ``comm.send``; only the comm is
``comm``'s dummy that drops the message. The script counts those messages, so the cost
of sending them from a kernel can be estimated from a per-message cost measured there.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import nnlab
from nnlab.live.widgets import LiveView

#: Measured in a kernel (shared/notes/server-facts.md): one widget value update, p50.
KERNEL_SEND_SECONDS = 86e-6


def count_messages(view: LiveView) -> list[int]:
    """Wrap every widget's comm to count the messages the view sends."""
    counter = [0]
    for widget in _widgets(view.widget):
        comm = widget.comm
        if comm is None:
            continue
        send = comm.send

        def counted(*args: Any, _send: Any = send, **kwargs: Any) -> Any:
            counter[0] += 1
            return _send(*args, **kwargs)

        comm.send = counted
    return counter


def _widgets(widget: Any) -> list[Any]:
    found = [widget, widget.layout]
    for child in getattr(widget, "children", ()):
        found += _widgets(child)
    return found


def one_run(net: nnlab.Network, data: nnlab.Dataset, epochs: int, live: bool) -> tuple[float, int, int]:
    """Seconds per epoch of one ``train()`` call, the view's frames and messages."""
    observers: list[Any] = []
    view = None
    messages = [0]
    if live:
        view = LiveView(display=False)
        messages = count_messages(view)
        observers.append(view)
    start = time.perf_counter()
    nnlab.train(net, data, epochs=epochs, mini_batch_size=10, seed=0, observers=observers, progress=False)
    seconds = time.perf_counter() - start
    frames = view.throttle.frames if view is not None else 0
    return seconds / epochs, frames, messages[0]


HOOKS = ("on_run_start", "on_epoch_start", "on_batch_end", "on_epoch_end", "on_run_end")


def time_inside_view(net: nnlab.Network, data: nnlab.Dataset, epochs: int) -> float:
    """Share of one run's wall time spent inside the view's hooks (drawing included).

    Steadier than a difference of two noisy run times; the timers add ~0.1 us a call.
    """
    view = LiveView(display=False)
    inside = [0.0]
    for hook in HOOKS:
        method = getattr(view, hook)

        def timed(*args: Any, _method: Any = method) -> None:
            start = time.perf_counter()
            _method(*args)
            inside[0] += time.perf_counter() - start

        setattr(view, hook, timed)
    start = time.perf_counter()
    nnlab.train(net, data, epochs=epochs, mini_batch_size=10, seed=0, observers=[view], progress=False)
    return inside[0] / (time.perf_counter() - start)


def compare(name: str, sizes: list[int], data: nnlab.Dataset, epochs: int, pairs: int) -> float:
    net = nnlab.Network(sizes, seed=0)
    one_run(net, data, 1, live=False)  # warm up caches and the allocator
    one_run(net, data, 1, live=True)
    base: list[float] = []
    live: list[float] = []
    frames = messages = 0
    for _ in range(pairs):
        base.append(one_run(net, data, epochs, live=False)[0])
        per_epoch, f, m = one_run(net, data, epochs, live=True)
        live.append(per_epoch)
        frames += f
        messages += m
    b, v = statistics.median(base), statistics.median(live)
    ratio = v / b
    # each live run against the baseline run just before it: steadier on a shared machine
    paired = statistics.median(lv / bs for bs, lv in zip(base, live))
    live_seconds = sum(live) * epochs
    sent = messages * KERNEL_SEND_SECONDS / live_seconds
    share = statistics.median(time_inside_view(net, data, epochs) for _ in range(3))
    print(
        f"{name:<14} epoch {b * 1e3:8.2f} ms -> {v * 1e3:8.2f} ms with the view: ratio {ratio:.4f} "
        f"({100 * (ratio - 1):+.2f}%), paired {paired:.4f}; {frames / (live_seconds or 1):.1f} frames/s, "
        f"{messages / (live_seconds or 1):.0f} messages/s (~{100 * sent:.2f}% more to send from a kernel); "
        f"time inside the view's hooks: {100 * share:.2f}% of the run"
    )
    return ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test)")
    args = parser.parse_args(argv)
    pairs_digits, pairs_mnist = (3, 1) if args.quick else (21, 7)
    rng = np.random.default_rng(0)
    X = rng.random((60_000, 784), dtype=np.float64)
    y = rng.integers(0, 10, 60_000)
    mnist_like = nnlab.datasets.from_arrays(X, y, test=10_000, name="mnist-shaped")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, BLAS threads pinned to 1")
    with threadpool_limits(limits=1):
        compare("digits", [64, 30, 10], nnlab.datasets.digits(), epochs=250, pairs=pairs_digits)
        compare("mnist-shaped", [784, 30, 10], mnist_like, epochs=2, pairs=pairs_mnist)
    print("target: ratio < 1.02")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
