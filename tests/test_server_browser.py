"""Headless Chromium (Debian's): the test page (its icon, its Cancel button), the page
behind a path prefix, and CORS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_helpers import JS_DIR, Api, chromium, external, serve_asgi, train, under_prefix

from nnlab.registry import Registry
from nnlab.server import Server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as running:
        yield running


class Page:
    """A fresh page that may talk only to ``allowed`` origins and records its errors."""

    def __init__(self, browser: Any, allowed: list[str]) -> None:
        self.context = browser.new_context(viewport={"width": 1200, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.failed: list[str] = []  # responses of 400 and above (a missing favicon.ico...)
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}"))
        self.page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

        def only_allowed(route: Any) -> None:
            url = route.request.url
            if any(url.startswith(origin) for origin in allowed):
                route.continue_()
            else:  # no CDN, nothing from the internet
                self.foreign.append(url)
                route.abort()

        self.context.route("**/*", only_allowed)

    def state(self, expression: str) -> Any:
        return self.page.evaluate(expression)

    def close(self) -> None:
        self.context.close()


def _run_the_page(
    browser: Any, page_url: str, origin: str, registry: Registry, screenshot: Path | None = None
) -> dict[str, Any]:
    """Load the test page, see it connect, train with one click, see every epoch arrive."""
    tab = Page(browser, [origin])
    try:
        tab.page.goto(page_url)
        tab.page.wait_for_selector("#connection[data-state=connected]", timeout=10_000)
        socket_id = tab.state("window.nnlabPage.socketId")
        assert socket_id
        assert f"socket id {socket_id}" in tab.page.inner_text("#connection")
        tab.page.fill("#epochs", "15")
        tab.page.click("#train-button")
        tab.page.wait_for_selector(".job[data-status=completed]", timeout=20_000)
        card = tab.page.locator(".job[data-status=completed]")
        assert card.get_attribute("data-epoch") == "15"
        job_id = card.get_attribute("data-job-id")
        epochs = tab.state(f"window.nnlabPage.updates.filter(u => u.job_id === '{job_id}').map(u => u.epoch)")
        assert epochs == list(range(1, 16))
        assert card.locator(".bar > div").inner_text() == "100.0%"
        assert card.locator(".field-epoch").inner_text() == "15 / 15"
        assert card.locator(".field-accuracy").inner_text().endswith("%")
        assert card.locator(".field-correct").inner_text().endswith("/ 300")
        assert card.locator(".field-remaining").inner_text() == "0"
        labels = card.locator("dt").all_inner_texts()
        assert "Epoch time" in labels  # the wire's elapsed_time is the epoch's own time
        assert "Elapsed time" not in labels
        assert card.locator(".field-elapsed").inner_text().endswith(" s")
        assert card.locator(".cancel").is_hidden()  # a finished run offers no Cancel
        assert f"Job ID: {job_id}" in card.inner_text()
        statuses = tab.state(
            f"window.nnlabPage.statuses.filter(s => s.job_id === '{job_id}').map(s => s.status)"
        )
        assert statuses == ["running", "completed"]
        assert "training_status" in tab.page.inner_text("#log")
        # a run from the notebook appears too
        job = train(epochs=3, registry=registry)
        tab.page.wait_for_selector(f".job[data-job-id='{job.job_id}'][data-status=completed]", timeout=10_000)
        if screenshot is not None:
            # let the progress bars finish their CSS transition first
            tab.page.wait_for_function(
                "[...document.querySelectorAll('.job[data-status=completed] .bar > div')].every("
                "d => d.getBoundingClientRect().width >= d.parentElement.getBoundingClientRect().width - 1)"
            )
            tab.page.screenshot(path=str(screenshot), full_page=True)
        assert tab.errors == []
        assert tab.foreign == []
        assert tab.failed == []
        # the page's icon is inline: it draws, and nothing asks the server for /favicon.ico
        icon = tab.page.evaluate(
            """() => new Promise((resolve) => {
                 const link = document.querySelector("link[rel=icon]");
                 const img = new Image();
                 img.onload = () => resolve([link.href.slice(0, 5), img.naturalWidth > 0]);
                 img.onerror = () => resolve([link.href.slice(0, 5), false]);
                 img.src = link.href;
               })"""
        )
        assert icon == ["data:", True]
        return {"socket_id": socket_id, "job_id": job_id}
    finally:
        tab.close()


def test_the_test_page_trains_with_one_click_and_shows_every_update(
    browser: Any, server: Server, tmp_path: Path
) -> None:
    shot = tmp_path / "test_socketio.png"
    _run_the_page(browser, f"{server.url}/test_socketio.html", server.url, server.registry, screenshot=shot)
    assert shot.stat().st_size > 20_000


def test_the_test_page_cancels_the_run_it_shows(browser: Any, server: Server) -> None:
    api = Api(server.url)
    tab = Page(browser, [server.url])
    job_id = None
    try:
        tab.page.goto(f"{server.url}/test_socketio.html")
        tab.page.wait_for_selector("#connection[data-state=connected]", timeout=10_000)
        tab.page.fill("#sizes", "64,100,10")
        tab.page.fill("#epochs", "10000")
        tab.page.click("#train-button")
        card = tab.page.locator(".job[data-status=running]")
        card.wait_for(timeout=20_000)
        job_id = card.get_attribute("data-job-id")
        tab.page.wait_for_function(
            f"window.nnlabPage.updates.filter(u => u.job_id === '{job_id}').length >= 2", timeout=20_000
        )
        cancel = card.get_by_role("button", name="Cancel")
        assert cancel.is_visible()
        cancel.click()
        done = tab.page.locator(f".job[data-job-id='{job_id}'][data-status=cancelled]")
        done.wait_for(timeout=20_000)
        assert done.locator(".message").inner_text() == "stopped: cancelled"
        assert done.locator(".cancel").is_hidden()
        assert "POST cancel -> job" in tab.page.inner_text("#log")
        status, job = api.get(f"/api/jobs/{job_id}?history=false")
        assert status == 200
        assert (job["status"], job["stop_reason"]) == ("cancelled", "cancelled")
        assert 2 <= job["epochs_completed"] < 10000
        assert tab.errors == []
        assert tab.failed == []
    finally:
        tab.close()
        if job_id is not None:  # never leave the run going
            api.post(f"/api/jobs/{job_id}/cancel")
            api.wait_job(job_id)


def test_the_test_page_works_behind_a_path_prefix(browser: Any) -> None:
    from nnlab.server.app import create_app

    registry = Registry()
    app = create_app(registry=registry)
    with serve_asgi(under_prefix(app.asgi, "/proxy/8000")) as url:
        # the app is reachable only under the prefix: an absolute URL in the page would fail
        _run_the_page(browser, f"{url}/proxy/8000/test_socketio.html", url, registry)


OTHER_ORIGIN_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><script src="socket.io.min.js"></script></head><body><script>
const server = new URLSearchParams(location.search).get("server");
const results = (window.results = {});
function connect(name, transports) {
  return new Promise((resolve) => {
    const socket = io(server, { transports, timeout: 20000, reconnection: true, reconnectionAttempts: 5,
                                reconnectionDelay: 1000, forceNew: true });
    const r = (results[name] = { epochs: [], errors: [] });
    socket.on("connect", () => {
      r.id = socket.id; r.transport = socket.io.engine.transport.name; resolve();
    });
    socket.on("connect_error", (e) => r.errors.push(String(e.message)));
    socket.on("training_update", (u) => r.epochs.push(u.epoch));
  });
}
async function post(path, body) {
  const response = await fetch(server + path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return [response.status, await response.json()];
}
(async () => {
  await Promise.all([connect("polling", ["polling"]), connect("websocket", ["websocket"])]);
  const [created, net] = await post("/api/networks", { sizes: [64, 30, 10] });
  const [started, job] = await post(`/api/networks/${net.network_id}/train`,
                                    { epochs: 6, mini_batch_size: 10, learning_rate: 3.0 });
  Object.assign(results, { created, started, job_id: job.job_id });
})().catch((e) => { results.fatal = String(e); });
</script></body></html>"""


