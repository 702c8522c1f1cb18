"""``TrainingState``: what a run needs to go on from an epoch boundary exactly as if it had
never stopped.

The training loop hands one out (:meth:`nnlab.training.TrainingJob.training_state`) and
takes one back (:meth:`~nnlab.training.TrainingJob.resume_from`); a run store keeps them as
checkpoints. A state holds the network's weights and biases at the end of epoch ``epoch``,
the shuffling generator's state for the next epoch, the learning rate and the plateau
bookkeeping of early stopping, the learning-rate schedule and ``restore_best``, and the
engine's own state: momentum's velocities and the dropout masks' generator. With it, a
resumed run is bit for bit the run that was not stopped (same seed, same machine).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nnlab._types import Array

__all__ = ["TrainingState"]


@dataclass(frozen=True)
class TrainingState:
    """A run at the end of epoch ``epoch`` (0: before the first), ready to go on.

    ``weights`` and ``biases`` are copies, shaped as the network's (``(n_out, n_in)`` and
    ``(n_out,)``); ``best_parameters`` (weights then biases) are those of the best
    validation epoch when the run keeps them (``restore_best``), else ``None``.
    ``rng_state`` is ``np.random.Generator.bit_generator.state``. ``velocities`` (those of
    the weights then of the biases) are momentum's, ``None`` without momentum;
    ``dropout_rng_state`` is the dropout generator's state, ``None`` without dropout.
    """

    epoch: int
    weights: list[Array]
    biases: list[Array]
    rng_state: Mapping[str, Any]
    learning_rate: float
    best_accuracy: float | None = None
    since_best: int = 0
    since_halving: int = 0
    best_epoch: int | None = None
    best_parameters: list[Array] | None = None
    velocities: list[Array] | None = None
    dropout_rng_state: Mapping[str, Any] | None = None

    def scalars(self) -> dict[str, Any]:
        """Everything but the arrays, JSON-ready (floats stay exact through ``json``)."""
        return {
            "epoch": self.epoch,
            "rng_state": self.rng_state,
            "learning_rate": self.learning_rate,
            "best_accuracy": self.best_accuracy,
            "since_best": self.since_best,
            "since_halving": self.since_halving,
            "best_epoch": self.best_epoch,
            "dropout_rng_state": self.dropout_rng_state,
        }

    def arrays(self) -> dict[str, Array]:
        """The arrays by name: ``w0, w1, ...``, ``b0, ...``, ``best0, ...`` (best weights
        then best biases) and ``v0, ...`` (velocities of the weights then the biases)."""
        named = {f"w{i}": w for i, w in enumerate(self.weights)}
        named.update({f"b{i}": b for i, b in enumerate(self.biases)})
        for i, p in enumerate(self.best_parameters or ()):
            named[f"best{i}"] = p
        for i, v in enumerate(self.velocities or ()):
            named[f"v{i}"] = v
        return named

    @classmethod
    def from_parts(cls, scalars: dict[str, Any], arrays: dict[str, Array]) -> TrainingState:
        """Rebuild a state from :meth:`scalars` and :meth:`arrays`."""

        def series(prefix: str) -> list[Array]:
            out: list[Array] = []
            while f"{prefix}{len(out)}" in arrays:
                out.append(arrays[f"{prefix}{len(out)}"])
            return out

        best, velocities = series("best"), series("v")
        return cls(
            epoch=int(scalars["epoch"]),
            weights=series("w"),
            biases=series("b"),
            rng_state=scalars["rng_state"],
            learning_rate=float(scalars["learning_rate"]),
            best_accuracy=scalars.get("best_accuracy"),
            since_best=int(scalars.get("since_best", 0)),
            since_halving=int(scalars.get("since_halving", 0)),
            best_epoch=scalars.get("best_epoch"),
            best_parameters=best or None,
            velocities=velocities or None,
            dropout_rng_state=scalars.get("dropout_rng_state"),
        )
