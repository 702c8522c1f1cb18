"""The class dashboard (/dashboard) in headless Chromium: a class of 30 owners' runs, the
runs' final epochs and accuracies, the owner and status filters, a path prefix, a token."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from recording import make_job
from server_helpers import SlowEpochs, chromium, request, serve_asgi, under_prefix

import nnlab
from nnlab.identity import set_owner
from nnlab.observers import Observer
from nnlab.registry import Registry
from nnlab.server import Server
from nnlab.server.proxy import endpoints

TOKEN = "class-token-0123456789"
WAIT = 30_000  # ms


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as running:
        yield running


class CancelAfterFirstEpoch(Observer):
    """Stops the run at its next mini-batch once its first epoch is done."""

    def on_epoch_end(self, job: Any, record: Any) -> None:
        job.cancel()


def student_run(registry: Registry, i: int, *, background: bool = False, **params: Any) -> nnlab.TrainingJob:
    """Run ``i`` of the class, owned by ``student{i:02}``: sizes, epochs and ending vary."""
    set_owner(f"student{i:02}")
    try:
        observers: list[Any] = [CancelAfterFirstEpoch()] if i % 7 == 3 else []
        if background:
            observers = [SlowEpochs(0.2)]
        net = nnlab.Network([64, 10 + i, 10], seed=i)
        settings = {"epochs": 2 + i % 4, "seed": i, **params}
        job = make_job(net, nnlab.datasets.digits(), observers=observers, registry=registry, **settings)
        return job.start() if background else job.run()
    finally:
        set_owner(None)


class Tab:
    """A page that may talk only to ``origin`` and records its errors and failed requests."""

    def __init__(self, browser: Any, origin: str) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.failed: list[str] = []
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}"))
        self.page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

        def only_local(route: Any) -> None:
            if route.request.url.startswith(origin):
                route.continue_()
            else:  # nothing from the internet
                self.foreign.append(route.request.url)
                route.abort()

        self.context.route("**/*", only_local)

    def shown(self) -> list[str]:
        """Job ids of the cards on show, in page order."""
        ids: list[str] = self.page.evaluate(
            "[...document.querySelectorAll('.run:not([hidden])')].map(c => c.dataset.jobId)"
        )
        return ids

    def close(self) -> None:
        self.context.close()


@contextlib.contextmanager
def tab(browser: Any, origin: str) -> Iterator[Tab]:
    opened = Tab(browser, origin)
    try:
        yield opened
    finally:
        opened.close()


def wait_final(page: Any, jobs: list[nnlab.TrainingJob]) -> None:
    """Until every job's card shows its final status and epoch."""
    wanted = {job.job_id: [job.status, len(job.history)] for job in jobs}
    page.wait_for_function(
        """wanted => Object.entries(wanted).every(([id, [status, epoch]]) => {
             const card = document.querySelector(`.run[data-job-id="${id}"]`);
             return card && card.dataset.status === status && card.dataset.epoch === String(epoch);
           })""",
        arg=wanted,
        timeout=WAIT,
    )


def wait_shown(page: Any, count: int) -> None:
    """Until exactly ``count`` cards are on show."""
    page.wait_for_function(f"document.querySelectorAll('.run:not([hidden])').length === {count}")


