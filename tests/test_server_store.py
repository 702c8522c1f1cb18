"""The server and the run store, with real processes: a server started after a run's
process was killed answers for it and resumes it; ``nnlab serve --store`` mirrors the runs
other processes write to the store."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from recording import wait_for
from server_helpers import Api, Recorder, check_update

from nnlab.registry import Registry
from nnlab.server import Server
from nnlab.store import Store

#: A training process: ``python -c CHILD path seed epochs delay``; prints its job id when done.
CHILD = """
import sys, time
import nnlab
from nnlab.observers import Observer

path, seed, epochs, delay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])

class Slow(Observer):
    def on_epoch_end(self, job, record):
        time.sleep(delay)

job = nnlab.train(nnlab.Network([64, 10, 10], seed=seed), epochs=epochs, seed=seed, progress=False,
                  store=path, observers=[Slow()], checkpoint_every=1)
print(job.job_id, job.status, flush=True)
"""


def child(path: Path, seed: int, epochs: int, delay: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(seed), str(epochs), str(delay)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def killed_run(path: Path, processes: list[subprocess.Popen[str]], epochs: int = 3) -> tuple[str, int]:
    """A run of 20 epochs SIGKILLed once ``epochs`` are in the store: (job id, epochs kept)."""
    proc = child(path, seed=5, epochs=20, delay=0.3)
    processes.append(proc)
    reader = Store(path)
    try:
        wait_for(lambda: reader.exists() and any(s["epochs_completed"] >= epochs for s in reader.summaries()))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        (summary,) = reader.summaries()
        return summary["job_id"], len(reader.updates(summary["job_id"]))
    finally:
        reader.close()


@pytest.fixture
def server_on(tmp_path: Path) -> Iterator[list[Server]]:
    servers: list[Server] = []
    yield servers
    for server in servers:
        server.stop()


def test_a_server_started_after_a_kill_answers_for_the_run_and_resumes_it(
    tmp_path: Path, processes: list[subprocess.Popen[str]], server_on: list[Server]
) -> None:
    path = tmp_path / "runs.sqlite"
    job_id, kept = killed_run(path, processes)
    server = Server(port=0, store=path, registry=Registry()).start()
    server_on.append(server)
    api = Api(server.url)

    status, job = api.get(f"/api/jobs/{job_id}")
    assert status == 200, job
    assert job["status"] == "interrupted"
    assert job["stop_reason"] == "interrupted"
    assert job["epochs_completed"] == kept >= 3
    assert job["total_epochs"] == 20
    assert [r["epoch"] for r in job["history"]] == list(range(1, kept + 1))
    assert job["latest"]["epoch"] == kept
    check_update(job["latest"])

    status, jobs = api.get("/api/jobs?status=interrupted")
    assert status == 200
    assert [j["job_id"] for j in jobs] == [job_id]
    assert "history" not in jobs[0]
    assert jobs[0]["latest"] == job["latest"]
    status, networks = api.get("/api/networks")
    assert status == 200
    assert networks[0]["job_ids"] == [job_id]
    assert networks[0]["network_id"] == job["network_id"]
    assert networks[0]["active_job_id"] is None

    status, updates = api.get(f"/api/jobs/{job_id}/updates?after=1")
    assert status == 200
    assert [u["epoch"] for u in updates] == list(range(2, kept + 1))
    for update in updates:
        check_update(update)
    assert updates == [{k: r[k] for k in u} for r, u in zip(job["history"][1:], updates)]
    assert api.get(f"/api/jobs/{job_id}/updates?after={kept}") == (200, [])
    status, error = api.get(f"/api/jobs/{job_id}/updates?after=-1")
    assert status == 422
    assert error["field"] == "after"
    status, error = api.get(f"/api/jobs/{job_id}/updates?after=two")
    assert status == 422
    assert error["field"] == "after"
    status, error = api.get("/api/jobs/no-such-job/updates")
    assert status == 404
    assert error["field"] == "job_id"

    # resumed through the server's queue, as the same job, on from the last checkpoint
    status, resumed = api.post(f"/api/jobs/{job_id}/resume")
    assert status == 202, resumed
    assert resumed["job_id"] == job_id
    assert resumed["epochs_completed"] == kept
    done = api.wait_job(job_id, timeout=120)
    assert done["status"] == "completed"
    assert [r["epoch"] for r in done["history"]] == list(range(1, 21))
    status, error = api.post(f"/api/jobs/{job_id}/resume")
    assert status == 409
    assert error["field"] == "job_id"
    assert "has already ended (completed)" in error["error"]

    # another server on the same file sees the resumed run as completed
    server.stop()
    again = Server(port=0, store=path, registry=Registry()).start()
    server_on.append(again)
    status, job = Api(again.url).get(f"/api/jobs/{job_id}?history=false")
    assert status == 200
    assert job["status"] == "completed"
    assert job["epochs_completed"] == 20


def test_resume_refuses_what_cannot_be_resumed(tmp_path: Path, server_on: list[Server]) -> None:
    server = Server(port=0, store=False, registry=Registry()).start()
    server_on.append(server)
    api = Api(server.url)
    net = api.create_network([64, 10, 10])
    status, job = api.post(f"/api/networks/{net['network_id']}/train", {"epochs": 1, "seed": 0})
    assert status == 202
    api.wait_job(job["job_id"])
    status, error = api.post(f"/api/jobs/{job['job_id']}/resume")
    assert status == 409
    assert error["field"] == "job_id"
    assert error["job_status"] == "completed"
    assert "has already ended (completed)" in error["error"]
    # a cancelled run resumes from its checkpoint, which needs the store this server lacks
    status, job = api.post(f"/api/networks/{net['network_id']}/train", {"epochs": 10_000, "seed": 0})
    assert status == 202
    assert api.post(f"/api/jobs/{job['job_id']}/cancel")[0] == 200
    assert api.wait_job(job["job_id"])["status"] == "cancelled"
    status, error = api.post(f"/api/jobs/{job['job_id']}/resume")
    assert status == 409
    assert error["job_status"] == "cancelled"
    assert "needs the run store" in error["error"]
    assert api.post("/api/jobs/unknown/resume")[0] == 404
    status, health = api.get("/api/health")
    assert status == 200
    assert health["store"] is None


def test_rest_runs_are_saved_and_health_shows_the_store(tmp_path: Path, server_on: list[Server]) -> None:
    path = tmp_path / "rest.sqlite"
    server = Server(port=0, store=path, registry=Registry()).start()
    server_on.append(server)
    api = Api(server.url)
    status, health = api.get("/api/health")
    assert status == 200
    assert health["store"] == {"path": str(path), "saving": True, "failure": None}
    assert str(path) in server.store_line()
    net = api.create_network([64, 10, 10])
    status, job = api.post(f"/api/networks/{net['network_id']}/train", {"epochs": 3, "seed": 0})
    assert status == 202
    done = api.wait_job(job["job_id"])
    reader = Store(path)
    try:
        wait_for(lambda: reader.exists() and reader.summary(job["job_id"])["status"] == "completed")
        stored = [r.to_dict() for r in reader.updates(job["job_id"])]
        assert [r["epoch"] for r in stored] == [1, 2, 3]
        assert [r["accuracy"] for r in stored] == [r["accuracy"] for r in done["history"]]
    finally:
        reader.close()
    # the registry's job, not a second copy from the store
    status, jobs = api.get("/api/jobs")
    assert status == 200
    assert [j["job_id"] for j in jobs] == [job["job_id"]]
    status, updates = api.get(f"/api/jobs/{job['job_id']}/updates?after=2")
    assert status == 200
    assert [u["epoch"] for u in updates] == [3]


def serve_process(path: Path) -> tuple[subprocess.Popen[str], str]:
    """``nnlab serve --store path --port 0`` as a real process, and its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnlab", "serve", "--port", "0", "--store", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NNLAB_STORE": "off"},
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("press Ctrl-C"):
            break
    banner = "".join(lines)
    match = re.search(r"nnlab server on (http://127\.0\.0\.1:\d+)", banner)
    assert match, banner
    assert f"runs: {path}" in banner, banner
    return proc, match.group(1)


