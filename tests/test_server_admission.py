"""Bounded load over a real server: run slots, the FIFO queue, 429, cancelling queued jobs,
the bound on the networks held, and a stop that leaves nothing behind."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from server_helpers import Api, Recorder, request, train

from nnlab.network import count_parameters
from nnlab.registry import Registry
from nnlab.registry import registry as process_registry
from nnlab.server import Server
from nnlab.server.admission import DEFAULT_MAX_QUEUED_JOBS, MAX_RUNNING_ENV
from nnlab.server.api import RETRY_AFTER_SECONDS
from nnlab.server.app import create_app
from nnlab.server.cli import add_serve_command

FINISHED = ("completed", "failed", "cancelled")
#: Long enough that a run is still going when the test is done with it (it is cancelled).
LONG = {"epochs": 10_000}


class Gate:
    """Holds every run at its start until released (one job, or all); records the order
    runs started in."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self._cond = threading.Condition()
        self._released: set[str] = set()
        self._all = False

    def on_run_start(self, job: Any) -> None:
        with self._cond:
            self.started.append(job.job_id)
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._all or job.job_id in self._released, 60)

    def wait_started(self, n: int, timeout: float = 30.0) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.started) >= n, timeout), self.started

    def release(self, job_id: str | None = None) -> None:
        with self._cond:
            if job_id is None:
                self._all = True
            else:
                self._released.add(job_id)
            self._cond.notify_all()


@pytest.fixture
def gate() -> Iterator[Gate]:
    gate = Gate()
    process_registry.add_observer(gate)
    try:
        yield gate
    finally:
        gate.release()
        process_registry.remove_observer(gate)


def _workers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("nnlab-rest-worker")]


def _networks(api: Api, n: int) -> list[str]:
    return [api.create_network([64, 10, 10])["network_id"] for _ in range(n)]


def _train_all(api: Api, network_ids: list[str], body: dict[str, Any]) -> list[tuple[int, Any]]:
    """POST .../train for every network at once, from as many threads."""
    barrier = threading.Barrier(len(network_ids))

    def post(network_id: str) -> tuple[int, Any]:
        barrier.wait(10)
        return api.post(f"/api/networks/{network_id}/train", body)

    with ThreadPoolExecutor(len(network_ids)) as pool:
        return list(pool.map(post, network_ids))


def _count(api: Api, status: str, job_ids: set[str]) -> int:
    code, jobs = api.get(f"/api/jobs?status={status}")
    assert code == 200, jobs
    return sum(job["job_id"] in job_ids for job in jobs)


def _delete(api: Api, network_ids: list[str]) -> None:
    for network_id in network_ids:
        assert api.delete(f"/api/networks/{network_id}")[0] == 204


def test_twenty_requests_on_two_slots_run_two_queue_eighteen_and_finish_in_order(gate: Gate) -> None:
    with Server(port=0, max_running_jobs=2) as server:
        api = Api(server.url)
        recorder = Recorder(server.url, ["websocket"])
        try:
            networks = _networks(api, 20)
            answers = _train_all(api, networks, {"epochs": 2, "seed": 0})
            assert [code for code, _ in answers] == [202] * 20, answers
            assert {job["status"] for _, job in answers} <= {"queued", "running"}
            job_ids = [job["job_id"] for _, job in answers]
            ids = set(job_ids)
            gate.wait_started(2)
            recorder.wait_for(lambda: recorder.statuses().count("queued") == 18)
            assert _count(api, "running", ids) == 2
            assert _count(api, "queued", ids) == 18
            assert len(_workers()) == 2  # one thread per slot, none per waiting job
            # A queued job's network is claimed: nobody can train or delete it meanwhile.
            queued = next(j for j in job_ids if j not in gate.started)
            network_id = networks[job_ids.index(queued)]
            assert api.post(f"/api/networks/{network_id}/train", {})[0] == 409
            assert api.delete(f"/api/networks/{network_id}")[0] == 409
            assert api.get(f"/api/networks/{network_id}")[1]["active_job_id"] == queued

            # Let the runs end one at a time, oldest first: each end frees a slot, which
            # takes the next waiting job (and only then is the next run let go).
            for k in range(20):
                gate.release(gate.started[k])
                if k + 2 < 20:
                    gate.wait_started(k + 3)
                else:  # nothing waits any more: let the last two end one after the other
                    api.wait_job(gate.started[k])
            finished = [api.wait_job(job_id, timeout=120) for job_id in job_ids]
            assert [job["status"] for job in finished] == ["completed"] * 20
            recorder.wait_for(lambda: recorder.statuses().count("completed") == 20, 30)

            # First in, first out: the waiting jobs started in the order they were queued,
            # and all completed in the order they started.
            def order(status: str) -> list[str]:
                return [
                    data["job_id"]
                    for name, data in recorder.events
                    if name == "training_status" and data["status"] == status
                ]

            queue_order = order("queued")
            assert gate.started[2:] == queue_order
            assert sorted(gate.started) == sorted(job_ids)
            assert order("running") == gate.started
            assert order("completed") == gate.started
            for job_id in queue_order:
                assert recorder.statuses(job_id) == ["queued", "running", "completed"]
            for job_id in gate.started[:2]:
                assert recorder.statuses(job_id) == ["running", "completed"]
        finally:
            recorder.close()
        _delete(api, networks)
    assert _workers() == []