def test_a_class_of_thirty_owners_on_the_dashboard(browser: Any, tmp_path: Path) -> None:
    registry = Registry()
    server = Server(port=0, registry=registry).start()
    live = None
    try:
        before = [student_run(registry, i) for i in range(15)]  # read over REST at load
        with tab(browser, server.url) as t:
            page = t.page
            page.goto(f"{server.url}/dashboard")
            page.wait_for_selector("#connection[data-state=connected]", timeout=WAIT)
            after = [student_run(registry, i) for i in range(15, 29)]  # arrive over Socket.IO
            live = student_run(registry, 29, background=True, epochs=10_000)
            jobs = before + after
            wait_final(page, jobs)
            page.wait_for_selector(f'.run[data-job-id="{live.job_id}"][data-status=running]', timeout=WAIT)

            owners = page.eval_on_selector_all(".run .owner", "els => els.map(e => e.textContent)")
            assert owners == [f"student{i:02}" for i in range(30)]  # sorted by owner
            assert len(set(page.eval_on_selector_all(".run", "els => els.map(e => e.dataset.jobId)"))) == 30
            runs = page.evaluate("window.nnlabDashboard.runs")
            for job in jobs:
                card = page.locator(f'.run[data-job-id="{job.job_id}"]')
                last = job.history[-1]
                assert card.get_attribute("data-owner") == job.identity["owner"]
                assert card.locator(".epoch").inner_text() == f"epoch {last.epoch} / {job.params.epochs}"
                assert last.accuracy is not None
                assert float(card.get_attribute("data-accuracy") or "nan") == last.accuracy
                assert card.locator(".accuracy").inner_text().startswith(f"{last.accuracy * 100:.2f}%")
                assert card.locator(".sizes").inner_text() == " · ".join(map(str, job.network.sizes))
                assert card.locator(".badge").inner_text() == job.status
                # the curve has every epoch, whether it came from REST or live
                assert runs[job.job_id]["points"] == [r.accuracy for r in job.history]
            assert {job.status for job in jobs} == {"completed", "cancelled"}

            shot = tmp_path / "dashboard-30.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 50_000

            # status filter
            cancelled = {job.job_id for job in jobs if job.status == "cancelled"}
            page.select_option("#status-filter", "cancelled")
            wait_shown(page, len(cancelled))
            assert set(t.shown()) == cancelled
            assert "?status=cancelled" in page.url  # a reload keeps the filter
            page.select_option("#status-filter", "going")
            wait_shown(page, 1)
            assert t.shown() == [live.job_id]
            # owner filter (both filters at once: nothing; then the owner's runs only)
            page.select_option("#owner-filter", "student05")
            wait_shown(page, 0)
            page.select_option("#status-filter", "")
            wait_shown(page, 1)
            assert t.shown() == [jobs[5].job_id]
            assert "1 shown" in page.inner_text("#summary")
            page.screenshot(path=str(tmp_path / "dashboard-filtered.png"))
            page.select_option("#owner-filter", "")
            wait_shown(page, 30)

            # the live run fills in as it trains
            card = f'.run[data-job-id="{live.job_id}"]'
            epoch = int(page.locator(card).get_attribute("data-epoch") or 0)
            page.wait_for_function(
                f"Number(document.querySelector('{card}').dataset.epoch) > {epoch}", timeout=WAIT
            )
            live.cancel()
            live.wait(timeout=30)
            page.wait_for_selector(f'.run[data-job-id="{live.job_id}"][data-status=cancelled]', timeout=WAIT)
            assert t.errors == []
            assert t.foreign == []
            assert t.failed == []
    finally:
        if live is not None:
            live.cancel()
            live.wait(timeout=30)
        server.stop()


