"""The run store: every training run, kept on disk as it happens, so runs survive restarts
and crashes and can be resumed.

A run is an append-only log of its events (created, started, one record per epoch,
checkpoints, status changes) in one SQLite file per user (:mod:`nnlab.store.schema` says
where; ``NNLAB_HOME`` moves the folder, ``NNLAB_STORE=off`` or ``train(..., store=False)``
keeps runs in memory only, ``store="path.sqlite"`` picks another file). The training
thread hands each event over once (:mod:`nnlab.store.observer`); a writer thread commits
(:mod:`nnlab.store.writer`). :class:`Store` (:mod:`nnlab.store.core`) answers questions;
:mod:`nnlab.store.runs` shows the answers in a notebook.

The training loop never imports this package: :mod:`nnlab.launch` attaches the store's
observer to each run.
"""

from __future__ import annotations

import atexit
import threading
from pathlib import Path
from typing import Any

from nnlab.store.core import Event, Store
from nnlab.store.runs import Run, RunTable
from nnlab.store.schema import SCHEMA_VERSION, StoreError, StoreVersionError, default_path, store_setting
from nnlab.store.writer import StoreWarning

__all__ = [
    "SCHEMA_VERSION",
    "Event",
    "Run",
    "RunTable",
    "Store",
    "StoreError",
    "StoreVersionError",
    "StoreWarning",
    "default_path",
    "open_store",
    "resolve_store",
]

_stores: dict[Path, Store] = {}
_lock = threading.Lock()


def open_store(path: str | Path) -> Store:
    """The process's :class:`Store` for the file ``path`` (one per file, so one writer)."""
    key = Path(path).expanduser().absolute()
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = Store(key)
        return store


def resolve_store(store: Any = None) -> Store | None:
    """The store a run uses: ``store`` if it is a :class:`Store`; ``False`` or ``"off"``:
    none; a path: that file; ``None``: ``$NNLAB_STORE`` (``off`` or a path), else the
    default file (:func:`default_path`)."""
    if isinstance(store, Store):
        return store
    if store is False:
        return None
    if store is None or store is True:
        store = store_setting()
        if store is None:
            return open_store(default_path())
    if isinstance(store, str | Path):
        if str(store).strip().lower() in ("off", "false", "0", "no", "none"):
            return None
        return open_store(store)
    raise ValueError(
        f"store must be a path to a .sqlite file, a Store, False (keep runs in memory) or None "
        f"(the default file), got {store!r}"
    )


@atexit.register
def _close_all() -> None:
    with _lock:
        stores = list(_stores.values())
    for store in stores:
        store.close()
