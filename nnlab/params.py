"""The parameters of a training run, and the checks every entry point shares.

``train()``, the REST API's bodies and the command line all validate through this module, so a
bad value gets the same message (and the same ``field``) wherever it comes from. The scalar
checks (:func:`is_int`, :func:`positive_int`, :func:`finite_number`, :func:`check_seed`, ...)
are the one place nnlab decides what counts as an int or a number: ``True`` is neither, numpy
scalars are both.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, cast

import numpy as np

from nnlab._types import Array
from nnlab.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS

__all__ = [
    "MAX_EPOCHS",
    "SEED_LIMIT",
    "HalveOnPlateau",
    "ParameterError",
    "TrainingParams",
    "check_architecture",
    "check_choice",
    "check_params",
    "check_seed",
    "finite_number",
    "is_int",
    "is_number",
    "positive_int",
]

#: Most epochs one run may ask for.
MAX_EPOCHS = 10_000
#: Seeds lie in ``0 .. SEED_LIMIT - 1`` (what a JSON body and numpy both hold exactly).
SEED_LIMIT = 2**63

EvaluateOn = Literal["test", "validation"]
TrainingCost = Literal["running", "full"]
Regularization = Literal["l2", "l1"]
#: The cost each output layer learns with (the pairings whose output error the book derives).
OUTPUT_COSTS = {"sigmoid": ("cross_entropy", "quadratic"), "softmax": ("log_likelihood",)}


class NetworkShape(Protocol):
    """What :func:`check_params` reads of a network (an :class:`~nnlab.Network`)."""

    @property
    def n_inputs(self) -> int: ...
    @property
    def n_outputs(self) -> int: ...
    @property
    def sizes(self) -> tuple[int, ...]: ...


class DataShape(Protocol):
    """What :func:`check_params` reads of a data set (a :class:`~nnlab.Dataset`)."""

    @property
    def name(self) -> str: ...
    @property
    def train(self) -> tuple[Array, Array]: ...
    @property
    def validation(self) -> tuple[Array, Array] | None: ...
    @property
    def n_features(self) -> int: ...
    @property
    def n_classes(self) -> int: ...


class ParameterError(ValueError):
    """A parameter is invalid; ``field`` names it (as the REST body and the CLI flag do)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# ------------------------------------------------------------------ scalars
def is_int(value: Any) -> bool:
    """Whether ``value`` is an int (numpy ints included, ``bool`` not).

    >>> is_int(3), is_int(np.int64(3)), is_int(True), is_int(3.0)
    (True, True, False, False)
    """
    return not isinstance(value, bool) and isinstance(value, int | np.integer)


def is_number(value: Any) -> bool:
    """Whether ``value`` is a real number (ints and floats, numpy's too; ``bool`` not).

    >>> is_number(0.5), is_number(np.float32(2)), is_number(False), is_number("1")
    (True, True, False, False)
    """
    return not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)


