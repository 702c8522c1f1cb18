"""The store's writer thread: training threads hand events over, the writer commits them.

:meth:`Writer.put` is the whole cost to a training thread: a ``deque`` append, plus a
check that the writer thread is there (it starts on the first event and ends after a few
idle seconds, or at :meth:`Writer.close`). The writer looks at the queue a few times a
second and commits what it finds in one short transaction, so an epoch is on disk within
about a second. Every SQLite connection of the store lives in this thread.

A store that fails -- locked past the timeout, read-only folder, corrupt file, disk full --
never stops training: the writer warns once (:class:`StoreWarning`), marks the runs it
could not save (``job.saved = False``), drops their further events and tries again for the
next run.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from nnlab.store.records import APPLY, Item, sweep
from nnlab.store.schema import StoreError, connect

__all__ = ["POLL_INTERVAL", "StoreWarning", "Writer"]

#: Seconds between two looks at the queue: with the server's follower polling every 0.05 s,
#: an epoch trained in one kernel reaches the clients of `nnlab serve` within ~0.15 s.
POLL_INTERVAL = 0.1
#: Seconds without events after which the writer thread ends (the next event starts it again).
IDLE_EXIT = 3.0
#: Most events in one transaction.
BATCH = 500


class StoreWarning(RuntimeWarning):
    """The run store could not save a run; training went on in memory."""


class Writer:
    """Commits handed-over events to the store at ``path`` from a thread of its own."""

    def __init__(self, path: Path, *, timeout: float, max_pages: int | None, name: str) -> None:
        self.path = path
        self.timeout = timeout
        self.max_pages = max_pages
        self._name = name
        self._items: deque[Item] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closing = False
        #: ``None`` while all is well, else why the last write failed.
        self.failure: str | None = None
        #: Runs whose events could not be saved (their further events are dropped).
        self.lost: set[str] = set()
        #: Called with a job id when its run could not be saved.
        self.on_lost: Callable[[str], None] | None = None
        self._busy = False

    @property
    def healthy(self) -> bool:
        """Whether the last attempt to write succeeded."""
        return self.failure is None

    def put(self, item: Item) -> None:
        """Hand one event over (from any thread; never blocks for I/O)."""
        self._items.append(item)
        if self._thread is None:
            self._start()

    def wake(self) -> None:
        """Commit what is waiting now rather than at the next look."""
        self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._closing = False
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything handed over so far is committed (or dropped); ``False`` if
        ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        # items first: the writer marks itself busy before it takes any
        while self._items or self._busy:
            self._wake.set()
            if self._thread is None and self._items:
                self._start()
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float | None = 30.0) -> None:
        """Commit what waits and end the writer thread (a later event starts it again)."""
        with self._lock:
            thread = self._thread
            self._closing = True
        self._wake.set()
        if thread is not None:
            thread.join(timeout)

    # ------------------------------------------------------------ the thread
    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        idle_since = time.monotonic()
        try:
            while True:
                self._wake.wait(POLL_INTERVAL)
                self._wake.clear()
                if self._items:
                    self._busy = True
                    try:
                        conn = self._write(conn)
                    finally:
                        self._busy = False
                    idle_since = time.monotonic()
                    continue
                if self._closing or time.monotonic() - idle_since > IDLE_EXIT:
                    with self._lock:
                        if not self._items:
                            self._thread = None
                            return
        finally:
            if conn is not None:
                conn.close()

    def _take(self) -> list[Item]:
        batch: list[Item] = []
        popleft = self._items.popleft
        while len(batch) < BATCH:
            try:
                item = popleft()
            except IndexError:
                break
            if item[1] not in self.lost:
                batch.append(item)
        return batch

    def _write(self, conn: sqlite3.Connection | None) -> sqlite3.Connection | None:
        batch = self._take()
        if not batch:
            return conn
        try:
            if conn is None:
                conn = connect(self.path, timeout=self.timeout, max_pages=self.max_pages)
                sweep(conn, time.time())
            try:
                _commit(conn, batch)
            except sqlite3.Error as exc:
                if len(batch) == 1 or _busy(exc):
                    raise
                # full or damaged: keep what still fits, one event at a time, up to the first refusal
                for i, item in enumerate(batch):
                    try:
                        _commit(conn, [item])
                    except sqlite3.Error:
                        batch = batch[i:]
                        raise
        except (sqlite3.Error, OSError, StoreError) as exc:
            if conn is not None:
                conn.close()
            self._fail(batch, exc)
            return None
        self.failure = None
        return conn

    def _fail(self, batch: list[Item], exc: Exception) -> None:
        jobs = {job_id for _, job_id, _, _ in batch}
        self.lost.update(jobs)
        first = self.failure is None
        self.failure = f"{type(exc).__name__}: {exc}"
        for job_id in jobs:
            if self.on_lost is not None:
                self.on_lost(job_id)
        if first:
            _warn(
                f"the run store {self.path} cannot save runs ({self.failure}); training goes on "
                "and the run is kept in memory only (job.saved is False). Free the file (another "
                "program may hold it locked, or the disk is full), choose another with "
                "train(..., store='path.sqlite'), or turn the store off with NNLAB_STORE=off"
            )


def _commit(conn: sqlite3.Connection, items: list[Item]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for kind, job_id, at, payload in items:
            APPLY[kind](conn, job_id, at, payload)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _busy(exc: sqlite3.Error) -> bool:
    """Another connection holds the lock (waiting again would only wait again)."""
    return "locked" in str(exc) or "busy" in str(exc)


def _warn(message: str) -> None:
    with suppress(Warning):  # where warnings are errors, the writer must go on regardless
        warnings.warn(message, StoreWarning, stacklevel=2)
