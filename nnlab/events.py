"""The wire contract, in one place, and the records a training run produces.

Everything external clients see is defined here and imported everywhere else (the mirror,
the REST API, the OpenAPI document): the Socket.IO event names, the job status values,
:class:`TrainingUpdate` -- exactly the ``training_update`` payload dashboards are written
against, ``to_dict()`` being exactly that JSON -- and :class:`TrainingStatus`, the
``training_status`` payload. :class:`EpochRecord` is one row of a run's history: the update
plus the costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

__all__ = [
    "DIAGNOSTICS_EVENT",
    "FINISHED",
    "STATUSES",
    "STATUS_EVENT",
    "UPDATE_EVENT",
    "Diagnostics",
    "EpochRecord",
    "JobStatus",
    "TrainingStatus",
    "TrainingUpdate",
]

#: The contract's per-epoch event (payload: :class:`TrainingUpdate`).
UPDATE_EVENT = "training_update"
#: The lifecycle event (payload: :class:`TrainingStatus`), an addition to the contract that
#: clients written against it ignore.
STATUS_EVENT = "training_status"
#: The chapter 5 measures of an epoch, sent after its ``training_update`` when the run asked
#: for them (``train(..., diagnostics=True)``); payload: ``job_id``, ``network_id``,
#: ``epoch`` and the four per-layer lists of :class:`Diagnostics`. An addition to the
#: contract that clients written against it ignore.
DIAGNOSTICS_EVENT = "training_diagnostics"

#: A job's status: ``queued`` -> ``running`` -> ``completed``, ``failed`` or ``cancelled``;
#: a running job may be ``paused`` and go back to ``running`` (or be cancelled) any number
#: of times; ``interrupted`` when the process running it died (a run store found it
#: unfinished).
JobStatus = Literal["queued", "running", "paused", "completed", "failed", "cancelled", "interrupted"]
#: Every status value, in lifecycle order.
STATUSES: tuple[str, ...] = get_args(JobStatus)
#: The statuses of a run that has ended.
FINISHED: frozenset[str] = frozenset({"completed", "failed", "cancelled", "interrupted"})


def _finite(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class TrainingUpdate:
    """One epoch of one run, as sent to every client as ``training_update``.

    ``epoch`` counts from 1; ``progress`` is ``100 * epoch / total_epochs``;
    ``elapsed_time`` is the seconds of this epoch alone; ``accuracy`` is ``correct /
    total`` on the evaluation data, or ``None`` (with ``correct`` and ``total`` absent)
    when the run evaluates on nothing.

    >>> u = TrainingUpdate.for_epoch("j", "n", 1, 10, 0.5, correct=279, total=300)
    >>> u.to_dict()["progress"], u.to_dict()["accuracy"]
    (10.0, 0.93)
    """

    job_id: str
    network_id: str
    epoch: int
    total_epochs: int
    accuracy: float | None
    elapsed_time: float
    progress: float
    correct: int | None = None
    total: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.epoch <= self.total_epochs:
            raise ValueError(f"epoch must lie in 1..{self.total_epochs}, got {self.epoch}")
        if (self.correct is None) != (self.total is None):
            raise ValueError("correct and total must be given together")
        if self.accuracy is not None:
            _finite("accuracy", self.accuracy)
        _finite("elapsed_time", self.elapsed_time)
        _finite("progress", self.progress)

    @classmethod
    def for_epoch(
        cls,
        job_id: str,
        network_id: str,
        epoch: int,
        total_epochs: int,
        elapsed_time: float,
        *,
        correct: int | None = None,
        total: int | None = None,
    ) -> TrainingUpdate:
        """Build the update, deriving ``accuracy`` and ``progress`` from the counts."""
        accuracy = correct / total if correct is not None and total else None
        if total == 0:
            correct = total = None
        return cls(
            job_id=job_id,
            network_id=network_id,
            epoch=epoch,
            total_epochs=total_epochs,
            accuracy=accuracy,
            elapsed_time=max(0.0, elapsed_time),
            progress=100.0 * epoch / total_epochs,
            correct=correct,
            total=total,
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``training_update`` payload: ``correct``/``total`` only when evaluated."""
        data: dict[str, Any] = {
            "job_id": self.job_id,
            "network_id": self.network_id,
            "epoch": int(self.epoch),
            "total_epochs": int(self.total_epochs),
            "accuracy": None if self.accuracy is None else float(self.accuracy),
            "elapsed_time": float(self.elapsed_time),
            "progress": float(self.progress),
        }
        if self.correct is not None and self.total is not None:
            data["correct"] = int(self.correct)
            data["total"] = int(self.total)
        return data


