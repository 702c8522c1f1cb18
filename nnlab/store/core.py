"""``Store``: one run-store file, its writer, and every question asked of it.

Writing goes through the writer thread (:mod:`nnlab.store.writer`); reading opens a short
connection in the caller's thread, so a notebook, a server and another kernel read while
runs are being written. Reading first waits for this process's writer to commit
what it was handed (so a run that just ended reads as ended), and marks the unfinished
runs of dead processes ``interrupted`` (see :func:`nnlab.store.records.sweep`).

The follower's questions -- for a server replaying runs after a restart -- are cheap:
:meth:`Store.updates` (a run's epochs after epoch N) and :meth:`Store.changes` (every event
after id N, over all runs).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnlab.checkpoint import TrainingState
from nnlab.events import EpochRecord
from nnlab.store.observer import CHECKPOINT_SECONDS, StoreObserver
from nnlab.store.owner import this_process
from nnlab.store.records import resumed, sweep
from nnlab.store.runs import Run, RunTable, format_size
from nnlab.store.schema import StoreError, connect, decode_array
from nnlab.store.writer import Writer

if TYPE_CHECKING:
    from nnlab.training import TrainingJob

__all__ = ["Event", "Store"]

#: Statuses of runs that may still change (their process may be training them).
LIVE = ("queued", "running")


@dataclass(frozen=True)
class Event:
    """One row of the log: ``id`` grows over the whole store."""

    id: int
    job_id: str
    kind: str
    epoch: int | None
    at: str
    data: dict[str, Any]


class Store:
    """The run store in the SQLite file ``path`` (made on the first run written).

    ``timeout`` is how long a write waits for another process's lock before the store
    gives up on that run (training goes on); ``max_pages`` caps the file's size in pages
    of 4 kB; ``checkpoint_seconds`` is the longest time between two checkpoints of a run.
    Most code uses :func:`nnlab.runs`, :func:`nnlab.run` and ``train(..., store=...)``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        timeout: float = 5.0,
        max_pages: int | None = None,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
    ) -> None:
        self.path = Path(path).expanduser().absolute()
        self.timeout = timeout
        self.checkpoint_seconds = checkpoint_seconds
        self._writer = Writer(
            self.path, timeout=timeout, max_pages=max_pages, name=f"nnlab-store-{self.path.name}"
        )
        self._writer.on_lost = self._lost
        self._jobs: weakref.WeakValueDictionary[str, TrainingJob] = weakref.WeakValueDictionary()
        self._jobs_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Store {self.path} · {format_size(self.size)}{'' if self.healthy else ' · not saving'}>"

    # ------------------------------------------------------------ health
    @property
    def healthy(self) -> bool:
        """Whether the last write succeeded (``False``: runs are kept in memory only)."""
        return self._writer.healthy

    @property
    def failure(self) -> str | None:
        """Why the last write failed, or ``None``."""
        return self._writer.failure

    @property
    def size(self) -> int:
        """Bytes on disk (the file and its write-ahead log)."""
        total = 0
        for suffix in ("", "-wal"):
            with suppress(OSError):
                total += Path(f"{self.path}{suffix}").stat().st_size
        return total

    # ------------------------------------------------------------ writing
    def observer(self, checkpoint_every: int | None = None) -> StoreObserver:
        """A new observer that saves one run (give it to the job, then :meth:`watch`);
        ``checkpoint_every`` as in :func:`nnlab.train`."""
        return StoreObserver(
            self._writer, checkpoint_every=checkpoint_every, checkpoint_seconds=self.checkpoint_seconds
        )

    def watch(self, job: TrainingJob, observer: StoreObserver, *, resumed_from: int | None = None) -> None:
        """Record ``job`` (queued; or resumed after epoch ``resumed_from``, claimed with
        :meth:`claim`), which ``observer`` watches, and mark it ``saved``."""
        with self._jobs_lock:
            self._jobs[job.job_id] = job
        job.saved = True
        if resumed_from is None:
            observer.created(job)
        else:
            observer.resumed(resumed_from)

    def _lost(self, job_id: str) -> None:
        with self._jobs_lock:
            job = self._jobs.get(job_id)
        if job is not None:
            job.saved = False

    def claim(self, job_id: str, epoch: int) -> None:
        """Take an interrupted or cancelled run for this process to resume after ``epoch``,
        now: the epochs after it are dropped (they are trained again). ``StoreError`` if
        another process took it first or the store cannot be written."""
        with self._read() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                ok = resumed(conn, job_id, time.time(), epoch, this_process())
                conn.execute("COMMIT" if ok else "ROLLBACK")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        if not ok:
            raise StoreError(
                f"run {job_id} is no longer interrupted or cancelled: another process resumed it"
            )

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event handed over is committed; ``False`` on timeout."""
        return self._writer.flush(timeout)

    def close(self) -> None:
        """Commit what waits and stop the writer thread (it starts again if needed)."""
        self._writer.close()

    # ------------------------------------------------------------ reading
    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        # what this process handed over first, so a run that just ended reads as ended
        self._writer.flush(2 * self.timeout + 1)
        try:
            conn = connect(self.path, timeout=self.timeout, create=False)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"the run store {self.path} cannot be read ({exc}): if the file is damaged, move it "
                "away (nnlab starts a new one), or read another with store='path.sqlite'"
            ) from exc
        try:
            with suppress(sqlite3.OperationalError):  # busy or read-only: marked on a later look
                sweep(conn, time.time())
            yield conn
        finally:
            conn.close()

    def exists(self) -> bool:
        """Whether the file is there (once this process's writer committed what it has)."""
        self._writer.flush(2 * self.timeout + 1)
        return self.path.exists()

    def summaries(self) -> list[dict[str, Any]]:
        """Every run's summary row, oldest first (an empty list when there is no file)."""
        if not self.exists():
            return []
        with self._read() as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute("SELECT * FROM runs ORDER BY created_at, rowid").fetchall()
        return [_summary(row) for row in rows]

    def summary(self, job_id: str) -> dict[str, Any]:
        """One run's summary; ``job_id`` may be a unique prefix (8 characters as shown).
        ``KeyError`` names what to do when there is no such run."""
        if not self.exists():
            raise KeyError(f"no run {job_id!r}: the store {self.path} holds no runs yet")
        with self._read() as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(
                "SELECT * FROM runs WHERE job_id = ? OR job_id LIKE ? ESCAPE '!' LIMIT 2",
                (job_id, job_id.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"),
            ).fetchall()
        exact = [r for r in rows if r["job_id"] == job_id]
        if exact:
            return _summary(exact[0])
        if len(rows) != 1:
            what = "no run" if not rows else "more than one run"
            raise KeyError(
                f"{what} in {self.path} has an id starting {job_id!r}: see nnlab.runs() for the ids"
            )
        return _summary(rows[0])

    def runs(self, **filters: Any) -> RunTable:
        """The runs as a table; see :func:`nnlab.runs` for the filters."""
        return RunTable.select(self, **filters)

    def run(self, job_id: str) -> Run:
        """One run; see :func:`nnlab.run`."""
        return Run(self, self.summary(job_id))

    def updates(self, job_id: str, after: int = 0) -> list[EpochRecord]:
        """The run's epochs after epoch ``after`` (all by default), in order."""
        if not self.exists():
            return []
        with self._read() as conn:
            rows = conn.execute(
                "SELECT data FROM events WHERE job_id = ? AND kind = 'epoch' AND epoch > ? ORDER BY epoch",
                (job_id, after),
            ).fetchall()
        return [EpochRecord.from_dict(json.loads(data)) for (data,) in rows]

    def changes(self, after: int = 0, limit: int = 1000) -> list[Event]:
        """Events of every run with an id above ``after``, oldest first: a follower keeps the
        last id it saw and asks again."""
        if not self.exists():
            return []
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, job_id, kind, epoch, at, data FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit),
            ).fetchall()
        return [Event(i, j, k, e, at, json.loads(d)) for i, j, k, e, at, d in rows]

    def checkpoints(self, job_id: str) -> list[tuple[int, str]]:
        """The run's checkpoints as ``(epoch, reason)``, oldest first."""
        if not self.exists():
            return []
        with self._read() as conn:
            rows = conn.execute(
                "SELECT epoch, reason FROM checkpoints WHERE job_id = ? ORDER BY id", (job_id,)
            ).fetchall()
        return [(int(e), str(r)) for e, r in rows]

    def checkpoint(self, job_id: str, epoch: int | None = None, *, resumable: bool = False) -> TrainingState:
        """The run's state at its checkpoint after ``epoch`` (the latest by default).
        ``resumable=True`` skips the end-of-run checkpoint (with ``restore_best`` its
        weights are the best epoch's, not the last's)."""
        query = "SELECT id, state FROM checkpoints WHERE job_id = ?"
        args: list[Any] = [job_id]
        if epoch is not None:
            query += " AND epoch = ?"
            args.append(epoch)
        if resumable:
            query += " AND reason != 'end'"
        with self._read() as conn:
            row = conn.execute(query + " ORDER BY id DESC LIMIT 1", args).fetchone()
            if row is None:
                available = [e for e, _ in self.checkpoints(job_id)]
                at = "" if epoch is None else f" after epoch {epoch}"
                raise KeyError(
                    f"run {job_id} has no checkpoint{at}: it has checkpoints after epochs {available}"
                )
            arrays = {
                name: decode_array(dtype, shape, data)
                for name, dtype, shape, data in conn.execute(
                    "SELECT name, dtype, shape, data FROM arrays WHERE checkpoint_id = ?", (row[0],)
                )
            }
        return TrainingState.from_parts(json.loads(row[1]), arrays)

    def last_event(self) -> int:
        """The id of the newest event (0 for an empty store)."""
        if not self.exists():
            return 0
        with self._read() as conn:
            return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])

    # ------------------------------------------------------------ deleting
    def delete(self, job_ids: list[str]) -> int:
        """Delete finished runs with all their events and checkpoints; how many went.
        A run still queued or running raises ``StoreError`` (cancel it first)."""
        if not job_ids or not self.exists():
            return 0
        with self._read() as conn:
            marks = ",".join("?" * len(job_ids))
            live = conn.execute(
                f"SELECT job_id FROM runs WHERE job_id IN ({marks}) AND status IN ('queued', 'running')",
                job_ids,
            ).fetchall()
            if live:
                raise StoreError(
                    f"run {live[0][0]} is still queued or running: cancel it (job.cancel()) or "
                    "let it end before deleting it"
                )
            conn.execute("BEGIN IMMEDIATE")
            try:
                checkpoints = f"SELECT id FROM checkpoints WHERE job_id IN ({marks})"
                conn.execute(f"DELETE FROM arrays WHERE checkpoint_id IN ({checkpoints})", job_ids)
                for table in ("checkpoints", "events"):
                    conn.execute(f"DELETE FROM {table} WHERE job_id IN ({marks})", job_ids)
                gone = conn.execute(f"DELETE FROM runs WHERE job_id IN ({marks})", job_ids).rowcount
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("PRAGMA incremental_vacuum")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(gone)


def _summary(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    for key in ("parameters", "network", "hints"):
        data[key] = json.loads(data[key])
    return data