def test_nnlab_serve_mirrors_the_runs_of_two_other_processes(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    path = tmp_path / "shared.sqlite"
    server, url = serve_process(path)
    processes.append(server)
    recorder = Recorder(url, ["websocket"])
    try:
        status, health = Api(url).get("/api/health")
        assert status == 200
        assert health["store"]["path"] == str(path)
        epochs = 25
        trainers = [child(path, seed, epochs, 0.02) for seed in (1, 2)]
        processes.extend(trainers)
        ids = []
        for proc in trainers:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            ids.append(out.split()[0])

        def all_there() -> bool:
            return all(
                [u["epoch"] for u in recorder.updates(i)] == list(range(1, epochs + 1))
                and "completed" in recorder.statuses(i)
                for i in ids
            )

        recorder.wait_for(all_there, timeout=30)
        for job_id in ids:
            for update in recorder.updates(job_id):
                check_update(update)
            assert recorder.statuses(job_id)[0] in ("queued", "running")
            assert recorder.statuses(job_id)[-1] == "completed"
        status, jobs = Api(url).get("/api/jobs")
        assert status == 200
        assert sorted(j["job_id"] for j in jobs) == sorted(ids)
    finally:
        recorder.close()
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=30)
    assert server.returncode == 0
    assert "stopped" in out