def positive_int(field: str, value: Any, example: str, maximum: int | None = None) -> int:
    """``value`` as an int >= 1 (and <= ``maximum``), or a :class:`ParameterError`.

    >>> positive_int("epochs", 0, "10")
    Traceback (most recent call last):
    ...
    nnlab.params.ParameterError: epochs must be a positive int such as 10, got 0
    """
    if not is_int(value) or value < 1:
        raise ParameterError(field, f"{field} must be a positive int such as {example}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ParameterError(field, f"{field} must be at most {maximum:,}, got {value:,}")
    return int(value)


def finite_number(field: str, value: Any, *, positive: bool, example: str) -> float:
    """``value`` as a finite float, > 0 if ``positive`` else >= 0, or a :class:`ParameterError`.

    >>> finite_number("learning_rate", 3, positive=True, example="3.0")
    3.0
    """
    ok = is_number(value)
    if ok:
        value = float(value)
        ok = math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        kind = "a positive" if positive else "a non-negative"
        raise ParameterError(field, f"{field} must be {kind} finite number such as {example}, got {value!r}")
    return float(value)


def check_seed(field: str, value: Any, *, default_random: bool = False) -> int | None:
    """A seed in ``0 .. 2**63 - 1``; ``None`` stays ``None`` (or becomes a random seed with
    ``default_random``).

    >>> check_seed("seed", 7)
    7
    """
    if value is None:
        return secrets.randbits(32) if default_random else None
    if not is_int(value) or not 0 <= value < SEED_LIMIT:
        raise ParameterError(field, f"{field} must be a non-negative int below 2**63 or None, got {value!r}")
    return int(value)


def check_choice(field: str, value: Any, choices: Collection[Any]) -> Any:
    """``value`` if it is one of ``choices``, else a :class:`ParameterError` listing them.

    >>> check_choice("evaluate_on", "train", ("test", "validation", None))
    Traceback (most recent call last):
    ...
    nnlab.params.ParameterError: evaluate_on must be 'test', 'validation' or None, got 'train'
    """
    if isinstance(value, bool) or value not in choices:
        names = [repr(c) for c in choices]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise ParameterError(field, f"{field} must be {listed}, got {value!r}")
    return value


def check_architecture(activation: Any, output: Any, cost: str) -> None:
    """Check a network's neurons and their pairing with the cost (named ``cost``).

    Hidden neurons are ``"sigmoid"``, ``"tanh"`` or ``"relu"``; the output layer
    ``"sigmoid"`` or ``"softmax"``. A softmax output learns with ``"log_likelihood"``
    only, and the log-likelihood is for a softmax output only: those are the pairings
    whose output error (``a - y`` for both cross-entropy/sigmoid and
    log-likelihood/softmax, ``(a - y) sigmoid'(z)`` for quadratic/sigmoid) the book
    derives. Other costs (your own :class:`~nnlab.costs.Cost` classes) are not checked.

    >>> check_architecture("relu", "softmax", "log_likelihood")  # a valid network: no error
    >>> try:
    ...     check_architecture("relu", "softmax", "quadratic")
    ... except ParameterError as exc:
    ...     print(exc.field, "|", exc)
    cost | cost 'quadratic' does not go with output='softmax': use cost='log_likelihood' (or output='sigmoid')
    """
    check_choice("activation", activation, tuple(HIDDEN_ACTIVATIONS))
    check_choice("output", output, tuple(OUTPUT_ACTIVATIONS))
    if cost in ("cross_entropy", "quadratic", "log_likelihood") and cost not in OUTPUT_COSTS[output]:
        if output == "softmax":
            fix = "use cost='log_likelihood' (or output='sigmoid')"
        else:
            fix = "use output='softmax' with it (or cost='cross_entropy')"
        raise ParameterError("cost", f"cost {cost!r} does not go with output={output!r}: {fix}")


# ------------------------------------------------------------------ a run's parameters
@dataclass(frozen=True)
class HalveOnPlateau:
    """Halve the learning rate after ``patience`` epochs without a better validation
    accuracy; stop once it falls below ``min_factor`` times its first value.

    The book's chapter 3 schedule is ``HalveOnPlateau(patience=10, min_factor=1/128)``.
    """

    patience: int = 10
    min_factor: float = 1 / 128

    def __post_init__(self) -> None:
        if not is_int(self.patience) or self.patience < 1:
            raise ParameterError("lr_schedule", f"patience must be an int >= 1, got {self.patience!r}")
        if not is_number(self.min_factor) or not 0.0 < self.min_factor < 1.0:
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
    evaluate_on: EvaluateOn | None
    early_stopping: int | None
    lr_schedule: HalveOnPlateau | None
    restore_best: bool = False
    training_cost: TrainingCost = "running"
    regularization: Regularization = "l2"
    dropout: float = 0.0
    momentum: float = 0.0
    diagnostics: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        data = asdict(self)
        data["lr_schedule"] = None if self.lr_schedule is None else asdict(self.lr_schedule)
        return data


def _check_schedule(value: Any) -> HalveOnPlateau | None:
    if value is None or isinstance(value, HalveOnPlateau):
        return value
    if value == "halve_on_plateau":
        return HalveOnPlateau()
    raise ParameterError(
        "lr_schedule", f"lr_schedule must be 'halve_on_plateau', a HalveOnPlateau or None, got {value!r}"
    )


def check_params(
    net: NetworkShape,
    data: DataShape,
    *,
    epochs: Any = 10,
    mini_batch_size: Any = 10,
    learning_rate: Any = 3.0,
    lmbda: Any = 0.0,
    seed: Any = None,
    evaluate_on: Any = "test",
    early_stopping: Any = None,
    lr_schedule: Any = None,
    restore_best: Any = False,
    training_cost: Any = "running",
    regularization: Any = "l2",
    dropout: Any = 0.0,
    momentum: Any = 0.0,
    diagnostics: Any = False,
) -> TrainingParams:
    """Validate the parameters of a run against its network (an :class:`~nnlab.Network`)
    and data.

    Every error is a :class:`ParameterError` whose ``field`` names the parameter.
    """
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
    epochs = positive_int("epochs", epochs, "10", MAX_EPOCHS)
    n_train = data.train[0].shape[0]
    mini_batch_size = positive_int("mini_batch_size", mini_batch_size, "10")
    if mini_batch_size > n_train:
        raise ParameterError(
            "mini_batch_size",
            f"mini_batch_size ({mini_batch_size}) is larger than the training set ({n_train}): "
            f"use at most {n_train}",
        )
    learning_rate = finite_number("learning_rate", learning_rate, positive=True, example="3.0")
    lmbda = finite_number("lmbda", lmbda, positive=False, example="5.0")
    evaluate_on = check_choice("evaluate_on", evaluate_on, ("test", "validation", None))
    if early_stopping is not None:
        early_stopping = positive_int("early_stopping", early_stopping, "10")
    lr_schedule = _check_schedule(lr_schedule)
    if not isinstance(restore_best, bool):
        raise ParameterError("restore_best", f"restore_best must be True or False, got {restore_best!r}")
    if training_cost not in ("running", "full") or not isinstance(training_cost, str):
        raise ParameterError(
            "training_cost",
            f"training_cost must be 'running' (measured on the epoch's mini-batches) or 'full' "
            f"(a pass over the training set after each epoch), got {training_cost!r}",
        )
    regularization = check_choice("regularization", regularization, ("l2", "l1"))
    dropout = _fraction("dropout", dropout, "0.5 (the share of hidden neurons dropped)")
    if dropout and len(net.sizes) < 3:
        raise ParameterError(
            "dropout",
            f"dropout acts on hidden layers and Network({list(net.sizes)}) has none: "
            "add a hidden layer or use dropout=0.0",
        )
    momentum = _fraction("momentum", momentum, "0.9 (the share of the velocity kept per mini-batch)")
    if not isinstance(diagnostics, bool):
        raise ParameterError("diagnostics", f"diagnostics must be True or False, got {diagnostics!r}")
    if (early_stopping or lr_schedule or restore_best) and data.validation is None:
        field = "early_stopping" if early_stopping else "lr_schedule" if lr_schedule else "restore_best"
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
        seed=int(check_seed("seed", seed, default_random=True)),  # type: ignore[arg-type]
        dataset=data.name,
        evaluate_on=evaluate_on,
        early_stopping=early_stopping,
        lr_schedule=lr_schedule,
        restore_best=restore_best,
        training_cost=cast("TrainingCost", training_cost),
        regularization=regularization,
        dropout=dropout,
        momentum=momentum,
        diagnostics=diagnostics,
    )


def _fraction(field: str, value: Any, example: str) -> float:
    """A number in ``[0, 1)``: 1 would drop every neuron (dropout) or never let the
    velocity decay (momentum)."""
    if not is_number(value) or not 0.0 <= float(value) < 1.0:
        raise ParameterError(
            field,
            f"{field} must be a number from 0 up to (not including) 1, such as {example}, got {value!r}",
        )
    return float(value)
