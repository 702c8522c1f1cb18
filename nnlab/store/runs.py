"""What a notebook sees of a run store: :class:`RunTable` (``nnlab.runs()``) and
:class:`Run` (``nnlab.run(job_id)``), with their HTML and text tables and exports.

Both read through a :class:`RunSource` (a :class:`nnlab.store.Store`).
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

from nnlab.checkpoint import TrainingState
from nnlab.events import STATUSES, EpochRecord
from nnlab.network import Network
from nnlab.store.records import iso

__all__ = ["Run", "RunSource", "RunTable", "format_size", "parse_time"]

_COLUMNS = ("job", "network", "status", "dataset", "epochs", "best accuracy", "η", "batch", "created")
_CSV_FIELDS = (
    "epoch",
    "total_epochs",
    "accuracy",
    "correct",
    "total",
    "training_cost",
    "training_accuracy",
    "evaluation_cost",
    "validation_cost",
    "validation_accuracy",
    "learning_rate",
    "elapsed_time",
    "progress",
    "job_id",
    "network_id",
)


class RunSource(Protocol):
    """What the tables read of a store (:class:`nnlab.store.Store` is one)."""

    @property
    def path(self) -> Path: ...
    @property
    def size(self) -> int: ...
    @property
    def healthy(self) -> bool: ...
    def summaries(self) -> list[dict[str, Any]]: ...
    def summary(self, job_id: str) -> dict[str, Any]: ...
    def updates(self, job_id: str, after: int = 0) -> list[EpochRecord]: ...
    def checkpoints(self, job_id: str) -> list[tuple[int, str]]: ...
    def checkpoint(
        self, job_id: str, epoch: int | None = None, *, resumable: bool = False
    ) -> TrainingState: ...
    def delete(self, job_ids: list[str]) -> int: ...


def format_size(n: int) -> str:
    """Bytes for people.

    >>> format_size(512), format_size(2_500_000)
    ('512 B', '2.5 MB')
    """
    value = float(n)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def parse_time(value: Any, field: str) -> str:
    """A time filter -- a ``datetime`` (naive: local time), ISO text, or a ``timedelta``
    meaning that long ago -- as the store's ISO UTC text."""
    if isinstance(value, timedelta):
        value = datetime.now(timezone.utc) - value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            value = None
    if not isinstance(value, datetime):
        raise ValueError(
            f"{field} must be a datetime, a timedelta (that long ago) or ISO text like '2026-01-31'"
        )
    return iso(value.astimezone(timezone.utc).timestamp())


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


class Run:
    """One stored run: its parameters, status, history and checkpoints.

    ``history`` holds one :class:`~nnlab.events.EpochRecord` per epoch (read when first
    asked for); :meth:`network` rebuilds the network at a checkpoint.
    """

    def __init__(self, source: RunSource, summary: dict[str, Any]) -> None:
        self._source = source
        self._summary = summary
        self._history: list[EpochRecord] | None = None
        self.job_id: str = summary["job_id"]
        self.network_id: str = summary["network_id"]
        self.status: str = summary["status"]
        self.dataset: str = summary["dataset"]
        self.parameters: dict[str, Any] = summary["parameters"]
        self.network_description: dict[str, Any] = summary["network"]
        self.epochs_completed: int = summary["epochs_completed"]
        self.total_epochs: int = summary["total_epochs"]
        self.best_accuracy: float | None = summary["best_accuracy"]
        self.error: str | None = summary["error"]
        self.stop_reason: str | None = summary["stop_reason"]
        self.hints: list[str] = summary["hints"]
        self.created_at: str = summary["created_at"]
        self.started_at: str | None = summary["started_at"]
        self.finished_at: str | None = summary["finished_at"]
        self.elapsed_time: float | None = summary["elapsed_time"]

    @property
    def history(self) -> list[EpochRecord]:
        """One record per finished epoch, in order."""
        if self._history is None:
            self._history = self._source.updates(self.job_id)
        return self._history

    @property
    def checkpoints(self) -> list[int]:
        """The epochs the run has checkpoints after (0: before the first epoch)."""
        return sorted({epoch for epoch, _ in self._source.checkpoints(self.job_id)})

    def network(self, epoch: int | None = None) -> Network:
        """The network at the checkpoint after ``epoch`` (by default the latest: at the end
        of a finished run, the network as the run left it). A new :class:`Network` with the
        run's ``network_id``."""
        state = self._source.checkpoint(self.job_id, epoch)
        return build_network(self.network_description, state)

    def to_dict(self) -> dict[str, Any]:
        """The summary and the history, JSON-ready."""
        summary = {k: v for k, v in self._summary.items() if k not in ("host", "pid", "process_start")}
        return {**summary, "history": [r.to_dict() for r in self.history]}

    def to_json(self, path: str | Path | None = None) -> str:
        """The run as JSON (written to ``path`` if given)."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_csv(self, path: str | Path | None = None) -> str:
        """The history as CSV, one row per epoch (written to ``path`` if given)."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=_CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for record in self.history:
            writer.writerow({k: "" if v is None else v for k, v in record.to_dict().items()})
        text = out.getvalue()
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def delete(self) -> None:
        """Delete the run from the store (a queued or running one raises)."""
        self._source.delete([self.job_id])

    def row(self) -> tuple[str, ...]:
        """The run's cells in :class:`RunTable`."""
        p = self.parameters
        sizes = self.network_description.get("sizes", [])
        return (
            self.job_id[:8],
            f"{self.network_id[:8]} {sizes}",
            self.status,
            self.dataset,
            f"{self.epochs_completed}/{self.total_epochs}",
            _fmt(self.best_accuracy),
            f"{p.get('learning_rate', '')}",
            f"{p.get('mini_batch_size', '')}",
            self.created_at.replace("T", " ")[:19],
        )

    def __repr__(self) -> str:
        best = f" · best accuracy {self.best_accuracy:.4f}" if self.best_accuracy is not None else ""
        return (
            f"<Run {self.job_id[:8]} · {self.dataset} · epoch {self.epochs_completed}/{self.total_epochs}"
            f"{best} · {self.status}>"
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{r.epoch}</td><td>{_fmt(r.accuracy)}</td><td>{_fmt(r.training_cost)}</td>"
            f"<td>{_fmt(r.learning_rate, 6)}</td></tr>"
            for r in self.history[-10:]
        )
        params = html.escape(", ".join(f"{k}={v}" for k, v in self.parameters.items()))
        return (
            f"<div><b>{html.escape(repr(self))}</b><br><small>{params}</small>"
            "<table><tr><th>epoch</th><th>accuracy</th><th>training cost</th><th>η</th></tr>"
            f"{rows}</table></div>"
        )