def test_behind_a_path_prefix_with_a_token_and_linked_with_the_test_page(browser: Any) -> None:
    from nnlab.server.app import create_app

    registry = Registry()
    app = create_app(registry=registry, token=TOKEN)
    going = None
    with serve_asgi(under_prefix(app.asgi, "/proxy/8000")) as url, tab(browser, url) as t:
        try:
            jobs = [student_run(registry, i) for i in (1, 2)]
            # a run already going when the page opens: its curve is replayed from epoch 1
            going = student_run(registry, 9, background=True, epochs=10_000)
            wait_until(lambda: len(going.history) >= 2)
            page = t.page
            # from the test page, by its link (which keeps the token)
            page.goto(f"{url}/proxy/8000/test_socketio.html?token={TOKEN}")
            page.wait_for_selector("#connection[data-state=connected]", timeout=WAIT)
            page.click("#dashboard-link")
            page.wait_for_url(f"{url}/proxy/8000/dashboard?token={TOKEN}")
            page.wait_for_selector("#connection[data-state=connected]", timeout=WAIT)
            wait_final(page, jobs)
            jobs.append(student_run(registry, 3))
            wait_final(page, jobs)
            owners = page.eval_on_selector_all(".run .owner", "els => els.map(e => e.textContent)")
            assert owners == ["student01", "student02", "student03", "student09"]
            going.cancel()
            going.wait(timeout=30)
            wait_final(page, [going])
            seen = page.evaluate(f"window.nnlabDashboard.runs['{going.job_id}']")
            assert seen["points"] == [r.accuracy for r in going.history]
            assert seen["received"] == len(going.history)  # every epoch once
            # and back
            page.click("#test-page-link")
            page.wait_for_url(f"{url}/proxy/8000/test_socketio.html?token={TOKEN}")
            page.wait_for_selector("#connection[data-state=connected]", timeout=WAIT)
            assert t.errors == []
            assert t.foreign == []
            assert t.failed == []

            # without the token: said so, no retrying
            page.goto(f"{url}/proxy/8000/dashboard")
            page.wait_for_selector("#connection[data-state=disconnected]", timeout=WAIT)
            assert "401" in page.inner_text("#message")
            assert page.evaluate("socket.stopped") is True
            assert page.locator(".run").count() == 0
        finally:
            if going is not None:
                going.cancel()
                going.wait(timeout=30)


def test_a_run_that_starts_while_the_page_loads_gets_its_earlier_epochs(browser: Any) -> None:
    """A run unknown to the page's REST answer joins over Socket.IO mid-way: the epochs it
    missed come from ``GET api/jobs/{id}/updates``."""
    registry = Registry()
    server = Server(port=0, registry=registry).start()
    going = None
    try:
        with tab(browser, server.url) as t:
            held: list[Any] = []
            # the page connects once both api/jobs and api/networks answered: hold the second
            t.page.route("**/api/networks", lambda route: held.append(route))
            t.page.goto(f"{server.url}/dashboard")
            while not held:  # playwright calls the handler while the page is waited on
                t.page.wait_for_timeout(20)
            going = student_run(registry, 4, background=True, epochs=10_000)
            wait_until(lambda: len(going.history) >= 3)
            held[0].continue_()
            card = f'.run[data-job-id="{going.job_id}"]'
            t.page.wait_for_selector(card, timeout=WAIT)
            going.cancel()
            going.wait(timeout=30)
            wait_final(t.page, [going])
            t.page.wait_for_function(
                f"window.nnlabDashboard.runs['{going.job_id}'].points.length === {len(going.history)}"
            )
            seen = t.page.evaluate(f"window.nnlabDashboard.runs['{going.job_id}']")
            assert seen["points"] == [r.accuracy for r in going.history]
            assert seen["received"] < len(going.history)  # the first epochs came over REST
            assert t.errors == []
            assert t.failed == []
    finally:
        if going is not None:
            going.cancel()
            going.wait(timeout=30)
        server.stop()


def wait_until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_pages_and_the_banner() -> None:
    registry = Registry()
    server = Server(port=0, registry=registry).start()
    try:
        status, body, headers = request(server.url, "GET", "/dashboard")
        assert (status, headers["content-type"].split(";")[0]) == (200, "text/html")
        assert "nnlab-client.js" in body
        status, body, headers = request(server.url, "GET", "/nnlab-client.js")
        assert (status, headers["content-type"].split(";")[0]) == (200, "text/javascript")
        assert "SocketIO" in body
    finally:
        server.stop()
    shown = endpoints(8000, environ={"JUPYTERHUB_SERVICE_PREFIX": "/user/ana/"})
    assert shown.dashboard == "/user/ana/proxy/8000/dashboard"
    assert "  dashboard  /user/ana/proxy/8000/dashboard" in shown.text()
    assert '<a href="/user/ana/proxy/8000/dashboard"' in shown._repr_html_()
