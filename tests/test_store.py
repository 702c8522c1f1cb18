"""The run store in one process: what a run leaves in the file, reading it back, resume,
deleting and pruning, exports, the schema version. Every test uses its own file."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnlab
from nnlab._sgd import dropout_generator
from nnlab.datasets import Dataset
from nnlab.events import EpochRecord
from nnlab.observers import Observer
from nnlab.params import check_params
from nnlab.registry import registry
from nnlab.store import (
    SCHEMA_VERSION,
    Store,
    StoreError,
    StoreVersionError,
    StoreWarning,
    open_store,
    resolve_store,
)
from nnlab.store import observer as store_observer
from nnlab.training import TrainingJob


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "runs.sqlite")
    yield s
    s.close()


class CancelAfter(Observer):
    """Cancels the run once ``epoch`` has ended, or in the middle of the epoch after it."""

    def __init__(self, epoch: int, *, mid_epoch: bool = False) -> None:
        self.epoch, self.mid_epoch = epoch, mid_epoch

    def on_epoch_end(self, job: TrainingJob, record: EpochRecord) -> None:
        if record.epoch == self.epoch and not self.mid_epoch:
            job.cancel()

    def on_batch_end(self, job: TrainingJob, epoch: int, batch: int, n_batches: int) -> None:
        if self.mid_epoch and epoch == self.epoch + 1:  # after its first mini-batch
            job.cancel()


def measured(history: list[EpochRecord]) -> list[dict[str, object]]:
    """A history without the timings and ids, which differ from run to run."""
    varying = ("elapsed_time", "job_id", "network_id")
    return [{k: v for k, v in r.to_dict().items() if k not in varying} for r in history]


def same_weights(a: nnlab.Network, b: nnlab.Network) -> bool:
    pairs = zip((*a.weights, *a.biases), (*b.weights, *b.biases))
    return all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in pairs)


def test_a_run_is_kept_with_its_epochs_checkpoints_and_status(store: Store) -> None:
    net = nnlab.Network([64, 20, 10], seed=0)
    job = nnlab.train(net, epochs=3, seed=5, progress=False, store=store, checkpoint_every=1)
    assert store.flush(60)
    assert job.saved is True
    assert store.healthy
    run = nnlab.run(job.job_id, store=store)
    assert (run.status, run.epochs_completed, run.total_epochs) == ("completed", 3, 3)
    assert run.parameters == job.params.to_dict()
    assert [r.to_dict() for r in run.history] == [r.to_dict() for r in job.history]
    assert run.checkpoints == [0, 1, 2, 3]
    assert same_weights(run.network(), net)
    assert run.network().network_id == net.network_id
    assert run.network().epochs_trained == 3
    first = run.network(epoch=1)
    assert first.epochs_trained == 1
    assert not same_weights(first, net)
    with pytest.raises(KeyError, match=r"checkpoints after epochs \[0, 1, 2, 3\]"):
        run.network(epoch=7)
    kinds = [e.kind for e in store.changes() if e.job_id == job.job_id]
    assert kinds[:3] == ["created", "status", "checkpoint"]
    assert kinds.count("epoch") == 3
    assert kinds[-1] == "status"
    assert store.changes()[-1].data["status"] == "completed"


def test_updates_and_changes_give_what_came_after(store: Store) -> None:
    job = nnlab.train(nnlab.Network([64, 10, 10], seed=0), epochs=4, seed=1, progress=False, store=store)
    store.flush(60)
    assert [r.epoch for r in store.updates(job.job_id, after=2)] == [3, 4]
    events = store.changes()
    middle = events[len(events) // 2].id
    assert [e.id for e in store.changes(after=middle)] == [e.id for e in events if e.id > middle]
    assert store.last_event() == events[-1].id
    assert store.changes(after=store.last_event()) == []


def test_runs_filters_by_network_status_dataset_time_and_parameters(store: Store, digits: Dataset) -> None:
    a = nnlab.Network([64, 10, 10], seed=0)
    b = nnlab.Network([64, 12, 10], seed=0)
    nnlab.train(a, digits, epochs=1, seed=0, learning_rate=1.0, progress=False, store=store)
    nnlab.train(b, digits, epochs=1, seed=0, learning_rate=3.0, progress=False, store=store)
    nnlab.train(a, digits, epochs=2, seed=0, learning_rate=3.0, progress=False, store=store)
    store.flush(60)
    assert len(nnlab.runs(store=store)) == 3
    assert [r.network_id for r in nnlab.runs(network=a, store=store)] == [a.network_id] * 2
    assert len(nnlab.runs(network=b.network_id[:8], store=store)) == 1
    assert [r.total_epochs for r in nnlab.runs(learning_rate=3.0, store=store)] == [1, 2]
    assert len(nnlab.runs(status="completed", dataset="digits", store=store)) == 3
    assert len(nnlab.runs(status="failed", store=store)) == 0
    assert len(nnlab.runs(since=timedelta(hours=1), store=store)) == 3
    assert len(nnlab.runs(until=timedelta(hours=1), store=store)) == 0
    assert len(nnlab.runs(limit=2, store=store)) == 2
    with pytest.raises(ValueError, match="status must be one of"):
        nnlab.runs(status="done", store=store)
    with pytest.raises(ValueError, match="not 'eta'"):
        nnlab.runs(eta=3.0, store=store)


def test_the_table_shows_runs_the_file_and_its_size(store: Store) -> None:
    job = nnlab.train(nnlab.Network([64, 10, 10], seed=0), epochs=2, seed=0, progress=False, store=store)
    store.flush(60)
    table = nnlab.runs(store=store)
    text, page = repr(table), table._repr_html_()
    for shown in (job.job_id[:8], "completed", "2/2", "digits", str(store.path)):
        assert shown in text
        assert shown in page
    assert "<table>" in page
    assert str(table).splitlines()[0].startswith("job")
    assert table.size == store.size > 0
    assert " kB" in text.splitlines()[-1]
    assert job.job_id[:8] in repr(table[0])
    assert "<table>" in table[0]._repr_html_()


def test_history_exports_to_csv_and_json(store: Store, tmp_path: Path) -> None:
    job = nnlab.train(nnlab.Network([64, 10, 10], seed=0), epochs=3, seed=0, progress=False, store=store)
    store.flush(60)
    run = nnlab.run(job.job_id[:8], store=store)
    rows = list(csv.DictReader(io.StringIO(run.to_csv(tmp_path / "h.csv"))))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["training_cost"]) for r in rows] == [r.training_cost for r in job.history]
    assert (tmp_path / "h.csv").read_text() == run.to_csv()
    data = json.loads(run.to_json(tmp_path / "h.json"))
    assert data["job_id"] == job.job_id
    assert data["status"] == "completed"
    assert data["history"] == [r.to_dict() for r in job.history]
    assert "pid" not in data
    assert json.loads((tmp_path / "h.json").read_text()) == data


def test_delete_and_prune_remove_runs_and_give_space_back(store: Store) -> None:
    net = nnlab.Network([64, 30, 10], seed=0)
    jobs = [nnlab.train(net, epochs=4, seed=i, progress=False, store=store) for i in range(5)]
    store.flush(60)
    full = store.size
    nnlab.run(jobs[0].job_id, store=store).delete()
    with pytest.raises(KeyError, match="no run"):
        nnlab.run(jobs[0].job_id, store=store)
    assert nnlab.runs(store=store).prune(keep_last=2) == 2
    assert [r.job_id for r in nnlab.runs(store=store)] == [j.job_id for j in jobs[3:]]
    assert store.checkpoints(jobs[1].job_id) == []
    assert store.updates(jobs[1].job_id) == []
    assert store.size < full
    assert nnlab.runs(store=store).prune(older_than=timedelta(days=1)) == 0
    assert nnlab.runs(store=store).prune(older_than=0) == 2
    with pytest.raises(ValueError, match="keep_last"):
        nnlab.runs(store=store).prune()


def test_a_running_run_cannot_be_deleted(store: Store) -> None:
    class Hold(Observer):
        def __init__(self) -> None:
            import threading

            self.started, self.go = threading.Event(), threading.Event()

        def on_epoch_end(self, job: TrainingJob, record: EpochRecord) -> None:
            self.started.set()
            self.go.wait(60)

    hold = Hold()
    job = nnlab.train(
        nnlab.Network([64, 10, 10], seed=0),
        epochs=3,
        seed=0,
        progress=False,
        store=store,
        observers=[hold],
        background=True,
    )
    try:
        assert hold.started.wait(60)
        assert store.flush(60)
        with pytest.raises(StoreError, match="still queued or running"):
            nnlab.run(job.job_id, store=store).delete()
        assert nnlab.runs(store=store).prune(keep_last=0) == 0
    finally:
        hold.go.set()
        job.wait(60)


@pytest.mark.parametrize(
    ("options", "mid_epoch"),
    [
        ({}, False),
        ({}, True),
        ({"early_stopping": 3, "lr_schedule": "halve_on_plateau", "restore_best": True}, True),
        ({"momentum": 0.5, "dropout": 0.2}, False),
        ({"momentum": 0.5, "dropout": 0.2}, True),
    ],
    ids=["between-epochs", "mid-epoch", "plateau-state", "momentum-dropout", "momentum-dropout-mid-epoch"],
)
def test_resume_after_cancel_equals_a_run_never_stopped(
    store: Store, digits: Dataset, options: dict[str, Any], mid_epoch: bool
) -> None:
    from nnlab.params import HalveOnPlateau

    if "lr_schedule" in options:
        options = {**options, "lr_schedule": HalveOnPlateau(patience=1, min_factor=1 / 64)}
    settings: dict[str, Any] = {
        "epochs": 12,
        "mini_batch_size": 10,
        "learning_rate": 3.0,
        "seed": 11,
        **options,
    }
    reference_net = nnlab.Network([64, 30, 10], seed=3)
    reference = nnlab.train(reference_net, digits, progress=False, store=False, **settings)

    net = nnlab.Network([64, 30, 10], seed=3)
    first = nnlab.train(
        net, digits, progress=False, store=store, observers=[CancelAfter(4, mid_epoch=mid_epoch)], **settings
    )
    assert first.status == "cancelled"
    assert len(first.history) == 4
    store.flush(60)
    resumed = nnlab.resume(first.job_id[:8], store=store, progress=False)
    assert resumed.job_id == first.job_id
    assert resumed.network is net
    assert resumed.status == reference.status
    assert resumed.stop_reason == reference.stop_reason
    assert measured(resumed.history) == measured(reference.history)
    assert [r.epoch for r in resumed.history] == list(range(1, len(reference.history) + 1))
    assert {r.update.total_epochs for r in resumed.history} == {12}
    assert same_weights(net, reference_net)
    assert net.epochs_trained == reference_net.epochs_trained
    assert resumed.best_epoch == reference.best_epoch
    assert resumed.learning_rate == reference.learning_rate
    store.flush(60)
    run = nnlab.run(first.job_id, store=store)
    assert run.status == reference.status
    assert measured(run.history) == measured(reference.history)
    assert same_weights(run.network(), reference_net)


def test_resume_in_a_new_process_builds_the_network_from_the_store(store: Store, digits: Dataset) -> None:
    net = nnlab.Network([64, 15, 10], seed=1)
    first = nnlab.train(
        net, digits, epochs=6, seed=2, progress=False, store=store, observers=[CancelAfter(2)]
    )
    store.flush(60)
    registry.remove_network(net.network_id)  # as if this were another kernel
    resumed = nnlab.resume(first.job_id, store=store, progress=False)
    assert resumed.network is not net
    assert resumed.network.network_id == net.network_id
    reference_net = nnlab.Network([64, 15, 10], seed=1)
    nnlab.train(reference_net, digits, epochs=6, seed=2, progress=False, store=False)
    assert same_weights(resumed.network, reference_net)


def test_only_interrupted_or_cancelled_runs_resume(store: Store) -> None:
    job = nnlab.train(nnlab.Network([64, 10, 10], seed=0), epochs=1, seed=0, progress=False, store=store)
    store.flush(60)
    with pytest.raises(StoreError, match="is completed: only an interrupted or cancelled run"):
        nnlab.resume(job.job_id, store=store)
    with pytest.raises(KeyError, match="no run"):
        nnlab.resume("ffffffff", store=store)


def test_resume_asks_for_data_it_cannot_load_by_name(store: Store, digits: Dataset) -> None:
    X, y = digits.train
    own = nnlab.datasets.from_arrays(X, y, test=0.2)
    net = nnlab.Network([64, 10, 10], seed=0)
    job = nnlab.train(net, own, epochs=4, seed=0, progress=False, store=store, observers=[CancelAfter(1)])
    store.flush(60)
    with pytest.raises(nnlab.ParameterError, match=r"resume\(job_id, data=\.\.\.\)") as caught:
        nnlab.resume(job.job_id, store=store)
    assert caught.value.field == "data"
    resumed = nnlab.resume(job.job_id, own, store=store, progress=False)
    assert resumed.status == "completed"
    assert len(resumed.history) == 4


def train_and_flush(store: Store) -> TrainingJob:
    job = nnlab.train(nnlab.Network([64, 10, 10], seed=0), epochs=2, progress=False, store=store)
    store.flush(60)
    return job


def test_a_store_of_a_newer_schema_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "newer.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreVersionError, match=r"written by a newer nnlab .*upgrade nnlab"):
        nnlab.runs(store=path)
    store = resolve_store(path)
    assert store is not None
    try:
        with pytest.warns(StoreWarning, match="newer nnlab"):
            job = train_and_flush(store)
        assert job.status == "completed"
        assert job.saved is False
        assert not store.healthy
    finally:
        store.close()


def test_the_store_is_off_with_false_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert resolve_store(False) is None
    monkeypatch.setenv("NNLAB_STORE", "off")
    assert resolve_store(None) is None
    job = nnlab.train(nnlab.Network([64, 10, 10], seed=0), epochs=1, progress=False)
    assert job.saved is None
    monkeypatch.setenv("NNLAB_STORE", str(tmp_path / "env.sqlite"))
    store = resolve_store(None)
    assert store is not None
    assert store.path == tmp_path / "env.sqlite"
    monkeypatch.delenv("NNLAB_STORE")
    monkeypatch.setenv("NNLAB_HOME", str(tmp_path / "home"))
    store = resolve_store(None)
    assert store is not None
    assert store.path == tmp_path / "home" / "runs.sqlite"
    with pytest.raises(ValueError, match="store must be a path"):
        resolve_store(3)
    with pytest.raises(StoreError, match="the run store is off"):
        nnlab.runs(store=False)


def test_an_empty_store_reads_as_no_runs(tmp_path: Path) -> None:
    table = nnlab.runs(store=tmp_path / "none.sqlite")
    assert len(table) == 0
    assert "0 runs" in repr(table)
    assert not (tmp_path / "none.sqlite").exists()


def test_by_default_a_checkpoint_is_taken_about_once_a_second(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Clock(Observer):
        """Epochs that take 0.6 s on the store's clock: a checkpoint every other epoch."""

        now = 0.0

        def monotonic(self) -> float:
            return self.now

        def time(self) -> float:
            return 1.8e9 + self.now

        def on_epoch_end(self, job: TrainingJob, record: EpochRecord) -> None:
            self.now += 0.6

    clock = Clock()
    monkeypatch.setattr(store_observer, "time", clock)
    saver = store.observer()
    net = nnlab.Network([64, 10, 10], seed=0)
    job = TrainingJob(
        net,
        nnlab.datasets.digits(),
        check_params(net, nnlab.datasets.digits(), epochs=6, seed=0),
        observers=[clock, saver],
    )
    store.watch(job, saver)
    job.run()
    store.flush(60)
    assert nnlab.run(job.job_id, store=store).checkpoints == [0, 2, 4, 6]


