"""``train()`` and ``TrainingJob``: the one training loop every view observes.

A job validates its parameters when it is made, trains in the thread that calls
:meth:`TrainingJob.run` (or a thread of its own with :meth:`TrainingJob.start`), records
one :class:`~nnlab.events.EpochRecord` per epoch, and tells its observers what happens.
It never prints and imports no widget or server code: progress bars, text lines and the
Socket.IO mirror are observers.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Literal

import numpy as np

from nnlab import datasets as _datasets
from nnlab._sgd import MiniBatchSGD
from nnlab._types import Array
from nnlab.datasets import Dataset
from nnlab.events import EpochRecord, TrainingUpdate
from nnlab.network import Network, one_hot
from nnlab.observers import BATCH_REPORT_INTERVAL, Notifier, make_progress
from nnlab.registry import Registry, registry

__all__ = [
    "MAX_EPOCHS",
    "HalveOnPlateau",
    "ParameterError",
    "TrainingJob",
    "TrainingParams",
    "train",
]

Status = Literal["queued", "running", "completed", "failed", "cancelled"]
FINISHED: frozenset[str] = frozenset({"completed", "failed", "cancelled"})

#: Most epochs one run may ask for.
MAX_EPOCHS = 10_000


class ParameterError(ValueError):
    """A training parameter is invalid; ``field`` names it (as the REST body does)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class HalveOnPlateau:
    """Halve the learning rate after ``patience`` epochs without a better validation
    accuracy; stop once it falls below ``min_factor`` times its first value.

    The book's chapter 3 schedule is ``HalveOnPlateau(patience=10, min_factor=1/128)``.
    """

    patience: int = 10
    min_factor: float = 1 / 128

    def __post_init__(self) -> None:
        if isinstance(self.patience, bool) or not isinstance(self.patience, int) or self.patience < 1:
            raise ParameterError("lr_schedule", f"patience must be an int >= 1, got {self.patience!r}")
        if not 0.0 < self.min_factor < 1.0:
            raise ParameterError(
                "lr_schedule", f"min_factor must lie between 0 and 1, got {self.min_factor!r}"
            )


@dataclass(frozen=True)
class TrainingParams:
    """The validated parameters of one run (what the REST API shows as ``parameters``)."""

    epochs: int
    mini_batch_size: int
    learning_rate: float
    lmbda: float
    seed: int
    dataset: str
    evaluate_on: str | None
    early_stopping: int | None
    lr_schedule: HalveOnPlateau | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        data = asdict(self)
        data["lr_schedule"] = None if self.lr_schedule is None else asdict(self.lr_schedule)
        return data


