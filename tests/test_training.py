"""train() and TrainingJob: results, history, observers, cancel, divergence, schedules."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import ClassVar

import numpy as np
import pytest
from recording import RecordingObserver, make_job

import nnlab
from nnlab import NetworkBusyError, ObserverWarning, ParameterError, TrainingUpdate
from nnlab.observers import Observer
from nnlab.registry import Registry
from nnlab.registry import registry as process_registry

CONTRACT_FIELDS = {"job_id", "network_id", "epoch", "total_epochs", "accuracy", "elapsed_time", "progress"}


def _params(net: nnlab.Network) -> list[np.ndarray]:
    return [p.copy() for p in (*net.weights, *net.biases)]


def test_classic_setting_reaches_93_percent_on_digits_in_10_epochs(digits: nnlab.Dataset) -> None:
    net = nnlab.Network([64, 30, 10], seed=0)
    job = nnlab.train(net, digits, epochs=10, mini_batch_size=10, learning_rate=3.0, seed=0)
    assert job.status == "completed"
    assert job.history[-1].accuracy >= 0.93
    assert net.evaluate(*digits.test) == job.history[-1].correct


def test_history_holds_the_wire_update_and_the_costs(digits: nnlab.Dataset) -> None:
    net = nnlab.Network([64, 30, 10], seed=1)
    job = nnlab.train(net, digits, epochs=4, seed=1, lmbda=0.1)
    assert [r.epoch for r in job.history] == [1, 2, 3, 4]
    for record in job.history:
        wire = record.update.to_dict()
        assert set(wire) == CONTRACT_FIELDS | {"correct", "total"}
        assert wire["job_id"] == job.job_id
        assert wire["network_id"] == net.network_id
        assert wire["total_epochs"] == 4
        assert wire["progress"] == 100 * wire["epoch"] / 4
        assert wire["total"] == 300
        assert wire["accuracy"] == wire["correct"] / 300
        assert 0 < wire["elapsed_time"] < 60
        json.dumps(wire, allow_nan=False)
        assert np.isfinite(record.training_cost)
        assert np.isfinite(record.evaluation_cost)
        assert 0 <= record.validation_accuracy <= 1
        assert record.validation_cost > 0
        json.dumps(record.to_dict(), allow_nan=False)
    assert uuid.UUID(job.job_id).version == 4
    assert job.latest == job.history[-1].update
    assert job.to_dict()["parameters"]["lmbda"] == 0.1
    assert len(job.to_dict()["history"]) == 4


def test_no_evaluation_data_means_null_accuracy_and_no_counts(digits: nnlab.Dataset) -> None:
    job = nnlab.train(nnlab.Network([64, 10], seed=0), digits, epochs=2, evaluate_on=None, seed=0)
    wire = job.history[0].update.to_dict()
    assert wire["accuracy"] is None
    assert "correct" not in wire
    assert "total" not in wire
    assert set(wire) == CONTRACT_FIELDS
    train_only = nnlab.datasets.from_arrays(*digits.train, test=0)
    job = nnlab.train(nnlab.Network([64, 10], seed=0), train_only, epochs=1, seed=0)
    assert job.history[0].accuracy is None
    assert job.history[0].validation_accuracy is None


def test_same_seed_same_weights_and_history_bit_for_bit(digits: nnlab.Dataset) -> None:
    runs = []
    for _ in range(2):
        net = nnlab.Network([64, 30, 10], seed=3)
        job = nnlab.train(net, digits, epochs=3, seed=9)
        runs.append(
            (
                net,
                [
                    {
                        k: v
                        for k, v in r.to_dict().items()
                        if k not in ("job_id", "network_id", "elapsed_time")
                    }
                    for r in job.history
                ],
            )
        )
    (net_a, hist_a), (net_b, hist_b) = runs
    assert hist_a == hist_b
    for a, b in zip(_params(net_a), _params(net_b)):
        np.testing.assert_array_equal(a, b)


def test_training_again_continues_the_same_network(digits: nnlab.Dataset) -> None:
    net = nnlab.Network([64, 30, 10], seed=0)
    first = nnlab.train(net, digits, epochs=2, seed=0)
    after_first = _params(net)
    second = nnlab.train(net, digits, epochs=2, seed=0)
    assert first.job_id != second.job_id
    assert first.network_id == second.network_id
    assert net.epochs_trained == 4
    fresh = nnlab.Network([64, 30, 10], seed=0)
    nnlab.train(fresh, digits, epochs=2, seed=0)
    assert not np.array_equal(_params(net)[0], _params(fresh)[0])
    assert not np.array_equal(_params(net)[0], after_first[0])
    assert second.history[-1].training_cost < first.history[0].training_cost


def test_float32_trains_as_well(digits: nnlab.Dataset) -> None:
    net = nnlab.Network([64, 30, 10], seed=0, dtype="float32")
    job = nnlab.train(net, digits, epochs=10, seed=0)
    assert net.weights[0].dtype == np.float32
    assert job.history[-1].accuracy >= 0.9


def test_observers_see_every_hook_in_order(digits: nnlab.Dataset) -> None:
    seen = RecordingObserver()
    job = nnlab.train(nnlab.Network([64, 30, 10], seed=0), digits, epochs=2, seed=0, observers=[seen])
    hooks = seen.hooks()
    assert hooks[0] == "on_run_start"
    assert hooks[-1] == "on_run_end"
    assert seen.statuses == ["running", "completed"]
    epochs = [c for c in seen.calls if c[0] in ("on_epoch_start", "on_epoch_end")]
    assert [c[0] for c in epochs] == ["on_epoch_start", "on_epoch_end"] * 2
    assert [c[1].update for c in seen.calls if c[0] == "on_epoch_end"] == [r.update for r in job.history]
    batches = [c for c in seen.calls if c[0] == "on_batch_end"]
    n_batches = job.n_batches
    assert n_batches == 130
    # every epoch reports its last mini-batch; reports are throttled, never more than the batches
    for epoch in (1, 2):
        reports = [c for c in batches if c[1] == epoch]
        assert reports[-1] == ("on_batch_end", epoch, n_batches, n_batches)
        assert len(reports) <= n_batches
        assert [r[2] for r in reports] == sorted(r[2] for r in reports)


def test_a_failing_observer_is_reported_once_and_training_goes_on(digits: nnlab.Dataset) -> None:
    class Broken(Observer):
        calls = 0

        def on_epoch_end(self, job: object, record: object) -> None:
            Broken.calls += 1
            raise RuntimeError("plot backend missing")

    with pytest.warns(ObserverWarning, match="plot backend missing") as warned:
        job = nnlab.train(nnlab.Network([64, 10], seed=0), digits, epochs=3, seed=0, observers=[Broken()])
    assert len([w for w in warned if issubclass(w.category, ObserverWarning)]) == 1
    assert Broken.calls == 3
    assert job.status == "completed"
    assert len(job.history) == 3


class _SlowObserver(Observer):
    """Sleeps in every mini-batch report, so a run lasts long enough to act on."""

    def __init__(self, delay: float = 0.005) -> None:
        self.delay = delay

    def on_batch_end(self, job: object, epoch: int, batch: int, n_batches: int) -> None:
        time.sleep(self.delay)


def test_cancel_from_another_thread_stops_at_the_next_mini_batch(digits: nnlab.Dataset) -> None:
    net = nnlab.Network([64, 30, 10], seed=0)
    seen = RecordingObserver()
    job = make_job(net, digits, epochs=1000, seed=0, observers=[_SlowObserver(), seen])
    runner = threading.Thread(target=job.run)
    runner.start()
    while len(job.history) < 2:
        time.sleep(0.005)
    job.cancel()
    runner.join(timeout=30)
    assert not runner.is_alive()
    assert job.status == "cancelled"
    assert job.stop_reason == "cancelled"
    assert 2 <= len(job.history) < 1000
    assert seen.statuses[-1] == "cancelled"
    # the network is free again and kept its training
    assert nnlab.train(net, digits, epochs=1, seed=0).status == "completed"


def test_ctrl_c_cancels_keeps_history_and_reraises(digits: nnlab.Dataset) -> None:
    class CtrlC(Observer):
        def on_batch_end(self, job: object, epoch: int, batch: int, n_batches: int) -> None:
            if epoch == 3:
                raise KeyboardInterrupt

    net = nnlab.Network([64, 30, 10], seed=0)
    job = make_job(net, digits, epochs=10, seed=0, observers=[CtrlC()])
    with pytest.raises(KeyboardInterrupt):
        job.run()
    assert job.status == "cancelled"
    assert job.stop_reason == "interrupted"
    assert len(job.history) == 2
    assert job.done
    assert job.wait(0)
    assert process_registry.active_job(net.network_id) is None


def test_divergence_fails_with_the_epoch_and_keeps_the_last_finite_weights(digits: nnlab.Dataset) -> None:
    net = nnlab.Network([64, 30, 10], seed=0)
    before = _params(net)
    job = nnlab.train(net, digits, epochs=5, learning_rate=1e200, seed=0)
    assert job.status == "failed"
    assert job.stop_reason == "diverged"
    assert "diverged in epoch 1" in job.error
    assert "smaller learning_rate" in job.error
    assert job.history == []
    for a, b in zip(before, _params(net)):
        np.testing.assert_array_equal(a, b)


def test_divergence_in_a_later_epoch_restores_the_previous_epoch(digits: nnlab.Dataset) -> None:
    saved: list[np.ndarray] = []

    class Poison(Observer):
        def on_epoch_start(self, job: nnlab.TrainingJob, epoch: int) -> None:
            if epoch == 3:
                saved.extend(_params(job.network))
                job.network.weights[0][0, 0] = np.nan

    net = nnlab.Network([64, 30, 10], seed=0)
    job = nnlab.train(net, digits, epochs=5, seed=0, observers=[Poison()])
    assert job.status == "failed"
    assert "epoch 3" in job.error
    assert "end of epoch 2" in job.error
    assert len(job.history) == 2
    assert net.epochs_trained == 2
    for a, b in zip(saved, _params(net)):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_stops_after_n_epochs_without_improvement(digits: nnlab.Dataset) -> None:
    # a learning rate this small leaves the validation accuracy where it started
    job = nnlab.train(
        nnlab.Network([64, 30, 10], seed=0), digits, epochs=50, learning_rate=1e-9, early_stopping=2, seed=0
    )
    assert job.status == "completed"
    assert job.stop_reason == "early_stopping"
    assert len(job.history) == 3


def test_halving_the_learning_rate_on_plateaus(digits: nnlab.Dataset) -> None:
    schedule = nnlab.HalveOnPlateau(patience=1, min_factor=1 / 4)
    job = nnlab.train(
        nnlab.Network([64, 30, 10], seed=0),
        digits,
        epochs=50,
        learning_rate=1e-9,
        lr_schedule=schedule,
        seed=0,
    )
    assert [r.learning_rate for r in job.history] == [1e-9, 1e-9, 5e-10, 2.5e-10]
    assert job.stop_reason == "learning_rate_schedule"
    assert job.status == "completed"
    default = nnlab.train(
        nnlab.Network([64, 10], seed=0), digits, epochs=1, lr_schedule="halve_on_plateau", seed=0
    )
    assert default.params.lr_schedule == nnlab.HalveOnPlateau(patience=10, min_factor=1 / 128)


def test_a_busy_network_cannot_be_trained_twice(digits: nnlab.Dataset) -> None:
    net = nnlab.Network([64, 30, 10], seed=0)
    job = nnlab.train(net, digits, epochs=1000, seed=0, observers=[_SlowObserver()], background=True)
    try:
        with pytest.raises(NetworkBusyError, match=f"already being trained by job {job.job_id}"):
            nnlab.train(net, digits, epochs=1)
        with pytest.raises(NetworkBusyError):
            process_registry.remove_network(net.network_id)
        assert process_registry.active_job(net.network_id) is job
    finally:
        job.cancel()
        assert job.wait(30)
    assert job.status == "cancelled"
    assert nnlab.train(net, digits, epochs=1).status == "completed"


def test_background_training_returns_at_once_and_can_be_waited_for(digits: nnlab.Dataset) -> None:
    job = nnlab.train(nnlab.Network([64, 30, 10], seed=0), digits, epochs=3, seed=0, background=True)
    assert job.status in ("queued", "running", "completed")
    assert job.wait(60)
    assert job.status == "completed"
    assert len(job.history) == 3
    assert process_registry.job(job.job_id) is job
    assert job in process_registry.jobs(job.network_id)


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"epochs": 0}, "epochs", "positive int"),
        ({"epochs": 2.5}, "epochs", "positive int"),
        ({"epochs": True}, "epochs", "positive int"),
        ({"epochs": "10"}, "epochs", "positive int"),
        ({"epochs": 10**9}, "epochs", "at most 10,000"),
        ({"mini_batch_size": 0}, "mini_batch_size", "positive int"),
        ({"mini_batch_size": 5000}, "mini_batch_size", "larger than the training set"),
        ({"learning_rate": 0}, "learning_rate", "positive finite number"),
        ({"learning_rate": -3.0}, "learning_rate", "positive finite number"),
        ({"learning_rate": float("nan")}, "learning_rate", "positive finite number"),
        ({"learning_rate": float("inf")}, "learning_rate", "positive finite number"),
        ({"lmbda": -1}, "lmbda", "non-negative"),
        ({"seed": -1}, "seed", "non-negative int"),
        ({"evaluate_on": "train"}, "evaluate_on", "'test', 'validation' or None"),
        ({"early_stopping": 0}, "early_stopping", "positive int"),
        ({"lr_schedule": "cosine"}, "lr_schedule", "halve_on_plateau"),
        ({"data": "cifar"}, None, "unknown dataset"),
    ],
)
def test_bad_parameters_name_the_field(
    digits: nnlab.Dataset, kwargs: dict, field: str | None, message: str
) -> None:
    args = {"data": digits, **kwargs}
    with pytest.raises(ValueError, match=message) as info:
        nnlab.train(nnlab.Network([64, 30, 10]), **args)
    if field is not None:
        assert isinstance(info.value, ParameterError)
        assert info.value.field == field


def test_data_that_does_not_fit_the_network_is_explained(digits: nnlab.Dataset) -> None:
    with pytest.raises(ParameterError, match=r"takes 784 inputs.*64 features.*Network\(\[64, \.\.\., 10\]\)"):
        nnlab.train(nnlab.Network([784, 30, 10]), digits)
    with pytest.raises(ParameterError, match="10 classes but the network only 5 outputs"):
        nnlab.train(nnlab.Network([64, 30, 5]), digits)
    no_validation = nnlab.datasets.from_arrays(*digits.train)
    with pytest.raises(ParameterError, match="no validation split") as info:
        nnlab.train(nnlab.Network([64, 10]), no_validation, early_stopping=3)
    assert info.value.field == "early_stopping"


def test_default_data_is_the_bundled_digits() -> None:
    job = nnlab.train(nnlab.Network([64, 10], seed=0), epochs=1, seed=0)
    assert job.params.dataset == "digits"
    assert job.history[0].total == 300


def test_training_update_rejects_what_the_wire_cannot_carry() -> None:
    with pytest.raises(ValueError, match="finite"):
        TrainingUpdate("j", "n", 1, 2, float("nan"), 0.1, 50.0)
    with pytest.raises(ValueError, match=r"1\.\.2"):
        TrainingUpdate("j", "n", 0, 2, None, 0.1, 0.0)
    with pytest.raises(ValueError, match="together"):
        TrainingUpdate("j", "n", 1, 2, 0.5, 0.1, 50.0, correct=1)
    update = TrainingUpdate.for_epoch("j", "n", 3, 4, 0.25, correct=0, total=0)
    assert update.to_dict() == {
        "job_id": "j",
        "network_id": "n",
        "epoch": 3,
        "total_epochs": 4,
        "accuracy": None,
        "elapsed_time": 0.25,
        "progress": 75.0,
    }


def test_repr_tells_the_state(digits: nnlab.Dataset) -> None:
    job = nnlab.train(nnlab.Network([64, 30, 10], seed=0), digits, epochs=2, seed=0)
    assert (
        repr(job) == f"<TrainingJob {job.job_id[:8]} · epoch 2/2 · "
        f"accuracy {100 * job.history[-1].accuracy:.2f}% · completed>"
    )


def test_cancel_takes_effect_before_the_next_mini_batch(digits: nnlab.Dataset) -> None:
    class CancelAtBatch5(_SlowObserver):
        def on_batch_end(self, job: nnlab.TrainingJob, epoch: int, batch: int, n_batches: int) -> None:
            super().on_batch_end(job, epoch, batch, n_batches)  # slow enough that every batch reports
            if (epoch, batch) == (2, 5):
                job.cancel()

    net = nnlab.Network([64, 30, 10], seed=0)
    job = nnlab.train(net, digits, epochs=5, seed=0, observers=[CancelAtBatch5(delay=0.025)])
    assert job.status == "cancelled"
    assert (job.current_epoch, job.batches_done) == (2, 5)
    assert len(job.history) == 1
    assert net.epochs_trained == 1


def test_an_observer_added_to_the_registry_mid_run_sees_the_rest_of_it(digits: nnlab.Dataset) -> None:
    """A server started while a cell trains mirrors that run from the next epoch on."""
    registry = Registry()
    job = make_job(
        nnlab.Network([64, 30, 10], seed=0),
        digits,
        epochs=8,
        seed=0,
        observers=[_SlowObserver(delay=0.01)],
        registry=registry,
    )
    job.start()
    while len(job.history) < 2 and not job.done:
        time.sleep(0.005)
    late = RecordingObserver()
    registry.add_observer(late)
    assert job.wait(60)
    seen_epochs = [c[1].epoch for c in late.calls if c[0] == "on_epoch_end"]
    assert seen_epochs
    assert seen_epochs == list(range(seen_epochs[0], 9))
    assert seen_epochs[0] >= 3
    assert "on_run_start" not in late.hooks()
    assert late.hooks()[-1] == "on_run_end"
    assert late.statuses == ["completed"]


def _weights(net: nnlab.Network) -> list[np.ndarray]:
    return [p.copy() for p in (*net.weights, *net.biases)]


def test_cancel_mid_epoch_restores_the_last_finished_epoch_bit_for_bit(digits: nnlab.Dataset) -> None:
    """A run cancelled in epoch k+1 holds exactly the weights an uninterrupted run had after k."""
    k = 3

    class CancelMidEpoch(Observer):
        def on_batch_end(self, job: nnlab.TrainingJob, epoch: int, batch: int, n_batches: int) -> None:
            if epoch == k + 1 and batch >= 3:
                job.cancel()

    class SnapshotAfter(Observer):
        weights: ClassVar[list[np.ndarray]] = []

        def on_epoch_end(self, job: nnlab.TrainingJob, record: nnlab.EpochRecord) -> None:
            if record.epoch == k:
                SnapshotAfter.weights = _weights(job.network)

    reference = nnlab.Network([64, 30, 10], seed=4)
    nnlab.train(reference, digits, epochs=k + 2, seed=9, progress=False, observers=[SnapshotAfter()])
    net = nnlab.Network([64, 30, 10], seed=4)
    job = nnlab.train(
        net, digits, epochs=k + 2, seed=9, progress=False, observers=[_SlowObserver(0.025), CancelMidEpoch()]
    )
    assert (job.status, job.current_epoch, len(job.history)) == ("cancelled", k + 1, k)
    assert job.batches_done < job.n_batches  # it really stopped inside epoch k+1
    for kept, expected in zip(_weights(net), SnapshotAfter.weights):
        assert np.array_equal(kept, expected)
    assert net.epochs_trained == k
    # training again goes on from that clean boundary
    assert nnlab.train(net, digits, epochs=1, seed=0, progress=False).status == "completed"


def test_ctrl_c_also_restores_the_last_finished_epoch_and_last_job_finds_the_run(
    digits: nnlab.Dataset,
) -> None:
    class CtrlCInEpoch2(Observer):
        def on_batch_end(self, job: nnlab.TrainingJob, epoch: int, batch: int, n_batches: int) -> None:
            if epoch == 2 and batch > 1:
                raise KeyboardInterrupt

    class AfterEpoch1(Observer):
        weights: ClassVar[list[np.ndarray]] = []

        def on_epoch_end(self, job: nnlab.TrainingJob, record: nnlab.EpochRecord) -> None:
            AfterEpoch1.weights = _weights(job.network)

    net = nnlab.Network([64, 30, 10], seed=0)
    with pytest.raises(KeyboardInterrupt):
        nnlab.train(
            net,
            digits,
            epochs=5,
            seed=0,
            progress=False,
            observers=[_SlowObserver(0.025), CtrlCInEpoch2(), AfterEpoch1()],
        )
    job = nnlab.last_job()  # `job = train(...)` never assigned it
    assert job is not None
    assert job.network is net
    assert (job.status, job.stop_reason, len(job.history)) == ("cancelled", "interrupted", 1)
    for kept, expected in zip(_weights(net), AfterEpoch1.weights):
        assert np.array_equal(kept, expected)
    assert job in nnlab.jobs()
    assert net in nnlab.networks()


def test_restore_best_keeps_the_best_validation_epoch(digits: nnlab.Dataset) -> None:
    class Snapshots(Observer):
        def __init__(self) -> None:
            self.by_epoch: dict[int, list[np.ndarray]] = {}

        def on_epoch_end(self, job: nnlab.TrainingJob, record: nnlab.EpochRecord) -> None:
            self.by_epoch[record.epoch] = _weights(job.network)

    seen = Snapshots()
    net = nnlab.Network([64, 30, 10], seed=1)
    # with this seed validation accuracy peaks at epoch 6 of 12
    job = nnlab.train(
        net, digits, epochs=12, learning_rate=3.0, seed=0, progress=False, restore_best=True, observers=[seen]
    )
    accuracies = [r.validation_accuracy for r in job.history]
    best_epoch = 1 + accuracies.index(max(accuracies))
    assert job.best_epoch == best_epoch
    assert best_epoch != len(job.history), "the test needs a run whose best epoch is not its last"
    for kept, expected in zip(_weights(net), seen.by_epoch[best_epoch]):
        assert np.array_equal(kept, expected)
    assert job.params.to_dict()["restore_best"] is True
    # without it the network keeps the last epoch
    plain = nnlab.Network([64, 30, 10], seed=1)
    nnlab.train(plain, digits, epochs=12, learning_rate=3.0, seed=0, progress=False)
    for kept, expected in zip(_weights(plain), seen.by_epoch[12]):
        assert np.array_equal(kept, expected)


def test_restore_best_needs_a_validation_split() -> None:
    X = np.random.default_rng(0).random((50, 4))
    data = nnlab.datasets.from_arrays(X, np.arange(50) % 2, test=0.2)
    with pytest.raises(ParameterError, match="restore_best watches validation accuracy") as info:
        nnlab.train(nnlab.Network([4, 3, 2], seed=0), data, epochs=1, restore_best=True, progress=False)
    assert info.value.field == "restore_best"


def test_epochs_before_counts_the_networks_earlier_training(digits: nnlab.Dataset) -> None:
    net = nnlab.Network([64, 10, 10], seed=0)
    first = nnlab.train(net, digits, epochs=2, seed=0, progress=False)
    second = nnlab.train(net, digits, epochs=3, seed=0, progress=False)
    assert (first.epochs_before, second.epochs_before, net.epochs_trained) == (0, 2, 5)
    assert [r.epoch for r in second.history] == [1, 2, 3]  # the wire's epoch stays per job


def test_nobody_listening_to_batches_means_no_batch_reports(digits: nnlab.Dataset) -> None:
    from nnlab.notify import Notifier

    class EpochsOnly(Observer):
        def on_epoch_end(self, job: nnlab.TrainingJob, record: nnlab.EpochRecord) -> None:
            pass

    registry = Registry()
    notifier = Notifier([EpochsOnly()], registry.observers)
    assert notifier.wants("on_epoch_end")
    assert not notifier.wants("on_batch_end")  # the base class's no-op does not count
    late = RecordingObserver()
    registry.add_observer(late)  # a process observer added later is seen at once
    assert notifier.wants("on_batch_end")
    job = make_job(nnlab.Network([64, 10, 10], seed=0), digits, epochs=1, seed=0, observers=[EpochsOnly()])
    job.run()
    assert job.batches_done == job.n_batches


def test_a_run_stuck_at_chance_gets_a_hint_in_the_job_the_text_and_the_record(
    digits: nnlab.Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    from nnlab.live.record import record_bundle
    from nnlab.live.state import LiveState

    # eta = 100 saturates every output: the run "completes" at chance level
    job = nnlab.train(
        nnlab.Network([64, 30, 10], seed=0), digits, epochs=4, learning_rate=100.0, seed=0, progress="text"
    )
    assert job.status == "completed"
    assert max(r.accuracy or 0 for r in job.history) < 0.2
    assert job.hints
    assert "learning_rate" in job.hints[0]
    assert "3" in job.hints[0]  # a useful value to try (3.0), not 1e+01
    assert f"hint: {job.hints[0]}" in capsys.readouterr().out
    state = LiveState.for_job(job)
    state.sync(job, now=0.0)
    bundle = record_bundle(state, 0.0, timings=False)
    assert f"hint: {job.hints[0]}" in bundle["text/plain"]
    assert "hint:" in bundle["text/html"]
    # a healthy run has none
    assert (
        nnlab.train(nnlab.Network([64, 30, 10], seed=0), digits, epochs=3, seed=0, progress=False).hints == []
    )


def test_divergence_advice_names_a_useful_learning_rate(digits: nnlab.Dataset) -> None:
    job = nnlab.train(
        nnlab.Network([64, 30, 10], seed=0), digits, epochs=2, learning_rate=1e300, progress=False
    )
    assert job.status == "failed"
    assert "e.g. 3)" in (job.error or "")
    assert "1e+299" not in (job.error or "")
