"""Pause, resume and a new learning rate over a real server: REST, python-socketio and
Node's socket.io-client, for REST runs and for runs a notebook cell started."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from server_helpers import Api, Recorder, chromium, finish, request, run_node, train

from nnlab.registry import Registry
from nnlab.server import Server

TIMEOUT = 60.0
ENDED = ("completed", "failed", "cancelled")


@pytest.fixture(scope="module")
def finished(api: Api) -> str:
    """A REST job that has completed."""
    net = api.create_network([64, 10, 10], seed=1)
    status, job = api.post(f"/api/networks/{net['network_id']}/train", {"epochs": 1, "seed": 0})
    assert status == 202, job
    api.wait_job(job["job_id"])
    return str(job["job_id"])


@pytest.fixture
def long_job(api: Api) -> Iterator[dict[str, Any]]:
    """A REST job of many epochs, running; cancelled and waited for afterwards."""
    net = api.create_network([64, 30, 10], seed=2)
    status, job = api.post(
        f"/api/networks/{net['network_id']}/train", {"epochs": 10_000, "seed": 0, "learning_rate": 3.0}
    )
    assert status == 202, job
    try:
        _wait_status(api, job["job_id"], lambda s: s != "queued")
        yield job
    finally:
        api.post(f"/api/jobs/{job['job_id']}/cancel")
        api.wait_job(job["job_id"])


def _wait_status(api: Api, job_id: str, ok: Any) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while True:
        status, job = api.get(f"/api/jobs/{job_id}?history=false")
        assert status == 200, job
        if ok(job["status"]):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        time.sleep(0.02)


def _wait_epochs(api: Api, job_id: str, epochs: int) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while True:
        status, job = api.get(f"/api/jobs/{job_id}")
        assert status == 200, job
        if job["epochs_completed"] >= epochs:
            return job
        assert time.monotonic() < deadline, f"job {job_id} at {job['epochs_completed']} epochs"
        time.sleep(0.02)


# ------------------------------------------------------------------ REST
def test_rest_pause_change_the_rate_and_resume_a_rest_job(
    server: Server, api: Api, long_job: dict[str, Any]
) -> None:
    job_id = long_job["job_id"]
    recorder = Recorder(server.url, ["websocket"])
    try:
        status, paused = api.post(f"/api/jobs/{job_id}/pause")
        assert status == 200, paused
        paused = _wait_status(api, job_id, lambda s: s == "paused")
        assert paused["learning_rate"] == 3.0
        recorder.wait_for(lambda: "paused" in recorder.statuses(job_id), TIMEOUT)
        status, again = api.post(f"/api/jobs/{job_id}/pause")  # pausing a paused job changes nothing
        assert (status, again["status"]) == (200, "paused")
        epochs_paused = again["epochs_completed"]

        status, changed = api("PATCH", f"/api/jobs/{job_id}", {"learning_rate": 0.5})
        assert status == 200, changed
        assert changed["learning_rate"] == 0.5  # paused: in force at once
        assert changed["parameters"]["learning_rate"] == 3.0

        status, resumed = api.post(f"/api/jobs/{job_id}/resume")
        assert status == 200, resumed
        _wait_status(api, job_id, lambda s: s != "paused")
        recorder.wait_for(lambda: recorder.statuses(job_id)[-1:] == ["running"], TIMEOUT)
        assert recorder.statuses(job_id) == ["running", "paused", "running"]

        history = _wait_epochs(api, job_id, epochs_paused + 2)["history"]
        rates = [record["learning_rate"] for record in history]
        # epochs ended before the pause used 3.0; the one paused ended with 0.5, and so on
        assert rates[:epochs_paused] == [3.0] * epochs_paused
        assert rates[epochs_paused:] == [0.5] * (len(rates) - epochs_paused)
    finally:
        recorder.close()


def test_rest_learning_rate_of_a_running_job_takes_effect(api: Api, long_job: dict[str, Any]) -> None:
    job_id = long_job["job_id"]
    status, changed = api("PATCH", f"/api/jobs/{job_id}", {"learning_rate": 1.25})
    assert status == 200, changed
    deadline = time.monotonic() + TIMEOUT
    while api.get(f"/api/jobs/{job_id}?history=false")[1]["learning_rate"] != 1.25:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first = api.get(f"/api/jobs/{job_id}")[1]["epochs_completed"]
    history = _wait_epochs(api, job_id, first + 2)["history"]
    assert history[first + 1]["learning_rate"] == 1.25  # an epoch begun after the change


def test_cancel_a_paused_rest_job(api: Api, long_job: dict[str, Any]) -> None:
    job_id = long_job["job_id"]
    api.post(f"/api/jobs/{job_id}/pause")
    _wait_status(api, job_id, lambda s: s == "paused")
    status, cancelled = api.post(f"/api/jobs/{job_id}/cancel")
    assert status == 200, cancelled
    ended = api.wait_job(job_id)
    assert (ended["status"], ended["stop_reason"]) == ("cancelled", "cancelled")
    assert ended["paused_time"] > 0


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"learning_rate": -1}, "learning_rate", "positive finite number"),
        ({"learning_rate": 0}, "learning_rate", "positive finite number"),
        ({"learning_rate": "0.5"}, "learning_rate", "positive finite number"),
        ({"learning_rate": None}, "learning_rate", "positive finite number"),
        ({"learning_rate": True}, "learning_rate", "positive finite number"),
        ({"learning_rate": 1e400}, "learning_rate", "positive finite number"),
        ({}, "learning_rate", "learning_rate is required"),
        ({"learning_rate": 0.5, "epochs": 3}, "epochs", "unknown field 'epochs'"),
        ([0.5], "body", "must be a JSON object"),
    ],
)
def test_rest_bad_learning_rates_are_422_naming_the_field(
    api: Api, long_job: dict[str, Any], body: Any, field: str, message: str
) -> None:
    job_id = long_job["job_id"]
    status, error = api("PATCH", f"/api/jobs/{job_id}", body)
    assert status == 422, error
    assert error["field"] == field
    assert message in error["error"]
    assert api.get(f"/api/jobs/{job_id}?history=false")[1]["learning_rate"] == 3.0


def test_rest_malformed_json_is_400(api: Api, long_job: dict[str, Any]) -> None:
    status, error, _ = request(api.url, "PATCH", f"/api/jobs/{long_job['job_id']}", raw=b'{"learning_rate": ')
    assert status == 400
    assert error["field"] == "body"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("POST", "/pause", None), ("POST", "/resume", None), ("PATCH", "", {"learning_rate": 0.5})],
)
def test_rest_a_finished_job_is_409_and_an_unknown_one_404(
    api: Api, finished: str, method: str, path: str, body: Any
) -> None:
    status, error = api(method, f"/api/jobs/{finished}{path}", body)
    assert status == 409, error
    assert error["field"] == "job_id"
    assert error["job_status"] == "completed"
    assert "has already ended (completed)" in error["error"]
    status, error = api(method, f"/api/jobs/no-such-job{path}", body)
    assert status == 404, error
    assert error["field"] == "job_id"
    assert api.get(f"/api/jobs/{finished}?history=false")[1]["status"] == "completed"


def test_rest_lists_paused_jobs(api: Api, long_job: dict[str, Any]) -> None:
    job_id = long_job["job_id"]
    api.post(f"/api/jobs/{job_id}/pause")
    _wait_status(api, job_id, lambda s: s == "paused")
    status, jobs = api.get("/api/jobs?status=paused")
    assert status == 200
    assert [job["job_id"] for job in jobs] == [job_id]


# ------------------------------------------------------------------ a notebook's run
def test_a_notebook_run_paused_over_rest_and_resumed_over_socketio_ends_bit_for_bit(server: Server) -> None:
    plain = train(epochs=4)
    expected = [p.copy() for p in (*plain.network.weights, *plain.network.biases)]
    api = Api(server.url)
    recorder = Recorder(server.url, ["websocket"])
    # slow epochs (a sleeping observer: the weights are the same) so the request finds it going
    job = train(epochs=4, seconds_per_epoch=0.25, registry=server.registry, background=True)
    try:
        status, answer = api.post(f"/api/jobs/{job.job_id}/pause")
        assert status == 200, answer
        assert job.wait_settled(TIMEOUT)
        if job.done:  # the run ended before the request reached it (a very fast machine)
            pytest.fail("the run ended before the pause: make it longer")
        assert job.status == "paused"
        recorder.wait_for(lambda: "paused" in recorder.statuses(job.job_id), TIMEOUT)
        ack = recorder.client.call("resume_job", {"job_id": job.job_id}, timeout=TIMEOUT)
        assert ack["ok"] is True, ack
        assert ack["job"]["job_id"] == job.job_id
        assert job.wait(TIMEOUT)
        recorder.wait_finished(job.job_id, TIMEOUT)
    finally:
        job.cancel()
        job.wait(TIMEOUT)
        recorder.close()
    assert job.status == "completed"
    assert recorder.statuses(job.job_id) == ["running", "paused", "running", "completed"]
    got = [*job.network.weights, *job.network.biases]
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))


# ------------------------------------------------------------------ Socket.IO clients
def test_python_socketio_controls_a_job_and_gets_acks(
    server: Server, api: Api, long_job: dict[str, Any]
) -> None:
    job_id = long_job["job_id"]
    recorder = Recorder(server.url, ["polling"])
    call = recorder.client.call
    try:
        ack = call("pause_job", {"job_id": job_id}, timeout=TIMEOUT)
        assert ack["ok"] is True, ack
        recorder.wait_for(lambda: "paused" in recorder.statuses(job_id), TIMEOUT)
        bad = call("set_learning_rate", {"job_id": job_id, "learning_rate": -1}, timeout=TIMEOUT)
        assert bad["ok"] is False
        assert (bad["code"], bad["field"]) == (422, "learning_rate")
        ack = call("set_learning_rate", {"job_id": job_id, "learning_rate": 0.75}, timeout=TIMEOUT)
        assert ack["ok"] is True, ack
        assert ack["job"]["learning_rate"] == 0.75
        assert ack["job"]["status"] == "paused"
        ack = call("resume_job", {"job_id": job_id}, timeout=TIMEOUT)
        assert ack["ok"] is True, ack
        recorder.wait_for(lambda: recorder.statuses(job_id)[-1:] == ["running"], TIMEOUT)
        assert api.get(f"/api/jobs/{job_id}?history=false")[1]["learning_rate"] == 0.75
    finally:
        recorder.close()


@pytest.mark.parametrize(
    ("event", "data", "code", "field"),
    [
        ("pause_job", {"job_id": "no-such-job"}, 404, "job_id"),
        ("resume_job", {}, 422, "job_id"),
        ("pause_job", "a-job-id", 422, "body"),
        ("pause_job", {"job_id": "x", "extra": 1}, 422, "extra"),
        ("set_learning_rate", {"job_id": "FINISHED", "learning_rate": 0.5}, 409, "job_id"),
        ("set_learning_rate", {"job_id": "FINISHED"}, 422, "learning_rate"),
        ("resume_job", {"job_id": "FINISHED"}, 409, "job_id"),
    ],
)
def test_python_socketio_refusals_come_back_in_the_ack(
    server: Server, finished: str, event: str, data: Any, code: int, field: str
) -> None:
    if isinstance(data, dict) and data.get("job_id") == "FINISHED":
        data = {**data, "job_id": finished}
    recorder = Recorder(server.url, ["websocket"])
    try:
        ack = recorder.client.call(event, data, timeout=TIMEOUT)
    finally:
        recorder.close()
    assert ack["ok"] is False
    assert (ack["code"], ack["field"]) == (code, field), ack
    assert ack["error"]


def test_node_socketio_client_controls_a_job(server: Server, api: Api, long_job: dict[str, Any]) -> None:
    job_id = long_job["job_id"]
    proc = run_node("control_client.mjs", server.url, job_id)
    result = finish(proc, timeout=TIMEOUT)
    acks = result["acks"]
    assert acks["pause"]["ok"] is True
    assert (acks["bad_rate"]["ok"], acks["bad_rate"]["code"], acks["bad_rate"]["field"]) == (
        False,
        422,
        "learning_rate",
    )
    assert acks["rate"]["ok"] is True
    assert acks["rate"]["job"]["learning_rate"] == 0.5
    assert acks["resume"]["ok"] is True
    assert (acks["unknown"]["ok"], acks["unknown"]["code"]) == (False, 404)
    assert result["statuses"][-2:] == ["paused", "running"]
    assert result["transport"] == "websocket"
    assert api.get(f"/api/jobs/{job_id}?history=false")[1]["learning_rate"] == 0.5


def test_clients_that_send_nothing_see_only_the_new_statuses(server: Server, api: Api) -> None:
    """The seed's client sends no event: it gets the usual events plus paused/running."""
    recorder = Recorder(server.url, ["websocket"])
    job = train(epochs=3, seconds_per_epoch=0.1, registry=server.registry, background=True)
    try:
        job.pause()
        assert job.wait_settled(TIMEOUT)
        recorder.wait_for(lambda: "paused" in recorder.statuses(job.job_id), TIMEOUT)
        job.resume()
        assert job.wait(TIMEOUT)
        recorder.wait_finished(job.job_id, TIMEOUT)
    finally:
        job.cancel()
        job.wait(TIMEOUT)
        recorder.close()
    assert recorder.statuses(job.job_id) == ["running", "paused", "running", "completed"]
    assert [u["epoch"] for u in recorder.updates(job.job_id)] == [1, 2, 3]