def test_a_page_from_another_origin_connects_and_calls_rest(browser: Any, server: Server) -> None:
    """The stand-in for the Angular dashboard: socket.io-client from its own origin."""
    from starlette.applications import Starlette
    from starlette.responses import FileResponse, HTMLResponse
    from starlette.routing import Route

    bundle = JS_DIR / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
    if not bundle.exists():
        external("node")  # skips or fails with the npm hint
    dashboard = Starlette(
        routes=[
            Route("/", lambda request: HTMLResponse(OTHER_ORIGIN_PAGE)),
            Route("/socket.io.min.js", lambda request: FileResponse(bundle)),
        ]
    )
    with serve_asgi(dashboard) as origin:
        assert origin != server.url
        tab = Page(browser, [origin, server.url])
        try:
            tab.page.goto(f"{origin}/?server={server.url}")
            tab.page.wait_for_function(
                "(r => r.fatal || (r.polling && r.websocket &&"
                " r.polling.epochs.length === 6 && r.websocket.epochs.length === 6))(window.results)",
                timeout=20_000,
            )
            results = tab.state("window.results")
        finally:
            tab.close()
    assert "fatal" not in results, results
    assert (results["created"], results["started"]) == (201, 202)
    assert results["polling"]["transport"] == "polling"
    assert results["websocket"]["transport"] == "websocket"
    for name in ("polling", "websocket"):
        assert results[name]["errors"] == []
        assert results[name]["epochs"] == [1, 2, 3, 4, 5, 6]
    assert tab.errors == []