def _positive_int(field: str, value: Any, example: str, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ParameterError(field, f"{field} must be a positive int such as {example}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ParameterError(field, f"{field} must be at most {maximum:,}, got {value:,}")
    return int(value)


def _number(field: str, value: Any, *, positive: bool, example: str) -> float:
    ok = not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)
    if ok:
        value = float(value)
        ok = math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        kind = "a positive" if positive else "a non-negative"
        raise ParameterError(field, f"{field} must be {kind} finite number such as {example}, got {value!r}")
    return float(value)


def _resolve_data(data: Dataset | str | None) -> Dataset:
    if data is None:
        return _datasets.digits()
    if isinstance(data, Dataset):
        return data
    if isinstance(data, str):
        return _datasets.load(data)
    raise ParameterError(
        "dataset",
        f"data must be a Dataset, a dataset name {_datasets.available()} or None, got {type(data).__name__}",
    )


def check_params(
    net: Network,
    data: Dataset,
    *,
    epochs: Any,
    mini_batch_size: Any,
    learning_rate: Any,
    lmbda: Any,
    seed: Any,
    evaluate_on: Any,
    early_stopping: Any,
    lr_schedule: Any,
) -> TrainingParams:
    """Validate the parameters of a run against its network and data."""
    if not isinstance(net, Network):
        raise ParameterError("net", f"net must be an nnlab.Network, got {type(net).__name__}")
    if data.n_features != net.n_inputs:
        raise ParameterError(
            "dataset",
            f"the network takes {net.n_inputs} inputs but dataset {data.name!r} has "
            f"{data.n_features} features: build Network([{data.n_features}, ..., {data.n_classes}])",
        )
    if data.n_classes > net.n_outputs:
        raise ParameterError(
            "dataset",
            f"dataset {data.name!r} has {data.n_classes} classes but the network only "
            f"{net.n_outputs} outputs: give the last layer {data.n_classes} neurons",
        )
    epochs = _positive_int("epochs", epochs, "10", MAX_EPOCHS)
    n_train = data.train[0].shape[0]
    mini_batch_size = _positive_int("mini_batch_size", mini_batch_size, "10")
    if mini_batch_size > n_train:
        raise ParameterError(
            "mini_batch_size",
            f"mini_batch_size ({mini_batch_size}) is larger than the training set ({n_train}): "
            f"use at most {n_train}",
        )
    learning_rate = _number("learning_rate", learning_rate, positive=True, example="3.0")
    lmbda = _number("lmbda", lmbda, positive=False, example="5.0")
    if seed is None:
        seed = secrets.randbits(32)
    elif isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**63:
        raise ParameterError("seed", f"seed must be a non-negative int or None, got {seed!r}")
    if evaluate_on not in ("test", "validation", None):
        raise ParameterError(
            "evaluate_on", f"evaluate_on must be 'test', 'validation' or None, got {evaluate_on!r}"
        )
    if early_stopping is not None:
        early_stopping = _positive_int("early_stopping", early_stopping, "10")
    if isinstance(lr_schedule, str):
        if lr_schedule != "halve_on_plateau":
            raise ParameterError(
                "lr_schedule",
                f"lr_schedule must be 'halve_on_plateau', a HalveOnPlateau or None, got {lr_schedule!r}",
            )
        lr_schedule = HalveOnPlateau()
    elif lr_schedule is not None and not isinstance(lr_schedule, HalveOnPlateau):
        raise ParameterError(
            "lr_schedule",
            f"lr_schedule must be 'halve_on_plateau', a HalveOnPlateau or None, got {lr_schedule!r}",
        )
    if (early_stopping or lr_schedule) and data.validation is None:
        field = "early_stopping" if early_stopping else "lr_schedule"
        raise ParameterError(
            field,
            f"{field} watches validation accuracy, but dataset {data.name!r} has no validation "
            "split: use one that has (e.g. from_arrays(X, y, validation=0.1))",
        )
    return TrainingParams(
        epochs=epochs,
        mini_batch_size=mini_batch_size,
        learning_rate=learning_rate,
        lmbda=lmbda,
        seed=int(seed),
        dataset=data.name,
        evaluate_on=evaluate_on,
        early_stopping=early_stopping,
        lr_schedule=lr_schedule,
    )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TrainingJob:
    """One training run of a network: its parameters, status and per-epoch history.

    ``status`` goes ``queued`` -> ``running`` -> ``completed``, ``failed`` or
    ``cancelled``. ``history`` holds one :class:`EpochRecord` per finished epoch.
    Create it with :func:`train`, or directly and then call :meth:`run` or :meth:`start`.
    """

    def __init__(
        self,
        net: Network,
        data: Dataset | str | None = None,
        epochs: int = 10,
        mini_batch_size: int = 10,
        learning_rate: float = 3.0,
        *,
        lmbda: float = 0.0,
        seed: int | None = None,
        evaluate_on: Literal["test", "validation"] | None = "test",
        early_stopping: int | None = None,
        lr_schedule: HalveOnPlateau | str | None = None,
        observers: Iterable[Any] = (),
        progress: Any = "auto",
        registry: Registry = registry,
    ) -> None:
        self.data = _resolve_data(data)
        self.params = check_params(
            net,
            self.data,
            epochs=epochs,
            mini_batch_size=mini_batch_size,
            learning_rate=learning_rate,
            lmbda=lmbda,
            seed=seed,
            evaluate_on=evaluate_on,
            early_stopping=early_stopping,
            lr_schedule=lr_schedule,
        )
        self.network = net
        self.network_id = net.network_id
        self.job_id = str(uuid.uuid4())
        progress_observer = make_progress(progress)
        self._observers = [*([progress_observer] if progress_observer else []), *observers]
        self._registry = registry
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()
        self.status: Status = "queued"
        self.history: list[EpochRecord] = []
        self.error: str | None = None
        #: Why a run ended before its last epoch: ``"early_stopping"``,
        #: ``"learning_rate_schedule"``, ``"cancelled"``, ``"interrupted"`` or ``"diverged"``.
        self.stop_reason: str | None = None
        self.learning_rate = self.params.learning_rate
        self.created_at = _now()
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self.elapsed_time: float | None = None
        self._run_start = time.perf_counter()
        #: While running: the epoch in progress and mini-batches done in it.
        self.current_epoch = 0
        self.batches_done = 0
        self.n_batches = -(-self.data.train[0].shape[0] // self.params.mini_batch_size)

    # --------------------------------------------------------------- state
    @property
    def done(self) -> bool:
        """Whether the run has ended (completed, failed or cancelled)."""
        return self.status in FINISHED

    @property
    def latest(self) -> TrainingUpdate | None:
        """The last epoch's wire update, or ``None`` before the first epoch ends."""
        history = self.history
        return history[-1].update if history else None

    @property
    def best_accuracy(self) -> float | None:
        """Best evaluation accuracy so far, or ``None``."""
        values = [r.accuracy for r in self.history if r.accuracy is not None]
        return max(values) if values else None

    def __repr__(self) -> str:
        parts = [f"epoch {len(self.history)}/{self.params.epochs}"]
        latest = self.latest
        if latest is not None and latest.accuracy is not None:
            parts.append(f"accuracy {latest.accuracy:.4f}")
        parts.append(self.status)
        return f"<TrainingJob {self.job_id[:8]} · {' · '.join(parts)}>"

    def to_dict(self, *, history: bool = True) -> dict[str, Any]:
        """JSON-ready description; ``history=False`` leaves out the per-epoch records."""
        records = list(self.history)
        latest = records[-1].update.to_dict() if records else None
        data: dict[str, Any] = {
            "job_id": self.job_id,
            "network_id": self.network_id,
            "status": self.status,
            "parameters": self.params.to_dict(),
            "epochs_completed": records[-1].epoch if records else 0,  # history may be trimmed
            "total_epochs": self.params.epochs,
            "latest": latest,
            "error": self.error,
            "stop_reason": self.stop_reason,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "elapsed_time": self.elapsed_time,
        }
        if history:
            data["history"] = [r.to_dict() for r in records]
        return data

    # --------------------------------------------------------------- control
    def cancel(self) -> None:
        """Stop at the next mini-batch (from any thread); the history so far is kept."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends; ``False`` if ``timeout`` seconds passed first."""
        return self._done.wait(timeout)

    def view(self, **options: Any) -> Any:
        """Show this run's live view in the current notebook cell (see :func:`nnlab.watch`).

        ``options`` are ``watch``'s: ``interval``, ``stable``, ``display``.

        >>> job = train(Network([64, 10, 10], seed=0), epochs=1, seed=0, progress=False)
        >>> job.view(display=False, stable=True).wait(5)
        True
        """
        from nnlab.live import watch

        return watch(self, **options)

    def start(self) -> TrainingJob:
        """Run in a background thread and return at once (the network is claimed first,
        so a busy network raises ``NetworkBusyError`` here)."""
        self._registry.claim(self)
        thread = threading.Thread(
            target=self._run_claimed, name=f"nnlab-train-{self.job_id[:8]}", daemon=True
        )
        thread.start()
        return self

    def run(self) -> TrainingJob:
        """Train in this thread until the run ends, then return ``self``.

        Ctrl-C (``KeyboardInterrupt``) cancels the run like :meth:`cancel` and re-raises.
        """
        self._registry.claim(self)
        self._run_claimed()
        return self

    def _run_claimed(self) -> None:
        notifier = Notifier(self._observers, self._registry.observers)
        self._run_start = time.perf_counter()
        try:
            self.started_at = _now()
            self.status = "running"
            notifier.notify("on_run_start", self)
            self._train(notifier)
        except KeyboardInterrupt:
            self._finish("cancelled", reason="interrupted")
            self._end(notifier)
            raise
        except Exception as exc:
            self._finish("failed", error=f"{type(exc).__name__}: {exc}", reason="error")
            self._end(notifier)
            raise
        self._end(notifier)

    def _end(self, notifier: Notifier) -> None:
        self._registry.release(self)
        notifier.notify("on_run_end", self)
        self._done.set()

    def _finish(self, status: Status, *, error: str | None = None, reason: str | None = None) -> None:
        with self._lock:
            if self.done:
                return
            self.error = error
            self.stop_reason = reason
            self.finished_at = _now()
            self.elapsed_time = time.perf_counter() - self._run_start
            self.status = status

    # --------------------------------------------------------------- the loop
    def _train(self, notifier: Notifier) -> None:
        net, data, params = self.network, self.data, self.params
        X, y = data.train
        engine = MiniBatchSGD(net, X, one_hot(y, net.n_outputs, net.dtype), params.mini_batch_size)
        evaluation = data.split(params.evaluate_on) if params.evaluate_on else None
        rng = np.random.default_rng(params.seed)
        snapshot = [p.copy() for p in (*net.weights, *net.biases)]
        wants_batches = notifier.wants("on_batch_end")
        best, since_best, since_halving = -1.0, 0, 0
        for epoch in range(1, params.epochs + 1):
            if self._stop.is_set():
                self._finish("cancelled", reason="cancelled")
                break
            epoch_start = time.perf_counter()
            self.current_epoch, self.batches_done = epoch, 0
            notifier.notify("on_epoch_start", self, epoch)
            report = None
            if wants_batches:

                def report(done: int, epoch: int = epoch) -> None:
                    self.batches_done = done
                    notifier.notify("on_batch_end", self, epoch, done, engine.n_batches)

            order = rng.permutation(engine.n)
            done = engine.epoch(
                order, self.learning_rate, params.lmbda, self._stop, report, BATCH_REPORT_INTERVAL
            )
            self.batches_done = done
            if done < engine.n_batches:
                self._finish("cancelled", reason="cancelled")
                break
            record = self._measure(epoch, evaluation, epoch_start)
            if record is None:
                for saved, p in zip(snapshot, (*net.weights, *net.biases)):
                    np.copyto(p, saved)
                self._finish("failed", error=self._divergence_message(epoch), reason="diverged")
                break
            net.epochs_trained += 1
            self.history.append(record)
            notifier.notify("on_epoch_end", self, record)
            for saved, p in zip(snapshot, (*net.weights, *net.biases)):
                np.copyto(saved, p)
            # early stopping and the learning-rate schedule watch validation accuracy
            if record.validation_accuracy is not None:
                if record.validation_accuracy > best:
                    best, since_best, since_halving = record.validation_accuracy, 0, 0
                else:
                    since_best += 1
                    since_halving += 1
            if params.early_stopping and since_best >= params.early_stopping:
                self._finish("completed", reason="early_stopping")
                break
            schedule = params.lr_schedule
            if schedule is not None and since_halving >= schedule.patience:
                since_halving = 0
                self.learning_rate /= 2
                if self.learning_rate < params.learning_rate * schedule.min_factor:
                    self._finish("completed", reason="learning_rate_schedule")
                    break
        else:
            self._finish("completed")

    def _measure(
        self, epoch: int, evaluation: tuple[Array, Array] | None, start: float
    ) -> EpochRecord | None:
        """Costs and accuracies after an epoch; ``None`` if the network diverged."""
        net, params, data = self.network, self.params, self.data
        weights_finite = all(np.isfinite(w).all() for w in (*net.weights, *net.biases))
        if not weights_finite:
            return None
        X, y = data.train
        training_cost = net._score(_as(X, net), y, params.lmbda)[1]
        if not math.isfinite(training_cost):
            return None
        correct = total = None
        evaluation_cost = None
        if evaluation is not None:
            correct, evaluation_cost = _score(net, evaluation, params.lmbda)
            total = int(evaluation[0].shape[0])
        validation_cost = validation_accuracy = None
        if data.validation is not None:
            if params.evaluate_on == "validation" and correct is not None and total:
                validation_cost, validation_accuracy = evaluation_cost, correct / total
            else:
                v_correct, validation_cost = _score(net, data.validation, params.lmbda)
                validation_accuracy = v_correct / data.validation[0].shape[0]
        update = TrainingUpdate.for_epoch(
            self.job_id,
            self.network_id,
            epoch,
            params.epochs,
            time.perf_counter() - start,
            correct=correct,
            total=total,
        )
        return EpochRecord(
            update=update,
            training_cost=training_cost,
            evaluation_cost=evaluation_cost,
            validation_cost=validation_cost,
            validation_accuracy=validation_accuracy,
            learning_rate=self.learning_rate,
        )

    def _divergence_message(self, epoch: int) -> str:
        kept = f"the end of epoch {epoch - 1}" if epoch > 1 else "before training"
        return (
            f"training diverged in epoch {epoch}: the weights or the training cost became "
            f"NaN or infinite. The network keeps its weights from {kept}. Try a smaller "
            f"learning_rate than {self.learning_rate:g} (e.g. {self.learning_rate / 10:g})."
        )


def _as(X: Array, net: Network) -> Array:
    return X if X.dtype == net.dtype else X.astype(net.dtype)


def _score(net: Network, split: tuple[Array, Array], lmbda: float) -> tuple[int, float]:
    """(correct, cost) on one split, from a single forward pass."""
    correct, cost = net._score(_as(split[0], net), split[1], lmbda)
    if not math.isfinite(cost):  # a finite network gives a finite cost; guard the wire anyway
        cost = float(np.finfo(np.float64).max)
    return correct, cost


def train(
    net: Network,
    data: Dataset | str | None = None,
    epochs: int = 10,
    mini_batch_size: int = 10,
    learning_rate: float = 3.0,
    *,
    lmbda: float = 0.0,
    seed: int | None = None,
    evaluate_on: Literal["test", "validation"] | None = "test",
    early_stopping: int | None = None,
    lr_schedule: HalveOnPlateau | str | None = None,
    observers: Iterable[Any] = (),
    progress: Any = "auto",
    background: bool = False,
) -> TrainingJob:
    """Train ``net`` by mini-batch SGD and return the :class:`TrainingJob`.

    ``data`` is a :class:`~nnlab.datasets.Dataset`, a name (``"digits"``, ``"mnist"``)
    or ``None`` for the bundled digits. Each epoch shuffles the training set with
    ``np.random.default_rng(seed)``, updates the weights once per mini-batch of
    ``mini_batch_size`` examples (``w <- (1 - learning_rate lmbda / n) w -
    learning_rate / m * gradient``, the book's L2-regularised rule), then measures the
    training cost and the accuracy on ``evaluate_on`` ("test", "validation" or None).
    ``early_stopping=n`` stops after ``n`` epochs without a better validation accuracy;
    ``lr_schedule="halve_on_plateau"`` halves the learning rate on such plateaus.
    ``observers`` watch the run (see :mod:`nnlab.observers`); ``progress="auto"`` (the
    default) shows the live view in a notebook (:mod:`nnlab.live`) and a line per epoch
    on stderr elsewhere; ``"widgets"``, ``"text"`` or ``False`` choose. ``background=True``
    returns at once with the run going on in a thread of its own. Calling ``train`` again
    continues from the network's weights.

    >>> from nnlab import Network
    >>> job = train(Network([64, 30, 10], seed=0), epochs=2, seed=0)
    >>> job.status, len(job.history), job.history[-1].epoch
    ('completed', 2, 2)
    """
    job = TrainingJob(
        net,
        data,
        epochs,
        mini_batch_size,
        learning_rate,
        lmbda=lmbda,
        seed=seed,
        evaluate_on=evaluate_on,
        early_stopping=early_stopping,
        lr_schedule=lr_schedule,
        observers=observers,
        progress=progress,
    )
    return job.start() if background else job.run()