@dataclass(frozen=True, slots=True)
class Diagnostics:
    """What the book's chapter 5 watches, per layer, input side first (one value per
    weight layer, the output layer last), measured after an epoch
    (``train(..., diagnostics=True)``; see :mod:`nnlab.diagnostics` for how).

    ``learning_speed`` is the norm of dC/db of the layer (the book's "speed of
    learning"), ``gradient_norm`` that of dC/dw, ``weight_norm`` the Frobenius norm of
    the layer's weights, ``saturation`` the share of its neurons that are saturated.

    >>> Diagnostics((0.1, 0.2), (0.0, 0.5), (3.0, 2.0), (0.4, 0.6)).to_dict()["saturation"]
    [0.0, 0.5]
    """

    learning_speed: tuple[float, ...]
    saturation: tuple[float, ...]
    weight_norm: tuple[float, ...]
    gradient_norm: tuple[float, ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnostics:
        """The measures back from their ``to_dict()``."""
        return cls(
            learning_speed=tuple(float(v) for v in data["learning_speed"]),
            saturation=tuple(float(v) for v in data["saturation"]),
            weight_norm=tuple(float(v) for v in data["weight_norm"]),
            gradient_norm=tuple(float(v) for v in data["gradient_norm"]),
        )

    def payload(self, update: TrainingUpdate) -> dict[str, Any]:
        """The ``training_diagnostics`` payload of the epoch ``update`` describes.

        >>> u = TrainingUpdate.for_epoch("j", "n", 1, 2, 0.5)
        >>> sorted(Diagnostics((0.1,), (0.0,), (3.0,), (0.4,)).payload(u))[:3]
        ['epoch', 'gradient_norm', 'job_id']
        """
        return {
            "job_id": update.job_id,
            "network_id": update.network_id,
            "epoch": int(update.epoch),
            **self.to_dict(),
        }

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready: one list of floats per measure."""
        return {
            "learning_speed": [float(v) for v in self.learning_speed],
            "saturation": [float(v) for v in self.saturation],
            "weight_norm": [float(v) for v in self.weight_norm],
            "gradient_norm": [float(v) for v in self.gradient_norm],
        }


@dataclass(frozen=True, slots=True)
class EpochRecord:
    """One row of a run's history: the wire update plus what the epoch measured.

    ``training_cost`` (mean cost per example plus the L2 term) and ``training_accuracy``
    are, by default (``train(..., training_cost="running")``), what the epoch's own
    mini-batches met: each example scored in its mini-batch's forward pass, with the
    weights before that mini-batch's update. With ``training_cost="full"`` they come from
    a pass over the whole training set after the epoch, as the book's
    ``monitor_training_cost``. While the network improves, the running cost is the
    higher of the two. ``evaluation_cost`` is the cost on the data the accuracy was
    measured on; the ``validation_*`` fields are present when the data set has a
    validation split. ``diagnostics`` holds the chapter 5 measures per layer when the run
    asked for them (``train(..., diagnostics=True)``), else ``None``; they are part of the
    history, never of the wire update.
    """

    update: TrainingUpdate
    training_cost: float
    evaluation_cost: float | None
    validation_cost: float | None
    validation_accuracy: float | None
    learning_rate: float
    training_accuracy: float | None = None
    diagnostics: Diagnostics | None = None

    @property
    def epoch(self) -> int:
        """1-based epoch number within its run."""
        return self.update.epoch

    @property
    def accuracy(self) -> float | None:
        """Accuracy on the evaluation data, or ``None``."""
        return self.update.accuracy

    @property
    def correct(self) -> int | None:
        """Correctly classified evaluation examples, or ``None``."""
        return self.update.correct

    @property
    def total(self) -> int | None:
        """Number of evaluation examples, or ``None``."""
        return self.update.total

    @property
    def elapsed_time(self) -> float:
        """Seconds this epoch took (training and evaluation)."""
        return self.update.elapsed_time

    def to_dict(self) -> dict[str, Any]:
        """The update's fields plus the costs; every number finite or ``None``."""
        return {
            **self.update.to_dict(),
            "training_cost": self.training_cost,
            "training_accuracy": self.training_accuracy,
            "evaluation_cost": self.evaluation_cost,
            "validation_cost": self.validation_cost,
            "validation_accuracy": self.validation_accuracy,
            "learning_rate": self.learning_rate,
            "diagnostics": None if self.diagnostics is None else self.diagnostics.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochRecord:
        """The record back from its ``to_dict()`` (fields a newer nnlab added may be absent).

        >>> u = TrainingUpdate.for_epoch("j", "n", 1, 2, 0.5, correct=9, total=10)
        >>> r = EpochRecord(u, 0.3, 0.4, None, None, 3.0, training_accuracy=0.8)
        >>> EpochRecord.from_dict(r.to_dict()) == r
        True
        >>> d = Diagnostics((0.1, 0.2), (0.0, 0.5), (3.0, 2.0), (0.4, 0.6))
        >>> EpochRecord.from_dict({**r.to_dict(), "diagnostics": d.to_dict()}).diagnostics == d
        True
        """
        update = TrainingUpdate(
            job_id=data["job_id"],
            network_id=data["network_id"],
            epoch=data["epoch"],
            total_epochs=data["total_epochs"],
            accuracy=data["accuracy"],
            elapsed_time=data["elapsed_time"],
            progress=data["progress"],
            correct=data.get("correct"),
            total=data.get("total"),
        )
        return cls(
            update=update,
            training_cost=data["training_cost"],
            evaluation_cost=data.get("evaluation_cost"),
            validation_cost=data.get("validation_cost"),
            validation_accuracy=data.get("validation_accuracy"),
            learning_rate=data["learning_rate"],
            training_accuracy=data.get("training_accuracy"),
            diagnostics=None
            if data.get("diagnostics") is None
            else Diagnostics.from_dict(data["diagnostics"]),
        )


@dataclass(frozen=True, slots=True)
class TrainingStatus:
    """A job's lifecycle as sent to every client as ``training_status``: when it is
    queued, starts, pauses, resumes (``running`` again) and ends. ``epoch`` counts the
    epochs finished so far.

    >>> TrainingStatus("j", "n", "running", 0, 10).to_dict()["status"]
    'running'
    """

    job_id: str
    network_id: str
    status: JobStatus
    epoch: int
    total_epochs: int
    error: str | None = None
    stop_reason: str | None = None
    #: Who and where (extra fields, sent when known): the run's owner, host and kernel id
    #: (:mod:`nnlab.identity`) and its network's layer sizes.
    owner: str | None = None
    host: str | None = None
    kernel_id: str | None = None
    sizes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        """The ``training_status`` payload."""
        data: dict[str, Any] = {
            "job_id": self.job_id,
            "network_id": self.network_id,
            "status": self.status,
            "epoch": int(self.epoch),
            "total_epochs": int(self.total_epochs),
            "error": self.error,
            "stop_reason": self.stop_reason,
        }
        for name in ("owner", "host", "kernel_id"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.sizes is not None:
            data["sizes"] = list(self.sizes)
        return data
