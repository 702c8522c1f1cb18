"""Writing a run's log: one function per kind of event the training side hands over.

Every function runs inside the writer's transaction: it appends to ``events`` and brings
the run's summary row in ``runs`` up to date, so a reader always sees the two agree.
``sweep`` marks the runs of dead processes ``interrupted``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from nnlab.checkpoint import TrainingState
from nnlab.events import EpochRecord
from nnlab.store.owner import is_alive
from nnlab.store.schema import dumps, encode_array

__all__ = ["APPLY", "Item", "iso", "resumed", "sweep"]

#: One hand-over: ``(kind, job_id, unix time, payload)``.
Item = tuple[str, str, float, Any]


def iso(at: float) -> str:
    """A unix time as the ISO 8601 UTC text nnlab uses (``2026-01-01T12:00:00.000Z``)."""
    text = datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _event(conn: sqlite3.Connection, job_id: str, kind: str, at: float, data: Any, epoch: int | None) -> None:
    cursor = conn.execute(
        "INSERT INTO events (job_id, kind, epoch, at, data) VALUES (?, ?, ?, ?, ?)",
        (job_id, kind, epoch, iso(at), dumps(data)),
    )
    conn.execute("UPDATE runs SET last_event = ? WHERE job_id = ?", (cursor.lastrowid, job_id))


def _created(conn: sqlite3.Connection, job_id: str, at: float, run: dict[str, Any]) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO runs (job_id, network_id, status, dataset, total_epochs, parameters,"
        " network, created_at, host, pid, process_start) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            job_id,
            run["network_id"],
            run["status"],
            run["parameters"]["dataset"],
            run["parameters"]["epochs"],
            dumps(run["parameters"]),
            dumps(run["network"]),
            run["created_at"],
            *run["owner"],
        ),
    )
    _event(conn, job_id, "created", at, {"status": run["status"]}, None)


def _started(conn: sqlite3.Connection, job_id: str, at: float, started_at: str) -> None:
    conn.execute("UPDATE runs SET status = 'running', started_at = ? WHERE job_id = ?", (started_at, job_id))
    _event(conn, job_id, "status", at, {"status": "running"}, None)


def _epoch(conn: sqlite3.Connection, job_id: str, at: float, record: EpochRecord) -> None:
    accuracy = record.accuracy
    conn.execute(
        "UPDATE runs SET epochs_completed = ?, latest_accuracy = ?,"
        " best_accuracy = CASE WHEN ? IS NOT NULL AND (best_accuracy IS NULL OR ? > best_accuracy)"
        " THEN ? ELSE best_accuracy END WHERE job_id = ?",
        (record.epoch, accuracy, accuracy, accuracy, accuracy, job_id),
    )
    _event(conn, job_id, "epoch", at, record.to_dict(), record.epoch)


def _checkpoint(conn: sqlite3.Connection, job_id: str, at: float, payload: tuple[str, TrainingState]) -> None:
    reason, state = payload
    cursor = conn.execute(
        "INSERT INTO checkpoints (job_id, epoch, reason, at, state) VALUES (?, ?, ?, ?, ?)",
        (job_id, state.epoch, reason, iso(at), dumps(state.scalars())),
    )
    conn.executemany(
        "INSERT INTO arrays (checkpoint_id, name, dtype, shape, data) VALUES (?, ?, ?, ?, ?)",
        [(cursor.lastrowid, name, *encode_array(a)) for name, a in state.arrays().items()],
    )
    _event(conn, job_id, "checkpoint", at, {"epoch": state.epoch, "reason": reason}, state.epoch)


def _ended(conn: sqlite3.Connection, job_id: str, at: float, end: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE runs SET status = ?, finished_at = ?, elapsed_time = ?, error = ?, stop_reason = ?,"
        " hints = ? WHERE job_id = ?",
        (
            end["status"],
            end["finished_at"],
            end["elapsed_time"],
            end["error"],
            end["stop_reason"],
            dumps(end["hints"]),
            job_id,
        ),
    )
    _event(conn, job_id, "status", at, end, None)


def resumed(
    conn: sqlite3.Connection, job_id: str, at: float, epoch: int, owner: tuple[str, int, str]
) -> bool:
    """Claim an interrupted or cancelled run for this process to go on after ``epoch``
    (inside a transaction); ``False`` if it is neither any more (another process took it)."""
    claimed = conn.execute(
        "UPDATE runs SET status = 'queued', host = ?, pid = ?, process_start = ?"
        " WHERE job_id = ? AND status IN ('interrupted', 'cancelled')",
        (*owner, job_id),
    ).rowcount
    if not claimed:
        return False
    # epochs past the checkpoint resumed from are trained again: the old ones go
    conn.execute("DELETE FROM events WHERE job_id = ? AND kind = 'epoch' AND epoch > ?", (job_id, epoch))
    best = conn.execute(
        "SELECT MAX(json_extract(data, '$.accuracy')) FROM events WHERE job_id = ? AND kind = 'epoch'",
        (job_id,),
    ).fetchone()[0]
    conn.execute(
        "UPDATE runs SET epochs_completed = ?, best_accuracy = ?, finished_at = NULL, elapsed_time = NULL,"
        " error = NULL, stop_reason = NULL WHERE job_id = ?",
        (epoch, best, job_id),
    )
    _event(conn, job_id, "resumed", at, {"from_epoch": epoch, "status": "queued"}, epoch)
    return True


#: How each kind of hand-over is written.
APPLY: dict[str, Callable[[sqlite3.Connection, str, float, Any], None]] = {
    "created": _created,
    "started": _started,
    "epoch": _epoch,
    "checkpoint": _checkpoint,
    "ended": _ended,
}


def sweep(conn: sqlite3.Connection, at: float) -> list[str]:
    """Mark ``interrupted`` every unfinished run whose process is gone (on this host);
    return their ids. Runs of live processes, or of other hosts, are left alone."""
    rows = conn.execute(
        "SELECT job_id, host, pid, process_start FROM runs WHERE status IN ('queued', 'running')"
    ).fetchall()
    dead = [
        (job_id, pid, start) for job_id, host, pid, start in rows if is_alive((host, pid, start)) is False
    ]
    if not dead:
        return []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for job_id, pid, start in dead:
            changed = conn.execute(  # unless another process resumed it meanwhile
                "UPDATE runs SET status = 'interrupted', stop_reason = 'interrupted', finished_at = ?"
                " WHERE job_id = ? AND status IN ('queued', 'running') AND pid = ? AND process_start = ?",
                (iso(at), job_id, pid, start),
            ).rowcount
            if changed:
                _event(
                    conn, job_id, "status", at, {"status": "interrupted", "stop_reason": "interrupted"}, None
                )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return [job_id for job_id, _, _ in dead]