def build_network(description: dict[str, Any], state: TrainingState) -> Network:
    """The network a run's description and one of its checkpoints make."""
    net = Network(
        description["sizes"],
        cost=description["cost"],
        init=description.get("init", "default"),
        dtype=description.get("dtype", "float64"),
    )
    net.weights = [w.astype(net.dtype, copy=True) for w in state.weights]
    net.biases = [b.astype(net.dtype, copy=True) for b in state.biases]
    net.network_id = description["network_id"]
    net.seed = description.get("seed")
    net.epochs_trained = int(description.get("epochs_trained", 0)) + state.epoch
    return net


class RunTable(Sequence[Run]):
    """Runs of a store, oldest first: a table in a notebook, text elsewhere.

    Index it (``table[-1]``), iterate it, or :meth:`prune` and :meth:`delete` its runs.
    """

    def __init__(self, source: RunSource, runs: list[Run]) -> None:
        self._source = source
        self._runs = runs

    @classmethod
    def select(
        cls,
        source: RunSource,
        *,
        network: Any = None,
        status: str | None = None,
        dataset: str | None = None,
        since: Any = None,
        until: Any = None,
        limit: int | None = None,
        **parameters: Any,
    ) -> RunTable:
        """The runs that match every filter given (see :func:`nnlab.runs`)."""
        network_id = getattr(network, "network_id", network)
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {list(STATUSES)}, got {status!r}")
        start = parse_time(since, "since") if since is not None else None
        end = parse_time(until, "until") if until is not None else None
        runs = []
        for summary in source.summaries():
            if network_id is not None and not summary["network_id"].startswith(str(network_id)):
                continue
            if status is not None and summary["status"] != status:
                continue
            if dataset is not None and summary["dataset"] != dataset:
                continue
            if start is not None and summary["created_at"] < start:
                continue
            if end is not None and summary["created_at"] >= end:
                continue
            if any(not _matches(summary["parameters"], k, v) for k, v in parameters.items()):
                continue
            runs.append(Run(source, summary))
        if limit is not None:
            runs = runs[-limit:] if limit > 0 else []
        return cls(source, runs)

    def __len__(self) -> int:
        return len(self._runs)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return RunTable(self._source, self._runs[index])
        return self._runs[index]

    def __iter__(self) -> Iterator[Run]:
        return iter(self._runs)

    @property
    def path(self) -> Path:
        """The store's file."""
        return self._source.path

    @property
    def size(self) -> int:
        """The store's bytes on disk."""
        return self._source.size

    def delete(self) -> int:
        """Delete every run of the table; how many went (a queued or running run raises)."""
        return self._source.delete([r.job_id for r in self._runs])

    def prune(self, *, keep_last: int | None = None, older_than: Any = None) -> int:
        """Delete the table's finished runs but the newest ``keep_last``, and (or) those
        created more than ``older_than`` ago (a ``timedelta``, or days as a number); how
        many went. Queued and running runs always stay.

        >>> import datetime
        >>> older = datetime.timedelta(days=30)  # e.g. nnlab.runs().prune(keep_last=50, older_than=older)
        """
        if keep_last is None and older_than is None:
            raise ValueError("prune needs keep_last=N, older_than=timedelta(days=...) or both")
        finished = [r for r in self._runs if r.status not in ("queued", "running")]
        doomed: list[Run] = []
        if keep_last is not None:
            if keep_last < 0:
                raise ValueError(f"keep_last must be 0 or more, got {keep_last}")
            doomed = finished[: max(0, len(finished) - keep_last)]
        if older_than is not None:
            if not isinstance(older_than, timedelta):
                older_than = timedelta(days=float(older_than))
            cutoff = parse_time(older_than, "older_than")
            doomed += [r for r in finished if r.created_at < cutoff and r not in doomed]
        return self._source.delete([r.job_id for r in doomed])

    def _footer(self) -> str:
        state = "" if self._source.healthy else " · NOT SAVING (see the warning)"
        return f"{len(self._runs)} runs · {self._source.path} · {format_size(self._source.size)}{state}"

    def __repr__(self) -> str:
        rows = [_COLUMNS, *(r.row() for r in self._runs)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        return "\n".join([*lines, self._footer()])

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in _COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in r.row()) + "</tr>"
            for r in self._runs
        )
        return (
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<small>{html.escape(self._footer())}</small>"
        )


def _matches(parameters: dict[str, Any], key: str, wanted: Any) -> bool:
    if key not in parameters:
        raise ValueError(f"runs can be filtered by {sorted(parameters)}, not {key!r}")
    value = parameters[key]
    if isinstance(wanted, float) and isinstance(value, int | float) and not isinstance(value, bool):
        return math.isclose(value, wanted, rel_tol=1e-12)
    return bool(value == wanted)
