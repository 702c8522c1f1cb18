"""Node's socket.io-client v4 with the contract's exact options, one client and two hundred."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from server_helpers import Api, external, finish, read_json_line, run_node, train

from nnlab.registry import Registry
from nnlab.server import Server


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    external("node")  # skip before anything starts when Node is missing
    with Server(port=0, registry=Registry()) as running:
        yield running


def test_the_contract_client_gets_every_field_of_every_epoch_of_rest_and_notebook_runs(
    server: Server,
) -> None:
    proc = run_node("contract_clients.mjs", server.url, "1", "2")
    assert read_json_line(proc)["ready"]
    # the dashboard's way: create and train over REST...
    api = Api(server.url)
    net = api.create_network([64, 30, 10], seed=1)
    status, rest_job = api.post(
        f"/api/networks/{net['network_id']}/train",
        {"epochs": 12, "mini_batch_size": 10, "learning_rate": 3.0},
    )
    assert status == 202
    rest_history = api.wait_job(rest_job["job_id"])["history"]
    # ...and a run from a notebook cell
    job = train(epochs=7, registry=server.registry)
    (client,) = finish(proc)["clients"]
    assert client["transport"] == "websocket"
    assert client["problems"] == []
    assert client["epochs"] == {rest_job["job_id"]: list(range(1, 13)), job.job_id: list(range(1, 8))}
    assert client["statuses"] == {
        rest_job["job_id"]: ["running", "completed"],
        job.job_id: ["running", "completed"],
    }
    assert client["first"] == {k: rest_history[0][k] for k in client["first"]}
    assert set(client["first"]) == {
        "job_id",
        "network_id",
        "epoch",
        "total_epochs",
        "accuracy",
        "elapsed_time",
        "progress",
        "correct",
        "total",
    }


def test_two_hundred_clients_each_receive_every_epoch(server: Server) -> None:
    proc = run_node("contract_clients.mjs", server.url, "200", "1")
    assert read_json_line(proc, timeout=60)["ready"]
    assert server.clients == 200
    job = train(epochs=10, registry=server.registry)
    clients = finish(proc, timeout=60)["clients"]
    assert len(clients) == 200
    assert len({c["id"] for c in clients}) == 200
    for client in clients:
        assert client["problems"] == []
        assert client["epochs"] == {job.job_id: list(range(1, 11))}
        assert client["statuses"] == {job.job_id: ["running", "completed"]}


def test_clients_joining_throughout_a_run_get_the_latest_then_every_epoch_once(server: Server) -> None:
    job = train(epochs=120, seconds_per_epoch=0.01, background=True, registry=server.registry)
    proc = run_node("contract_clients.mjs", server.url, "40", "1", "25")  # one every 25 ms
    clients = finish(proc, timeout=60)["clients"]
    assert job.wait(30)
    firsts = []
    for client in clients:
        assert client["problems"] == []
        assert client["statuses"] == {job.job_id: ["running", "completed"]}
        epochs = client["epochs"][job.job_id]
        # from the update it joined at, every epoch once and in order, to the last
        assert epochs == list(range(epochs[0], 121))
        firsts.append(epochs[0])
    assert max(firsts) > min(firsts)  # they really joined at different epochs
