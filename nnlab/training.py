"""``TrainingJob``: the one training loop every view observes.

A job trains a network on a data set with validated :class:`~nnlab.params.TrainingParams`,
in the thread that calls :meth:`TrainingJob.run` (or a thread of its own with
:meth:`TrainingJob.start`), records one :class:`~nnlab.events.EpochRecord` per epoch, and
tells its observers what happens. It never prints, builds no view and imports no widget or
server code: progress bars, text lines and the Socket.IO mirror are observers, and
:func:`nnlab.train` (:mod:`nnlab.launch`) chooses the progress view.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

from nnlab import datasets as _datasets
from nnlab._control import Control, JobStateError, rest_of_epoch
from nnlab._sgd import MiniBatchSGD, dropout_generator
from nnlab._types import Array
from nnlab.checkpoint import TrainingState
from nnlab.datasets import Dataset
from nnlab.diagnostics import DIAGNOSTIC_SAMPLE, diagnose
from nnlab.events import FINISHED, EpochRecord, JobStatus, TrainingStatus, TrainingUpdate
from nnlab.formats import format_summary
from nnlab.hints import hints_for, suggest_learning_rate
from nnlab.identity import identity
from nnlab.network import Network, one_hot
from nnlab.notify import BATCH_REPORT_INTERVAL, Notifier
from nnlab.params import ParameterError, TrainingParams, finite_number
from nnlab.registry import Registry, registry

__all__ = ["JobStateError", "TrainingJob", "resolve_data"]


def resolve_data(data: Dataset | str | None) -> Dataset:
    """``data`` as a :class:`Dataset`: a data set, a name (``"digits"``, ``"mnist"``) or
    ``None`` for the bundled digits."""
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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TrainingJob:
    """One training run of a network: its parameters, status and per-epoch history.

    ``status`` goes ``queued`` -> ``running`` -> ``completed``, ``failed`` or
    ``cancelled``, and between ``running`` and ``paused`` as :meth:`pause` and
    :meth:`resume` say. ``history`` holds one :class:`EpochRecord` per finished epoch. Most
    code calls :func:`nnlab.train`; a job made directly takes validated parameters
    (:func:`nnlab.params.check_params`) and trains with :meth:`run` or :meth:`start`.

    >>> from nnlab.params import check_params
    >>> net, data = Network([64, 10, 10], seed=0), resolve_data("digits")
    >>> job = TrainingJob(net, data, check_params(net, data, epochs=1, seed=0)).run()
    >>> job
    <TrainingJob ... · epoch 1/1 · accuracy ... · completed>
    """

    def __init__(
        self,
        net: Network,
        data: Dataset,
        params: TrainingParams,
        *,
        observers: Iterable[Any] = (),
        registry: Registry = registry,
    ) -> None:
        if not isinstance(net, Network):
            raise ParameterError("net", f"net must be an nnlab.Network, got {type(net).__name__}")
        self.network = net
        self.data = data
        self.params = params
        self.network_id = net.network_id
        self.job_id = str(uuid.uuid4())
        #: Who made the run, and where (:func:`nnlab.identity.identity` when it was made):
        #: its ``training_status`` and REST description carry it, whoever owns the process later.
        self.identity = identity()
        self._observers = list(observers)
        self._registry = registry
        self._lock = threading.Lock()
        self._control = Control()
        self._paused_time = 0.0  # seconds paused, left out of the elapsed times
        self._paused_since: float | None = None
        self._done = threading.Event()
        self.status: JobStatus = "queued"
        self.history: list[EpochRecord] = []
        self.error: str | None = None
        #: Why a run ended before its last epoch: ``"early_stopping"``,
        #: ``"learning_rate_schedule"``, ``"cancelled"``, ``"interrupted"`` or ``"diverged"``.
        self.stop_reason: str | None = None
        #: Short advice about the run (accuracy stuck at chance, ...); empty when all is well.
        self.hints: list[str] = []
        #: Epochs the network had been trained before this run (views count on from there;
        #: the wire's ``epoch`` stays 1-based within the job).
        self.epochs_before = net.epochs_trained
        #: With ``restore_best``: the epoch whose weights the network kept.
        self.best_epoch: int | None = None
        #: Whether a run store is keeping this run: ``None`` without a store, ``False``
        #: once the store failed (the run goes on in memory).
        self.saved: bool | None = None
        self._resume: TrainingState | None = None
        # the engine's state at the last epoch boundary (momentum, dropout): see training_state
        self._velocities: list[Array] | None = None
        self._dropout_rng: dict[str, Any] | None = None
        #: The learning rate the next mini-batch uses (:meth:`set_learning_rate` changes it).
        self.learning_rate = params.learning_rate
        self.created_at = _now()
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self.elapsed_time: float | None = None
        self._run_start = time.perf_counter()
        #: While running: the epoch in progress and mini-batches done in it.
        self.current_epoch = 0
        self.batches_done = 0
        self.n_batches = -(-data.train[0].shape[0] // params.mini_batch_size)

    # --------------------------------------------------------------- state
    @property
    def done(self) -> bool:
        """Whether the run has ended (completed, failed or cancelled)."""
        return self.status in FINISHED

    @property
    def paused_time(self) -> float:
        """Seconds the run has spent paused (left out of ``elapsed_time``)."""
        return self._time_paused()

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

    @property
    def observers(self) -> tuple[Any, ...]:
        """The observers of this run (its progress view among them), not the process's."""
        return tuple(self._observers)

    def summary(self) -> str:
        """``epoch 3/10 · accuracy 0.9100 · running``."""
        latest = self.latest
        accuracy = latest.accuracy if latest is not None else None
        return format_summary(len(self.history), self.params.epochs, accuracy, self.status)

    def __repr__(self) -> str:
        return f"<TrainingJob {self.job_id[:8]} · {self.summary()}>"

    def status_record(self) -> TrainingStatus:
        """The job's lifecycle as the ``training_status`` event sends it."""
        return TrainingStatus(
            job_id=self.job_id,
            network_id=self.network_id,
            status=self.status,
            epoch=len(self.history),
            total_epochs=self.params.epochs,
            error=self.error,
            stop_reason=self.stop_reason,
            sizes=tuple(self.network.sizes),
            **self.identity,
        )

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
            **self.identity,
            "hints": list(self.hints),
            "learning_rate": self.learning_rate,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "elapsed_time": self.elapsed_time,
            "paused_time": self.paused_time,
            "saved": self.saved,
        }
        if history:
            data["history"] = [r.to_dict() for r in records]
        return data

    # --------------------------------------------------------------- resuming
    def training_state(self) -> TrainingState | None:
        """The run at its last epoch boundary (weights, shuffling state, learning rate,
        plateau bookkeeping, momentum's velocities, the dropout generator), or ``None``
        before the loop began. Call it from the training thread between epochs: in
        ``on_epoch_start`` or ``on_run_end``."""
        plateau = getattr(self, "_plateau", None)
        if plateau is None:
            return None
        n = len(self.network.weights)
        best = plateau.best_weights
        return TrainingState(
            epoch=len(self.history),
            weights=[p.copy() for p in self._snapshot[:n]],
            biases=[p.copy() for p in self._snapshot[n:]],
            rng_state=self._boundary_rng,
            learning_rate=self.learning_rate,
            best_accuracy=None if plateau.best == -math.inf else plateau.best,
            since_best=plateau.since_best,
            since_halving=plateau.since_halving,
            best_epoch=self.best_epoch,
            best_parameters=None if best is None else [p.copy() for p in best],
            velocities=None if self._velocities is None else [v.copy() for v in self._velocities],
            dropout_rng_state=self._dropout_rng,
        )

    def resume_from(
        self, state: TrainingState, history: Sequence[EpochRecord], *, job_id: str
    ) -> TrainingJob:
        """Go on as run ``job_id`` from ``state``, with its first ``state.epoch`` epochs'
        ``history``: the next epoch is ``state.epoch + 1`` of ``params.epochs``. Call it
        before :meth:`run` or :meth:`start`; the network takes the state's weights."""
        if self.status != "queued" or self.history:
            raise RuntimeError("resume_from() must be called before the job runs")
        if len(history) != state.epoch:
            raise ValueError(f"a state after epoch {state.epoch} needs {state.epoch} epochs of history")
        kept = (*state.weights, *state.biases)
        if [p.shape for p in kept] != [p.shape for p in self._parameters()]:
            raise ValueError(f"the state's weights do not fit a network of sizes {list(self.network.sizes)}")
        if state.velocities is not None and [v.shape for v in state.velocities] != [p.shape for p in kept]:
            raise ValueError("the state's momentum velocities are not shaped as its weights and biases")
        for value, p in zip(kept, self._parameters()):
            np.copyto(p, value)
        self.job_id = job_id
        self.history = list(history)
        self.learning_rate = state.learning_rate
        self.best_epoch = state.best_epoch
        self.network.epochs_trained = self.epochs_before + state.epoch
        self._resume = state
        return self

    # --------------------------------------------------------------- control
    def cancel(self) -> None:
        """Stop at the next mini-batch (from any thread), also when paused. The network
        keeps the weights of the last finished epoch and the history so far is kept. A job
        cancelled before it runs never starts."""
        self._control.cancel()

    def pause(self) -> None:
        """Pause at the next mini-batch (from any thread); ``status`` is ``"paused"`` once
        the run has stopped there. A queued job starts paused. Time paused does not count
        in ``elapsed_time``. Go on with :meth:`resume`; :meth:`cancel` (or Ctrl-C) ends a
        paused run. Pausing a paused run does nothing.

        Raises :class:`JobStateError` if the run has ended.
        """
        with self._control.cond:
            self._refuse_if_done("pause it", "nothing to pause")
            self._control.pause()

    def resume(self) -> None:
        """Go on from the mini-batch where the run paused (from any thread); a pause asked
        for but not yet reached is withdrawn. Resuming a running job does nothing.

        Raises :class:`JobStateError` if the run has ended.
        """
        with self._control.cond:
            self._refuse_if_done("resume it", "nothing to resume")
            self._control.resume()

    def set_learning_rate(self, learning_rate: float) -> None:
        """Train with ``learning_rate`` from the next mini-batch on (from any thread).

        A queued or paused job takes it at once; a running one at its next mini-batch,
        when :attr:`learning_rate` changes. Each epoch's record holds the rate its last
        mini-batch used. With ``lr_schedule`` the schedule goes on halving from the new
        rate. Raises ``ParameterError`` unless it is a positive finite number, and
        :class:`JobStateError` if the run has ended.
        """
        value = finite_number("learning_rate", learning_rate, positive=True, example="0.5")
        with self._control.cond:
            self._refuse_if_done("change its learning rate", "it no longer trains")
            if self.status in ("queued", "paused"):
                self.learning_rate = value  # no mini-batch is under way: in force at once
            else:
                self._control.set_learning_rate(value)

    def wait_settled(self, timeout: float | None = None) -> bool:
        """Block until what was asked has taken effect -- a pause reached, a resume or a new
        learning rate taken by the training thread -- or the run has ended (a queued job
        is settled: it takes them when it starts); ``False`` if ``timeout`` passed first."""
        control = self._control
        deadline = None if timeout is None else time.monotonic() + timeout
        with control.cond:
            while not (
                self.done
                or self.status == "queued"
                or (control.pause_requested == (self.status == "paused") and control.learning_rate is None)
            ):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                control.cond.wait(left)
        return True

    def _refuse_if_done(self, action: str, why: str) -> None:
        if self.done:
            raise JobStateError(
                self.status,
                f"job {self.job_id[:8]} has already ended ({self.status}), {why}: you cannot "
                f"{action}. Start a new run instead, e.g. nnlab.train(job.network, ...), which "
                "goes on from the network's current weights",
            )

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends; ``False`` if ``timeout`` seconds passed first."""
        return self._done.wait(timeout)

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

        Ctrl-C (``KeyboardInterrupt``) cancels the run like :meth:`cancel` and re-raises;
        ``nnlab.last_job()`` then gives the run.
        """
        self._registry.claim(self)
        self._run_claimed()
        return self

    def _run_claimed(self) -> None:
        notifier = Notifier(self._observers, self._registry.observers)
        self._run_start = time.perf_counter()
        with self._control.cond:  # a queued job's learning rate changes while its status says so
            cancelled = self._control.cancelled
            if not cancelled:
                self.started_at = _now()
                self.status = "running"
        if cancelled:  # cancelled before it began (e.g. while queued): it never starts
            self._finish("cancelled", reason="cancelled")
            self._end(notifier)
            return
        try:
            notifier.notify("on_run_start", self)
            self._train(notifier)
        except KeyboardInterrupt:
            self._restore_last_epoch()
            self._finish("cancelled", reason="interrupted")
            self._end(notifier)
            raise
        except Exception as exc:
            self._restore_last_epoch()
            self._finish("failed", error=f"{type(exc).__name__}: {exc}", reason="error")
            self._end(notifier)
            raise
        self._end(notifier)

    def _end(self, notifier: Notifier) -> None:
        self._registry.release(self)
        notifier.notify("on_run_end", self)
        self._done.set()
        with self._control.cond:  # wakes wait_settled
            self._control.cond.notify_all()

    def _finish(self, status: JobStatus, *, error: str | None = None, reason: str | None = None) -> None:
        with self._lock:
            if self.done:
                return
            self.error = error
            self.stop_reason = reason
            self.finished_at = _now()
            self.elapsed_time = time.perf_counter() - self._run_start - self._time_paused()
            self.status = status

    def _parameters(self) -> tuple[Array, ...]:
        return (*self.network.weights, *self.network.biases)

    def _restore_last_epoch(self) -> None:
        """Put back the weights of the last finished epoch (an unfinished one is undone)."""
        saved = getattr(self, "_snapshot", None)
        if saved is not None:
            for kept, p in zip(saved, self._parameters()):
                np.copyto(p, kept)

    # --------------------------------------------------------------- the loop
    def _train(self, notifier: Notifier) -> None:
        """Nielsen's ``SGD``: shuffle, one update per mini-batch, measure, decide to go on."""
        net, data, params = self.network, self.data, self.params
        X, y = data.train
        engine = MiniBatchSGD(
            net,
            X,
            one_hot(y, net.n_outputs, net.dtype),
            params.mini_batch_size,
            monitor=params.training_cost == "running",
            regularization=params.regularization,
            momentum=params.momentum,
            dropout=params.dropout,
            rng=dropout_generator(params.seed),
        )
        evaluation = data.split(params.evaluate_on) if params.evaluate_on else None
        rng = np.random.default_rng(params.seed)
        # the weights at the last epoch boundary: a cancelled or diverged epoch is undone
        self._snapshot = [p.copy() for p in self._parameters()]
        plateau = self._plateau = _Plateau(self, params)
        first = 1 if self._resume is None else plateau.resume(self._resume, rng) + 1
        if self._resume is not None:
            _restore_engine(engine, self._resume)
        self._boundary_rng = rng.bit_generator.state  # the shuffler at the last epoch boundary
        self._keep_engine_state(engine)
        for epoch in range(first, params.epochs + 1):
            if self._control.cancelled:
                self._finish("cancelled", reason="cancelled")
                break
            epoch_start, paused_before = time.perf_counter(), self._paused_time
            self.current_epoch, self.batches_done = epoch, 0
            notifier.notify("on_epoch_start", self, epoch)
            report = self._batch_reporter(notifier, epoch, engine.n_batches)
            order = rng.permutation(engine.n)
            interrupt = self._control.interrupt
            done = engine.epoch(
                order, self.learning_rate, params.lmbda, interrupt, report, BATCH_REPORT_INTERVAL
            )
            while done < engine.n_batches:  # interrupted: a request waits
                self.batches_done = done
                if not self._obey(notifier):
                    break
                done = rest_of_epoch(
                    engine,
                    order,
                    done,
                    self.learning_rate,
                    params.lmbda,
                    interrupt,
                    report,
                    BATCH_REPORT_INTERVAL,
                )
            self.batches_done = done
            if done < engine.n_batches:
                self._restore_last_epoch()
                self._finish("cancelled", reason="cancelled")
                break
            # the epoch's time leaves out any pause
            record = self._measure(epoch, evaluation, epoch_start + self._paused_time - paused_before, engine)
            if record is None:
                self._restore_last_epoch()
                self._finish("failed", error=self._divergence_message(epoch), reason="diverged")
                break
            net.epochs_trained += 1
            self.history.append(record)
            notifier.notify("on_epoch_end", self, record)
            for kept, p in zip(self._snapshot, self._parameters()):
                np.copyto(kept, p)
            self._boundary_rng = rng.bit_generator.state
            self._keep_engine_state(engine)
            reason = plateau.after(record)
            if reason is not None:
                self._finish("completed", reason=reason)
                break
        else:
            self._finish("completed")
        plateau.restore_best()
        self.hints = hints_for(self.history, net.n_outputs)

    def _keep_engine_state(self, engine: MiniBatchSGD) -> None:
        """Copy the engine's state at this epoch boundary: momentum's velocities and the
        dropout generator's state, which an unfinished epoch has moved on."""
        if engine.momentum:
            velocities = (*engine.velocity_w, *engine.velocity_b)
            if self._velocities is None:
                self._velocities = [v.copy() for v in velocities]
            else:
                for kept, v in zip(self._velocities, velocities):
                    np.copyto(kept, v)
        self._dropout_rng = dict(engine.rng.bit_generator.state) if engine.dropout else None

    def _obey(self, notifier: Notifier) -> bool:
        """Act on the requests that interrupted an epoch: take a new learning rate, pause
        until resumed; ``False`` if the run is to stop (cancelled)."""
        control = self._control
        with control.cond:
            requests = control.take()
            if requests.learning_rate is not None:
                self.learning_rate = requests.learning_rate
            if requests.cancel:
                return False
            control.cond.notify_all()  # for wait_settled
            if not requests.pause:
                return True
            self.status = "paused"
            self._paused_since = time.perf_counter()
        notifier.notify("on_pause", self)
        with control.cond:
            try:
                control.wait_while_paused()
            finally:  # also on Ctrl-C: the time paused stays out of elapsed_time
                self._paused_time = self._time_paused()
                self._paused_since = None
            requests = control.take()
            if requests.learning_rate is not None:
                self.learning_rate = requests.learning_rate
            if requests.cancel:
                return False
            self.status = "running"
            control.cond.notify_all()
        notifier.notify("on_resume", self)
        return True

    def _time_paused(self) -> float:
        """Seconds paused so far, the pause going on included."""
        since = self._paused_since
        return self._paused_time + (0.0 if since is None else time.perf_counter() - since)

    def _batch_reporter(self, notifier: Notifier, epoch: int, n_batches: int) -> Any:
        if not notifier.wants("on_batch_end"):
            return None  # nobody listens: the engine skips the clock entirely

        def report(done: int) -> None:
            self.batches_done = done
            notifier.notify("on_batch_end", self, epoch, done, n_batches)

        return report

    def _measure(
        self, epoch: int, evaluation: tuple[Array, Array] | None, start: float, engine: MiniBatchSGD
    ) -> EpochRecord | None:
        """Costs and accuracies after an epoch; ``None`` if the network diverged.

        The training cost and accuracy are the engine's running ones (measured during the
        epoch) unless ``training_cost="full"`` asks for a pass over the training set.
        """
        net, params, data = self.network, self.params, self.data
        weights_finite = all(np.isfinite(w).all() for w in (*net.weights, *net.biases))
        if not weights_finite:
            return None
        if engine.running_cost is not None and engine.running_accuracy is not None:
            training_cost, training_accuracy = engine.running_cost, engine.running_accuracy
        else:
            X, y = data.train
            train_correct, training_cost = net.score(_as(X, net), y, params.lmbda, params.regularization)
            training_accuracy = train_correct / X.shape[0]
        if not math.isfinite(training_cost):
            return None
        correct = total = None
        evaluation_cost = None
        if evaluation is not None:
            correct, evaluation_cost = _score(net, evaluation, params.lmbda, params.regularization)
            total = int(evaluation[0].shape[0])
        validation_cost = validation_accuracy = None
        if data.validation is not None:
            if params.evaluate_on == "validation" and correct is not None and total:
                validation_cost, validation_accuracy = evaluation_cost, correct / total
            else:
                v_correct, validation_cost = _score(net, data.validation, params.lmbda, params.regularization)
                validation_accuracy = v_correct / data.validation[0].shape[0]
        diagnostics = None
        if params.diagnostics:
            X, y = data.train
            diagnostics = diagnose(net, X[:DIAGNOSTIC_SAMPLE], y[:DIAGNOSTIC_SAMPLE])
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
            training_accuracy=training_accuracy,
            evaluation_cost=evaluation_cost,
            validation_cost=validation_cost,
            validation_accuracy=validation_accuracy,
            learning_rate=self.learning_rate,
            diagnostics=diagnostics,
        )

    def _divergence_message(self, epoch: int) -> str:
        kept = f"the end of epoch {epoch - 1}" if epoch > 1 else "before training"
        return (
            f"training diverged in epoch {epoch}: the weights or the training cost became "
            f"NaN or infinite. The network keeps its weights from {kept}. Try a smaller "
            f"learning_rate than {self.learning_rate:g} (e.g. {suggest_learning_rate(self.learning_rate):g})."
        )


