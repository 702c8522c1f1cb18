"""One text format per quantity, for every place nnlab shows a run: ``repr``, the text
progress, the CLI, the live view and its record.

Accuracy reads as a percentage with two decimals, costs with four decimals, durations
through :func:`format_duration`, rates as whole units per second (or seconds per unit
when slower than one a second), and epochs as the network's own count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nnlab.events import EpochRecord

__all__ = [
    "best_validation",
    "format_accuracy",
    "format_cost",
    "format_duration",
    "format_epoch",
    "format_outcome",
    "format_rate",
    "format_summary",
    "plural",
]


def format_accuracy(value: float | None) -> str:
    """``95.67%``; ``–`` if unknown.

    >>> format_accuracy(0.95667), format_accuracy(None)
    ('95.67%', '–')
    """
    return "–" if value is None else f"{100 * value:.2f}%"


def format_cost(value: float | None) -> str:
    """``0.0123``; ``–`` if unknown.

    >>> format_cost(0.012345)
    '0.0123'
    """
    return "–" if value is None else f"{value:.4f}"


def format_duration(seconds: float | None) -> str:
    """``12ms`` under a second, ``4.2s`` under a minute, ``m:ss`` under an hour, ``h:mm:ss``
    beyond; ``?`` if unknown.

    >>> format_duration(0.0123), format_duration(4.24), format_duration(75), format_duration(3725)
    ('12ms', '4.2s', '1:15', '1:02:05')
    """
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    if seconds < 0.9995:
        return f"{1000 * seconds:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def plural(unit: str) -> str:
    """``batch`` -> ``batches``, ``epoch`` -> ``epochs``.

    >>> plural("batch"), plural("epoch")
    ('batches', 'epochs')
    """
    return unit + ("es" if unit.endswith(("s", "sh", "tch", "x")) else "s")


def format_rate(per_second: float | None, unit: str) -> str:
    """``5,901 batches/s`` at one a second or faster, ``2.5s/batch`` below; empty if unknown.

    >>> format_rate(5901.24, "batch"), format_rate(1.4, "batch"), format_rate(0.4, "epoch")
    ('5,901 batches/s', '1 batch/s', '2.5s/epoch')
    """
    if per_second is None or not math.isfinite(per_second) or per_second <= 0:
        return ""
    if per_second >= 0.9995:
        whole = round(per_second)
        return f"{whole:,} {unit if whole == 1 else plural(unit)}/s"
    return f"{format_duration(1 / per_second)}/{unit}"


def format_outcome(final_accuracy: float | None, best_validation: tuple[float, int] | None) -> str | None:
    """How a finished run did, judged the book's way: by validation accuracy when there is
    a validation split (the test set is for the very end), else by the accuracy the
    network now has. ``best_validation`` is ``(accuracy, epoch)``.

    >>> format_outcome(0.95, (0.965, 8)), format_outcome(0.95, None)
    ('best validation accuracy 96.50% at epoch 8', 'final accuracy 95.00%')
    """
    if best_validation is not None:
        accuracy, epoch = best_validation
        return f"best validation accuracy {format_accuracy(accuracy)} at epoch {epoch}"
    if final_accuracy is not None:
        return f"final accuracy {format_accuracy(final_accuracy)}"
    return None


def best_validation(records: Sequence[EpochRecord], first_epoch: int = 1) -> tuple[float, int] | None:
    """``(accuracy, epoch)`` of the best validation accuracy among ``records`` (the first
    such epoch on ties; epochs counted from ``first_epoch``), or ``None``."""
    best: tuple[float, int] | None = None
    for index, record in enumerate(records):
        accuracy = record.validation_accuracy
        if accuracy is not None and (best is None or accuracy > best[0]):
            best = (accuracy, first_epoch + index)
    return best


def format_summary(done: int, total: int, accuracy: float | None, status: str) -> str:
    """``epoch 3/10 · accuracy 0.9100 · running``: one line about a run.

    >>> format_summary(3, 10, 0.91, "running")
    'epoch 3/10 · accuracy 91.00% · running'
    """
    parts = [f"epoch {done}/{total}"]
    if accuracy is not None:
        parts.append(f"accuracy {format_accuracy(accuracy)}")
    parts.append(status)
    return " · ".join(parts)


def format_epoch(record: EpochRecord, *, timings: bool = True) -> str:
    """One plain line for an epoch: ``epoch 3/10  accuracy 94.67% (284/300) ...``."""
    update = record.update
    width = len(str(update.total_epochs))
    parts = [f"epoch {update.epoch:>{width}}/{update.total_epochs}"]
    if update.accuracy is not None:
        parts.append(f"accuracy {format_accuracy(update.accuracy)} ({update.correct}/{update.total})")
    parts.append(f"training cost {format_cost(record.training_cost)}")
    if record.validation_accuracy is not None:
        parts.append(f"validation accuracy {format_accuracy(record.validation_accuracy)}")
    if timings:
        parts.append(format_duration(update.elapsed_time))
    return "  ".join(parts)