def test_checkpoint_every_sets_how_often_weights_are_kept(store: Store) -> None:
    job = nnlab.train(
        nnlab.Network([64, 10, 10], seed=0), epochs=7, seed=0, progress=False, store=store, checkpoint_every=3
    )
    store.flush(60)
    assert nnlab.run(job.job_id, store=store).checkpoints == [0, 3, 6, 7]
    with pytest.raises(nnlab.ParameterError, match="checkpoint_every must be a positive int"):
        nnlab.train(nnlab.Network([64, 10, 10]), epochs=1, progress=False, store=store, checkpoint_every=0)


def test_the_command_line_resumes_and_lists_runs(
    store: Store, digits: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    from nnlab.cli import main

    net = nnlab.Network([64, 10, 10], seed=0)
    job = nnlab.train(net, digits, epochs=5, seed=0, progress=False, store=store, observers=[CancelAfter(2)])
    store.flush(60)
    assert main(["resume", job.job_id[:8], "--store", str(store.path)]) == 0
    open_store(store.path).close()  # the store the command used: commit what it handed over
    out = capsys.readouterr()
    assert "completed 5/5 epochs" in out.out
    assert [line.split()[1] for line in out.out.splitlines() if line.startswith("epoch")] == [
        "3/5",
        "4/5",
        "5/5",
    ]
    assert main(["runs", "--store", str(store.path)]) == 0
    listing = capsys.readouterr().out
    assert job.job_id[:8] in listing
    assert "completed" in listing
    assert main(["resume", job.job_id, "--store", str(store.path)]) == 2
    assert "only an interrupted or cancelled run can be resumed" in capsys.readouterr().err
    assert main(["resume", "nope", "--store", str(store.path)]) == 2
    assert "no run" in capsys.readouterr().err


def test_a_run_that_just_ended_reads_as_ended(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    try:
        job = nnlab.train(nnlab.Network([64, 10, 10], seed=0), epochs=2, progress=False, store=str(path))
        (listed,) = nnlab.runs(store=path)
        assert listed.job_id == job.job_id
        assert listed.status == "completed"
        assert nnlab.run(job.job_id, store=path).epochs_completed == 2
    finally:
        open_store(path).close()


def test_a_run_is_resumed_by_one_process_only(store: Store) -> None:
    job = nnlab.train(
        nnlab.Network([64, 10, 10], seed=0), epochs=4, progress=False, store=store, observers=[CancelAfter(2)]
    )
    store.claim(job.job_id, 2)  # as another process resuming it would
    assert nnlab.run(job.job_id, store=store).status == "queued"
    with pytest.raises(StoreError, match="no longer interrupted or cancelled: another process resumed it"):
        store.claim(job.job_id, 2)
    with pytest.raises(StoreError, match="is queued"):
        nnlab.resume(job.job_id, store=store)


def test_a_checkpoint_keeps_the_engine_state_only_for_the_options_that_have_one(
    store: Store, digits: Dataset
) -> None:
    plain = nnlab.train(
        nnlab.Network([64, 10, 10], seed=0), digits, epochs=2, seed=0, progress=False, store=store
    )
    net = nnlab.Network([64, 10, 10], seed=0)
    both = nnlab.train(net, digits, epochs=2, seed=0, momentum=0.5, dropout=0.2, progress=False, store=store)
    assert store.flush(60)
    bare = store.checkpoint(plain.job_id)
    assert bare.velocities is None
    assert bare.dropout_rng_state is None
    state = store.checkpoint(both.job_id)
    assert state.velocities is not None
    assert [v.shape for v in state.velocities] == [p.shape for p in (*net.weights, *net.biases)]
    assert all(np.any(v != 0) for v in state.velocities)
    assert state.dropout_rng_state is not None
    assert state.dropout_rng_state != dropout_generator(0).bit_generator.state  # masks were drawn

    fresh = nnlab.Network([64, 10, 10], seed=0)
    job = TrainingJob(fresh, digits, check_params(fresh, digits, epochs=4, seed=0, momentum=0.5))
    misshaped = dataclasses.replace(state, velocities=[v.T for v in state.velocities])
    with pytest.raises(ValueError, match="velocities are not shaped as its weights"):
        job.resume_from(misshaped, both.history, job_id=both.job_id)