# ------------------------------------------------------------------ description and the token
def test_the_openapi_document_describes_the_controls(api: Api) -> None:
    status, doc = api.get("/openapi.json")
    assert status == 200
    paths = doc["paths"]
    assert set(paths["/api/jobs/{job_id}/pause"]["post"]["responses"]) >= {"200", "401", "404", "409"}
    assert set(paths["/api/jobs/{job_id}/resume"]["post"]["responses"]) >= {"200", "401", "404", "409"}
    patch = paths["/api/jobs/{job_id}"]["patch"]
    assert set(patch["responses"]) >= {"200", "400", "404", "409", "422"}
    schemas = doc["components"]["schemas"]
    assert schemas["JobPatch"]["required"] == ["learning_rate"]
    assert "paused" in schemas["Job"]["properties"]["status"]["enum"]
    assert "paused" in schemas["TrainingStatus"]["properties"]["status"]["enum"]
    assert {"learning_rate", "paused_time"} <= set(schemas["Job"]["properties"])
    assert set(doc["x-socketio-client-events"]) == {"pause_job", "resume_job", "set_learning_rate"}
    assert "paused" in doc["x-socketio-events"]["training_status"]["when"]


def test_with_a_token_the_controls_need_it() -> None:
    token = "control-test-token"
    with Server(port=0, registry=Registry(), token=token) as guarded:
        bearer = {"Authorization": f"Bearer {token}"}
        api = Api(guarded.url)
        # long enough that it is still going when the authorised requests come
        job = train(epochs=1000, seconds_per_epoch=0.01, registry=guarded.registry, background=True)
        try:
            for method, path, body in (
                ("POST", "/pause", None),
                ("POST", "/resume", None),
                ("PATCH", "", {"learning_rate": 0.5}),
            ):
                status, error = api(method, f"/api/jobs/{job.job_id}{path}", body)
                assert (status, error["field"]) == (401, "token")
            assert job.learning_rate == 3.0
            status, answer = api("POST", f"/api/jobs/{job.job_id}/pause", headers=bearer)
            assert status == 200, answer
            assert job.wait_settled(TIMEOUT)
            assert job.status == "paused"
            status, answer = api("POST", f"/api/jobs/{job.job_id}/resume", headers=bearer)
            assert status == 200, answer
            assert job.wait_settled(TIMEOUT)
            assert job.status == "running"
        finally:
            job.cancel()
            job.wait(TIMEOUT)
    assert job.status == "cancelled"


