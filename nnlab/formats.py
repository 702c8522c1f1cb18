"""Plain-text lines about runs, shared by ``repr``, the text progress and the live view."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nnlab.events import EpochRecord

__all__ = ["format_epoch", "format_summary"]


def format_summary(done: int, total: int, accuracy: float | None, status: str) -> str:
    """``epoch 3/10 · accuracy 0.9100 · running``: one line about a run.

    >>> format_summary(3, 10, 0.91, "running")
    'epoch 3/10 · accuracy 0.9100 · running'
    """
    parts = [f"epoch {done}/{total}"]
    if accuracy is not None:
        parts.append(f"accuracy {accuracy:.4f}")
    parts.append(status)
    return " · ".join(parts)


def format_epoch(record: EpochRecord, *, timings: bool = True) -> str:
    """One plain line for an epoch: ``epoch 3/10  accuracy 0.9467 (284/300) ...``."""
    update = record.update
    width = len(str(update.total_epochs))
    parts = [f"epoch {update.epoch:>{width}}/{update.total_epochs}"]
    if update.accuracy is not None:
        parts.append(f"accuracy {update.accuracy:.4f} ({update.correct}/{update.total})")
    parts.append(f"training cost {record.training_cost:.4f}")
    if record.validation_accuracy is not None:
        parts.append(f"validation accuracy {record.validation_accuracy:.4f}")
    if timings:
        parts.append(f"{update.elapsed_time:.3f}s")
    return "  ".join(parts)