def test_a_full_queue_answers_429_with_retry_after_and_changes_nothing(gate: Gate) -> None:
    with Server(port=0, max_running_jobs=1, max_queued_jobs=3) as server:
        api = Api(server.url)
        networks = _networks(api, 5)
        jobs = [api.post(f"/api/networks/{n}/train", {"epochs": 1})[1]["job_id"] for n in networks[:4]]
        gate.wait_started(1)
        origin = {"Origin": "http://localhost:4200"}
        path = f"/api/networks/{networks[4]}/train"
        status, error, headers = request(server.url, "POST", path, {}, headers=origin)
        assert status == 429
        assert headers["content-type"].startswith("application/json")
        assert headers["retry-after"] == str(RETRY_AFTER_SECONDS)
        # A dashboard on another origin may read it.
        assert headers["access-control-allow-origin"] == "*"
        assert "retry-after" in headers["access-control-expose-headers"].lower()
        assert "max_queued_jobs=3" in error["error"]
        assert error["limit"] == 3
        assert set(error) >= {"error", "field"}
        assert api.get(f"/api/networks/{networks[4]}")[1]["active_job_id"] is None
        assert api.get(f"/api/networks/{networks[4]}/jobs")[1] == []
        gate.release()
        assert [api.wait_job(j)["status"] for j in jobs] == ["completed"] * 4
        # With the queue drained the refused request goes through.
        status, job = api.post(f"/api/networks/{networks[4]}/train", {"epochs": 1})
        assert status == 202
        assert api.wait_job(job["job_id"])["status"] == "completed"
        _delete(api, networks)


def test_the_default_queue_holds_100_jobs_and_a_stop_cancels_them_all() -> None:
    assert DEFAULT_MAX_QUEUED_JOBS == 100
    with Server(port=0, max_running_jobs=1) as server:
        assert server.max_queued_jobs == 100
        api = Api(server.url)
        networks = _networks(api, 102)
        status, first = api.post(f"/api/networks/{networks[0]}/train", LONG)
        assert status == 202
        answers = [api.post(f"/api/networks/{n}/train", {"epochs": 1}) for n in networks[1:101]]
        assert [code for code, _ in answers] == [202] * 100
        status, error, headers = request(server.url, "POST", f"/api/networks/{networks[101]}/train", {})
        assert status == 429, error
        assert "retry-after" in headers
        assert "max_queued_jobs=100" in error["error"]
        queued = {job["job_id"] for _, job in answers}
        assert _count(api, "queued", queued) == 100
        assert len(_workers()) == 1
    # Stopping the server cancels the waiting jobs (they never start) and the running one,
    # and leaves no worker behind.
    assert _workers() == []
    for _, job in answers:
        ended = process_registry.job(job["job_id"])
        assert (ended.status, ended.started_at, ended.history) == ("cancelled", None, [])
    running = process_registry.job(first["job_id"])
    assert (running.status, running.stop_reason) == ("cancelled", "cancelled")
    assert running.started_at is not None
    assert process_registry.active_jobs() == []
    for network_id in networks:
        process_registry.remove_network(network_id)


def test_a_cancelled_queued_job_never_starts_and_frees_its_network() -> None:
    with Server(port=0, max_running_jobs=1) as server:
        api = Api(server.url)
        recorder = Recorder(server.url, ["websocket"])
        try:
            busy, waiting = _networks(api, 2)
            running = api.post(f"/api/networks/{busy}/train", LONG)[1]
            status, queued = api.post(f"/api/networks/{waiting}/train", {"epochs": 3})
            assert (status, queued["status"]) == (202, "queued")
            recorder.wait_for(lambda: recorder.statuses(queued["job_id"]) == ["queued"])

            status, cancelled = api.post(f"/api/jobs/{queued['job_id']}/cancel")
            assert status == 200, cancelled
            assert (cancelled["status"], cancelled["stop_reason"]) == ("cancelled", "cancelled")
            assert (cancelled["started_at"], cancelled["epochs_completed"]) == (None, 0)
            recorder.wait_finished(queued["job_id"])
            assert recorder.statuses(queued["job_id"]) == ["queued", "cancelled"]
            assert recorder.updates(queued["job_id"]) == []
            assert api.post(f"/api/jobs/{queued['job_id']}/cancel")[0] == 409
            # Its network is free again: it can be queued anew.
            assert api.get(f"/api/networks/{waiting}")[1]["active_job_id"] is None
            status, again = api.post(f"/api/networks/{waiting}/train", {"epochs": 1})
            assert (status, again["status"]) == (202, "queued")

            assert api.post(f"/api/jobs/{running['job_id']}/cancel")[0] == 200
            assert api.wait_job(again["job_id"])["status"] == "completed"
            # The cancelled job stayed cancelled when its slot-mate ended.
            assert api.get(f"/api/jobs/{queued['job_id']}")[1]["started_at"] is None
        finally:
            recorder.close()
        _delete(api, [busy, waiting])


