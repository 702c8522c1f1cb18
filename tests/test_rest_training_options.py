"""The training options of chapter 3 and of monitoring, over the REST API of a real server.

They live apart from the maths tests so that no server thread runs beside those tests'
allocation measurements.
"""

from __future__ import annotations

import numpy as np
from server_helpers import Api

import nnlab
from nnlab.server import Server


def test_rest_creates_and_trains_with_the_chapter_3_names(server: Server, api: Api) -> None:
    status, net = api.post(
        "/api/networks", {"sizes": [64, 30, 10], "activation": "relu", "output": "softmax", "seed": 2}
    )
    assert status == 201, net
    assert (net["activation"], net["output"], net["cost"]) == ("relu", "softmax", "log_likelihood")
    body = {"epochs": 2, "seed": 2, "learning_rate": 0.1, "regularization": "l1", "lmbda": 1.0}
    body |= {"dropout": 0.2, "momentum": 0.5}
    status, job = api.post(f"/api/networks/{net['network_id']}/train", body)
    assert status == 202, job
    for key, value in body.items():
        if key != "epochs" and key != "seed":
            assert job["parameters"][key] == value
    done = api.wait_job(job["job_id"])
    assert done["status"] == "completed"
    twin = nnlab.Network([64, 30, 10], activation="relu", output="softmax", seed=2)
    nnlab.train(
        twin,
        epochs=2,
        seed=2,
        learning_rate=0.1,
        regularization="l1",
        lmbda=1.0,
        dropout=0.2,
        momentum=0.5,
        progress=False,
    )
    trained = server.registry.network(net["network_id"])
    for a, b in zip(trained.weights, twin.weights):
        np.testing.assert_array_equal(a, b)


def test_openapi_lists_the_new_fields(api: Api) -> None:
    _, doc = api.get("/openapi.json")
    schemas = doc["components"]["schemas"]
    assert schemas["NetworkCreate"]["properties"]["activation"]["enum"] == ["sigmoid", "tanh", "relu"]
    assert schemas["NetworkCreate"]["properties"]["output"]["enum"] == ["sigmoid", "softmax"]
    train = schemas["TrainRequest"]["properties"]
    assert {"regularization", "dropout", "momentum", "diagnostics"} <= set(train)


def test_rest_train_body_takes_training_cost(server: Server, api: Api) -> None:
    net = api.create_network([64, 30, 10], seed=2)
    status, job = api.post(
        f"/api/networks/{net['network_id']}/train", {"epochs": 2, "seed": 2, "training_cost": "full"}
    )
    assert status == 202, job
    assert job["parameters"]["training_cost"] == "full"
    done = api.wait_job(job["job_id"])
    network = server.registry.network(net["network_id"])
    X, y = nnlab.datasets.digits().train
    assert done["history"][-1]["training_cost"] == network.total_cost(X, y)
    assert done["history"][-1]["training_accuracy"] == network.evaluate(X, y) / X.shape[0]


def test_rest_refuses_an_unknown_training_cost_naming_the_field(api: Api) -> None:
    net = api.create_network([64, 30, 10], seed=2)
    status, body = api.post(f"/api/networks/{net['network_id']}/train", {"training_cost": "cheap"})
    assert status == 422
    assert body["field"] == "training_cost"
    assert "'running'" in body["error"]
    assert "'cheap'" in body["error"]
    assert api.get(f"/api/networks/{net['network_id']}/jobs")[1] == []
