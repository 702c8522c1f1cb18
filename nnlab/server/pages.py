"""The server's pages: the test page, the class dashboard and the script they share.

They hold no data (the token guards the REST API and Socket.IO, not these), load nothing
from elsewhere and use page-relative URLs only, so they work at the server's root and behind
a path prefix such as Jupyter's ``/proxy/8000/`` alike. ``/`` redirects to the test page,
keeping its query (a ``?token=``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from nnlab.server.proxy import DASHBOARD, TEST_PAGE

__all__ = ["CLIENT_SCRIPT", "page_routes"]

#: The Socket.IO client and REST helper both pages load (``nnlab-client.js``).
CLIENT_SCRIPT = "nnlab-client.js"

_FILES = {
    TEST_PAGE: ("test_socketio.html", "text/html"),
    DASHBOARD: ("dashboard.html", "text/html"),
    CLIENT_SCRIPT: (CLIENT_SCRIPT, "text/javascript"),
}


def _static(name: str) -> bytes:
    return resources.files("nnlab.server").joinpath("static").joinpath(name).read_bytes()


def _serve(body: bytes, media_type: str) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        return Response(body, media_type=media_type, headers={"Cache-Control": "no-cache"})

    return page


async def _index(request: Request) -> Response:
    # Relative, so it also works behind a path prefix; the query (a ?token=) goes along.
    query = request.url.query
    return RedirectResponse(f"{TEST_PAGE}?{query}" if query else TEST_PAGE, status_code=307)


def page_routes() -> list[Route]:
    """``GET /test_socketio.html``, ``/dashboard``, ``/nnlab-client.js`` and ``/``."""
    routes = [
        Route(f"/{path}", _serve(_static(name), media_type), methods=["GET"])
        for path, (name, media_type) in _FILES.items()
    ]
    return [*routes, Route("/", _index, methods=["GET"])]
