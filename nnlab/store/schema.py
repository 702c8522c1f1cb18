"""The run store's SQLite file: where it lives, its tables, and opening it safely.

One file holds every run of a user: ``runs.sqlite`` in ``$NNLAB_HOME`` or, without it, a
per-user data folder (``$XDG_DATA_HOME/nnlab``, ``~/.local/share/nnlab``; ``%LOCALAPPDATA%``
on Windows). SQLite runs in WAL mode, so readers never wait for the writers of other
kernels, and every connection waits ``timeout`` seconds for a lock before it gives up.

Tables: ``events`` is each run's append-only log (``id`` grows over the whole file, so a
follower asks "what changed since id N"); ``runs`` is one summary row per run, updated in
the same transaction as the event that changes it; ``checkpoints`` and ``arrays`` hold
weights as raw bytes with their dtype and shape. ``PRAGMA user_version`` is the schema
version: a newer file than this nnlab reads raises :class:`StoreVersionError`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import numpy as np

from nnlab._types import Array

__all__ = [
    "SCHEMA_VERSION",
    "StoreError",
    "StoreVersionError",
    "connect",
    "decode_array",
    "default_path",
    "encode_array",
    "store_setting",
]

#: The layout this nnlab writes and reads.
SCHEMA_VERSION = 1
#: The file in the nnlab folder.
FILE_NAME = "runs.sqlite"

_TABLES = """
CREATE TABLE IF NOT EXISTS runs (
    job_id TEXT PRIMARY KEY,
    network_id TEXT NOT NULL,
    status TEXT NOT NULL,
    dataset TEXT NOT NULL,
    total_epochs INTEGER NOT NULL,
    epochs_completed INTEGER NOT NULL DEFAULT 0,
    best_accuracy REAL,
    latest_accuracy REAL,
    parameters TEXT NOT NULL,
    network TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    elapsed_time REAL,
    error TEXT,
    stop_reason TEXT,
    hints TEXT NOT NULL DEFAULT '[]',
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    process_start TEXT NOT NULL,
    last_event INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_by_time ON runs (created_at);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    epoch INTEGER,
    at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_job ON events (job_id, kind, epoch);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS checkpoints_by_job ON checkpoints (job_id, epoch);
CREATE TABLE IF NOT EXISTS arrays (
    checkpoint_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    dtype TEXT NOT NULL,
    shape TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (checkpoint_id, name)
);
"""


class StoreError(RuntimeError):
    """The run store cannot be opened or used as asked."""


class StoreVersionError(StoreError):
    """The store file was written by a newer nnlab."""


def store_setting() -> str | None:
    """``$NNLAB_STORE``: ``"off"`` (keep runs in memory only), a file path, or ``None``."""
    value = os.environ.get("NNLAB_STORE", "").strip()
    return value or None


def default_path() -> Path:
    """Where runs are kept by default: ``runs.sqlite`` in ``$NNLAB_HOME`` or the per-user
    data folder (see the module docstring)."""
    home = os.environ.get("NNLAB_HOME", "").strip()
    if home:
        folder = Path(home).expanduser()
    elif sys.platform == "win32":
        folder = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "nnlab"
    elif sys.platform == "darwin":
        folder = Path.home() / "Library" / "Application Support" / "nnlab"
    else:
        data = os.environ.get("XDG_DATA_HOME", "").strip()
        folder = (Path(data) if data else Path.home() / ".local" / "share") / "nnlab"
    return folder / FILE_NAME


def connect(
    path: Path, *, timeout: float = 5.0, create: bool = True, max_pages: int | None = None
) -> sqlite3.Connection:
    """An open connection to the store at ``path`` with the tables in place.

    Raises :class:`StoreVersionError` for a file of a newer schema, :class:`StoreError`
    when the file is missing and ``create`` is false, and ``sqlite3.Error`` / ``OSError``
    when SQLite or the file system refuse (corrupt file, read-only folder, lock held).
    ``max_pages`` caps the file's size in pages (SQLite's ``max_page_count``).
    """
    if not create and not path.exists():
        raise StoreError(f"no run store at {path}: train with store={str(path)!r} to make one")
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreVersionError(
                f"the run store {path} has schema version {version}, written by a newer nnlab "
                f"(this one reads up to version {SCHEMA_VERSION}): upgrade nnlab, or keep runs "
                "in another file with train(..., store='other.sqlite') or NNLAB_STORE"
            )
        if version == 0:
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # deleted runs give their pages back
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: a commit survives a process crash
        if max_pages is not None:
            conn.execute(f"PRAGMA max_page_count = {int(max_pages)}")
        if version < SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _TABLES.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
    except BaseException:
        conn.close()
        raise
    return conn


def encode_array(array: Array) -> tuple[str, str, bytes]:
    """``(dtype, shape as JSON, raw bytes in C order)`` of an array."""
    array = np.ascontiguousarray(array)
    return array.dtype.str, json.dumps(list(array.shape)), array.tobytes()


def decode_array(dtype: str, shape: str, data: bytes) -> Array:
    """The array :func:`encode_array` described (a writable copy).

    >>> decode_array(*encode_array(np.arange(6.0).reshape(2, 3)))
    array([[0., 1., 2.],
           [3., 4., 5.]])
    """
    array: Array = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(json.loads(shape)).copy()
    return array


def dumps(value: Any) -> str:
    """Compact JSON (floats keep every bit: ``json`` writes their shortest exact repr)."""
    return json.dumps(value, separators=(",", ":"))