def test_a_run_in_a_cell_is_never_queued() -> None:
    with Server(port=0, max_running_jobs=1) as server:
        api = Api(server.url)
        (network_id,) = _networks(api, 1)
        rest = api.post(f"/api/networks/{network_id}/train", LONG)[1]
        job = train(epochs=2)  # the cell's own foreground run, while the only slot is taken
        assert job.status == "completed"
        assert api.get(f"/api/jobs/{rest['job_id']}")[1]["status"] == "running"
        assert api.post(f"/api/jobs/{rest['job_id']}/cancel")[0] == 200
        assert api.wait_job(rest["job_id"])["status"] == "cancelled"
        _delete(api, [network_id])


def test_max_running_jobs_defaults_to_the_cpus_or_the_environment(
    gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MAX_RUNNING_ENV, raising=False)
    cpus = os.cpu_count() or 1
    with Server(port=0) as server:
        assert server.max_running_jobs == cpus
        api = Api(server.url)
        networks = _networks(api, cpus + 1)
        jobs = [api.post(f"/api/networks/{n}/train", {"epochs": 1})[1]["job_id"] for n in networks]
        gate.wait_started(cpus)
        assert _count(api, "running", set(jobs)) == cpus
        assert _count(api, "queued", set(jobs)) == 1
        gate.release()
        assert [api.wait_job(j)["status"] for j in jobs] == ["completed"] * (cpus + 1)
        _delete(api, networks)
    monkeypatch.setenv(MAX_RUNNING_ENV, "3")
    assert Server(port=0).max_running_jobs == 3
    assert Server(port=0, max_running_jobs=5).max_running_jobs == 5
    monkeypatch.setenv(MAX_RUNNING_ENV, "many")
    with pytest.raises(ValueError, match=f"{MAX_RUNNING_ENV} must be a positive int.*'many'"):
        Server(port=0)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_running_jobs", 0),
        ("max_queued_jobs", -1),
        ("max_queued_jobs", 2.5),
        ("max_total_parameters", True),
    ],
)
def test_bad_limits_are_refused_naming_the_option(option: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"{option} must be a positive int"):
        Server(port=0, **{option: value})


def test_nnlab_serve_takes_the_limits() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_serve_command(parser.add_subparsers())
    args = parser.parse_args(
        ["serve", "--max-running-jobs", "2", "--max-queued-jobs", "7", "--max-total-parameters", "1000"]
    )
    assert (args.max_running_jobs, args.max_queued_jobs, args.max_total_parameters) == (2, 7, 1000)
    defaults = parser.parse_args(["serve"])
    assert (defaults.max_running_jobs, defaults.max_queued_jobs) == (None, 100)
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--max-running-jobs", "0"])


def test_the_networks_held_are_bounded() -> None:
    from server_helpers import serve_asgi

    size = count_parameters([64, 30, 10])
    app = create_app(registry=Registry(), max_total_parameters=3 * size)
    with serve_asgi(app.asgi) as url:
        api = Api(url)
        held = [api.create_network([64, 30, 10])["network_id"] for _ in range(3)]
        status, error = api.post("/api/networks", {"sizes": [64, 30, 10]})
        assert status == 413, error
        assert error["field"] == "sizes"
        assert "max_total_parameters" in error["error"]
        assert f"{3 * size:,}" in error["error"]
        assert (error["limit"], error["held"]) == (3 * size, 3 * size)
        assert len(api.get("/api/networks")[1]) == 3  # nothing was created
        # A network alone above the limit gets the same answer.
        assert api.post("/api/networks", {"sizes": [64, 200, 10]})[0] == 413
        # Deleting one makes room again.
        assert api.delete(f"/api/networks/{held[0]}")[0] == 204
        assert api.post("/api/networks", {"sizes": [64, 30, 10]})[0] == 201


def test_the_openapi_document_describes_the_limits() -> None:
    from nnlab.server.openapi import openapi_document

    paths = openapi_document()["paths"]
    train_answers = paths["/api/networks/{network_id}/train"]["post"]["responses"]
    assert "max_queued_jobs" in train_answers["429"]["description"]
    assert "Retry-After" in train_answers["429"]["headers"]
    assert "max_total_parameters" in paths["/api/networks"]["post"]["responses"]["413"]["description"]
    status_enum = openapi_document()["components"]["schemas"]["TrainingStatus"]["properties"]["status"]
    assert "queued" in status_enum["enum"]