class _Plateau:
    """What the run does when validation accuracy stops improving: early stopping, the
    learning-rate schedule, and keeping the best epoch's weights (``restore_best``)."""

    def __init__(self, job: TrainingJob, params: TrainingParams) -> None:
        self.job, self.params = job, params
        self.best, self.since_best, self.since_halving = -math.inf, 0, 0
        self.best_weights: list[Array] | None = None

    def after(self, record: EpochRecord) -> str | None:
        """Note an epoch; the reason to stop now, or ``None`` to go on."""
        job, params = self.job, self.params
        accuracy = record.validation_accuracy
        if accuracy is not None:
            if accuracy > self.best:
                self.best, self.since_best, self.since_halving = accuracy, 0, 0
                if params.restore_best:
                    job.best_epoch = record.epoch
                    if self.best_weights is None:
                        self.best_weights = [p.copy() for p in job._parameters()]
                    else:
                        for kept, p in zip(self.best_weights, job._parameters()):
                            np.copyto(kept, p)
            else:
                self.since_best += 1
                self.since_halving += 1
        if params.early_stopping and self.since_best >= params.early_stopping:
            return "early_stopping"
        schedule = params.lr_schedule
        if schedule is not None and self.since_halving >= schedule.patience:
            self.since_halving = 0
            job.learning_rate /= 2
            if job.learning_rate < params.learning_rate * schedule.min_factor:
                return "learning_rate_schedule"
        return None

    def resume(self, state: TrainingState, rng: np.random.Generator) -> int:
        """Take the bookkeeping and the shuffler back from ``state``; its epoch."""
        self.best = -math.inf if state.best_accuracy is None else state.best_accuracy
        self.since_best, self.since_halving = state.since_best, state.since_halving
        if state.best_parameters is not None:
            self.best_weights = [p.copy() for p in state.best_parameters]
        rng.bit_generator.state = state.rng_state
        return state.epoch

    def restore_best(self) -> None:
        """With ``restore_best``, give the network the best epoch's weights back."""
        if self.best_weights is not None:
            for kept, p in zip(self.best_weights, self.job._parameters()):
                np.copyto(p, kept)


def _restore_engine(engine: MiniBatchSGD, state: TrainingState) -> None:
    """Give the engine back the velocities and dropout generator of ``state`` (a state
    without them, from a run without momentum or dropout, leaves the engine as made)."""
    if engine.momentum and state.velocities is not None:  # shapes checked by resume_from
        for v, kept in zip((*engine.velocity_w, *engine.velocity_b), state.velocities):
            np.copyto(v, kept)  # in place: the engine's buffers hold these very arrays
    if engine.dropout and state.dropout_rng_state is not None:
        engine.rng.bit_generator.state = state.dropout_rng_state


def _as(X: Array, net: Network) -> Array:
    return X if X.dtype == net.dtype else X.astype(net.dtype)


def _score(net: Network, split: tuple[Array, Array], lmbda: float, regularization: str) -> tuple[int, float]:
    """(correct, cost) on one split, from a single forward pass."""
    correct, cost = net.score(_as(split[0], net), split[1], lmbda, regularization)
    if not math.isfinite(cost):  # a finite network gives a finite cost; guard the wire anyway
        cost = float(np.finfo(np.float64).max)
    return correct, cost
