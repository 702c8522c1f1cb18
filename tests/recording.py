"""An observer that records every hook call, for tests of the training loop."""

from __future__ import annotations

from typing import Any

from nnlab.observers import Observer


class RecordingObserver(Observer):
    """Appends ``(hook, args...)`` for every call; optional actions per hook."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.statuses: list[str] = []

    def on_run_start(self, job: Any) -> None:
        self.calls.append(("on_run_start",))
        self.statuses.append(job.status)

    def on_epoch_start(self, job: Any, epoch: int) -> None:
        self.calls.append(("on_epoch_start", epoch))

    def on_batch_end(self, job: Any, epoch: int, batch: int, n_batches: int) -> None:
        self.calls.append(("on_batch_end", epoch, batch, n_batches))

    def on_epoch_end(self, job: Any, record: Any) -> None:
        self.calls.append(("on_epoch_end", record))

    def on_run_end(self, job: Any) -> None:
        self.calls.append(("on_run_end",))
        self.statuses.append(job.status)

    def hooks(self) -> list[str]:
        return [c[0] for c in self.calls]


def make_job(net: Any, data: Any, *, observers: Any = (), registry: Any = None, **params: Any) -> Any:
    """A :class:`~nnlab.training.TrainingJob` with validated ``params``, not yet run."""
    from nnlab.params import check_params
    from nnlab.registry import registry as process_registry
    from nnlab.training import TrainingJob

    return TrainingJob(
        net,
        data,
        check_params(net, data, **params),
        observers=observers,
        registry=registry or process_registry,
    )


def allocation_growth(engine: Any, learning_rate: float, lmbda: float = 0.0) -> int:
    """Bytes a :class:`~nnlab._sgd.MiniBatchSGD` epoch allocates between the end of its
    first mini-batch and the end of its last (peak traced memory; 0 for a loop that
    reuses its buffers).

    Two epochs are measured after a warm-up one and the smaller growth counts: a temporary
    made per mini-batch shows in both, a one-off elsewhere in the process (a cache filled, a
    collection) in one at most.
    """
    import tracemalloc

    import numpy as np

    order = np.random.default_rng(0).permutation(engine.n)
    engine.epoch(order, learning_rate, lmbda)  # warm up: first calls may build caches
    growths = []
    tracemalloc.start()
    try:
        for _ in range(2):
            marks: dict[str, int] = {}

            def report(done: int, marks: dict[str, int] = marks) -> None:
                if "start" not in marks:
                    marks["start"] = tracemalloc.get_traced_memory()[0]
                    tracemalloc.reset_peak()
                elif done == engine.n_batches and "peak" not in marks:
                    marks["peak"] = tracemalloc.get_traced_memory()[1]

            engine.epoch(order, learning_rate, lmbda, None, report, report_interval=0.0)
            growths.append(marks["peak"] - marks["start"])
    finally:
        tracemalloc.stop()
    return min(growths)


def wait_for(condition: Any, timeout: float = 120.0) -> None:
    """Poll ``condition()`` until it is true; fail after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)
