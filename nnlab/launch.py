"""``train()``: what a notebook cell, the CLI and ``background=True`` call to train a network.

It sits above the training loop and the views: it validates the parameters
(:mod:`nnlab.params`), chooses the progress view (:mod:`nnlab.progress`), builds the
:class:`~nnlab.training.TrainingJob` and runs it. It also gives the runs of this process
back: :func:`jobs`, :func:`networks` and :func:`last_job`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, cast

from nnlab.datasets import Dataset
from nnlab.network import Network
from nnlab.params import HalveOnPlateau, check_params
from nnlab.progress import make_progress
from nnlab.registry import registry
from nnlab.training import TrainingJob, resolve_data

__all__ = ["jobs", "last_job", "networks", "train"]


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
    view = make_progress(progress)
    job = TrainingJob(net, dataset, params, observers=[*([view] if view else []), *observers])
    return job.start() if background else job.run()


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