def test_serve_store_options(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nnlab", "serve", "--store", "a.sqlite", "--no-store"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--no-store" in proc.stderr
    off = Server(port=0, store=False)
    assert off.store is None
    assert "off" in off.store_line()
    picked = Server(port=0, store=tmp_path / "x.sqlite")
    assert picked.store is not None
    assert picked.store.path == tmp_path / "x.sqlite"


def test_a_server_started_mid_run_welcomes_clients_with_another_process_run(
    tmp_path: Path, processes: list[subprocess.Popen[str]], server_on: list[Server]
) -> None:
    path = tmp_path / "mid.sqlite"
    proc = child(path, seed=4, epochs=30, delay=0.1)
    processes.append(proc)
    reader = Store(path)
    try:
        wait_for(lambda: reader.exists() and any(s["epochs_completed"] >= 3 for s in reader.summaries()))
        (summary,) = reader.summaries()
    finally:
        reader.close()
    job_id = summary["job_id"]
    server = Server(port=0, store=path, registry=Registry()).start()
    server_on.append(server)
    recorder = Recorder(server.url, ["websocket"])
    try:
        recorder.wait_for(lambda: "completed" in recorder.statuses(job_id), timeout=120)
        epochs = [u["epoch"] for u in recorder.updates(job_id)]
        # the run's latest epoch at once, then every later one, none twice
        assert epochs[0] >= 3
        assert epochs == list(range(epochs[0], 31))
        assert recorder.statuses(job_id)[0] == "running"
        assert recorder.statuses(job_id)[-1] == "completed"
        status, job = Api(server.url).get(f"/api/jobs/{job_id}?history=false")
        assert status == 200
        assert job["status"] == "completed"
    finally:
        recorder.close()


def test_a_cancelled_rest_job_resumes_from_the_store(tmp_path: Path, server_on: list[Server]) -> None:
    server = Server(port=0, store=tmp_path / "cancel.sqlite", registry=Registry()).start()
    server_on.append(server)
    api = Api(server.url)
    net = api.create_network([64, 10, 10])
    status, job = api.post(f"/api/networks/{net['network_id']}/train", {"epochs": 5_000, "seed": 0})
    assert status == 202
    job_id = job["job_id"]

    def done() -> int:
        return int(api.get(f"/api/jobs/{job_id}?history=false")[1]["epochs_completed"])

    wait_for(lambda: done() >= 2)
    assert api.post(f"/api/jobs/{job_id}/cancel")[0] == 200
    cancelled = api.wait_job(job_id)
    assert cancelled["status"] == "cancelled"
    status, resumed = api.post(f"/api/jobs/{job_id}/resume")
    assert status == 202, resumed
    assert resumed["job_id"] == job_id
    assert resumed["status"] in ("queued", "running")
    # it goes on from its checkpoint: the epochs it had are kept, new ones follow
    wait_for(lambda: done() > cancelled["epochs_completed"])
    assert api.post(f"/api/jobs/{job_id}/cancel")[0] == 200
    again = api.wait_job(job_id)
    epochs = [r["epoch"] for r in again["history"]]
    assert epochs == list(range(1, len(epochs) + 1))
    assert len(epochs) > cancelled["epochs_completed"]


def test_health_says_when_runs_are_not_being_saved(tmp_path: Path, server_on: list[Server]) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    server = Server(port=0, store=blocker / "runs.sqlite", registry=Registry()).start()
    server_on.append(server)
    api = Api(server.url)
    assert api.get("/api/health")[1]["store"]["saving"] is True  # nothing written yet
    net = api.create_network([64, 10, 10])
    status, job = api.post(f"/api/networks/{net['network_id']}/train", {"epochs": 2, "seed": 0})
    assert status == 202
    assert api.wait_job(job["job_id"])["status"] == "completed"  # training never waits for the store
    wait_for(lambda: api.get("/api/health")[1]["store"]["saving"] is False)
    store = api.get("/api/health")[1]["store"]
    assert store["path"] == str(blocker / "runs.sqlite")
    assert store["failure"]
    assert "NOT SAVING" in server.store_line()


def test_serve_takes_the_store(tmp_path: Path) -> None:
    from nnlab.server import serve

    path = tmp_path / "served.sqlite"
    server = serve(port=0, quiet=True, store=path)
    try:
        assert serve(port=0, quiet=True, store=path) is server
        with pytest.raises(RuntimeError, match="other options"):
            serve(port=0, quiet=True, store=tmp_path / "other.sqlite")
        status, health = Api(server.url).get("/api/health")
        assert status == 200
        assert health["store"]["path"] == str(path)
    finally:
        server.stop()


def test_the_follower_sends_runs_this_server_does_not_hold_with_their_diagnostics(
    tmp_path: Path, server_on: list[Server]
) -> None:
    import socketio

    import nnlab

    path = tmp_path / "diag.sqlite"
    server = Server(port=0, store=path, registry=Registry()).start()  # holds none of the runs
    server_on.append(server)
    got: list[tuple[str, dict[str, object]]] = []
    client = socketio.Client(reconnection=False)
    for name in ("training_update", "training_diagnostics", "training_status"):
        client.on(name, lambda data, name=name: got.append((name, data)))
    client.connect(server.url, transports=["websocket"], wait_timeout=10)
    try:
        net = nnlab.Network([64, 10, 10], seed=0)
        job = nnlab.train(net, epochs=4, seed=0, progress=False, store=path, diagnostics=True)
        wait_for(lambda: ("training_status", job.status_record().to_dict()) in got, timeout=30)
        updates = [d for n, d in got if n == "training_update"]
        assert updates == [r.update.to_dict() for r in job.history]
        diagnostics = [d for n, d in got if n == "training_diagnostics"]
        assert diagnostics == [r.diagnostics.payload(r.update) for r in job.history if r.diagnostics]
        assert len(diagnostics) == 4
    finally:
        client.disconnect()
