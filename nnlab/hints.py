"""Advice on a run from its history alone: pure functions, no side effects.

The training loop hands a run's history to :func:`hints_for` and keeps the advice it
returns (``job.hints``); the text progress and the record show it. Nothing here trains,
prints or imports more than the standard library.

>>> suggest_learning_rate(100.0), suggest_learning_rate(5.0)
(3.0, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

__all__ = ["chance_level", "hints_for", "suggest_learning_rate"]

#: Learning rates above this saturate sigmoid outputs on [0, 1] inputs (the book uses 0.1 to 3.0).
LARGE_LEARNING_RATE = 10.0
#: Learning rates below this move the weights too little to leave chance in a few epochs.
SMALL_LEARNING_RATE = 0.01
#: The round values :func:`suggest_learning_rate` picks from, times a power of ten.
_ROUND = (1.0, 3.0, 5.0)


class _Record(Protocol):
    @property
    def accuracy(self) -> float | None: ...
    @property
    def validation_accuracy(self) -> float | None: ...
    @property
    def learning_rate(self) -> float: ...


def chance_level(n_classes: int) -> float:
    """Accuracy of guessing: ``1 / n_classes``.

    >>> chance_level(10)
    0.1
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
    return 1.0 / n_classes


def suggest_learning_rate(learning_rate: float) -> float:
    """A round learning rate at least ten times smaller, and never above 3.0.

    For advice after a run diverged or saturated: 1e+300 gives 3.0 (not 1e+299), 100
    gives 3.0, 5 gives 0.5, 0.3 gives 0.03. The result is 1, 3 or 5 times a power of ten.

    >>> suggest_learning_rate(1e300), suggest_learning_rate(0.3)
    (3.0, 0.03)
    """
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, int | float):
        raise TypeError(f"learning_rate must be a number, got {type(learning_rate).__name__}")
    if math.isnan(learning_rate) or learning_rate <= 0:
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    target = min(learning_rate / 10.0, 3.0)
    power = 10.0 ** math.floor(math.log10(target))
    best = max(r for r in _ROUND if r * power <= target * (1 + 1e-9))
    return float(f"{best * power:.12g}")  # 3 * 0.01 is 0.030000000000000002 in floats


def _accuracy(record: _Record) -> float | None:
    value = record.accuracy if record.accuracy is not None else record.validation_accuracy
    return None if value is None or not math.isfinite(value) else float(value)


def hints_for(history: Sequence[_Record], n_classes: int, *, patience: int = 3) -> list[str]:
    """Short advice for a run whose accuracy has stayed at chance level; ``[]`` when all is well.

    ``history`` is a run's epoch records (:class:`~nnlab.events.EpochRecord`): the
    evaluation accuracy is read, or the validation accuracy where there is none. The
    run counts as stuck when each of its last ``patience`` epochs scored no more than a
    tenth of the way from chance (``1 / n_classes``) to perfect. The advice then names
    the likely cause from the learning rate of the last epoch: far too large (every
    output saturates), far too small, or neither (then: check the inputs and labels).

    >>> from types import SimpleNamespace as R
    >>> stuck = [R(accuracy=0.1, validation_accuracy=0.1, learning_rate=100.0)] * 3
    >>> hints_for(stuck, 10)[0][:60]
    'accuracy has stayed at chance level (10%) for 3 epochs: the '
    >>> hints_for(stuck[:2], 10)
    []
    """
    chance = chance_level(n_classes)
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise ValueError(f"patience must be an int >= 1, got {patience!r}")
    recent = list(history)[-patience:]
    if len(recent) < patience:
        return []
    scores = [_accuracy(r) for r in recent]
    ceiling = chance + 0.1 * (1.0 - chance)
    if any(s is None or s > ceiling for s in scores):
        return []
    eta = float(recent[-1].learning_rate)
    stuck = f"accuracy has stayed at chance level ({chance:.0%}) for {patience} epochs"
    if eta > LARGE_LEARNING_RATE:
        return [
            f"{stuck}: the learning rate {eta:g} is so large that every step overshoots and the "
            "sigmoid outputs saturate at 0 or 1, where they no longer learn. Try "
            f"learning_rate={suggest_learning_rate(eta):g}."
        ]
    if eta < SMALL_LEARNING_RATE:
        return [
            f"{stuck}: the learning rate {eta:g} moves the weights too little to learn in a few "
            "epochs. Try learning_rate=0.5 (or train for many more epochs)."
        ]
    return [
        f"{stuck}: the network is not learning. Check that the inputs are scaled to [0, 1] "
        "(e.g. pixels / 255) and that each label belongs to its row of X; then try another "
        "learning rate (0.5 or 3.0) or more hidden neurons."
    ]