TRANSPORTS_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><script src="socket.io.min.js"></script></head><body><script>
const server = new URLSearchParams(location.search).get("server");
const results = (window.results = {});
// the seed's options (docs: websocket first, "fallback to polling"), with quicker retries
const seed = { transports: ["websocket", "polling"], timeout: 20000, reconnection: true,
               reconnectionAttempts: 2, reconnectionDelay: 100, forceNew: true };
function attempt(name, options) {
  return new Promise((resolve) => {
    const socket = io(server, options);
    const r = (results[name] = { epochs: [], errors: [], connected: false });
    const start = performance.now();
    socket.on("connect", () => {
      r.connected = true; r.transport = socket.io.engine.transport.name;
      r.ms = performance.now() - start; resolve(socket);
    });
    socket.on("connect_error", (e) => r.errors.push(String(e.message)));
    socket.io.on("reconnect_failed", () => { r.gaveUp = true; socket.close(); resolve(null); });
    socket.on("training_update", (u) => r.epochs.push(u.epoch));
  });
}
async function post(path, body) {
  const response = await fetch(server + path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return [response.status, await response.json()];
}
(async () => {
  await attempt("seed", seed);
  await attempt("all", { ...seed, tryAllTransports: true });
  const [, net] = await post("/api/networks", { sizes: [64, 30, 10] });
  const [started] = await post(`/api/networks/${net.network_id}/train`,
                               { epochs: 6, mini_batch_size: 10, learning_rate: 3.0 });
  results.started = started;
})().catch((e) => { results.fatal = String(e); });
</script></body></html>"""


def refuse_websockets(app: Any) -> Any:
    """``app`` behind a proxy that refuses every WebSocket handshake (HTTP passes)."""

    async def proxied(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # a 403 to the handshake
            return None
        return await app(scope, receive, send)

    return proxied


def test_socket_io_client_falls_back_to_polling_only_when_told_to(browser: Any) -> None:
    """What the server README tells dashboard authors: with websockets refused on the way,
    socket.io-client 4.x never tries polling with the seed's options, and connects over
    polling (and gets every epoch) with ``tryAllTransports: true``."""
    from starlette.applications import Starlette
    from starlette.responses import FileResponse, HTMLResponse
    from starlette.routing import Route

    from nnlab.server.app import create_app

    bundle = JS_DIR / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
    if not bundle.exists():
        external("node")  # skips or fails with the npm hint
    dashboard = Starlette(
        routes=[
            Route("/", lambda request: HTMLResponse(TRANSPORTS_PAGE)),
            Route("/socket.io.min.js", lambda request: FileResponse(bundle)),
        ]
    )
    with serve_asgi(refuse_websockets(create_app().asgi)) as server_url, serve_asgi(dashboard) as origin:
        tab = Page(browser, [origin, server_url])
        try:
            tab.page.goto(f"{origin}/?server={server_url}")
            tab.page.wait_for_function(
                "(r => r.fatal || (r.all && r.all.epochs.length === 6))(window.results)", timeout=30_000
            )
            results = tab.state("window.results")
        finally:
            tab.close()
    assert "fatal" not in results, results
    seed, tried_all = results["seed"], results["all"]
    assert (seed["connected"], seed.get("gaveUp")) == (False, True)
    assert len(seed["errors"]) == 3  # the first attempt and 2 reconnections, each over websocket only
    assert seed["epochs"] == []
    assert (tried_all["connected"], tried_all["transport"]) == (True, "polling")
    assert tried_all["epochs"] == [1, 2, 3, 4, 5, 6]
    assert results["started"] == 202
