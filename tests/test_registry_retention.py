"""The registry keeps full histories of the newest finished jobs only."""

from __future__ import annotations

import pytest
from recording import make_job

import nnlab
from nnlab.registry import Registry
from nnlab.training import TrainingJob


def _run(reg: Registry, epochs: int) -> TrainingJob:
    job = make_job(
        nnlab.Network([64, 10, 10], seed=0), nnlab.datasets.digits(), registry=reg, epochs=epochs, seed=0
    )
    result: TrainingJob = job.run()
    return result


def test_older_finished_jobs_keep_their_summary_and_last_epoch_only() -> None:
    reg = Registry(keep_histories=2)
    jobs = [_run(reg, epochs) for epochs in (3, 4, 5, 2)]
    assert [len(job.history) for job in jobs] == [1, 1, 5, 2]
    oldest = jobs[0]
    assert oldest.history[-1].epoch == 3
    assert oldest.latest is not None
    assert oldest.latest.epoch == 3
    summary = oldest.to_dict()
    assert summary["epochs_completed"] == 3
    assert summary["latest"]["epoch"] == 3
    assert summary["status"] == "completed"
    assert len(summary["history"]) == 1
    assert jobs[2].to_dict()["epochs_completed"] == 5
    assert reg.retention() == {"keep_histories": 2, "full_histories": 2, "trimmed": 2}
    assert reg.jobs() == jobs  # every job stays listed


def test_none_keeps_every_history() -> None:
    reg = Registry(keep_histories=None)
    jobs = [_run(reg, 2) for _ in range(3)]
    assert [len(job.history) for job in jobs] == [2, 2, 2]
    assert reg.retention() == {"keep_histories": None, "full_histories": 3, "trimmed": 0}


@pytest.mark.parametrize("bad", [-1, 1.5, True, "10"])
def test_a_bad_limit_says_what_to_pass(bad: object) -> None:
    with pytest.raises(ValueError, match="keep_histories must be an int >= 0 or None"):
        Registry(keep_histories=bad)  # type: ignore[arg-type]
