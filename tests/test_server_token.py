"""Safe exposure: a token-protected server (on loopback, where tests may bind) refuses REST
calls and Socket.IO connections without the token with 401 and serves those with it --
python-socketio, Node's socket.io-client and the test page in Chromium -- and a server off
loopback without a token is refused before anything binds."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import socketio
from server_helpers import chromium, finish, read_json_line, request, run_node, train

import nnlab
from nnlab.server import Server, current
from nnlab.server.auth import TokenGuard, generate_token

TOKEN = generate_token()
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server(port=0, token=TOKEN) as running:
        yield running


# ---------------------------------------------------------------------- refusing to start
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.0.2.10"])
def test_a_server_off_loopback_without_a_token_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match=r"without a token.*token=nnlab\.server\.auth\.generate_token\(\)"):
        Server(host, 0)
    with pytest.raises(ValueError, match="--token"):
        nnlab.serve(host=host, port=0, quiet=True)
    assert current() is None
    assert Server(host, 0, token=TOKEN).running is False  # accepted (and not started here)


def test_the_refusal_comes_before_binding() -> None:
    # Were the address bound first, the taken port would be the error.
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(ValueError, match="without a token"):
            Server("0.0.0.0", port).start()
        with pytest.raises(nnlab.server.PortInUseError):
            Server("127.0.0.1", port, token=TOKEN).start()


@pytest.mark.parametrize("token", ["", "with space", "naïve", 1234])
def test_a_bad_token_is_refused(token: Any) -> None:
    with pytest.raises(ValueError, match="token must be a non-empty string of printable ASCII"):
        Server(port=0, token=token)


def test_loopback_stays_open_without_a_token() -> None:
    with Server(port=0) as open_server:
        assert request(open_server.url, "GET", "/api/networks")[0] == 200
        client = socketio.Client(reconnection=False)
        client.connect(open_server.url, transports=["websocket"], wait_timeout=10)
        assert client.connected
        client.disconnect()


# ---------------------------------------------------------------------- REST
@pytest.mark.parametrize("path", ["/api/health", "/api/networks", "/api/jobs", "/openapi.json"])
def test_rest_without_the_token_is_401_json(server: Server, path: str) -> None:
    status, body, headers = request(server.url, "GET", path)
    assert status == 401
    assert headers["content-type"].startswith("application/json")
    assert headers["www-authenticate"].startswith("Bearer")
    assert body["field"] == "token"
    assert "requires a token" in body["error"]
    assert "Authorization: Bearer <token>" in body["error"]
    status, body, _ = request(server.url, "GET", path, headers={"Authorization": "Bearer wrong"})
    assert status == 401
    assert "the token is wrong" in body["error"]
    assert request(server.url, "GET", path, headers=BEARER)[0] == 200
    assert request(server.url, "GET", f"{path}?token={TOKEN}")[0] == 200


def test_a_refused_request_changes_nothing(server: Server) -> None:
    before = request(server.url, "GET", "/api/networks", headers=BEARER)[1]
    assert request(server.url, "POST", "/api/networks", {"sizes": [64, 10, 10]})[0] == 401
    assert request(server.url, "POST", "/api/networks?token=nearly", {"sizes": [64, 10, 10]})[0] == 401
    assert request(server.url, "GET", "/api/networks", headers=BEARER)[1] == before
    status, net, _ = request(server.url, "POST", "/api/networks", {"sizes": [64, 10, 10]}, headers=BEARER)
    assert status == 201
    assert request(server.url, "DELETE", f"/api/networks/{net['network_id']}", headers=BEARER)[0] == 204


def test_odd_tokens_are_refused_not_crashed_on(server: Server) -> None:
    for header in ("Bearer", "Basic " + TOKEN, "Bearer " + TOKEN[:-1], "Bearer " + TOKEN + "x"):
        assert request(server.url, "GET", "/api/jobs", headers={"Authorization": header})[0] == 401
    assert request(server.url, "GET", "/api/jobs?token=%C3%A9%00")[0] == 401
    assert not TokenGuard(TOKEN).accepts("é")
    assert TokenGuard(None).accepts(None)


def test_the_page_stays_open_and_the_root_keeps_the_token(server: Server) -> None:
    status, page, _ = request(server.url, "GET", "/test_socketio.html")
    assert status == 200
    assert "<title>nnlab" in page
    status, _, headers = request(server.url, "GET", f"/?token={TOKEN}")
    assert status == 307
    assert headers["location"] == f"test_socketio.html?token={TOKEN}"


def test_cors_stays_star_with_a_token(server: Server) -> None:
    origin = {"Origin": "http://localhost:4200"}
    status, _, headers = request(server.url, "GET", "/api/jobs", headers=origin)
    assert (status, headers["access-control-allow-origin"]) == (401, "*")
    status, _, headers = request(server.url, "GET", "/api/jobs", headers={**origin, **BEARER})
    assert (status, headers["access-control-allow-origin"]) == (200, "*")
    # Browsers send the preflight without the Authorization header: it must pass.
    status, _, headers = request(
        server.url,
        "OPTIONS",
        "/api/networks",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert status == 200
    assert "authorization" in headers["access-control-allow-headers"].lower()


# ---------------------------------------------------------------------- Socket.IO (python)
def _connect(url: str, transports: list[str], **options: Any) -> tuple[socketio.Client, list[Any]]:
    client = socketio.Client(reconnection=False)
    errors: list[Any] = []
    client.on("connect_error", errors.append)
    client.connect(url, transports=transports, wait_timeout=10, **options)
    return client, errors


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]])
def test_socketio_without_the_token_is_refused_with_401(server: Server, transports: list[str]) -> None:
    for options in ({}, {"auth": {"token": "wrong"}}, {"auth": {"other": TOKEN}}):
        client = socketio.Client(reconnection=False)
        errors: list[Any] = []
        client.on("connect_error", errors.append)
        with pytest.raises(socketio.exceptions.ConnectionError):
            client.connect(server.url, transports=transports, wait_timeout=10, **options)
        assert not client.connected
        assert len(errors) == 1, errors
        # python-socketio hands over the CONNECT_ERROR payload: {message, data}.
        assert errors[0]["message"].startswith("401 Unauthorized")
        refusal = errors[0]["data"]
        assert (refusal["status"], refusal["field"]) == (401, "token")
        assert "auth: {token" in refusal["error"]


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]])
@pytest.mark.parametrize("how", ["auth", "header", "query"])
def test_socketio_with_the_token_gets_the_runs(server: Server, transports: list[str], how: str) -> None:
    url = server.url
    options: dict[str, Any] = {}
    if how == "auth":
        options["auth"] = {"token": TOKEN}
    elif how == "header":
        options["headers"] = BEARER
    else:
        url = f"{server.url}?token={TOKEN}"
    client, errors = _connect(url, transports, **options)
    got = threading.Event()
    seen: list[dict[str, Any]] = []

    def on_status(data: dict[str, Any]) -> None:
        seen.append(data)
        if data["status"] == "completed":
            got.set()

    client.on("training_status", on_status)
    try:
        assert client.connected
        assert errors == []
        job = train(epochs=2)
        assert got.wait(10), seen
        assert seen[-1]["job_id"] == job.job_id
    finally:
        client.disconnect()


# ---------------------------------------------------------------------- Node's socket.io-client
def test_node_socketio_client_needs_auth_token(server: Server) -> None:
    refused = finish(run_node("token_client.mjs", server.url))
    assert refused["connected"] is False
    assert refused["message"].startswith("401 Unauthorized")
    assert refused["data"]["status"] == 401
    assert refused["data"]["field"] == "token"

    proc = run_node("token_client.mjs", server.url, TOKEN)
    try:
        assert read_json_line(proc)["ready"] is True
        job = train(epochs=2)
        done = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert done["connected"] is True
    assert done["status"]["job_id"] == job.job_id
    assert done["status"]["status"] == "completed"


# ---------------------------------------------------------------------- the page in Chromium
def test_the_page_passes_its_token_on(server: Server) -> None:
    with chromium() as browser:
        context = browser.new_context()
        try:
            tab = context.new_page()
            seen: list[tuple[str, str | None]] = []
            tab.on("request", lambda r: seen.append((r.url, r.headers.get("authorization"))))
            tab.goto(f"{server.url}/test_socketio.html?token={TOKEN}")
            tab.wait_for_selector("#connection[data-state=connected]", timeout=10_000)
            tab.fill("#epochs", "3")
            tab.click("#train-button")
            tab.wait_for_selector(".job[data-status=completed]", timeout=20_000)
            statuses = tab.evaluate("window.nnlabPage.statuses.map(s => s.status)")
            assert statuses[-1] == "completed"
            rest = [(url, auth) for url, auth in seen if "/api/" in url]
            assert rest
            assert all(auth == f"Bearer {TOKEN}" for _, auth in rest), rest

            # Without the token the page says it was refused and stops retrying.
            bare = context.new_page()
            bare.goto(f"{server.url}/test_socketio.html")
            bare.wait_for_selector("#connection[data-state=disconnected]", timeout=10_000)
            assert "401 Unauthorized" in bare.inner_text("#connection")
            assert bare.evaluate("socket.connectError.data.status") == 401
            assert bare.evaluate("socket.stopped") is True
        finally:
            context.close()


# ---------------------------------------------------------------------- nnlab serve --token
def test_nnlab_serve_with_a_token() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "nnlab", "serve", "--port", "0", "--token", TOKEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stderr is not None
            lines = [proc.stdout.readline()]
            while "press Ctrl-C" not in lines[-1]:
                if not lines[-1]:  # it exited: say why
                    proc.wait(timeout=10)
                    raise AssertionError(f"nnlab serve exited ({proc.returncode}): {proc.stderr.read()}")
                lines.append(proc.stdout.readline())
            url = lines[0].split()[3]
            assert f"token: {TOKEN}\n" in lines
            assert any(f"test_socketio.html?token={TOKEN}" in line for line in lines)
            assert any(f"/dashboard?token={TOKEN}" in line for line in lines)
            assert request(url, "GET", "/api/health")[0] == 401
            assert request(url, "GET", "/api/health", headers=BEARER)[0] == 200
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in out


def test_nnlab_serve_refuses_a_bad_token() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nnlab", "serve", "--port", "0", "--token", "two words"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "token must be" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_openapi_document_describes_the_token(server: Server) -> None:
    status, doc, _ = request(server.url, "GET", "/openapi.json", headers=BEARER)
    assert status == 200
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "tokenQuery"}
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if method != "parameters":
                assert ("401" in operation["responses"]) == (path != "/test_socketio.html"), path