# ------------------------------------------------------------------ the test page
def test_the_test_page_shows_a_paused_run_that_it_can_still_cancel(server: Server, api: Api) -> None:
    net = api.create_network([64, 30, 10], seed=4)
    status, job = api.post(f"/api/networks/{net['network_id']}/train", {"epochs": 10_000, "seed": 0})
    assert status == 202, job
    job_id = job["job_id"]
    try:
        with chromium() as browser:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{server.url}/test_socketio.html")
            page.wait_for_selector("#connection[data-state=connected]", timeout=10_000)
            page.wait_for_function(
                f"window.nnlabPage.updates.filter(u => u.job_id === '{job_id}').length >= 1", timeout=20_000
            )
            assert api.post(f"/api/jobs/{job_id}/pause")[0] == 200
            card = page.locator(f".job[data-job-id='{job_id}'][data-status=paused]")
            card.wait_for(timeout=20_000)
            assert card.locator(".badge").inner_text() == "paused"
            assert card.get_by_role("button", name="Cancel").is_visible()  # a paused run can still stop
            assert api.post(f"/api/jobs/{job_id}/resume")[0] == 200
            page.locator(f".job[data-job-id='{job_id}'][data-status=running]").wait_for(timeout=20_000)
            assert api.post(f"/api/jobs/{job_id}/pause")[0] == 200
            card.wait_for(timeout=20_000)
            card.get_by_role("button", name="Cancel").click()
            page.locator(f".job[data-job-id='{job_id}'][data-status=cancelled]").wait_for(timeout=20_000)
            assert errors == []
    finally:
        api.post(f"/api/jobs/{job_id}/cancel")
        api.wait_job(job_id)
    assert api.get(f"/api/jobs/{job_id}?history=false")[1]["status"] == "cancelled"
