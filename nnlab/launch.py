"""``train()``: what a notebook cell, the CLI and ``background=True`` call to train a network.

It sits above the training loop and the views: it validates the parameters
(:mod:`nnlab.params`), chooses the progress view (:mod:`nnlab.progress`), builds the
:class:`~nnlab.training.TrainingJob` and runs it. It also gives the runs of this process
back: :func:`jobs`, :func:`networks` and :func:`last_job`, and attaches the run store
(:mod:`nnlab.store`) to each run: :func:`runs`, :func:`run` and :func:`resume` read it.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from typing import Any, Literal, Union, cast

from nnlab.datasets import Dataset
from nnlab.hub.connect import auto_connect
from nnlab.network import Network
from nnlab.params import HalveOnPlateau, ParameterError, TrainingParams, check_params, positive_int
from nnlab.progress import make_progress
from nnlab.registry import NetworkBusyError, Registry, registry
from nnlab.store import Run, RunTable, Store, StoreError, resolve_store
from nnlab.store.core import LIVE
from nnlab.store.runs import build_network
from nnlab.training import TrainingJob, resolve_data

__all__ = ["jobs", "last_job", "networks", "resume", "resume_job", "run", "runs", "train"]

#: What ``store=`` accepts: a path, a :class:`~nnlab.store.Store`, ``False`` (memory only)
#: or ``None`` (``$NNLAB_STORE``, else the default file).
StoreArg = Union[str, "os.PathLike[str]", Store, bool, None]


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
    restore_best: bool = False,
    training_cost: Literal["running", "full"] = "running",
    regularization: Literal["l2", "l1"] = "l2",
    dropout: float = 0.0,
    momentum: float = 0.0,
    diagnostics: bool = False,
    observers: Iterable[Any] = (),
    progress: Any = "auto",
    background: bool = False,
    store: StoreArg = None,
    checkpoint_every: int | None = None,
) -> TrainingJob:
    """Train ``net`` by mini-batch SGD and return the :class:`~nnlab.training.TrainingJob`.

    ``data`` is a :class:`~nnlab.datasets.Dataset`, a name (``"digits"``, ``"mnist"``)
    or ``None`` for the bundled digits. Each epoch shuffles the training set with
    ``np.random.default_rng(seed)``, updates the weights once per mini-batch of
    ``mini_batch_size`` examples (``w <- (1 - learning_rate lmbda / n) w -
    learning_rate / m * gradient``, the book's L2-regularised rule), then measures the
    accuracy on ``evaluate_on`` ("test", "validation" or None).
    ``regularization="l1"`` replaces the L2 rule by ``w <- w - (learning_rate lmbda / n)
    sgn(w) - ...``. ``momentum=mu`` (0 <= mu < 1) runs momentum-based gradient descent,
    ``v <- mu v - learning_rate * gradient; w <- w + v``. ``dropout=p`` (0 <= p < 1) drops
    each hidden neuron with probability ``p`` in every mini-batch, the kept ones scaled by
    ``1 / (1 - p)`` so the network is evaluated whole, as is; the masks come from a
    generator of their own derived from ``seed``, so a seed gives the same masks.
    ``diagnostics=True`` records the chapter 5 measures per layer after every epoch in
    ``record.diagnostics`` (:mod:`nnlab.diagnostics`).
    ``training_cost="running"`` (the default) reports the training cost and accuracy
    the epoch's mini-batches met on their way, at almost no extra cost: each example is
    scored with the weights before its mini-batch's update, so while the network
    improves the cost reads higher, and the accuracy lower, than the book's
    ``monitor_training_cost``. ``training_cost="full"`` gives the book's value, a pass
    over the training set with the weights after the epoch (on MNIST-sized data, about
    40% of an SGD pass more per epoch).
    ``early_stopping=n`` stops after ``n`` epochs without a better validation accuracy;
    ``lr_schedule="halve_on_plateau"`` halves the learning rate on such plateaus;
    ``restore_best=True`` leaves the network with the weights of its best validation
    epoch (otherwise it keeps the last epoch's). ``observers`` watch the run (see
    :mod:`nnlab.observers`); ``progress="auto"`` (the default) shows the live view in a
    notebook (:mod:`nnlab.live`) and a line per epoch on stderr elsewhere; ``"widgets"``,
    ``"text"`` or ``False`` choose. ``background=True`` returns at once with the run going
    on in a thread of its own. Calling ``train`` again continues from the network's weights.
    A bad value raises :class:`~nnlab.params.ParameterError` naming it.

    The run is saved as it goes to the run store (see :func:`runs`): ``store`` picks the
    file (``False``: keep the run in memory only; default: ``$NNLAB_STORE``, else
    ``runs.sqlite`` in ``$NNLAB_HOME`` or the per-user nnlab folder). Checkpoints of
    the weights (and what resuming needs) are taken before the first epoch, at the end,
    and in between at the first epoch boundary a second or more after the last one (every
    epoch when epochs take a second or more); ``checkpoint_every=n`` takes one every ``n``
    epochs instead (and at least once a minute). :func:`resume` goes on from the last one.
    A store that fails warns once and training goes on (``job.saved`` is then ``False``).

    >>> job = train(Network([64, 30, 10], seed=0), epochs=2, seed=0)
    >>> job.status, len(job.history), job.history[-1].epoch
    ('completed', 2, 2)
    """
    dataset = resolve_data(data)
    params = check_params(
        net,
        dataset,
        epochs=epochs,
        mini_batch_size=mini_batch_size,
        learning_rate=learning_rate,
        lmbda=lmbda,
        seed=seed,
        evaluate_on=evaluate_on,
        early_stopping=early_stopping,
        lr_schedule=lr_schedule,
        restore_best=restore_best,
        training_cost=training_cost,
        regularization=regularization,
        dropout=dropout,
        momentum=momentum,
        diagnostics=diagnostics,
    )
    auto_connect()  # $NNLAB_REDIS_URL: publish this process's runs to the class
    saving = resolve_store(store)
    every = _checkpoint_every(checkpoint_every)
    view = make_progress(progress)
    saver = saving.observer(every) if saving is not None else None
    job = TrainingJob(
        net, dataset, params, observers=[*([view] if view else []), *observers, *([saver] if saver else [])]
    )
    if saving is not None and saver is not None:
        saving.watch(job, saver)
    return job.start() if background else job.run()


def _checkpoint_every(value: int | None) -> int | None:
    return None if value is None else positive_int("checkpoint_every", value, "1")


def resume(
    job_id: str,
    data: Dataset | str | None = None,
    *,
    store: StoreArg = None,
    observers: Iterable[Any] = (),
    progress: Any = "auto",
    background: bool = False,
    checkpoint_every: int | None = None,
) -> TrainingJob:
    """Go on with an ``interrupted`` or ``cancelled`` run from its last checkpoint, as the
    same ``job_id``, and return its :class:`~nnlab.training.TrainingJob`.

    The run keeps its parameters and seed: with a checkpoint after every epoch, a run
    killed after epoch ``k`` and resumed ends with the same weights and history, bit for
    bit, as one that was never stopped. On the wire the resumed run's ``epoch`` goes on
    from ``k + 1`` (1-based within the job) and ``total_epochs`` stays what was asked.
    ``data`` is needed only for a data set nnlab cannot load by name (your own arrays). If
    this process still has the network (``nnlab.networks()``), that network trains on.

    >>> resume("0123abcd", store=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nnlab.store.schema.StoreError: resume needs the run store, which is off: ...
    """
    job = resume_job(
        job_id, data, store=store, observers=observers, progress=progress, checkpoint_every=checkpoint_every
    )
    return job.start() if background else job.run()


def resume_job(
    job_id: str,
    data: Dataset | str | None = None,
    *,
    store: StoreArg = None,
    observers: Iterable[Any] = (),
    progress: Any = False,
    checkpoint_every: int | None = None,
    registry: Registry = registry,
) -> TrainingJob:
    """The job :func:`resume` runs, not started yet: the run is claimed in the store
    (``queued``, for this process), so start it (or hand it to a server's queue) now.
    Raises ``StoreError`` naming why a run cannot be resumed."""
    auto_connect()
    saving = resolve_store(store)
    if saving is None:
        raise StoreError(
            "resume needs the run store, which is off: pass store='path.sqlite' or unset NNLAB_STORE"
        )
    summary = saving.summary(job_id)
    job_id = summary["job_id"]
    status = summary["status"]
    if status not in ("interrupted", "cancelled"):
        why = " (its process is still training it)" if status in LIVE else ""
        raise StoreError(
            f"run {job_id} is {status}{why}: only an interrupted or cancelled run can be resumed"
        )
    state = saving.checkpoint(job_id, resumable=True)
    history = saving.updates(job_id)[: state.epoch]
    parameters = dict(summary["parameters"])
    schedule = parameters.pop("lr_schedule")
    params = TrainingParams(
        **parameters, lr_schedule=None if schedule is None else HalveOnPlateau(**schedule)
    )
    if data is None:
        try:
            dataset = resolve_data(params.dataset)
        except (ValueError, KeyError) as exc:
            raise ParameterError(
                "data",
                f"run {job_id} trained on {params.dataset!r}, which nnlab cannot load by name: "
                "pass it again with resume(job_id, data=...)",
            ) from exc
    else:
        dataset = resolve_data(data)
    net = _network_for(summary["network"], state, registry)
    every = _checkpoint_every(checkpoint_every)
    view = make_progress(progress)
    saver = saving.observer(every)
    job = TrainingJob(
        net, dataset, params, observers=[*([view] if view else []), *observers, saver], registry=registry
    )
    job.resume_from(state, history, job_id=job_id)
    job.created_at = summary["created_at"]
    try:
        saving.claim(job_id, state.epoch)
    except sqlite3.Error as exc:
        raise StoreError(
            f"the run store {saving.path} cannot record that run {job_id} resumes ({exc}): "
            "try again when the file is free"
        ) from exc
    saving.watch(job, saver, resumed_from=state.epoch)
    return job


def _network_for(description: dict[str, Any], state: Any, reg: Registry = registry) -> Network:
    """This process's network of that id (so ``net`` in the notebook trains on), else a new one."""
    built = build_network(description, state)
    try:
        net = reg.network(built.network_id)
    except KeyError:
        return built
    active = reg.active_job(net.network_id)
    if active is not None:
        raise NetworkBusyError(net.network_id, active.job_id)
    if [w.shape for w in net.weights] != [w.shape for w in built.weights]:
        return built
    net.epochs_trained = built.epochs_trained - state.epoch
    return net


def runs(
    *,
    network: Network | str | None = None,
    status: str | None = None,
    dataset: str | None = None,
    since: Any = None,
    until: Any = None,
    limit: int | None = None,
    store: StoreArg = None,
    **parameters: Any,
) -> RunTable:
    """Past and present runs of the run store, oldest first: a table in a notebook.

    Filters: ``network`` (a :class:`Network` or an id prefix), ``status``, ``dataset``,
    ``since`` / ``until`` (a ``datetime``, ISO text, or a ``timedelta`` meaning that long
    ago), ``limit`` (the newest n) and any parameter by name (``learning_rate=3.0``). The
    table shows the store's file and size; ``table[-1]`` is a :class:`~nnlab.store.Run`;
    ``.prune(keep_last=..., older_than=...)`` and ``.delete()`` remove runs.

    >>> table = runs(store=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nnlab.store.schema.StoreError: the run store is off (store=False or NNLAB_STORE=off): ...
    """
    return _store_for_reading(store).runs(
        network=network, status=status, dataset=dataset, since=since, until=until, limit=limit, **parameters
    )


def run(job_id: str, *, store: StoreArg = None) -> Run:
    """One run of the store -- ``job_id`` or its first characters -- with its parameters,
    ``history``, ``status`` and ``network(epoch=None)`` at any checkpoint."""
    return _store_for_reading(store).run(job_id)


def _store_for_reading(store: StoreArg) -> Store:
    found = resolve_store(store)
    if found is None:
        raise StoreError(
            "the run store is off (store=False or NNLAB_STORE=off): pass store='path.sqlite' to read one"
        )
    return found


def jobs(network_id: str | None = None) -> list[TrainingJob]:
    """Every run of this process (of one network, if given), oldest first.

    >>> job = train(Network([64, 10, 10], seed=0), epochs=1, seed=0, progress=False)
    >>> jobs()[-1] is job, last_job() is job
    (True, True)
    """
    return cast("list[TrainingJob]", registry.jobs(network_id))


def networks() -> list[Network]:
    """Every network this process has trained or the REST API created, oldest first."""
    return registry.networks()


def last_job() -> TrainingJob | None:
    """The run started last in this process -- also after Ctrl-C stopped
    ``job = train(...)`` before ``job`` was assigned -- or ``None``."""
    return cast("TrainingJob | None", registry.last_job())
