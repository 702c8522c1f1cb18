"""A store that fails never stops training: locked, unwritable, corrupt and full files.
Each time the run completes in memory, one clear warning says why, and the job, the store
and the live view say the run is not saved."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import nnlab
from nnlab.events import EpochRecord
from nnlab.live.widgets import LiveView
from nnlab.observers import Observer
from nnlab.store import Store, StoreError, StoreWarning
from nnlab.training import TrainingJob


def train_recording(store: Store, epochs: int = 5, every: int | None = None) -> tuple[TrainingJob, list[str]]:
    """Train into ``store`` and commit; the store warnings raised meanwhile."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        job = nnlab.train(
            nnlab.Network([64, 30, 10], seed=0),
            epochs=epochs,
            seed=0,
            progress=False,
            store=store,
            checkpoint_every=every,
        )
        assert store.flush(120)
    return job, [str(w.message) for w in caught if issubclass(w.category, StoreWarning)]


def assert_went_on_unsaved(job: TrainingJob, messages: list[str], store: Store, reason: str) -> None:
    assert job.status == "completed"
    assert len(job.history) == job.params.epochs
    assert job.saved is False
    assert not store.healthy
    assert len(messages) == 1, messages
    message = messages[0]
    assert str(store.path) in message
    assert reason in message
    assert "training goes on" in message
    assert "NNLAB_STORE=off" in message


@pytest.fixture
def closing() -> Iterator[list[Store]]:
    stores: list[Store] = []
    yield stores
    for store in stores:
        store.close()


def test_a_locked_store(tmp_path: Path, closing: list[Store]) -> None:
    path = tmp_path / "runs.sqlite"
    ok = Store(path)
    closing.append(ok)
    train_recording(ok, epochs=1)  # the file exists, with its tables
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        store = Store(path, timeout=0.3)
        closing.append(store)
        job, messages = train_recording(store)
        assert_went_on_unsaved(job, messages, store, "database is locked")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    again, messages = train_recording(store)  # the lock is gone: the next run is saved
    assert again.saved is True
    assert store.healthy
    assert messages == []
    assert [r.job_id for r in nnlab.runs(store=path)] == [nnlab.runs(store=path)[0].job_id, again.job_id]


def test_a_folder_that_cannot_be_written(tmp_path: Path, closing: list[Store]) -> None:
    folder = tmp_path / "locked-folder"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(folder, os.W_OK):  # root ignores permissions: put a file where the folder goes
            folder = tmp_path / "a-file"
            folder.write_text("not a folder")
        store = Store(folder / "nnlab" / "runs.sqlite")
        closing.append(store)
        job, messages = train_recording(store)
        assert_went_on_unsaved(job, messages, store, "cannot save runs")
        assert not store.path.exists()
    finally:
        (tmp_path / "locked-folder").chmod(stat.S_IRWXU)


def test_a_corrupt_file(tmp_path: Path, closing: list[Store]) -> None:
    path = tmp_path / "runs.sqlite"
    path.write_bytes(b"this is not a database, whatever its name says\n" * 200)
    store = Store(path)
    closing.append(store)
    job, messages = train_recording(store)
    assert_went_on_unsaved(job, messages, store, "file is not a database")
    with pytest.raises(StoreError, match=r"cannot be read .*move it away"):
        nnlab.runs(store=store)


def test_a_full_disk(tmp_path: Path, closing: list[Store]) -> None:
    store = Store(tmp_path / "runs.sqlite", max_pages=40)  # SQLite's max_page_count: 160 kB
    closing.append(store)
    job, messages = train_recording(store, epochs=30, every=1)
    assert_went_on_unsaved(job, messages, store, "full")
    run = nnlab.run(job.job_id, store=store)
    saved = [r.epoch for r in run.history]
    assert saved == list(range(1, len(saved) + 1))  # what was committed before is intact
    assert len(saved) < 30
    assert run.status == "running"  # its end could not be written: the process still lives


class WaitUntilUnsaved(Observer):
    """Holds the end of epoch 1 until the store has given up on the run, so the live view
    learns it when epoch 2 starts."""

    def on_epoch_end(self, job: TrainingJob, record: EpochRecord) -> None:
        deadline = time.monotonic() + 120
        while record.epoch == 1 and job.saved is not False:
            assert time.monotonic() < deadline, "the store never gave up on the run"
            time.sleep(0.01)


def corrupt_store(tmp_path: Path) -> Store:
    path = tmp_path / "runs.sqlite"
    path.write_bytes(b"this is not a database, whatever its name says\n" * 200)
    return Store(path)


def test_the_live_view_and_the_job_say_a_run_is_not_saved(tmp_path: Path, closing: list[Store]) -> None:
    store = corrupt_store(tmp_path)
    closing.append(store)
    view = LiveView(display=False, stable=True)
    with pytest.warns(StoreWarning):
        job = nnlab.train(
            nnlab.Network([64, 10, 10], seed=0),
            epochs=2,
            seed=0,
            progress=False,
            store=store,
            observers=[WaitUntilUnsaved(), view],
        )
    assert view.wait(60)
    assert job.saved is False
    assert job.to_dict()["saved"] is False
    assert job.to_dict(history=False)["saved"] is False
    status = view.state.status_text(timings=False)
    assert status.startswith("Completed · 2/2 epochs · ")
    assert status.endswith(" · not saved to the run store")
    bundle = view.record()
    assert bundle["text/plain"].splitlines()[0].endswith("· not saved to the run store")
    assert "· not saved to the run store</span>" in bundle["text/html"]
    # a view that only reads the run (watch) says it too
    watched = nnlab.watch(job, display=False, stable=True)
    assert watched.wait(60)
    assert watched.state.status_text(timings=False) == status


def test_a_saved_run_and_a_run_without_store_say_nothing_of_it(tmp_path: Path, closing: list[Store]) -> None:
    store = Store(tmp_path / "runs.sqlite")
    closing.append(store)
    for where, saved in ((store, True), (False, None)):
        view = LiveView(display=False, stable=True)
        job = nnlab.train(
            nnlab.Network([64, 10, 10], seed=0),
            epochs=1,
            seed=0,
            progress=False,
            store=where,
            observers=[view],
        )
        assert view.wait(60)
        assert job.saved is saved
        assert job.to_dict()["saved"] is saved
        assert "not saved" not in view.state.status_text()
        assert all("not saved" not in text for text in view.record().values())
