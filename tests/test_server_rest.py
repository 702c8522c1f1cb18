"""The REST API over a real server: every route, every refusal, and nothing changed by one."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from server_helpers import Api, check_update, request, train

import nnlab
from nnlab.registry import Registry
from nnlab.server import Server
from nnlab.server.api import RestApi
from nnlab.server.bodies import MAX_BODY_BYTES


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server(port=0, registry=Registry()) as running:
        yield running


@pytest.fixture(scope="module")
def api(server: Server) -> Api:
    return Api(server.url)


@pytest.fixture(scope="module")
def trained(api: Api) -> dict[str, Any]:
    """A network with one finished job, created over REST."""
    net = api.create_network([64, 30, 10], seed=3)
    status, job = api.post(f"/api/networks/{net['network_id']}/train", {"epochs": 2, "seed": 1})
    assert status == 202, job
    api.wait_job(job["job_id"])
    return {"network_id": net["network_id"], "job_id": job["job_id"]}


def _snapshot(api: Api, network_id: str) -> Any:
    """Everything stored that a bad request could touch."""
    return (
        api.get("/api/networks"),
        api.get("/api/jobs"),
        api.get(f"/api/networks/{network_id}?parameters=true"),
    )


# ---------------------------------------------------------------------- happy paths
def test_health_and_datasets(api: Api) -> None:
    status, health = api.get("/api/health")
    assert status == 200
    assert health["status"] == "ok"
    assert health["version"] == nnlab.__version__
    status, datasets = api.get("/api/datasets")
    assert status == 200
    by_name = {d["name"]: d for d in datasets}
    assert set(by_name) == set(nnlab.datasets.available())
    digits = by_name["digits"]
    assert (digits["n_features"], digits["n_classes"], digits["ready"], digits["default"]) == (
        64,
        10,
        True,
        True,
    )
    assert digits["sizes"] == {"train": 1297, "validation": 200, "test": 300}
    assert by_name["mnist"]["n_features"] == 784


def test_network_create_list_get_delete(server: Server, api: Api) -> None:
    net = api.create_network([64, 20, 10], cost="quadratic", init="large", seed=7, dtype="float32")
    assert net["sizes"] == [64, 20, 10]
    assert (net["cost"], net["init"], net["seed"], net["dtype"]) == ("quadratic", "large", 7, "float32")
    assert net["n_parameters"] == 20 * 65 + 10 * 21
    assert (net["epochs_trained"], net["active_job_id"], net["job_ids"]) == (0, None, [])
    assert "weights" not in net
    network_id = net["network_id"]
    status, listed = api.get("/api/networks")
    assert status == 200
    assert network_id in [n["network_id"] for n in listed]
    status, got = api.get(f"/api/networks/{network_id}")
    assert (status, got) == (200, net)
    status, full = api.get(f"/api/networks/{network_id}?parameters=true")
    assert status == 200
    assert [len(w) for w in full["weights"]] == [20, 10]
    assert [len(w[0]) for w in full["weights"]] == [64, 20]
    assert [len(b) for b in full["biases"]] == [20, 10]
    # the same network as the registry holds it
    assert full["weights"][0] == server.registry.network(network_id).weights[0].tolist()
    status, body = api.delete(f"/api/networks/{network_id}")
    assert (status, body) == (204, None)
    assert api.get(f"/api/networks/{network_id}")[0] == 404
    assert network_id not in [n["network_id"] for n in api.get("/api/networks")[1]]


def test_train_answers_at_once_and_the_job_keeps_its_full_history(api: Api) -> None:
    net = api.create_network(seed=1)
    network_id = net["network_id"]
    status, job = api.post(
        f"/api/networks/{network_id}/train",
        {"epochs": 4, "mini_batch_size": 10, "learning_rate": 3.0, "seed": 2},
    )
    assert status == 202
    assert job["status"] in ("queued", "running")
    assert job["network_id"] == network_id
    assert job["parameters"]["epochs"] == 4
    assert job["parameters"]["dataset"] == "digits"
    done = api.wait_job(job["job_id"])
    assert done["status"] == "completed"
    assert done["epochs_completed"] == 4
    history = done["history"]
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    for record in history:
        check_update({k: record[k] for k in record if k in done["latest"]})
        assert record["training_cost"] > 0
        assert record["learning_rate"] == 3.0
    assert done["latest"] == {k: history[-1][k] for k in done["latest"]}
    # lists leave the history out; the network knows its job
    status, jobs = api.get(f"/api/jobs?network_id={network_id}")
    assert status == 200
    assert [j["job_id"] for j in jobs] == [job["job_id"]]
    assert "history" not in jobs[0]
    assert api.get(f"/api/networks/{network_id}/jobs")[1] == jobs
    assert api.get(f"/api/jobs/{job['job_id']}?history=false")[1] == jobs[0]
    assert job["job_id"] in [j["job_id"] for j in api.get("/api/jobs?status=completed")[1]]
    status, trained_net = api.get(f"/api/networks/{network_id}")
    assert trained_net["epochs_trained"] == 4
    assert trained_net["job_ids"] == [job["job_id"]]


def test_train_with_every_option(api: Api) -> None:
    net = api.create_network(seed=4)
    body = {
        "epochs": 3,
        "mini_batch_size": 20,
        "learning_rate": 0.5,
        "lmbda": 1.0,
        "seed": 5,
        "dataset": "digits",
        "evaluate_on": None,
        "early_stopping": 5,
        "lr_schedule": "halve_on_plateau",
    }
    status, job = api.post(f"/api/networks/{net['network_id']}/train", body)
    assert status == 202, job
    done = api.wait_job(job["job_id"])
    assert done["status"] == "completed"
    params = done["parameters"]
    assert {k: params[k] for k in ("epochs", "mini_batch_size", "learning_rate", "lmbda", "seed")} == {
        "epochs": 3,
        "mini_batch_size": 20,
        "learning_rate": 0.5,
        "lmbda": 1.0,
        "seed": 5,
    }
    assert params["evaluate_on"] is None
    assert params["early_stopping"] == 5
    assert done["latest"]["accuracy"] is None
    check_update(done["latest"], evaluated=False)


def test_an_empty_body_trains_with_the_defaults(api: Api) -> None:
    net = api.create_network(seed=5)
    status, job = api("POST", f"/api/networks/{net['network_id']}/train", raw=b"")
    assert status == 202, job
    assert job["parameters"]["epochs"] == 10
    assert api.wait_job(job["job_id"])["status"] == "completed"


def test_networks_from_the_notebook_appear(server: Server, api: Api) -> None:
    job = train(epochs=1, registry=server.registry)
    assert job.network_id in [n["network_id"] for n in api.get("/api/networks")[1]]
    status, got = api.get(f"/api/jobs/{job.job_id}")
    assert status == 200
    assert got == json.loads(json.dumps(job.to_dict()))
    registered = server.registry.add_network(nnlab.Network([64, 10], seed=1))
    assert api.get(f"/api/networks/{registered.network_id}")[0] == 200


def test_busy_network_cancel_and_delete(api: Api, trained: dict[str, Any]) -> None:
    net = api.create_network(seed=6)
    network_id = net["network_id"]
    status, job = api.post(f"/api/networks/{network_id}/train", {"epochs": 10_000})
    assert status == 202
    job_id = job["job_id"]
    try:
        networks_before = {n["network_id"] for n in api.get("/api/networks")[1]}
        jobs_before = [j["job_id"] for j in api.get("/api/jobs")[1]]
        status, busy = api.post(f"/api/networks/{network_id}/train", {"epochs": 1})
        assert status == 409
        assert busy["field"] == "network_id"
        assert busy["job_id"] == job_id
        assert f"POST /api/jobs/{job_id}/cancel" in busy["error"]
        status, busy = api.delete(f"/api/networks/{network_id}")
        assert (status, busy["field"], busy["job_id"]) == (409, "network_id", job_id)
        assert {n["network_id"] for n in api.get("/api/networks")[1]} == networks_before
        assert [j["job_id"] for j in api.get("/api/jobs")[1]] == jobs_before
        assert api.get(f"/api/networks/{network_id}")[1]["active_job_id"] == job_id
    finally:
        status, cancelled = api.post(f"/api/jobs/{job_id}/cancel")
    assert status == 200
    assert cancelled["status"] == "cancelled"
    assert cancelled["stop_reason"] == "cancelled"
    assert cancelled["epochs_completed"] < 10_000
    status, again = api.post(f"/api/jobs/{job_id}/cancel")
    assert (status, again["field"]) == (409, "job_id")
    assert "already ended (cancelled)" in again["error"]
    # the finished job of another network cannot be cancelled either
    assert api.post(f"/api/jobs/{trained['job_id']}/cancel")[0] == 409
    assert api.delete(f"/api/networks/{network_id}")[0] == 204
    # its jobs stay listed
    assert api.get(f"/api/jobs/{job_id}")[0] == 200


def test_openapi_describes_every_route(api: Api) -> None:
    status, doc = api.get("/openapi.json")
    assert status == 200
    assert doc["openapi"].startswith("3.")
    routes = {
        (route.path, method.lower()) for route in RestApi(Registry()).routes() for method in route.methods
    }
    documented = {
        (path, method) for path, ops in doc["paths"].items() for method in ops if method != "parameters"
    }
    routes = {(path, method) for path, method in routes if method != "head"}
    assert routes <= documented
    assert documented - routes == {("/test_socketio.html", "get")}
    for path, method in documented:
        operation = doc["paths"][path][method]
        assert operation["summary"]
        assert operation["responses"]
    assert set(doc["x-socketio-events"]) == {"training_update", "training_status", "training_diagnostics"}
    # every $ref resolves
    text = json.dumps(doc)
    for name in {part.split('"')[0] for part in text.split("#/components/schemas/")[1:]}:
        assert name in doc["components"]["schemas"]


def test_cors_for_rest_and_both_socketio_transports(server: Server) -> None:
    origin = {"Origin": "http://localhost:4200"}
    status, _, headers = request(
        server.url,
        "OPTIONS",
        "/api/networks/some-id/train",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert status == 200
    assert headers["access-control-allow-origin"] == "*"
    assert "POST" in headers["access-control-allow-methods"]
    assert "content-type" in headers["access-control-allow-headers"].lower()
    status, _, headers = request(server.url, "GET", "/api/health", headers=origin)
    assert (status, headers["access-control-allow-origin"]) == (200, "*")
    # Engine.IO's polling handshake: exactly one Access-Control-Allow-Origin header
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/socket.io/?EIO=4&transport=polling", headers=origin)
    response = conn.getresponse()
    body = response.read().decode()
    allow = [v for k, v in response.getheaders() if k.lower() == "access-control-allow-origin"]
    conn.close()
    assert response.status == 200
    assert body.startswith("0{")
    assert allow in (["http://localhost:4200"], ["*"])


def test_unknown_routes_and_methods_answer_json(api: Api) -> None:
    status, body = api.get("/api/nothing-here")
    assert (status, body["field"]) == (404, None)
    status, body = api("PUT", "/api/networks")
    assert status == 405
    assert "Method Not Allowed" in body["error"]
    status, _, headers = request(api.url, "GET", "/")
    assert status == 307
    assert headers["location"] == "test_socketio.html"


# ---------------------------------------------------------------------- refusals
DEEP = b'{"sizes": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
TOO_BIG = b'{"sizes": [64, 30, 10], "seed": 1' + b" " * MAX_BODY_BYTES + b"}"

NETWORK_CASES: list[tuple[Any, int, str]] = [
    (b'{"sizes": [64, 30, ', 400, "body"),
    (b"\xff\xfe not utf-8", 400, "body"),
    (DEEP, 400, "body"),
    ([64, 30, 10], 422, "body"),
    ("64,30,10", 422, "body"),
    ({}, 422, "sizes"),
    ({"sizes": "64,30,10"}, 422, "sizes"),
    ({"sizes": [64]}, 422, "sizes"),
    ({"sizes": [64, 0, 10]}, 422, "sizes"),
    ({"sizes": [64, -3, 10]}, 422, "sizes"),
    ({"sizes": [64, 30.5, 10]}, 422, "sizes"),
    ({"sizes": [64, True, 10]}, 422, "sizes"),
    ({"sizes": [64, None, 10]}, 422, "sizes"),
    ({"sizes": [100_000, 100_000, 10]}, 422, "sizes"),
    ({"sizes": [10**30, 10]}, 422, "sizes"),
    ({"sizes": [64, 30, 10], "cost": "hinge"}, 422, "cost"),
    ({"sizes": [64, 30, 10], "cost": 5}, 422, "cost"),
    ({"sizes": [64, 30, 10], "init": "zeros"}, 422, "init"),
    ({"sizes": [64, 30, 10], "dtype": "float16"}, 422, "dtype"),
    ({"sizes": [64, 30, 10], "seed": -1}, 422, "seed"),
    ({"sizes": [64, 30, 10], "seed": "1"}, 422, "seed"),
    ({"sizes": [64, 30, 10], "seed": 1.5}, 422, "seed"),
    ({"sizes": [64, 30, 10], "seed": 2**64}, 422, "seed"),
    ({"sizes": [64, 30, 10], "size": 3}, 422, "size"),
    (b'{"sizes": [64, 30, 10], "seed": NaN}', 422, "seed"),
    (TOO_BIG, 413, "body"),
]

TRAIN_CASES: list[tuple[Any, int, str]] = [
    (b'{"epochs": ', 400, "body"),
    (b"[1, 2]", 422, "body"),
    ({"epochs": 0}, 422, "epochs"),
    ({"epochs": -5}, 422, "epochs"),
    ({"epochs": "10"}, 422, "epochs"),
    ({"epochs": 10.5}, 422, "epochs"),
    ({"epochs": None}, 422, "epochs"),
    ({"epochs": True}, 422, "epochs"),
    ({"epochs": 10_001}, 422, "epochs"),
    ({"epochs": 10**40}, 422, "epochs"),
    ({"mini_batch_size": 0}, 422, "mini_batch_size"),
    ({"mini_batch_size": 100_000}, 422, "mini_batch_size"),
    ({"learning_rate": 0}, 422, "learning_rate"),
    ({"learning_rate": -3.0}, 422, "learning_rate"),
    ({"learning_rate": "3.0"}, 422, "learning_rate"),
    (b'{"learning_rate": 1e999}', 422, "learning_rate"),
    (b'{"learning_rate": NaN}', 422, "learning_rate"),
    ({"lmbda": -1}, 422, "lmbda"),
    ({"seed": -1}, 422, "seed"),
    ({"dataset": "cifar10"}, 422, "dataset"),
    ({"dataset": 5}, 422, "dataset"),
    ({"evaluate_on": "train"}, 422, "evaluate_on"),
    ({"early_stopping": 0}, 422, "early_stopping"),
    ({"lr_schedule": "cosine"}, 422, "lr_schedule"),
    ({"epoch": 10}, 422, "epoch"),
    ({"epochs": 1, "observers": []}, 422, "observers"),
    (TOO_BIG, 413, "body"),
]


def _send(api: Api, path: str, body: Any) -> tuple[int, Any]:
    if isinstance(body, bytes):
        return api("POST", path, raw=body)
    return api.post(path, body)


@pytest.mark.parametrize(("body", "status", "field"), NETWORK_CASES)
def test_bad_network_bodies(api: Api, trained: dict[str, Any], body: Any, status: int, field: str) -> None:
    before = _snapshot(api, trained["network_id"])
    got_status, error = _send(api, "/api/networks", body)
    assert (got_status, error["field"]) == (status, field), error
    assert set(error) == {"error", "field"}
    assert "Traceback" not in error["error"]
    assert _snapshot(api, trained["network_id"]) == before


@pytest.mark.parametrize(("body", "status", "field"), TRAIN_CASES)
def test_bad_train_bodies(api: Api, trained: dict[str, Any], body: Any, status: int, field: str) -> None:
    before = _snapshot(api, trained["network_id"])
    got_status, error = _send(api, f"/api/networks/{trained['network_id']}/train", body)
    assert (got_status, error["field"]) == (status, field), error
    assert field in error["error"] or field == "body"
    assert _snapshot(api, trained["network_id"]) == before


def test_error_messages_say_what_to_change(api: Api, trained: dict[str, Any]) -> None:
    network_path = f"/api/networks/{trained['network_id']}/train"
    assert "did you mean 'epochs'" in api.post(network_path, {"epoch": 3})[1]["error"]
    assert "use at most 1297" in api.post(network_path, {"mini_batch_size": 5000})[1]["error"]
    assert "limit of 25,000,000" in api.post("/api/networks", {"sizes": [100_000, 100_000, 10]})[1]["error"]
    assert "not valid JSON" in api("POST", "/api/networks", raw=b"{oops")[1]["error"]
    assert "limit is 65,536 bytes" in api("POST", "/api/networks", raw=TOO_BIG)[1]["error"]


def test_a_network_that_does_not_fit_the_dataset(api: Api, trained: dict[str, Any]) -> None:
    net = api.create_network([10, 5, 2])
    before = _snapshot(api, trained["network_id"])
    status, error = api.post(f"/api/networks/{net['network_id']}/train", {"epochs": 1})
    assert (status, error["field"]) == (422, "dataset")
    assert "64 features" in error["error"]
    assert _snapshot(api, trained["network_id"]) == before
    assert api.get(f"/api/networks/{net['network_id']}")[1]["job_ids"] == []


def test_an_oversized_chunked_body_is_refused(server: Server, trained: dict[str, Any]) -> None:
    api = Api(server.url)
    before = _snapshot(api, trained["network_id"])
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    chunks = (b'{"sizes": [64, 30, 10]' + b" " * 8192 for _ in range(20))
    conn.request(
        "POST",
        "/api/networks",
        body=chunks,
        headers={"Content-Type": "application/json"},
        encode_chunked=True,
    )
    response = conn.getresponse()
    error = json.loads(response.read())
    conn.close()
    assert (response.status, error["field"]) == (413, "body")
    assert _snapshot(api, trained["network_id"]) == before


@pytest.mark.parametrize(
    ("method", "path", "status", "field"),
    [
        ("GET", "/api/networks/nope", 404, "network_id"),
        ("DELETE", "/api/networks/nope", 404, "network_id"),
        ("POST", "/api/networks/nope/train", 404, "network_id"),
        ("GET", "/api/networks/nope/jobs", 404, "network_id"),
        ("GET", "/api/jobs/nope", 404, "job_id"),
        ("POST", "/api/jobs/nope/cancel", 404, "job_id"),
        ("GET", "/api/networks/{network_id}?parameters=maybe", 422, "parameters"),
        ("GET", "/api/jobs/{job_id}?history=perhaps", 422, "history"),
        ("GET", "/api/jobs?status=done", 422, "status"),
    ],
)
def test_unknown_ids_and_bad_query_parameters(
    api: Api, trained: dict[str, Any], method: str, path: str, status: int, field: str
) -> None:
    before = _snapshot(api, trained["network_id"])
    got_status, error = api(method, path.format(**trained), {"epochs": 1} if method == "POST" else None)
    assert (got_status, error["field"]) == (status, field), error
    assert _snapshot(api, trained["network_id"]) == before
